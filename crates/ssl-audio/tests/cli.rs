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
