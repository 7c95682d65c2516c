//! The supervised fine-tuning loop (classification, segmentation): labelled batches, a
//! model's named loss terms, and validation metrics at log steps. A pre-trained encoder
//! is loaded by prefix ([`super::load_encoder`]) and tuned with parameter groups (frozen
//! first, then a lower learning rate).
use super::trainer::{Resume, StepLoop, StepLoss, TrainSummary, Trainer};
use crate::blocks::{Backbone, BackboneConfig};
use crate::data::{Batch, BatchSource};
use crate::method::{Export, MethodLoss, StepContext};
use crate::registry::Registry;
use anyhow::{bail, Result};
use std::collections::HashMap;
use tch::{nn, nn::Module, Device, Kind, Tensor};

/// A model trained on labelled batches.
pub trait SupervisedModel: Send {
    /// Name recorded in checkpoints (e.g. `classifier`).
    fn name(&self) -> &'static str;

    /// The loss of a labelled batch (named terms, e.g. cross entropy + Dice).
    fn loss(&mut self, batch: &Batch, ctx: &StepContext) -> Result<MethodLoss>;

    /// Metrics of a batch in evaluation mode (averaged over the validation batches).
    fn metrics(&self, batch: &Batch) -> Result<Vec<(String, f64)>>;

    /// Parts exported with each checkpoint (the tuned encoder, by name).
    fn exports(&self) -> Vec<Export>;

    /// State beside the trainable variables that a resume needs (none by default).
    fn state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Restores the entries written by [`SupervisedModel::state`].
    fn load_state(&mut self, _state: &HashMap<String, Tensor>) -> Result<()> {
        Ok(())
    }
}

/// Fine-tuning of a [`SupervisedModel`], with optional validation.
pub struct FineTune<'a> {
    model: &'a mut dyn SupervisedModel,
    train: &'a mut dyn BatchSource,
    val: Option<(&'a mut dyn BatchSource, usize)>,
}

impl<'a> FineTune<'a> {
    /// Fine-tuning of `model` on the batches of `train`, without validation.
    pub fn new(model: &'a mut dyn SupervisedModel, train: &'a mut dyn BatchSource) -> Self {
        Self { model, train, val: None }
    }

    /// Scores `batches` batches of `val` (from its start) at every log step as `val/<metric>`.
    pub fn with_validation(mut self, val: &'a mut dyn BatchSource, batches: usize) -> Self {
        self.val = Some((val, batches.max(1)));
        self
    }
}

impl StepLoop for FineTune<'_> {
    fn name(&self) -> &str {
        self.model.name()
    }

    fn start(&mut self, index: u64) -> Result<()> {
        self.train.start(index)
    }

    fn micro_step(&mut self, ctx: &StepContext, device: Device) -> Result<StepLoss> {
        let batch = self.train.next_batch()?.to_device(device);
        let out = self.model.loss(&batch, ctx)?;
        let terms: Vec<(String, Tensor)> = out.terms().iter().map(|(n, t)| (n.clone(), t.detach())).collect();
        Ok(StepLoss { total: out.mean_total(), terms, samples: batch.size().max(0) as usize, notes: Default::default() })
    }

    fn log_extra(&mut self, _steps_done: usize) -> Result<Vec<(String, f64)>> {
        let Some((val, batches)) = &mut self.val else { return Ok(Vec::new()) };
        val.start(0)?;
        let mut sums: Vec<(String, f64)> = Vec::new();
        for _ in 0..*batches {
            let batch = val.next_batch()?;
            for (name, v) in tch::no_grad(|| self.model.metrics(&batch))? {
                super::metrics::add_named(&mut sums, &name, v);
            }
        }
        Ok(sums.into_iter().map(|(n, s)| (format!("val/{n}"), s / *batches as f64)).collect())
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.model.state()
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.model.load_state(state)
    }

    fn exports(&self) -> Vec<Export> {
        self.model.exports()
    }
}

impl Trainer {
    /// Fine-tunes `model` (variables in `vs`) on labelled batches.
    pub fn fine_tune(&self, vs: &nn::VarStore, tune: &mut FineTune, resume: impl Into<Resume>) -> Result<TrainSummary> {
        self.run(vs, tune, resume)
    }
}

/// An encoder (under `encoder.`) with a linear classification head (under `head.`),
/// trained with cross entropy on the first view and the batch's labels.
pub struct Classifier {
    /// The encoder, built under `encoder`.
    pub encoder: Box<dyn Backbone>,
    head: nn::Linear,
    classes: i64,
}

impl Classifier {
    /// A `backbone` encoder under `encoder` and a linear head to `classes` (at least 2) under `head`.
    pub fn new(vs: &nn::VarStore, registry: &Registry, backbone: &BackboneConfig, classes: i64) -> Result<Self> {
        if classes < 2 {
            bail!("a classifier needs at least 2 classes, got {classes}");
        }
        let encoder = registry.build_backbone(&(vs.root() / "encoder"), backbone)?;
        let head = nn::linear(vs.root() / "head", encoder.out_dim(), classes, Default::default());
        Ok(Self { encoder, head, classes })
    }

    fn logits(&self, batch: &Batch, train: bool) -> Result<(Tensor, Tensor)> {
        let Some(x) = batch.views().first() else { bail!("the classifier needs an input view") };
        let y = batch.labels()?;
        if let Ok(max) = y.f_max() {
            if max.int64_value(&[]) >= self.classes {
                bail!("label {} is outside the {} classes of the classifier", max.int64_value(&[]), self.classes);
            }
        }
        Ok((self.head.forward(&self.encoder.forward_t(x, train)), y.to_kind(Kind::Int64)))
    }
}

impl SupervisedModel for Classifier {
    fn name(&self) -> &'static str {
        "classifier"
    }

    fn loss(&mut self, batch: &Batch, _ctx: &StepContext) -> Result<MethodLoss> {
        let (logits, y) = self.logits(batch, true)?;
        Ok(MethodLoss::batch(logits.f_cross_entropy_loss::<Tensor>(&y, None, tch::Reduction::Mean, -100, 0.0)?))
    }

    fn metrics(&self, batch: &Batch) -> Result<Vec<(String, f64)>> {
        let (logits, y) = self.logits(batch, false)?;
        let acc = logits.argmax(-1, false).eq_tensor(&y).to_kind(Kind::Double).mean(Kind::Double).double_value(&[]);
        let loss = logits.f_cross_entropy_loss::<Tensor>(&y, None, tch::Reduction::Mean, -100, 0.0)?.double_value(&[]);
        Ok(vec![("accuracy".into(), acc), ("loss".into(), loss)])
    }

    fn exports(&self) -> Vec<Export> {
        vec![Export::new("encoder", "encoder")]
    }
}
