use anyhow::Result;
use clap::Parser;
use ssl_core::blocks::BackboneKind;
use ssl_core::train::OptimizerKind;
use ssl_vision::config::{read_toml, PretrainConfig};
use std::path::PathBuf;

/// Flags override the config file, which overrides the defaults.
#[derive(Parser, Debug, Default)]
pub struct Args {
    /// TOML config file (the same keys as `config.toml` in a run folder).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Method name (see `ssl-vision methods`).
    #[arg(long)]
    pub method: Option<String>,
    /// Images: an IDX file, a Fashion-MNIST folder, or an ImageFolder.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Use only the first N images.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output folder (checkpoints, metrics, config).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long)]
    pub device: Option<String>,
    /// libtorch threads (0: the cores free at start). Results depend on the count: a resume
    /// with `0` continues with the checkpoint's count, another explicit count is refused.
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    /// sgd, lars or adamw.
    #[arg(long)]
    pub optimizer: Option<OptimizerKind>,
    #[arg(long)]
    pub weight_decay: Option<f64>,
    #[arg(long)]
    pub warmup_steps: Option<usize>,
    /// Micro-batches per optimiser step (gradient accumulation).
    #[arg(long)]
    pub accumulate: Option<usize>,
    #[arg(long)]
    pub clip_grad_norm: Option<f64>,
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// resnet18, resnet34 or small-convnet.
    #[arg(long)]
    pub backbone: Option<BackboneKind>,
    /// Width of the small ConvNet's first stage.
    #[arg(long)]
    pub width: Option<i64>,
    /// Weight views by UOTA after the warm-up fraction `--uota-start` of training.
    #[arg(long)]
    pub uota: bool,
    #[arg(long)]
    pub uota_start: Option<f64>,
    /// Continue the run in `--out` from its newest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Continue from the newest checkpoint that passes verification, setting newer
    /// corrupt ones aside (implies --resume).
    #[arg(long)]
    pub resume_intact: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl Args {
    /// The effective configuration: defaults, then the file, then the flags.
    pub fn config(&self) -> Result<PretrainConfig> {
        let mut c: PretrainConfig = match &self.config {
            Some(p) => read_toml(p)?,
            None => PretrainConfig::default(),
        };
        macro_rules! set {
            ($flag:expr => $field:expr) => {
                if let Some(v) = $flag.clone() {
                    $field = v;
                }
            };
        }
        set!(self.method => c.method);
        if self.data.is_some() {
            c.data = self.data.clone();
        }
        if self.limit.is_some() {
            c.limit = self.limit;
        }
        set!(self.out => c.out);
        set!(self.device => c.device);
        set!(self.threads => c.threads);
        set!(self.steps => c.train.steps);
        set!(self.batch_size => c.train.batch_size);
        set!(self.lr => c.train.lr);
        set!(self.optimizer => c.train.optimizer.kind);
        set!(self.weight_decay => c.train.optimizer.weight_decay);
        set!(self.warmup_steps => c.train.warmup_steps);
        set!(self.accumulate => c.train.accumulate);
        if self.clip_grad_norm.is_some() {
            c.train.clip_grad_norm = self.clip_grad_norm;
        }
        set!(self.seed => c.train.seed);
        set!(self.checkpoint_every => c.train.checkpoint_every);
        set!(self.backbone => c.model.backbone.kind);
        set!(self.width => c.model.backbone.width);
        if self.uota {
            c.train.uota.enabled = true;
        }
        set!(self.uota_start => c.train.uota.start_fraction);
        if self.quiet {
            c.train.progress = false;
        }
        Ok(c)
    }
}

pub fn run(args: Args) -> Result<()> {
    let cfg = args.config()?;
    let s = ssl_vision::pipeline::pretrain(&cfg, ssl_core::train::Resume::from_flags(args.resume, args.resume_intact))?;
    println!(
        "{}: {} steps, loss {:.4} -> {:.4}, {:.0} samples/s; checkpoint {}",
        cfg.method,
        s.steps,
        s.first_loss.unwrap_or(f64::NAN),
        s.final_loss,
        s.samples_per_second,
        s.checkpoint.display()
    );
    Ok(())
}
