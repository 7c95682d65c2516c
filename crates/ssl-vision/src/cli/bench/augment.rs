//! Two-view SimCLR augmentation of 32x32 RGB images on one thread, against torchvision v2.
use super::{num, python, Args};
use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use ssl_vision::augment::{augment, AugmentConfig, Image};
use std::time::Instant;

pub fn run(a: &Args) -> Result<serde_json::Value> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let images: Vec<Image> = (0..a.images)
        .map(|_| {
            let px: Vec<u8> = (0..3 * 32 * 32).map(|_| rng.random()).collect();
            Image::from_u8(3, 32, 32, &px)
        })
        .collect();
    let mut cfg = AugmentConfig::default();
    (cfg.size, cfg.mean, cfg.std) = (32, vec![0.0], vec![1.0]);
    let pass = |imgs: &[Image], seed: u64| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut checksum = 0f32;
        for img in imgs {
            for _ in 0..2 {
                checksum += augment(img, &cfg, &mut rng).data[0];
            }
        }
        checksum
    };
    pass(&images[..256.min(images.len())], 1);
    let t0 = Instant::now();
    let checksum = pass(&images, 2);
    let ours = a.images as f64 / t0.elapsed().as_secs_f64();
    let reference = python(a, "augment_torchvision.py", &["--images".into(), a.images.to_string(), "--threads".into(), "1".into()])?;
    let theirs = reference["images_per_second"].as_f64().context("reference gave no images_per_second")?;
    let r = serde_json::json!({
        "benchmark": "two-view SimCLR augmentation (crop, flip, jitter, grayscale) of 32x32 RGB uint8 images, one thread",
        "images": a.images, "ours_images_per_second": ours, "torchvision_images_per_second": theirs, "ratio": ours / theirs,
        "checksum": checksum, "torchvision": reference,
    });
    println!(
        "augmentation: ours {:.0} images/s, torchvision.v2 {:.0} images/s, ratio {:.2}",
        num(&r, "ours_images_per_second"),
        num(&r, "torchvision_images_per_second"),
        num(&r, "ratio")
    );
    Ok(r)
}
