//! Barlow Twins (arXiv 2103.03230): make the cross-correlation of the two views'
//! projections the identity.
use super::common::{two_views, MethodConfig, Online};
use crate::blocks::Backbone;
use crate::method::{Method, MethodLoss, StepContext};
use crate::objectives::{barlow_twins, BARLOW_TWINS_LAMBDA};
use anyhow::Result;
use tch::{nn, Tensor};

pub struct BarlowTwins {
    online: Online,
    lambda: f64,
}

pub fn build(vs: &nn::VarStore, cfg: &MethodConfig) -> Result<Box<dyn Method>> {
    cfg.validate()?;
    let online = Online::new(&vs.root(), &cfg.backbone, cfg.projector(3, false))?;
    Ok(Box::new(BarlowTwins { online, lambda: cfg.lambda.unwrap_or(BARLOW_TWINS_LAMBDA) }))
}

impl Method for BarlowTwins {
    fn name(&self) -> &'static str {
        "barlow-twins"
    }

    fn loss(&mut self, views: &[Tensor], _ctx: &StepContext) -> Result<MethodLoss> {
        let (x1, x2) = two_views("barlow-twins", views)?;
        Ok(MethodLoss::Batch(barlow_twins(&self.online.project(x1), &self.online.project(x2), self.lambda)?))
    }

    fn backbone(&self) -> &dyn Backbone {
        self.online.backbone.as_ref()
    }
}
