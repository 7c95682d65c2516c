//! The method seam: a method turns a [`Batch`] into a loss.
//!
//! A method owns its networks (encoders, heads, momentum copies) and any state (queues,
//! running matrices); the run owns everything else (optimiser, schedule, data,
//! checkpoints, logging). A method can live in any crate: it is registered with its name,
//! options and builder in a [`crate::registry::Registry`].
use crate::blocks::{Backbone, MemoryBank, MomentumUpdate};
use crate::data::Batch;
use anyhow::{bail, Result};
use std::collections::HashMap;
use tch::Tensor;

/// Where training stands, for schedules inside a method (EMA momentum, ...).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct StepContext {
    /// Optimiser steps completed before this one.
    pub step: usize,
    /// Optimiser steps of the whole run.
    pub total_steps: usize,
    /// Micro-batch within the step (gradient accumulation), 0 without accumulation.
    pub micro: usize,
    /// Seed of this step's random draws (fixed by the run seed and the step), so that a
    /// method's randomness does not depend on other threads or on where a run resumed.
    pub seed: u64,
}

impl StepContext {
    /// The context of the first micro-batch of step `step` of `total_steps`, drawing
    /// from `seed` (the trainer derives it from the run seed and the step).
    pub fn new(step: usize, total_steps: usize, seed: u64) -> Self {
        Self { step, total_steps, micro: 0, seed }
    }

    /// The same step at micro-batch `micro` (gradient accumulation).
    pub fn with_micro(self, micro: usize) -> Self {
        Self { micro, ..self }
    }

    /// A random generator for this micro-batch's draws.
    pub fn rng(&self) -> rand_chacha::ChaCha8Rng {
        crate::seed::rng(&[self.seed, crate::seed::tag::MICRO, self.micro as u64])
    }

    /// Fraction of training done, in `[0, 1]`.
    pub fn progress(&self) -> f64 {
        if self.total_steps == 0 {
            1.0
        } else {
            (self.step as f64 / self.total_steps as f64).min(1.0)
        }
    }
}

/// What a method's forward pass returns: its main loss, either per view (so that a view
/// reduction such as UOTA can weight the views) or for the whole batch, plus named extra
/// terms (regularisers) that are added to it and logged separately.
#[derive(Debug)]
pub struct MethodLoss {
    main: MainLoss,
    terms: Vec<(String, Tensor)>,
}

#[derive(Debug)]
pub(crate) enum MainLoss {
    Batch(Tensor),
    PerView { losses: Tensor, embeddings: Tensor },
}

impl MethodLoss {
    /// A loss that does not decompose over views (Barlow Twins, VICReg, a reconstruction).
    pub fn batch(loss: Tensor) -> Self {
        Self { main: MainLoss::Batch(loss), terms: Vec::new() }
    }

    /// One loss per sample and view, `[N, V]`, with the unit-norm projections `[N, V, D]`
    /// that view weighting needs. The run's view reduction averages (or reweights) them.
    pub fn per_view(losses: Tensor, embeddings: Tensor) -> Self {
        Self { main: MainLoss::PerView { losses, embeddings }, terms: Vec::new() }
    }

    /// Adds a named term (already weighted) to the loss; it is logged as `loss/<name>`.
    pub fn with_term(mut self, name: &str, term: Tensor) -> Self {
        self.terms.push((name.to_string(), term));
        self
    }

    /// The per-view losses and embeddings, when the main loss has them.
    pub fn per_view_parts(&self) -> Option<(&Tensor, &Tensor)> {
        match &self.main {
            MainLoss::PerView { losses, embeddings } => Some((losses, embeddings)),
            MainLoss::Batch(_) => None,
        }
    }

    /// The named extra terms, in the order they were added.
    pub fn terms(&self) -> &[(String, Tensor)] {
        &self.terms
    }

    pub(crate) fn into_parts(self) -> (MainLoss, Vec<(String, Tensor)>) {
        (self.main, self.terms)
    }

    /// The total with views averaged: main loss plus every term.
    pub fn mean_total(self) -> Tensor {
        let (main, terms) = self.into_parts();
        let main = match main {
            MainLoss::Batch(l) => l,
            MainLoss::PerView { losses, .. } => losses.mean(None),
        };
        terms.into_iter().fold(main, |acc, (_, t)| acc + t)
    }
}

/// An encoder a method exports after training: `<name>.safetensors` in each checkpoint,
/// holding the variables under `prefix.` with the prefix removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// Export name: the file in each checkpoint is `<name>.safetensors`.
    pub name: String,
    /// Name prefix of the encoder's variables, without the trailing `.`.
    pub prefix: String,
}

impl Export {
    /// The export `name` of the variables under `prefix.`.
    pub fn new(name: &str, prefix: &str) -> Self {
        Self { name: name.to_string(), prefix: prefix.to_string() }
    }
}

/// A self-supervised method.
///
/// Methods with a momentum target or a memory bank return them from
/// [`Method::momentum_target`] / [`Method::memory_bank`]; the default `after_step`,
/// `state` and `load_state` then update, checkpoint and restore them.
pub trait Method: Send {
    /// Registry name (e.g. `simclr`).
    fn name(&self) -> &'static str;

    /// The loss of one batch on the method's device.
    fn loss(&mut self, batch: &Batch, ctx: &StepContext) -> Result<MethodLoss>;

    /// The encoder whose features are evaluated.
    fn backbone(&self) -> &dyn Backbone;

    /// Encoders exported with every checkpoint, by name (default: `backbone`).
    fn exports(&self) -> Vec<Export> {
        vec![Export::new("backbone", "backbone")]
    }

    /// Parameter groups the method asks for (e.g. prototypes frozen for the first steps);
    /// the config's groups come first and win.
    fn param_groups(&self) -> Vec<crate::train::ParamGroup> {
        Vec::new()
    }

    /// The EMA target, when the method has one.
    fn momentum_target(&self) -> Option<&dyn MomentumUpdate> {
        None
    }

    /// The memory bank of keys, when the method has one.
    fn memory_bank(&self) -> Option<&MemoryBank> {
        None
    }

    /// Called after each optimiser step: enqueues the step's keys, moves the EMA target.
    fn after_step(&mut self, ctx: &StepContext) -> Result<()> {
        if let Some(bank) = self.memory_bank() {
            bank.flush();
        }
        if let Some(target) = self.momentum_target() {
            target.update(ctx);
        }
        Ok(())
    }

    /// Extra state to checkpoint (momentum copies, queues, running matrices).
    fn state(&self) -> Vec<(String, Tensor)> {
        let mut s = self.momentum_target().map(|t| t.state()).unwrap_or_default();
        if let Some(bank) = self.memory_bank() {
            s.extend(bank.state());
        }
        s
    }

    /// Restores what [`Method::state`] returned.
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        if let Some(target) = self.momentum_target() {
            target.load_state(state)?;
        }
        if let Some(bank) = self.memory_bank() {
            bank.load_state(state)?;
        }
        Ok(())
    }
}

/// Copies `saved` tensors into `targets` by name, checking that every target is present
/// with the same shape (used to restore momentum copies and similar state).
pub fn restore_named(what: &str, targets: &HashMap<String, Tensor>, saved: &HashMap<String, Tensor>) -> Result<()> {
    for (name, t) in targets {
        let Some(src) = saved.get(name) else { bail!("{what}: checkpoint has no '{name}'") };
        if src.size() != t.size() {
            bail!("{what}: '{name}' has shape {:?} in the checkpoint, {:?} in the model", src.size(), t.size());
        }
        tch::no_grad(|| t.shallow_clone().copy_(src));
    }
    Ok(())
}
