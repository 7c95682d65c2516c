//! The MILES experiment: map 945 real stellar spectra, read Teff / logg / [Fe/H] of
//! held-out stars off the map, and compare DESOM, the classic SOM and kNN on the raw
//! spectra.
use anyhow::{bail, Context, Result};
use clap::Parser;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use ssl_spectra::io::load_spectra;
use ssl_spectra::pipeline::{fit_set, node_quantities, tensors, FitConfig, MapKind};
use ssl_spectra::preprocess::prepare;
use ssl_spectra::quantities::{summarise, Catalogue, ErrorSummary, Estimate};
use ssl_spectra::som::squared_distances;
use std::fmt::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser, Debug)]
pub struct Args {
    /// MILES folder made by datasets/fetch-spectra.sh (FITS files and params.csv).
    #[arg(long, default_value = "datasets/cache/spectra/miles")]
    pub data: PathBuf,
    #[arg(long, default_value = "runs/spectra-miles")]
    pub out: PathBuf,
    #[arg(long, default_value = "docs/spectra-miles.md")]
    pub doc: PathBuf,
    #[arg(long, default_value_t = 6000)]
    pub steps: usize,
    #[arg(long, default_value_t = 1000)]
    pub pretrain_steps: usize,
    #[arg(long, default_value_t = 15)]
    pub rows: usize,
    #[arg(long, default_value_t = 15)]
    pub cols: usize,
    /// Fraction of stars held out.
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    #[arg(long, default_value_t = 5)]
    pub knn: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Use only the first N stars (quick runs).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Common grid start,end,step in Å.
    #[arg(long, value_delimiter = ',', default_value = "3550,7400,5")]
    pub grid: Vec<f64>,
    #[arg(long, default_value = "auto")]
    pub device: String,
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(a: Args) -> Result<()> {
    if a.grid.len() != 3 {
        bail!("--grid takes start,end,step, got {:?}", a.grid);
    }
    if !(a.test_fraction > 0.0 && a.test_fraction < 1.0) {
        bail!("--test-fraction must be between 0 and 1, got {}", a.test_fraction);
    }
    let cat = Catalogue::read_csv(&a.data.join("params.csv"))?;
    let t0 = Instant::now();
    let raw = load_spectra(&a.data, None)?;
    let keep: Vec<usize> = (0..raw.len()).filter(|&i| cat.values.contains_key(&raw.names[i])).take(a.limit.unwrap_or(usize::MAX)).collect();
    if keep.len() < 20 {
        bail!("{}: only {} spectra have catalogue entries", a.data.display(), keep.len());
    }
    let mut cfg = FitConfig::default();
    cfg.device = a.device.clone();
    cfg.preprocess.grid = a.grid.clone();
    cfg.shape = ssl_spectra::som::MapShape { rows: a.rows, cols: a.cols };
    cfg.train.steps = a.steps;
    cfg.train.batch_size = a.batch_size;
    cfg.train.seed = a.seed;
    cfg.train.progress = !a.quiet;
    cfg.desom.pretrain_steps = a.pretrain_steps;
    cfg.som.seed = a.seed;
    let set = prepare(&raw.select(&keep), &cfg.preprocess)?;
    let load_s = t0.elapsed().as_secs_f64();

    let mut order: Vec<usize> = (0..set.len()).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(a.seed));
    let n_test = ((set.len() as f64) * a.test_fraction).round() as usize;
    if n_test == 0 || n_test >= set.len() || a.knn == 0 || a.knn > set.len() - n_test {
        bail!(
            "{} stars split into {} held out and {} for training: need both non-empty and 1 <= --knn <= the training stars",
            set.len(),
            n_test,
            set.len() - n_test
        );
    }
    let (test_idx, train_idx) = order.split_at(n_test);
    let (train, test) = (set.select(train_idx), set.select(test_idx));
    let truth: Vec<Vec<f64>> = cat.lookup(&test.names).into_iter().map(|v| v.unwrap_or_default()).collect();
    let train_truth: Vec<Vec<f64>> = cat.lookup(&train.names).into_iter().map(|v| v.unwrap_or_default()).collect();
    let q = cat.quantities.len();

    // (method, errors per quantity, (QE, TE, fraction of nodes used) for maps, fit seconds)
    type Row = (String, Vec<ErrorSummary>, Option<(f64, f64, f64)>, f64);
    let mut results: Vec<Row> = Vec::new();
    for (label, kind) in [("DESOM", MapKind::Desom), ("classic SOM", MapKind::Som)] {
        let mut c = cfg.clone();
        c.map = kind;
        c.out = a.out.join(if kind == MapKind::Desom { "desom" } else { "som" });
        // Written with the map, so that `plot` can draw the component planes.
        c.catalogue = Some(a.data.join("params.csv"));
        if c.out.exists() {
            std::fs::remove_dir_all(&c.out).with_context(|| format!("cannot clear {}", c.out.display()))?;
        }
        let t = Instant::now();
        let map = fit_set(&c, &train, ssl_core::device::parse_device(&c.device)?, false)?;
        let secs = t.elapsed().as_secs_f64();
        let nodes = node_quantities(&map, &train, &cat)?;
        let (bmus, _, quality) = map.place(&test)?;
        let (train_bmus, _, _) = map.place(&train)?;
        let mut used = train_bmus.clone();
        used.sort_unstable();
        used.dedup();
        let used = used.len() as f64 / map.shape.nodes() as f64;
        let est: Vec<Vec<Estimate>> = bmus.iter().map(|b| nodes.estimate(*b)).collect();
        let summaries =
            (0..q).map(|j| summarise(&est.iter().map(|e| e[j]).collect::<Vec<_>>(), &truth.iter().map(|t| t[j]).collect::<Vec<_>>(), true)).collect();
        results.push((label.to_string(), summaries, Some((quality.quantization_error, quality.topographic_error, used)), secs));
    }
    // kNN on the preprocessed spectra: median and 16-84% of the k nearest training stars.
    let device = ssl_core::device::parse_device(&a.device)?;
    let (xtr, _) = tensors(&train, device);
    let (xte, _) = tensors(&test, device);
    let t = Instant::now();
    let nn = squared_distances(&xte, &xtr).topk(a.knn as i64, 1, false, true).1;
    let nn = Vec::<i64>::try_from(nn.flatten(0, -1).to_device(tch::Device::Cpu))?;
    let knn_est: Vec<Vec<Estimate>> =
        nn.chunks(a.knn).map(|ix| (0..q).map(|j| Estimate::of(&ix.iter().map(|&i| train_truth[i as usize][j]).collect::<Vec<_>>())).collect()).collect();
    let knn_secs = t.elapsed().as_secs_f64();
    let summaries =
        (0..q).map(|j| summarise(&knn_est.iter().map(|e| e[j]).collect::<Vec<_>>(), &truth.iter().map(|t| t[j]).collect::<Vec<_>>(), true)).collect();
    results.push((format!("kNN (k={}) on raw spectra", a.knn), summaries, None, knn_secs));

    let mut md = String::new();
    writeln!(md, "# MILES: physical quantities read off a map of stellar spectra\n")?;
    writeln!(md, "Real data: {} MILES stars with Teff, logg and [Fe/H] (sdss-mangadap 4.5.0 package; `datasets/fetch-spectra.sh`), rebinned to {:.0}-{:.0} Å in {} Å steps ({} px) and median-normalised; {} stars train the maps, {} held-out stars are evaluated (seed {}). Map {}x{}; DESOM: MLP {:?}-{} autoencoder, {} steps ({} autoencoder-only), batch {}, gamma {}, T {} -> {}; classic SOM: batch SOM, {} iterations, same T schedule. A held-out star gets the median of its node's training stars (empty nodes borrow from the nearest non-empty ones); the interval is their 16-84th percentile.\n",
        set.len(), a.grid[0], a.grid[1], a.grid[2], set.pixels(), train.len(), test.len(), a.seed, a.rows, a.cols, cfg.desom.hidden, cfg.desom.latent, a.steps, a.pretrain_steps, cfg.train.batch_size, cfg.desom.gamma, cfg.desom.t_max, cfg.desom.t_min, cfg.som.iterations)?;
    writeln!(
        md,
        "Command: `cargo run --release -p ssl-spectra -- experiment-miles --steps {} --pretrain-steps {}{}`\n",
        a.steps,
        a.pretrain_steps,
        a.limit.map(|l| format!(" --limit {l}")).unwrap_or_default()
    )?;
    write!(md, "| method |")?;
    for name in &cat.quantities {
        write!(md, " {name} MAE | {name} RMSE | {name} 68% coverage |")?;
    }
    writeln!(md, " QE (own space) | TE | nodes used | fit time (s) |")?;
    writeln!(md, "|---|{}---|---|---|---|", "---|---|---|".repeat(q))?;
    for (label, s, quality, secs) in &results {
        write!(md, "| {label} |")?;
        for e in s {
            write!(md, " {:.3} | {:.3} | {:.0}% |", e.mae, e.rmse, 100.0 * e.coverage.unwrap_or(f64::NAN))?;
        }
        match quality {
            Some((qe, te, used)) => writeln!(md, " {qe:.3} | {te:.3} | {:.0}% | {secs:.1} |", 100.0 * used)?,
            None => writeln!(md, " - | - | - | {secs:.2} |")?,
        }
    }
    writeln!(md, "\nQE is measured in each map's own space (DESOM: the {}-d latent space; SOM: the normalised spectra), so it is not comparable across rows; TE (fraction of stars whose two best nodes are not neighbours) is. Loading and preprocessing took {load_s:.1} s.", cfg.desom.latent)?;
    if let Some(dir) = a.doc.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&a.doc, &md).with_context(|| format!("cannot write {}", a.doc.display()))?;
    println!("{md}");
    Ok(())
}
