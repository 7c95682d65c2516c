//! SimSiam (arXiv 2011.10566): a predictor and stop-gradient, no momentum encoder.
use super::common::{per_view, two_views, view_embeddings, MethodConfig, Online};
use crate::blocks::{Backbone, Mlp, MlpConfig};
use crate::method::{Method, MethodLoss, StepContext};
use crate::objectives::negative_cosine_per_sample;
use anyhow::Result;
use tch::{nn, Tensor};

pub struct SimSiam {
    online: Online,
    predictor: Mlp,
}

pub fn build(vs: &nn::VarStore, cfg: &MethodConfig) -> Result<Box<dyn Method>> {
    cfg.validate()?;
    // Projector with BN on its output; predictor with a bottleneck (a quarter of the width).
    let online = Online::new(&vs.root(), &cfg.backbone, cfg.projector(3, true))?;
    let bottleneck = MlpConfig { hidden: (cfg.projector_dim / 4).max(1), out: cfg.projector_dim, layers: 2, last_bn: false };
    let predictor = Mlp::new(&(vs.root() / "predictor"), cfg.projector_dim, bottleneck);
    Ok(Box::new(SimSiam { online, predictor }))
}

impl Method for SimSiam {
    fn name(&self) -> &'static str {
        "simsiam"
    }

    /// The mean of the `[N, 2]` per-view losses is exactly `0.5 D(p1, z2) + 0.5 D(p2, z1)`.
    fn loss(&mut self, views: &[Tensor], _ctx: &StepContext) -> Result<MethodLoss> {
        let (x1, x2) = two_views("simsiam", views)?;
        let (z1, z2) = (self.online.project(x1), self.online.project(x2));
        let (p1, p2) = (self.predictor.forward_t(&z1, true), self.predictor.forward_t(&z2, true));
        let losses = per_view(negative_cosine_per_sample(&p1, &z2)?, negative_cosine_per_sample(&p2, &z1)?);
        Ok(MethodLoss::PerView { losses, embeddings: view_embeddings(&z1, &z2) })
    }

    fn backbone(&self) -> &dyn Backbone {
        self.online.backbone.as_ref()
    }
}
