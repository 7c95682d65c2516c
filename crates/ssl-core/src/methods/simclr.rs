//! SimCLR (arXiv 2002.05709): two views, backbone + projector, NT-Xent.
use super::common::{two_views, view_embeddings, MethodConfig, Online};
use crate::blocks::Backbone;
use crate::method::{Method, MethodLoss, StepContext};
use crate::objectives::nt_xent_per_view;
use anyhow::Result;
use tch::{nn, Tensor};

pub struct SimClr {
    online: Online,
    temperature: f64,
}

pub fn build(vs: &nn::VarStore, cfg: &MethodConfig) -> Result<Box<dyn Method>> {
    cfg.validate()?;
    let online = Online::new(&vs.root(), &cfg.backbone, cfg.projector(2, false))?;
    Ok(Box::new(SimClr { online, temperature: cfg.temperature.unwrap_or(0.2) }))
}

impl Method for SimClr {
    fn name(&self) -> &'static str {
        "simclr"
    }

    fn loss(&mut self, views: &[Tensor], _ctx: &StepContext) -> Result<MethodLoss> {
        let (x1, x2) = two_views("simclr", views)?;
        let (z1, z2) = (self.online.project(x1), self.online.project(x2));
        let losses = nt_xent_per_view(&z1, &z2, self.temperature)?;
        Ok(MethodLoss::PerView { losses, embeddings: view_embeddings(&z1, &z2) })
    }

    fn backbone(&self) -> &dyn Backbone {
        self.online.backbone.as_ref()
    }
}
