//! MuLaP runs as library functions: pre-train on tunes held in memory through the core
//! trainer (checkpoints, exact resume, metrics), load a run back, embed clips.
use super::{ClipLoader, Mulap, MulapConfig, MusicClips};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use ssl_core::train::{load_latest_weights, CheckpointDir, OptimizerConfig, OptimizerKind, Resume, RunLock, TrainConfig, TrainSummary, Trainer};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use tch::{nn, Device, Tensor};

/// Everything a MuLaP run needs; saved with every checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct MulapPretrainConfig {
    /// The rendered catalogue (`audio/music.csv` of `render-music`, `tokenizer.json` beside it).
    pub data: PathBuf,
    /// Run folder for checkpoints, metrics and `config.toml`.
    pub out: PathBuf,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// libtorch intra-op threads (0: the cores free at start).
    pub threads: usize,
    /// Tokens of the caption vocabulary (set from `tokenizer.json`).
    pub vocab_size: i64,
    /// Networks, masking and loss weights.
    pub model: MulapConfig,
    /// Optimiser and schedule.
    pub train: TrainConfig,
}

impl Default for MulapPretrainConfig {
    fn default() -> Self {
        Self {
            data: PathBuf::from("datasets/cache/music/audio/music.csv"),
            out: PathBuf::from("runs/mulap"),
            device: "auto".into(),
            threads: 0,
            vocab_size: 0,
            model: MulapConfig::default(),
            // The paper's AdamW (betas 0.9 / 0.98, weight decay 0.01) with 10% warm-up; a
            // higher peak rate than its 1e-4 for a short CPU run.
            train: TrainConfig::default()
                .with_schedule(500, 32, 1e-3, 50)
                .with_optimizer(OptimizerConfig::new(OptimizerKind::Adamw).with_weight_decay(0.01).with_betas(0.9, 0.98))
                .with_checkpoint_every(100),
        }
    }
}

impl MulapPretrainConfig {
    /// Checks the model and the training settings.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        self.train.validate()
    }
}

/// MuLaP with fresh weights seeded by `train.seed` (also the random encoder of the baseline).
pub fn build_untrained(cfg: &MulapPretrainConfig, device: Device) -> Result<(nn::VarStore, Mulap)> {
    tch::manual_seed(cfg.train.seed as i64);
    let vs = nn::VarStore::new(device);
    let method = Mulap::new(&vs.root(), &cfg.model, cfg.vocab_size)?;
    Ok((vs, method))
}

/// Pre-trains on the tunes `ids` of `clips`; writes checkpoints, metrics and `config.toml`
/// under `cfg.out`, locked while it runs.
pub fn pretrain_on(cfg: &MulapPretrainConfig, clips: Rc<MusicClips>, ids: Vec<usize>, resume: impl Into<Resume>) -> Result<TrainSummary> {
    cfg.validate()?;
    let device = ssl_core::device::setup_runtime(&cfg.device, cfg.threads)?;
    let (vs, mut method) = build_untrained(cfg, device)?;
    let mut loader = ClipLoader::new(clips, ids, &cfg.model, cfg.train.batch_size, cfg.train.seed)?;
    let _lock = RunLock::acquire(&cfg.out)?;
    let trainer = Trainer::for_run(cfg.train.clone(), cfg.out.clone(), cfg, device)?.with_auto_threads(cfg.threads == 0);
    if trainer.checkpoints().latest_path()?.is_none() {
        ssl_core::config::write_atomically(&cfg.out.join("config.toml"), toml::to_string(cfg)?.as_bytes())?;
    }
    trainer.fit(&vs, &mut method, &mut loader, resume)
}

/// A trained run loaded back.
pub struct TrainedMulap {
    /// The run's configuration.
    pub config: MulapPretrainConfig,
    /// The variables.
    pub vs: nn::VarStore,
    /// The method with the newest weights.
    pub method: Mulap,
    /// Optimiser steps trained.
    pub step: usize,
}

/// Loads the newest checkpoint of `run` onto `device`.
pub fn load_trained(run: &Path, device: Device) -> Result<TrainedMulap> {
    let ck = CheckpointDir::new(run.join("checkpoints"), 1)
        .latest()?
        .with_context(|| format!("{}: no checkpoint found (is this a MuLaP run folder?)", run.display()))?;
    let config: MulapPretrainConfig =
        serde_json::from_value(ck.meta.config.clone()).with_context(|| format!("{}: the checkpoint's config is not a MuLaP config", ck.dir.display()))?;
    let (vs, method) = build_untrained(&config, device)?;
    let loaded = load_latest_weights(run, &vs)?;
    Ok(TrainedMulap { config, vs, method, step: loaded.meta.step })
}

/// Clip embeddings `[N, d]` (the audio encoder's `[AUD]` state, evaluation mode) of the first
/// window of each of `ids`, in batches.
pub fn embed_tunes(method: &Mulap, clips: &MusicClips, ids: &[usize], device: Device) -> Tensor {
    let cfg = method.config();
    tch::no_grad(|| {
        let parts: Vec<Tensor> = ids
            .chunks(64)
            .map(|chunk| {
                ssl_core::blocks::Backbone::forward_t(method.encoder(), &clips.first_clips(chunk, cfg).to_device(device), false).to_device(Device::Cpu)
            })
            .collect();
        Tensor::cat(&parts, 0)
    })
}

/// The run folder of a row of an experiment.
pub fn run_folder(root: &Path, name: &str, seed: u64) -> PathBuf {
    root.join(format!("{name}-seed{seed}"))
}
