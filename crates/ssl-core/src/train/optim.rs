//! Optimisers written over plain tensors so that their state can be checkpointed and
//! restored exactly: SGD (momentum), LARS and AdamW.
//!
//! Weight decay (and LARS's trust ratio) skip parameters of one dimension or less:
//! biases and normalisation weights, as in the official SimCLR / BYOL / Barlow code.
//! Parameter groups (by name prefix) scale the learning rate, set their own weight decay,
//! or stay frozen for the first steps (e.g. a pre-trained encoder under a new head).
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tch::Tensor;

/// The update rule (`sgd`, `lars` or `adamw` in configs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum OptimizerKind {
    /// SGD with momentum and L2 weight decay.
    Sgd,
    /// LARS: SGD with momentum, each multi-dimensional tensor's decayed gradient `g` scaled by `lars_eta |w| / |g|`.
    Lars,
    /// Adam with decoupled weight decay.
    Adamw,
}

impl std::str::FromStr for OptimizerKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "sgd" => Self::Sgd,
            "lars" => Self::Lars,
            "adamw" => Self::Adamw,
            other => bail!("unknown optimizer '{other}' (choose sgd, lars or adamw)"),
        })
    }
}

/// Optimiser settings (the `[train.optimizer]` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct OptimizerConfig {
    /// The update rule (default LARS).
    pub kind: OptimizerKind,
    /// SGD / LARS momentum, in `[0, 1)`.
    pub momentum: f64,
    /// Decoupled (AdamW) or L2 (SGD, LARS) weight decay, finite and `>= 0`.
    pub weight_decay: f64,
    /// AdamW first-moment decay, in `[0, 1)`.
    pub beta1: f64,
    /// AdamW second-moment decay, in `[0, 1)`.
    pub beta2: f64,
    /// AdamW denominator guard, finite and `> 0`.
    pub eps: f64,
    /// LARS trust coefficient, finite and `> 0`.
    pub lars_eta: f64,
}

impl OptimizerConfig {
    /// The update rule `kind` with its default settings.
    pub fn new(kind: OptimizerKind) -> Self {
        Self { kind, ..Self::default() }
    }

    /// The same with weight decay `weight_decay`.
    pub fn with_weight_decay(self, weight_decay: f64) -> Self {
        Self { weight_decay, ..self }
    }

    /// The same with AdamW's moment decays `beta1`, `beta2`.
    pub fn with_betas(self, beta1: f64, beta2: f64) -> Self {
        Self { beta1, beta2, ..self }
    }

    /// The same with SGD / LARS momentum `momentum`.
    pub fn with_momentum(self, momentum: f64) -> Self {
        Self { momentum, ..self }
    }

    /// Checks every setting against its documented range, naming the key.
    pub fn validate(&self) -> Result<()> {
        let unit = |name: &str, v: f64| -> Result<()> {
            if !(0.0..1.0).contains(&v) {
                bail!("train.optimizer.{name} must be in [0, 1), got {v}");
            }
            Ok(())
        };
        unit("momentum", self.momentum)?;
        unit("beta1", self.beta1)?;
        unit("beta2", self.beta2)?;
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            bail!("train.optimizer.weight_decay must be a finite number >= 0, got {}", self.weight_decay);
        }
        for (name, v) in [("eps", self.eps), ("lars_eta", self.lars_eta)] {
            if !(v > 0.0 && v.is_finite()) {
                bail!("train.optimizer.{name} must be a positive finite number, got {v}");
            }
        }
        Ok(())
    }
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self { kind: OptimizerKind::Lars, momentum: 0.9, weight_decay: 1e-6, beta1: 0.9, beta2: 0.999, eps: 1e-8, lars_eta: 0.02 }
    }
}

/// Settings for the variables whose names start with `prefix` (the first matching group
/// wins; variables in no group use the optimiser's settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ParamGroup {
    /// Variable-name prefix, e.g. `backbone.`.
    pub prefix: String,
    /// Learning rate as a multiple of the schedule's, finite and `>= 0`.
    pub lr_scale: f64,
    /// Weight decay of this group (the optimiser's when absent).
    pub weight_decay: Option<f64>,
    /// Optimiser steps during which the group is not updated.
    pub freeze_steps: usize,
}

impl Default for ParamGroup {
    fn default() -> Self {
        Self { prefix: String::new(), lr_scale: 1.0, weight_decay: None, freeze_steps: 0 }
    }
}

impl ParamGroup {
    /// The variables whose names start with `prefix`, at the optimiser's settings.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into(), ..Self::default() }
    }

    /// The same at `lr_scale` times the schedule's learning rate.
    pub fn with_lr_scale(self, lr_scale: f64) -> Self {
        Self { lr_scale, ..self }
    }

    /// The same, not updated during the first `freeze_steps` optimiser steps.
    pub fn with_freeze_steps(self, freeze_steps: usize) -> Self {
        Self { freeze_steps, ..self }
    }

    /// The same with its own weight decay.
    pub fn with_weight_decay(self, weight_decay: f64) -> Self {
        Self { weight_decay: Some(weight_decay), ..self }
    }

    /// Checks `lr_scale` and `weight_decay` (finite, `>= 0`), naming the group's prefix.
    pub fn validate(&self) -> Result<()> {
        if !(self.lr_scale >= 0.0 && self.lr_scale.is_finite()) {
            bail!("train.param_groups '{}': lr_scale must be a finite number >= 0, got {}", self.prefix, self.lr_scale);
        }
        if let Some(wd) = self.weight_decay {
            if !(wd >= 0.0 && wd.is_finite()) {
                bail!("train.param_groups '{}': weight_decay must be a finite number >= 0, got {wd}", self.prefix);
            }
        }
        Ok(())
    }
}

struct Param {
    name: String,
    tensor: Tensor,
    lr_scale: f64,
    weight_decay: f64,
    freeze_steps: i64,
    /// Weight decay and LARS adaptation apply (not a bias or a norm weight).
    regularised: bool,
    /// Momentum buffer (SGD, LARS) or first moment (AdamW).
    m: Option<Tensor>,
    /// Second moment (AdamW).
    v: Option<Tensor>,
}

/// An optimiser over named trainable tensors.
pub struct Optimizer {
    cfg: OptimizerConfig,
    params: Vec<Param>,
    steps: i64,
}

impl Optimizer {
    /// `named` are the trainable variables by name (sorted here for a stable order).
    pub fn new(cfg: OptimizerConfig, named: HashMap<String, Tensor>) -> Self {
        Self::with_groups(cfg, named, &[]).expect("no groups to match")
    }

    /// An optimiser whose variables follow `groups` (each group must match a variable).
    pub fn with_groups(cfg: OptimizerConfig, named: HashMap<String, Tensor>, groups: &[ParamGroup]) -> Result<Self> {
        for g in groups {
            g.validate()?;
            if !named.keys().any(|k| k.starts_with(&g.prefix)) {
                let mut some: Vec<&String> = named.keys().collect();
                some.sort();
                some.truncate(4);
                bail!("train.param_groups: no variable starts with '{}' (variables are named like {some:?})", g.prefix);
            }
        }
        let mut params: Vec<Param> = named
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .map(|(name, tensor)| {
                let group = groups.iter().find(|g| name.starts_with(&g.prefix));
                Param {
                    regularised: tensor.dim() > 1,
                    lr_scale: group.map_or(1.0, |g| g.lr_scale),
                    weight_decay: group.and_then(|g| g.weight_decay).unwrap_or(cfg.weight_decay),
                    freeze_steps: group.map_or(0, |g| g.freeze_steps as i64),
                    name,
                    tensor,
                    m: None,
                    v: None,
                }
            })
            .collect();
        params.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self { cfg, params, steps: 0 })
    }

    /// Whether `p` is frozen at the step about to be taken.
    fn frozen(&self, p: &Param) -> bool {
        self.steps < p.freeze_steps
    }

    /// The optimiser's settings.
    pub fn config(&self) -> &OptimizerConfig {
        &self.cfg
    }

    /// Clears accumulated gradients.
    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.tensor.zero_grad();
        }
    }

    /// Global L2 norm of the gradients; scales them to `max_norm` when above it.
    pub fn clip_grad_norm(&mut self, max_norm: Option<f64>) -> f64 {
        tch::no_grad(|| {
            let grads: Vec<Tensor> = self.params.iter().filter(|p| !self.frozen(p)).map(|p| p.tensor.grad()).filter(|g| g.defined()).collect();
            if grads.is_empty() {
                return 0.0;
            }
            let total: f64 = grads.iter().map(|g| g.square().sum(tch::Kind::Double).double_value(&[])).sum::<f64>().sqrt();
            if let Some(max) = max_norm {
                if total.is_finite() && total > max {
                    let scale = max / (total + 1e-6);
                    for mut g in grads {
                        g *= scale;
                    }
                }
            }
            total
        })
    }

    /// One update with learning rate `lr`.
    pub fn step(&mut self, lr: f64) {
        let done = self.steps;
        self.steps += 1;
        let c = self.cfg.clone();
        tch::no_grad(|| {
            for p in &mut self.params {
                let grad = p.tensor.grad();
                if done < p.freeze_steps || !grad.defined() {
                    continue;
                }
                // AdamW's bias correction counts the steps this parameter was updated.
                let t = (done + 1 - p.freeze_steps) as f64;
                let lr = lr * p.lr_scale;
                let wd = if p.regularised { p.weight_decay } else { 0.0 };
                match c.kind {
                    OptimizerKind::Sgd | OptimizerKind::Lars => {
                        let mut g = if wd > 0.0 { &grad + &p.tensor * wd } else { grad.shallow_clone() };
                        if c.kind == OptimizerKind::Lars && p.regularised {
                            let w_norm = p.tensor.norm().double_value(&[]);
                            let g_norm = g.norm().double_value(&[]);
                            if w_norm > 0.0 && g_norm > 0.0 {
                                g *= c.lars_eta * w_norm / g_norm;
                            }
                        }
                        let buf = match p.m.take() {
                            Some(mut b) => {
                                b *= c.momentum;
                                b += &g;
                                b
                            }
                            None => g.detach().copy(),
                        };
                        p.tensor += &buf * -lr;
                        p.m = Some(buf);
                    }
                    OptimizerKind::Adamw => {
                        if wd > 0.0 {
                            p.tensor *= 1.0 - lr * wd;
                        }
                        let m = p.m.get_or_insert_with(|| grad.zeros_like());
                        *m *= c.beta1;
                        *m += &grad * (1.0 - c.beta1);
                        let v = p.v.get_or_insert_with(|| grad.zeros_like());
                        *v *= c.beta2;
                        *v += grad.square() * (1.0 - c.beta2);
                        let m_hat = &*m / (1.0 - c.beta1.powf(t));
                        let v_hat = &*v / (1.0 - c.beta2.powf(t));
                        p.tensor += m_hat / (v_hat.sqrt() + c.eps) * -lr;
                    }
                }
            }
        });
    }

    /// Optimiser state as named tensors (for checkpoints).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("steps".to_string(), Tensor::from(self.steps))];
        for p in &self.params {
            if let Some(m) = &p.m {
                out.push((format!("m/{}", p.name), m.shallow_clone()));
            }
            if let Some(v) = &p.v {
                out.push((format!("v/{}", p.name), v.shallow_clone()));
            }
        }
        out
    }

    /// Restores the state written by [`Optimizer::state`].
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        let steps = state.get("steps").context("optimizer state has no 'steps'")?;
        self.steps = steps.f_int64_value(&[]).context("optimizer state 'steps' is not an integer scalar")?;
        for p in &mut self.params {
            for (slot, key) in [(&mut p.m, format!("m/{}", p.name)), (&mut p.v, format!("v/{}", p.name))] {
                *slot = match state.get(&key) {
                    Some(t) if t.size() == p.tensor.size() => Some(t.to_device(p.tensor.device()).to_kind(p.tensor.kind())),
                    Some(t) => bail!("optimizer state '{key}' has shape {:?}, parameter has {:?}", t.size(), p.tensor.size()),
                    None => None,
                };
            }
        }
        Ok(())
    }
}
