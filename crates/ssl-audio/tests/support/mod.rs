//! Generated voices for the speaker tests: each speaker a harmonic source at its own
//! pitch through its own two-formant colouring, each utterance its own syllable rhythm.
#![allow(dead_code)]
use std::path::{Path, PathBuf};

/// Samples of one utterance of `speaker` (0, 1, 2, ...) at `rate` Hz, `seconds` long.
pub fn utterance(speaker: usize, utt: usize, seconds: f64, rate: u32) -> Vec<f32> {
    let f0 = 110.0 + 45.0 * speaker as f64;
    let formants = [500.0 + 150.0 * speaker as f64, 1500.0 + 300.0 * speaker as f64];
    let n = (seconds * f64::from(rate)) as usize;
    let syllable = 3.0 + (utt % 4) as f64;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let envelope = 0.5 * (1.0 - (2.0 * std::f64::consts::PI * syllable * t + utt as f64).cos());
            let mut s = 0.0;
            let mut h = 1.0;
            while h * f0 < f64::from(rate) / 2.0 {
                let f = h * f0 * (1.0 + 0.02 * (2.0 * std::f64::consts::PI * 0.7 * t + utt as f64).sin());
                let gain: f64 = formants.iter().map(|&fm| 1.0 / (1.0 + ((f - fm) / 150.0).powi(2))).sum();
                s += gain * (2.0 * std::f64::consts::PI * f * t + h * utt as f64).sin() / h;
                h += 1.0;
            }
            (0.2 * envelope * s) as f32
        })
        .collect()
}

/// Writes 16-bit PCM `samples` at `rate` Hz to `path`.
pub fn write_wav(path: &Path, samples: &[f32], rate: u32) {
    let spec = hound::WavSpec { channels: 1, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

/// A fresh folder `<tmp>/<tag>` with `speakers` sub-folders of `per_speaker` 1.2 s
/// utterances at 8 kHz (`spk0/u0.wav`, ...).
pub fn voices(tag: &str, speakers: usize, per_speaker: usize) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ssl-audio-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    for s in 0..speakers {
        let dir = d.join(format!("spk{s}"));
        std::fs::create_dir_all(&dir).unwrap();
        for u in 0..per_speaker {
            write_wav(&dir.join(format!("u{u}.wav")), &utterance(s, u, 1.2 + 0.1 * u as f64, 8000), 8000);
        }
    }
    d
}
