//! Decoding real photographs (PNG and JPEG) and making two augmented 224 px views of each,
//! the work that decides whether a GPU waits for data. Ours: the training loader's own
//! batch builder over a streamed folder, on a rayon pool of 1, 2 and all threads. The
//! references, with the same number of DataLoader worker processes (0 for one thread):
//! torchvision.io decoding + transforms.v2, and PIL + the classic torchvision transforms.
use super::{num, python, Args};
use anyhow::{bail, Context, Result};
use ssl_vision::augment::AugmentConfig;
use ssl_vision::data::{ImageSource, StreamedFolder};
use ssl_vision::loader::{ViewLoader, ViewPlan};
use std::time::Instant;

const SIZE: usize = 224;
const BATCH: usize = 32;

/// SimCLR's ImageNet augmentation: crop 0.08-1, flip, jitter 0.4/0.4/0.2/0.1 (p 0.8),
/// grey-scale 0.2, blur 0.5 (kernel about 10% of the side: 23 px), solarize 0.2.
pub fn imagenet_augment() -> AugmentConfig {
    let mut cfg = AugmentConfig::default();
    (cfg.size, cfg.crop_scale, cfg.saturation, cfg.blur_p, cfg.solarize_p) = (SIZE, (0.08, 1.0), 0.2, 0.5, 0.2);
    (cfg.mean, cfg.std) = (vec![0.485, 0.456, 0.406], vec![0.229, 0.224, 0.225]);
    cfg
}

/// The thread counts measured: 1, 2 and all cores, without repeats.
pub(super) fn thread_counts() -> Vec<usize> {
    let mut t = vec![1, 2, ssl_core::device::usable_cores()];
    t.sort_unstable();
    t.dedup();
    t
}

/// Photographs per second (each decoded once, two views) of our batch builder on `threads`.
fn ours(set: &StreamedFolder, plan: &ViewPlan, count: usize, threads: usize) -> Result<f64> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().context("cannot start the thread pool")?;
    let n = set.len();
    let batches = count.div_ceil(BATCH);
    let ids = |b: usize| -> Vec<usize> { (0..BATCH).map(|k| (b * BATCH + k) % n).collect() };
    // Warm-up: one batch (fills the page cache, as the references' warm-up does).
    pool.install(|| ViewLoader::make_batch(set, plan, 0, &ids(0), 0))?;
    let t0 = Instant::now();
    for b in 0..batches {
        let batch = pool.install(|| ViewLoader::make_batch(set, plan, 0, &ids(b), b as u64))?;
        if batch.views().len() != 2 {
            bail!("the decode benchmark expected two views per image");
        }
    }
    Ok((batches * BATCH) as f64 / t0.elapsed().as_secs_f64())
}

pub fn run(a: &Args) -> Result<Vec<serde_json::Value>> {
    let set = StreamedFolder::open(&a.photos, false).with_context(|| format!("{}: run datasets/fetch-photos.sh first", a.photos.display()))?;
    let plan = ViewPlan::new(imagenet_augment(), 2);
    let mut results = Vec::new();
    for threads in thread_counts() {
        let ours = ours(&set, &plan, a.photo_count, threads)?;
        let workers = if threads == 1 { 0 } else { threads };
        let mut row = serde_json::json!({
            "benchmark": "decode real photographs (6 PNG + 3 JPEG, 300x451 to 1411x1411) + two augmented 224x224 views",
            "photos": set.len(), "images": a.photo_count, "threads": threads, "ours_images_per_second": ours,
        });
        for kind in ["tv", "pil"] {
            let args = [
                "--dir".into(),
                a.photos.display().to_string(),
                "--images".into(),
                a.photo_count.to_string(),
                "--batch".into(),
                BATCH.to_string(),
                "--workers".into(),
                workers.to_string(),
                "--impl".into(),
                kind.into(),
            ];
            let r = python(a, "decode_augment.py", &args)?;
            row[format!("{kind}_images_per_second")] = r["images_per_second"].clone();
            row[format!("ratio_vs_{kind}")] = serde_json::json!(ours / num(&r, "images_per_second"));
            row[kind] = r;
        }
        println!(
            "decode + augment, {threads} thread(s): ours {:.1} images/s, torchvision.io + v2 {:.1} (ratio {:.2}), PIL + transforms {:.1} (ratio {:.2})",
            ours,
            num(&row, "tv_images_per_second"),
            num(&row, "ratio_vs_tv"),
            num(&row, "pil_images_per_second"),
            num(&row, "ratio_vs_pil")
        );
        results.push(row);
    }
    Ok(results)
}
