//! Barlow Twins (arXiv 2103.03230): make the cross-correlation of two views' projections
//! the identity (averaged over the pairs of views with a global one).
use crate::blocks::{Backbone, MlpConfig, Online};
use crate::data::Batch;
use crate::method::{Method, MethodLoss, StepContext};
use crate::objectives::{barlow_twins, BARLOW_TWINS_LAMBDA};
use crate::registry::{BuildContext, MethodOptions};
use crate::views::mean_over_pairs;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// The `[model.options]` of `barlow-twins`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct BarlowTwinsOptions {
    /// Weight of the off-diagonal (redundancy) term.
    pub lambda: f64,
}

impl Default for BarlowTwinsOptions {
    fn default() -> Self {
        Self { lambda: BARLOW_TWINS_LAMBDA }
    }
}

impl MethodOptions for BarlowTwinsOptions {
    fn validate(&self) -> Result<()> {
        if !(self.lambda >= 0.0 && self.lambda.is_finite()) {
            bail!("barlow-twins: lambda must be a finite number >= 0, got {}", self.lambda);
        }
        Ok(())
    }
}

pub struct BarlowTwins {
    online: Online,
    lambda: f64,
}

pub fn build(ctx: &BuildContext, o: BarlowTwinsOptions) -> Result<Box<dyn Method>> {
    let online = ctx.online(MlpConfig::projector3(ctx.model.projector_hidden, ctx.model.projector_dim))?;
    Ok(Box::new(BarlowTwins { online, lambda: o.lambda }))
}

impl Method for BarlowTwins {
    fn name(&self) -> &'static str {
        "barlow-twins"
    }

    fn loss(&mut self, batch: &Batch, _ctx: &StepContext) -> Result<MethodLoss> {
        let views = batch.views_at_least("barlow-twins", 2)?;
        let z = self.online.project_views(views)?;
        Ok(MethodLoss::batch(mean_over_pairs(views.len(), batch.global_views(), |a, b| barlow_twins(&z[a], &z[b], self.lambda))?))
    }

    fn backbone(&self) -> &dyn Backbone {
        self.online.backbone.as_ref()
    }
}
