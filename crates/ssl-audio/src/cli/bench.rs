//! The feature benchmark: Kaldi filterbanks of the same real recordings, one utterance
//! at a time, by us, by kaldi-native-fbank (C++) and by torchaudio's Kaldi compliance
//! module, at each thread count, best of several repeats, as seconds of audio per second.
use anyhow::{bail, Context, Result};
use clap::Parser;
use ssl_audio::data::read_audio_set;
use ssl_audio::features::{Fbank, FbankOptions};
use ssl_audio::waveform::KALDI_SAMPLE_SCALE;
use std::path::PathBuf;
use std::time::Instant;
use tch::{Device, Tensor};

#[derive(Parser, Debug)]
pub struct Args {
    /// Recordings (datasets/fetch-speech.sh puts real speech there).
    #[arg(long, default_value = "datasets/cache/speech")]
    pub data: PathBuf,
    /// Use this many recordings (spread over the speakers: every k-th file).
    #[arg(long, default_value_t = 300)]
    pub files: usize,
    #[arg(long, default_value_t = 16000)]
    pub rate: u32,
    #[arg(long, default_value_t = 80)]
    pub bins: i64,
    /// Thread counts to measure, e.g. 1,2.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub threads: Vec<i32>,
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Utterances per `compute_many` call in the list measurement (a loader's batch).
    #[arg(long, default_value_t = 32)]
    pub list: usize,
    #[arg(long, default_value = ".venv/bin/python")]
    pub python: PathBuf,
    #[arg(long, default_value = "benches/python/fbank_reference.py")]
    pub script: PathBuf,
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    let set = read_audio_set(&a.data, a.rate, false)?;
    let step = (set.len() / a.files.max(1)).max(1);
    let waves: Vec<_> = set.waves.iter().step_by(step).take(a.files).collect();
    let utts: Vec<Tensor> = waves.iter().map(|w| w.to_tensor(KALDI_SAMPLE_SCALE, Device::Cpu)).collect();
    let audio_seconds: f64 = waves.iter().map(|w| w.seconds()).sum();
    let fbank = Fbank::new(FbankOptions::new(f64::from(a.rate), a.bins))?;
    // The same features by libtorch's operations alone (the route GPUs and gradients take).
    let fbank_ops = Fbank::new(FbankOptions::new(f64::from(a.rate), a.bins))?.with_frame_loop(false);

    let dir = std::env::temp_dir().join(format!("ssl-audio-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let flat = Tensor::cat(&utts, 0);
    let lengths = Tensor::from_slice(&utts.iter().map(|u| u.size()[0]).collect::<Vec<i64>>());
    flat.write_npy(dir.join("samples.npy"))?;
    lengths.write_npy(dir.join("lengths.npy"))?;
    let path = |name: &str| dir.join(name).to_string_lossy().to_string();
    let threads = a.threads.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(",");
    let args: Vec<String> = [
        "--samples",
        &path("samples.npy"),
        "--lengths",
        &path("lengths.npy"),
        "--rate",
        &a.rate.to_string(),
        "--bins",
        &a.bins.to_string(),
        "--threads",
        &threads,
        "--repeats",
        &a.repeats.to_string(),
        "--first-out",
        &path("first.npy"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let reference = ssl_core::cli::run_reference(&a.python, &a.script, &args);
    let first = Tensor::read_npy(dir.join("first.npy"));
    std::fs::remove_dir_all(&dir).ok();
    let reference = reference?;
    let first = first.context("the reference wrote no features")?;
    let ours_first = tch::no_grad(|| fbank.compute(&utts[0]))?;
    if ours_first.size() != first.size() {
        bail!("frame counts differ from kaldi-native-fbank: {:?} vs {:?}", ours_first.size(), first.size());
    }
    let diff = (&ours_first - &first).abs();
    let max_diff = diff.max().double_value(&[]);
    // Bands far below their frame's loudest carry float32 rounding noise on both sides
    // (the 8 kHz recordings resampled to 16 kHz have almost nothing above 4 kHz).
    let audible = first.ge_tensor(&(first.amax(&[-1][..], true) - 60.0 / (10.0 * std::f64::consts::LOG10_E)));
    let max_audible = diff.masked_select(&audible).max().double_value(&[]);

    let mut rows = Vec::new();
    println!("Kaldi fbank ({} bins, {} Hz), {} real utterances, {audio_seconds:.0} s of audio", a.bins, a.rate, utts.len());
    println!("max |ours - kaldi-native-fbank| on utterance 0: {max_audible:.2e} over bands within 60 dB of their frame's loudest, {max_diff:.2e} over all");
    let ops_first = tch::no_grad(|| fbank_ops.compute(&utts[0]))?;
    let routes = (&ours_first - &ops_first).abs();
    let (routes_diff, routes_audible) = (routes.max().double_value(&[]), routes.masked_select(&audible).max().double_value(&[]));
    println!(
        "max |frame loop - libtorch ops| on utterance 0: {routes_audible:.2e} over bands within 60 dB of their frame's loudest, {routes_diff:.2e} over all"
    );
    println!("seconds of audio per second (x real time); ours one call per utterance, in lists of {}, and by libtorch ops alone", a.list);
    println!(
        "{:>7} {:>12} {:>12} {:>12} {:>12} {:>12} {:>14} {:>14}",
        "threads", "ours", "ours (list)", "ours (ops)", "knf", "torchaudio", "ours/faster", "list/faster"
    );
    for &t in &a.threads {
        tch::set_num_threads(t);
        let mut best = f64::INFINITY;
        for _ in 0..a.repeats {
            let t0 = Instant::now();
            tch::no_grad(|| utts.iter().try_for_each(|u| fbank.compute(u).map(drop)))?;
            best = best.min(t0.elapsed().as_secs_f64());
        }
        let mut best_list = f64::INFINITY;
        for _ in 0..a.repeats {
            let t0 = Instant::now();
            tch::no_grad(|| utts.chunks(a.list).try_for_each(|c| fbank.compute_many(c).map(drop)))?;
            best_list = best_list.min(t0.elapsed().as_secs_f64());
        }
        let mut best_ops = f64::INFINITY;
        for _ in 0..a.repeats {
            let t0 = Instant::now();
            tch::no_grad(|| utts.iter().try_for_each(|u| fbank_ops.compute(u).map(drop)))?;
            best_ops = best_ops.min(t0.elapsed().as_secs_f64());
        }
        let r = &reference["by_threads"][t.to_string()];
        let (knf, ta) = (r["kaldi_native_fbank_seconds"].as_f64().unwrap_or(f64::NAN), r["torchaudio_seconds"].as_f64().unwrap_or(f64::NAN));
        let (ratio, ratio_list) = (knf.min(ta) / best, knf.min(ta) / best_list);
        let rt = |s: f64| audio_seconds / s;
        println!(
            "{t:>7} {:>12.0} {:>12.0} {:>12.0} {:>12.0} {:>12.0} {ratio:>13.2}x {ratio_list:>13.2}x",
            rt(best),
            rt(best_list),
            rt(best_ops),
            rt(knf),
            rt(ta)
        );
        rows.push(
            serde_json::json!({"threads": t, "ours_seconds": best, "ours_list_seconds": best_list, "ours_libtorch_ops_seconds": best_ops, "kaldi_native_fbank_seconds": knf, "torchaudio_seconds": ta,
            "speedup_vs_faster_reference": ratio, "list_speedup_vs_faster_reference": ratio_list}),
        );
    }
    if let Some(p) = &a.json {
        let out = serde_json::json!({"bins": a.bins, "rate": a.rate, "utterances": utts.len(), "audio_seconds": audio_seconds, "max_abs_diff_vs_knf": max_diff, "max_abs_diff_loop_vs_ops": routes_diff, "max_abs_diff_loop_vs_ops_within_60db": routes_audible, "max_abs_diff_vs_knf_within_60db": max_audible, "list": a.list, "reference": reference, "rows": rows});
        std::fs::write(p, serde_json::to_string_pretty(&out)?).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}
