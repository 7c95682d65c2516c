//! Linear probe: a softmax classifier trained on frozen, standardised features (or, with
//! `hidden > 0`, a one-hidden-layer MLP, the small downstream head some papers use).
//!
//! The number of epochs and the weight decay are chosen on a validation split held out
//! from the training features (never on the test set); the classifier is then refit on
//! all training features with that choice and scored once on the test set. The probe's
//! randomness (split, initialisation, batch order) is drawn per seed, and the test
//! accuracy is reported as mean and standard deviation over the seeds.
use super::check_features;
use anyhow::{bail, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Settings of the linear probe (the protocol is in the module doc).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct LinearProbeConfig {
    /// The most epochs tried; the number used is chosen on the validation split.
    pub epochs: usize,
    /// Samples per AdamW step (at most the training samples; an epoch's last batch may be smaller).
    pub batch_size: i64,
    /// AdamW's peak learning rate, decayed by a cosine over `epochs`.
    pub lr: f64,
    /// Candidate (decoupled) weight decays, chosen on the validation split.
    pub weight_decays: Vec<f64>,
    /// Share of the training features held out for the choice.
    pub val_fraction: f64,
    /// Probes trained, each with its own split, initialisation and order.
    pub seeds: usize,
    /// The first seed; the others follow it.
    pub seed: u64,
    /// Width of a ReLU hidden layer before the classifier; 0 (the default) is the linear probe.
    pub hidden: usize,
}

impl Default for LinearProbeConfig {
    fn default() -> Self {
        Self { epochs: 30, batch_size: 512, lr: 1e-2, weight_decays: vec![0.0, 1e-2, 1e-1], val_fraction: 0.1, seeds: 3, seed: 0, hidden: 0 }
    }
}

impl LinearProbeConfig {
    /// Checks every setting against its valid range, naming the key.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 || self.batch_size < 1 || self.seeds == 0 {
            bail!("linear probe: epochs, batch_size and seeds must be positive");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("linear probe: lr must be positive, got {}", self.lr);
        }
        if self.weight_decays.is_empty() || self.weight_decays.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
            bail!("linear probe: weight_decays must be a non-empty list of values >= 0, got {:?}", self.weight_decays);
        }
        if !(self.val_fraction > 0.0 && self.val_fraction < 1.0) {
            bail!("linear probe: val_fraction must be in (0, 1), got {}", self.val_fraction);
        }
        Ok(())
    }

    /// The same probe with a ReLU hidden layer of `hidden` units (0: linear).
    pub fn with_hidden(self, hidden: usize) -> Self {
        Self { hidden, ..self }
    }
}

/// One seed's probe: what the validation split chose and what it scored.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ProbeRun {
    /// The probe's seed (its split, initialisation and batch order).
    pub seed: u64,
    /// The weight decay chosen on the validation split.
    pub weight_decay: f64,
    /// The number of epochs chosen on the validation split.
    pub epochs: usize,
    /// Validation accuracy of that choice, in `[0, 1]`.
    pub val_accuracy: f64,
    /// Accuracy of the refit classifier on all training features, in `[0, 1]`.
    pub train_accuracy: f64,
    /// Accuracy of the refit classifier on the test features, in `[0, 1]`.
    pub test_accuracy: f64,
}

/// What [`linear_probe`] reports: accuracies over the seeds, and each seed's probe.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct LinearProbeResult {
    /// Mean over seeds.
    pub train_accuracy: f64,
    /// Mean over seeds.
    pub test_accuracy: f64,
    /// Standard deviation over seeds (0 for one seed).
    pub test_accuracy_std: f64,
    /// Each seed's probe, in seed order.
    pub runs: Vec<ProbeRun>,
}

/// Trains linear classifiers on `train` features as described in the module doc and
/// reports their top-1 accuracy on `test`.
///
/// Every (seed, weight decay) pair is one model of a batch trained together (one matrix
/// product per step for all of them), so the search costs about what a single probe does.
pub fn linear_probe(train: &Tensor, train_labels: &Tensor, test: &Tensor, test_labels: &Tensor, cfg: &LinearProbeConfig) -> Result<LinearProbeResult> {
    let n = check_features("linear probe train", train, train_labels)?;
    check_features("linear probe test", test, test_labels)?;
    cfg.validate()?;
    let d = train.size()[1];
    if test.size()[1] != d {
        bail!("linear probe: train features have {d} dims, test features {}", test.size()[1]);
    }
    let n_val = ((n as f64 * cfg.val_fraction).round() as i64).max(1);
    if n - n_val < 1 {
        bail!("linear probe: {n} training samples are too few to hold out a validation split");
    }
    let classes = train_labels.max().int64_value(&[]).max(test_labels.max().int64_value(&[])) + 1;
    let (x, y) = (train.to_kind(Kind::Float), train_labels.to_kind(Kind::Int64));
    let (xte, yte) = (test.to_kind(Kind::Float), test_labels.to_kind(Kind::Int64));
    let seeds: Vec<u64> = (0..cfg.seeds as u64).map(|i| cfg.seed.wrapping_add(i)).collect();
    let decays = &cfg.weight_decays;

    // The choice: each seed's split, every weight decay, scored after every epoch.
    let splits: Vec<Tensor> = seeds.iter().map(|&s| permutation(n, &[s, crate::seed::tag::PROBE_SPLIT]).to_device(x.device())).collect();
    let fit: Vec<Tensor> = splits.iter().map(|p| p.narrow(0, n_val, n - n_val)).collect();
    let val: Vec<Tensor> = splits.iter().map(|p| p.narrow(0, 0, n_val)).collect();
    let val_x = Tensor::stack(&val.iter().map(|i| x.index_select(0, i)).collect::<Vec<_>>(), 0);
    let val_y = Tensor::stack(&val.iter().map(|i| y.index_select(0, i)).collect::<Vec<_>>(), 0);
    let search = Batched::new(&x, &y, &fit, &seeds, decays.clone(), classes, cfg);
    let mut best = vec![(f64::NEG_INFINITY, 0usize, 0usize); seeds.len()];
    search.train(cfg.epochs, |epoch, models| {
        let acc = models.accuracy(&val_x, &val_y);
        for (si, b) in best.iter_mut().enumerate() {
            for wi in 0..decays.len() {
                // The earliest epoch and the first weight decay win ties.
                let a = acc[si * decays.len() + wi];
                if a > b.0 {
                    *b = (a, wi, epoch);
                }
            }
        }
    });

    // The refit: all training features, each seed with its choice, stopped at its epoch.
    let everything = Tensor::arange(n, (Kind::Int64, x.device()));
    let orders: Vec<Tensor> = seeds.iter().map(|_| everything.shallow_clone()).collect();
    let chosen: Vec<f64> = best.iter().map(|b| decays[b.1]).collect();
    let refit = Batched::new(&x, &y, &orders, &seeds, chosen.clone(), classes, cfg).one_decay_per_seed();
    let last = best.iter().map(|b| b.2).max().unwrap_or(1);
    let mut snapshots: Vec<Option<(f64, f64)>> = vec![None; seeds.len()];
    let all_x = x.unsqueeze(0).expand([seeds.len() as i64, n, d], false);
    let all_y = y.unsqueeze(0).expand([seeds.len() as i64, n], false);
    let test_x = xte.unsqueeze(0).expand([seeds.len() as i64, xte.size()[0], d], false);
    let test_y = yte.unsqueeze(0).expand([seeds.len() as i64, xte.size()[0]], false);
    refit.train(last, |epoch, models| {
        if best.iter().any(|b| b.2 == epoch) {
            let (tr, te) = (models.accuracy(&all_x, &all_y), models.accuracy(&test_x, &test_y));
            for (si, b) in best.iter().enumerate() {
                if b.2 == epoch {
                    snapshots[si] = Some((tr[si], te[si]));
                }
            }
        }
    });
    let runs: Vec<ProbeRun> = seeds
        .iter()
        .zip(&best)
        .zip(&snapshots)
        .map(|((&seed, b), snap)| {
            let (train_accuracy, test_accuracy) = snap.expect("every chosen epoch is reached by the refit");
            ProbeRun { seed, weight_decay: decays[b.1], epochs: b.2, val_accuracy: b.0, train_accuracy, test_accuracy }
        })
        .collect();
    let tests: Vec<f64> = runs.iter().map(|r| r.test_accuracy).collect();
    let (test_accuracy, test_accuracy_std) = mean_std(&tests);
    let train_accuracy = runs.iter().map(|r| r.train_accuracy).sum::<f64>() / runs.len() as f64;
    Ok(LinearProbeResult { train_accuracy, test_accuracy, test_accuracy_std, runs })
}

/// A permutation of `0..n` from the stream named by `stream` (a local generator: the probe
/// gives the same answer whatever other threads draw from libtorch's).
fn permutation(n: i64, stream: &[u64]) -> Tensor {
    use rand::seq::SliceRandom;
    let mut v: Vec<i64> = (0..n).collect();
    v.shuffle(&mut crate::seed::rng(stream));
    Tensor::from_slice(&v)
}

/// Linear classifiers trained together: one per (seed, weight decay), each seed with its
/// own samples, standardisation (statistics of its samples), initialisation and order.
struct Batched<'a> {
    x: &'a Tensor,
    y: &'a Tensor,
    /// Per seed: the indices of its training samples.
    samples: &'a [Tensor],
    seeds: &'a [u64],
    decays: Vec<f64>,
    /// One decay per seed (the refit) instead of every decay for every seed.
    paired: bool,
    classes: i64,
    cfg: &'a LinearProbeConfig,
}

/// The models' parameters at some point of training, with the standardisation they see.
struct Models {
    /// Weights and biases of each layer, `[S, C, D_in, D_out]` and `[S, C, 1, D_out]`:
    /// S seeds, C weight decays per seed; a ReLU between consecutive layers.
    layers: Vec<(Tensor, Tensor)>,
    mean: Tensor,
    std: Tensor,
}

/// Logits `[S, C, N, K]` of standardised features `[S, N, D]` through `layers`.
fn forward(layers: &[(Tensor, Tensor)], x: &Tensor) -> Tensor {
    let mut h = x.unsqueeze(1);
    for (i, (w, b)) in layers.iter().enumerate() {
        if i > 0 {
            h = h.relu();
        }
        h = h.matmul(w) + b;
    }
    h
}

impl Models {
    /// Top-1 accuracy of every model on per-seed features `[S, N, D]` and labels `[S, N]`,
    /// in (seed, decay) order.
    fn accuracy(&self, x: &Tensor, y: &Tensor) -> Vec<f64> {
        let n = x.size()[1];
        let w = &self.layers[0].0;
        tch::no_grad(|| {
            let mut hits = Tensor::zeros([w.size()[0], w.size()[1]], (Kind::Float, x.device()));
            let mut start = 0;
            // In chunks, bounding the standardised copy's memory.
            while start < n {
                let len = (n - start).min(8192);
                let logits = forward(&self.layers, &((x.narrow(1, start, len) - &self.mean) / &self.std));
                let right = logits.argmax(-1, false).eq_tensor(&y.narrow(1, start, len).unsqueeze(1)).to_kind(Kind::Float);
                hits += right.sum_dim_intlist([-1i64].as_slice(), false, Kind::Float);
                start += len;
            }
            Vec::<f64>::try_from((hits / n as f64).flatten(0, -1).to_kind(Kind::Double)).expect("accuracies are a float vector")
        })
    }
}

impl<'a> Batched<'a> {
    fn new(x: &'a Tensor, y: &'a Tensor, samples: &'a [Tensor], seeds: &'a [u64], decays: Vec<f64>, classes: i64, cfg: &'a LinearProbeConfig) -> Self {
        Self { x, y, samples, seeds, decays, paired: false, classes, cfg }
    }

    fn one_decay_per_seed(self) -> Self {
        Self { paired: true, ..self }
    }

    /// Trains for `epochs` under a cosine schedule over `cfg.epochs` (so that a model
    /// stopped early saw exactly the learning rates it saw during the choice), calling
    /// `after_epoch(epoch, models)` after each epoch (counted from 1).
    fn train(&self, epochs: usize, mut after_epoch: impl FnMut(usize, &Models)) {
        let device = self.x.device();
        let (s, d, k) = (self.seeds.len() as i64, self.x.size()[1], self.classes);
        let c = if self.paired { 1 } else { self.decays.len() as i64 };
        let n = self.samples[0].size()[0];
        let sub_x: Vec<Tensor> = self.samples.iter().map(|i| self.x.index_select(0, i)).collect();
        let mean = Tensor::stack(&sub_x.iter().map(|v| v.mean_dim([0i64].as_slice(), true, Kind::Float)).collect::<Vec<_>>(), 0);
        let std = Tensor::stack(&sub_x.iter().map(|v| v.std_dim([0i64].as_slice(), false, true) + 1e-6).collect::<Vec<_>>(), 0);
        drop(sub_x);
        // Layer widths: features -> (hidden ->) classes.
        let hidden = self.cfg.hidden as i64;
        let widths: Vec<i64> = if hidden > 0 { vec![d, hidden, k] } else { vec![d, k] };
        // torch.nn.Linear's initialisation per layer, the same for every decay of one seed.
        let mut per_seed: Vec<Vec<(Tensor, Tensor)>> = Vec::new();
        for &seed in self.seeds {
            let mut rng = crate::seed::rng(&[seed, crate::seed::tag::PROBE_TRAIN]);
            let mut layers = Vec::new();
            for pair in widths.windows(2) {
                let (fan_in, fan_out) = (pair[0], pair[1]);
                let bound = 1.0 / (fan_in as f64).sqrt();
                let mut uniform = |len: i64| -> Tensor {
                    let v: Vec<f32> = (0..len).map(|_| rng.random_range(-bound..bound) as f32).collect();
                    Tensor::from_slice(&v).to_device(device)
                };
                let w = uniform(fan_in * fan_out).view([1, fan_in, fan_out]);
                layers.push((w, uniform(fan_out).view([1, 1, fan_out])));
            }
            per_seed.push(layers);
        }
        // Parameters in layer order, each `[S, C, ...]` and trainable: w0, b0, w1, b1, ...
        let mut params: Vec<Tensor> = Vec::new();
        for (layer, pair) in widths.windows(2).enumerate() {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            let w = Tensor::stack(&per_seed.iter().map(|l| &l[layer].0).collect::<Vec<_>>(), 0).expand([s, c, fan_in, fan_out], false).contiguous();
            let b = Tensor::stack(&per_seed.iter().map(|l| &l[layer].1).collect::<Vec<_>>(), 0).expand([s, c, 1, fan_out], false).contiguous();
            params.push(w.set_requires_grad(true));
            params.push(b.set_requires_grad(true));
        }
        drop(per_seed);
        let decay_values: Vec<f32> = if self.paired {
            self.decays.iter().map(|&v| v as f32).collect()
        } else {
            self.seeds.iter().flat_map(|_| self.decays.iter().map(|&v| v as f32)).collect()
        };
        let decay = Tensor::from_slice(&decay_values).view([s, c, 1, 1]).to_device(device);
        let mut moments: Vec<(Tensor, Tensor)> = params.iter().map(|p| (p.zeros_like(), p.zeros_like())).collect();
        let (beta1, beta2, eps) = (0.9f64, 0.999f64, 1e-8);
        let batch = self.cfg.batch_size.min(n);
        let steps_per_epoch = (n + batch - 1) / batch;
        let total = steps_per_epoch * self.cfg.epochs as i64;
        let mut t = 0i64;
        for epoch in 1..=epochs {
            // Each seed's own order of its samples.
            let orders: Vec<Tensor> = self
                .seeds
                .iter()
                .zip(self.samples)
                .map(|(&seed, idx)| idx.index_select(0, &permutation(n, &[seed, crate::seed::tag::PROBE_TRAIN, epoch as u64]).to_device(device)))
                .collect();
            let order = Tensor::stack(&orders, 0);
            let mut start = 0;
            while start < n {
                let len = batch.min(n - start);
                let idx = order.narrow(1, start, len);
                let xb = self.x.index_select(0, &idx.flatten(0, -1)).view([s, len, d]);
                let yb = self.y.index_select(0, &idx.flatten(0, -1)).view([s, 1, len]).expand([s, c, len], false);
                let layers: Vec<(Tensor, Tensor)> = params.chunks(2).map(|p| (p[0].shallow_clone(), p[1].shallow_clone())).collect();
                let logits = forward(&layers, &((xb - &mean) / &std));
                // Each model's mean loss; their sum leaves every model its own gradient.
                let loss = logits.reshape([-1, k]).cross_entropy_for_logits(&yb.reshape([-1])) * (s * c) as f64;
                let grads = Tensor::run_backward(&[loss], &params.iter().collect::<Vec<_>>(), false, false);
                t += 1;
                let lr = self.cfg.lr * 0.5 * (1.0 + (std::f64::consts::PI * (t - 1) as f64 / total as f64).cos());
                tch::no_grad(|| {
                    for (i, ((p, g), (m, v))) in params.iter_mut().zip(&grads).zip(moments.iter_mut()).enumerate() {
                        // Weights sit at even positions, biases (never decayed) at odd ones.
                        let decayed = i % 2 == 0;
                        *m = &*m * beta1 + g * (1.0 - beta1);
                        *v = &*v * beta2 + g * g * (1.0 - beta2);
                        let m_hat = &*m / (1.0 - beta1.powi(t as i32));
                        let v_hat = &*v / (1.0 - beta2.powi(t as i32));
                        // Decoupled weight decay on the weights only, as torch.optim.AdamW with bias excluded.
                        if decayed {
                            let _ = p.f_mul_(&(1.0 - &decay * lr)).expect("decay broadcasts over the weights");
                        }
                        let _ = p.f_sub_(&(m_hat / (v_hat.sqrt() + eps) * lr)).expect("the update has the parameter's shape");
                    }
                });
                start += len;
            }
            let layers = params.chunks(2).map(|p| (p[0].detach(), p[1].detach())).collect();
            after_epoch(epoch, &Models { layers, mean: mean.shallow_clone(), std: std.shallow_clone() });
        }
    }
}

/// Mean and sample standard deviation (0 for fewer than two values).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}
