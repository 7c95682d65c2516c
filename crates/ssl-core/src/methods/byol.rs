//! BYOL (arXiv 2006.07733): the online branch predicts the EMA target's projection of the
//! other view; momentum follows the cosine schedule from `momentum` (0.99) to 1.
use super::common::{per_view, two_views, view_embeddings, MethodConfig, MomentumTarget, Online};
use crate::blocks::{Backbone, Mlp};
use crate::method::{Method, MethodLoss, StepContext};
use crate::objectives::byol_per_sample;
use anyhow::Result;
use std::collections::HashMap;
use tch::{nn, Tensor};

pub struct Byol {
    online: Online,
    predictor: Mlp,
    target: MomentumTarget,
}

pub fn build(vs: &nn::VarStore, cfg: &MethodConfig) -> Result<Box<dyn Method>> {
    cfg.validate()?;
    let projector = cfg.projector(2, false);
    let online = Online::new(&vs.root(), &cfg.backbone, projector)?;
    let predictor = Mlp::new(&(vs.root() / "predictor"), cfg.projector_dim, cfg.predictor());
    let target = MomentumTarget::new(vs, cfg, projector, cfg.momentum.unwrap_or(0.99), true)?;
    Ok(Box::new(Byol { online, predictor, target }))
}

impl Method for Byol {
    fn name(&self) -> &'static str {
        "byol"
    }

    fn loss(&mut self, views: &[Tensor], _ctx: &StepContext) -> Result<MethodLoss> {
        let (x1, x2) = two_views("byol", views)?;
        let (z1, z2) = (self.online.project(x1), self.online.project(x2));
        let (p1, p2) = (self.predictor.forward_t(&z1, true), self.predictor.forward_t(&z2, true));
        let (t1, t2) = (self.target.project(x1), self.target.project(x2));
        // The official loss adds the two directions; the trainer averages over views.
        let losses = per_view(byol_per_sample(&p1, &t2)?, byol_per_sample(&p2, &t1)?) * 2.0;
        Ok(MethodLoss::PerView { losses, embeddings: view_embeddings(&z1, &z2) })
    }

    fn after_step(&mut self, ctx: &StepContext) -> Result<()> {
        self.target.update(ctx);
        Ok(())
    }

    fn backbone(&self) -> &dyn Backbone {
        self.online.backbone.as_ref()
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.target.state()
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.target.load_state(state)
    }
}
