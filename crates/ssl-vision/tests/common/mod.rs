//! Fixtures shared by the video tests.
#![allow(dead_code)]
use std::path::{Path, PathBuf};

/// A fresh temporary folder for one test.
pub fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ssl-vision-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `classes` x `per_class` videos of 10 RGB frames: a square moving right (class 0) or down
/// (class 1), each video its own colour and start.
pub fn moving_squares(root: &Path, per_class: usize, seed: u64) {
    for class in 0..2usize {
        for v in 0..per_class {
            let dir = root.join(["right", "down"][class]).join(format!("v{v}"));
            std::fs::create_dir_all(&dir).unwrap();
            let (r, g) = ((40 + 50 * v + 13 * seed as usize) % 255, (90 + 30 * v) % 255);
            for f in 0..10usize {
                let (x0, y0) = if class == 0 { (2 + f, 6 + v % 3) } else { (6 + v % 3, 2 + f) };
                let img = image::RgbImage::from_fn(20, 20, |x, y| {
                    let inside = (x as usize).abs_diff(x0 + 2) < 3 && (y as usize).abs_diff(y0 + 2) < 3;
                    if inside {
                        image::Rgb([r as u8, g as u8, 200])
                    } else {
                        image::Rgb([10, 10, 10])
                    }
                });
                img.save(dir.join(format!("{f}.png"))).unwrap();
            }
        }
    }
}

/// Mild crops and no colour changes: each moving-squares video's colour and path tell it
/// apart, so a contrastive loss can fall within a few steps.
pub fn mild_augment() -> ssl_vision::augment::AugmentConfig {
    let mut mild = ssl_vision::augment::AugmentConfig::default();
    (mild.crop_scale, mild.jitter_p, mild.grayscale_p) = ((0.6, 1.0), 0.0, 0.0);
    mild
}
