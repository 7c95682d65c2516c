//! The seams of ssl-core are open to other crates: this crate registers a method and a
//! backbone of its own, trains them through the shared run, survives a SIGKILL with an
//! exact resume (parameter groups included), exports its encoder by name, and runs a loop
//! of its own whose extra state (a replay buffer, an exploration rate) is checkpointed.
use anyhow::Result;
use serde::{Deserialize, Serialize};
use ssl_core::blocks::{Backbone, BackboneConfig, Mlp, MlpConfig, MomentumSchedule, MomentumTarget, MomentumUpdate, Online};
use ssl_core::registry::BackboneSpec;
use ssl_core::train::{ParamGroup, StepLoop, StepLoss, TrainConfig, Trainer};
use ssl_core::views::{per_view_from_pairs, view_embeddings};
use ssl_core::{Batch, BatchSource, BuildContext, Export, Method, MethodConfig, MethodLoss, MethodOptions, MethodSpec, Registry, StepContext};
use ssl_e2e_tests::temp_dir;
use std::collections::HashMap;
use tch::{nn, Device, Kind, Tensor};

/// A 1-D signal encoder: `[N, L] -> [N, width]`.
#[derive(Debug)]
struct SignalNet {
    l1: nn::Linear,
    l2: nn::Linear,
    width: i64,
}

impl Backbone for SignalNet {
    fn forward_t(&self, xs: &Tensor, _train: bool) -> Tensor {
        xs.apply(&self.l1).relu().apply(&self.l2)
    }
    fn out_dim(&self) -> i64 {
        self.width
    }
}

fn signal_net(p: &nn::Path, c: &BackboneConfig) -> Result<Box<dyn Backbone>> {
    let (l1, l2) = (nn::linear(p / "l1", c.in_channels, 2 * c.width, Default::default()), nn::linear(p / "l2", 2 * c.width, c.width, Default::default()));
    Ok(Box::new(SignalNet { l1, l2, width: c.width }))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct SignalByolOptions {
    momentum: f64,
}

impl Default for SignalByolOptions {
    fn default() -> Self {
        Self { momentum: 0.9 }
    }
}

impl MethodOptions for SignalByolOptions {}

/// BYOL on signals, written from ssl-core's public pieces only.
struct SignalByol {
    online: Online,
    predictor: Mlp,
    target: MomentumTarget<Online>,
}

fn build_signal_byol(ctx: &BuildContext, o: SignalByolOptions) -> Result<Box<dyn Method>> {
    let (h, d) = (ctx.model.projector_hidden, ctx.model.projector_dim);
    let projector = MlpConfig::projector2(h, d);
    let online = ctx.online(projector)?;
    let predictor = ctx.mlp("predictor", d, MlpConfig::predictor(h, d));
    let target = ctx.momentum_online(projector, MomentumSchedule::Cosine(o.momentum))?;
    Ok(Box::new(SignalByol { online, predictor, target }))
}

impl Method for SignalByol {
    fn name(&self) -> &'static str {
        "signal-byol"
    }
    fn loss(&mut self, batch: &Batch, _ctx: &StepContext) -> Result<MethodLoss> {
        let (views, g) = (batch.views_at_least("signal-byol", 2)?, batch.global_views());
        let z = self.online.project_views(views)?;
        let p: Vec<_> = z.iter().map(|z| self.predictor.forward_t(z, true)).collect();
        let t = self.target.forward(|net| net.project_views(&views[..g]))?;
        let byol = |p: &Tensor, t: &Tensor| ssl_core::objectives::byol_per_sample(p, t);
        let losses = per_view_from_pairs(views.len(), g, |a, b| Ok([Some(byol(&p[a], &t[b])?), Some(byol(&p[b], &t[a])?)]))?;
        Ok(MethodLoss::per_view(losses, view_embeddings(&z)))
    }
    fn backbone(&self) -> &dyn Backbone {
        self.online.backbone.as_ref()
    }
    fn exports(&self) -> Vec<Export> {
        vec![Export::new("signal-encoder", "backbone")]
    }
    fn momentum_target(&self) -> Option<&dyn MomentumUpdate> {
        Some(&self.target)
    }
}

fn registry() -> Registry {
    let mut r = Registry::core();
    r.register_backbone(BackboneSpec { name: "signal-net", summary: "two linear layers over a 1-D signal", min_input: 1, build: signal_net }).unwrap();
    r.register_method(MethodSpec::new("signal-byol", "BYOL on 1-D signals", true, build_signal_byol)).unwrap();
    r
}

fn model_config() -> MethodConfig {
    let backbone = BackboneConfig::new("signal-net", 12).with_shape(8, 3).with_small_image_stem(false);
    MethodConfig::default().with_backbone(backbone).with_heads(16, 8, 16).with_option("momentum", 0.95)
}

/// Two noisy views of sine waves of a few frequencies; batch `i` depends on `i` only.
/// With `hang_at`, the stream blocks forever at that batch (to be killed there).
struct Signals {
    next: u64,
    hang_at: Option<u64>,
    fail_at: Option<u64>,
}

impl Signals {
    fn new(hang_at: Option<u64>) -> Self {
        Self { next: 0, hang_at, fail_at: None }
    }
}

impl BatchSource for Signals {
    fn start(&mut self, index: u64) -> Result<()> {
        self.next = index;
        Ok(())
    }
    fn next_batch(&mut self) -> Result<Batch> {
        let i = self.next;
        self.next += 1;
        if Some(i) == self.hang_at {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
        if Some(i) == self.fail_at {
            anyhow::bail!("simulated crash at batch {i}");
        }
        let mut s = (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut draw = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 10_000) as f32 / 10_000.0
        };
        let (n, l) = (16usize, 12usize);
        let mut views = vec![Vec::with_capacity(n * l), Vec::with_capacity(n * l)];
        for k in 0..n {
            let freq = 1.0 + (k % 4) as f32;
            for v in &mut views {
                let phase = draw();
                v.extend((0..l).map(|t| (freq * t as f32 / l as f32 * std::f32::consts::TAU + phase).sin() + 0.1 * (draw() - 0.5)));
            }
        }
        let labels: Vec<i64> = (0..n as i64).map(|k| k % 4).collect();
        Batch::from_views(views.into_iter().map(|v| Tensor::from_slice(&v).view([n as i64, l as i64])).collect())?
            .with(ssl_core::data::LABELS, Tensor::from_slice(&labels))
    }
}

fn train_config() -> TrainConfig {
    let mut cfg = TrainConfig::default()
        .with_schedule(8, 16, 0.01, 1)
        .with_checkpoint_every(4)
        .with_seed(11)
        .with_optimizer(ssl_core::train::OptimizerConfig::new(ssl_core::train::OptimizerKind::Adamw));
    (cfg.log_every, cfg.progress) = (1, false);
    cfg.param_groups = vec![ParamGroup::new("predictor.").with_lr_scale(5.0), ParamGroup::new("backbone.").with_freeze_steps(2)];
    cfg
}

/// Builds the method and trains it into `out` (resuming when asked).
fn train(out: &std::path::Path, data: &mut Signals, resume: bool) -> Result<(nn::VarStore, Box<dyn Method>, ssl_core::train::TrainSummary)> {
    tch::set_num_threads(1);
    tch::manual_seed(3);
    let vs = nn::VarStore::new(Device::Cpu);
    let mut method = registry().build_method("signal-byol", &vs, &model_config())?;
    let cfg = train_config();
    let run_config = serde_json::json!({ "model": serde_json::to_value(model_config())?, "train": serde_json::to_value(&cfg)? });
    let trainer = Trainer::new(cfg, out.to_path_buf(), run_config, vec![], Device::Cpu);
    let s = trainer.fit(&vs, method.as_mut(), data, resume)?;
    Ok((vs, method, s))
}

const CHILD: &str = "SSL_E2E_SEAMS_CHILD_OUT";

/// Runs the test `test` again in a child process with `CHILD` set to `out`, waits until
/// its checkpoint of `step` is the newest, and kills it with SIGKILL.
fn kill_child_after_checkpoint(test: &str, out: &std::path::Path, extra_env: &[(&str, &std::path::Path)], step: usize) {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture"]).env(CHILD, out).stdout(std::process::Stdio::null());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let latest = out.join("checkpoints/latest");
    let want = format!("step-{step:08}");
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(&latest).map(|s| !s.contains(&want)).unwrap_or(true) {
        assert!(t0.elapsed().as_secs() < 120, "the child wrote no checkpoint of step {step}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[test]
fn a_method_and_backbone_from_another_crate_train_resume_after_sigkill_and_export_by_name() {
    if let Ok(out) = std::env::var(CHILD) {
        // The child: train until batch 5 (inside step 6, after the step-4 checkpoint) and hang there.
        let _ = train(std::path::Path::new(&out), &mut Signals::new(Some(5)), false);
        return;
    }
    let listing = registry().listing();
    assert!(listing.contains("signal-byol") && listing.contains("momentum = 0.9") && listing.contains("signal-net"), "{listing}");
    let dir = temp_dir("open-seams");
    let killed = dir.join("killed");
    kill_child_after_checkpoint("a_method_and_backbone_from_another_crate_train_resume_after_sigkill_and_export_by_name", &killed, &[], 4);
    let (vs_resumed, m_resumed, s) = train(&killed, &mut Signals::new(None), true).unwrap();
    assert_eq!(s.resumed_from, Some(4));
    let straight = dir.join("straight");
    let (vs_straight, m_straight, s2) = train(&straight, &mut Signals::new(None), false).unwrap();
    let (a, b) = (vs_straight.variables(), vs_resumed.variables());
    for (name, t) in &a {
        assert!(t.equal(&b[name]), "{name} differs between the straight and the killed-and-resumed run");
    }
    let (sa, sb): (HashMap<String, Tensor>, HashMap<String, Tensor>) = (m_straight.state().into_iter().collect(), m_resumed.state().into_iter().collect());
    assert!(!sa.is_empty() && sa.len() == sb.len());
    for (name, t) in &sa {
        assert!(t.equal(&sb[name]), "momentum state {name} differs after the resume");
    }
    // Exported by the method's own name, with the prefix stripped.
    let exported: HashMap<String, Tensor> = Tensor::read_safetensors(s2.checkpoint.join("signal-encoder.safetensors")).unwrap().into_iter().collect();
    let mut names: Vec<&String> = exported.keys().collect();
    names.sort();
    assert_eq!(names, ["l1.bias", "l1.weight", "l2.bias", "l2.weight"]);
    assert!(exported["l2.weight"].equal(&a["backbone.l2.weight"]));
    std::fs::remove_dir_all(&dir).ok();
}

/// A loop of another kind on the shared run: a linear value estimate fitted to replayed
/// rewards with an exploration rate that decays per step. Its replay buffer and rate are
/// extra state that a resume must restore.
struct ReplayLoop {
    w: Tensor,
    replay: Tensor,
    epsilon: f64,
    fail_at: Option<usize>,
}

impl StepLoop for ReplayLoop {
    fn name(&self) -> &str {
        "replay-toy"
    }
    fn start(&mut self, _index: u64) -> Result<()> {
        Ok(())
    }
    fn micro_step(&mut self, ctx: &StepContext, _device: Device) -> Result<StepLoss> {
        if Some(ctx.step) == self.fail_at {
            anyhow::bail!("simulated crash at step {}", ctx.step);
        }
        // Explore: a new transition enters the buffer (drawn from the step's seed).
        let mut rng = ctx.rng();
        let x: f32 = rand::Rng::random(&mut rng);
        let reward = if rand::Rng::random::<f64>(&mut rng) < self.epsilon { 0.0 } else { 2.0 * x };
        let row = Tensor::from_slice(&[x, reward]).view([1, 2]);
        self.replay = Tensor::cat(&[self.replay.narrow(0, 1, self.replay.size()[0] - 1), row], 0);
        let (xs, ys) = (self.replay.select(1, 0), self.replay.select(1, 1));
        let loss = (&self.w * xs - ys).square().mean(Kind::Float);
        Ok(StepLoss { total: loss, terms: Vec::new(), samples: 1, notes: Default::default() })
    }
    fn after_step(&mut self, _ctx: &StepContext) -> Result<()> {
        self.epsilon *= 0.9;
        Ok(())
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        vec![("replay".into(), self.replay.shallow_clone()), ("epsilon".into(), Tensor::from(self.epsilon))]
    }
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.replay = state.get("replay").ok_or_else(|| anyhow::anyhow!("no replay buffer"))?.copy();
        self.epsilon = state.get("epsilon").ok_or_else(|| anyhow::anyhow!("no epsilon"))?.double_value(&[]);
        Ok(())
    }
    fn exports(&self) -> Vec<Export> {
        vec![Export::new("value", "value")]
    }
}

#[test]
fn a_loop_of_its_own_checkpoints_its_extra_state_and_resumes_exactly() {
    let dir = temp_dir("replay-loop");
    let run = |out: &std::path::Path, fail_at: Option<usize>| {
        let make = |fail_at| {
            let vs = nn::VarStore::new(Device::Cpu);
            let w = (vs.root() / "value").f_zeros("w", &[1]).unwrap();
            (vs, ReplayLoop { w, replay: Tensor::zeros([8, 2], (Kind::Float, Device::Cpu)), epsilon: 0.5, fail_at })
        };
        let mut cfg = TrainConfig::default().with_schedule(10, 2, 0.1, 0).with_checkpoint_every(4);
        (cfg.log_every, cfg.progress) = (1, false);
        let trainer = Trainer::new(cfg, out.to_path_buf(), serde_json::json!({}), vec![], Device::Cpu);
        let (vs, mut l) = make(fail_at);
        if fail_at.is_some() {
            assert!(trainer.run(&vs, &mut l, false).is_err());
            let (vs, mut l) = make(None);
            assert_eq!(trainer.run(&vs, &mut l, true).unwrap().resumed_from, Some(4));
            return (vs.variables()["value.w"].copy(), l.replay, l.epsilon);
        }
        trainer.run(&vs, &mut l, false).unwrap();
        (vs.variables()["value.w"].copy(), l.replay, l.epsilon)
    };
    let (w1, r1, e1) = run(&dir.join("straight"), None);
    let (w2, r2, e2) = run(&dir.join("resumed"), Some(6));
    assert!(w1.equal(&w2) && r1.equal(&r2) && e1 == e2, "the resumed loop differs: {w1} vs {w2}, epsilon {e1} vs {e2}");
    assert!(w1.double_value(&[0]) > 0.1, "the value estimate learned something");
    std::fs::remove_dir_all(&dir).ok();
}

const PRETRAINED: &str = "SSL_E2E_SEAMS_PRETRAINED";

/// Fine-tunes a classifier over the pre-trained signal encoder in `pre` into `out`: the
/// encoder frozen for two steps, then at a tenth of the rate.
fn fine_tune(pre: &std::path::Path, out: &std::path::Path, hang_at: Option<u64>, resume: bool) -> Result<nn::VarStore> {
    tch::set_num_threads(1);
    tch::manual_seed(9);
    let vs = nn::VarStore::new(Device::Cpu);
    let mut model = ssl_core::train::Classifier::new(&vs, &registry(), &model_config().backbone, 4)?;
    ssl_core::train::load_encoder(pre, "signal-encoder", &vs, "encoder.")?;
    let mut cfg = train_config();
    cfg.param_groups = vec![ParamGroup::new("encoder.").with_lr_scale(0.1).with_freeze_steps(2)];
    let trainer = Trainer::new(cfg.clone(), out.to_path_buf(), serde_json::to_value(&cfg)?, vec![], Device::Cpu);
    let (mut train, mut val) = (Signals::new(hang_at), Signals::new(None));
    trainer.fine_tune(&vs, &mut ssl_core::train::FineTune::new(&mut model, &mut train).with_validation(&mut val, 1), resume)?;
    Ok(vs)
}

#[test]
fn fine_tuning_an_encoder_from_another_crate_resumes_exactly_after_sigkill() {
    if let (Ok(out), Ok(pre)) = (std::env::var(CHILD), std::env::var(PRETRAINED)) {
        let _ = fine_tune(std::path::Path::new(&pre), std::path::Path::new(&out), Some(5), false);
        return;
    }
    let dir = temp_dir("open-seams-finetune");
    let pre = dir.join("pretrained");
    train(&pre, &mut Signals::new(None), false).unwrap();
    let killed = dir.join("killed");
    kill_child_after_checkpoint("fine_tuning_an_encoder_from_another_crate_resumes_exactly_after_sigkill", &killed, &[(PRETRAINED, &pre)], 4);
    let resumed = fine_tune(&pre, &killed, None, true).unwrap();
    let straight = fine_tune(&pre, &dir.join("straight"), None, false).unwrap();
    let (a, b) = (straight.variables(), resumed.variables());
    for (name, t) in &a {
        assert!(t.equal(&b[name]), "{name} differs between the straight and the killed-and-resumed fine-tuning");
    }
    let log = std::fs::read_to_string(dir.join("straight/metrics.jsonl")).unwrap();
    assert!(log.lines().all(|l| l.contains("val/accuracy")), "validation is logged at every log step");
    assert!(dir.join("straight/checkpoints/step-00000008/encoder.safetensors").exists());
    std::fs::remove_dir_all(&dir).ok();
}
