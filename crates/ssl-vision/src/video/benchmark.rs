//! The generated motion benchmark on disk: clips of [`super::motion`] written as frame
//! folders (`<split>/<train|test>/<class>/<clip>/<frame>.png`, what [`super::VideoFolder`]
//! opens) with a `benchmark.json` that records how (and that it is generated). Three splits:
//! - `plain`: camera at 0 degrees, backgrounds at random;
//! - `static-bias`: in training 90% of the clips of a class share that class's background,
//!   at test backgrounds are random (a model that reads the class off the background fails);
//! - `cross-view`: training clips seen from 0 and 25 degrees, test clips from 55 degrees.
//!
//! Objects for test clips come from other images than those of training clips.
use super::motion::{render_clip, BackgroundRule, Motion, MotionConfig};
use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ssl_core::seed::mix;
use std::path::Path;
use tch::{Kind, Tensor};

/// One part of a split: where its clips go and how they are drawn.
#[derive(Debug, Clone)]
pub struct Part {
    /// `<split>/<train|test>`.
    pub folder: String,
    /// Camera angles (degrees), one drawn per clip.
    pub cameras: Vec<f64>,
    /// How backgrounds are chosen.
    pub backgrounds: BackgroundRule,
    /// Whether objects come from the test pool.
    pub test_objects: bool,
    /// Clips per class.
    pub per_class: usize,
}

/// The three splits' parts, with `train` and `test` clips per class.
pub fn standard_parts(train: usize, test: usize) -> Vec<Part> {
    let part = |folder: &str, cameras: &[f64], backgrounds, test_objects, per_class| Part {
        folder: folder.into(),
        cameras: cameras.to_vec(),
        backgrounds,
        test_objects,
        per_class,
    };
    vec![
        part("plain/train", &[0.0], BackgroundRule::Random, false, train),
        part("plain/test", &[0.0], BackgroundRule::Random, true, test),
        part("static-bias/train", &[0.0], BackgroundRule::TiedToClass(0.9), false, train),
        part("static-bias/test", &[0.0], BackgroundRule::Random, true, test),
        part("cross-view/train", &[0.0, 25.0], BackgroundRule::Random, false, train),
        part("cross-view/test", &[55.0], BackgroundRule::Random, true, test),
    ]
}

/// Writes every part's clips under `out` and `benchmark.json`. `objects` and `test_objects`
/// are `[h, w]` grey images in `[0, 1]` (bright on dark); `backgrounds` `[T, C, H, W]` clips.
/// The folder is written beside `out` and renamed into place, so a failed run leaves no
/// half-written benchmark, and an existing one is replaced only when the new one is whole.
#[allow(clippy::too_many_arguments)]
pub fn write_benchmark(
    out: &Path,
    objects: &[Tensor],
    test_objects: &[Tensor],
    backgrounds: &[Tensor],
    parts: &[Part],
    cfg: &MotionConfig,
    seed: u64,
    sources: serde_json::Value,
) -> Result<usize> {
    cfg.validate()?;
    if objects.is_empty() || test_objects.is_empty() || backgrounds.is_empty() {
        bail!("the benchmark needs objects for training and test clips and at least one background clip");
    }
    if let Some(p) = parts.iter().find(|p| p.cameras.is_empty() || p.cameras.iter().any(|a| !a.is_finite())) {
        bail!("benchmark part {} needs at least one finite camera angle, got {:?}", p.folder, p.cameras);
    }
    let stage = out.with_extension("partial");
    let _ = std::fs::remove_dir_all(&stage);
    let written = write_parts(&stage, objects, test_objects, backgrounds, parts, cfg, seed, sources).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&stage);
    })?;
    // The old benchmark is set aside until the new one is in place.
    let old = out.with_extension("old");
    let _ = std::fs::remove_dir_all(&old);
    if out.exists() {
        std::fs::rename(out, &old).with_context(|| format!("cannot set {} aside", out.display()))?;
    }
    std::fs::rename(&stage, out).with_context(|| format!("cannot move {} to {}", stage.display(), out.display()))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(written)
}

/// The clips and manifest of [`write_benchmark`], written into `stage`.
#[allow(clippy::too_many_arguments)]
fn write_parts(
    stage: &Path,
    objects: &[Tensor],
    test_objects: &[Tensor],
    backgrounds: &[Tensor],
    parts: &[Part],
    cfg: &MotionConfig,
    seed: u64,
    sources: serde_json::Value,
) -> Result<usize> {
    let mut written = 0;
    for (p, part) in parts.iter().enumerate() {
        for motion in Motion::ALL {
            let dir = stage.join(&part.folder).join(motion.name());
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            for k in 0..part.per_class {
                let mut rng = ChaCha8Rng::seed_from_u64(mix(&[seed, p as u64, motion.label() as u64, k as u64]));
                let pool = if part.test_objects { test_objects } else { objects };
                let object = &pool[rng.random_range(0..pool.len())];
                let background = &backgrounds[part.backgrounds.pick(motion.label(), backgrounds.len(), &mut rng)];
                let camera = part.cameras[rng.random_range(0..part.cameras.len())];
                let clip = render_clip(object, background, motion, camera, cfg, &mut rng)?;
                write_clip(&dir.join(format!("clip-{k:04}")), &clip)?;
                written += 1;
            }
        }
    }
    let manifest = serde_json::json!({
        "generated": true,
        "seed": seed,
        "classes": Motion::ALL.iter().map(|m| m.name()).collect::<Vec<_>>(),
        "frames": cfg.frames, "size": cfg.size, "object_scale": cfg.object_scale,
        "travel": [cfg.travel.0, cfg.travel.1], "turn_radians": [cfg.turn.0, cfg.turn.1], "depth": [cfg.depth.0, cfg.depth.1],
        "parts": parts.iter().map(|p| serde_json::json!({
            "folder": p.folder, "cameras_deg": p.cameras, "per_class": p.per_class, "test_objects": p.test_objects,
            "backgrounds": match p.backgrounds { BackgroundRule::Random => "random".to_string(), BackgroundRule::TiedToClass(q) => format!("tied to the class with probability {q}") },
        })).collect::<Vec<_>>(),
        "sources": sources,
    });
    std::fs::write(stage.join("benchmark.json"), serde_json::to_string_pretty(&manifest)?).with_context(|| format!("cannot write {}", stage.display()))?;
    Ok(written)
}

/// Writes a clip `[T, C, H, W]` in `[0, 1]` as PNG frames `00.png`, `01.png`, ... in `dir`.
pub fn write_clip(dir: &Path, clip: &Tensor) -> Result<()> {
    let s = clip.size();
    if s.len() != 4 || !(s[1] == 1 || s[1] == 3) {
        bail!("cannot write {}: a clip is [T, 1 or 3, H, W], got {s:?}", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (c, h, w) = (s[1], s[2] as u32, s[3] as u32);
    for f in 0..s[0] {
        let frame = (clip.get(f) * 255.0).round().clamp(0.0, 255.0).to_kind(Kind::Uint8);
        let path = dir.join(format!("{f:02}.png"));
        let saved = if c == 1 {
            image::GrayImage::from_raw(w, h, Vec::<u8>::try_from(&frame.view([-1]))?).map(|i| i.save(&path))
        } else {
            image::RgbImage::from_raw(w, h, Vec::<u8>::try_from(&frame.permute([1, 2, 0]).contiguous().view([-1]))?).map(|i| i.save(&path))
        };
        saved.context("frame buffer of the wrong size")?.with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
