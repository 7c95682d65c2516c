//! Video from frame folders: frame order, layouts with and without classes, clips at a
//! stride, augmentation shared by the frames of a clip, batches `[N, C, T, H, W]` that
//! repeat from any start, and broken folders (unreadable frames, mixed sizes, short videos).
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use ssl_core::data::BatchSource;
use ssl_vision::augment::{AugmentConfig, Image};
use ssl_vision::video::{augment_clip, natural_order, ClipLoader, ClipPlan, ClipSpec, VideoFolder};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ssl-vision-video-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

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
    assert!(err.contains("no video folders"), "{err}");
}
