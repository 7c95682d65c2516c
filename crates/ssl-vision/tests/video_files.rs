//! Video files through FFmpeg (`--features video`): frame counts, frame order and content
//! of an H.264 MP4 (with B-frames) and an MPEG-4 AVI, clips drawn from them by the loader,
//! and broken files (empty, cut, not a video) as errors naming the file or counted skips.
#![cfg(feature = "video")]
use ssl_core::data::BatchSource;
use ssl_vision::augment::AugmentConfig;
use ssl_vision::video::{ClipLoader, ClipPlan, ClipSpec, VideoFolder};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod common;
use common::tmp;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Frame k of the fixtures: grey 8 + 14 k, a white 8 x 8 square at x = 2 + 2k .. 10 + 2k, rows 12-19.
fn check_frame(img: &ssl_vision::augment::Image, k: usize, what: &str) {
    let (h, w) = (img.height, img.width);
    assert_eq!((h, w, img.channels), (32, 48, 3), "{what}");
    let at = |c: usize, y: usize, x: usize| img.data[c * h * w + y * w + x] * 255.0;
    let bg = at(1, 28, 40);
    let want = 8.0 + 14.0 * k as f32;
    assert!((bg - want).abs() < 6.0, "{what} frame {k}: background {bg}, expected {want}");
    // The square's columns on row 16: brighter than halfway between background and white.
    let bright: Vec<usize> = (0..w).filter(|&x| at(1, 16, x) > (bg + 255.0) / 2.0).collect();
    let centre = bright.iter().sum::<usize>() as f32 / bright.len().max(1) as f32;
    let want = 5.5 + 2.0 * k as f32;
    assert!((centre - want).abs() < 1.01, "{what} frame {k}: square centred at {centre}, expected {want}");
}

#[test]
fn video_files_give_their_frames_in_order() {
    let root = tmp("files");
    for (class, name) in [("h264", "moving_square.mp4"), ("mpeg4", "moving_square.avi")] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        std::fs::copy(fixture(name), root.join(class).join(name)).unwrap();
    }
    let set = VideoFolder::open(&root, false).unwrap();
    assert_eq!(set.class_names, ["h264", "mpeg4"]);
    assert_eq!(set.channels, 3);
    for (v, video) in set.videos.iter().enumerate() {
        assert_eq!((video.length, video.size, video.label), (16, (32, 48), Some(v as i64)), "{}", video.dir.display());
        let frames = set.frames_of(v, &[15, 0, 7, 7, 3]).unwrap();
        for (img, k) in frames.iter().zip([15, 0, 7, 7, 3]) {
            check_frame(img, k, &video.dir.display().to_string());
        }
        check_frame(&set.frame(v, 9).unwrap(), 9, "single frame");
        let from_start = ssl_vision::video::decode::decode_frames_from_start(video.file.as_ref().unwrap(), &[15, 0, 7, 7, 3], 3).unwrap();
        assert!(frames.iter().zip(&from_start).all(|(a, b)| a.data == b.data), "seeking and decoding from the start agree");
        let err = set.frames_of(v, &[16]).unwrap_err().to_string();
        assert!(err.contains("no frame 16 (it has 16)"), "{err}");
    }
    // Files without classes, next to a frame folder; clips [N, C, T, H, W] from both.
    let flat = tmp("files-flat");
    std::fs::copy(fixture("moving_square.mp4"), flat.join("a.mp4")).unwrap();
    std::fs::create_dir_all(flat.join("b")).unwrap();
    for f in 0..10 {
        image::RgbImage::from_pixel(48, 32, image::Rgb([f * 20, 0, 0])).save(flat.join("b").join(format!("{f}.png"))).unwrap();
    }
    let set = Arc::new(VideoFolder::open(&flat, false).unwrap());
    assert_eq!(set.len(), 2);
    let mut aug = AugmentConfig::default();
    aug.size = 16;
    let plan = ClipPlan { clip: ClipSpec { frames: 4, stride: 2 }, augment: aug, views: 2 };
    let mut loader = ClipLoader::new(set.clone(), plan, 2, 0).unwrap();
    loader.start(0).unwrap();
    let batch = loader.next_batch().unwrap();
    assert_eq!(batch.views()[0].size(), [2, 3, 4, 16, 16]);
    let again = {
        let mut l = ClipLoader::new(
            set,
            ClipPlan {
                clip: ClipSpec { frames: 4, stride: 2 },
                augment: {
                    let mut a = AugmentConfig::default();
                    a.size = 16;
                    a
                },
                views: 2,
            },
            2,
            0,
        )
        .unwrap();
        l.start(0).unwrap();
        l.next_batch().unwrap()
    };
    assert!(batch.views()[1].equal(&again.views()[1]), "batches repeat");
}

#[test]
fn broken_video_files_are_errors_naming_the_file() {
    let root = tmp("files-broken");
    let good = std::fs::read(fixture("moving_square.mp4")).unwrap();
    std::fs::write(root.join("empty.mp4"), b"").unwrap();
    std::fs::write(root.join("text.avi"), b"this is not a video at all").unwrap();
    let err = format!("{:#}", VideoFolder::open(&root, false).unwrap_err());
    assert!(err.contains("empty.mp4") && err.contains("not a video FFmpeg can open"), "{err}");
    std::fs::copy(fixture("moving_square.mp4"), root.join("good.mp4")).unwrap();
    let set = VideoFolder::open(&root, true).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(set.skipped.len(), 2, "{:?}", set.skipped);
    assert!(set.skipped.iter().any(|s| s.contains("text.avi")), "{:?}", set.skipped);
    // A file cut short: fewer frames than the whole, every counted frame decodes or the
    // error names the file.
    let cut = tmp("files-cut");
    std::fs::write(cut.join("cut.mp4"), &good[..good.len() * 2 / 3]).unwrap();
    match VideoFolder::open(&cut, false) {
        Ok(set) => {
            let n = set.videos[0].length;
            assert!(n < 16, "a cut file still counts {n} frames");
            if let Err(e) = set.frames_of(0, &(0..n).collect::<Vec<_>>()) {
                assert!(e.to_string().contains("cut.mp4"), "{e}");
            }
        }
        Err(e) => assert!(format!("{e:#}").contains("cut.mp4"), "{e:#}"),
    }
    // A clip longer than the video.
    let mut set = VideoFolder::open(&root, true).unwrap();
    let err = set.require_frames(20, false).unwrap_err().to_string();
    assert!(err.contains("good.mp4: 16 frames, a clip needs 20"), "{err}");
}

#[test]
fn the_real_clips_decode_to_their_full_length() {
    // datasets/fetch-video.sh: counts as PyAV decodes them (av 18.1), every last frame read.
    let files = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/cache/video/files");
    if !files.join("vtest.avi").exists() {
        eprintln!("note: {} not fetched (bash datasets/fetch-video.sh); the real-clip check is skipped", files.display());
        return;
    }
    let set = VideoFolder::open(&files, false).unwrap();
    let lengths: std::collections::BTreeMap<String, usize> =
        set.videos.iter().map(|v| (v.dir.file_name().unwrap().to_string_lossy().into_owned(), v.length)).collect();
    let want = [("Megamind.avi", 270), ("bigbuckbunny.mp4", 132), ("bikes.mp4", 250), ("carphone_pristine.mp4", 120), ("tree.avi", 68), ("vtest.avi", 795)];
    for (name, n) in want {
        assert_eq!(lengths.get(name), Some(&n), "{name}: {lengths:?}");
    }
    for (v, video) in set.videos.iter().enumerate() {
        let last = set.frames_of(v, &[video.length - 1]).unwrap();
        assert_eq!((last[0].height, last[0].width), video.size, "{}", video.dir.display());
    }
    seeking_matches_decoding_from_the_start(&set);
}

/// Clips decoded after a seek equal the same frames decoded from the start, pixel for pixel.
fn seeking_matches_decoding_from_the_start(set: &VideoFolder) {
    use ssl_vision::video::decode::{decode_frames, decode_frames_from_start};
    for video in &set.videos {
        let n = video.length;
        let file = video.file.as_ref().unwrap();
        for start in [1, n / 3, n / 2 + 1, n - 9] {
            let clip: Vec<usize> = (start..start + 8).filter(|&f| f < n).collect();
            let (a, b) = (decode_frames(file, &clip, 3).unwrap(), decode_frames_from_start(file, &clip, 3).unwrap());
            for (k, (x, y)) in a.iter().zip(&b).enumerate() {
                assert!(x.data == y.data, "{}: frame {} differs after a seek", file.display(), clip[k]);
            }
        }
    }
}
