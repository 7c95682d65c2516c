//! SwAV (arXiv 2006.09882): unit-norm projections scored against learnable unit-norm
//! prototypes; the codes of each global view (Sinkhorn-Knopp, optionally with a queue of
//! earlier embeddings) are predicted from every other view. As in the official code the
//! prototypes are normalised before each step and frozen for the first steps.
use super::common::positive;
use crate::blocks::{Backbone, MemoryBank, MlpConfig, Online};
use crate::data::Batch;
use crate::method::{Method, MethodLoss, StepContext};
use crate::objectives::{l2_normalize, swav_per_view, SWAV_EPSILON, SWAV_ITERATIONS, SWAV_TEMPERATURE};
use crate::registry::{BuildContext, MethodOptions};
use crate::train::ParamGroup;
use crate::views::view_embeddings;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tch::{nn, nn::Module, Tensor};

/// The `[model.options]` of `swav`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct SwavOptions {
    /// Number of prototypes (3000 in the official ImageNet set-up).
    pub prototypes: i64,
    /// Temperature of the softmax over prototype scores that predicts the codes.
    pub temperature: f64,
    /// Sinkhorn-Knopp's entropy regularisation.
    pub epsilon: f64,
    /// Sinkhorn-Knopp iterations per assignment of codes, 1 to 100.
    pub sinkhorn_iterations: usize,
    /// Optimiser steps with the prototypes frozen (the official first epoch: 313).
    pub freeze_prototypes_steps: usize,
    /// Embeddings queued per global view for the codes (0: no queue; officially 3840 for
    /// small batches).
    pub queue_size: i64,
    /// Step from which the queue joins the codes; embeddings are queued from the start, so
    /// choose at least `queue_size / batch_size` steps.
    pub queue_start_step: usize,
}

impl Default for SwavOptions {
    fn default() -> Self {
        Self {
            prototypes: 3000,
            temperature: SWAV_TEMPERATURE,
            epsilon: SWAV_EPSILON,
            sinkhorn_iterations: SWAV_ITERATIONS,
            freeze_prototypes_steps: 313,
            queue_size: 0,
            queue_start_step: 0,
        }
    }
}

impl MethodOptions for SwavOptions {
    fn validate(&self) -> Result<()> {
        positive("swav", "temperature", self.temperature)?;
        positive("swav", "epsilon", self.epsilon)?;
        if !(2..=1_000_000).contains(&self.prototypes) {
            bail!("swav: prototypes must be between 2 and 1e6, got {}", self.prototypes);
        }
        if !(1..=100).contains(&self.sinkhorn_iterations) {
            bail!("swav: sinkhorn_iterations must be between 1 and 100, got {}", self.sinkhorn_iterations);
        }
        if !(0..=10_000_000).contains(&self.queue_size) {
            bail!("swav: queue_size must be between 0 and 1e7, got {}", self.queue_size);
        }
        Ok(())
    }
}

/// Global views whose codes are assigned (the official `crops_for_assign`).
const ASSIGNED: usize = 2;

pub struct Swav {
    online: Online,
    prototypes: nn::Linear,
    banks: Vec<MemoryBank>,
    o: SwavOptions,
}

pub fn build(ctx: &BuildContext, o: SwavOptions) -> Result<Box<dyn Method>> {
    let d = ctx.model.projector_dim;
    let online = ctx.online(MlpConfig::projector2(ctx.model.projector_hidden, d))?;
    let prototypes = nn::linear(ctx.root() / "prototypes", d, o.prototypes, nn::LinearConfig { bias: false, ..Default::default() });
    let banks = if o.queue_size > 0 {
        (0..ASSIGNED).map(|i| MemoryBank::new(&format!("queue{i}"), o.queue_size, d, ctx.vs.device())).collect::<Result<_>>()?
    } else {
        Vec::new()
    };
    Ok(Box::new(Swav { online, prototypes, banks, o }))
}

impl Method for Swav {
    fn name(&self) -> &'static str {
        "swav"
    }

    fn loss(&mut self, batch: &Batch, ctx: &StepContext) -> Result<MethodLoss> {
        let (views, g) = (batch.views_at_least("swav", 2)?, batch.global_views());
        if g < ASSIGNED {
            bail!("swav assigns codes to {ASSIGNED} global views, got {g}");
        }
        if ctx.micro == 0 {
            tch::no_grad(|| self.prototypes.ws.shallow_clone().copy_(&l2_normalize(&self.prototypes.ws)));
        }
        let z: Vec<Tensor> = self.online.project_views(views)?.iter().map(l2_normalize).collect();
        let scores: Vec<Tensor> = z.iter().map(|z| self.prototypes.forward(z)).collect();
        let queued: Vec<Tensor> = if !self.banks.is_empty() && ctx.step >= self.o.queue_start_step {
            tch::no_grad(|| self.banks.iter().map(|b| self.prototypes.forward(b.keys())).collect())
        } else {
            Vec::new()
        };
        let losses = swav_per_view(&scores, ASSIGNED, self.o.temperature, self.o.epsilon, self.o.sinkhorn_iterations, &queued)?;
        for (bank, z) in self.banks.iter().zip(&z) {
            bank.push(z);
        }
        Ok(MethodLoss::per_view(losses, view_embeddings(&z)))
    }

    fn backbone(&self) -> &dyn Backbone {
        self.online.backbone.as_ref()
    }

    fn param_groups(&self) -> Vec<ParamGroup> {
        vec![ParamGroup { prefix: "prototypes.".into(), freeze_steps: self.o.freeze_prototypes_steps, ..Default::default() }]
    }

    fn after_step(&mut self, _ctx: &StepContext) -> Result<()> {
        for bank in &self.banks {
            bank.flush();
        }
        Ok(())
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.banks.iter().flat_map(|b| b.state()).collect()
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        for bank in &self.banks {
            bank.load_state(state)?;
        }
        Ok(())
    }
}
