//! SimSiam (arXiv 2011.10566): a predictor and stop-gradient, no momentum encoder.
use super::common::if_global;
use crate::blocks::{Backbone, Mlp, MlpConfig, Online};
use crate::data::Batch;
use crate::method::{Method, MethodLoss, StepContext};
use crate::objectives::negative_cosine_per_sample;
use crate::registry::{BuildContext, NoOptions};
use crate::views::{per_view_from_pairs, view_embeddings};
use anyhow::Result;

pub struct SimSiam {
    online: Online,
    predictor: Mlp,
}

pub fn build(ctx: &BuildContext, _: NoOptions) -> Result<Box<dyn Method>> {
    let d = ctx.model.projector_dim;
    // Projector with BN on its output; predictor with a bottleneck (a quarter of the width).
    let online = ctx.online(MlpConfig::simsiam_projector(ctx.model.projector_hidden, d))?;
    let predictor = ctx.mlp("predictor", d, MlpConfig::bottleneck_predictor(d));
    Ok(Box::new(SimSiam { online, predictor }))
}

impl Method for SimSiam {
    fn name(&self) -> &'static str {
        "simsiam"
    }

    /// With two views the mean of the `[N, 2]` per-view losses is exactly
    /// `0.5 D(p1, z2) + 0.5 D(p2, z1)`.
    fn loss(&mut self, batch: &Batch, _ctx: &StepContext) -> Result<MethodLoss> {
        let (views, g) = (batch.views_at_least("simsiam", 2)?, batch.global_views());
        let z = self.online.project_views(views)?;
        let p: Vec<_> = z.iter().map(|z| self.predictor.forward_t(z, true)).collect();
        let losses = per_view_from_pairs(views.len(), g, |a, b| {
            Ok([if_global(b, g, || negative_cosine_per_sample(&p[a], &z[b]))?, Some(negative_cosine_per_sample(&p[b], &z[a])?)])
        })?;
        Ok(MethodLoss::per_view(losses, view_embeddings(&z)))
    }

    fn backbone(&self) -> &dyn Backbone {
        self.online.backbone.as_ref()
    }
}
