//! Video from frame folders: frame order, layouts with and without classes, clips at a
//! stride, augmentation shared by the frames of a clip, batches `[N, C, T, H, W]` that
//! repeat from any start, and broken folders (unreadable frames, mixed sizes, short videos).
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use ssl_core::data::BatchSource;
use ssl_vision::augment::{AugmentConfig, Image};
use ssl_vision::video::{augment_clip, natural_order, ClipLoader, ClipPlan, ClipSpec, VideoFolder};
use std::path::Path;
use std::sync::Arc;

mod common;
use common::{mild_augment, moving_squares, tmp};

/// A video of `n` grey frames of `h x w` whose pixels all hold the frame's number (times 4),
/// so a view's value tells which frame it came from. Files named without zero padding, so
/// that plain name order would put frame 10 before frame 2.
fn write_video(dir: &Path, n: usize, (h, w): (u32, u32), ext: &str) {
    std::fs::create_dir_all(dir).unwrap();
    for f in 0..n {
        let img = image::GrayImage::from_pixel(w, h, image::Luma([(f * 4) as u8]));
        img.save(dir.join(format!("frame{f}.{ext}"))).unwrap();
    }
}

/// No augmentation: the whole frame, no flip, no colour change, values kept in [0, 1].
fn plain(size: usize) -> AugmentConfig {
    let mut cfg = AugmentConfig::default();
    cfg.size = size;
    cfg.crop_scale = (1.0, 1.0);
    cfg.crop_ratio = (1.0, 1.0);
    cfg.flip_p = 0.0;
    cfg.jitter_p = 0.0;
    cfg.grayscale_p = 0.0;
    cfg.blur_p = 0.0;
    cfg.mean = vec![0.0];
    cfg.std = vec![1.0];
    cfg
}

#[test]
fn frames_are_in_natural_order_and_layouts_give_labels() {
    assert!(natural_order("frame2.png", "frame10.png").is_lt());
    assert!(natural_order("image.0009.pgm", "image.0010.pgm").is_lt());
    assert!(natural_order("a", "a1").is_lt() && natural_order("b1", "a2").is_gt());

    let root = tmp("layouts");
    write_video(&root.join("flat/clip-a"), 12, (8, 8), "png");
    write_video(&root.join("flat/clip-b"), 5, (8, 8), "pgm");
    let flat = VideoFolder::open(&root.join("flat"), false).unwrap();
    assert_eq!(flat.len(), 2);
    assert!(flat.class_names.is_empty() && flat.videos[0].label.is_none());
    assert_eq!(flat.channels, 1);
    let names: Vec<String> = flat.videos[0].frames.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names[..3], ["frame0.png", "frame1.png", "frame2.png"]);
    assert_eq!(names[11], "frame11.png");
    // Frame 10 is the eleventh frame: its value is 40 / 255.
    let f10 = flat.frame(0, 10).unwrap();
    assert!((f10.data[0] - 40.0 / 255.0).abs() < 1e-6);
    // PGM frames read too.
    assert!((flat.frame(1, 3).unwrap().data[0] - 12.0 / 255.0).abs() < 1e-6);

    write_video(&root.join("classes/walk/v1"), 6, (8, 8), "png");
    write_video(&root.join("classes/walk/v2"), 6, (8, 8), "png");
    write_video(&root.join("classes/run/v3"), 6, (8, 8), "jpg");
    let classes = VideoFolder::open(&root.join("classes"), false).unwrap();
    assert_eq!(classes.class_names, ["run", "walk"]);
    let labels: Vec<Option<i64>> = classes.videos.iter().map(|v| v.label).collect();
    assert_eq!(labels, [Some(0), Some(1), Some(1)]);
    assert_ne!(classes.fingerprint(), flat.fingerprint());
}

#[test]
fn clips_take_frames_at_the_stride_and_share_their_augmentation() {
    let spec = ClipSpec { frames: 4, stride: 3 };
    assert_eq!(spec.span(), 10);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for _ in 0..50 {
        let idx = spec.sample(12, &mut rng).unwrap();
        assert!(idx[3] < 12 && idx.windows(2).all(|w| w[1] == w[0] + 3), "{idx:?}");
    }
    assert!(spec.sample(9, &mut rng).unwrap_err().to_string().contains("shorter than a clip"));
    assert!(ClipSpec { frames: 0, stride: 1 }.validate().is_err());

    // Four identical RGB frames with structure: the full augmentation (crop, flip, jitter,
    // grey-scale, blur) gives four identical views, and another draw a different one.
    let pixels: Vec<u8> = (0..3 * 24 * 24).map(|i| (i * 37 % 251) as u8).collect();
    let frame = Image::from_u8(3, 24, 24, &pixels);
    let mut cfg = AugmentConfig::default();
    cfg.size = 16;
    cfg.blur_p = 0.5;
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let clip = augment_clip(&vec![frame.clone(); 4], &cfg, &mut rng);
    assert!(clip.iter().all(|f| f == &clip[0]));
    let next = augment_clip(&vec![frame; 4], &cfg, &mut rng);
    assert_ne!(next[0], clip[0], "the generator moves on after a clip");
}

#[test]
fn clip_batches_are_nctwh_views_that_repeat_from_any_start() {
    let root = tmp("batches");
    for (i, n) in [20, 16, 30, 12, 25].iter().enumerate() {
        write_video(&root.join(format!("v{i}")), *n, (10, 12), "png");
    }
    let set = Arc::new(VideoFolder::open(&root, false).unwrap());
    let plan = ClipPlan { clip: ClipSpec { frames: 4, stride: 2 }, augment: plain(8), views: 2 };
    let mut loader = ClipLoader::new(set.clone(), plan.clone(), 2, 3).unwrap();
    assert_eq!(loader.batches_per_epoch(), 2);
    loader.start(0).unwrap();
    let batches: Vec<_> = (0..5).map(|_| loader.next_batch().unwrap()).collect();
    let b = &batches[4];
    assert_eq!(b.views().len(), 2);
    assert_eq!(b.views()[0].size(), [2, 1, 4, 8, 8]);
    // Each clip is 4 frames 2 apart: the frame values (4 per frame step) rise by 8.
    for v in 0..2 {
        for n in 0..2 {
            let values: Vec<f64> = (0..4).map(|t| b.views()[v].get(n).get(0).get(t).mean(tch::Kind::Float).double_value(&[]) * 255.0).collect();
            assert!(values.windows(2).all(|w| (w[1] - w[0] - 8.0).abs() < 1e-3), "clip values {values:?}");
        }
    }
    // The two views of a video are clips from different starts (for most draws).
    let starts_differ = batches.iter().any(|b| !b.views()[0].equal(&b.views()[1]));
    assert!(starts_differ);
    // Resumed at batch 4: the same batch.
    let mut again = ClipLoader::new(set, plan, 2, 3).unwrap();
    again.start(4).unwrap();
    let b4 = again.next_batch().unwrap();
    for (x, y) in b.views().iter().zip(b4.views()) {
        assert!(x.equal(y), "batch 4 depends on where the stream started");
    }
}

#[test]
fn broken_video_folders_are_errors_naming_the_file_or_skipped() {
    let root = tmp("broken");
    write_video(&root.join("good"), 10, (8, 8), "png");
    write_video(&root.join("mixed"), 6, (8, 8), "png");
    image::GrayImage::from_pixel(9, 8, image::Luma([1])).save(root.join("mixed/frame6.png")).unwrap();
    write_video(&root.join("cut"), 6, (8, 8), "png");
    std::fs::write(root.join("cut/frame2.png"), b"\x89PNG\r\n").unwrap();
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::fs::write(root.join("empty/notes.txt"), b"no frames").unwrap();

    let err = format!("{:#}", VideoFolder::open(&root, false).unwrap_err());
    assert!(err.contains("frame2.png") || err.contains("no frames") || err.contains("frame6.png"), "{err}");
    assert!(err.contains("--skip-bad"), "{err}");
    let set = VideoFolder::open(&root, true).unwrap();
    assert_eq!(set.len(), 1, "{:?}", set.skipped);
    let skipped = set.skipped.join("\n");
    assert!(
        skipped.contains("cut/frame2.png") && skipped.contains("mixed/frame6.png") && skipped.contains("is 9x8") && skipped.contains("empty: no frames"),
        "{skipped}"
    );

    // A video shorter than a clip: an error naming it, or left out.
    write_video(&root.join("short"), 3, (8, 8), "png");
    let mut with_short = VideoFolder::open(&root, true).unwrap();
    let err = with_short.require_frames(5, false).unwrap_err().to_string();
    assert!(err.contains("short") && err.contains("3 frames, a clip needs 5"), "{err}");
    with_short.require_frames(5, true).unwrap();
    assert_eq!(with_short.len(), 1);
    // The loader checks the clip fits every video: the good one has 10 frames, 6 at stride 2 span 11.
    let plan = ClipPlan { clip: ClipSpec { frames: 6, stride: 2 }, augment: plain(8), views: 1 };
    let err = ClipLoader::new(Arc::new(set), plan, 1, 0).err().expect("a clip longer than the video").to_string();
    assert!(err.contains("good") && err.contains("10 frames") && err.contains("needs 11"), "{err}");
    // Missing and frame-less roots.
    assert!(VideoFolder::open(&root.join("nowhere"), false).unwrap_err().to_string().contains("no such folder"));
    let err = VideoFolder::open(&root.join("empty"), false).unwrap_err().to_string();
    assert!(err.contains("no videos (expected <video>/<frames>"), "{err}");
}

// ---- the generated motion benchmark ----

use ssl_vision::video::{render_clip, standard_parts, write_benchmark, BackgroundRule, Motion, MotionConfig};
use tch::{Kind, Tensor};

/// A bright bar (the object) and a black background of 20 frames.
fn bar_and_black() -> (Tensor, Tensor) {
    let bar = Tensor::zeros([28, 28], (Kind::Float, tch::Device::Cpu));
    let _ = bar.narrow(0, 4, 20).narrow(1, 11, 6).fill_(1.0);
    (bar, Tensor::zeros([20, 1, 48, 48], (Kind::Float, tch::Device::Cpu)))
}

/// Per frame: the object's area (pixels above 0.5), centroid (x right, y up) and the angle of
/// its long axis (radians, anticlockwise from +x, y up), from image moments.
fn measure(clip: &Tensor) -> Vec<(f64, f64, f64, f64)> {
    let (t, h, w) = (clip.size()[0], clip.size()[2], clip.size()[3]);
    (0..t)
        .map(|f| {
            let m = Vec::<f32>::try_from(&clip.get(f).get(0).gt(0.5).to_kind(Kind::Float).contiguous().view([-1])).unwrap();
            let pts: Vec<(f64, f64)> =
                m.iter().enumerate().filter(|(_, v)| **v > 0.0).map(|(i, _)| ((i as i64 % w) as f64, (h - 1 - i as i64 / w) as f64)).collect();
            let n = pts.len() as f64;
            let (cx, cy) = (pts.iter().map(|p| p.0).sum::<f64>() / n, pts.iter().map(|p| p.1).sum::<f64>() / n);
            let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
            for (x, y) in &pts {
                sxx += (x - cx).powi(2);
                syy += (y - cy).powi(2);
                sxy += (x - cx) * (y - cy);
            }
            (n, cx, cy, 0.5 * (2.0 * sxy).atan2(sxx - syy))
        })
        .collect()
}

fn render(motion: Motion, camera: f64, seed: u64) -> Tensor {
    let (bar, black) = bar_and_black();
    let cfg = MotionConfig { frames: 8, size: 48, jitter: 0.0, ..MotionConfig::default() };
    render_clip(&bar, &black, motion, camera, &cfg, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap()
}

#[test]
fn motions_move_the_object_as_their_names_say() {
    let right = measure(&render(Motion::Right, 0.0, 1));
    assert!(right.windows(2).all(|w| w[1].1 > w[0].1), "x rises: {right:?}");
    assert!((right[0].2 - right[7].2).abs() < 1.0, "y stays: {right:?}");
    let up = measure(&render(Motion::Up, 0.0, 1));
    assert!(up.windows(2).all(|w| w[1].2 > w[0].2), "y rises: {up:?}");
    let left = measure(&render(Motion::Left, 0.0, 1));
    assert!(left[7].1 < left[0].1);
    let towards = measure(&render(Motion::Towards, 0.0, 1));
    assert!(towards[7].0 > 1.5 * towards[0].0, "it grows: {towards:?}");
    let away = measure(&render(Motion::Away, 0.0, 1));
    assert!(away[7].0 < 0.75 * away[0].0, "it shrinks: {away:?}");
    // Turns: the centre stays, the long axis turns (anticlockwise: the angle rises).
    for (motion, sign) in [(Motion::TurnAnticlockwise, 1.0), (Motion::TurnClockwise, -1.0)] {
        let m = measure(&render(motion, 0.0, 2));
        assert!((m[0].1 - m[7].1).abs() < 1.0 && (m[0].2 - m[7].2).abs() < 1.0, "{motion:?}: {m:?}");
        let step = |a: f64, b: f64| {
            // Axis angles are defined modulo pi.
            let d = b - a;
            (d + std::f64::consts::FRAC_PI_2).rem_euclid(std::f64::consts::PI) - std::f64::consts::FRAC_PI_2
        };
        let turned: f64 = m.windows(2).map(|w| step(w[0].3, w[1].3)).sum();
        assert!(sign * turned > 1.0, "{motion:?} turned by {turned} radians");
    }
    // Seen from 55 degrees, the same rightward motion covers less of the frame (cos 55 = 0.57)
    // and the object looks narrower.
    let side = measure(&render(Motion::Right, 55.0, 1));
    let (dx0, dx55) = (right[7].1 - right[0].1, side[7].1 - side[0].1);
    assert!(dx55 > 0.0 && dx55 < 0.8 * dx0, "{dx0} vs {dx55}");
    // Seen from the side, motion towards the camera at angle 0 becomes sideways motion.
    let towards_side = measure(&render(Motion::Towards, 55.0, 1));
    assert!((towards_side[7].1 - towards_side[0].1).abs() > 4.0, "{towards_side:?}");
    // Determined by the seed.
    assert!(render(Motion::Up, 25.0, 9).equal(&render(Motion::Up, 25.0, 9)));
    assert!(!render(Motion::Up, 25.0, 9).equal(&render(Motion::Up, 25.0, 10)));
    // Bad settings and inputs are errors.
    let (bar, black) = bar_and_black();
    let cfg = MotionConfig { frames: 30, ..MotionConfig::default() };
    assert!(render_clip(&bar, &black, Motion::Up, 0.0, &cfg, &mut ChaCha8Rng::seed_from_u64(0)).unwrap_err().to_string().contains("T >= 30"));
    assert!(render_clip(&bar, &black, Motion::Up, 85.0, &MotionConfig::default(), &mut ChaCha8Rng::seed_from_u64(0)).is_err());
}

#[test]
fn benchmark_splits_are_frame_folders_with_their_rules() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let tied: Vec<usize> = (0..20).map(|_| BackgroundRule::TiedToClass(1.0).pick(3, 5, &mut rng)).collect();
    assert!(tied.iter().all(|&b| b == 3));
    let random: Vec<usize> = (0..40).map(|_| BackgroundRule::Random.pick(3, 5, &mut rng)).collect();
    assert!((0..5).all(|b| random.contains(&b)));

    let root = tmp("motion");
    let out = root.join("bench");
    // Backgrounds of distinct constant brightness, so each clip shows which one it got.
    let backgrounds: Vec<Tensor> = (0..4).map(|b| Tensor::full([20, 1, 40, 40], 0.1 + 0.05 * b as f64, (Kind::Float, tch::Device::Cpu))).collect();
    let (bar, _) = bar_and_black();
    let cfg = MotionConfig { frames: 6, size: 24, ..MotionConfig::default() };
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("old.txt"), b"an earlier benchmark").unwrap();
    // A failing run (backgrounds shorter than a clip) leaves the earlier benchmark as it was.
    let short = vec![Tensor::zeros([3, 1, 40, 40], (Kind::Float, tch::Device::Cpu))];
    let parts = standard_parts(2, 1);
    assert!(write_benchmark(&out, &[bar.shallow_clone()], &[bar.shallow_clone()], &short, &parts, &cfg, 0, serde_json::json!({})).is_err());
    assert!(out.join("old.txt").exists() && !root.join("bench.partial").exists());
    // A part without a camera is refused by name before anything is written.
    let mut no_camera = standard_parts(2, 1);
    no_camera[5].cameras.clear();
    let err = write_benchmark(&out, &[bar.shallow_clone()], &[bar.shallow_clone()], &backgrounds, &no_camera, &cfg, 0, serde_json::json!({})).unwrap_err();
    assert!(err.to_string().contains("cross-view/test"), "{err}");
    assert!(out.join("old.txt").exists() && !root.join("bench.partial").exists());
    // A clip of the wrong shape is an error naming the folder, not a panic.
    let err = ssl_vision::video::write_clip(&root.join("bad-clip"), &Tensor::zeros([4, 24, 24], (Kind::Float, tch::Device::Cpu))).unwrap_err();
    assert!(err.to_string().contains("bad-clip"), "{err}");

    let n =
        write_benchmark(&out, &[bar.shallow_clone()], &[bar.shallow_clone()], &backgrounds, &parts, &cfg, 7, serde_json::json!({"objects": "a bar"})).unwrap();
    assert_eq!(n, 8 * (2 + 1) * 3);
    assert!(!out.join("old.txt").exists());
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("benchmark.json")).unwrap()).unwrap();
    assert_eq!(manifest["generated"], true);
    for part in ["plain/train", "static-bias/test", "cross-view/test"] {
        let set = VideoFolder::open(&out.join(part), false).unwrap();
        assert_eq!(set.class_names.len(), 8, "{part}");
        assert!(set.videos.iter().all(|v| v.frames.len() == 6 && v.size == (24, 24)));
    }
    // Static bias: the training clips of a class share its background (here every clip, p = 0.9
    // for 2 clips per class makes a mismatch rare but possible: count the matches).
    let set = VideoFolder::open(&out.join("static-bias/train"), false).unwrap();
    let corner = |v: usize| (f64::from(set.frame(v, 0).unwrap().data[0]) * 255.0).round();
    let mut matches = 0;
    for (v, video) in set.videos.iter().enumerate() {
        let class = Motion::ALL.iter().find(|m| m.name() == set.class_names[video.label.unwrap() as usize]).unwrap();
        let expected = ((0.1 + 0.05 * (class.label() % 4) as f64) * 255.0).round();
        matches += usize::from((corner(v) - expected).abs() <= 1.0);
    }
    assert!(matches >= 12, "{matches} of 16 static-bias training clips show their class's background");
}

// ---- pre-training and evaluation on clips ----

use ssl_core::train::Resume;
use ssl_vision::video::{centre_clips, clip_features, pretrain_video, score_features, VideoPretrainConfig};

#[test]
fn video_pretraining_lowers_its_loss_and_clips_are_scored() {
    let root = tmp("pretrain");
    moving_squares(&root.join("train"), 6, 0);
    moving_squares(&root.join("test"), 3, 1);
    let train = Arc::new(VideoFolder::open(&root.join("train"), false).unwrap());
    let test = VideoFolder::open(&root.join("test"), false).unwrap();
    let mild = mild_augment();
    let cfg = VideoPretrainConfig {
        method: "simclr".into(),
        width: 4,
        frames: 4,
        stride: 2,
        size: 16,
        batch: 8,
        steps: 30,
        lr: 3e-3,
        clip_augment: mild,
        ..VideoPretrainConfig::default()
    };
    let (_, method, summary) = pretrain_video(&cfg, train.clone(), &root.join("run"), tch::Device::Cpu, Resume::No).unwrap();
    let (first, last) = (summary.first_loss.unwrap(), summary.final_loss);
    assert!(last < first, "SimCLR on clips: loss {first} -> {last}");
    let (xtr, ytr) = centre_clips(&train, cfg.clip(), cfg.size).unwrap();
    assert_eq!(xtr.size(), [12, 3, 4, 16, 16]);
    assert_eq!(Vec::<i64>::try_from(&ytr).unwrap(), [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    let (xte, yte) = centre_clips(&test, cfg.clip(), cfg.size).unwrap();
    let (ftr, fte) = (clip_features(method.backbone(), &xtr, tch::Device::Cpu), clip_features(method.backbone(), &xte, tch::Device::Cpu));
    assert_eq!(ftr.size(), [12, 32]);
    let s = score_features(&ftr, &ytr, &fte, &yte, 0).unwrap();
    for v in [s.knn, s.linear, s.recall[0], s.recall[1], s.recall[2]] {
        assert!((0.0..=1.0).contains(&v), "{s:?}");
    }
    assert!(s.recall[0] <= s.recall[1] && s.recall[1] <= s.recall[2], "{s:?}");
    // Clips need labelled videos and enough frames.
    let err = centre_clips(&train, ssl_vision::video::ClipSpec { frames: 6, stride: 2 }, 16).unwrap_err().to_string();
    assert!(err.contains("10 frames, a clip needs 11"), "{err}");
    let flat = root.join("flat");
    write_video(&flat.join("a"), 10, (8, 8), "png");
    let err = centre_clips(&VideoFolder::open(&flat, false).unwrap(), cfg.clip(), 8).unwrap_err().to_string();
    assert!(err.contains("labelled videos"), "{err}");
}

#[cfg(not(feature = "video"))]
#[test]
fn video_files_need_the_video_feature() {
    let root = tmp("no-feature");
    std::fs::write(root.join("clip.mp4"), b"\0\0\0\x18ftypmp42").unwrap();
    let err = format!("{:#}", VideoFolder::open(&root, false).unwrap_err());
    assert!(err.contains("clip.mp4") && err.contains("--features video"), "{err}");
}
