//! The replay buffer of the box agent: a ring of transitions whose observations are kept
//! as bytes (values in `[0, 1]` quantised to 1/255), all in tensors so that a checkpoint
//! holds it whole and a resumed run samples exactly what the uninterrupted one would.
use anyhow::{bail, Result};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use tch::{Device, Kind, Tensor};

/// A sampled batch: observations, actions, rewards, next observations, episode ends and
/// the expert's actions.
#[derive(Debug)]
pub struct Transitions {
    /// `[N, H, P, P, P]` floats.
    pub obs: Tensor,
    /// `[N]` int64.
    pub action: Tensor,
    /// `[N]` floats.
    pub reward: Tensor,
    /// `[N, H, P, P, P]` floats.
    pub next: Tensor,
    /// `[N]` floats, 1 where the episode ended.
    pub done: Tensor,
    /// `[N]` int64.
    pub expert: Tensor,
}

/// Transitions in a ring of fixed capacity.
#[derive(Debug)]
pub struct Replay {
    obs: Tensor,
    next: Tensor,
    action: Tensor,
    reward: Tensor,
    done: Tensor,
    expert: Tensor,
    len: i64,
    pos: i64,
}

impl Replay {
    /// An empty buffer of `capacity` transitions of observations shaped `obs_shape`.
    pub fn new(capacity: i64, obs_shape: &[i64]) -> Result<Self> {
        if capacity < 1 {
            bail!("replay: the capacity must be at least 1, got {capacity}");
        }
        let shape: Vec<i64> = std::iter::once(capacity).chain(obs_shape.iter().copied()).collect();
        let cpu = Device::Cpu;
        Ok(Self {
            obs: Tensor::zeros(shape.as_slice(), (Kind::Uint8, cpu)),
            next: Tensor::zeros(shape.as_slice(), (Kind::Uint8, cpu)),
            action: Tensor::zeros([capacity], (Kind::Int64, cpu)),
            reward: Tensor::zeros([capacity], (Kind::Float, cpu)),
            done: Tensor::zeros([capacity], (Kind::Float, cpu)),
            expert: Tensor::zeros([capacity], (Kind::Int64, cpu)),
            len: 0,
            pos: 0,
        })
    }

    /// Transitions held.
    pub fn len(&self) -> i64 {
        self.len
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn quantise(t: &Tensor) -> Tensor {
        (t.to_device(Device::Cpu).clamp(0.0, 1.0) * 255.0).round().to_kind(Kind::Uint8)
    }

    /// Adds a transition, overwriting the oldest when full.
    pub fn push(&mut self, obs: &Tensor, action: i64, reward: f64, next: &Tensor, done: bool, expert: i64) {
        let i = self.pos;
        self.obs.get(i).copy_(&Self::quantise(obs));
        self.next.get(i).copy_(&Self::quantise(next));
        let _ = self.action.get(i).fill_(action);
        let _ = self.reward.get(i).fill_(reward);
        let _ = self.done.get(i).fill_(if done { 1.0 } else { 0.0 });
        let _ = self.expert.get(i).fill_(expert);
        self.pos = (self.pos + 1) % self.action.size()[0];
        self.len = (self.len + 1).min(self.action.size()[0]);
    }

    /// `n` transitions drawn uniformly (with replacement) by `rng`, on `device`.
    pub fn sample(&self, n: i64, rng: &mut ChaCha8Rng, device: Device) -> Result<Transitions> {
        if self.len == 0 {
            bail!("replay: nothing to sample yet");
        }
        let idx: Vec<i64> = (0..n).map(|_| rng.random_range(0..self.len)).collect();
        let idx = Tensor::from_slice(&idx);
        let frames = |t: &Tensor| (t.index_select(0, &idx).to_kind(Kind::Float) / 255.0).to_device(device);
        Ok(Transitions {
            obs: frames(&self.obs),
            action: self.action.index_select(0, &idx).to_device(device),
            reward: self.reward.index_select(0, &idx).to_device(device),
            next: frames(&self.next),
            done: self.done.index_select(0, &idx).to_device(device),
            expert: self.expert.index_select(0, &idx).to_device(device),
        })
    }

    /// The whole buffer as named tensors (under `prefix`), for a checkpoint.
    pub fn state(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let n = |s: &str| format!("{prefix}{s}");
        vec![
            (n("obs"), self.obs.shallow_clone()),
            (n("next"), self.next.shallow_clone()),
            (n("action"), self.action.shallow_clone()),
            (n("reward"), self.reward.shallow_clone()),
            (n("done"), self.done.shallow_clone()),
            (n("expert"), self.expert.shallow_clone()),
            (n("cursor"), Tensor::from_slice(&[self.len, self.pos])),
        ]
    }

    /// Restores what [`Replay::state`] wrote; shapes must match this buffer's.
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>, prefix: &str) -> Result<()> {
        let get = |s: &str| state.get(&format!("{prefix}{s}")).ok_or_else(|| anyhow::anyhow!("the checkpoint lacks the replay buffer's '{prefix}{s}'"));
        for (name, slot) in [
            ("obs", &mut self.obs),
            ("next", &mut self.next),
            ("action", &mut self.action),
            ("reward", &mut self.reward),
            ("done", &mut self.done),
            ("expert", &mut self.expert),
        ] {
            let t = get(name)?;
            if t.size() != slot.size() || t.kind() != slot.kind() {
                bail!("the checkpoint's replay '{name}' is {:?} {:?}, this run's {:?} {:?}", t.size(), t.kind(), slot.size(), slot.kind());
            }
            *slot = t.to_device(Device::Cpu).copy();
        }
        let cursor = Vec::<i64>::try_from(get("cursor")?)?;
        let cap = self.action.size()[0];
        match cursor[..] {
            [len, pos] if (0..=cap).contains(&len) && (0..cap).contains(&pos) => (self.len, self.pos) = (len, pos),
            _ => bail!("the checkpoint's replay cursor {cursor:?} does not fit a capacity of {cap}"),
        }
        Ok(())
    }
}
