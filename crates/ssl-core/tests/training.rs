//! The trainer with every method on small synthetic data: losses decrease, resumed runs
//! are exact, NaN stops the run and keeps the last good checkpoint, optimisers behave.
mod support;

use anyhow::Result;
use ssl_core::train::{CheckpointDir, Optimizer, OptimizerConfig, OptimizerKind, Resume, TrainConfig};
use ssl_core::{build_method, Batch, MethodConfig, Registry};
use std::collections::HashMap;
use support::{method_config, serial, tmp, train_config, trainer, weights, Prototypes};
use tch::{nn, Device, Kind, Tensor};

#[test]
fn every_method_trains_and_its_loss_decreases() {
    let _serial = serial();
    tch::set_num_threads(1);
    for spec in Registry::core().methods() {
        let out = tmp(&format!("decrease-{}", spec.name));
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let mut method = build_method(spec.name, &vs, &method_config(spec.name)).unwrap();
        let summary = trainer(&out, train_config(30)).fit(&vs, method.as_mut(), &mut Prototypes::new(16), false).unwrap();
        let losses = ssl_core::train::MetricsLog::read_losses(&out.join("metrics.jsonl")).unwrap();
        assert_eq!(losses.len(), 30);
        let head: f64 = losses[..5].iter().map(|l| l.1).sum::<f64>() / 5.0;
        let tail: f64 = losses[25..].iter().map(|l| l.1).sum::<f64>() / 5.0;
        assert!(tail < head, "{}: loss did not decrease ({head} -> {tail})", spec.name);
        assert!(summary.final_loss.is_finite());
        assert!(summary.checkpoint.join("backbone.safetensors").exists());
        std::fs::remove_dir_all(&out).ok();
    }
}

#[test]
fn uota_reweights_per_view_methods_and_rejects_batch_losses() {
    let _serial = serial();
    let out = tmp("uota");
    let vs = nn::VarStore::new(Device::Cpu);
    let mut method = build_method("simclr", &vs, &method_config("simclr")).unwrap();
    // A twin with the same initial weights, trained below without UOTA.
    let mut plain_vs = nn::VarStore::new(Device::Cpu);
    let mut plain = build_method("simclr", &plain_vs, &method_config("simclr")).unwrap();
    plain_vs.copy(&vs).unwrap();
    let mut cfg = train_config(6);
    cfg.uota.enabled = true;
    cfg.uota.start_fraction = 0.5;
    cfg.uota.tau = 1.0;
    trainer(&out, cfg.clone()).fit(&vs, method.as_mut(), &mut Prototypes::new(16), false).unwrap();
    let text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let flags: Vec<bool> = text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["view_weighting"].as_bool().unwrap()).collect();
    assert_eq!(flags, vec![false, false, false, true, true, true], "UOTA switches on after the warm-up");
    // The same run without UOTA: identical until the switch, different after it.
    let plain_out = tmp("uota-off");
    let mut off = cfg.clone();
    off.uota.enabled = false;
    trainer(&plain_out, off).fit(&plain_vs, plain.as_mut(), &mut Prototypes::new(16), false).unwrap();
    let with = ssl_core::train::MetricsLog::read_losses(&out.join("metrics.jsonl")).unwrap();
    let without = ssl_core::train::MetricsLog::read_losses(&plain_out.join("metrics.jsonl")).unwrap();
    for s in 0..3 {
        assert!((with[s].1 - without[s].1).abs() < 1e-6, "step {s}: {} vs {}", with[s].1, without[s].1);
    }
    assert!((with[3].1 - without[3].1).abs() > 1e-4, "UOTA did not change the loss: {} vs {}", with[3].1, without[3].1);
    std::fs::remove_dir_all(&plain_out).ok();

    let out2 = tmp("uota-barlow");
    let vs = nn::VarStore::new(Device::Cpu);
    let mut barlow = build_method("barlow-twins", &vs, &method_config("barlow-twins")).unwrap();
    let err = trainer(&out2, cfg).fit(&vs, barlow.as_mut(), &mut Prototypes::new(16), false).unwrap_err();
    assert!(err.to_string().contains("per view"), "{err}");
    std::fs::remove_dir_all(&out).ok();
    std::fs::remove_dir_all(&out2).ok();
}

/// Runs `method` for 8 steps uninterrupted, and again with a crash after 4 steps followed
/// by a resume; the final weights and method state must be identical.
fn resume_is_exact(method_name: &str) {
    tch::set_num_threads(1);
    let run = |out: &std::path::Path, fail_at: Option<u64>| {
        tch::manual_seed(42);
        let vs = nn::VarStore::new(Device::Cpu);
        let mut method = build_method(method_name, &vs, &method_config(method_name)).unwrap();
        let mut cfg = train_config(8);
        cfg.checkpoint_every = 4;
        cfg.accumulate = 2;
        let mut data = Prototypes::new(16);
        data.fail_at = fail_at;
        let first = trainer(out, cfg.clone()).fit(&vs, method.as_mut(), &mut data, false);
        if fail_at.is_some() {
            assert!(first.is_err());
            // A fresh process: new store, new method, same seed for initialisation.
            tch::manual_seed(999);
            let vs = nn::VarStore::new(Device::Cpu);
            let mut method = build_method(method_name, &vs, &method_config(method_name)).unwrap();
            let s = trainer(out, cfg).fit(&vs, method.as_mut(), &mut Prototypes::new(16), true).unwrap();
            assert_eq!(s.resumed_from, Some(4));
            return (weights(&vs), method.state());
        }
        first.unwrap();
        (weights(&vs), method.state())
    };
    let (a, b) = (tmp(&format!("straight-{method_name}")), tmp(&format!("resumed-{method_name}")));
    let (w1, s1) = run(&a, None);
    let (w2, s2) = run(&b, Some(11)); // batch 11 = step 5 (2 micro-batches per step)
    for (name, t) in &w1 {
        assert!(t.equal(&w2[name]), "{method_name}: weight {name} differs after resume");
    }
    let s2: HashMap<String, Tensor> = s2.into_iter().collect();
    assert_eq!(s1.len(), s2.len());
    for (name, t) in &s1 {
        assert!(t.equal(&s2[name]), "{method_name}: state {name} differs after resume");
    }
    let log_a = ssl_core::train::MetricsLog::read_losses(&a.join("metrics.jsonl")).unwrap();
    let log_b = ssl_core::train::MetricsLog::read_losses(&b.join("metrics.jsonl")).unwrap();
    assert_eq!(log_a, log_b, "the resumed metrics log reads as one run");
    std::fs::remove_dir_all(&a).ok();
    std::fs::remove_dir_all(&b).ok();
}

#[test]
fn resume_after_a_crash_is_exact_for_momentum_and_queue_methods() {
    let _serial = serial();
    for m in ["byol", "moco-v2", "unigrad", "nac", "swav"] {
        resume_is_exact(m);
    }
}

#[test]
fn nan_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint() {
    let _serial = serial();
    let out = tmp("nan");
    let vs = nn::VarStore::new(Device::Cpu);
    let mut method = build_method("simclr", &vs, &method_config("simclr")).unwrap();
    let mut data = Prototypes::new(16);
    data.nan_at = Some(4);
    let err = trainer(&out, train_config(10)).fit(&vs, method.as_mut(), &mut data, false).unwrap_err().to_string();
    assert!(err.contains("NaN") && err.contains("step 5") && err.contains("step-00000003"), "{err}");
    let ck = CheckpointDir::new(out.join("checkpoints"), 2).latest().unwrap().unwrap();
    assert_eq!(ck.meta.step, 3);
    for (name, t) in ck.section("model") {
        assert!(bool::try_from(t.isfinite().all()).unwrap(), "checkpoint tensor {name} is not finite");
    }
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn resuming_with_different_settings_is_refused() {
    let _serial = serial();
    let out = tmp("changed");
    let vs = nn::VarStore::new(Device::Cpu);
    let mut method = build_method("simclr", &vs, &method_config("simclr")).unwrap();
    trainer(&out, train_config(3)).fit(&vs, method.as_mut(), &mut Prototypes::new(16), false).unwrap();
    let mut changed = train_config(3);
    changed.lr = 0.5;
    changed.progress = true;
    let err = trainer(&out, changed).fit(&vs, method.as_mut(), &mut Prototypes::new(16), true).unwrap_err().to_string();
    assert!(err.contains("/lr") && !err.contains("/progress"), "{err}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn an_existing_run_is_not_overwritten_without_resume() {
    let _serial = serial();
    let out = tmp("overwrite");
    let vs = nn::VarStore::new(Device::Cpu);
    let mut method = build_method("simsiam", &vs, &method_config("simsiam")).unwrap();
    trainer(&out, train_config(3)).fit(&vs, method.as_mut(), &mut Prototypes::new(16), false).unwrap();
    let err = trainer(&out, train_config(3)).fit(&vs, method.as_mut(), &mut Prototypes::new(16), false).unwrap_err();
    assert!(err.to_string().contains("--resume"), "{err}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn unknown_method_names_the_known_ones() {
    let _serial = serial();
    let vs = nn::VarStore::new(Device::Cpu);
    let err = build_method("simclr2", &vs, &MethodConfig::default()).err().unwrap().to_string();
    assert!(err.contains("unknown method 'simclr2'") && err.contains("barlow-twins"), "{err}");
}

#[test]
fn weight_decay_skips_biases_and_norms_and_optimisers_step_downhill() {
    let _serial = serial();
    for kind in [OptimizerKind::Sgd, OptimizerKind::Lars, OptimizerKind::Adamw] {
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().f_ones("w", &[3, 3]).unwrap();
        let b = vs.root().f_ones("b", &[3]).unwrap();
        let cfg = OptimizerConfig::new(kind).with_weight_decay(0.5).with_momentum(0.0);
        let mut opt = Optimizer::new(cfg, vs.variables());
        // Zero loss gradient: only weight decay can move the parameters.
        opt.zero_grad();
        ((&w * 0.0).sum(Kind::Float) + (&b * 0.0).sum(Kind::Float)).backward();
        opt.step(0.1);
        assert!(bool::try_from(b.eq(1.0).all()).unwrap(), "{kind:?}: bias was decayed");
        assert!(w.double_value(&[0, 0]) < 1.0, "{kind:?}: weight was not decayed");
        // A quadratic bowl: a few steps reduce it.
        let x = vs.root().f_var_copy("x", &Tensor::from_slice(&[3.0f32, -2.0]).view([1, 2])).unwrap();
        let mut opt = Optimizer::new(OptimizerConfig::new(kind).with_weight_decay(0.0), vs.variables());
        let f0 = x.square().sum(Kind::Float).double_value(&[]);
        for _ in 0..20 {
            opt.zero_grad();
            x.square().sum(Kind::Float).backward();
            opt.step(if kind == OptimizerKind::Lars { 5.0 } else { 0.05 });
        }
        assert!(x.square().sum(Kind::Float).double_value(&[]) < f0 * 0.9, "{kind:?} did not descend");
    }
}

#[test]
fn gradient_clipping_bounds_the_norm() {
    let _serial = serial();
    let vs = nn::VarStore::new(Device::Cpu);
    let x = vs.root().f_ones("x", &[4, 4]).unwrap();
    let mut opt = Optimizer::new(OptimizerConfig::default(), vs.variables());
    (&x * 100.0).sum(Kind::Float).backward();
    let before = opt.clip_grad_norm(Some(1.0));
    assert!((before - 400.0).abs() < 1e-3);
    let after = x.grad().norm().double_value(&[]);
    assert!((after - 1.0).abs() < 1e-4, "{after}");
}

/// Flips one byte in the middle of a checkpoint's tensor data.
fn flip_a_byte(step_dir: &std::path::Path) {
    let path = step_dir.join("tensors.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let i = bytes.len() - bytes.len() / 3;
    bytes[i] ^= 0x10;
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn a_corrupt_newest_checkpoint_is_found_and_the_newest_intact_one_resumes_exactly() {
    let _serial = serial();
    tch::set_num_threads(1);
    let run = |out: &std::path::Path, corrupt: bool| {
        tch::manual_seed(42);
        let vs = nn::VarStore::new(Device::Cpu);
        let mut method = build_method("byol", &vs, &method_config("byol")).unwrap();
        let mut cfg = train_config(6);
        cfg.checkpoint_every = 3;
        let data = || Prototypes::new(16);
        trainer(out, cfg.clone()).fit(&vs, method.as_mut(), &mut data(), false).unwrap();
        if corrupt {
            let ckpts = CheckpointDir::new(out.join("checkpoints"), 2);
            flip_a_byte(&out.join("checkpoints/step-00000006"));
            let err = format!("{:#}", ckpts.latest().err().unwrap());
            assert!(err.contains("step-00000006") && err.contains("corrupt"), "{err}");
            // Evaluation refuses it too.
            assert!(ssl_core::train::load_latest_weights(out, &vs).is_err());
            // --resume names the intact one and the flag that takes it.
            let mut longer = cfg.clone();
            longer.steps = 6;
            let err = format!("{:#}", trainer(out, longer.clone()).fit(&vs, method.as_mut(), &mut data(), true).unwrap_err());
            assert!(err.contains("failed verification") && err.contains("step-00000003") && err.contains("--resume-intact"), "{err}");
            tch::manual_seed(7);
            let vs = nn::VarStore::new(Device::Cpu);
            let mut method = build_method("byol", &vs, &method_config("byol")).unwrap();
            let s = trainer(out, longer).fit(&vs, method.as_mut(), &mut data(), Resume::NewestIntact).unwrap();
            assert_eq!(s.resumed_from, Some(3));
            assert!(out.join("checkpoints/corrupt-step-00000006").is_dir(), "the corrupt checkpoint is set aside, not deleted");
            return weights(&vs);
        }
        weights(&vs)
    };
    let (a, b) = (tmp("intact-straight"), tmp("intact-corrupt"));
    let w1 = run(&a, false);
    let w2 = run(&b, true);
    for (name, t) in &w1 {
        assert!(t.equal(&w2[name]), "weight {name} differs after resuming from the intact checkpoint");
    }
    std::fs::remove_dir_all(&a).ok();
    std::fs::remove_dir_all(&b).ok();
}

#[test]
fn step_folders_without_latest_are_resumed_not_overwritten() {
    let _serial = serial();
    tch::set_num_threads(1);
    let out = tmp("no-latest");
    let vs = nn::VarStore::new(Device::Cpu);
    let mut method = build_method("simclr", &vs, &method_config("simclr")).unwrap();
    trainer(&out, train_config(3)).fit(&vs, method.as_mut(), &mut Prototypes::new(16), false).unwrap();
    std::fs::remove_file(out.join("checkpoints/latest")).unwrap();
    let err = trainer(&out, train_config(3)).fit(&vs, method.as_mut(), &mut Prototypes::new(16), false).unwrap_err().to_string();
    assert!(err.contains("already holds a run") && err.contains("step-00000003"), "{err}");
    // The step folder is found without `latest`; a finished run resumed says so instead of training or printing NaN.
    let s = trainer(&out, train_config(3)).fit(&vs, method.as_mut(), &mut Prototypes::new(16), true).unwrap();
    assert!(s.already_finished && s.final_loss.is_finite() && s.resumed_from == Some(3), "{s:?}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn resuming_with_another_thread_count_is_refused_with_the_count_to_use() {
    let _serial = serial();
    tch::set_num_threads(1);
    let out = tmp("threads");
    let vs = nn::VarStore::new(Device::Cpu);
    let mut method = build_method("simclr", &vs, &method_config("simclr")).unwrap();
    let mut data = Prototypes::new(16);
    data.fail_at = Some(4);
    assert!(trainer(&out, train_config(6)).fit(&vs, method.as_mut(), &mut data, false).is_err());
    tch::set_num_threads(2);
    let err = trainer(&out, train_config(6)).fit(&vs, method.as_mut(), &mut Prototypes::new(16), true).unwrap_err().to_string();
    tch::set_num_threads(1);
    assert!(err.contains("1 libtorch threads") && err.contains("--threads 1"), "{err}");
    // A thread count chosen automatically follows the checkpoint instead.
    tch::set_num_threads(2);
    let s = trainer(&out, train_config(6)).with_auto_threads(true).fit(&vs, method.as_mut(), &mut Prototypes::new(16), true).unwrap();
    let after = tch::get_num_threads();
    tch::set_num_threads(1);
    assert_eq!((s.resumed_from, after), (Some(3), 1));
    std::fs::remove_dir_all(&out).ok();
}

/// Wraps a method and sets one model buffer to infinity after a given step, as an
/// exploding BatchNorm running variance does while the loss itself stays finite.
struct PoisonsABuffer {
    inner: Box<dyn ssl_core::Method>,
    buffer: Tensor,
    after: usize,
}

impl ssl_core::Method for PoisonsABuffer {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn loss(&mut self, batch: &Batch, ctx: &ssl_core::StepContext) -> Result<ssl_core::MethodLoss> {
        self.inner.loss(batch, ctx)
    }
    fn after_step(&mut self, ctx: &ssl_core::StepContext) -> Result<()> {
        self.inner.after_step(ctx)?;
        if ctx.step + 1 == self.after {
            tch::no_grad(|| {
                let _ = self.buffer.fill_(f64::INFINITY);
            });
        }
        Ok(())
    }
    fn backbone(&self) -> &dyn ssl_core::blocks::Backbone {
        self.inner.backbone()
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        self.inner.state()
    }
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.inner.load_state(state)
    }
}

#[test]
fn a_checkpoint_is_never_written_with_non_finite_buffers() {
    let _serial = serial();
    let out = tmp("inf-buffer");
    let vs = nn::VarStore::new(Device::Cpu);
    let inner = build_method("simclr", &vs, &method_config("simclr")).unwrap();
    let vars = vs.variables();
    let name = vars.keys().filter(|k| k.ends_with("running_var")).min().expect("the ConvNet has BatchNorm buffers").clone();
    let mut method = PoisonsABuffer { inner, buffer: vars[&name].shallow_clone(), after: 5 };
    let err = trainer(&out, train_config(10)).fit(&vs, &mut method, &mut Prototypes::new(16), false).unwrap_err().to_string();
    assert!(err.contains(&name) && err.contains("non-finite") && err.contains("step-00000003"), "{err}");
    let ck = CheckpointDir::new(out.join("checkpoints"), 2).latest().unwrap().unwrap();
    assert_eq!(ck.meta.step, 3, "the last good checkpoint stays the newest");
    assert!(ssl_core::train::first_non_finite(ck.tensors.iter()).is_none());
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn a_failed_checkpoint_write_leaves_no_temporary_folder() {
    let out = tmp("failed-save");
    let ckpts = CheckpointDir::new(out.join("checkpoints"), 2);
    let mut meta = ssl_core::train::CheckpointMeta::new(1, 0, "x", serde_json::json!({}));
    meta.threads = 1;
    let t = vec![("a".to_string(), Tensor::from_slice(&[1f32, 2.0]))];
    // A file name inside a folder that does not exist makes the write fail half-way.
    let again = vec![("a".to_string(), Tensor::from_slice(&[1f32, 2.0]))];
    assert!(ckpts.save(&meta, &t, &[("missing/b.safetensors", again)]).is_err());
    let left: Vec<_> = std::fs::read_dir(out.join("checkpoints")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    ckpts.save(&meta, &t, &[]).unwrap();
    assert!(ckpts.latest().unwrap().is_some());
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn nonsense_settings_are_refused_naming_the_key() {
    type Change = fn(&mut TrainConfig);
    let cases: Vec<(&str, Change)> = vec![
        ("min_lr_ratio", |c| c.min_lr_ratio = -0.5),
        ("weight_decay", |c| c.optimizer.weight_decay = f64::NAN),
        ("weight_decay", |c| c.optimizer.weight_decay = -1e-4),
        ("beta1", |c| c.optimizer.beta1 = 1.0),
        ("beta2", |c| c.optimizer.beta2 = 1.5),
        ("momentum", |c| c.optimizer.momentum = -0.1),
        ("eps", |c| c.optimizer.eps = 0.0),
        ("start_fraction", |c| c.uota.start_fraction = f64::NAN),
        ("start_fraction", |c| c.uota.start_fraction = -1.0),
        ("tau", |c| c.uota.tau = -3.0),
        ("lr", |c| c.lr = f64::INFINITY),
        ("clip_grad_norm", |c| c.clip_grad_norm = Some(f64::INFINITY)),
    ];
    assert!(train_config(3).validate().is_ok());
    for (key, change) in cases {
        let mut c = train_config(3);
        change(&mut c);
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains(key), "{key}: {err}");
    }
}
