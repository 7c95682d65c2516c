//! Deep Q-learning of the box agent on the shared run: each step plays a few moves in the
//! environment (the expert's moves during imitation, then epsilon-greedy ones), stores them
//! in the replay buffer and learns from a sampled batch with the double-DQN target (a target
//! network synchronised every few hundred steps) and, while imitating, a cross entropy
//! towards the expert's actions. Replay buffer, episode and target network are part of each
//! checkpoint, and every random draw follows from the run's seed and the step, so a resumed
//! run continues exactly.
use super::env::{fuse_median, observe, BoxF, ACTIONS};
use super::qnet::QNet;
use super::replay::Replay;
use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use ssl_core::method::{Export, StepContext};
use ssl_core::train::{StepLoop, StepLoss};
use std::collections::HashMap;
use tch::{nn, Device, Kind, Tensor};

/// The agent and its learning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Side of the observed cube (a multiple of 8).
    pub side: i64,
    /// Frames of history the agent sees.
    pub history: i64,
    /// The observed region: the box grown by this factor.
    pub context: f64,
    /// Each move changes the box by this fraction of its size.
    pub alpha: f64,
    /// Discount.
    pub gamma: f64,
    /// Moves per episode.
    pub episode_steps: usize,
    /// Replay capacity (transitions).
    pub replay: i64,
    /// Transitions sampled per learning step.
    pub batch: i64,
    /// Moves played per learning step.
    pub moves_per_step: usize,
    /// Steps between synchronisations of the target network.
    pub target_every: usize,
    /// Steps of imitation at the start: the expert's actions are learnt (cross entropy) while
    /// the expert hands the moves over to the agent.
    pub imitation_steps: usize,
    /// Weight of the imitation loss (DQfD's large margin towards the expert's action).
    pub imitation_weight: f64,
    /// Its weight after the imitation steps (DQfD keeps it on expert-labelled moves; every
    /// stored move has the expert's label here).
    pub imitation_weight_after: f64,
    /// Exploration after imitation: epsilon falls linearly from `epsilon.0` to `epsilon.1`
    /// over `epsilon_steps`.
    pub epsilon: (f64, f64),
    /// See `epsilon`.
    pub epsilon_steps: usize,
    /// Dueling head.
    pub dueling: bool,
    /// Double-DQN target (the online network picks, the target network values).
    pub double: bool,
    /// Random start boxes: the prior box shifted and scaled by up to this fraction of its size.
    pub start_jitter: f64,
}

impl Default for AgentConfig {
    /// CPU-sized: an 8^3 view of the box grown 1.5x over 4 frames (16 or more where a GPU
    /// trains it: a 16^3 view costs eight times the convolutions), moves of 10%, gamma 0.9
    /// (rl-medical's), episodes of 30 moves, replay of 4000, batch 32, 4 moves a step, target
    /// synchronised every 200 steps, 300 steps of imitation, epsilon 0.3 to 0.05 over 600.
    fn default() -> Self {
        Self {
            side: 8,
            history: 4,
            context: 1.5,
            alpha: 0.1,
            gamma: 0.9,
            episode_steps: 30,
            replay: 4000,
            batch: 32,
            moves_per_step: 4,
            target_every: 200,
            imitation_steps: 300,
            imitation_weight: 1.0,
            imitation_weight_after: 0.3,
            epsilon: (0.3, 0.05),
            epsilon_steps: 600,
            dueling: true,
            double: true,
            start_jitter: 0.25,
        }
    }
}

impl AgentConfig {
    /// GPU-sized: a 24^3 view (27 times the CPU's voxels), replay of 20000, batch 64,
    /// imitation for 1000 steps, epsilon decaying over 4000; the rest as on the CPU.
    pub fn gpu() -> Self {
        Self { side: 24, replay: 20_000, batch: 64, imitation_steps: 1000, epsilon_steps: 4000, target_every: 500, ..Self::default() }
    }

    /// Checks the settings, naming the field.
    pub fn validate(&self) -> Result<()> {
        if self.side < 8
            || self.side % 8 != 0
            || self.history < 1
            || self.episode_steps == 0
            || self.batch < 1
            || self.moves_per_step == 0
            || self.target_every == 0
        {
            bail!("agent: side must be a multiple of 8, and history, episode_steps, batch, moves_per_step and target_every at least 1");
        }
        for (name, v, lo, hi) in [
            ("context", self.context, 1.0, 4.0),
            ("alpha", self.alpha, 0.01, 0.5),
            ("gamma", self.gamma, 0.0, 1.0),
            ("start_jitter", self.start_jitter, 0.0, 1.0),
        ] {
            if !(lo..=hi).contains(&v) {
                bail!("agent: {name} must lie in [{lo}, {hi}], got {v}");
            }
        }
        if !(0.0..=1.0).contains(&self.epsilon.0) || !(0.0..=1.0).contains(&self.epsilon.1) || self.replay < self.batch {
            bail!("agent: epsilon must lie in [0, 1] and the replay hold at least a batch");
        }
        Ok(())
    }

    /// Epsilon at `step` (during imitation: the starting value, for the agent's own moves).
    pub fn epsilon_at(&self, step: usize) -> f64 {
        if step < self.imitation_steps {
            return self.epsilon.0;
        }
        let t = ((step - self.imitation_steps) as f64 / self.epsilon_steps.max(1) as f64).min(1.0);
        self.epsilon.0 + (self.epsilon.1 - self.epsilon.0) * t
    }
}

/// A volume (`[Z, Y, X]`, values in `[0, 1]`) with the box the agent should find, and how
/// often it is drawn relative to the others.
#[derive(Debug)]
pub struct Task {
    /// The image.
    pub volume: Tensor,
    /// The organ's box (ground truth or a pseudo-label).
    pub target: BoxF,
    /// Relative probability of being drawn for an episode.
    pub weight: f64,
}

/// A start box: `prior` shifted and scaled by up to `jitter` of its size.
pub fn start_box(prior: &BoxF, jitter: f64, rng: &mut ChaCha8Rng) -> BoxF {
    let (c, size) = (prior.centre(), prior.size());
    let mut draw = || if jitter > 0.0 { rng.random_range(-jitter..=jitter) } else { 0.0 };
    let shift: [f64; 3] = std::array::from_fn(|a| draw() * size[a]);
    let scale: [f64; 3] = std::array::from_fn(|_| 1.0 + draw());
    BoxF { min: std::array::from_fn(|a| c[a] + shift[a] - 0.5 * size[a] * scale[a]), max: std::array::from_fn(|a| c[a] + shift[a] + 0.5 * size[a] * scale[a]) }
}

fn extent(volume: &Tensor) -> [i64; 3] {
    let s = volume.size();
    [s[2], s[1], s[0]]
}

/// The episode in progress.
#[derive(Debug)]
struct Episode {
    task: usize,
    now: BoxF,
    /// `[H, P, P, P]`, newest last.
    frames: Tensor,
    t: usize,
}

/// The box agent as a loop of the shared run. The online network lives in the run's
/// variables under `qnet`.
pub struct BoxAgent {
    cfg: AgentConfig,
    online: QNet,
    target_vs: nn::VarStore,
    target: QNet,
    /// Handles on the run's online variables (they share storage with the run's store, so
    /// they see every optimiser step).
    online_vars: HashMap<String, Tensor>,
    replay: Replay,
    tasks: Vec<Task>,
    prior: BoxF,
    episode: Option<Episode>,
    last_iou: f64,
}

impl BoxAgent {
    /// An agent whose online network is built in `vs` (under `qnet`), learning on `tasks`
    /// from starts around `prior`.
    pub fn new(vs: &nn::VarStore, cfg: AgentConfig, tasks: Vec<Task>, prior: BoxF) -> Result<Self> {
        cfg.validate()?;
        if tasks.is_empty() || tasks.iter().any(|t| !(t.weight.is_finite() && t.weight >= 0.0)) || tasks.iter().all(|t| t.weight == 0.0) {
            bail!("box agent: needs tasks with non-negative weights, not all zero");
        }
        let online = QNet::new(&(vs.root() / "qnet"), cfg.history, cfg.side, cfg.dueling)?;
        let mut target_vs = nn::VarStore::new(vs.device());
        let target = QNet::new(&(target_vs.root() / "qnet"), cfg.history, cfg.side, cfg.dueling)?;
        target_vs.copy(vs)?;
        let replay = Replay::new(cfg.replay, &[cfg.history, cfg.side, cfg.side, cfg.side])?;
        let online_vars = vs.variables();
        Ok(Self { cfg, online, target_vs, target, online_vars, replay, tasks, prior, episode: None, last_iou: 0.0 })
    }

    fn pick_task(&self, rng: &mut ChaCha8Rng) -> usize {
        let total: f64 = self.tasks.iter().map(|t| t.weight).sum();
        let mut r = rng.random_range(0.0..total);
        for (i, t) in self.tasks.iter().enumerate() {
            if r < t.weight {
                return i;
            }
            r -= t.weight;
        }
        self.tasks.len() - 1
    }

    fn frame(&self, task: usize, b: &BoxF) -> Result<Tensor> {
        observe(&self.tasks[task].volume, b, self.cfg.context, self.cfg.side)
    }

    /// One move: the expert's during imitation, else epsilon-greedy; stored in the replay.
    fn play(&mut self, step: usize, rng: &mut ChaCha8Rng, device: Device) -> Result<()> {
        if self.episode.is_none() {
            let task = self.pick_task(rng);
            let now = start_box(&self.prior, self.cfg.start_jitter, rng);
            let f = self.frame(task, &now)?;
            let frames = f.unsqueeze(0).repeat([self.cfg.history, 1, 1, 1]);
            self.episode = Some(Episode { task, now, frames, t: 0 });
        }
        let Some(ep) = self.episode.as_ref() else { bail!("no episode") };
        let task = &self.tasks[ep.task];
        let ext = extent(&task.volume);
        let expert = ep.now.expert_action(&task.target, self.cfg.alpha, ext);
        // During imitation the expert plays at first and hands over to the agent step by
        // step (as DAgger does), so the agent also learns the expert's answer in the states
        // its own mistakes lead to; every move keeps the expert's label.
        let expert_share = if step < self.cfg.imitation_steps { 1.0 - step as f64 / self.cfg.imitation_steps as f64 } else { 0.0 };
        let action = if rng.random_bool(expert_share) {
            expert
        } else if rng.random_bool(self.cfg.epsilon_at(step)) {
            rng.random_range(0..ACTIONS)
        } else {
            let q = tch::no_grad(|| self.online.forward(&ep.frames.unsqueeze(0).to_device(device)))?;
            q.argmax(-1, false).int64_value(&[0])
        };
        let next = ep.now.step(action, self.cfg.alpha, ext);
        let (before, after) = (ep.now.iou(&task.target), next.iou(&task.target));
        let reward = (after - before).signum() * if (after - before).abs() < 1e-12 { 0.0 } else { 1.0 };
        let f = self.frame(ep.task, &next)?;
        let frames = Tensor::cat(&[ep.frames.narrow(0, 1, self.cfg.history - 1), f.unsqueeze(0)], 0);
        let done = ep.t + 1 >= self.cfg.episode_steps;
        self.replay.push(&ep.frames, action, reward, &frames, done, expert);
        self.last_iou = after;
        self.episode = if done { None } else { Some(Episode { task: ep.task, now: next, frames, t: ep.t + 1 }) };
        Ok(())
    }
}

impl StepLoop for BoxAgent {
    fn name(&self) -> &str {
        "box-dqn"
    }

    fn start(&mut self, _index: u64) -> Result<()> {
        // The episode and the replay come back with the checkpoint's state.
        Ok(())
    }

    fn micro_step(&mut self, ctx: &StepContext, device: Device) -> Result<StepLoss> {
        let mut rng = ctx.rng();
        let step = ctx.step;
        for _ in 0..self.cfg.moves_per_step {
            self.play(step, &mut rng, device)?;
        }
        while self.replay.len() < self.cfg.batch {
            self.play(step, &mut rng, device)?;
        }
        let b = self.replay.sample(self.cfg.batch, &mut rng, device)?;
        let q = self.online.forward(&b.obs)?;
        let q_taken = q.gather(1, &b.action.unsqueeze(1), false).squeeze_dim(1);
        let target = tch::no_grad(|| -> Result<Tensor> {
            let next_target = self.target.forward(&b.next)?;
            let pick = if self.cfg.double { self.online.forward(&b.next)?.argmax(-1, true) } else { next_target.argmax(-1, true) };
            let value = next_target.gather(1, &pick, false).squeeze_dim(1);
            Ok(&b.reward + value * (1.0 - &b.done) * self.cfg.gamma)
        })?;
        let td = q_taken.smooth_l1_loss(&target, tch::Reduction::Mean, 1.0);
        let mut terms = vec![("td".to_string(), td.detach())];
        let weight = if step < self.cfg.imitation_steps { self.cfg.imitation_weight } else { self.cfg.imitation_weight_after };
        let total = if weight > 0.0 {
            let margin = large_margin(&q, &b.expert, IMITATION_MARGIN);
            terms.push(("imitation".into(), margin.detach()));
            td + margin * weight
        } else {
            td
        };
        let mut notes = serde_json::Map::new();
        notes.insert("epsilon".into(), self.cfg.epsilon_at(step).into());
        notes.insert("iou".into(), self.last_iou.into());
        let agree = q.argmax(-1, false).eq_tensor(&b.expert).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
        notes.insert("agrees_with_expert".into(), agree.into());
        Ok(StepLoss { total, terms, samples: self.cfg.batch as usize, notes })
    }

    fn after_step(&mut self, ctx: &StepContext) -> Result<()> {
        if (ctx.step + 1).is_multiple_of(self.cfg.target_every) {
            self.sync_target()?;
        }
        Ok(())
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut s = self.replay.state("replay.");
        for (name, t) in self.target_vs.variables() {
            s.push((format!("target.{name}"), t));
        }
        if let Some(ep) = &self.episode {
            s.push(("episode.box".into(), Tensor::from_slice(&ep.now.to_vec())));
            s.push(("episode.frames".into(), ep.frames.shallow_clone()));
            s.push(("episode.index".into(), Tensor::from_slice(&[ep.task as i64, ep.t as i64])));
        }
        s
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.replay.load_state(state, "replay.")?;
        tch::no_grad(|| -> Result<()> {
            for (name, mut t) in self.target_vs.variables() {
                let saved = state.get(&format!("target.{name}")).with_context(|| format!("the checkpoint lacks the target network's {name}"))?;
                t.f_copy_(saved)?;
            }
            Ok(())
        })?;
        self.episode = match (state.get("episode.box"), state.get("episode.frames"), state.get("episode.index")) {
            (Some(b), Some(f), Some(i)) => {
                let idx = Vec::<i64>::try_from(i)?;
                let task = idx.first().copied().unwrap_or(-1);
                if !(0..self.tasks.len() as i64).contains(&task) {
                    bail!("the checkpoint's episode is on task {task}, the run has {}", self.tasks.len());
                }
                Some(Episode {
                    task: task as usize,
                    now: BoxF::from_slice(&Vec::<f64>::try_from(b)?)?,
                    frames: f.copy(),
                    t: idx.get(1).copied().unwrap_or(0).max(0) as usize,
                })
            }
            _ => None,
        };
        Ok(())
    }

    fn exports(&self) -> Vec<Export> {
        vec![Export::new("qnet", "qnet")]
    }
}

impl BoxAgent {
    /// The target network takes the online network's weights now (after loading weights
    /// from elsewhere).
    pub fn sync_target_now(&mut self) -> Result<()> {
        self.sync_target()
    }

    /// The target network takes the online network's weights.
    fn sync_target(&mut self) -> Result<()> {
        tch::no_grad(|| -> Result<()> {
            for (name, mut t) in self.target_vs.variables() {
                let src = self.online_vars.get(&name).with_context(|| format!("the online network lacks {name}"))?;
                t.f_copy_(src)?;
            }
            Ok(())
        })
    }

    /// The online network (for localising after training).
    pub fn network(&self) -> &QNet {
        &self.online
    }
}

/// The margin by which the expert's action must beat every other in Q (DQfD's 0.8).
pub const IMITATION_MARGIN: f64 = 0.8;

/// DQfD's large-margin loss (arXiv 1704.03732): `max_a [Q(s, a) + m (a != a_E)] - Q(s, a_E)`,
/// averaged over the batch; zero once the expert's action leads every other by `m`. Unlike a
/// cross entropy on Q-values it leaves their scale to the temporal-difference loss.
pub fn large_margin(q: &Tensor, expert: &Tensor, margin: f64) -> Tensor {
    let others = expert.one_hot(q.size()[1]).to_kind(q.kind()).neg() * margin + margin;
    let best = (q + others).amax([-1].as_slice(), false);
    (best - q.gather(1, &expert.unsqueeze(1), false).squeeze_dim(1)).mean(q.kind())
}

/// What several agents found in one volume.
#[derive(Debug, Clone)]
pub struct Localisation {
    /// The median of the agents' final boxes.
    pub fused: BoxF,
    /// Each agent's final box.
    pub finals: Vec<BoxF>,
    /// Each agent's start box.
    pub starts: Vec<BoxF>,
}

/// Runs `agents` greedy episodes from starts around `prior` (seeded) on `volume` and fuses
/// their final boxes by the median.
pub fn localise(q: &QNet, volume: &Tensor, prior: &BoxF, cfg: &AgentConfig, agents: usize, seed: u64) -> Result<Localisation> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let ext = extent(volume);
    let (mut finals, mut starts) = (Vec::with_capacity(agents), Vec::with_capacity(agents));
    for _ in 0..agents.max(1) {
        let mut now = start_box(prior, cfg.start_jitter, &mut rng);
        starts.push(now);
        let f = observe(volume, &now, cfg.context, cfg.side)?;
        let mut frames = f.unsqueeze(0).repeat([cfg.history, 1, 1, 1]);
        for _ in 0..cfg.episode_steps {
            let a = tch::no_grad(|| q.forward(&frames.unsqueeze(0).to_kind(Kind::Float)))?.argmax(-1, false).int64_value(&[0]);
            now = now.step(a, cfg.alpha, ext);
            let f = observe(volume, &now, cfg.context, cfg.side)?;
            frames = Tensor::cat(&[frames.narrow(0, 1, cfg.history - 1), f.unsqueeze(0)], 0);
        }
        finals.push(now);
    }
    let fused = fuse_median(&finals).context("no agent ran")?;
    Ok(Localisation { fused, finals, starts })
}
