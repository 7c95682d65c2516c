//! MuLaP on generated tunes: the objectives against their analytic values, gradients to
//! every part, a few steps lowering the loss, seeded batches, and bad recordings refused.
mod support;

use ssl_audio::mulap::{ClipLoader, Mulap, MulapConfig, MusicClips};
use ssl_audio::music::{write_tunes, CaptionVocabulary, Tune};
use ssl_core::data::BatchSource;
use ssl_core::Method;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use tch::{nn, Device, Kind, Tensor};

fn tiny() -> MulapConfig {
    let mut c = MulapConfig::default();
    c.bins = 16;
    c.chunk_frames = 20;
    c.chunks = 2;
    c.timbre_filters = 4;
    c.temporal_filters = 2;
    c.backend = 8;
    c.d_model = 16;
    c.heads = 2;
    c.mlp = 32;
    c.audio_layers = 1;
    c.text_layers = 1;
    c.max_tokens = 16;
    c.dropout = 0.0;
    c
}

/// A tune of `seconds` at 16 kHz: a melody of `notes` semitones above A3 with `harmonics`.
fn melody(notes: &[i32], harmonics: usize, seconds: f64) -> Vec<f32> {
    let n = (seconds * 16000.0) as usize;
    let per = n / notes.len();
    (0..n)
        .map(|i| {
            let f = 220.0 * 2f64.powf(f64::from(notes[(i / per).min(notes.len() - 1)]) / 12.0);
            let t = i as f64 / 16000.0;
            ((1..=harmonics).map(|h| (std::f64::consts::TAU * f * h as f64 * t).sin() / h as f64).sum::<f64>() * 0.3) as f32
        })
        .collect()
}

/// A rendered catalogue of `n` generated tunes in a fresh folder.
fn catalogue(tag: &str, n: usize) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ssl-audio-mulap-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let tunes: Vec<Tune> = (0..n)
        .map(|i| {
            let id = format!("t{i}");
            let notes: Vec<i32> = (0..4).map(|k| ((i * 3 + k * 5) % 12) as i32).collect();
            support::write_wav(&d.join(format!("{id}.wav")), &melody(&notes, 1 + i % 3, 1.5), 16000);
            Tune {
                id: id.clone(),
                midi: format!("midi/{id}.mid"),
                title: format!("Tune {i}"),
                meter: ["6/8", "C|"][i % 2].into(),
                tonic: ["G", "D", "A"][i % 3].into(),
                mode: ["major", "major", "minor"][i % 3].into(),
                rhythm: ["jig", "reel"][i % 2].into(),
                family: ["flute", "bowed", "reed"][i % 3].into(),
                program: 0,
                caption: format!("The tune number {i}, a tune in {}, in {}.", ["6/8", "cut time"][i % 2], ["G", "D", "A"][i % 3]),
                audio: format!("{id}.wav"),
            }
        })
        .collect();
    write_tunes(&d.join("music.csv"), &tunes).unwrap();
    let captions: Vec<String> = tunes.iter().map(|t| t.caption.clone()).collect();
    CaptionVocabulary::train(&captions, 120, 1).unwrap().save(&d.join("tokenizer.json")).unwrap();
    d
}

fn load(d: &Path, cfg: &MulapConfig) -> (MusicClips, CaptionVocabulary) {
    ssl_audio::mulap::clips::read_music(&d.join("music.csv"), cfg).unwrap()
}

fn set_zero(vs: &nn::VarStore, prefix: &str) {
    tch::no_grad(|| {
        for (name, mut t) in vs.variables() {
            if name.starts_with(prefix) {
                let _ = t.zero_();
            }
        }
    });
}

#[test]
fn with_zeroed_heads_the_objectives_take_their_analytic_values() {
    let d = catalogue("analytic", 6);
    let mut cfg = tiny();
    (cfg.mask_tokens, cfg.mask_chunks) = (0.5, 0.5);
    let (clips, vocab) = load(&d, &cfg);
    let clips = Rc::new(clips);
    let vs = nn::VarStore::new(Device::Cpu);
    let m = Mulap::new(&vs.root(), &cfg, vocab.size() as i64).unwrap();
    for head in ["mlm_head", "mam_head", "atm_head"] {
        set_zero(&vs, head);
    }
    let batch = ClipLoader::new(clips.clone(), (0..6).collect(), &cfg, 6, 0).unwrap().next_batch().unwrap();
    let t = m.terms(&batch, &mut ssl_core::seed::rng(&[1])).unwrap();
    // Zero logits: the cross-entropy over V tokens is ln V, the matching BCE ln 2.
    assert!((f64::try_from(&t.mlm).unwrap() - (vocab.size() as f64).ln()).abs() < 1e-4, "{:?}", t.mlm);
    assert!((f64::try_from(&t.atm).unwrap() - 2f64.ln()).abs() < 1e-5, "{:?}", t.atm);
    // A zero prediction: the MSE is the mean square of the (masked) targets, which are positive.
    let mam = f64::try_from(&t.mam).unwrap();
    assert!(mam > 0.0 && mam.is_finite());
    assert_eq!(f64::try_from(&t.contrastive).unwrap(), 0.0);
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn every_part_gets_a_gradient_and_a_few_steps_lower_the_loss() {
    let d = catalogue("train", 8);
    let cfg = tiny();
    let (clips, vocab) = load(&d, &cfg);
    let clips = Rc::new(clips);
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let mut m = Mulap::new(&vs.root(), &cfg, vocab.size() as i64).unwrap();
    let batch = ClipLoader::new(clips, (0..8).collect(), &cfg, 8, 0).unwrap().next_batch().unwrap();
    let ctx = ssl_core::StepContext::new(0, 10, 0);
    let loss = m.loss(&batch, &ctx).unwrap();
    // The weighted terms add up to the total (the main loss is the contrastive one, 0 here).
    let t = m.terms(&batch, &mut ctx.rng()).unwrap();
    let weighted = f64::try_from(&t.mlm).unwrap() * 0.1 + f64::try_from(&t.mam).unwrap() * 4.0 + f64::try_from(&t.atm).unwrap() * 2.0;
    let names: Vec<&str> = loss.terms().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["mlm", "mam", "atm"]);
    let total = loss.mean_total();
    assert!((f64::try_from(&total).unwrap() - weighted).abs() < 1e-3 * weighted.max(1.0), "{total:?} vs {weighted}");
    total.backward();
    for (name, t) in vs.variables() {
        if name.starts_with("projector") || name.contains("running_") || name.contains("num_batches") {
            continue; // the contrastive baseline's head; BatchNorm statistics
        }
        let g = t.grad();
        assert!(g.defined() && f64::try_from(g.abs().sum(Kind::Float)).unwrap() > 0.0, "{name} has no gradient");
    }
    let mut opt = ssl_core::train::Optimizer::new(ssl_core::train::OptimizerConfig::new(ssl_core::train::OptimizerKind::Adamw), vs.variables());
    // The same masks and swaps every step (the same context), so the losses are comparable.
    let mut losses = Vec::new();
    for _ in 0..40 {
        opt.zero_grad();
        let loss = m.loss(&batch, &ctx).unwrap().mean_total();
        losses.push(f64::try_from(&loss).unwrap());
        loss.backward();
        opt.step(3e-3);
    }
    assert!(losses[39] < 0.7 * losses[0], "{losses:?}");

    // The audio-only contrastive baseline: two views, only its term.
    let cfg_c = tiny().audio_only_contrastive();
    let vs = nn::VarStore::new(Device::Cpu);
    let mut c = Mulap::new(&vs.root(), &cfg_c, vocab.size() as i64).unwrap();
    let (clips, _) = load(&d, &cfg_c);
    let batch = ClipLoader::new(Rc::new(clips), (0..8).collect(), &cfg_c, 8, 0).unwrap().next_batch().unwrap();
    assert_eq!(batch.views().len(), 2);
    let loss = c.loss(&batch, &ctx).unwrap();
    assert!(loss.terms().is_empty(), "the baseline has only its contrastive loss");
    assert!(f64::try_from(loss.mean_total()).unwrap() > 0.0);
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn batches_are_seeded_by_index_and_windows_stay_inside_the_tunes() {
    let d = catalogue("loader", 6);
    let cfg = tiny();
    let (clips, _) = load(&d, &cfg);
    let clips = Rc::new(clips);
    assert_eq!(clips.len(), 6);
    assert_eq!(clips.tokens.size(), [6, 16]);
    let mut a = ClipLoader::new(clips.clone(), (0..6).collect(), &cfg, 4, 7).unwrap();
    let b0 = a.next_batch().unwrap();
    let b1 = a.next_batch().unwrap();
    assert_eq!(b0.views()[0].size(), [4, 2, 20, 16]);
    let mut b = ClipLoader::new(clips.clone(), (0..6).collect(), &cfg, 4, 7).unwrap();
    b.start(1).unwrap();
    assert!(b.next_batch().unwrap().views()[0].equal(&b1.views()[0]), "a restarted stream differs");
    assert!(!b0.views()[0].equal(&b1.views()[0]));
    assert!(ClipLoader::new(clips.clone(), vec![0], &cfg, 2, 0).is_err());
    // The clip of a tune is its features, standardised.
    let x = clips.clip(0, 0, &cfg);
    assert!(f64::try_from(x.abs().max()).unwrap() < 10.0);
    // A wrong clip shape is an error, not a panic.
    let vs = nn::VarStore::new(Device::Cpu);
    let m = Mulap::new(&vs.root(), &cfg, 50).unwrap();
    assert!(m.encoder().chunk_vectors(&Tensor::zeros([2, 3, 20, 16], (Kind::Float, Device::Cpu)), false).is_err());
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn recordings_at_another_rate_too_short_or_missing_are_errors_naming_them() {
    let cfg = tiny();
    let d = catalogue("bad", 3);
    support::write_wav(&d.join("t1.wav"), &melody(&[0], 1, 1.5), 8000);
    let e = format!("{:#}", ssl_audio::mulap::clips::read_music(&d.join("music.csv"), &cfg).err().unwrap());
    assert!(e.contains("t1.wav") && e.contains("8000 Hz"), "{e}");
    support::write_wav(&d.join("t1.wav"), &melody(&[0], 1, 0.2), 16000);
    let e = format!("{:#}", ssl_audio::mulap::clips::read_music(&d.join("music.csv"), &cfg).err().unwrap());
    assert!(e.contains("t1.wav") && e.contains("fewer than one clip"), "{e}");
    std::fs::remove_file(d.join("t1.wav")).unwrap();
    let e = format!("{:#}", ssl_audio::mulap::clips::read_music(&d.join("music.csv"), &cfg).err().unwrap());
    assert!(e.contains("t1.wav"), "{e}");
    std::fs::remove_file(d.join("tokenizer.json")).unwrap();
    let e = format!("{:#}", ssl_audio::mulap::clips::read_music(&d.join("music.csv"), &cfg).err().unwrap());
    assert!(e.contains("tokenizer.json"), "{e}");
    let mut bad = tiny();
    bad.heads = 3;
    assert!(bad.validate().unwrap_err().to_string().contains("heads"));
    let mut bad = tiny();
    (bad.mlm_weight, bad.mam_weight, bad.atm_weight) = (0.0, 0.0, 0.0);
    assert!(bad.validate().unwrap_err().to_string().contains("every loss weight is 0"));
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn mulap_pretrain_and_the_experiment_run_end_to_end() {
    let d = catalogue("cli", 20);
    let config = d.join("tiny.toml");
    std::fs::write(
        &config,
        "[model]\nbins = 16\nchunk_frames = 20\nchunks = 2\ntimbre_filters = 4\ntemporal_filters = 2\nbackend = 8\nd_model = 16\nheads = 2\nmlp = 32\n\
         audio_layers = 1\ntext_layers = 1\nmax_tokens = 16\n[train]\nsteps = 3\nbatch_size = 4\nwarmup_steps = 1\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ssl-audio")).args(args).env("OMP_NUM_THREADS", "1").output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (csv, out) = (s(&d.join("music.csv")), s(&d.join("run")));
    let (ok, stdout, err) = run(&["mulap-pretrain", "--config", &s(&config), "--data", &csv, "--out", &out, "--device", "cpu", "--quiet"]);
    assert!(ok, "{err}");
    assert!(stdout.contains("MuLaP on") && stdout.contains("3 steps"), "{stdout}");
    let trained = ssl_audio::mulap::pipeline::load_trained(&d.join("run"), Device::Cpu).unwrap();
    assert_eq!(trained.step, 3);
    let doc = d.join("mulap.md");
    let (ok, stdout, err) = run(&[
        "mulap-experiment",
        "--config",
        &s(&config),
        "--data",
        &csv,
        "--runs",
        &s(&d.join("runs")),
        "--doc",
        &s(&doc),
        "--seeds",
        "1",
        "--test-fraction",
        "0.4",
        "--device",
        "cpu",
        "--quiet",
    ]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&doc).unwrap();
    for row in ["majority class", "log-mel statistics", "random encoder", "audio-only contrastive", "| MuLaP |", "recall@1"] {
        assert!(text.contains(row) && (row == "recall@1" || stdout.contains(row.trim_matches(|c| c == '|' || c == ' '))), "{row} missing:\n{text}");
    }
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(doc.with_extension("json")).unwrap()).unwrap();
    assert_eq!(json["outcomes"].as_array().unwrap().len(), 5);
    assert_eq!(json["retrieval"].as_array().unwrap().len(), 1);
    // A catalogue without its vocabulary is an error naming the missing file.
    std::fs::remove_file(d.join("tokenizer.json")).unwrap();
    let (ok, _, err) = run(&["mulap-pretrain", "--config", &s(&config), "--data", &csv, "--out", &s(&d.join("run2")), "--device", "cpu", "--quiet"]);
    assert!(!ok && err.contains("tokenizer.json"), "{err}");
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn captions_are_masked_alike_whether_matched_or_swapped_and_only_matched_ones_count() {
    use ssl_audio::mulap::method::mask_caption_tokens;
    use ssl_audio::music::vocabulary::{CLS, MASK, PAD, SEP};
    // 400 rows of [CLS] 10..18 [SEP] [PAD]: even rows matched, odd ones swapped.
    let row = [CLS, 10, 11, 12, 13, 14, 15, 16, 17, 18, SEP, PAD];
    let ids: Vec<i64> = (0..400).flat_map(|_| row).collect();
    let matched: Vec<bool> = (0..400).map(|i| i % 2 == 0).collect();
    let (masked, selected) = mask_caption_tokens(&ids, row.len(), &matched, 0.15, 50, &mut ssl_core::seed::rng(&[3]));
    let count = |even: bool| {
        masked.chunks(row.len()).enumerate().filter(|(i, _)| (i % 2 == 0) == even).map(|(_, r)| r.iter().filter(|&&t| t == MASK).count()).sum::<usize>() as f64
    };
    // 200 rows x 9 pieces x 15% x 80% = 216 [MASK]s expected on each side.
    for side in [count(true), count(false)] {
        assert!((side - 216.0).abs() < 50.0, "{side} [MASK]s");
    }
    for (k, (&id, &m)) in ids.iter().zip(&masked).enumerate() {
        if [CLS, SEP, PAD].contains(&id) {
            assert_eq!(m, id, "a special token was masked");
        }
        if selected[k] {
            assert!(matched[k / row.len()], "a swapped caption's piece counts for the loss");
        }
    }
    let chosen = selected.iter().filter(|&&s| s).count() as f64;
    assert!((chosen - 270.0).abs() < 60.0, "{chosen} pieces chosen on matched rows");
}
