//! `ssl-audio mulap-pretrain`: MuLaP (or its audio-only contrastive baseline) on every tune
//! of a rendered catalogue.
use anyhow::Result;
use clap::Parser;
use ssl_audio::mulap::clips::read_music;
use ssl_audio::mulap::pipeline::{pretrain_on, MulapPretrainConfig};
use ssl_core::train::Resume;
use std::path::PathBuf;
use std::rc::Rc;

#[derive(Parser, Debug)]
pub struct Args {
    /// TOML config file (the keys of `config.toml` in a run folder).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The rendered catalogue (render-music), with tokenizer.json beside it.
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Train the audio-only contrastive baseline instead (every multimodal weight 0).
    #[arg(long)]
    pub contrastive: bool,
    #[arg(long)]
    pub device: Option<String>,
    /// libtorch threads (0: the cores free at start).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Continue the run in `--out` from its newest checkpoint.
    #[arg(long)]
    pub resume: bool,
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(a: Args) -> Result<()> {
    let mut cfg: MulapPretrainConfig = match &a.config {
        Some(p) => ssl_core::config::read_toml(p)?,
        None => MulapPretrainConfig::default(),
    };
    if let Some(v) = a.data {
        cfg.data = v;
    }
    if let Some(v) = a.out {
        cfg.out = v;
    }
    if let Some(v) = a.steps {
        cfg.train.steps = v;
        cfg.train.warmup_steps = cfg.train.warmup_steps.min(v / 2);
    }
    if let Some(v) = a.batch_size {
        cfg.train.batch_size = v;
    }
    if let Some(v) = a.lr {
        cfg.train.lr = v;
    }
    if let Some(v) = a.seed {
        cfg.train.seed = v;
    }
    if let Some(v) = a.device {
        cfg.device = v;
    }
    if let Some(v) = a.threads {
        cfg.threads = v;
    }
    if a.contrastive {
        cfg.model = cfg.model.audio_only_contrastive();
    }
    cfg.train.progress = !a.quiet;
    let (clips, vocabulary) = read_music(&cfg.data, &cfg.model)?;
    cfg.vocab_size = vocabulary.size() as i64;
    let ids: Vec<usize> = (0..clips.len()).collect();
    let summary = pretrain_on(&cfg, Rc::new(clips), ids, Resume::from_flags(a.resume, false))?;
    println!(
        "{} on {} tunes: {} steps, final loss {:.4} -> {}",
        if a.contrastive { "audio-only contrastive" } else { "MuLaP" },
        cfg.data.display(),
        summary.steps,
        summary.final_loss,
        cfg.out.display()
    );
    Ok(())
}
