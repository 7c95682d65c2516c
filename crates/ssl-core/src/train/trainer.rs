//! The shared run: configuration, resume rule and settings diff, crash-safe checkpoints,
//! JSONL metrics, progress bar, and the NaN guard that keeps the last good checkpoint.
//! What happens inside a step is a [`StepLoop`]: the SSL loop
//! ([`Trainer::fit`]), the supervised fine-tuning loop ([`Trainer::fine_tune`]), or any
//! loop another crate writes (e.g. reinforcement learning, whose replay buffer and
//! exploration state are checkpointed through [`StepLoop::state`]).
use super::checkpoint::first_non_finite;
use super::{warmup_cosine, Checkpoint, CheckpointDir, CheckpointMeta, MetricsLog, Optimizer, OptimizerConfig, ParamGroup};
use crate::method::{Export, StepContext};
use crate::uota::UotaConfig;
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn, Device, Tensor};

/// Settings of the training loop (the `[train]` table of a config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct TrainConfig {
    /// Optimiser steps.
    pub steps: usize,
    /// Samples per micro-batch (the batch source must produce this many).
    pub batch_size: usize,
    /// Micro-batches whose gradients are summed before each step.
    pub accumulate: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Steps of linear learning-rate warm-up before the cosine decay.
    pub warmup_steps: usize,
    /// Final learning rate as a fraction of the peak.
    pub min_lr_ratio: f64,
    /// The optimiser (the `[train.optimizer]` table).
    pub optimizer: OptimizerConfig,
    /// Clip the global gradient norm to this value.
    pub clip_grad_norm: Option<f64>,
    /// Seed of the run; each step's random draws follow from it and the step.
    pub seed: u64,
    /// Write a checkpoint every this many steps (and at the end).
    pub checkpoint_every: usize,
    /// How many of the newest checkpoints to keep (older ones are deleted).
    pub keep_checkpoints: usize,
    /// Log metrics every this many steps.
    pub log_every: usize,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// UOTA view weighting (the SSL loop's view reduction).
    pub uota: UotaConfig,
    /// Per-prefix learning-rate scale, weight decay and freezing.
    pub param_groups: Vec<ParamGroup>,
}

impl TrainConfig {
    /// The same with `steps` optimiser steps of `batch_size` samples, peak learning rate
    /// `lr` reached after `warmup_steps` of linear warm-up.
    pub fn with_schedule(self, steps: usize, batch_size: usize, lr: f64, warmup_steps: usize) -> Self {
        Self { steps, batch_size, lr, warmup_steps, ..self }
    }

    /// The same with run seed `seed`.
    pub fn with_seed(self, seed: u64) -> Self {
        Self { seed, ..self }
    }

    /// The same with the optimiser `optimizer`.
    pub fn with_optimizer(self, optimizer: OptimizerConfig) -> Self {
        Self { optimizer, ..self }
    }

    /// The same, checkpointing every `checkpoint_every` steps.
    pub fn with_checkpoint_every(self, checkpoint_every: usize) -> Self {
        Self { checkpoint_every, ..self }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 500,
            batch_size: 256,
            accumulate: 1,
            lr: 0.3,
            warmup_steps: 50,
            min_lr_ratio: 0.0,
            optimizer: OptimizerConfig::default(),
            clip_grad_norm: None,
            seed: 0,
            checkpoint_every: 100,
            keep_checkpoints: 2,
            log_every: 10,
            progress: true,
            uota: UotaConfig::default(),
            param_groups: Vec::new(),
        }
    }
}

impl TrainConfig {
    /// Checks every setting against its valid range (also for configs read back from
    /// checkpoints), naming the key.
    pub fn validate(&self) -> Result<()> {
        if self.steps == 0 || self.batch_size < 2 || self.accumulate == 0 {
            bail!("train: steps and accumulate must be at least 1 and batch_size at least 2 (got {}, {}, {})", self.steps, self.accumulate, self.batch_size);
        }
        if self.steps > 100_000_000 || self.batch_size > 1_000_000 || self.accumulate > 10_000 {
            bail!(
                "train: steps (at most 1e8), batch_size (at most 1e6) or accumulate (at most 1e4) is out of range (got {}, {}, {})",
                self.steps,
                self.batch_size,
                self.accumulate
            );
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            bail!("train.lr must be a positive finite number, got {}", self.lr);
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio) {
            bail!("train.min_lr_ratio must be in [0, 1] (a fraction of the peak learning rate), got {}", self.min_lr_ratio);
        }
        if self.checkpoint_every == 0 || self.log_every == 0 || self.keep_checkpoints == 0 {
            bail!("train: checkpoint_every, log_every and keep_checkpoints must be at least 1");
        }
        if let Some(c) = self.clip_grad_norm {
            if !(c > 0.0 && c.is_finite()) {
                bail!("train.clip_grad_norm must be a positive finite number, got {c}");
            }
        }
        self.optimizer.validate()?;
        for g in &self.param_groups {
            g.validate()?;
        }
        self.uota.validate()
    }
}

/// What a finished run reports.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct TrainSummary {
    /// Optimiser steps of the run (`train.steps`).
    pub steps: usize,
    /// Step the run resumed from (`None` for a fresh start).
    pub resumed_from: Option<usize>,
    /// Loss of the last step (the last logged loss when the run had already finished).
    pub final_loss: f64,
    /// Loss of the first step trained by this call (the first logged loss when already finished).
    pub first_loss: Option<f64>,
    /// Wall-clock seconds of the step loop (0 when already finished).
    pub seconds: f64,
    /// Samples trained per second over `seconds`.
    pub samples_per_second: f64,
    /// Folder of the run's last checkpoint.
    pub checkpoint: PathBuf,
    /// The run had already finished: nothing was trained (the losses come from its log).
    pub already_finished: bool,
}

/// Whether (and from which checkpoint) a run continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Start a new run; refuse a folder that already holds checkpoints.
    No,
    /// Continue from the newest checkpoint; refuse when it fails verification.
    Latest,
    /// Continue from the newest checkpoint that passes verification, setting newer
    /// corrupt ones aside.
    NewestIntact,
}

impl From<bool> for Resume {
    fn from(resume: bool) -> Self {
        if resume {
            Resume::Latest
        } else {
            Resume::No
        }
    }
}

impl Resume {
    /// The mode chosen by a CLI's `--resume` and `--resume-intact` flags.
    pub fn from_flags(resume: bool, intact: bool) -> Self {
        match (resume, intact) {
            (_, true) => Resume::NewestIntact,
            (true, false) => Resume::Latest,
            (false, false) => Resume::No,
        }
    }

    /// Whether the run continues from a checkpoint (anything but [`Resume::No`]).
    pub fn is_resume(self) -> bool {
        self != Resume::No
    }
}

/// What one micro-batch of a loop returns.
pub struct StepLoss {
    /// The loss to back-propagate (main loss plus every term).
    pub total: Tensor,
    /// Named parts of the total, logged as `loss/<name>` (e.g. `main` and a regulariser).
    pub terms: Vec<(String, Tensor)>,
    /// Samples in the micro-batch (for the throughput).
    pub samples: usize,
    /// Extra values for the metrics line (e.g. whether UOTA weighted this step).
    pub notes: serde_json::Map<String, serde_json::Value>,
}

/// The inside of a training step, run by [`Trainer::run`]; the run owns the optimiser,
/// the schedule, gradient accumulation, clipping, checkpoints, metrics and the NaN guard.
pub trait StepLoop {
    /// Name recorded in checkpoints: a resume must continue the same loop and model.
    fn name(&self) -> &str;

    /// (Re)starts the data at global micro-batch `index`.
    fn start(&mut self, index: u64) -> Result<()>;

    /// The loss of one micro-batch, on `device`.
    fn micro_step(&mut self, ctx: &StepContext, device: Device) -> Result<StepLoss>;

    /// Called after each optimiser step (momentum updates, queues, target networks).
    fn after_step(&mut self, _ctx: &StepContext) -> Result<()> {
        Ok(())
    }

    /// Metrics computed at log steps besides the loss (e.g. validation accuracy).
    fn log_extra(&mut self, _steps_done: usize) -> Result<Vec<(String, f64)>> {
        Ok(Vec::new())
    }

    /// State beside the trainable variables that a resume needs (queues, EMA copies,
    /// replay buffers, exploration schedules).
    fn state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Restores the entries written by [`StepLoop::state`].
    fn load_state(&mut self, _state: &HashMap<String, Tensor>) -> Result<()> {
        Ok(())
    }

    /// Encoders exported with each checkpoint.
    fn exports(&self) -> Vec<Export>;

    /// Parameter groups the loop asks for, after those of the config (which win).
    fn param_groups(&self) -> Vec<ParamGroup> {
        Vec::new()
    }
}

/// Runs a [`StepLoop`] under one configuration, with checkpoints under `out/checkpoints`.
pub struct Trainer {
    /// The training settings.
    pub cfg: TrainConfig,
    /// The output folder: `checkpoints/` and `metrics.jsonl` go here.
    pub out: PathBuf,
    /// The effective configuration of the whole run, stored in every checkpoint.
    pub run_config: serde_json::Value,
    /// JSON pointers (e.g. `/device`) of settings that may differ when resuming; any other
    /// difference from the checkpoint's configuration would break exact resumption.
    pub resume_may_change: Vec<String>,
    /// Device the micro-batches run on.
    pub device: Device,
    /// SHA-256 of the training data's content (see [`Trainer::with_data_fingerprint`]).
    pub data_fingerprint: Option<String>,
    /// The thread count was chosen automatically: a resume takes the checkpoint's count
    /// instead of refusing a different one.
    pub auto_threads: bool,
}

/// The JSON pointers at which `old` and `new` differ, outside `ignore`.
pub fn config_differences(old: &serde_json::Value, new: &serde_json::Value, ignore: &[String]) -> Vec<String> {
    fn walk(path: String, a: &serde_json::Value, b: &serde_json::Value, ignore: &[String], out: &mut Vec<String>) {
        if ignore.contains(&path) {
            return;
        }
        match (a, b) {
            (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let null = serde_json::Value::Null;
                    walk(format!("{path}/{k}"), x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null), ignore, out);
                }
            }
            _ if a != b => out.push(format!("{path}: {a} in the checkpoint, {b} now")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(String::new(), old, new, ignore, &mut out);
    out
}

/// The seed of the torch generator at `step` (see [`crate::seed`]).
pub fn step_seed(seed: u64, step: usize) -> u64 {
    crate::seed::mix(&[seed, crate::seed::tag::STEP, step as u64])
}

impl Trainer {
    /// A trainer whose whole configuration `run_config` is stored in every checkpoint;
    /// resuming may change only the settings at `resume_may_change`.
    pub fn new(cfg: TrainConfig, out: PathBuf, run_config: serde_json::Value, resume_may_change: Vec<String>, device: Device) -> Self {
        Self { cfg, out, run_config, resume_may_change, device, data_fingerprint: None, auto_threads: false }
    }

    /// A trainer for a command run whose whole configuration `run_config` is stored in every
    /// checkpoint; resuming may change only [`crate::config::RESUME_MAY_CHANGE`].
    pub fn for_run(cfg: TrainConfig, out: PathBuf, run_config: &impl Serialize, device: Device) -> Result<Self> {
        let may_change = crate::config::RESUME_MAY_CHANGE.iter().map(|s| s.to_string()).collect();
        Ok(Self::new(cfg, out, serde_json::to_value(run_config)?, may_change, device))
    }

    /// Records the content hash of the training data: a resume then checks the data's
    /// content instead of its path (`/data` may change, the bytes may not).
    pub fn with_data_fingerprint(mut self, fingerprint: String) -> Self {
        self.data_fingerprint = Some(fingerprint);
        if !self.resume_may_change.iter().any(|p| p == "/data") {
            self.resume_may_change.push("/data".into());
        }
        self
    }

    /// Marks the libtorch thread count as chosen automatically (`threads = 0`): a resumed
    /// run then continues with the count its checkpoint was written with.
    pub fn with_auto_threads(mut self, auto: bool) -> Self {
        self.auto_threads = auto;
        self
    }

    /// The run's checkpoint folder, `out/checkpoints`, keeping `keep_checkpoints` of them.
    pub fn checkpoints(&self) -> CheckpointDir {
        CheckpointDir::new(self.out.join("checkpoints"), self.cfg.keep_checkpoints)
    }

    /// Finds the checkpoint a run continues from, or refuses to start over an existing run.
    fn starting_checkpoint(&self, ckpts: &CheckpointDir, resume: Resume) -> Result<Option<Checkpoint>> {
        match resume {
            Resume::No => match ckpts.latest_path()? {
                Some(dir) => {
                    bail!("{} already holds a run ({}); pass --resume to continue it or choose another output folder", self.out.display(), dir.display())
                }
                None => Ok(None),
            },
            Resume::Latest => {
                let Some(dir) = ckpts.latest_path()? else { return Ok(None) };
                match Checkpoint::load(&dir) {
                    Ok(ck) => Ok(Some(ck)),
                    Err(e) => {
                        let offer = match ckpts.newest_intact() {
                            Ok((Some(ck), _)) => format!(
                                "the newest intact checkpoint is {} (step {}): pass --resume-intact to continue from it",
                                ck.dir.display(),
                                ck.meta.step
                            ),
                            _ => "no older checkpoint is intact".to_string(),
                        };
                        Err(e.context(format!("cannot resume {}: its newest checkpoint {} failed verification; {offer}", self.out.display(), dir.display())))
                    }
                }
            }
            Resume::NewestIntact => {
                let (ck, bad) = ckpts.newest_intact()?;
                for b in &bad {
                    let aside = ckpts.set_aside(&b.dir)?;
                    eprintln!("note: {} failed verification ({}); moved to {}", b.dir.display(), b.reason, aside.display());
                }
                if ck.is_none() && !bad.is_empty() {
                    bail!("cannot resume {}: no checkpoint passed verification", self.out.display());
                }
                Ok(ck)
            }
        }
    }

    /// Checks that `ck` continues this very run: same loop, settings, data and thread
    /// count.
    fn check_resumable(&self, ck: &Checkpoint, name: &str) -> Result<()> {
        if ck.meta.method != name {
            bail!("{} holds a '{}' run, not '{}'", ck.dir.display(), ck.meta.method, name);
        }
        let diff = config_differences(&ck.meta.config, &self.run_config, &self.resume_may_change);
        if !diff.is_empty() {
            bail!(
                "cannot resume {}: the settings differ from the checkpoint's, so the run would not continue exactly ({}). Resume with the run's config.toml or choose another output folder",
                self.out.display(),
                diff.join("; ")
            );
        }
        if let (Some(old), Some(new)) = (&ck.meta.data_fingerprint, &self.data_fingerprint) {
            if old != new {
                bail!(
                    "cannot resume {}: the training data differ in content from the data the run was trained on (SHA-256 {old} in the checkpoint, {new} now)",
                    self.out.display()
                );
            }
        }
        let threads = tch::get_num_threads().max(0) as usize;
        if ck.meta.threads != 0 && ck.meta.threads != threads && self.auto_threads {
            eprintln!("note: continuing with the {} libtorch threads the run was trained with (results depend on the count)", ck.meta.threads);
            tch::set_num_threads(ck.meta.threads as i32);
        } else if ck.meta.threads != 0 && ck.meta.threads != threads {
            bail!(
                "cannot resume {}: the run was trained with {} libtorch threads and this process uses {threads}; results depend on the thread count, so pass --threads {} to continue it exactly",
                self.out.display(),
                ck.meta.threads,
                ck.meta.threads
            );
        }
        Ok(())
    }

    /// Runs `step_loop` (whose trainable variables live in `vs`) for `cfg.steps` optimiser
    /// steps. With `resume`, continues from a checkpoint under `out`; without it, refuses
    /// to overwrite one.
    pub fn run(&self, vs: &nn::VarStore, step_loop: &mut dyn StepLoop, resume: impl Into<Resume>) -> Result<TrainSummary> {
        let resume = resume.into();
        self.cfg.validate()?;
        let ckpts = self.checkpoints();
        let groups: Vec<ParamGroup> = self.cfg.param_groups.iter().cloned().chain(step_loop.param_groups()).collect();
        let mut optimizer = Optimizer::with_groups(self.cfg.optimizer.clone(), vs.variables(), &groups)?;
        let mut start = 0;
        let mut last_good: Option<PathBuf> = None;
        let from = self.starting_checkpoint(&ckpts, resume)?;
        if resume.is_resume() && from.is_none() {
            eprintln!("no checkpoint under {}: starting from scratch", ckpts.root().display());
        }
        std::fs::create_dir_all(&self.out).with_context(|| format!("cannot create output folder {}", self.out.display()))?;
        if let Some(ck) = from {
            self.check_resumable(&ck, step_loop.name())?;
            let cannot = || format!("cannot resume from {}", ck.dir.display());
            crate::method::restore_named("model", &vs.variables(), &ck.section("model")).with_context(cannot)?;
            step_loop.load_state(&ck.section("method")).with_context(cannot)?;
            optimizer.load_state(&ck.section("optim")).with_context(cannot)?;
            start = ck.meta.step;
            if start >= self.cfg.steps {
                return self.finished(&ck);
            }
            last_good = Some(ck.dir.clone());
            eprintln!("resuming from {} (step {start} of {})", ck.dir.display(), self.cfg.steps);
        }
        let mut metrics = MetricsLog::open(&self.out.join("metrics.jsonl"), resume.is_resume().then_some(start))?;
        step_loop.start((start * self.cfg.accumulate) as u64)?;

        let bar = self.progress_bar(start);
        let t0 = Instant::now();
        let mut samples = 0usize;
        let mut final_loss = f64::NAN;
        let mut first_loss = None;
        let mut checkpoint = last_good.clone().unwrap_or_default();
        for step in start..self.cfg.steps {
            let seed = step_seed(self.cfg.seed, step);
            tch::manual_seed(seed as i64);
            let mut ctx = StepContext { step, total_steps: self.cfg.steps, micro: 0, seed };
            let lr = warmup_cosine(self.cfg.lr, step, self.cfg.steps, self.cfg.warmup_steps, self.cfg.min_lr_ratio);
            optimizer.zero_grad();
            let mut loss_sum = 0.0;
            let mut term_sums: Vec<(String, f64)> = Vec::new();
            let mut notes = serde_json::Map::new();
            for micro in 0..self.cfg.accumulate {
                ctx.micro = micro;
                let out = step_loop.micro_step(&ctx, self.device)?;
                samples += out.samples;
                let value = out.total.double_value(&[]);
                if !value.is_finite() {
                    return Err(self.non_finite(&format!("loss became {value}"), step, lr, &last_good));
                }
                let share = 1.0 / self.cfg.accumulate as f64;
                for (name, t) in &out.terms {
                    super::metrics::add_named(&mut term_sums, name, t.double_value(&[]) * share);
                }
                notes.extend(out.notes);
                (out.total * share).f_backward().context("backward pass failed")?;
                loss_sum += value * share;
            }
            let grad_norm = optimizer.clip_grad_norm(self.cfg.clip_grad_norm);
            if !grad_norm.is_finite() {
                return Err(self.non_finite(&format!("gradient norm became {grad_norm}"), step, lr, &last_good));
            }
            optimizer.step(lr);
            step_loop.after_step(&ctx)?;
            final_loss = loss_sum;
            first_loss.get_or_insert(loss_sum);
            let done = step + 1;
            let rate = samples as f64 / t0.elapsed().as_secs_f64().max(1e-9);
            bar.set_position(done as u64);
            bar.set_message(format!("loss {loss_sum:.4}  lr {lr:.4}  {rate:.0} samples/s"));
            if done % self.cfg.log_every == 0 || done == self.cfg.steps || step == start {
                let mut record = serde_json::json!({
                    "step": done, "loss": loss_sum, "lr": lr, "grad_norm": grad_norm,
                    "samples_per_second": rate, "elapsed_s": t0.elapsed().as_secs_f64(),
                });
                let obj = record.as_object_mut().expect("a JSON object");
                for (name, v) in term_sums {
                    obj.insert(format!("loss/{name}"), v.into());
                }
                for (name, v) in step_loop.log_extra(done)? {
                    obj.insert(name, v.into());
                }
                obj.extend(notes);
                metrics.log(&record)?;
            }
            if done % self.cfg.checkpoint_every == 0 || done == self.cfg.steps {
                checkpoint = self.save(&ckpts, vs, step_loop, &optimizer, done).map_err(|e| match e.downcast::<NonFinite>() {
                    Ok(NonFinite(name)) => self.non_finite(&format!("saved tensor '{name}' became non-finite"), step, lr, &last_good),
                    Err(e) => e,
                })?;
                last_good = Some(checkpoint.clone());
            }
        }
        bar.finish_and_clear();
        let seconds = t0.elapsed().as_secs_f64();
        Ok(TrainSummary {
            steps: self.cfg.steps,
            resumed_from: (start > 0).then_some(start),
            final_loss,
            first_loss,
            seconds,
            samples_per_second: samples as f64 / seconds.max(1e-9),
            checkpoint,
            already_finished: false,
        })
    }

    /// The summary of a run resumed after its last step: nothing to train.
    fn finished(&self, ck: &Checkpoint) -> Result<TrainSummary> {
        eprintln!("{} is already finished (step {} of {}); nothing to train", self.out.display(), ck.meta.step, self.cfg.steps);
        let losses = MetricsLog::read_losses(&self.out.join("metrics.jsonl")).unwrap_or_default();
        Ok(TrainSummary {
            steps: self.cfg.steps,
            resumed_from: Some(ck.meta.step),
            final_loss: losses.last().map(|l| l.1).unwrap_or(f64::NAN),
            first_loss: losses.first().map(|l| l.1),
            seconds: 0.0,
            samples_per_second: 0.0,
            checkpoint: ck.dir.clone(),
            already_finished: true,
        })
    }

    fn non_finite(&self, what: &str, step: usize, lr: f64, last_good: &Option<PathBuf>) -> anyhow::Error {
        let keep = match last_good {
            Some(dir) => format!("the last good checkpoint is {} and was kept", dir.display()),
            None => "no checkpoint had been written yet".to_string(),
        };
        anyhow::anyhow!(
            "training stopped: the {what} at step {} (lr {lr:.4}); {keep}. Lower the learning rate, set clip_grad_norm, or check the input data for NaNs",
            step + 1
        )
    }

    fn save(&self, ckpts: &CheckpointDir, vs: &nn::VarStore, step_loop: &dyn StepLoop, optimizer: &Optimizer, step: usize) -> Result<PathBuf> {
        let mut tensors: Vec<(String, Tensor)> = vs.variables().into_iter().map(|(k, v)| (format!("model/{k}"), v)).collect();
        tensors.extend(step_loop.state().into_iter().map(|(k, v)| (format!("method/{k}"), v)));
        tensors.extend(optimizer.state().into_iter().map(|(k, v)| (format!("optim/{k}"), v)));
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        // "Last good" means every saved tensor is finite, buffers and state included.
        if let Some(name) = first_non_finite(tensors.iter().map(|(k, v)| (k, v))) {
            return Err(NonFinite(name).into());
        }
        let exports = super::transfer::export_tensors(vs, &step_loop.exports())?;
        let names: Vec<String> = exports.iter().map(|(name, _)| format!("{name}.safetensors")).collect();
        let files: Vec<(&str, Vec<(String, Tensor)>)> = names.iter().map(String::as_str).zip(exports.into_iter().map(|(_, t)| t)).collect();
        let meta = CheckpointMeta {
            step,
            seed: self.cfg.seed,
            method: step_loop.name().to_string(),
            config: self.run_config.clone(),
            threads: tch::get_num_threads().max(0) as usize,
            data_fingerprint: self.data_fingerprint.clone(),
            checksums: Default::default(),
        };
        ckpts.save(&meta, &tensors, &files)
    }

    fn progress_bar(&self, start: usize) -> ProgressBar {
        if !self.cfg.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(self.cfg.steps as u64);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg} (eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_position(start as u64);
        bar
    }
}

/// A tensor that was about to be checkpointed holds NaN or infinity.
#[derive(Debug)]
struct NonFinite(String);

impl std::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tensor '{}' holds NaN or infinity", self.0)
    }
}

impl std::error::Error for NonFinite {}

/// Loads the trained weights of the newest checkpoint under `out` into `vs`, refusing a
/// checkpoint that fails verification or holds non-finite weights.
pub fn load_latest_weights(out: &Path, vs: &nn::VarStore) -> Result<Checkpoint> {
    let ck =
        CheckpointDir::new(out.join("checkpoints"), 1).latest()?.with_context(|| format!("no checkpoint found under {}", out.join("checkpoints").display()))?;
    let model = ck.section("model");
    if let Some(name) = first_non_finite(model.iter()) {
        bail!("{}: weight '{name}' holds NaN or infinity; this checkpoint cannot be evaluated", ck.dir.display());
    }
    crate::method::restore_named("model", &vs.variables(), &model)?;
    Ok(ck)
}
