//! Evaluates a video run's encoder (or the same architecture at random, or raw pixels) on a
//! labelled split: kNN, linear probe and clip-to-clip retrieval of centre clips; writes
//! `eval.json` in the run and, when asked, retrieval examples as frame strips.
use super::video_baseline::retrieval_strip;
use super::video_common::{LabelledClips, RuntimeArgs};
use anyhow::{Context, Result};
use clap::Parser;
use ssl_core::train::load_latest_weights;
use ssl_vision::video::video_run_config;
use std::path::PathBuf;

#[derive(Parser, Debug)]
pub struct Args {
    /// A video pre-training folder.
    #[arg(long)]
    pub run: PathBuf,
    /// A folder with `train/` and `test/` in the `<class>/<video>/<frames>` layout.
    #[arg(long)]
    pub data: PathBuf,
    /// The run's architecture with fresh random weights (a baseline).
    #[arg(long, conflicts_with = "raw_pixels")]
    pub random_init: bool,
    /// The centre clips' pixels themselves (the baseline without an encoder).
    #[arg(long)]
    pub raw_pixels: bool,
    /// Draw retrieval examples (test clips and their nearest training clips) here.
    #[arg(long)]
    pub strip: Option<PathBuf>,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

pub fn run(a: Args) -> Result<()> {
    let cfg = video_run_config(&a.run)?;
    let device = a.runtime.setup()?;
    let clips = LabelledClips::open(&a.data, &cfg)?;
    let (encoder, scores, features) = if a.raw_pixels {
        ("raw pixels".to_string(), clips.raw_scores()?, None)
    } else {
        let (vs, method) = cfg.build(clips.train.channels, device)?;
        let what = if a.random_init {
            format!("random {} ({})", cfg.backbone, cfg.label())
        } else {
            let ck = load_latest_weights(&a.run, &vs)?;
            format!("{} ({} steps)", cfg.label(), ck.meta.step)
        };
        let (s, f) = clips.score(method.backbone(), cfg.seed, device)?;
        (what, s, Some(f))
    };
    println!(
        "{encoder}: kNN {:.2}%, linear {:.2}%, R@1 {:.2}%, R@5 {:.2}%, R@10 {:.2}% ({} train / {} test videos, {} classes)",
        100.0 * scores.knn,
        100.0 * scores.linear,
        100.0 * scores.recall[0],
        100.0 * scores.recall[1],
        100.0 * scores.recall[2],
        clips.train.len(),
        clips.test.len(),
        clips.classes()
    );
    if let Some(path) = &a.strip {
        let (ftr, fte) = features.unwrap_or_else(|| (clips.xtr.flatten(1, -1), clips.xte.flatten(1, -1)));
        let caption = retrieval_strip(path, &clips.xtr, &clips.ytr, &ftr, &clips.xte, &clips.yte, &fte, &clips.train.class_names)?;
        println!("retrieval examples in {}: {caption}", path.display());
    }
    let name = if a.raw_pixels {
        "eval-raw-pixels.json"
    } else if a.random_init {
        "eval-random-init.json"
    } else {
        "eval.json"
    };
    let report = serde_json::json!({ "encoder": encoder, "data": a.data, "scores": scores });
    std::fs::write(a.run.join(name), serde_json::to_string_pretty(&report)?).with_context(|| format!("cannot write {}", a.run.join(name).display()))?;
    Ok(())
}
