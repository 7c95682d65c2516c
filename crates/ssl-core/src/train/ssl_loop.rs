//! The self-supervised step loop: a batch from the source, the method's loss, per-view
//! losses reduced by a [`ViewReduction`] (mean, or UOTA's weighting).
use super::trainer::{Resume, StepLoop, StepLoss, TrainSummary, Trainer};
use crate::data::BatchSource;
use crate::method::{Export, MainLoss, Method, StepContext};
use crate::reduction::{self, ViewReduction};
use anyhow::{bail, Result};
use std::collections::HashMap;
use tch::{nn, Device, Tensor};

/// The [`StepLoop`] of self-supervised training: a [`Method`] on the batches of a [`BatchSource`].
pub struct SslLoop<'a> {
    method: &'a mut dyn Method,
    data: &'a mut dyn BatchSource,
    reduction: Box<dyn ViewReduction>,
}

impl<'a> SslLoop<'a> {
    /// Trains `method` on `data`, reducing its per-view losses with `reduction`.
    pub fn new(method: &'a mut dyn Method, data: &'a mut dyn BatchSource, reduction: Box<dyn ViewReduction>) -> Self {
        Self { method, data, reduction }
    }
}

impl StepLoop for SslLoop<'_> {
    fn name(&self) -> &str {
        self.method.name()
    }

    fn start(&mut self, index: u64) -> Result<()> {
        self.data.start(index)
    }

    fn micro_step(&mut self, ctx: &StepContext, device: Device) -> Result<StepLoss> {
        let batch = self.data.next_batch()?.to_device(device);
        let (main, terms) = self.method.loss(&batch, ctx)?.into_parts();
        let weighting = self.reduction.weighting(ctx);
        let main = match main {
            MainLoss::Batch(loss) => {
                if self.reduction.needs_per_view() {
                    bail!("view weighting (UOTA) needs a method whose loss decomposes per view; '{}' gives one loss per batch", self.method.name());
                }
                loss
            }
            MainLoss::PerView { losses, embeddings } => self.reduction.reduce(&losses, &embeddings, ctx)?,
        };
        let mut named = Vec::new();
        if !terms.is_empty() {
            named.push(("main".to_string(), main.detach()));
        }
        let total = terms.iter().fold(main, |acc, (_, t)| acc + t);
        named.extend(terms.into_iter().map(|(n, t)| (n, t.detach())));
        let mut notes = serde_json::Map::new();
        notes.insert("view_weighting".into(), weighting.into());
        Ok(StepLoss { total, terms: named, samples: batch.size().max(0) as usize, notes })
    }

    fn after_step(&mut self, ctx: &StepContext) -> Result<()> {
        self.method.after_step(ctx)
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.method.state()
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.method.load_state(state)
    }

    fn exports(&self) -> Vec<Export> {
        self.method.exports()
    }

    fn param_groups(&self) -> Vec<crate::train::ParamGroup> {
        self.method.param_groups()
    }
}

impl Trainer {
    /// Trains `method` (whose trainable variables live in `vs`) on `data` with the view
    /// reduction of `[train.uota]`.
    pub fn fit(&self, vs: &nn::VarStore, method: &mut dyn Method, data: &mut dyn BatchSource, resume: impl Into<Resume>) -> Result<TrainSummary> {
        self.fit_with(vs, method, data, reduction::from_config(&self.cfg.uota), resume)
    }

    /// Trains `method` on `data` with any view reduction.
    pub fn fit_with(
        &self,
        vs: &nn::VarStore,
        method: &mut dyn Method,
        data: &mut dyn BatchSource,
        reduction: Box<dyn ViewReduction>,
        resume: impl Into<Resume>,
    ) -> Result<TrainSummary> {
        self.run(vs, &mut SslLoop::new(method, data, reduction), resume)
    }
}
