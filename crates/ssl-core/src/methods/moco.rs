//! MoCo v2 (arXiv 2003.04297): momentum key encoder and a FIFO queue of keys;
//! MoCo v3 (arXiv 2104.02057): no queue, a predictor on the query side.
//! Both are symmetrised over the two views.
use super::common::{per_view, two_views, view_embeddings, MethodConfig, MomentumTarget, Online};
use crate::blocks::{Backbone, Mlp};
use crate::method::{restore_named, Method, MethodLoss, StepContext};
use crate::objectives::{l2_normalize, moco_infonce_per_sample, moco_v3_per_sample};
use anyhow::{bail, Result};
use std::collections::HashMap;
use tch::{nn, Kind, Tensor};

pub struct MocoV2 {
    online: Online,
    key: MomentumTarget,
    queue: Tensor,
    ptr: i64,
    /// Keys of the current step, enqueued after the optimiser step (the queue must not
    /// change while the backward pass still needs it).
    pending: Vec<Tensor>,
    temperature: f64,
}

pub fn build_v2(vs: &nn::VarStore, cfg: &MethodConfig) -> Result<Box<dyn Method>> {
    cfg.validate()?;
    if cfg.queue_size < 1 {
        bail!("moco-v2: queue_size must be positive, got {}", cfg.queue_size);
    }
    let projector = cfg.projector(2, false);
    let online = Online::new(&vs.root(), &cfg.backbone, projector)?;
    let key = MomentumTarget::new(vs, cfg, projector, cfg.momentum.unwrap_or(0.99), false)?;
    // Random unit keys until real ones fill the queue, as in the official code.
    let queue = l2_normalize(&Tensor::randn([cfg.queue_size, cfg.projector_dim], (Kind::Float, vs.device())));
    Ok(Box::new(MocoV2 { online, key, queue, ptr: 0, pending: Vec::new(), temperature: cfg.temperature.unwrap_or(0.2) }))
}

impl MocoV2 {
    fn enqueue(&mut self, keys: &Tensor) {
        let k = self.queue.size()[0];
        let keys = l2_normalize(keys).to_kind(self.queue.kind());
        let n = keys.size()[0];
        tch::no_grad(|| {
            for i in 0..n {
                self.queue.get(self.ptr).copy_(&keys.get(i));
                self.ptr = (self.ptr + 1) % k;
            }
        });
    }
}

impl Method for MocoV2 {
    fn name(&self) -> &'static str {
        "moco-v2"
    }

    fn loss(&mut self, views: &[Tensor], _ctx: &StepContext) -> Result<MethodLoss> {
        let (x1, x2) = two_views("moco-v2", views)?;
        let (q1, q2) = (self.online.project(x1), self.online.project(x2));
        let (k1, k2) = (self.key.project(x1), self.key.project(x2));
        let l1 = moco_infonce_per_sample(&q1, &k2, &self.queue, self.temperature)?;
        let l2 = moco_infonce_per_sample(&q2, &k1, &self.queue, self.temperature)?;
        self.pending.push(Tensor::cat(&[k1, k2], 0));
        Ok(MethodLoss::PerView { losses: per_view(l1, l2), embeddings: view_embeddings(&q1, &q2) })
    }

    fn after_step(&mut self, ctx: &StepContext) -> Result<()> {
        for keys in std::mem::take(&mut self.pending) {
            self.enqueue(&keys);
        }
        self.key.update(ctx);
        Ok(())
    }

    fn backbone(&self) -> &dyn Backbone {
        self.online.backbone.as_ref()
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut s = self.key.state();
        s.push(("queue".into(), self.queue.shallow_clone()));
        s.push(("queue_ptr".into(), Tensor::from(self.ptr)));
        s
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.key.load_state(state)?;
        let mut queue = HashMap::new();
        queue.insert("queue".to_string(), self.queue.shallow_clone());
        restore_named("moco-v2 queue", &queue, state)?;
        let k = self.queue.size()[0];
        self.ptr = match state.get("queue_ptr") {
            Some(t) => t.f_int64_value(&[])?,
            None => 0,
        };
        if !(0..k).contains(&self.ptr) {
            bail!("moco-v2: checkpoint queue pointer {} is outside the queue of {k} keys", self.ptr);
        }
        Ok(())
    }
}

pub struct MocoV3 {
    online: Online,
    predictor: Mlp,
    key: MomentumTarget,
    temperature: f64,
}

pub fn build_v3(vs: &nn::VarStore, cfg: &MethodConfig) -> Result<Box<dyn Method>> {
    cfg.validate()?;
    let projector = cfg.projector(3, false);
    let online = Online::new(&vs.root(), &cfg.backbone, projector)?;
    let predictor = Mlp::new(&(vs.root() / "predictor"), cfg.projector_dim, cfg.predictor());
    let key = MomentumTarget::new(vs, cfg, projector, cfg.momentum.unwrap_or(0.99), true)?;
    Ok(Box::new(MocoV3 { online, predictor, key, temperature: cfg.temperature.unwrap_or(0.2) }))
}

impl Method for MocoV3 {
    fn name(&self) -> &'static str {
        "moco-v3"
    }

    fn loss(&mut self, views: &[Tensor], _ctx: &StepContext) -> Result<MethodLoss> {
        let (x1, x2) = two_views("moco-v3", views)?;
        let (z1, z2) = (self.online.project(x1), self.online.project(x2));
        let (q1, q2) = (self.predictor.forward_t(&z1, true), self.predictor.forward_t(&z2, true));
        let (k1, k2) = (self.key.project(x1), self.key.project(x2));
        let l1 = moco_v3_per_sample(&q1, &k2, self.temperature)?;
        let l2 = moco_v3_per_sample(&q2, &k1, self.temperature)?;
        // ctr(q1, k2) + ctr(q2, k1) as in the official code; the trainer averages over views.
        Ok(MethodLoss::PerView { losses: per_view(l1, l2) * 2.0, embeddings: view_embeddings(&z1, &z2) })
    }

    fn after_step(&mut self, ctx: &StepContext) -> Result<()> {
        self.key.update(ctx);
        Ok(())
    }

    fn backbone(&self) -> &dyn Backbone {
        self.online.backbone.as_ref()
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.key.state()
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.key.load_state(state)
    }
}
