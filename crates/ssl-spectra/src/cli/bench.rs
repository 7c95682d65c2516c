//! The SOM benchmark: spectra mapped per second (fit and inference) against MiniSom on the
//! same preprocessed spectra, and both maps scored by MiniSom's own error measures.
use anyhow::{Context, Result};
use clap::Parser;
use ssl_spectra::pipeline::{load_prepared, tensors};
use ssl_spectra::preprocess::PreprocessConfig;
use ssl_spectra::som::{best_matching_units, map_quality, train_som, MapShape, SomConfig};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser, Debug)]
pub struct Args {
    #[arg(long, default_value = "datasets/cache/spectra/miles")]
    pub data: PathBuf,
    #[arg(long, default_value = ".venv/bin/python")]
    pub python: PathBuf,
    #[arg(long, default_value = "benches/python/minisom_reference.py")]
    pub script: PathBuf,
    #[arg(long, default_value_t = 15)]
    pub rows: usize,
    #[arg(long, default_value_t = 15)]
    pub cols: usize,
    #[arg(long, default_value_t = 30)]
    pub iterations: usize,
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(i32).range(1..=1024))]
    pub threads: i32,
    /// Common grid start,end,step in Å.
    #[arg(long, value_delimiter = ',', default_value = "3550,7400,5")]
    pub grid: Vec<f64>,
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    tch::set_num_threads(a.threads);
    let mut pre = PreprocessConfig::default();
    pre.grid = a.grid.clone();
    let set = load_prepared(&a.data, &pre)?;
    let (x, _) = tensors(&set, tch::Device::Cpu);
    let n = set.len();
    let shape = MapShape { rows: a.rows, cols: a.cols };
    let t0 = Instant::now();
    let mut som = SomConfig::default();
    (som.shape, som.iterations, som.t_max, som.t_min, som.seed) = (shape, a.iterations, 10.0, 0.1, 0);
    let protos = train_som(&x, &som)?;
    let fit_s = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    for _ in 0..a.repeats {
        let _ = tch::no_grad(|| best_matching_units(&x, &protos));
    }
    let infer_s = t0.elapsed().as_secs_f64() / a.repeats as f64;
    let ours_q = map_quality(&x, &protos, shape);

    let dir = std::env::temp_dir().join(format!("ssl-spectra-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    x.write_npy(dir.join("data.npy"))?;
    protos.write_npy(dir.join("ours.npy"))?;
    let args: Vec<String> = [
        "--data",
        dir.join("data.npy").to_str().unwrap_or_default(),
        "--ours",
        dir.join("ours.npy").to_str().unwrap_or_default(),
        "--rows",
        &a.rows.to_string(),
        "--cols",
        &a.cols.to_string(),
        "--iterations",
        &a.iterations.to_string(),
        "--repeats",
        &a.repeats.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let reference = ssl_core::cli::run_reference(&a.python, &a.script, &args);
    std::fs::remove_dir_all(&dir).ok();
    let reference = reference?;
    let ours_fit = (n * a.iterations) as f64 / fit_s;
    let ours_infer = n as f64 / infer_s;
    let theirs_fit = reference["fit_spectra_per_second"].as_f64().context("no fit_spectra_per_second")?;
    let theirs_infer = reference["infer_spectra_per_second"].as_f64().context("no infer_spectra_per_second")?;
    let result = serde_json::json!({
        "benchmark": format!("batch SOM {}x{} on {n} MILES spectra of {} px, {} iterations", a.rows, a.cols, set.pixels(), a.iterations),
        "ours_fit_spectra_per_second": ours_fit, "minisom_fit_spectra_per_second": theirs_fit, "fit_ratio": ours_fit / theirs_fit,
        "ours_infer_spectra_per_second": ours_infer, "minisom_infer_spectra_per_second": theirs_infer, "infer_ratio": ours_infer / theirs_infer,
        "ours_quality": { "quantization_error": ours_q.quantization_error, "topographic_error_4_neighbours": ours_q.topographic_error },
        "minisom": reference,
    });
    println!("fit: ours {ours_fit:.0} spectra/s, MiniSom {theirs_fit:.0} spectra/s, ratio {:.1}", ours_fit / theirs_fit);
    println!("inference: ours {ours_infer:.0} spectra/s, MiniSom {theirs_infer:.0} spectra/s, ratio {:.1}", ours_infer / theirs_infer);
    println!(
        "MiniSom's errors: its map QE {:.4} TE {:.4}; our map QE {:.4} TE {:.4}",
        reference["minisom_map"]["quantization_error"].as_f64().unwrap_or(f64::NAN),
        reference["minisom_map"]["topographic_error"].as_f64().unwrap_or(f64::NAN),
        reference["our_map_scored_by_minisom"]["quantization_error"].as_f64().unwrap_or(f64::NAN),
        reference["our_map_scored_by_minisom"]["topographic_error"].as_f64().unwrap_or(f64::NAN)
    );
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&result)?).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}
