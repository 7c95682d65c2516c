//! Weighted k-nearest-neighbour classification on cosine similarity (the protocol of
//! InstDisc / DINO / solo-learn: k = 200, weights `exp(sim / t)`, t = 0.1).
use super::check_features;
use crate::objectives::l2_normalize;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Settings of the weighted kNN vote; defaults: k = 200, t = 0.1, blocks of 1024 test samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct KnnConfig {
    /// Neighbours that vote, `>= 1` (capped at the number of training samples).
    pub k: i64,
    /// Temperature `t` of the vote weights `exp(sim / t)`, `> 0`.
    pub temperature: f64,
    /// Test samples per similarity block (bounds memory).
    pub chunk: i64,
}

impl KnnConfig {
    /// A vote of `k` neighbours at temperature `temperature` (default blocks).
    pub fn new(k: i64, temperature: f64) -> Self {
        Self { k, temperature, ..Self::default() }
    }

    /// The same with `chunk` test samples per similarity block.
    pub fn with_chunk(self, chunk: i64) -> Self {
        Self { chunk, ..self }
    }
}

impl Default for KnnConfig {
    fn default() -> Self {
        Self { k: 200, temperature: 0.1, chunk: 1024 }
    }
}

/// Top-1 accuracy of the weighted kNN vote of `train` features for `test` features.
pub fn knn_accuracy(train: &Tensor, train_labels: &Tensor, test: &Tensor, test_labels: &Tensor, cfg: KnnConfig) -> Result<f64> {
    let n_train = check_features("knn train", train, train_labels)?;
    let n_test = check_features("knn test", test, test_labels)?;
    if train.size()[1] != test.size()[1] {
        bail!("knn: train features have {} dims, test features {}", train.size()[1], test.size()[1]);
    }
    if cfg.k < 1 || cfg.temperature.is_nan() || cfg.temperature <= 0.0 {
        bail!("knn: k must be >= 1 and temperature > 0");
    }
    let k = cfg.k.min(n_train);
    let classes = train_labels.max().int64_value(&[]).max(test_labels.max().int64_value(&[])) + 1;
    let train = l2_normalize(&train.to_kind(Kind::Float));
    let test = l2_normalize(&test.to_kind(Kind::Float));
    let train_labels = train_labels.to_kind(Kind::Int64);
    let mut correct = 0i64;
    tch::no_grad(|| {
        let mut start = 0;
        while start < n_test {
            let len = cfg.chunk.max(1).min(n_test - start);
            let sim = test.narrow(0, start, len).matmul(&train.transpose(0, 1));
            let (top_sim, top_idx) = sim.topk(k, 1, true, true);
            let neighbours = train_labels.index_select(0, &top_idx.flatten(0, -1)).view([len, k]);
            // Shifting by the row maximum leaves the vote unchanged and avoids overflow.
            let weights = ((&top_sim - top_sim.narrow(1, 0, 1)) / cfg.temperature).exp();
            let votes = Tensor::zeros([len, classes], (Kind::Float, weights.device())).scatter_add(1, &neighbours, &weights);
            let pred = votes.argmax(1, false);
            correct += pred.eq_tensor(&test_labels.narrow(0, start, len).to_kind(Kind::Int64)).sum(Kind::Int64).int64_value(&[]);
            start += len;
        }
    });
    Ok(correct as f64 / n_test as f64)
}
