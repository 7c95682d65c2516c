//! The `ssl-audio` commands end to end on tiny real data.
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio").join(name)
}

fn speakers(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ssl-audio-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    for (speaker, file) in [("allison", "en_allison_seven.wav"), ("carlo", "it_carlo_sette.wav")] {
        std::fs::create_dir_all(d.join(speaker)).unwrap();
        std::fs::copy(fixture(file), d.join(speaker).join("7.wav")).unwrap();
    }
    d
}

fn ssl_audio(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ssl-audio")).args(args).env("OMP_NUM_THREADS", "1").output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
}

#[test]
fn inspect_summarises_speakers_and_durations() {
    let d = speakers("inspect");
    let (ok, out, err) = ssl_audio(&["inspect", "--data", d.to_str().unwrap(), "--rate", "8000"]);
    assert!(ok, "{err}");
    assert!(out.contains("allison") && out.contains("carlo") && out.contains("2 recordings, 2 classes"), "{out}");
    let (ok, _, err) = ssl_audio(&["inspect", "--data", d.join("nobody").to_str().unwrap()]);
    assert!(!ok && err.contains("nobody") && err.contains("cannot list"), "{err}");
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn features_writes_one_tensor_per_recording_and_keeps_the_old_file_on_failure() {
    let d = speakers("features");
    let out = d.join("fbank.safetensors");
    let (ok, _, err) =
        ssl_audio(&["features", "--input", d.to_str().unwrap(), "--out", out.to_str().unwrap(), "--rate", "16000", "--num-bins", "40", "--device", "cpu"]);
    assert!(ok, "{err}");
    let tensors = tch::Tensor::read_safetensors(&out).unwrap();
    let mut names: Vec<_> = tensors.iter().map(|(n, t)| (n.clone(), t.size())).collect();
    names.sort();
    // 6561 samples at 8 kHz are 13122 at 16 kHz: 1 + (13122 - 400) / 160 = 80 frames.
    assert_eq!(names, [("allison/7.wav".to_string(), vec![80, 40]), ("carlo/7.wav".to_string(), vec![49, 40])]);
    let side: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("fbank.json")).unwrap()).unwrap();
    assert_eq!(side["labels"], serde_json::json!([0, 1]));
    assert_eq!(side["class_names"], serde_json::json!(["allison", "carlo"]));
    assert_eq!(side["options"]["mel"]["num_bins"], 40);

    // MFCC of a single file, with options from a TOML file.
    let cfg = d.join("mfcc.toml");
    std::fs::write(&cfg, "num_ceps = 20\ncepstral_lifter = 0.0\n[mel]\nnum_bins = 30\n").unwrap();
    let one = d.join("one.safetensors");
    let (ok, _, err) = ssl_audio(&[
        "features",
        "--kind",
        "mfcc",
        "--input",
        fixture("it_carlo_sette.wav").to_str().unwrap(),
        "--out",
        one.to_str().unwrap(),
        "--rate",
        "8000",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let t = tch::Tensor::read_safetensors(&one).unwrap();
    assert_eq!((t[0].0.as_str(), t[0].1.size()), ("it_carlo_sette.wav", vec![49, 20]));

    // A broken recording: a clear error naming it, and the earlier output is untouched.
    let before = std::fs::read(&out).unwrap();
    std::fs::write(d.join("carlo").join("broken.wav"), b"RIFF....WAVEfmt nonsense").unwrap();
    let (ok, _, err) = ssl_audio(&["features", "--input", d.to_str().unwrap(), "--out", out.to_str().unwrap(), "--rate", "16000", "--device", "cpu"]);
    assert!(!ok && err.contains("broken.wav") && err.contains("--skip-bad"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), before);
    let (ok, _, err) =
        ssl_audio(&["features", "--input", d.to_str().unwrap(), "--out", out.to_str().unwrap(), "--rate", "16000", "--device", "cpu", "--skip-bad"]);
    assert!(ok && err.contains("left out 1 of 3"), "{err}");

    // Features named .json would be overwritten by their own sidecar: refused.
    let (ok, _, err) = ssl_audio(&["features", "--input", d.to_str().unwrap(), "--out", d.join("f.json").to_str().unwrap(), "--device", "cpu"]);
    assert!(!ok && err.contains("f.json") && err.contains("cannot be a .json"), "{err}");

    // A config key that does not exist is named.
    std::fs::write(&cfg, "num_cepstra = 20\n").unwrap();
    let (ok, _, err) =
        ssl_audio(&["features", "--kind", "mfcc", "--input", d.to_str().unwrap(), "--out", one.to_str().unwrap(), "--config", cfg.to_str().unwrap()]);
    assert!(!ok && err.contains("num_cepstra"), "{err}");
    std::fs::remove_dir_all(d).ok();
}

mod support;

#[test]
fn pretrain_trials_verify_and_the_experiment_run_end_to_end() {
    let voices = support::voices("cli-speaker", 3, 5);
    let data = voices.to_str().unwrap();
    // Outputs beside the data, not in it (a folder in it would be a speaker).
    let d = voices.with_extension("out");
    std::fs::create_dir_all(&d).unwrap();
    let run = d.join("run");
    let tiny = [
        "--width",
        "8",
        "--steps",
        "4",
        "--batch-size",
        "6",
        "--seconds",
        "0.8",
        "--device",
        "cpu",
        "--quiet",
        "--set",
        "segments.num_bins=24",
        "--set",
        "model.projector_hidden=32",
        "--set",
        "model.projector_dim=16",
        "--set",
        "model.predictor_hidden=16",
    ];
    let mut args = vec!["pretrain", "--data", data, "--out", run.to_str().unwrap()];
    args.extend(tiny);
    let (ok, out, err) = ssl_audio(&args);
    assert!(ok, "{err}");
    assert!(out.contains("ssreg (ecapa-tdnn): 4 steps"), "{out}");
    assert!(run.join("config.toml").exists());

    let trials = d.join("trials.txt");
    let (ok, out, err) = ssl_audio(&["trials", "--data", data, "--out", trials.to_str().unwrap(), "--exclude", "spk2"]);
    assert!(ok, "{err}");
    // Two speakers of five recordings: 2 x C(5, 2) = 20 target pairs, 20 non-target ones.
    assert!(out.contains("20 target and 20 non-target trials over 10 recordings"), "{out}");
    assert!(!std::fs::read_to_string(&trials).unwrap().contains("spk2"));

    let export = d.join("emb");
    let report = d.join("report.json");
    let plots = d.join("plots");
    let (ok, out, err) = ssl_audio(&[
        "verify",
        "--run",
        run.to_str().unwrap(),
        "--data",
        data,
        "--trials",
        trials.to_str().unwrap(),
        "--export",
        export.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--plots",
        plots.to_str().unwrap(),
        "--bootstrap",
        "20",
        "--device",
        "cpu",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("EER") && out.contains("minDCF"), "{out}");
    let feats = tch::Tensor::read_npy(export.join("features.npy")).unwrap();
    assert_eq!(feats.size(), [10, 192]);
    assert_eq!(std::fs::read_to_string(export.join("names.txt")).unwrap().lines().count(), 10);
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(r["eer"]["value"].as_f64().is_some_and(|e| (0.0..=1.0).contains(&e)), "{r}");
    let det = std::fs::read_to_string(plots.join("det.svg")).unwrap();
    assert!(det.starts_with("<svg") && det.contains("<polyline"), "det.svg is no DET plot");
    // One dot per recording.
    assert!(std::fs::read_to_string(plots.join("embeddings.svg")).unwrap().matches("<circle").count() >= 10);

    // A recording at another rate than the encoder's is an error naming it, unless resampled.
    let odd = voices.join("spk0/u0.wav");
    support::write_wav(&odd, &support::utterance(0, 0, 1.2, 16000), 16000);
    let verify = |extra: &[&str]| {
        let mut args =
            vec!["verify", "--run", run.to_str().unwrap(), "--data", data, "--trials", trials.to_str().unwrap(), "--bootstrap", "5", "--device", "cpu"];
        args.extend_from_slice(extra);
        ssl_audio(&args)
    };
    let (ok, _, err) = verify(&[]);
    assert!(!ok && err.contains("u0.wav") && err.contains("16000 Hz") && err.contains("--resample"), "{err}");
    let (ok, _, err) = verify(&["--resample"]);
    assert!(ok, "{err}");
    // A missing recording names its path.
    support::write_wav(&odd, &support::utterance(0, 0, 1.2, 8000), 8000);
    std::fs::remove_file(voices.join("spk1/u1.wav")).unwrap();
    let (ok, _, err) = verify(&[]);
    assert!(!ok && err.contains("u1.wav"), "{err}");
    support::write_wav(&voices.join("spk1/u1.wav"), &support::utterance(1, 1, 1.3, 8000), 8000);

    // The experiment: every row at one seed, written as Markdown and JSON.
    let doc = d.join("ssreg.md");
    let (ok, out, err) = ssl_audio(&[
        "ssreg-experiment",
        "--data",
        data,
        "--runs",
        d.join("runs").to_str().unwrap(),
        "--doc",
        doc.to_str().unwrap(),
        "--seeds",
        "1",
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--exclude",
        "spk2",
        "--test-fraction",
        "0.4",
        "--bootstrap",
        "5",
        "--device",
        "cpu",
        "--quiet",
    ]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&doc).unwrap();
    for row in ["filterbank statistics", "random encoder", "contrastive (NT-Xent)", "contrastive + SSReg", "SSReg alone"] {
        assert!(text.contains(row) && out.contains(row), "{row} missing:\n{text}");
    }
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(doc.with_extension("json")).unwrap()).unwrap();
    assert_eq!(json["outcomes"].as_array().unwrap().len(), 5);
    assert!(text.contains("ssreg-det.svg") && text.contains("ssreg-embeddings.svg"), "{text}");
    assert!(std::fs::read_to_string(d.join("ssreg-det.svg")).unwrap().matches("<polyline").count() >= 6, "a DET curve per row and the diagonal");
    assert!(d.join("ssreg-embeddings.svg").exists());
    std::fs::remove_dir_all(d).ok();
    std::fs::remove_dir_all(voices).ok();
}

#[test]
fn the_speaker_step_benchmark_refuses_another_model_and_reports_the_ratio() {
    let d = std::env::temp_dir().join(format!("ssl-audio-cli-bench-step-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    // A stand-in for the PyTorch script (CI has no torch): first with a wrong parameter count.
    let stub = d.join("stub.py");
    let write_stub =
        |params: i64| std::fs::write(&stub, format!("import json; print(json.dumps({{'steps_per_second': 10.0, 'parameters': {params}}}))\n")).unwrap();
    write_stub(1);
    let json = d.join("bench.json");
    let args = |stub: &Path, json: &Path| -> Vec<String> {
        [
            "bench-speaker-step",
            "--batch",
            "4",
            "--frames",
            "20",
            "--bins",
            "8",
            "--channels",
            "8",
            "--steps",
            "1",
            "--warmup",
            "1",
            "--repeats",
            "2",
            "--threads",
            "1",
            "--python",
            "python3",
            "--script",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([stub.display().to_string(), "--json".into(), json.display().to_string()])
        .collect()
    };
    let a = args(&stub, &json);
    let (ok, _, err) = ssl_audio(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!ok && err.contains("not the same model"), "{err}");
    let ours: i64 = err
        .split("ours ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .expect("our parameter count in the message");
    write_stub(ours);
    let (ok, out, err) = ssl_audio(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "{err}");
    assert!(out.contains("median of 2 rounds") && out.contains(&format!("{ours} parameters each")), "{out}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let row = &v["rows"][0];
    assert_eq!(row["pytorch_steps_per_second"].as_f64(), Some(10.0));
    assert!((row["ratio"].as_f64().unwrap() - row["ours_steps_per_second"].as_f64().unwrap() / 10.0).abs() < 1e-12);
    assert_eq!(row["ours_rounds"].as_array().unwrap().len(), 2);
    std::fs::remove_dir_all(d).ok();
}
