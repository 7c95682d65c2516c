//! Helpers shared by the workspace-level end-to-end tests.
use ssl_vision::data::ImageSet;
use std::path::PathBuf;

/// A fresh temporary folder for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ssl-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// `n` random 3-channel 32x32 images with labels 0..4 (a stand-in for CIFAR-sized data).
pub fn random_rgb_images(n: usize, seed: u64) -> ImageSet {
    let mut s = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let pixels = (0..n * 3 * 32 * 32).map(|_| (next() % 256) as u8).collect();
    let labels = Some((0..n).map(|i| (i % 4) as i64).collect());
    ImageSet { source: PathBuf::from("generated"), n, channels: 3, height: 32, width: 32, pixels, labels, class_names: Vec::new() }
}

/// The README's Rust examples, compiled (and the runnable ones run) as doctests, so the
/// "Use a crate in your project" section cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;
