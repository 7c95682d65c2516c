//! VICReg (arXiv 2105.04906): invariance plus variance and covariance regularisers.
use super::common::{two_views, MethodConfig, Online};
use crate::blocks::Backbone;
use crate::method::{Method, MethodLoss, StepContext};
use crate::objectives::{vicreg, VicRegWeights};
use anyhow::Result;
use tch::{nn, Tensor};

pub struct VicReg {
    online: Online,
    weights: VicRegWeights,
}

pub fn build(vs: &nn::VarStore, cfg: &MethodConfig) -> Result<Box<dyn Method>> {
    cfg.validate()?;
    let online = Online::new(&vs.root(), &cfg.backbone, cfg.projector(3, false))?;
    Ok(Box::new(VicReg { online, weights: cfg.vicreg }))
}

impl Method for VicReg {
    fn name(&self) -> &'static str {
        "vicreg"
    }

    fn loss(&mut self, views: &[Tensor], _ctx: &StepContext) -> Result<MethodLoss> {
        let (x1, x2) = two_views("vicreg", views)?;
        Ok(MethodLoss::Batch(vicreg(&self.online.project(x1), &self.online.project(x2), self.weights)?))
    }

    fn backbone(&self) -> &dyn Backbone {
        self.online.backbone.as_ref()
    }
}
