//! What the experiment commands (`demo`, `objectives-table`) share: the flags that set up
//! a base configuration and the labelled train / test splits.
use anyhow::Result;
use clap::Args;
use ssl_vision::config::{read_toml, PretrainConfig};
use ssl_vision::data::ImageSet;
use ssl_vision::pipeline::{load_images, setup_runtime};
use std::path::PathBuf;
use tch::Device;

#[derive(Args, Debug)]
pub struct ExperimentArgs {
    /// Folder with Fashion-MNIST's IDX files (datasets/fetch-fashion-mnist.sh puts them here).
    #[arg(long, default_value = "datasets/cache/fashion-mnist")]
    pub data: PathBuf,
    /// Optional pre-training config file (TOML); the flags below override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub steps: Option<usize>,
    /// Use only the first N training images (pre-training and probe).
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long)]
    pub limit_test: Option<usize>,
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// The base configuration, the device, and the train / test images of an experiment.
pub struct Experiment {
    pub base: PretrainConfig,
    pub device: Device,
    pub train: ImageSet,
    pub test: ImageSet,
}

impl ExperimentArgs {
    pub fn prepare(&self) -> Result<Experiment> {
        let mut base: PretrainConfig = match &self.config {
            Some(p) => read_toml(p)?,
            None => PretrainConfig::default(),
        };
        base.data = Some(self.data.clone());
        base.device = self.device.clone();
        if let Some(s) = self.steps {
            base.train.steps = s;
        }
        if self.limit.is_some() {
            base.limit = self.limit;
        }
        if self.quiet {
            base.train.progress = false;
        }
        let device = setup_runtime(&base.device, base.threads)?;
        let train = load_images(Some(&self.data), Some("train"), base.limit, false)?;
        let test = load_images(Some(&self.data), Some("test"), self.limit_test, false)?;
        Ok(Experiment { base, device, train, test })
    }
}
