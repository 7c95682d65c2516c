//! The speaker commands' work as library functions: pre-train an encoder on unlabelled
//! recordings, load a trained one back, and turn recordings into its inputs.
use super::segments::{mean_normalised, SegmentConfig, SegmentLoader};
use crate::data::read_audio_set;
use crate::features::{Fbank, Features};
use crate::waveform::{Waveform, KALDI_SAMPLE_SCALE};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use ssl_core::blocks::BackboneConfig;
use ssl_core::train::{load_latest_weights, CheckpointDir, OptimizerConfig, OptimizerKind, Resume, RunLock, TrainConfig, TrainSummary, Trainer};
use ssl_core::{Method, MethodConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::{nn, Device, Tensor};

/// Everything a speaker pre-training run needs; saved with every checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct SpeakerPretrainConfig {
    /// Registered method (default `ssreg`; any two-view method of the registry works).
    pub method: String,
    /// Recordings: a folder (speaker sub-folders or flat) or a `path,label` CSV; labels
    /// are not used for training.
    pub data: Option<PathBuf>,
    /// Leave out recordings that cannot be read (counted) instead of stopping.
    pub skip_bad: bool,
    /// Run folder for checkpoints, metrics and `config.toml` (default `runs/speaker`).
    pub out: PathBuf,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// libtorch intra-op threads (0: the cores free at start).
    pub threads: usize,
    /// Rate the recordings are resampled to, in Hz (8000: the Asterisk prompts' own).
    pub sample_rate: u32,
    /// Segments, their augmentation and their features.
    pub segments: SegmentConfig,
    /// The encoder (`in_channels` is set to `segments.num_bins`) and heads.
    pub model: MethodConfig,
    /// Optimiser and schedule.
    pub train: TrainConfig,
}

impl Default for SpeakerPretrainConfig {
    fn default() -> Self {
        let segments = SegmentConfig::default();
        Self {
            method: "ssreg".into(),
            data: None,
            skip_bad: false,
            out: PathBuf::from("runs/speaker"),
            device: "auto".into(),
            threads: 0,
            sample_rate: 8000,
            // ECAPA-TDNN of 32 channels: after 400 steps on the Asterisk voices its EER was 8
            // points below a thin ResNet-34 of width 8, trained 3x faster (docs/audio.md).
            model: MethodConfig::default().with_backbone(BackboneConfig::new("ecapa-tdnn", segments.num_bins).with_shape(32, 1)).with_heads(512, 128, 128),
            segments,
            train: TrainConfig::default()
                .with_schedule(600, 64, 2e-3, 40)
                .with_optimizer(OptimizerConfig::new(OptimizerKind::Adamw).with_weight_decay(1e-5))
                .with_checkpoint_every(100),
        }
    }
}

impl SpeakerPretrainConfig {
    /// Checks the rate (1 kHz to 192 kHz), the segments, the training settings and the
    /// method's configuration against the audio registry.
    pub fn validate(&self) -> Result<()> {
        if !(1000..=192_000).contains(&self.sample_rate) {
            bail!("sample_rate must be between 1000 and 192000 Hz, got {}", self.sample_rate);
        }
        self.segments.validate()?;
        self.train.validate()?;
        crate::registry::registry().check(&self.method, &self.model_for_features())
    }

    /// The model configuration with the input width set to the filterbank's bins.
    pub fn model_for_features(&self) -> MethodConfig {
        let mut model = self.model.clone();
        model.backbone.in_channels = self.segments.num_bins;
        model
    }

    /// The filterbank of the run's inputs.
    pub fn fbank(&self) -> Result<Fbank> {
        self.segments.fbank(self.sample_rate)
    }
}

/// The configured method with fresh weights (seeded by `train.seed`): also the random
/// encoder of the no-learning baseline.
pub fn build_untrained(cfg: &SpeakerPretrainConfig, device: Device) -> Result<(nn::VarStore, Box<dyn Method>)> {
    tch::manual_seed(cfg.train.seed as i64);
    let vs = nn::VarStore::new(device);
    let method = crate::registry::registry().build_method(&cfg.method, &vs, &cfg.model_for_features())?;
    Ok((vs, method))
}

/// Pre-trains on the recordings named by `cfg.data`.
pub fn pretrain(cfg: &SpeakerPretrainConfig, resume: impl Into<Resume>) -> Result<TrainSummary> {
    cfg.validate()?;
    let data = cfg.data.as_deref().context("no data given: pass --data PATH (or set `data` in the config file)")?;
    let set = read_audio_set(data, cfg.sample_rate, cfg.skip_bad)?;
    pretrain_on(cfg, Arc::new(set.waves), resume)
}

/// Pre-trains on recordings already in memory (all at `cfg.sample_rate`); writes
/// checkpoints, metrics and `config.toml` under `cfg.out`, locked while it runs.
pub fn pretrain_on(cfg: &SpeakerPretrainConfig, waves: Arc<Vec<Waveform>>, resume: impl Into<Resume>) -> Result<TrainSummary> {
    cfg.validate()?;
    if let Some(w) = waves.iter().find(|w| w.sample_rate != cfg.sample_rate) {
        bail!("a recording is at {} Hz but the run is set up for {} Hz", w.sample_rate, cfg.sample_rate);
    }
    let device = ssl_core::device::setup_runtime(&cfg.device, cfg.threads)?;
    let (vs, mut method) = build_untrained(cfg, device)?;
    let mut loader = SegmentLoader::new(waves, cfg.segments.clone(), cfg.train.batch_size, cfg.train.seed)?;
    let _lock = RunLock::acquire(&cfg.out)?;
    let trainer = Trainer::for_run(cfg.train.clone(), cfg.out.clone(), cfg, device)?.with_auto_threads(cfg.threads == 0);
    if trainer.checkpoints().latest_path()?.is_none() {
        ssl_core::config::write_atomically(&cfg.out.join("config.toml"), toml::to_string(cfg)?.as_bytes())?;
    }
    trainer.fit(&vs, method.as_mut(), &mut loader, resume)
}

/// A trained run loaded back: its configuration and its method with the newest weights.
pub struct TrainedEncoder {
    /// The run's configuration (from its newest checkpoint).
    pub config: SpeakerPretrainConfig,
    /// The method's variables.
    pub vs: nn::VarStore,
    /// The method; [`Method::backbone`] is the speaker encoder.
    pub method: Box<dyn Method>,
    /// Optimiser steps the weights were trained for.
    pub step: usize,
}

/// Loads the newest checkpoint of the run folder `run` onto `device`.
pub fn load_trained(run: &Path, device: Device) -> Result<TrainedEncoder> {
    let ck = CheckpointDir::new(run.join("checkpoints"), 1)
        .latest()?
        .with_context(|| format!("{}: no checkpoint found (is this a speaker pre-training folder?)", run.display()))?;
    let config: SpeakerPretrainConfig = serde_json::from_value(ck.meta.config.clone())
        .with_context(|| format!("{}: the checkpoint's config is not a speaker pre-training config", ck.dir.display()))?;
    config.validate().with_context(|| format!("{}: the checkpoint's config is not valid", ck.dir.display()))?;
    let (vs, method) = build_untrained(&config, device)?;
    let loaded = load_latest_weights(run, &vs)?;
    Ok(TrainedEncoder { config, vs, method, step: loaded.meta.step })
}

/// Log filterbanks `[T, F]` of a whole recording (not mean-normalised), or an error
/// naming `what` when it is shorter than one frame or at another rate.
pub fn recording_features(fbank: &Fbank, wave: &Waveform, what: &str) -> Result<Tensor> {
    if f64::from(wave.sample_rate) != fbank.sample_rate() {
        bail!("{what}: the recording is at {} Hz, the encoder takes {} Hz", wave.sample_rate, fbank.sample_rate());
    }
    let frames = fbank.options().frame.num_frames(wave.samples.len() as i64);
    if frames < 1 {
        bail!("{what}: {} samples ({:.3} s) is shorter than one frame", wave.samples.len(), wave.seconds());
    }
    fbank.compute(&wave.to_tensor(KALDI_SAMPLE_SCALE, Device::Cpu))
}

/// The encoder's input of a whole recording: its log filterbanks with their mean over
/// the frames removed (as the training segments).
pub fn encoder_input(fbank: &Fbank, wave: &Waveform, what: &str) -> Result<Tensor> {
    Ok(mean_normalised(&recording_features(fbank, wave, what)?))
}
