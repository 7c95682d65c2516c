//! The seams other crates build on: multi-view batches, typed method options, named loss
//! terms, parameter groups, exports by name, loading an encoder by prefix, fine-tuning.
mod support;

use anyhow::Result;
use ssl_core::train::{load_encoder, load_prefixed, Classifier, FineTune, Optimizer, OptimizerConfig, OptimizerKind, ParamGroup};
use ssl_core::{build_method, Batch, BatchSource, Export, Method, MethodConfig, MethodLoss, MethodSpec, Registry, StepContext};
use std::collections::HashMap;
use support::{method_config, serial, tmp, train_config, trainer, weights, Prototypes};
use tch::{nn, Device, Kind, Tensor};

fn ctx(step: usize) -> StepContext {
    StepContext::new(step, 10, 3)
}

#[test]
fn every_method_takes_multi_crop_batches_and_trains_on_them() {
    let _serial = serial();
    tch::set_num_threads(1);
    for spec in Registry::core().methods() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let mut method = build_method(spec.name, &vs, &method_config(spec.name)).unwrap();
        let mut data = Prototypes::new(16);
        data.local_views = 2;
        data.start(0).unwrap();
        let batch = data.next_batch().unwrap();
        assert_eq!((batch.views().len(), batch.global_views()), (4, 2));
        let loss = method.loss(&batch, &ctx(0)).unwrap();
        if let Some((losses, embeddings)) = loss.per_view_parts() {
            assert_eq!(losses.size(), [16, 4], "{}: one loss per sample and view", spec.name);
            assert_eq!(embeddings.size()[..2], [16, 4]);
        }
        assert!(loss.mean_total().double_value(&[]).is_finite(), "{}", spec.name);
        let out = tmp(&format!("multicrop-{}", spec.name));
        let mut data = Prototypes::new(16);
        data.local_views = 2;
        let s = trainer(&out, train_config(4)).fit(&vs, method.as_mut(), &mut data, false).unwrap();
        assert!(s.final_loss.is_finite(), "{}", spec.name);
        std::fs::remove_dir_all(&out).ok();
    }
}

#[test]
fn method_options_are_typed_and_a_key_the_method_does_not_use_is_an_error() {
    let reg = Registry::core();
    let base = MethodConfig::default;
    let err = reg.check("simclr", &base().with_option("queue_size", 64)).unwrap_err().to_string();
    assert!(err.contains("queue_size") && err.contains("simclr") && err.contains("temperature"), "{err}");
    let err = reg.check("simsiam", &base().with_option("temperature", 0.1)).unwrap_err().to_string();
    assert!(err.contains("temperature") && err.contains("no options"), "{err}");
    let err = format!("{:#}", reg.check("moco-v2", &base().with_option("queue_size", 0)).unwrap_err());
    assert!(err.contains("queue_size"), "{err}");
    let err = format!("{:#}", reg.check("simclr", &base().with_option("temperature", -1.0)).unwrap_err());
    assert!(err.contains("temperature"), "{err}");
    let err = reg.check("byol", &base().with_option("momentum", "high")).unwrap_err().to_string();
    assert!(err.contains("momentum") || err.contains("invalid type"), "{err}");
    reg.check("moco-v2", &base().with_option("queue_size", 64).with_option("temperature", 0.1)).unwrap();
    let listing = reg.listing();
    assert!(listing.contains("queue_size = 4096") && listing.contains("resnet18") && listing.contains("simsiam"), "{listing}");
    let mut reg = Registry::core();
    let again = Registry::core().methods().len();
    assert_eq!(again, 10);
    let dup = MethodSpec::new::<ssl_core::methods::SimClrOptions>("simclr", "again", true, |_, _| anyhow::bail!("never built"));
    assert!(reg.register_method(dup).unwrap_err().to_string().contains("already registered"));
}

/// SimCLR plus a named regulariser (a constant, so its value is known).
struct WithTerm(Box<dyn Method>);

impl Method for WithTerm {
    fn name(&self) -> &'static str {
        "simclr-with-term"
    }
    fn loss(&mut self, batch: &Batch, ctx: &StepContext) -> Result<MethodLoss> {
        Ok(self.0.loss(batch, ctx)?.with_term("reg", Tensor::from(0.25f32)))
    }
    fn backbone(&self) -> &dyn ssl_core::blocks::Backbone {
        self.0.backbone()
    }
    fn exports(&self) -> Vec<Export> {
        vec![Export::new("encoder", "backbone"), Export::new("head", "projector")]
    }
}

#[test]
fn named_terms_are_logged_separately_and_exports_are_named() {
    let _serial = serial();
    let out = tmp("terms");
    let vs = nn::VarStore::new(Device::Cpu);
    let mut method = WithTerm(build_method("simclr", &vs, &method_config("simclr")).unwrap());
    let s = trainer(&out, train_config(3)).fit(&vs, &mut method, &mut Prototypes::new(16), false).unwrap();
    let text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let (total, main, reg) = (v["loss"].as_f64().unwrap(), v["loss/main"].as_f64().unwrap(), v["loss/reg"].as_f64().unwrap());
        assert!((reg - 0.25).abs() < 1e-6 && (total - main - reg).abs() < 1e-5, "{line}");
    }
    for file in ["encoder.safetensors", "head.safetensors"] {
        assert!(s.checkpoint.join(file).exists(), "{file} was not exported");
    }
    let head: HashMap<String, Tensor> = Tensor::read_safetensors(s.checkpoint.join("head.safetensors")).unwrap().into_iter().collect();
    assert!(head.contains_key("linear0.weight"), "exported names lose the prefix: {:?}", head.keys());
    std::fs::remove_dir_all(&out).ok();
}

/// A method whose export matches no variable.
struct EmptyExport(Box<dyn Method>);

impl Method for EmptyExport {
    fn name(&self) -> &'static str {
        "empty-export"
    }
    fn loss(&mut self, batch: &Batch, ctx: &StepContext) -> Result<MethodLoss> {
        self.0.loss(batch, ctx)
    }
    fn backbone(&self) -> &dyn ssl_core::blocks::Backbone {
        self.0.backbone()
    }
    fn exports(&self) -> Vec<Export> {
        vec![Export::new("encoder", "encoder")]
    }
}

#[test]
fn an_export_that_matches_nothing_is_an_error_not_an_empty_file() {
    let _serial = serial();
    let out = tmp("empty-export");
    let vs = nn::VarStore::new(Device::Cpu);
    let mut method = EmptyExport(build_method("simclr", &vs, &method_config("simclr")).unwrap());
    let err = trainer(&out, train_config(3)).fit(&vs, &mut method, &mut Prototypes::new(16), false).unwrap_err().to_string();
    assert!(err.contains("export 'encoder'") && err.contains("encoder."), "{err}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn parameter_groups_freeze_then_scale_the_learning_rate() {
    for kind in [OptimizerKind::Sgd, OptimizerKind::Adamw] {
        let vs = nn::VarStore::new(Device::Cpu);
        let enc = (vs.root() / "enc").f_zeros("w", &[2, 2]).unwrap();
        let head = (vs.root() / "head").f_zeros("w", &[2, 2]).unwrap();
        let cfg = OptimizerConfig::new(kind).with_momentum(0.0).with_weight_decay(0.0);
        let group = ParamGroup::new("enc.").with_lr_scale(0.5).with_freeze_steps(2);
        let mut opt = Optimizer::with_groups(cfg.clone(), vs.variables(), &[group]).unwrap();
        let mut step = || {
            opt.zero_grad();
            (enc.sum(Kind::Float) + head.sum(Kind::Float)).backward();
            opt.step(0.1);
            (enc.double_value(&[0, 0]), head.double_value(&[0, 0]))
        };
        let (e1, h1) = step();
        let (e2, _) = step();
        assert_eq!((e1, e2), (0.0, 0.0), "{kind:?}: the frozen group moved");
        assert!((h1 + 0.1).abs() < 1e-4, "{kind:?}: the head takes the full rate ({h1})");
        let (e3, _) = step();
        // Both SGD and AdamW's first (bias-corrected) update move by the group's rate.
        assert!((e3 + 0.05).abs() < 1e-3, "{kind:?}: first update after unfreezing is {e3}, expected -0.05");
        let missing = ParamGroup::new("decoder.");
        let err = Optimizer::with_groups(cfg, vs.variables(), &[missing]).err().unwrap().to_string();
        assert!(err.contains("decoder."), "{err}");
    }
}

#[test]
fn loading_by_prefix_names_what_is_missing_or_misshapen() {
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = (vs.root() / "encoder").f_zeros("a", &[2]).unwrap();
    let _ = (vs.root() / "head").f_zeros("b", &[3]).unwrap();
    let mut src: HashMap<String, Tensor> = HashMap::new();
    src.insert("backbone.a".into(), Tensor::from_slice(&[1f32, 2.0]));
    assert_eq!(load_prefixed(&vs, &src, "backbone.", "encoder.").unwrap(), 1);
    assert_eq!(vs.variables()["encoder.a"].double_value(&[1]), 2.0);
    assert_eq!(vs.variables()["head.b"].double_value(&[0]), 0.0, "parts outside the prefix keep their values");
    src.insert("backbone.a".into(), Tensor::from_slice(&[1f32, 2.0, 3.0]));
    assert!(load_prefixed(&vs, &src, "backbone.", "encoder.").unwrap_err().to_string().contains("shape"));
    src.insert("backbone.a".into(), Tensor::from_slice(&[1f32, 2.0]));
    src.insert("backbone.z".into(), Tensor::from_slice(&[1f32]));
    assert!(load_prefixed(&vs, &src, "backbone.", "encoder.").unwrap_err().to_string().contains("backbone.z"));
    let empty: HashMap<String, Tensor> = HashMap::new();
    assert!(load_prefixed(&vs, &empty, "backbone.", "encoder.").unwrap_err().to_string().contains("backbone.a"));
}

/// The trainable variables under `prefix`, sorted by name.
fn trainable(vs: &nn::VarStore, prefix: &str) -> Vec<(String, Tensor)> {
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(k, t)| k.starts_with(prefix) && t.requires_grad()).collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

#[test]
fn fine_tuning_loads_a_pretrained_encoder_freezes_it_then_tunes_it_slowly_and_resumes_exactly() {
    let _serial = serial();
    tch::set_num_threads(1);
    let pre = tmp("finetune-pre");
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let mut simclr = build_method("simclr", &vs, &method_config("simclr")).unwrap();
    trainer(&pre, train_config(3)).fit(&vs, simclr.as_mut(), &mut Prototypes::new(16), false).unwrap();
    let pretrained: Vec<(String, Tensor)> = trainable(&vs, "backbone.");

    let reg = Registry::core();
    let mut cfg = train_config(6);
    cfg.checkpoint_every = 3;
    cfg.param_groups = vec![ParamGroup::new("encoder.").with_lr_scale(0.1).with_freeze_steps(3)];
    let run = |out: &std::path::Path, fail_at: Option<u64>| {
        let build = || {
            tch::manual_seed(5);
            let vs = nn::VarStore::new(Device::Cpu);
            let model = Classifier::new(&vs, &reg, &method_config("simclr").backbone, 8).unwrap();
            assert!(load_encoder(&pre, "backbone", &vs, "encoder.").unwrap() > 0);
            (vs, model)
        };
        let (vs, mut model) = build();
        let labelled = || {
            let mut d = Prototypes::new(16);
            d.labels = true;
            d
        };
        let (mut train, mut val) = (labelled(), labelled());
        train.fail_at = fail_at;
        let first = trainer(out, cfg.clone()).fine_tune(&vs, &mut FineTune::new(&mut model, &mut train).with_validation(&mut val, 2), false);
        if fail_at.is_none() {
            first.unwrap();
            return vs;
        }
        assert!(first.is_err());
        let (vs, mut model) = build();
        let (mut train, mut val) = (labelled(), labelled());
        let s = trainer(out, cfg.clone()).fine_tune(&vs, &mut FineTune::new(&mut model, &mut train).with_validation(&mut val, 2), true).unwrap();
        assert_eq!(s.resumed_from, Some(3));
        vs
    };
    let (a, b) = (tmp("finetune-straight"), tmp("finetune-resumed"));
    let straight = run(&a, None);
    // The encoder was the pre-trained one and stayed frozen for three steps.
    let ck3 = ssl_core::train::Checkpoint::load(&a.join("checkpoints/step-00000003")).unwrap();
    let model3 = ck3.section("model");
    for (name, t) in &pretrained {
        let tuned = name.replacen("backbone.", "encoder.", 1);
        assert!(model3[&tuned].equal(t), "{tuned} moved while frozen");
    }
    let after = trainable(&straight, "encoder.");
    assert!(after.iter().zip(&pretrained).any(|((_, x), (_, y))| !x.equal(y)), "the encoder was tuned after unfreezing");
    assert!(a.join("checkpoints/step-00000006/encoder.safetensors").exists());
    let text = std::fs::read_to_string(a.join("metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert!(last["val/accuracy"].as_f64().is_some_and(|x| (0.0..=1.0).contains(&x)), "{last}");
    // A crash in step 5 and a resume give the same weights as the uninterrupted run.
    let resumed = run(&b, Some(4));
    let w = weights(&straight);
    for (name, t) in weights(&resumed) {
        assert!(t.equal(&w[&name]), "{name} differs after resuming the fine-tuning run");
    }
    for d in [&pre, &a, &b] {
        std::fs::remove_dir_all(d).ok();
    }
}

#[test]
fn swav_keeps_unit_prototypes_frozen_first_and_trains_them_after() {
    let _serial = serial();
    tch::set_num_threads(1);
    let out = tmp("swav-freeze");
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let mut method = build_method("swav", &vs, &method_config("swav")).unwrap();
    let initial = vs.variables()["prototypes.weight"].copy();
    let mut cfg = train_config(5);
    cfg.checkpoint_every = 2;
    cfg.keep_checkpoints = 5;
    trainer(&out, cfg).fit(&vs, method.as_mut(), &mut Prototypes::new(16), false).unwrap();
    let at2 = ssl_core::train::Checkpoint::load(&out.join("checkpoints/step-00000002")).unwrap().section("model")["prototypes.weight"].copy();
    let unit = ssl_core::objectives::l2_normalize(&initial);
    assert!(at2.allclose(&unit, 1e-6, 1e-7, false), "frozen for two steps: only normalised");
    let last = vs.variables()["prototypes.weight"].copy();
    assert!(!last.allclose(&at2, 1e-4, 1e-5, false), "the prototypes train after the freeze");
    let state: HashMap<String, Tensor> = method.state().into_iter().collect();
    assert!(state.contains_key("queue0") && state.contains_key("queue1_ptr"), "both queues are checkpointed");
    std::fs::remove_dir_all(&out).ok();
}
