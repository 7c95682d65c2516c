//! Filterbanks and MFCC against kaldi-native-fbank (a C++ port of Kaldi's feature code)
//! on real speech; fixtures from `tests/reference/kaldi_fbank_reference.py`.
use serde_json::Value;
use ssl_audio::features::{Fbank, FbankOptions, Features, FrameOptions, MelOptions, Mfcc, MfccOptions, WindowKind};
use ssl_audio::io::read_audio;
use ssl_audio::waveform::KALDI_SAMPLE_SCALE;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn reference() -> Value {
    let text = std::fs::read_to_string(fixtures().join("kaldi_fbank.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn case<'a>(all: &'a Value, name: &str, input: &str) -> &'a Value {
    all["cases"].as_array().unwrap().iter().find(|c| c["name"] == name && c["input"] == input).unwrap_or_else(|| panic!("no case {name} on {input}"))
}

/// The recording of a case in Kaldi's sample scale.
fn samples(all: &Value, input: &str) -> Tensor {
    let wave = read_audio(&fixtures().join(all["inputs"][input]["file"].as_str().unwrap())).unwrap();
    assert_eq!(wave.samples.len() as u64, all["inputs"][input]["num_samples"].as_u64().unwrap());
    wave.to_tensor(KALDI_SAMPLE_SCALE, Device::Cpu)
}

fn frame_options(o: &Value) -> FrameOptions {
    let f = &o["frame_opts"];
    let mut frame = FrameOptions::at_rate(f["samp_freq"].as_f64().unwrap());
    frame.frame_length_ms = f["frame_length_ms"].as_f64().unwrap();
    frame.frame_shift_ms = f["frame_shift_ms"].as_f64().unwrap();
    frame.dither = f["dither"].as_f64().unwrap();
    frame.preemph_coeff = f["preemph_coeff"].as_f64().unwrap();
    frame.remove_dc_offset = f["remove_dc_offset"].as_bool().unwrap();
    frame.round_to_power_of_two = f["round_to_power_of_two"].as_bool().unwrap();
    frame.blackman_coeff = f["blackman_coeff"].as_f64().unwrap();
    frame.snip_edges = f["snip_edges"].as_bool().unwrap();
    frame.window = serde_json::from_value(f["window_type"].clone()).unwrap();
    frame
}

fn mel_options(o: &Value) -> MelOptions {
    let m = &o["mel_opts"];
    let mut mel = MelOptions::with_bins(m["num_bins"].as_i64().unwrap());
    mel.low_freq = m["low_freq"].as_f64().unwrap();
    mel.high_freq = m["high_freq"].as_f64().unwrap();
    mel
}

fn fbank_options(o: &Value) -> FbankOptions {
    let mut opts = FbankOptions::new(8000.0, 23);
    opts.frame = frame_options(o);
    opts.mel = mel_options(o);
    opts.use_energy = o["use_energy"].as_bool().unwrap();
    opts.raw_energy = o["raw_energy"].as_bool().unwrap();
    opts.energy_floor = o["energy_floor"].as_f64().unwrap();
    opts.htk_compat = o["htk_compat"].as_bool().unwrap();
    opts.use_log_fbank = o["use_log_fbank"].as_bool().unwrap();
    opts.use_power = o["use_power"].as_bool().unwrap();
    opts
}

fn mfcc_options(o: &Value) -> MfccOptions {
    let mut opts = MfccOptions::at_rate(8000.0);
    opts.frame = frame_options(o);
    opts.mel = mel_options(o);
    opts.num_ceps = o["num_ceps"].as_i64().unwrap();
    opts.cepstral_lifter = o["cepstral_lifter"].as_f64().unwrap();
    opts.use_energy = o["use_energy"].as_bool().unwrap();
    opts.raw_energy = o["raw_energy"].as_bool().unwrap();
    opts.energy_floor = o["energy_floor"].as_f64().unwrap();
    opts.htk_compat = o["htk_compat"].as_bool().unwrap();
    opts
}

fn matrix(v: &Value) -> Tensor {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).unwrap();
    let (r, c) = (rows.len() as i64, rows[0].len() as i64);
    Tensor::from_slice(&rows.concat()).view([r, c]).to_kind(Kind::Float)
}

/// Our features of a case (by the CPU frame loop, or by libtorch's operations when
/// `frame_loop` is false), the reference's, and the reference's own float32 error (its
/// distance from an exact float64 computation, measured by the fixture script).
fn compare_by(name: &str, input: &str, frame_loop: bool) -> (Tensor, Tensor, f64) {
    let all = reference();
    let c = case(&all, name, input);
    let x = samples(&all, input);
    let ours = match c["kind"].as_str().unwrap() {
        "fbank" => Fbank::new(fbank_options(&c["options"])).unwrap().with_frame_loop(frame_loop).compute(&x).unwrap(),
        _ => Mfcc::new(mfcc_options(&c["options"])).unwrap().with_frame_loop(frame_loop).compute(&x).unwrap(),
    };
    assert_eq!(ours.size()[0], c["num_frames_total"].as_i64().unwrap_or(c["frames_kept"].as_i64().unwrap()), "{name}: frame count");
    assert_eq!(ours.size()[1], c["dim"].as_i64().unwrap(), "{name}: dim");
    let theirs = matrix(&c["frames"]);
    let reference_error = c["max_abs_diff_vs_float64_numpy"].as_f64().unwrap();
    if c["kind"] == "mfcc" {
        // The lifter multiplies cepstrum i by up to 1 + Q/2 (12 for Q = 22), and with it
        // every rounding error: compare the cepstra before liftering.
        let q = c["options"]["cepstral_lifter"].as_f64().unwrap();
        let lifter: Vec<f64> = (0..ours.size()[1]).map(|i| if q != 0.0 { 1.0 + 0.5 * q * (std::f64::consts::PI * i as f64 / q).sin() } else { 1.0 }).collect();
        let lifter = Tensor::from_slice(&lifter).to_kind(Kind::Float);
        return (ours / &lifter, theirs / &lifter, reference_error);
    }
    (ours, theirs, reference_error)
}

fn compare(name: &str, input: &str) -> (Tensor, Tensor, f64) {
    compare_by(name, input, true)
}

/// Kaldi to 1e-4, by both routes: every entry within 1e-4 of the reference beyond the
/// reference's own float32 error, and 99% of entries within 1e-4 outright (MFCC before
/// liftering).
fn assert_kaldi(name: &str, input: &str) {
    for (route, frame_loop) in [("frame loop", true), ("libtorch ops", false)] {
        let (ours, theirs, reference_error) = compare_by(name, input, frame_loop);
        let diff = (&ours - &theirs).abs();
        let max = diff.max().double_value(&[]);
        let within = diff.le(1e-4).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
        eprintln!(
            "{name} on {input} ({route}): max |ours - kaldi| {max:.2e} (reference's own error {reference_error:.2e}), {:.2}% within 1e-4",
            100.0 * within
        );
        assert!(max <= reference_error + 1e-4, "{name} on {input} ({route}): max difference {max:e}");
        assert!(within >= 0.99, "{name} on {input} ({route}): only {:.2}% of entries within 1e-4", 100.0 * within);
    }
}

#[test]
fn fbank_defaults_match_kaldi_on_two_speakers() {
    assert_kaldi("fbank_defaults", "en");
    assert_kaldi("fbank_defaults", "it");
}

#[test]
fn fbank_without_snipped_edges_mirrors_the_signal_like_kaldi() {
    assert_kaldi("fbank_no_snip", "en");
}

#[test]
fn fbank_window_preemphasis_and_dc_options_match_kaldi() {
    assert_kaldi("fbank_hamming", "en");
    assert_kaldi("fbank_no_preemph_no_dc", "en");
    assert_kaldi("fbank_magnitude", "en");
    assert_kaldi("fbank_80_bins_64ms", "en");
}

#[test]
fn fbank_energy_and_its_floor_match_kaldi() {
    assert_kaldi("fbank_energy", "en");
    assert_kaldi("fbank_energy_floor", "en");
    assert_kaldi("fbank_energy_floor_100", "en");
    // The floor really bites in the last case: its first frames are exactly log(100).
    let (ours, _, _) = compare("fbank_energy_floor_100", "en");
    let floored = ours.get(0).get(0).double_value(&[]);
    assert!((floored - 100f64.ln()).abs() < 1e-5, "floored energy {floored}");
}

#[test]
fn mfcc_matches_kaldi_with_and_without_energy_and_lifter() {
    assert_kaldi("mfcc_defaults", "en");
    assert_kaldi("mfcc_defaults", "it");
    assert_kaldi("mfcc_no_energy_lifter0", "en");
}

#[test]
fn dither_moves_the_features_as_much_as_kaldi_s_dither() {
    let all = reference();
    let c = case(&all, "fbank_dither", "en");
    let x = samples(&all, "en");
    let mut opts = fbank_options(&c["options"]);
    assert_eq!(opts.frame.dither, 1.0);
    tch::manual_seed(0);
    let dithered = Fbank::new(opts.clone()).unwrap().compute(&x).unwrap();
    opts.frame.dither = 0.0;
    let clean = Fbank::new(opts).unwrap().compute(&x).unwrap();
    let vec = |k: &str| Tensor::from_slice(&serde_json::from_value::<Vec<f64>>(c[k].clone()).unwrap()).to_kind(Kind::Float);
    // Per-band means over frames: dither raises the quiet bands; ours and Kaldi's by
    // the same amount (within the noise of one draw).
    let shift_ours = dithered.mean_dim(0, false, Kind::Float) - clean.mean_dim(0, false, Kind::Float);
    let shift_kaldi = vec("mean") - vec("mean_dither0");
    let gap = (&shift_ours - &shift_kaldi).abs().max().double_value(&[]);
    let largest = shift_kaldi.abs().max().double_value(&[]);
    eprintln!("dither: largest mean shift {largest:.3} (kaldi), largest gap to ours {gap:.3}");
    assert!(largest > 0.1, "the reference's dither changed nothing");
    assert!(gap < 0.25 * largest, "dither shifts differ: gap {gap}, largest {largest}");
    // And it is random: two draws differ.
    let again = Fbank::new(fbank_options(&c["options"])).unwrap().compute(&x).unwrap();
    assert!((&again - &dithered).abs().max().double_value(&[]) > 0.0);
}

#[test]
fn a_batch_gives_the_features_of_each_signal() {
    let all = reference();
    let x = samples(&all, "en");
    let fbank = Fbank::new(FbankOptions::new(8000.0, 23)).unwrap();
    let one = fbank.compute(&x).unwrap();
    let batch = Tensor::stack(&[x.shallow_clone(), x.flip([0])], 0);
    let both = fbank.compute(&batch).unwrap();
    assert_eq!(both.size(), [2, one.size()[0], 23]);
    assert!((both.get(0) - &one).abs().max().double_value(&[]) < 1e-5);
    let flipped = fbank.compute(&x.flip([0])).unwrap();
    assert!((both.get(1) - flipped).abs().max().double_value(&[]) < 1e-5);
}

#[test]
fn the_frame_loop_matches_libtorch_s_operations_at_any_thread_count() {
    let all = reference();
    let (en, it) = (samples(&all, "en"), samples(&all, "it"));
    let batch = Tensor::stack(&[en.narrow(0, 0, 4000), it.narrow(0, 0, 4000)], 0);
    // Long enough (213 frames) to be split over two threads.
    let long = Tensor::cat(&[&en, &it, &en], 0);
    let mut variants = vec![FbankOptions::new(8000.0, 23), FbankOptions::new(8000.0, 40)];
    variants[1].frame.snip_edges = false;
    (variants[1].use_energy, variants[1].use_power, variants[1].frame.window) = (true, false, WindowKind::Hamming);
    let mut raw = FbankOptions::new(8000.0, 23);
    (raw.use_log_fbank, raw.raw_energy, raw.use_energy) = (false, false, true);
    variants.push(raw);
    for opts in variants {
        let fast = Fbank::new(opts.clone()).unwrap();
        let ops = Fbank::new(opts.clone()).unwrap().with_frame_loop(false);
        for x in [&en, &batch, &long] {
            let (a, b) = (fast.compute(x).unwrap(), ops.compute(x).unwrap());
            assert_eq!(a.size(), b.size());
            // Equal to float rounding, relative to the value (linear energies are large).
            let gap = ((&a - &b).abs() / (b.abs() + 1.0)).max().double_value(&[]);
            assert!(gap < 1e-3, "{opts:?}: relative gap {gap}");
        }
        // Each frame is computed alone: the thread count changes no value.
        let before = tch::get_num_threads();
        tch::set_num_threads(1);
        let one = fast.compute(&long).unwrap();
        tch::set_num_threads(2);
        let two = fast.compute(&long).unwrap();
        tch::set_num_threads(before);
        assert!(one.equal(&two), "{opts:?}: one and two threads differ");
    }
    let mfcc = Mfcc::new(MfccOptions::at_rate(8000.0)).unwrap();
    let gap = (mfcc.compute(&en).unwrap() - mfcc.with_frame_loop(false).compute(&en).unwrap()).abs().max().double_value(&[]);
    assert!(gap < 1e-3, "MFCC routes differ by {gap}");
}

#[test]
fn the_mel_filterbank_passes_gradients_to_the_samples() {
    let all = reference();
    let x = samples(&all, "en").set_requires_grad(true);
    let fbank = Fbank::new(FbankOptions::new(8000.0, 23)).unwrap();
    let y = fbank.compute(&x).unwrap().sum(Kind::Float);
    y.backward();
    let g = x.grad();
    assert!(g.isfinite().all().int64_value(&[]) == 1 && g.abs().sum(Kind::Float).double_value(&[]) > 0.0);
}

#[test]
fn bad_options_and_short_or_misshapen_input_are_errors() {
    let fbank = Fbank::new(FbankOptions::new(8000.0, 23)).unwrap();
    let short = fbank.compute(&Tensor::zeros([150], (Kind::Float, Device::Cpu))).unwrap_err().to_string();
    assert!(short.contains("150 samples are too few"), "{short}");
    let cube = fbank.compute(&Tensor::zeros([1, 2, 400], (Kind::Float, Device::Cpu))).unwrap_err().to_string();
    assert!(cube.contains("[1, 2, 400]"), "{cube}");
    let too_many = Fbank::new(FbankOptions::new(8000.0, 200)).unwrap_err().to_string();
    assert!(too_many.contains("covers no FFT bin"), "{too_many}");
    let mut high = FbankOptions::new(8000.0, 23);
    high.mel.high_freq = 6000.0;
    assert!(Fbank::new(high).unwrap_err().to_string().contains("Nyquist"));
    let mut rate = FbankOptions::new(8000.0, 23);
    rate.frame.sample_rate = 0.0;
    assert!(Fbank::new(rate).unwrap_err().to_string().contains("sample_rate"));
    let wave = read_audio(&fixtures().join("audio/en_allison_seven.wav")).unwrap();
    let wrong_rate = Fbank::new(FbankOptions::new(16000.0, 23)).unwrap().waveform(&wave, Device::Cpu).unwrap_err().to_string();
    assert!(wrong_rate.contains("8000 Hz") && wrong_rate.contains("resample"), "{wrong_rate}");
    let mut ceps = MfccOptions::at_rate(8000.0);
    ceps.num_ceps = 30;
    assert!(Mfcc::new(ceps).unwrap_err().to_string().contains("num_ceps"));
}

#[test]
fn a_list_of_signals_of_any_lengths_gives_each_signal_s_features() {
    let all = reference();
    let (en, it) = (samples(&all, "en"), samples(&all, "it"));
    for snip in [true, false] {
        let mut opts = FbankOptions::new(8000.0, 23);
        opts.frame.snip_edges = snip;
        let fbank = Fbank::new(opts).unwrap();
        let many = fbank.compute_many(&[en.shallow_clone(), it.shallow_clone(), en.narrow(0, 0, 1000)]).unwrap();
        for (got, x) in many.iter().zip([en.shallow_clone(), it.shallow_clone(), en.narrow(0, 0, 1000)]) {
            let one = fbank.compute(&x).unwrap();
            assert_eq!(got.size(), one.size());
            assert!((got - one).abs().max().double_value(&[]) < 1e-5);
        }
        let mfcc = Mfcc::new(MfccOptions::at_rate(8000.0)).unwrap();
        let m = mfcc.compute_many(&[it.shallow_clone()]).unwrap();
        assert!((&m[0] - mfcc.compute(&it).unwrap()).abs().max().double_value(&[]) < 1e-4);
    }
    let fbank = Fbank::new(FbankOptions::new(8000.0, 23)).unwrap();
    let e = fbank.compute_many(&[en.shallow_clone(), en.narrow(0, 0, 10)]).unwrap_err();
    assert!(format!("{e:#}").contains("signal 1"), "{e:#}");
    assert!(fbank.compute_many(&[]).is_err());
    // The input is never written to (the window is applied to a copy even with nothing before it).
    let mut bare = FbankOptions::new(8000.0, 23);
    (bare.frame.preemph_coeff, bare.frame.remove_dc_offset) = (0.0, false);
    let before = en.copy();
    let _features = Fbank::new(bare).unwrap().compute(&en).unwrap();
    assert!(en.equal(&before));
}
