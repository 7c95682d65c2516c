use anyhow::Result;
use clap::Parser;
use ssl_core::config::Overrides;
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
    /// A registered backbone (see `ssl-vision methods`).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(backbone_names()))]
    pub backbone: Option<String>,
    /// Width of the small ConvNet's first stage.
    #[arg(long)]
    pub width: Option<i64>,
    /// Weight views by UOTA after the warm-up fraction `--uota-start` of training.
    #[arg(long)]
    pub uota: bool,
    #[arg(long)]
    pub uota_start: Option<f64>,
    /// Decode the images of a folder as batches need them (data larger than memory).
    #[arg(long)]
    pub stream: bool,
    /// Leave out (or, while streaming, replace) images that cannot be decoded, reporting each.
    #[arg(long)]
    pub skip_bad: bool,
    /// Local (multi-crop) views per image beside the global ones.
    #[arg(long)]
    pub local_views: Option<usize>,
    /// Any setting by its dotted key, e.g. `--set model.options.temperature=0.5`
    /// (repeatable; applied after the other flags).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
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
        let c: PretrainConfig = match &self.config {
            Some(p) => read_toml(p)?,
            None => PretrainConfig::default(),
        };
        Overrides::new()
            .set("method", self.method.as_ref())
            .set("data", self.data.as_ref())
            .set("limit", self.limit)
            .set("out", self.out.as_ref())
            .set("device", self.device.as_ref())
            .set("threads", self.threads)
            .set("train.steps", self.steps)
            .set("train.batch_size", self.batch_size)
            .set("train.lr", self.lr)
            .set("train.optimizer.kind", self.optimizer)
            .set("train.optimizer.weight_decay", self.weight_decay)
            .set("train.warmup_steps", self.warmup_steps)
            .set("train.accumulate", self.accumulate)
            .set("train.clip_grad_norm", self.clip_grad_norm)
            .set("train.seed", self.seed)
            .set("train.checkpoint_every", self.checkpoint_every)
            .set("model.backbone.kind", self.backbone.as_ref())
            .set("model.backbone.width", self.width)
            .set("train.uota.enabled", self.uota.then_some(true))
            .set("train.uota.start_fraction", self.uota_start)
            .set("multi_crop.local_views", self.local_views)
            .set("stream", self.stream.then_some(true))
            .set("skip_bad", self.skip_bad.then_some(true))
            .set("train.progress", self.quiet.then_some(false))
            .assignments(&self.set)?
            .apply(&c)
    }
}

/// The backbones a `--backbone` flag may name.
fn backbone_names() -> Vec<&'static str> {
    ssl_vision::registry().backbones().iter().map(|b| b.name).collect()
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
