use anyhow::Result;
use clap::Parser;
use ssl_core::config::Overrides;
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
    /// Any setting by its dotted key, e.g. `--set desom.gamma=0.01` (repeatable; applied
    /// after the other flags).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

impl Args {
    pub fn config(&self) -> Result<FitConfig> {
        let c = match &self.config {
            Some(p) => read_config(p)?,
            None => FitConfig::default(),
        };
        Overrides::new()
            .set("data", self.data.as_ref())
            .set("catalogue", self.catalogue.as_ref())
            .set("out", self.out.as_ref())
            .set("map", self.map)
            .set("desom.architecture", self.arch)
            .set("shape.rows", self.rows)
            .set("shape.cols", self.cols)
            .set("train.steps", self.steps)
            .set("desom.pretrain_steps", self.pretrain_steps)
            .set("train.batch_size", self.batch_size)
            .set("preprocess.grid", (!self.grid.is_empty()).then_some(&self.grid))
            .set("preprocess.skip_bad", self.skip_bad.then_some(true))
            .set("train.seed", self.seed)
            .set("som.seed", self.seed)
            .set("device", self.device.as_ref())
            .set("threads", self.threads)
            .set("train.progress", self.quiet.then_some(false))
            .assignments(&self.set)?
            .apply(&c)
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
