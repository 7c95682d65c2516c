use anyhow::Result;
use clap::Parser;
use ssl_spectra::desom::Architecture;
use ssl_spectra::pipeline::{fit, read_config, FitConfig, MapKind};
use std::path::PathBuf;

#[derive(Parser, Debug)]
pub struct Args {
    /// TOML config (keys as in a run's config.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Spectra: a FITS / CSV / NPY file or a folder of FITS files.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// CSV of known quantities per spectrum (`file,teff,logg,feh`).
    #[arg(long)]
    pub catalogue: Option<PathBuf>,
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Which map to fit.
    #[arg(long, value_enum)]
    pub map: Option<MapKind>,
    #[arg(long)]
    pub rows: Option<usize>,
    #[arg(long)]
    pub cols: Option<usize>,
    /// The DESOM encoder.
    #[arg(long, value_enum)]
    pub arch: Option<Architecture>,
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long)]
    pub pretrain_steps: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Common grid as start,end,step in Å.
    #[arg(long, value_delimiter = ',')]
    pub grid: Vec<f64>,
    /// Leave out spectra with too many bad pixels (with a note) instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long)]
    pub device: Option<String>,
    /// Continue a DESOM fit in `--out` from its newest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Continue from the newest checkpoint that passes verification, setting newer
    /// corrupt ones aside (implies --resume).
    #[arg(long)]
    pub resume_intact: bool,
    /// libtorch threads (0: the cores free at start). Results depend on the count: a resume
    /// with `0` continues with the checkpoint's count, another explicit count is refused.
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long)]
    pub quiet: bool,
}

impl Args {
    pub fn config(&self) -> Result<FitConfig> {
        let mut c = match &self.config {
            Some(p) => read_config(p)?,
            None => FitConfig::default(),
        };
        if self.data.is_some() {
            c.data = self.data.clone();
        }
        if self.catalogue.is_some() {
            c.catalogue = self.catalogue.clone();
        }
        if let Some(o) = &self.out {
            c.out = o.clone();
        }
        if let Some(m) = self.map {
            c.map = m;
        }
        if let Some(a) = self.arch {
            c.desom.architecture = a;
        }
        if let Some(r) = self.rows {
            c.shape.rows = r;
        }
        if let Some(k) = self.cols {
            c.shape.cols = k;
        }
        if let Some(s) = self.steps {
            c.train.steps = s;
        }
        if let Some(s) = self.pretrain_steps {
            c.desom.pretrain_steps = s;
        }
        if let Some(b) = self.batch_size {
            c.train.batch_size = b;
        }
        if !self.grid.is_empty() {
            c.preprocess.grid = self.grid.clone();
        }
        if self.skip_bad {
            c.preprocess.skip_bad = true;
        }
        if let Some(s) = self.seed {
            c.train.seed = s;
            c.som.seed = s;
        }
        if let Some(d) = &self.device {
            c.device = d.clone();
        }
        if let Some(t) = self.threads {
            c.threads = t;
        }
        if self.quiet {
            c.train.progress = false;
        }
        Ok(c)
    }
}

pub fn run(a: Args) -> Result<()> {
    let cfg = a.config()?;
    let (map, set) = fit(&cfg, ssl_core::train::Resume::from_flags(a.resume, a.resume_intact))?;
    let (_, _, q) = map.place(&set)?;
    println!(
        "{:?} map {}x{} fitted on {} spectra: quantization error {:.4}, topographic error {:.4}; saved in {}",
        cfg.map,
        cfg.shape.rows,
        cfg.shape.cols,
        set.len(),
        q.quantization_error,
        q.topographic_error,
        cfg.out.display()
    );
    Ok(())
}
