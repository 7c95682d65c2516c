//! Optimisers written over plain tensors so that their state can be checkpointed and
//! restored exactly: SGD (momentum), LARS and AdamW.
//!
//! Weight decay (and LARS's trust ratio) skip parameters of one dimension or less:
//! biases and normalisation weights, as in the official SimCLR / BYOL / Barlow code.
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tch::Tensor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    Lars,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
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

struct Param {
    name: String,
    tensor: Tensor,
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
        let mut params: Vec<Param> = named
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .map(|(name, tensor)| Param { regularised: tensor.dim() > 1, name, tensor, m: None, v: None })
            .collect();
        params.sort_by(|a, b| a.name.cmp(&b.name));
        Self { cfg, params, steps: 0 }
    }

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
            let grads: Vec<Tensor> = self.params.iter().map(|p| p.tensor.grad()).filter(|g| g.defined()).collect();
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
        self.steps += 1;
        let c = self.cfg.clone();
        let t = self.steps as f64;
        tch::no_grad(|| {
            for p in &mut self.params {
                let grad = p.tensor.grad();
                if !grad.defined() {
                    continue;
                }
                let wd = if p.regularised { c.weight_decay } else { 0.0 };
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
