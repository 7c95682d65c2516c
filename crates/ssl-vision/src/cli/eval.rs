use anyhow::{bail, Result};
use clap::Parser;
use ssl_vision::config::{read_toml, EvalConfig};
use ssl_vision::pipeline::{evaluate, evaluate_raw_pixels, load_images, run_config, setup_runtime};
use std::path::PathBuf;

#[derive(Parser, Debug)]
pub struct Args {
    /// A pre-training output folder.
    #[arg(long)]
    pub run: PathBuf,
    /// Evaluate the run's architecture with fresh random weights instead (a baseline).
    #[arg(long, conflicts_with = "raw_pixels")]
    pub random_init: bool,
    /// Evaluate the normalised pixels themselves (the baseline without any encoder).
    #[arg(long)]
    pub raw_pixels: bool,
    /// A folder holding both splits (e.g. Fashion-MNIST's IDX files).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Labelled training images (overrides --data).
    #[arg(long)]
    pub train_data: Option<PathBuf>,
    /// Labelled test images (overrides --data).
    #[arg(long)]
    pub test_data: Option<PathBuf>,
    #[arg(long)]
    pub limit_train: Option<usize>,
    #[arg(long)]
    pub limit_test: Option<usize>,
    /// TOML file with [knn], [linear] and batch.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub knn_k: Option<i64>,
    #[arg(long)]
    pub knn_temperature: Option<f64>,
    /// The most epochs of the linear probe (the number used is chosen on a validation split).
    #[arg(long)]
    pub linear_epochs: Option<usize>,
    /// Linear probes trained, each with its own seed; the mean and spread are reported.
    #[arg(long)]
    pub linear_seeds: Option<usize>,
    /// Leave out images that cannot be decoded, reporting each.
    #[arg(long)]
    pub skip_bad: bool,
    /// Write train/test features and labels as .npy files here.
    #[arg(long)]
    pub export: Option<PathBuf>,
    #[arg(long)]
    pub device: Option<String>,
}

pub fn run(a: Args) -> Result<()> {
    let cfg = run_config(&a.run)?;
    let mut eval: EvalConfig = match &a.config {
        Some(p) => read_toml(p)?,
        None => EvalConfig::default(),
    };
    if let Some(k) = a.knn_k {
        eval.knn.k = k;
    }
    if let Some(t) = a.knn_temperature {
        eval.knn.temperature = t;
    }
    if let Some(e) = a.linear_epochs {
        eval.linear.epochs = e;
    }
    if let Some(n) = a.linear_seeds {
        eval.linear.seeds = n;
    }
    let (train_path, test_path) = match (&a.train_data, &a.test_data, &a.data) {
        (Some(tr), Some(te), _) => (tr.clone(), te.clone()),
        (None, None, Some(d)) => (d.clone(), d.clone()),
        _ => bail!("give --data FOLDER (with train and test splits) or both --train-data and --test-data"),
    };
    // Explicit files or folders are read whole; a --data folder must hold both splits.
    let (train_split, test_split) = if a.train_data.is_some() { (None, None) } else { (Some("train"), Some("test")) };
    let device = setup_runtime(a.device.as_deref().unwrap_or(&cfg.device), cfg.threads)?;
    let train = load_images(Some(&train_path), train_split, a.limit_train, a.skip_bad)?;
    let test = load_images(Some(&test_path), test_split, a.limit_test, a.skip_bad)?;
    let report = if a.raw_pixels {
        evaluate_raw_pixels(&cfg, &train, &test, &eval)?.into_iter().next().expect("two reports")
    } else {
        let run = (!a.random_init).then_some(a.run.as_path());
        evaluate(&cfg, run, &train, &test, &eval, device, a.export.as_deref())?
    };
    println!(
        "{}: kNN top-1 {:.4}, linear top-1 {:.4} +- {:.4} over {} probe seeds ({} train / {} test images)",
        report.encoder,
        report.knn_top1,
        report.linear_top1,
        report.linear_top1_std,
        report.linear_runs.len(),
        report.train_images,
        report.test_images
    );
    if !report.classes.is_empty() {
        println!("classes by label: {}", report.classes.join(", "));
    }
    let name = if a.raw_pixels {
        "eval-raw-pixels.json"
    } else if a.random_init {
        "eval-random-init.json"
    } else {
        "eval.json"
    };
    std::fs::write(a.run.join(name), serde_json::to_string_pretty(&report)?)?;
    Ok(())
}
