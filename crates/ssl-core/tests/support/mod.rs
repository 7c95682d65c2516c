//! Small synthetic data and settings shared by the training tests.
#![allow(dead_code)]
use anyhow::Result;
use ssl_core::blocks::BackboneConfig;
use ssl_core::train::{BatchSource, OptimizerConfig, OptimizerKind, TrainConfig, Trainer};
use ssl_core::{Batch, MethodConfig};
use std::collections::HashMap;
use tch::{nn, Device, Kind, Tensor};

/// Two noisy views of a few fixed prototype images; deterministic per batch index.
pub struct Prototypes {
    base: Tensor,
    batch: i64,
    next: u64,
    pub fail_at: Option<u64>,
    pub nan_at: Option<u64>,
    /// Extra views at half the resolution (multi-crop local views).
    pub local_views: usize,
    /// Adds the labels (the prototype index) as a named part.
    pub labels: bool,
}

impl Prototypes {
    pub fn new(batch: i64) -> Self {
        tch::manual_seed(1234);
        Self { base: Tensor::rand([8, 1, 8, 8], (Kind::Float, Device::Cpu)), batch, next: 0, fail_at: None, nan_at: None, local_views: 0, labels: false }
    }
}

impl BatchSource for Prototypes {
    fn start(&mut self, index: u64) -> Result<()> {
        self.next = index;
        Ok(())
    }
    fn next_batch(&mut self) -> Result<Batch> {
        let i = self.next;
        self.next += 1;
        if Some(i) == self.fail_at {
            anyhow::bail!("simulated crash at batch {i}");
        }
        // A generator seeded by the batch index keeps batches independent of history.
        let mut rng = (i + 1).wrapping_mul(6364136223846793005);
        let mut draw = || {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (rng >> 33) as i64
        };
        let idx: Vec<i64> = (0..self.batch).map(|_| draw() % 8).collect();
        let x = self.base.index_select(0, &Tensor::from_slice(&idx));
        let noise: Vec<f32> = (0..x.numel() * 2).map(|_| ((draw() % 1000) as f32 / 1000.0 - 0.5) * 0.3).collect();
        let noise = Tensor::from_slice(&noise).view([2, self.batch, 1, 8, 8]);
        let mut v1 = &x + noise.get(0);
        let v2 = &x + noise.get(1);
        if Some(i) == self.nan_at {
            v1 *= f64::NAN;
        }
        let mut views = vec![v1, v2];
        for k in 0..self.local_views {
            let shift = 0.05 * (k as f64 + 1.0);
            views.push(x.narrow(2, 0, 4).narrow(3, 0, 4) + shift);
        }
        let batch = Batch::from_views(views)?;
        if self.labels {
            return batch.with(ssl_core::data::LABELS, Tensor::from_slice(&idx));
        }
        Ok(batch)
    }
}

/// Tests here seed libtorch's global generator before building networks; running them
/// one at a time keeps another test's draws from interleaving with theirs.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Tiny networks; each method's own options where the defaults are too large.
pub fn method_config(method: &str) -> MethodConfig {
    let mut cfg = MethodConfig::default();
    cfg.backbone = BackboneConfig::new("small-convnet", 1).with_shape(8, 3);
    (cfg.projector_hidden, cfg.projector_dim, cfg.predictor_hidden) = (32, 16, 32);
    match method {
        "moco-v2" => cfg.with_option("queue_size", 64),
        "nac" => cfg.with_option("code_dim", 16),
        "swav" => cfg.with_option("prototypes", 8).with_option("freeze_prototypes_steps", 2).with_option("queue_size", 32).with_option("queue_start_step", 3),
        _ => cfg,
    }
}

pub fn train_config(steps: usize) -> TrainConfig {
    let mut cfg = TrainConfig::default();
    (cfg.steps, cfg.batch_size, cfg.lr, cfg.warmup_steps) = (steps, 16, 0.05, 2);
    cfg.optimizer = OptimizerConfig::new(OptimizerKind::Adamw).with_weight_decay(1e-4);
    (cfg.checkpoint_every, cfg.log_every, cfg.progress, cfg.seed) = (3, 1, false, 7);
    cfg
}

pub fn trainer(out: &std::path::Path, cfg: TrainConfig) -> Trainer {
    let run_config = serde_json::to_value(&cfg).unwrap();
    Trainer::new(cfg, out.to_path_buf(), run_config, vec!["/progress".into()], Device::Cpu)
}

pub fn weights(vs: &nn::VarStore) -> HashMap<String, Tensor> {
    vs.variables()
}

pub fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ssl-core-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}
