//! UniGrad (arXiv 2112.05141): pull towards the momentum projection of the other view,
//! push away along a moving correlation matrix of momentum features.
use super::common::{per_view, two_views, view_embeddings, MethodConfig, MomentumTarget, Online};
use crate::blocks::Backbone;
use crate::method::{Method, MethodLoss, StepContext};
use crate::objectives::{unigrad_per_sample, UniGradCorrelation};
use anyhow::Result;
use std::collections::HashMap;
use tch::{nn, Tensor};

pub struct UniGrad {
    online: Online,
    target: MomentumTarget,
    correlation: UniGradCorrelation,
    lambda: f64,
}

pub fn build(vs: &nn::VarStore, cfg: &MethodConfig) -> Result<Box<dyn Method>> {
    cfg.validate()?;
    let projector = cfg.projector(3, false);
    let online = Online::new(&vs.root(), &cfg.backbone, projector)?;
    let target = MomentumTarget::new(vs, cfg, projector, cfg.momentum.unwrap_or(0.99), true)?;
    let correlation = UniGradCorrelation::new(cfg.projector_dim, cfg.unigrad_rho, vs.device());
    Ok(Box::new(UniGrad { online, target, correlation, lambda: cfg.lambda.unwrap_or(100.0) }))
}

impl Method for UniGrad {
    fn name(&self) -> &'static str {
        "unigrad"
    }

    fn loss(&mut self, views: &[Tensor], ctx: &StepContext) -> Result<MethodLoss> {
        let (x1, x2) = two_views("unigrad", views)?;
        let (z1, z2) = (self.online.project(x1), self.online.project(x2));
        let (m1, m2) = (self.target.project(x1), self.target.project(x2));
        // F moves once per optimiser step (from the first micro-batch), before the loss,
        // as in the official code; accumulated micro-batches share it.
        if ctx.micro == 0 {
            self.correlation.update(&m1, &m2)?;
        }
        let f = &self.correlation.f;
        let losses = per_view(unigrad_per_sample(&z1, &m2, f, self.lambda)?, unigrad_per_sample(&z2, &m1, f, self.lambda)?);
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
        let mut s = self.target.state();
        s.push(("correlation".into(), self.correlation.f.shallow_clone()));
        s
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.target.load_state(state)?;
        if let Some(f) = state.get("correlation") {
            if f.size() != self.correlation.f.size() {
                anyhow::bail!("unigrad: checkpoint correlation matrix is {:?}, model needs {:?}", f.size(), self.correlation.f.size());
            }
            self.correlation.f = f.to_device(self.correlation.f.device()).to_kind(self.correlation.f.kind());
            self.correlation.initialised = true;
        }
        Ok(())
    }
}
