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

/// A RIFF chunk: id, little-endian size, data (padded to even length).
fn chunk(id: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = id.to_vec();
    c.extend((data.len() as u32).to_le_bytes());
    c.extend(data);
    if data.len() % 2 == 1 {
        c.push(0);
    }
    c
}

fn list(kind: &[u8; 4], chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut d = kind.to_vec();
    chunks.iter().for_each(|c| d.extend(c));
    chunk(b"LIST", &d)
}

fn name20(s: &str) -> Vec<u8> {
    let mut n = s.as_bytes().to_vec();
    n.resize(20, 0);
    n
}

/// A minimal General MIDI soundfont: one preset (bank 0, program 0) of one looped sine
/// sample at 440 Hz, key 69. Every program falls back to it.
pub fn write_soundfont(path: &Path) {
    let rate = 22050u32;
    let period = 50usize; // 441 Hz at 22050
    let cycles = 40;
    let mut smpl: Vec<u8> = Vec::new();
    let n = period * cycles;
    for i in 0..n {
        let v = (8000.0 * (std::f64::consts::TAU * i as f64 / period as f64).sin()) as i16;
        smpl.extend(v.to_le_bytes());
    }
    smpl.extend(vec![0u8; 46 * 2]); // the 46 zero samples the format asks for after each sample
    let u16s = |v: &[u16]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let phdr = |name: &str, preset: u16, bag: u16| {
        let mut r = name20(name);
        r.extend(u16s(&[preset, 0, bag]));
        r.extend([0u8; 12]);
        r
    };
    let inst = |name: &str, bag: u16| {
        let mut r = name20(name);
        r.extend(u16s(&[bag]));
        r
    };
    let shdr = |name: &str, start: u32, end: u32, sl: u32, el: u32, rate: u32, pitch: u8, kind: u16| {
        let mut r = name20(name);
        for v in [start, end, sl, el, rate] {
            r.extend(v.to_le_bytes());
        }
        r.extend([pitch, 0]);
        r.extend(u16s(&[0, kind]));
        r
    };
    let info = list(b"INFO", &[chunk(b"ifil", &u16s(&[2, 1])), chunk(b"isng", b"EMU8000\0"), chunk(b"INAM", b"test sine\0")]);
    let sdta = list(b"sdta", &[chunk(b"smpl", &smpl)]);
    let pdta = list(
        b"pdta",
        &[
            chunk(b"phdr", &[phdr("sine", 0, 0), phdr("EOP", 0, 1)].concat()),
            chunk(b"pbag", &u16s(&[0, 0, 1, 0])),
            chunk(b"pmod", &[0u8; 10]),
            // instrument (41) = 0, then the terminal record.
            chunk(b"pgen", &u16s(&[41, 0, 0, 0])),
            chunk(b"inst", &[inst("sine", 0), inst("EOI", 1)].concat()),
            chunk(b"ibag", &u16s(&[0, 0, 2, 0])),
            chunk(b"imod", &[0u8; 10]),
            // sampleModes (54) = 1 (loop), sampleID (53) = 0, terminal.
            chunk(b"igen", &u16s(&[54, 1, 53, 0, 0, 0])),
            chunk(b"shdr", &[shdr("sine", 0, n as u32, 0, n as u32, rate, 69, 1), shdr("EOS", 0, 0, 0, 0, 0, 0, 0)].concat()),
        ],
    );
    let mut body = b"sfbk".to_vec();
    body.extend(info);
    body.extend(sdta);
    body.extend(pdta);
    std::fs::write(path, chunk(b"RIFF", &body)).unwrap();
}

/// A format-0 MIDI file (480 ticks per quarter at 120 bpm) playing `notes` one after the
/// other, each half a second; no notes gives a file with only its end of track.
pub fn write_midi(path: &Path, notes: &[u8]) {
    let mut track: Vec<u8> = vec![0x00, 0xC0, 0x00]; // program change to 0
    for &n in notes {
        track.extend([0x00, 0x90, n, 100]); // note on now
        track.extend([0x83, 0x60, 0x80, n, 0]); // note off after 480 ticks (varint 0x83 0x60)
    }
    track.extend([0x00, 0xFF, 0x2F, 0x00]);
    let mut f = b"MThd".to_vec();
    f.extend(6u32.to_be_bytes());
    f.extend([0, 0, 0, 1, 0x01, 0xE0]);
    f.extend(b"MTrk");
    f.extend((track.len() as u32).to_be_bytes());
    f.extend(track);
    std::fs::write(path, f).unwrap();
}
