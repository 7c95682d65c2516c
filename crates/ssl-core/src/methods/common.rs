//! Configuration and network pieces shared by the methods.
use crate::blocks::{build_backbone, cosine_momentum, Backbone, BackboneConfig, Mlp, MlpConfig, MomentumCopy};
use crate::method::StepContext;
use crate::objectives::{l2_normalize, NacConfig, VicRegWeights};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tch::{nn, Tensor};

/// Configuration of a method's networks and objective. Fields left unset take the
/// method's own default (e.g. temperature 0.2 for SimCLR, momentum 0.99 for BYOL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MethodConfig {
    pub backbone: BackboneConfig,
    pub projector_hidden: i64,
    pub projector_dim: i64,
    pub predictor_hidden: i64,
    pub temperature: Option<f64>,
    /// Base momentum of EMA targets (cosine schedule to 1 for BYOL, MoCo v3, UniGrad).
    pub momentum: Option<f64>,
    /// MoCo v2 queue length.
    pub queue_size: i64,
    /// Barlow Twins off-diagonal weight or UniGrad's lambda.
    pub lambda: Option<f64>,
    pub vicreg: VicRegWeights,
    pub nac: NacConfig,
    /// UniGrad's EMA rate of the correlation matrix.
    pub unigrad_rho: f64,
}

impl Default for MethodConfig {
    fn default() -> Self {
        Self {
            backbone: BackboneConfig::default(),
            projector_hidden: 512,
            projector_dim: 128,
            predictor_hidden: 512,
            temperature: None,
            momentum: None,
            queue_size: 4096,
            lambda: None,
            vicreg: VicRegWeights::default(),
            nac: NacConfig::default(),
            unigrad_rho: 0.99,
        }
    }
}

impl MethodConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.projector_hidden < 1 || self.projector_dim < 1 || self.predictor_hidden < 1 {
            bail!("method: projector and predictor sizes must be positive");
        }
        if let Some(t) = self.temperature {
            if t.is_nan() || t <= 0.0 {
                bail!("method: temperature must be positive, got {t}");
            }
        }
        if let Some(m) = self.momentum {
            if !(0.0..=1.0).contains(&m) {
                bail!("method: momentum must be in [0, 1], got {m}");
            }
        }
        Ok(())
    }

    pub(crate) fn projector(&self, layers: usize, last_bn: bool) -> MlpConfig {
        MlpConfig { hidden: self.projector_hidden, out: self.projector_dim, layers, last_bn }
    }

    pub(crate) fn predictor(&self) -> MlpConfig {
        MlpConfig { hidden: self.predictor_hidden, out: self.projector_dim, layers: 2, last_bn: false }
    }
}

/// A backbone followed by a projector: the online branch of every method.
#[derive(Debug)]
pub struct Online {
    pub backbone: Box<dyn Backbone>,
    pub projector: Mlp,
}

impl Online {
    /// Builds `backbone.*` and `projector.*` under `root`.
    pub fn new(root: &nn::Path, backbone: &BackboneConfig, projector: MlpConfig) -> Result<Self> {
        let backbone = build_backbone(&(root / "backbone"), backbone)?;
        let projector = Mlp::new(&(root / "projector"), backbone.out_dim(), projector);
        Ok(Self { backbone, projector })
    }

    /// Projection `[N, D]` of a batch (training mode).
    pub fn project(&self, x: &Tensor) -> Tensor {
        self.projector.forward_t(&self.backbone.forward_t(x, true), true)
    }
}

/// Requires exactly two views (the methods here are two-view methods).
pub(crate) fn two_views<'a>(name: &str, views: &'a [Tensor]) -> Result<(&'a Tensor, &'a Tensor)> {
    match views {
        [a, b] => Ok((a, b)),
        _ => bail!("{name} takes 2 views per sample, got {}", views.len()),
    }
}

/// Stacks unit-norm projections of the two views to `[N, 2, D]` (for view weighting).
pub(crate) fn view_embeddings(z1: &Tensor, z2: &Tensor) -> Tensor {
    Tensor::stack(&[l2_normalize(&z1.detach()), l2_normalize(&z2.detach())], 1)
}

/// Stacks two per-sample loss vectors to `[N, 2]`.
pub(crate) fn per_view(a: Tensor, b: Tensor) -> Tensor {
    Tensor::stack(&[a, b], 1)
}

/// An EMA copy of the online branch (backbone + projector): MoCo's key encoder, BYOL's
/// and UniGrad's target. Momentum is constant or follows the cosine schedule to 1.
pub struct MomentumTarget {
    copy: MomentumCopy,
    target: Online,
    base_momentum: f64,
    cosine: bool,
}

impl MomentumTarget {
    pub(crate) fn new(vs: &nn::VarStore, cfg: &MethodConfig, projector: MlpConfig, base_momentum: f64, cosine: bool) -> Result<Self> {
        let (copy, target) = MomentumCopy::new(vs, |root| Online::new(root, &cfg.backbone, projector))?;
        Ok(Self { copy, target: target?, base_momentum, cosine })
    }

    /// Target projection of a batch, without gradient.
    pub(crate) fn project(&self, x: &Tensor) -> Tensor {
        tch::no_grad(|| self.target.project(x))
    }

    pub(crate) fn update(&mut self, ctx: &StepContext) {
        let m = if self.cosine { cosine_momentum(self.base_momentum, ctx.progress()) } else { self.base_momentum };
        self.copy.update(m);
    }

    pub(crate) fn state(&self) -> Vec<(String, Tensor)> {
        self.copy.state()
    }

    pub(crate) fn load_state(&self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.copy.load_state(state)
    }
}
