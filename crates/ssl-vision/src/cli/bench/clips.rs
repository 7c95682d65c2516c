//! Reading clips from frame folders and making two augmented clip views per video, the
//! work that feeds a video model. Ours: the clip loader's batch builder over a
//! `VideoFolder`, on a rayon pool of 1, 2 and all threads. The reference, with the same number
//! of DataLoader worker processes (0 for one thread): frames opened with PIL, stacked as a
//! `tv_tensors.Video` and augmented by torchvision's transforms.v2, which draw one set of
//! parameters per clip as ours do.
use super::{num, python, Args};
use anyhow::{bail, Context, Result};
use ssl_vision::augment::AugmentConfig;
use ssl_vision::video::{ClipLoader, ClipPlan, ClipSpec, VideoFolder};
use std::time::Instant;

const FRAMES: usize = 8;
const STRIDE: usize = 2;
const SIZE: usize = 112;
const BATCH: usize = 8;

/// The clip augmentation of both sides: crop 0.08-1, flip, jitter 0.4/0.4/0.4/0.1 (p 0.8),
/// grey-scale 0.2, no blur.
fn clip_augment() -> AugmentConfig {
    let mut cfg = AugmentConfig::default();
    cfg.size = SIZE;
    cfg
}

/// Videos per second (two clips of 8 frames each) of our batch builder on `threads`.
fn ours(set: &VideoFolder, plan: &ClipPlan, count: usize, threads: usize) -> Result<f64> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().context("cannot start the thread pool")?;
    let n = set.len();
    let batches = count.div_ceil(BATCH);
    let ids = |b: usize| -> Vec<usize> { (0..BATCH).map(|k| (b * BATCH + k) % n).collect() };
    pool.install(|| ClipLoader::make_batch(set, plan, 0, &ids(0), 0))?;
    let t0 = Instant::now();
    for b in 0..batches {
        let batch = pool.install(|| ClipLoader::make_batch(set, plan, 0, &ids(b), b as u64))?;
        if batch.views().len() != 2 {
            bail!("the clip benchmark expected two views per video");
        }
    }
    Ok((batches * BATCH) as f64 / t0.elapsed().as_secs_f64())
}

/// Clips from frame folders against PIL + torchvision.
pub fn run(a: &Args) -> Result<Vec<serde_json::Value>> {
    compare(a, &a.frames, &[("clips_torchvision.py", None, "PIL + torchvision v2")], "frame folders")
}

/// Clips from video files against PyAV and decord, each with torchvision.
pub fn run_files(a: &Args) -> Result<Vec<serde_json::Value>> {
    if !cfg!(feature = "video") {
        bail!("the video-file benchmark decodes with FFmpeg: build with `--features video` (scripts/setup-video.sh installs its libraries)");
    }
    compare(
        a,
        &a.video_files,
        &[("clips_video_files.py", Some("pyav"), "PyAV + torchvision v2"), ("clips_video_files.py", Some("decord"), "decord + torchvision v2")],
        "video files",
    )
}

/// Ours against each reference `(script, backend, name)` on the videos of `folder`.
fn compare(a: &Args, folder: &std::path::Path, references: &[(&str, Option<&str>, &str)], what: &str) -> Result<Vec<serde_json::Value>> {
    let set = VideoFolder::open(folder, false).with_context(|| format!("{}: run datasets/fetch-video.sh first", folder.display()))?;
    let plan = ClipPlan { clip: ClipSpec { frames: FRAMES, stride: STRIDE }, augment: clip_augment(), views: 2 };
    let mut results = Vec::new();
    for threads in super::decode::thread_counts() {
        let ours = ours(&set, &plan, a.clip_count, threads)?;
        let workers = if threads == 1 { 0 } else { threads };
        for &(script, backend, name) in references {
            let mut args = vec![
                "--dir".into(),
                folder.display().to_string(),
                "--videos".into(),
                a.clip_count.to_string(),
                "--batch".into(),
                BATCH.to_string(),
                "--workers".into(),
                workers.to_string(),
                "--frames".into(),
                FRAMES.to_string(),
                "--stride".into(),
                STRIDE.to_string(),
                "--size".into(),
                SIZE.to_string(),
            ];
            if let Some(b) = backend {
                args.extend(["--backend".to_string(), b.to_string()]);
            }
            let r = python(a, script, &args)?;
            let reference = num(&r, "videos_per_second");
            println!(
            "clips from {what} (2 views of {FRAMES} frames at stride {STRIDE}, {SIZE} px), {threads} thread(s): ours {ours:.1} videos/s, {name} {reference:.1} (ratio {:.2})",
            ours / reference
        );
            results.push(serde_json::json!({
                "benchmark": format!("read {FRAMES}-frame clips (stride {STRIDE}) from {what} + two augmented {SIZE}x{SIZE} clip views"),
                "reference_name": name,
                "videos": set.len(), "clips": a.clip_count, "threads": threads, "ours_videos_per_second": ours,
                "reference_videos_per_second": reference, "ratio": ours / reference, "reference": r,
            }));
        }
    }
    Ok(results)
}
