//! The method seam: a method turns a batch of views into a loss.
//!
//! A method owns its networks (backbone, heads, momentum copies) and any state (queues,
//! running matrices); the trainer owns everything else (optimiser, schedule, data,
//! checkpoints, logging). Adding a method is one file in `methods/` plus one line in the
//! registry there.
use crate::blocks::Backbone;
use anyhow::Result;
use std::collections::HashMap;
use tch::Tensor;

/// Where training stands, for schedules inside a method (EMA momentum, ...).
#[derive(Debug, Clone, Copy)]
pub struct StepContext {
    /// Optimiser steps completed before this one.
    pub step: usize,
    pub total_steps: usize,
    /// Micro-batch within the step (gradient accumulation), 0 without accumulation.
    pub micro: usize,
    /// Seed of this step's random draws (fixed by the run seed and the step), so that a
    /// method's randomness does not depend on other threads or on where a run resumed.
    pub seed: u64,
}

impl StepContext {
    /// Fraction of training done, in `[0, 1]`.
    /// A random generator for this micro-batch's draws.
    pub fn rng(&self) -> rand_chacha::ChaCha8Rng {
        let seed = self.seed ^ (self.micro as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
        rand::SeedableRng::seed_from_u64(seed)
    }

    pub fn progress(&self) -> f64 {
        if self.total_steps == 0 {
            1.0
        } else {
            (self.step as f64 / self.total_steps as f64).min(1.0)
        }
    }
}

/// What a method's forward pass returns.
pub enum MethodLoss {
    /// A loss that does not decompose over views (Barlow Twins, VICReg).
    Batch(Tensor),
    /// One loss per sample and view, `[N, V]`, with the unit-norm projections `[N, V, D]`
    /// that view weighting (UOTA) needs. The trainer averages (or reweights) them.
    PerView { losses: Tensor, embeddings: Tensor },
}

/// A self-supervised method.
pub trait Method: Send {
    /// Registry name (e.g. `simclr`).
    fn name(&self) -> &'static str;

    /// The loss of one batch of views; each view is a tensor `[N, ...]` on the method's device.
    fn loss(&mut self, views: &[Tensor], ctx: &StepContext) -> Result<MethodLoss>;

    /// Called after each optimiser step (momentum updates).
    fn after_step(&mut self, _ctx: &StepContext) -> Result<()> {
        Ok(())
    }

    /// The encoder whose features are evaluated and exported.
    fn backbone(&self) -> &dyn Backbone;

    /// Extra state to checkpoint (momentum copies, queues, running matrices).
    fn state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Restores what [`Method::state`] returned.
    fn load_state(&mut self, _state: &HashMap<String, Tensor>) -> Result<()> {
        Ok(())
    }
}

/// Copies `saved` tensors into `targets` by name, checking that every target is present
/// with the same shape (used to restore momentum copies and similar state).
pub fn restore_named(what: &str, targets: &HashMap<String, Tensor>, saved: &HashMap<String, Tensor>) -> Result<()> {
    for (name, t) in targets {
        let Some(src) = saved.get(name) else { anyhow::bail!("{what}: checkpoint has no '{name}'") };
        if src.size() != t.size() {
            anyhow::bail!("{what}: '{name}' has shape {:?} in the checkpoint, {:?} in the model", src.size(), t.size());
        }
        tch::no_grad(|| t.shallow_clone().copy_(src));
    }
    Ok(())
}
