//! `ssl-audio pretrain`: self-supervised speaker encoder training on unlabelled recordings.
use anyhow::Result;
use clap::Parser;
use ssl_audio::speaker::SpeakerPretrainConfig;
use ssl_core::config::Overrides;
use std::path::PathBuf;

/// Flags override the config file, which overrides the defaults.
#[derive(Parser, Debug)]
pub struct Args {
    /// TOML config file (the same keys as `config.toml` in a run folder).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Method name (default ssreg; see `ssl-audio methods`).
    #[arg(long)]
    pub method: Option<String>,
    /// Recordings: a folder (speaker sub-folders or flat) or a `path,label` CSV.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output folder (checkpoints, metrics, config).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long)]
    pub device: Option<String>,
    /// libtorch threads (0: the cores free at start).
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// A registered backbone (thin-resnet34, ecapa-tdnn, ...).
    #[arg(long)]
    pub backbone: Option<String>,
    /// Backbone width (ECAPA-TDNN: channels; thin ResNet: first-stage width).
    #[arg(long)]
    pub width: Option<i64>,
    /// Segment length in seconds.
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Leave out recordings that cannot be read (each reported).
    #[arg(long)]
    pub skip_bad: bool,
    /// Any setting by its dotted key, e.g. `--set model.options.ssreg_weight=0`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Continue the run in `--out` from its newest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl Args {
    /// The effective configuration: defaults, then the file, then the flags.
    pub fn config(&self) -> Result<SpeakerPretrainConfig> {
        let c: SpeakerPretrainConfig = match &self.config {
            Some(p) => ssl_core::config::read_toml(p)?,
            None => SpeakerPretrainConfig::default(),
        };
        Overrides::new()
            .set("method", self.method.as_ref())
            .set("data", self.data.as_ref())
            .set("out", self.out.as_ref())
            .set("device", self.device.as_ref())
            .set("threads", self.threads)
            .set("train.steps", self.steps)
            .set("train.batch_size", self.batch_size)
            .set("train.lr", self.lr)
            .set("train.seed", self.seed)
            .set("model.backbone.kind", self.backbone.as_ref())
            .set("model.backbone.width", self.width)
            .set("segments.seconds", self.seconds)
            .set("skip_bad", self.skip_bad.then_some(true))
            .set("train.progress", self.quiet.then_some(false))
            .assignments(&self.set)?
            .apply(&c)
    }
}

pub fn run(args: Args) -> Result<()> {
    let cfg = args.config()?;
    let s = ssl_audio::speaker::pretrain(&cfg, ssl_core::train::Resume::from_flags(args.resume, false))?;
    println!(
        "{} ({}): {} steps, loss {:.4} -> {:.4}, {:.0} utterances/s; checkpoint {}",
        cfg.method,
        cfg.model.backbone.kind,
        s.steps,
        s.first_loss.unwrap_or(f64::NAN),
        s.final_loss,
        s.samples_per_second,
        s.checkpoint.display()
    );
    Ok(())
}
