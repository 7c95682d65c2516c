//! Reading audio: real recordings, every encoding we claim, resampling, labelled sets,
//! and broken files (each an error naming the file, never a panic or a short waveform).
use ssl_audio::data::read_audio_set;
use ssl_audio::io::{read_audio, resample};
use ssl_audio::Waveform;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio").join(name)
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ssl-audio-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_wav(path: &Path, spec: hound::WavSpec, samples: &[f32]) {
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        match spec.sample_format {
            hound::SampleFormat::Float => w.write_sample(s).unwrap(),
            hound::SampleFormat::Int => w.write_sample((s * ((1i64 << (spec.bits_per_sample - 1)) - 1) as f32) as i32).unwrap(),
        }
    }
    w.finalize().unwrap();
}

fn err(path: &Path) -> String {
    match read_audio(path) {
        Ok(w) => panic!("{} read as {} samples at {} Hz", path.display(), w.samples.len(), w.sample_rate),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn real_speech_decodes_with_its_rate_and_length() {
    let wave = read_audio(&fixture("en_allison_seven.wav")).unwrap();
    assert_eq!((wave.sample_rate, wave.samples.len()), (8000, 6561));
    assert!(wave.peak() > 0.1 && wave.peak() <= 1.0, "peak {}", wave.peak());
    let it = read_audio(&fixture("it_carlo_sette.wav")).unwrap();
    assert_eq!((it.sample_rate, it.samples.len()), (8000, 4072));
}

#[test]
fn stereo_float_and_24_bit_wavs_mix_down_to_the_channel_mean() {
    let dir = temp_dir("mix");
    let left: Vec<f32> = (0..800).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
    let interleaved: Vec<f32> = left.iter().flat_map(|&l| [l, -0.25]).collect();
    let float = dir.join("stereo.wav");
    write_wav(&float, hound::WavSpec { channels: 2, sample_rate: 44100, bits_per_sample: 32, sample_format: hound::SampleFormat::Float }, &interleaved);
    let wave = read_audio(&float).unwrap();
    assert_eq!((wave.sample_rate, wave.samples.len()), (44100, 800));
    for (m, l) in wave.samples.iter().zip(&left) {
        assert!((m - (l - 0.25) / 2.0).abs() < 1e-6);
    }
    let deep = dir.join("deep.wav");
    write_wav(&deep, hound::WavSpec { channels: 1, sample_rate: 48000, bits_per_sample: 24, sample_format: hound::SampleFormat::Int }, &left);
    let wave = read_audio(&deep).unwrap();
    assert!(wave.samples.iter().zip(&left).all(|(a, b)| (a - b).abs() < 1e-5));
    std::fs::remove_dir_all(dir).ok();
}

/// A WAV of 8-bit G.711 mu-law samples (format tag 7), as telephony recordings are.
fn mu_law_wav(codes: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    let data_len = codes.len() as u32;
    b.extend(b"RIFF");
    b.extend((4 + 26 + 12 + 8 + data_len).to_le_bytes());
    b.extend(b"WAVEfmt ");
    b.extend(18u32.to_le_bytes());
    b.extend(7u16.to_le_bytes()); // WAVE_FORMAT_MULAW
    b.extend(1u16.to_le_bytes()); // mono
    b.extend(8000u32.to_le_bytes());
    b.extend(8000u32.to_le_bytes()); // bytes per second
    b.extend(1u16.to_le_bytes()); // block align
    b.extend(8u16.to_le_bytes()); // bits per sample
    b.extend(0u16.to_le_bytes()); // cbSize
    b.extend(b"fact");
    b.extend(4u32.to_le_bytes());
    b.extend(data_len.to_le_bytes());
    b.extend(b"data");
    b.extend(data_len.to_le_bytes());
    b.extend(codes);
    b
}

#[test]
fn companded_mu_law_wav_decodes_through_symphonia() {
    let dir = temp_dir("mulaw");
    let path = dir.join("phone.wav");
    // G.711: 0xFF and 0x7F are zero, 0x80 / 0x00 the largest positive / negative value.
    let codes: Vec<u8> = [0xFFu8, 0x80, 0x00, 0x7F].repeat(100);
    std::fs::write(&path, mu_law_wav(&codes)).unwrap();
    let wave = read_audio(&path).unwrap();
    assert_eq!((wave.sample_rate, wave.samples.len()), (8000, 400));
    let s = &wave.samples;
    assert!(s[0].abs() < 1e-3 && s[3].abs() < 1e-3, "{:?}", &s[..4]);
    assert!(s[1] > 0.95 && s[2] < -0.95, "{:?}", &s[..4]);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn resampling_keeps_duration_and_pitch() {
    let rate = 8000u32;
    let tone: Vec<f32> = (0..rate as usize).map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin() * 0.5).collect();
    let wave = Waveform::new(tone, rate, Path::new("tone")).unwrap();
    let up = resample(&wave, 16000).unwrap();
    assert_eq!(up.sample_rate, 16000);
    assert!((up.samples.len() as i64 - 16000).abs() <= 2, "{} samples", up.samples.len());
    // The tone is still at 440 Hz: the spectrum's peak bin (1 Hz bins over one second).
    let x = tch::Tensor::from_slice(&up.samples[..16000]);
    let peak = x.fft_rfft(None, -1, "backward").abs().argmax(-1, false).int64_value(&[]);
    assert!((peak - 440).abs() <= 1, "peak at {peak} Hz");
    // Its level too (away from the edges).
    let mid = &up.samples[4000..12000];
    let rms = (mid.iter().map(|s| s * s).sum::<f32>() / mid.len() as f32).sqrt();
    assert!((rms - 0.5 / 2f32.sqrt()).abs() < 0.01, "rms {rms}");
    assert_eq!(resample(&wave, 8000).unwrap(), wave);
    assert!(resample(&wave, 0).is_err());
}

#[test]
fn broken_files_are_errors_naming_the_file() {
    let dir = temp_dir("broken");
    let real = std::fs::read(fixture("en_allison_seven.wav")).unwrap();

    let missing = dir.join("missing.wav");
    assert!(err(&missing).contains("missing.wav") && err(&missing).contains("cannot open"), "{}", err(&missing));

    let empty = dir.join("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    assert!(err(&empty).contains("empty.wav") && err(&empty).contains("empty"), "{}", err(&empty));

    let truncated = dir.join("truncated.wav");
    std::fs::write(&truncated, &real[..real.len() / 2 + 1]).unwrap();
    let e = err(&truncated);
    assert!(e.contains("truncated.wav") && e.contains("truncated"), "{e}");

    let header_only = dir.join("header-only.wav");
    std::fs::write(&header_only, &real[..44]).unwrap();
    let e = err(&header_only);
    assert!(e.contains("header-only.wav"), "{e}");

    let garbage = dir.join("garbage.wav");
    std::fs::write(&garbage, b"this is not a RIFF file at all, just text").unwrap();
    assert!(err(&garbage).contains("garbage.wav"), "{}", err(&garbage));

    let zero = dir.join("zero-length.wav");
    write_wav(&zero, hound::WavSpec { channels: 1, sample_rate: 8000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int }, &[]);
    let e = err(&zero);
    assert!(e.contains("zero-length.wav") && e.contains("no samples"), "{e}");

    let nan = dir.join("nan.wav");
    write_wav(&nan, hound::WavSpec { channels: 1, sample_rate: 8000, bits_per_sample: 32, sample_format: hound::SampleFormat::Float }, &[0.1, f32::NAN, 0.2]);
    let e = err(&nan);
    assert!(e.contains("nan.wav") && e.contains("NaN"), "{e}");

    let text = dir.join("notes.txt");
    std::fs::write(&text, b"hello").unwrap();
    assert!(err(&text).contains("not an audio file"), "{}", err(&text));

    // The content decides, not the name: a WAV called .flac still reads; text does not.
    let renamed = dir.join("renamed.flac");
    std::fs::write(&renamed, &real).unwrap();
    assert_eq!(read_audio(&renamed).unwrap().samples.len(), 6561);
    let fake_ogg = dir.join("fake.ogg");
    std::fs::write(&fake_ogg, b"OggS but then nothing that an Ogg page would hold").unwrap();
    let e = err(&fake_ogg);
    assert!(e.contains("fake.ogg"), "{e}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_speaker_folder_gives_labelled_recordings_and_bad_ones_are_named_or_skipped() {
    let dir = temp_dir("set");
    for (speaker, file) in [("allison", "en_allison_seven.wav"), ("carlo", "it_carlo_sette.wav")] {
        std::fs::create_dir_all(dir.join(speaker)).unwrap();
        for i in 0..2 {
            std::fs::copy(fixture(file), dir.join(speaker).join(format!("{i}.wav"))).unwrap();
        }
    }
    let set = read_audio_set(&dir, 16000, false).unwrap();
    assert_eq!(set.len(), 4);
    assert_eq!(set.listing.class_names, ["allison", "carlo"]);
    assert_eq!(set.listing.labels.as_deref(), Some(&[0i64, 0, 1, 1][..]));
    assert!(set.waves.iter().all(|w| w.sample_rate == 16000));
    assert!((set.waves[0].samples.len() as i64 - 2 * 6561).abs() <= 2);

    // A silent recording is refused by name; --skip-bad leaves it out.
    let silent = dir.join("carlo").join("silent.wav");
    write_wav(&silent, hound::WavSpec { channels: 1, sample_rate: 8000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int }, &[0.0; 800]);
    let e = format!("{:#}", read_audio_set(&dir, 16000, false).unwrap_err());
    assert!(e.contains("silent.wav") && e.contains("silent"), "{e}");
    let set = read_audio_set(&dir, 16000, true).unwrap();
    assert_eq!(set.len(), 4);
    assert!(!set.listing.files.iter().any(|f| f.ends_with("silent.wav")));

    // The same recordings through a CSV, labels by name.
    let csv = dir.join("list.csv");
    std::fs::write(&csv, "path,label,extra\nallison/0.wav,A,x\ncarlo/1.wav,C,y\nallison/1.wav,A,z\n").unwrap();
    let set = read_audio_set(&csv, 8000, false).unwrap();
    assert_eq!(set.listing.class_names, ["A", "C"]);
    assert_eq!(set.listing.labels.as_deref(), Some(&[0i64, 1, 0][..]));
    std::fs::write(&csv, "path,label\nallison/0.wav,A\nnobody/9.wav,B\n").unwrap();
    let e = format!("{:#}", read_audio_set(&csv, 8000, false).unwrap_err());
    assert!(e.contains("list.csv") && e.contains("line 3") && e.contains("does not exist"), "{e}");
    std::fs::write(&csv, "file,speaker\nallison/0.wav,A\n").unwrap();
    let e = format!("{:#}", read_audio_set(&csv, 8000, false).unwrap_err());
    assert!(e.contains("no 'path' column"), "{e}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn flac_ogg_mp3_and_companded_wav_from_real_files_decode_completely() {
    // (file, rate, frames): frame counts from each file's own header (FLAC STREAMINFO,
    // the last Ogg page's granule position, the WAV data chunk).
    for (name, rate, frames) in [
        ("note_mono_44k.flac", 44100, 44100),
        ("phase_jump_stereo_44k.ogg", 44100, 17920),
        ("phase_jump_stereo_44k.wav", 44100, 15172),
        ("sine_stereo_float32_44k.wav", 44100, 441),
    ] {
        let wave = read_audio(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert_eq!((wave.sample_rate, wave.samples.len()), (rate, frames), "{name}");
        assert!(wave.peak() > 0.01, "{name} decodes to silence");
    }
    // MP3: 63 frames of 1152 samples, less the encoder delay and padding when the LAME
    // header is honoured.
    let mp3 = read_audio(&fixture("laser_mono_44k.mp3")).unwrap();
    assert_eq!(mp3.sample_rate, 44100);
    assert!([70895, 72576].contains(&mp3.samples.len()), "{} samples", mp3.samples.len());
    // This mu-law file's fmt chunk is 20 bytes (cbSize 2), which symphonia 0.6 refuses:
    // a clear error naming the file and the chunk, not a panic or a guess (the 18-byte
    // form decodes: `companded_mu_law_wav_decodes_through_symphonia`).
    let e = format!("{:#}", read_audio(&fixture("sine_mulaw_8k.wav")).unwrap_err());
    assert!(e.contains("sine_mulaw_8k.wav") && e.contains("fmt_mulaw"), "{e}");
    // The float WAV is a 440 Hz sine of amplitude 0.8 in both channels: the mix is the sine.
    let sine = read_audio(&fixture("sine_stereo_float32_44k.wav")).unwrap();
    assert!((sine.samples[1] - 0.050_118_68).abs() < 1e-6 && sine.peak() <= 0.8 + 1e-6);
}

#[test]
fn truncated_flac_ogg_and_mp3_are_errors_not_short_waveforms() {
    let dir = temp_dir("cut");
    for name in ["note_mono_44k.flac", "phase_jump_stereo_44k.ogg", "laser_mono_44k.mp3", "phase_jump_stereo_44k.wav"] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let cut = dir.join(format!("cut-{name}"));
        std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
        match read_audio(&cut) {
            Ok(w) => panic!("{name} cut to 2/3 read as {} samples", w.samples.len()),
            Err(e) => assert!(format!("{e:#}").contains(&format!("cut-{name}")), "{e:#}"),
        }
        let head = dir.join(format!("head-{name}"));
        std::fs::write(&head, &bytes[..40.min(bytes.len())]).unwrap();
        assert!(read_audio(&head).is_err(), "{name}: 40 bytes read");
    }
    std::fs::remove_dir_all(dir).ok();
}
