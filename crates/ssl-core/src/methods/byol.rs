//! BYOL (arXiv 2006.07733): the online branch predicts the EMA target's projection of the
//! other views (targets from the global views only); momentum follows the cosine schedule
//! from `momentum` (0.99) to 1.
use super::common::{if_global, momentum_in_unit};
use crate::blocks::{Backbone, Mlp, MlpConfig, MomentumSchedule, MomentumTarget, MomentumUpdate, Online};
use crate::data::Batch;
use crate::method::{Method, MethodLoss, StepContext};
use crate::objectives::byol_per_sample;
use crate::registry::{BuildContext, MethodOptions};
use crate::views::{per_view_from_pairs, view_embeddings};
use anyhow::Result;
use serde::{Deserialize, Serialize};

/// The `[model.options]` of `byol`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ByolOptions {
    /// Base momentum of the target (cosine schedule to 1).
    pub momentum: f64,
}

impl Default for ByolOptions {
    fn default() -> Self {
        Self { momentum: 0.99 }
    }
}

impl MethodOptions for ByolOptions {
    fn validate(&self) -> Result<()> {
        momentum_in_unit("byol", self.momentum)
    }
}

pub struct Byol {
    online: Online,
    predictor: Mlp,
    target: MomentumTarget<Online>,
}

pub fn build(ctx: &BuildContext, o: ByolOptions) -> Result<Box<dyn Method>> {
    let m = ctx.model;
    let projector = MlpConfig::projector2(m.projector_hidden, m.projector_dim);
    let online = ctx.online(projector)?;
    let predictor = ctx.mlp("predictor", m.projector_dim, MlpConfig::predictor(m.predictor_hidden, m.projector_dim));
    let target = ctx.momentum_online(projector, MomentumSchedule::Cosine(o.momentum))?;
    Ok(Box::new(Byol { online, predictor, target }))
}

impl Method for Byol {
    fn name(&self) -> &'static str {
        "byol"
    }

    fn loss(&mut self, batch: &Batch, _ctx: &StepContext) -> Result<MethodLoss> {
        let (views, g) = (batch.views_at_least("byol", 2)?, batch.global_views());
        let z = self.online.project_views(views)?;
        let p: Vec<_> = z.iter().map(|z| self.predictor.forward_t(z, true)).collect();
        let t = self.target.forward(|net| net.project_views(&views[..g]))?;
        let losses =
            per_view_from_pairs(views.len(), g, |a, b| Ok([if_global(b, g, || byol_per_sample(&p[a], &t[b]))?, Some(byol_per_sample(&p[b], &t[a])?)]))?;
        // The official loss adds the two directions; the reduction averages over views.
        Ok(MethodLoss::per_view(losses * 2.0, view_embeddings(&z)))
    }

    fn backbone(&self) -> &dyn Backbone {
        self.online.backbone.as_ref()
    }

    fn momentum_target(&self) -> Option<&dyn MomentumUpdate> {
        Some(&self.target)
    }
}
