//! MoCo v2 (arXiv 2003.04297): momentum key encoder and a FIFO memory bank of keys;
//! MoCo v3 (arXiv 2104.02057): no bank, a predictor on the query side.
//! Both are symmetrised over the views (keys from the global views only).
use super::common::{if_global, momentum_in_unit, positive};
use crate::blocks::{Backbone, MemoryBank, Mlp, MlpConfig, MomentumSchedule, MomentumTarget, MomentumUpdate, Online};
use crate::data::Batch;
use crate::method::{Method, MethodLoss, StepContext};
use crate::objectives::{moco_infonce_per_sample, moco_v3_per_sample};
use crate::registry::{BuildContext, MethodOptions};
use crate::views::{per_view_from_pairs, view_embeddings};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// The `[model.options]` of `moco-v2`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct MocoV2Options {
    /// Softmax temperature of the InfoNCE logits.
    pub temperature: f64,
    /// Momentum of the key encoder (constant).
    pub momentum: f64,
    /// Keys in the memory bank.
    pub queue_size: i64,
}

impl Default for MocoV2Options {
    fn default() -> Self {
        Self { temperature: 0.2, momentum: 0.99, queue_size: 4096 }
    }
}

impl MethodOptions for MocoV2Options {
    fn validate(&self) -> Result<()> {
        positive("moco-v2", "temperature", self.temperature)?;
        momentum_in_unit("moco-v2", self.momentum)?;
        if !(1..=10_000_000).contains(&self.queue_size) {
            bail!("moco-v2: queue_size must be between 1 and 1e7, got {}", self.queue_size);
        }
        Ok(())
    }
}

pub struct MocoV2 {
    online: Online,
    key: MomentumTarget<Online>,
    bank: MemoryBank,
    temperature: f64,
}

pub fn build_v2(ctx: &BuildContext, o: MocoV2Options) -> Result<Box<dyn Method>> {
    let projector = MlpConfig::projector2(ctx.model.projector_hidden, ctx.model.projector_dim);
    let online = ctx.online(projector)?;
    let key = ctx.momentum_online(projector, MomentumSchedule::Constant(o.momentum))?;
    // Random unit keys until real ones fill the bank, as in the official code.
    let bank = ctx.memory_bank("queue", o.queue_size)?;
    Ok(Box::new(MocoV2 { online, key, bank, temperature: o.temperature }))
}

impl Method for MocoV2 {
    fn name(&self) -> &'static str {
        "moco-v2"
    }

    fn loss(&mut self, batch: &Batch, _ctx: &StepContext) -> Result<MethodLoss> {
        let (views, g) = (batch.views_at_least("moco-v2", 2)?, batch.global_views());
        let q = self.online.project_views(views)?;
        let k = self.key.forward(|net| net.project_views(&views[..g]))?;
        let (bank, t) = (self.bank.keys(), self.temperature);
        let losses = per_view_from_pairs(views.len(), g, |a, b| {
            Ok([if_global(b, g, || moco_infonce_per_sample(&q[a], &k[b], bank, t))?, Some(moco_infonce_per_sample(&q[b], &k[a], bank, t)?)])
        })?;
        self.bank.push(&Tensor::cat(&k, 0));
        Ok(MethodLoss::per_view(losses, view_embeddings(&q)))
    }

    fn backbone(&self) -> &dyn Backbone {
        self.online.backbone.as_ref()
    }

    fn momentum_target(&self) -> Option<&dyn MomentumUpdate> {
        Some(&self.key)
    }

    fn memory_bank(&self) -> Option<&MemoryBank> {
        Some(&self.bank)
    }
}

/// The `[model.options]` of `moco-v3`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct MocoV3Options {
    /// Softmax temperature of the in-batch InfoNCE logits.
    pub temperature: f64,
    /// Base momentum of the key encoder (cosine schedule to 1).
    pub momentum: f64,
}

impl Default for MocoV3Options {
    fn default() -> Self {
        Self { temperature: 0.2, momentum: 0.99 }
    }
}

impl MethodOptions for MocoV3Options {
    fn validate(&self) -> Result<()> {
        positive("moco-v3", "temperature", self.temperature)?;
        momentum_in_unit("moco-v3", self.momentum)
    }
}

pub struct MocoV3 {
    online: Online,
    predictor: Mlp,
    key: MomentumTarget<Online>,
    temperature: f64,
}

pub fn build_v3(ctx: &BuildContext, o: MocoV3Options) -> Result<Box<dyn Method>> {
    let m = ctx.model;
    let projector = MlpConfig::projector3(m.projector_hidden, m.projector_dim);
    let online = ctx.online(projector)?;
    let predictor = ctx.mlp("predictor", m.projector_dim, MlpConfig::predictor(m.predictor_hidden, m.projector_dim));
    let key = ctx.momentum_online(projector, MomentumSchedule::Cosine(o.momentum))?;
    Ok(Box::new(MocoV3 { online, predictor, key, temperature: o.temperature }))
}

impl Method for MocoV3 {
    fn name(&self) -> &'static str {
        "moco-v3"
    }

    fn loss(&mut self, batch: &Batch, _ctx: &StepContext) -> Result<MethodLoss> {
        let (views, g) = (batch.views_at_least("moco-v3", 2)?, batch.global_views());
        let z = self.online.project_views(views)?;
        let q: Vec<_> = z.iter().map(|z| self.predictor.forward_t(z, true)).collect();
        let k = self.key.forward(|net| net.project_views(&views[..g]))?;
        let t = self.temperature;
        let losses = per_view_from_pairs(views.len(), g, |a, b| {
            Ok([if_global(b, g, || moco_v3_per_sample(&q[a], &k[b], t))?, Some(moco_v3_per_sample(&q[b], &k[a], t)?)])
        })?;
        // ctr(q1, k2) + ctr(q2, k1) as in the official code; the reduction averages over views.
        Ok(MethodLoss::per_view(losses * 2.0, view_embeddings(&z)))
    }

    fn backbone(&self) -> &dyn Backbone {
        self.online.backbone.as_ref()
    }

    fn momentum_target(&self) -> Option<&dyn MomentumUpdate> {
        Some(&self.key)
    }
}
