//! Throughput benchmarks, each against the reference a user would otherwise pick, run in
//! the same invocation and reported as a ratio (ours / reference; > 1 means faster).
mod augment;
mod clips;
mod decode;
mod epoch;
mod train_step;

use anyhow::{Context, Result};
use clap::Parser;
use std::path::PathBuf;

/// The benchmarks `--which` chooses from.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// Every benchmark below except `contention`.
    All,
    /// Two-view augmentation of small images, one thread, against torchvision.v2.
    Augment,
    /// Decoding real photographs + two augmented 224 px views, at 1, 2 and all threads,
    /// against torchvision (torchvision.io + v2) and PIL + torchvision in a DataLoader.
    Decode,
    /// The training step (contiguous and channels-last) against PyTorch, with its
    /// achieved GFLOP/s as a share of this machine's matrix-multiply peak.
    TrainStep,
    /// A whole epoch from PNG files (decode + augment + SimCLR steps) against lightly's
    /// transforms in a PyTorch DataLoader with the same number of workers.
    Epoch,
    /// The training step alone and beside one CPU-bound competing process, both sides.
    Contention,
    /// Clips read from frame folders + two augmented clip views per video, at 1, 2 and all
    /// threads, against PIL + torchvision v2 video transforms in a DataLoader.
    Clips,
    /// The SimCLR step of R3D-18 and R(2+1)D-18 on 8-frame clips against PyTorch.
    VideoStep,
    /// Clips decoded from video files (MP4) + two augmented clip views per video, at 1, 2
    /// and all threads, against PyAV and decord with torchvision v2 video transforms in a
    /// DataLoader (needs `--features video`).
    VideoFiles,
}

#[derive(Parser, Debug)]
pub struct Args {
    /// Python of the virtual environment holding torch and torchvision.
    #[arg(long, default_value = ".venv/bin/python")]
    pub python: PathBuf,
    /// Folder of the Python reference scripts.
    #[arg(long, default_value = "benches/python")]
    pub scripts: PathBuf,
    /// What to measure.
    #[arg(long, value_enum, default_value_t = Which::All)]
    pub which: Which,
    #[arg(long, default_value_t = 256)]
    pub batch: i64,
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Images of the augmentation benchmark.
    #[arg(long, default_value_t = 2048)]
    pub images: usize,
    /// libtorch threads for the training step (both sides); 0: ours takes the cores free at
    /// start (as `pretrain --threads 0` does), PyTorch keeps its default (one per core).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(i32).range(0..=1024))]
    pub threads: i32,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Folder of photographs for the decode benchmark (datasets/fetch-photos.sh).
    #[arg(long, default_value = "datasets/cache/photos")]
    pub photos: PathBuf,
    /// Decoded photographs per thread count and pipeline in the decode benchmark.
    #[arg(long, default_value_t = 384)]
    pub photo_count: usize,
    /// Fashion-MNIST (datasets/fetch-fashion-mnist.sh), written as PNG files for the epoch benchmark.
    #[arg(long, default_value = "datasets/cache/fashion-mnist")]
    pub fashion_mnist: PathBuf,
    /// Images (PNG files) in the epoch benchmark's epoch.
    #[arg(long, default_value_t = 8192)]
    pub epoch_images: usize,
    /// Batch of the epoch benchmark (both sides).
    #[arg(long, default_value_t = 128)]
    pub epoch_batch: usize,
    /// Where the epoch benchmark writes its PNG folder and its run.
    #[arg(long, default_value = "runs/bench-epoch")]
    pub work: PathBuf,
    /// Folder of videos as frame folders for the clip benchmark (datasets/fetch-video.sh).
    #[arg(long, default_value = "datasets/cache/video/frames")]
    pub frames: PathBuf,
    /// Folder of video files for the video-file clip benchmark (datasets/fetch-video.sh).
    #[arg(long, default_value = "datasets/cache/video/files")]
    pub video_files: PathBuf,
    /// Videos per thread count in the clip benchmark (each two clips).
    #[arg(long, default_value_t = 96)]
    pub clip_count: usize,
    /// Clips per view in the video training-step benchmark.
    #[arg(long, default_value_t = 8)]
    pub video_batch: i64,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

fn python(a: &Args, script: &str, args: &[String]) -> Result<serde_json::Value> {
    ssl_core::cli::run_reference(&a.python, &a.scripts.join(script), args)
}

fn num(r: &serde_json::Value, key: &str) -> f64 {
    r[key].as_f64().unwrap_or(f64::NAN)
}

pub fn run(a: Args) -> Result<()> {
    let mut results = Vec::new();
    let all = a.which == Which::All;
    if all || a.which == Which::Augment {
        results.push(augment::run(&a)?);
    }
    if all || a.which == Which::Decode {
        results.extend(decode::run(&a)?);
    }
    if all || a.which == Which::TrainStep {
        results.push(train_step::run(&a, train_step::Layout::Contiguous, false)?);
        results.push(train_step::run(&a, train_step::Layout::ChannelsLast, false)?);
    }
    if all || a.which == Which::Clips {
        results.extend(clips::run(&a)?);
    }
    if a.which == Which::VideoFiles || (all && cfg!(feature = "video")) {
        results.extend(clips::run_files(&a)?);
    }
    if all || a.which == Which::VideoStep {
        results.push(train_step::run_video(&a, "r3d-18")?);
        results.push(train_step::run_video(&a, "r2plus1d-18")?);
    }
    if all || a.which == Which::Epoch {
        results.push(epoch::run(&a)?);
    }
    if a.which == Which::Contention {
        results.push(train_step::run(&a, train_step::Layout::Contiguous, false)?);
        results.push(train_step::run(&a, train_step::Layout::Contiguous, true)?);
    }
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&results)?).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}
