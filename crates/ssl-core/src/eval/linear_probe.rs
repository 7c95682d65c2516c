//! Linear probe: a softmax classifier trained on frozen, standardised features.
use super::check_features;
use crate::train::{Optimizer, OptimizerConfig, OptimizerKind};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, nn::Module, Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinearProbeConfig {
    pub epochs: usize,
    pub batch_size: i64,
    pub lr: f64,
    pub weight_decay: f64,
    pub seed: u64,
}

impl Default for LinearProbeConfig {
    fn default() -> Self {
        Self { epochs: 30, batch_size: 512, lr: 1e-2, weight_decay: 1e-4, seed: 0 }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct LinearProbeResult {
    pub train_accuracy: f64,
    pub test_accuracy: f64,
}

/// Trains a linear classifier (AdamW, cosine-free constant lr) on `train` features and
/// reports top-1 accuracy on `test`. Features are standardised with train statistics.
pub fn linear_probe(train: &Tensor, train_labels: &Tensor, test: &Tensor, test_labels: &Tensor, cfg: LinearProbeConfig) -> Result<LinearProbeResult> {
    let n = check_features("linear probe train", train, train_labels)?;
    check_features("linear probe test", test, test_labels)?;
    let d = train.size()[1];
    if test.size()[1] != d {
        bail!("linear probe: train features have {d} dims, test features {}", test.size()[1]);
    }
    if cfg.epochs == 0 || cfg.batch_size < 1 {
        bail!("linear probe: epochs and batch_size must be positive");
    }
    let device = train.device();
    let classes = train_labels.max().int64_value(&[]).max(test_labels.max().int64_value(&[])) + 1;
    let mean = train.to_kind(Kind::Float).mean_dim([0i64].as_slice(), true, Kind::Float);
    let std = train.to_kind(Kind::Float).std_dim([0i64].as_slice(), false, true) + 1e-6;
    let standardise = |x: &Tensor| (x.to_kind(Kind::Float) - &mean) / &std;
    let (xtr, xte) = (standardise(train), standardise(test));
    let (ytr, yte) = (train_labels.to_kind(Kind::Int64), test_labels.to_kind(Kind::Int64));

    tch::manual_seed(cfg.seed as i64);
    let vs = nn::VarStore::new(device);
    let head = nn::linear(vs.root() / "head", d, classes, Default::default());
    let opt_cfg = OptimizerConfig { kind: OptimizerKind::Adamw, weight_decay: cfg.weight_decay, ..Default::default() };
    let mut opt = Optimizer::new(opt_cfg, vs.variables());
    for _ in 0..cfg.epochs {
        let perm = Tensor::randperm(n, (Kind::Int64, device));
        let mut start = 0;
        while start < n {
            let len = cfg.batch_size.min(n - start);
            let idx = perm.narrow(0, start, len);
            opt.zero_grad();
            let loss = head.forward(&xtr.index_select(0, &idx)).cross_entropy_for_logits(&ytr.index_select(0, &idx));
            loss.backward();
            opt.step(cfg.lr);
            start += len;
        }
    }
    let accuracy = |x: &Tensor, y: &Tensor| tch::no_grad(|| head.forward(x).accuracy_for_logits(y).double_value(&[]));
    Ok(LinearProbeResult { train_accuracy: accuracy(&xtr, &ytr), test_accuracy: accuracy(&xte, &yte) })
}
