//! VICReg (arXiv 2105.04906): invariance plus variance and covariance regularisers
//! (averaged over the pairs of views with a global one).
use crate::blocks::{Backbone, MlpConfig, Online};
use crate::data::Batch;
use crate::method::{Method, MethodLoss, StepContext};
use crate::objectives::{vicreg, VicRegWeights};
use crate::registry::{BuildContext, MethodOptions};
use crate::views::mean_over_pairs;
use anyhow::{bail, Result};

impl MethodOptions for VicRegWeights {
    fn validate(&self) -> Result<()> {
        let w = serde_json::to_value(self)?;
        if let Some((k, v)) = w.as_object().into_iter().flatten().find(|(_, v)| !v.as_f64().is_some_and(|x| x >= 0.0 && x.is_finite())) {
            bail!("vicreg: {k} must be a finite number >= 0, got {v}");
        }
        Ok(())
    }
}

pub struct VicReg {
    online: Online,
    weights: VicRegWeights,
}

pub fn build(ctx: &BuildContext, weights: VicRegWeights) -> Result<Box<dyn Method>> {
    let online = ctx.online(MlpConfig::projector3(ctx.model.projector_hidden, ctx.model.projector_dim))?;
    Ok(Box::new(VicReg { online, weights }))
}

impl Method for VicReg {
    fn name(&self) -> &'static str {
        "vicreg"
    }

    fn loss(&mut self, batch: &Batch, _ctx: &StepContext) -> Result<MethodLoss> {
        let views = batch.views_at_least("vicreg", 2)?;
        let z = self.online.project_views(views)?;
        Ok(MethodLoss::batch(mean_over_pairs(views.len(), batch.global_views(), |a, b| vicreg(&z[a], &z[b], self.weights))?))
    }

    fn backbone(&self) -> &dyn Backbone {
        self.online.backbone.as_ref()
    }
}
