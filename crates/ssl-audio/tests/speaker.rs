//! Speaker SSL: the encoders, SSReg's objective and method, the segment batches, trial
//! lists and cosine scoring, and a few training steps that lower the loss.
mod support;

use ssl_audio::data::read_audio_set;
use ssl_audio::speaker::ssreg::ssreg_per_view;
use ssl_audio::speaker::{pretrain_on, score_trials, SegmentConfig, SegmentLoader, SpeakerPretrainConfig, TrialList};
use ssl_core::blocks::BackboneConfig;
use ssl_core::train::Resume;
use ssl_core::{BatchSource, MethodConfig, StepContext};
use std::sync::Arc;
use tch::{nn, Device, Kind, Tensor};

fn encoder(kind: &str, width: i64) -> (nn::VarStore, Box<dyn ssl_core::blocks::Backbone>) {
    let vs = nn::VarStore::new(Device::Cpu);
    let b = ssl_audio::registry::registry().build_backbone(&vs.root(), &BackboneConfig::new(kind, 24).with_shape(width, 1)).unwrap();
    (vs, b)
}

#[test]
fn both_encoders_embed_any_length_and_train_every_weight() {
    tch::manual_seed(0);
    for (kind, width, dim) in [("thin-resnet34", 4, 256), ("ecapa-tdnn", 16, 192)] {
        let (vs, enc) = encoder(kind, width);
        assert_eq!(enc.out_dim(), dim);
        for frames in [9, 57] {
            let x = Tensor::randn([3, frames, 24], (Kind::Float, Device::Cpu));
            let e = enc.forward_t(&x, true);
            assert_eq!(e.size(), [3, dim], "{kind} on {frames} frames");
            assert!(bool::try_from(e.isfinite().all()).unwrap());
        }
        let x = Tensor::randn([4, 30, 24], (Kind::Float, Device::Cpu));
        let e = enc.forward_t(&x, true);
        (e.square().sum(Kind::Float)).backward();
        for (name, v) in vs.trainable_variables().iter().enumerate() {
            let g = v.grad();
            assert!(g.defined() && f64::try_from(g.abs().sum(Kind::Float)).unwrap() > 0.0, "{kind}: trainable variable {name} gets no gradient");
        }
        // Evaluation mode: one recording alone gives the same embedding as in a batch.
        let one = tch::no_grad(|| enc.forward_t(&x.narrow(0, 1, 1), false));
        let all = tch::no_grad(|| enc.forward_t(&x, false));
        assert!(one.allclose(&all.narrow(0, 1, 1), 1e-4, 1e-4, false), "{kind}");
    }
    let vs = nn::VarStore::new(Device::Cpu);
    let err = ssl_audio::registry::registry().build_backbone(&vs.root(), &BackboneConfig::new("ecapa-tdnn", 24).with_shape(12, 1)).unwrap_err().to_string();
    assert!(err.contains("multiple of 8"), "{err}");
}

#[test]
fn ssreg_is_the_negative_cosine_to_the_other_view_with_its_gradient_stopped() {
    let p1 = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 2.0]).reshape([2, 2]).set_requires_grad(true);
    let p2 = Tensor::from_slice(&[0.0f32, 3.0, 1.0, 1.0]).reshape([2, 2]).set_requires_grad(true);
    let z1 = Tensor::from_slice(&[0.0f32, 5.0, 1.0, 0.0]).reshape([2, 2]).set_requires_grad(true);
    let z2 = Tensor::from_slice(&[2.0f32, 0.0, 0.0, 1.0]).reshape([2, 2]).set_requires_grad(true);
    let l = ssreg_per_view(&p1, &p2, &z1, &z2).unwrap();
    // Sample 0: p1 along z2 (cos 1), p2 along z1 (cos 1); sample 1: p1 along z2, p2 at 45 degrees to z1.
    let want = Tensor::from_slice(&[-1.0f32, -1.0, -1.0, -std::f32::consts::FRAC_1_SQRT_2]).reshape([2, 2]);
    assert!(l.allclose(&want, 1e-5, 1e-6, false), "{l}");
    l.sum(Kind::Float).backward();
    assert!(!z1.grad().defined() || f64::try_from(z1.grad().abs().sum(Kind::Float)).unwrap() == 0.0, "no gradient reaches the targets");
    // d(-cos(p, z))/dp at p = (1, 1), z = (1, 0): -(z/|z| - cos p/|p|)/|p| = (-0.5, 0.5) / sqrt 2... checked numerically.
    let g = p2.grad();
    let eps = 1e-3f64;
    let f = |dx: f64| {
        let p = Tensor::from_slice(&[1.0 + dx, 1.0]).reshape([1, 2]).to_kind(Kind::Float);
        f64::try_from(ssl_core::objectives::negative_cosine_per_sample(&p, &Tensor::from_slice(&[1.0f32, 0.0]).reshape([1, 2])).unwrap().sum(Kind::Float))
            .unwrap()
    };
    let numeric = (f(eps) - f(-eps)) / (2.0 * eps);
    assert!((g.double_value(&[1, 0]) - numeric).abs() < 1e-3, "{} vs {numeric}", g.double_value(&[1, 0]));
}

fn tiny_model(kind: &str) -> MethodConfig {
    MethodConfig::default().with_backbone(BackboneConfig::new(kind, 24).with_shape(16, 1)).with_heads(32, 16, 16)
}

#[test]
fn the_method_adds_the_regulariser_as_a_term_and_refuses_no_objective() {
    let reg = ssl_audio::registry::registry();
    let views = vec![Tensor::randn([4, 20, 24], (Kind::Float, Device::Cpu)), Tensor::randn([4, 20, 24], (Kind::Float, Device::Cpu))];
    let batch = ssl_core::Batch::from_views(views).unwrap();
    let ctx = StepContext::new(0, 10, 0);
    for (wc, ws, terms) in [(1.0, 0.0, 0usize), (1.0, 1.0, 1), (0.0, 1.0, 0)] {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = tiny_model("ecapa-tdnn").with_option("contrastive_weight", wc).with_option("ssreg_weight", ws);
        let mut m = reg.build_method("ssreg", &vs, &cfg).unwrap();
        let loss = m.loss(&batch, &ctx).unwrap();
        assert_eq!(loss.terms().len(), terms, "weights {wc}, {ws}");
        let (per_view, _) = loss.per_view_parts().unwrap();
        assert_eq!(per_view.size(), [4, 2]);
        if wc == 0.0 {
            // SSReg alone: negative cosines.
            let v = Vec::<f32>::try_from(per_view.flatten(0, -1)).unwrap();
            assert!(v.iter().all(|x| (-1.0..=1.0).contains(x)), "{v:?}");
        }
    }
    let vs = nn::VarStore::new(Device::Cpu);
    let none = tiny_model("ecapa-tdnn").with_option("contrastive_weight", 0.0).with_option("ssreg_weight", 0.0);
    let err = format!("{:#}", reg.build_method("ssreg", &vs, &none).err().unwrap());
    assert!(err.contains("nothing to train"), "{err}");
    let bad = tiny_model("ecapa-tdnn").with_option("ssreg_weight", -1.0);
    assert!(reg.build_method("ssreg", &vs, &bad).is_err());
}

#[test]
fn segment_batches_are_seeded_by_their_index_and_fill_short_utterances() {
    let d = support::voices("segments", 2, 3);
    let set = read_audio_set(&d, 8000, false).unwrap();
    let mut short = set.waves.clone();
    short[0].samples.truncate(1000);
    let mut cfg = SegmentConfig::default();
    cfg.num_bins = 24;
    let waves = Arc::new(short);
    let mut a = SegmentLoader::new(waves.clone(), cfg.clone(), 4, 7).unwrap();
    let mut b = SegmentLoader::new(waves, cfg, 4, 7).unwrap();
    let first = a.batch_at(1).unwrap();
    b.start(1).unwrap();
    let again = b.next_batch().unwrap();
    // 1 s at 8 kHz: 1 + (8000 - 200) / 80 frames.
    assert_eq!(first.views().len(), 2);
    assert_eq!(first.views()[0].size(), [4, 98, 24]);
    for (x, y) in first.views().iter().zip(again.views()) {
        assert!(x.equal(y), "the batch at an index does not depend on what came before");
    }
    assert!(!first.views()[0].allclose(&first.views()[1], 1e-3, 1e-3, false), "the two segments differ");
    assert!(!a.batch_at(2).unwrap().views()[0].equal(&first.views()[0]));
    // Mean-normalised per segment.
    let m = first.views()[0].mean_dim([1i64].as_slice(), false, Kind::Float).abs().max();
    assert!(f64::try_from(m).unwrap() < 0.5, "features are centred before masking");
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn a_few_steps_lower_the_loss_and_trials_score_by_cosine() {
    let d = support::voices("ssreg-train", 3, 4);
    let set = read_audio_set(&d, 8000, false).unwrap();
    let out = d.join("run");
    let mut cfg = SpeakerPretrainConfig::default();
    cfg.out = out.clone();
    cfg.device = "cpu".into();
    cfg.segments.num_bins = 24;
    cfg.model = tiny_model("ecapa-tdnn");
    cfg.train = cfg.train.clone().with_schedule(30, 12, 3e-3, 3);
    cfg.train.progress = false;
    let summary = pretrain_on(&cfg, Arc::new(set.waves.clone()), Resume::from_flags(false, false)).unwrap();
    let first = summary.first_loss.unwrap();
    assert!(summary.final_loss < first, "loss {first} -> {}", summary.final_loss);

    let enc = ssl_audio::speaker::load_trained(&out, Device::Cpu).unwrap();
    assert_eq!(enc.step, 30);
    let fbank = enc.config.fbank().unwrap();
    let inputs: Vec<Tensor> = set.waves.iter().map(|w| ssl_audio::speaker::encoder_input(&fbank, w, "test").unwrap()).collect();
    let emb = ssl_audio::speaker::embed(enc.method.backbone(), &inputs, Device::Cpu);
    assert_eq!(emb.size(), [12, 192]);
    let names: Vec<String> = set.listing.files.iter().map(|f| ssl_audio::speaker::recording_name(&set.listing.root, f)).collect();
    let labels = set.listing.labels.clone().unwrap();
    let trials = TrialList::generate(&names, &labels, 50, &mut ssl_core::seed::rng(&[0])).unwrap();
    let scored = score_trials(&trials, &names, &emb).unwrap();
    assert_eq!((scored.target.len(), scored.nontarget.len()), trials.counts());
    assert!(scored.target.iter().chain(&scored.nontarget).all(|s| (-1.0 - 1e-6..=1.0 + 1e-6).contains(s)));
    // A recording the embeddings do not have is an error naming it.
    let mut missing = trials.clone();
    missing.trials[0].test = "spk9/none.wav".into();
    let err = score_trials(&missing, &names, &emb).unwrap_err().to_string();
    assert!(err.contains("spk9/none.wav"), "{err}");
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn malformed_trial_lists_are_refused_with_file_and_line() {
    let d = std::env::temp_dir().join(format!("ssl-audio-trials-bad-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    for (name, text, needle) in [
        ("label.txt", "1 a.wav b.wav\n2 a.wav c.wav\n", ":2:"),
        ("fields.txt", "1 a.wav b.wav\n0 a.wav\n", "got 2 fields"),
        ("targets.txt", "1 a.wav b.wav\n1 a.wav c.wav\n", "0 non-target"),
        ("empty.txt", "", "0 target"),
    ] {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        let err = format!("{:#}", TrialList::read(&p).unwrap_err());
        assert!(err.contains(name) && err.contains(needle), "{name}: {err}");
    }
    let err = format!("{:#}", TrialList::read(&d.join("absent.txt")).unwrap_err());
    assert!(err.contains("absent.txt"), "{err}");
    std::fs::remove_dir_all(d).ok();
}
