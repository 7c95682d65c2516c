//! One seam for methods that change a view before any registered objective sees it: SSVC
//! replaces the key clip by its motion-preserved version, ViewCLR's learnable generator
//! moves the query clip to another camera. [`TransformedView`] wraps a built method, hands
//! it the batch with one view transformed, and adds whatever loss term the transform has.
use anyhow::{bail, Result};
use ssl_core::blocks::{Backbone, MemoryBank, MomentumUpdate};
use ssl_core::data::Batch;
use ssl_core::method::{Export, Method, MethodLoss, StepContext};
use ssl_core::train::ParamGroup;
use std::collections::HashMap;
use tch::Tensor;

/// A change of one view of a batch, made inside the training step.
pub trait ViewTransform: Send {
    /// Name of the wrapped method (`ssvc`, `viewclr`).
    fn name(&self) -> &'static str;

    /// The transformed view, and a named loss term of the transform's own (already
    /// weighted), if it has one.
    fn transform(&mut self, view: &Tensor, ctx: &StepContext) -> Result<(Tensor, Option<(String, Tensor)>)>;
}

/// A method whose view `view` goes through a [`ViewTransform`] first.
pub struct TransformedView {
    inner: Box<dyn Method>,
    transform: Box<dyn ViewTransform>,
    view: usize,
}

impl TransformedView {
    /// Wraps `inner`, transforming view `view` (0: the first) of every batch.
    pub fn new(inner: Box<dyn Method>, transform: Box<dyn ViewTransform>, view: usize) -> Self {
        Self { inner, transform, view }
    }
}

impl Method for TransformedView {
    fn name(&self) -> &'static str {
        self.transform.name()
    }

    fn loss(&mut self, batch: &Batch, ctx: &StepContext) -> Result<MethodLoss> {
        let views = batch.views();
        if self.view >= views.len() {
            bail!("{} transforms view {} but the batch has {} views", self.transform.name(), self.view, views.len());
        }
        let (changed, term) = self.transform.transform(&views[self.view], ctx)?;
        let mut new_views: Vec<Tensor> = views.iter().map(|v| v.shallow_clone()).collect();
        new_views[self.view] = changed;
        let mut b = Batch::from_views(new_views)?;
        for name in batch.part_names() {
            b = b.with(name, batch.part(name)?.shallow_clone())?;
        }
        let loss = self.inner.loss(&b, ctx)?;
        Ok(match term {
            Some((name, t)) => loss.with_term(&name, t),
            None => loss,
        })
    }

    fn backbone(&self) -> &dyn Backbone {
        self.inner.backbone()
    }

    fn exports(&self) -> Vec<Export> {
        self.inner.exports()
    }

    fn param_groups(&self) -> Vec<ParamGroup> {
        self.inner.param_groups()
    }

    fn momentum_target(&self) -> Option<&dyn MomentumUpdate> {
        self.inner.momentum_target()
    }

    fn memory_bank(&self) -> Option<&MemoryBank> {
        self.inner.memory_bank()
    }

    fn after_step(&mut self, ctx: &StepContext) -> Result<()> {
        self.inner.after_step(ctx)
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.inner.state()
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.inner.load_state(state)
    }
}
