//! UniGrad (arXiv 2112.05141): pull towards the momentum projection of the other views,
//! push away along a moving correlation matrix of momentum features.
use super::common::{if_global, momentum_in_unit, positive};
use crate::blocks::{Backbone, MlpConfig, MomentumSchedule, MomentumTarget, MomentumUpdate, Online};
use crate::data::Batch;
use crate::method::{Method, MethodLoss, StepContext};
use crate::objectives::{unigrad_per_sample, UniGradCorrelation};
use crate::registry::{BuildContext, MethodOptions};
use crate::views::{per_view_from_pairs, view_embeddings};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tch::Tensor;

/// The `[model.options]` of `unigrad`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct UniGradOptions {
    /// Weight of the push term.
    pub lambda: f64,
    /// EMA rate of the correlation matrix.
    pub rho: f64,
    /// Base momentum of the target (cosine schedule to 1).
    pub momentum: f64,
}

impl Default for UniGradOptions {
    fn default() -> Self {
        Self { lambda: 100.0, rho: 0.99, momentum: 0.99 }
    }
}

impl MethodOptions for UniGradOptions {
    fn validate(&self) -> Result<()> {
        positive("unigrad", "lambda", self.lambda)?;
        momentum_in_unit("unigrad", self.momentum)?;
        if !(0.0..1.0).contains(&self.rho) {
            bail!("unigrad: rho must be in [0, 1), got {}", self.rho);
        }
        Ok(())
    }
}

pub struct UniGrad {
    online: Online,
    target: MomentumTarget<Online>,
    correlation: UniGradCorrelation,
    lambda: f64,
}

pub fn build(ctx: &BuildContext, o: UniGradOptions) -> Result<Box<dyn Method>> {
    let projector = MlpConfig::projector3(ctx.model.projector_hidden, ctx.model.projector_dim);
    let online = ctx.online(projector)?;
    let target = ctx.momentum_online(projector, MomentumSchedule::Cosine(o.momentum))?;
    let correlation = UniGradCorrelation::new(ctx.model.projector_dim, o.rho, ctx.vs.device());
    Ok(Box::new(UniGrad { online, target, correlation, lambda: o.lambda }))
}

impl Method for UniGrad {
    fn name(&self) -> &'static str {
        "unigrad"
    }

    fn loss(&mut self, batch: &Batch, ctx: &StepContext) -> Result<MethodLoss> {
        let (views, g) = (batch.views_at_least("unigrad", 2)?, batch.global_views());
        if g < 2 {
            bail!("unigrad needs at least two global views, got {g}");
        }
        let z = self.online.project_views(views)?;
        let m = self.target.forward(|net| net.project_views(&views[..g]))?;
        // F moves once per optimiser step (from the first micro-batch, on the first two
        // global views), before the loss, as in the official code.
        if ctx.micro == 0 {
            self.correlation.update(&m[0], &m[1])?;
        }
        let (f, lambda) = (&self.correlation.f, self.lambda);
        let losses = per_view_from_pairs(views.len(), g, |a, b| {
            Ok([if_global(b, g, || unigrad_per_sample(&z[a], &m[b], f, lambda))?, Some(unigrad_per_sample(&z[b], &m[a], f, lambda)?)])
        })?;
        Ok(MethodLoss::per_view(losses, view_embeddings(&z)))
    }

    fn backbone(&self) -> &dyn Backbone {
        self.online.backbone.as_ref()
    }

    fn momentum_target(&self) -> Option<&dyn MomentumUpdate> {
        Some(&self.target)
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut s = self.target.state();
        s.push(("correlation".into(), self.correlation.f.shallow_clone()));
        s
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.target.load_state(state)?;
        if let Some(f) = state.get("correlation") {
            if f.size() != self.correlation.f.size() {
                bail!("unigrad: checkpoint correlation matrix is {:?}, model needs {:?}", f.size(), self.correlation.f.size());
            }
            self.correlation.f = f.to_device(self.correlation.f.device()).to_kind(self.correlation.f.kind());
            self.correlation.initialised = true;
        }
        Ok(())
    }
}
