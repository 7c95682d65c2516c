//! Momentum (EMA) copies of online networks, as used by MoCo, BYOL and UniGrad: the
//! copied variables ([`MomentumCopy`]), and a target network with its momentum schedule
//! over any encoder ([`MomentumTarget`]).
use crate::method::StepContext;
use anyhow::{bail, Result};
use std::collections::HashMap;
use tch::{nn, Device, Tensor};

fn online_device(vars: &HashMap<String, Tensor>) -> Device {
    vars.values().next().map(|t| t.device()).unwrap_or(Device::Cpu)
}

/// BYOL's cosine schedule from `base` to 1: `m_t = 1 - (1 - base)(cos(pi t / T) + 1) / 2`.
pub fn cosine_momentum(base: f64, progress: f64) -> f64 {
    let p = progress.clamp(0.0, 1.0);
    1.0 - (1.0 - base) * ((std::f64::consts::PI * p).cos() + 1.0) / 2.0
}

/// A frozen copy of some of the online variables, updated by `t <- m t + (1 - m) online`.
///
/// The target lives in its own `VarStore`, built by the same constructor as the online
/// network so that names match; only names present in the target are tracked.
pub struct MomentumCopy {
    store: nn::VarStore,
    pairs: Vec<(Tensor, Tensor)>,
}

impl std::fmt::Debug for MomentumCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MomentumCopy({} tensors)", self.pairs.len())
    }
}

impl MomentumCopy {
    /// Builds the target with `build` (called on the root of a fresh store) and copies
    /// the values of the same-named variables of `online` into it.
    pub fn new<T>(online: &nn::VarStore, build: impl FnOnce(&nn::Path) -> T) -> Result<(Self, T)> {
        let online = online.variables();
        let mut store = nn::VarStore::new(online_device(&online));
        let module = build(&store.root());
        let mut pairs = Vec::new();
        let mut names: Vec<_> = store.variables().into_iter().collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, target) in names {
            let Some(src) = online.get(&name) else { bail!("momentum copy: online network has no variable '{name}'") };
            tch::no_grad(|| target.shallow_clone().copy_(src));
            pairs.push((target, src.shallow_clone()));
        }
        store.freeze();
        Ok((Self { store, pairs }, module))
    }

    /// One EMA step with momentum `m` (also moves BatchNorm running statistics).
    pub fn update(&self, m: f64) {
        tch::no_grad(|| {
            for (t, s) in &self.pairs {
                let _ = t.shallow_clone().lerp_(s, 1.0 - m);
            }
        });
    }

    /// The target's variables as checkpoint entries named `target.<name>`.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut s: Vec<_> = self.store.variables().into_iter().map(|(k, v)| (format!("target.{k}"), v)).collect();
        s.sort_by(|a, b| a.0.cmp(&b.0));
        s
    }

    /// Restores the entries written by [`MomentumCopy::state`].
    pub fn load_state(&self, state: &HashMap<String, Tensor>) -> Result<()> {
        let targets: HashMap<String, Tensor> = self.store.variables().into_iter().map(|(k, v)| (format!("target.{k}"), v)).collect();
        crate::method::restore_named("momentum target", &targets, state)
    }
}

/// How the EMA momentum moves over training.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum MomentumSchedule {
    /// The same momentum at every step (MoCo v2).
    Constant(f64),
    /// BYOL's cosine schedule from the base value to 1 (BYOL, MoCo v3, UniGrad).
    Cosine(f64),
}

impl MomentumSchedule {
    /// The momentum at `progress`, the fraction of training done in `[0, 1]`.
    pub fn at(&self, progress: f64) -> f64 {
        match *self {
            Self::Constant(m) => m,
            Self::Cosine(base) => cosine_momentum(base, progress),
        }
    }
}

/// What a run needs from a method's EMA target: one update per optimiser step, and its
/// state in checkpoints. [`crate::Method`]'s defaults call these.
pub trait MomentumUpdate {
    /// Moves the target once, after the optimiser step described by `ctx`.
    fn update(&self, ctx: &StepContext);
    /// The target's state as named checkpoint entries.
    fn state(&self) -> Vec<(String, Tensor)>;
    /// Restores the entries written by [`MomentumUpdate::state`].
    fn load_state(&self, state: &HashMap<String, Tensor>) -> Result<()>;
}

/// A frozen EMA copy of an online network `N` (an encoder with heads, or any module built
/// by the same constructor as the online one), moved by its schedule after every step.
pub struct MomentumTarget<N> {
    copy: MomentumCopy,
    net: N,
    schedule: MomentumSchedule,
}

impl<N> MomentumTarget<N> {
    /// Builds the target with `build` (the constructor of the online network, called on
    /// the root of a fresh store) and starts it at the online variables of `online`.
    pub fn new(online: &nn::VarStore, schedule: MomentumSchedule, build: impl FnOnce(&nn::Path) -> Result<N>) -> Result<Self> {
        let (copy, net) = MomentumCopy::new(online, build)?;
        Ok(Self { copy, net: net?, schedule })
    }

    /// Runs the target network without gradient.
    pub fn forward<R>(&self, f: impl FnOnce(&N) -> R) -> R {
        tch::no_grad(|| f(&self.net))
    }

    /// The target network itself ([`MomentumTarget::forward`] runs it without gradient).
    pub fn net(&self) -> &N {
        &self.net
    }

    /// The schedule its momentum follows.
    pub fn schedule(&self) -> MomentumSchedule {
        self.schedule
    }
}

impl<N> MomentumUpdate for MomentumTarget<N> {
    fn update(&self, ctx: &StepContext) {
        self.copy.update(self.schedule.at(ctx.progress()));
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.copy.state()
    }

    fn load_state(&self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.copy.load_state(state)
    }
}
