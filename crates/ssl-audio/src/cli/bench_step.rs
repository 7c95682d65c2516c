//! The speaker training step against PyTorch: the same SSReg step (small ECAPA-TDNN,
//! projector, predictor, NT-Xent + regulariser, AdamW) on the same input shapes, at each
//! thread count, the parameter counts compared so that both sides train one model.
use anyhow::{bail, Context, Result};
use clap::Parser;
use ssl_audio::speaker::SpeakerPretrainConfig;
use ssl_core::train::{Optimizer, OptimizerConfig, OptimizerKind};
use ssl_core::{Batch, StepContext};
use std::path::PathBuf;
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

#[derive(Parser, Debug)]
pub struct Args {
    /// Utterances per step (two segments each).
    #[arg(long, default_value_t = 64)]
    pub batch: i64,
    /// Frames per segment (98: one second at 10 ms).
    #[arg(long, default_value_t = 98)]
    pub frames: i64,
    #[arg(long, default_value_t = 40)]
    pub bins: i64,
    /// ECAPA-TDNN channels.
    #[arg(long, default_value_t = 32)]
    pub channels: i64,
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Alternating rounds of ours and PyTorch per thread count; the medians are reported
    /// (one round is noisy on a shared 2-core machine).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Thread counts to measure, e.g. 1,2.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub threads: Vec<i32>,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[arg(long, default_value = ".venv/bin/python")]
    pub python: PathBuf,
    #[arg(long, default_value = "benches/python/speaker_step.py")]
    pub script: PathBuf,
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Our steps per second and parameter count at `threads` threads.
fn ours(a: &Args, threads: i32, device: Device) -> Result<(f64, i64)> {
    tch::set_num_threads(threads);
    tch::manual_seed(0);
    let mut cfg = SpeakerPretrainConfig::default();
    cfg.segments.num_bins = a.bins;
    cfg.model.backbone.width = a.channels;
    let vs = nn::VarStore::new(device);
    let mut method = ssl_audio::registry::registry().build_method("ssreg", &vs, &cfg.model_for_features())?;
    let params: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
    let mut opt = Optimizer::new(OptimizerConfig::new(OptimizerKind::Adamw).with_weight_decay(1e-5), vs.variables());
    let views =
        vec![Tensor::f_randn([a.batch, a.frames, a.bins], (Kind::Float, device))?, Tensor::f_randn([a.batch, a.frames, a.bins], (Kind::Float, device))?];
    let batch = Batch::from_views(views)?;
    let mut step = |i: usize| -> Result<()> {
        opt.zero_grad();
        let loss = method.loss(&batch, &StepContext::new(i, a.warmup + a.steps, i as u64))?.mean_total();
        loss.f_backward()?;
        opt.step(2e-3);
        if let Device::Cuda(d) = device {
            tch::Cuda::synchronize(d as i64);
        }
        Ok(())
    };
    for i in 0..a.warmup {
        step(i)?;
    }
    let t0 = Instant::now();
    for i in 0..a.steps {
        step(a.warmup + i)?;
    }
    Ok((a.steps as f64 / t0.elapsed().as_secs_f64(), params))
}

pub fn run(a: Args) -> Result<()> {
    if a.batch < 2 || a.steps == 0 || a.frames < 1 || a.repeats == 0 {
        bail!("the speaker-step benchmark needs --batch >= 2, --frames >= 1, --steps >= 1 and --repeats >= 1");
    }
    let device = ssl_core::device::parse_device(&a.device)?;
    let mut rows = Vec::new();
    for &threads in &a.threads {
        let args: Vec<String> = [
            ("--batch", a.batch.to_string()),
            ("--frames", a.frames.to_string()),
            ("--bins", a.bins.to_string()),
            ("--channels", a.channels.to_string()),
            ("--steps", a.steps.to_string()),
            ("--warmup", a.warmup.to_string()),
            ("--threads", threads.to_string()),
            ("--device", if device == Device::Cpu { "cpu".into() } else { "cuda".into() }),
        ]
        .into_iter()
        .flat_map(|(k, v)| [k.to_string(), v])
        .collect();
        let (mut us, mut theirs, mut params, mut reference) = (Vec::new(), Vec::new(), 0, serde_json::Value::Null);
        for _ in 0..a.repeats {
            let (u, p) = ours(&a, threads, device)?;
            us.push(u);
            params = p;
            reference = ssl_core::cli::run_reference(&a.python, &a.script, &args)?;
            theirs.push(reference["steps_per_second"].as_f64().context("the reference gave no steps_per_second")?);
            let their_params = reference["parameters"].as_i64().context("the reference gave no parameter count")?;
            if their_params != params {
                bail!("the reference model has {their_params} parameters and ours {params}: they are not the same model");
            }
        }
        let (us_runs, their_runs) = (us.clone(), theirs.clone());
        let (us, theirs) = (median(us), median(theirs));
        println!(
            "speaker step (ECAPA-TDNN C={}, batch {} x 2 x {} frames x {} bins, {threads} threads, median of {} rounds): ours {us:.2} steps/s, PyTorch {theirs:.2} steps/s, ratio {:.2} ({params} parameters each)",
            a.channels,
            a.batch,
            a.frames,
            a.bins,
            a.repeats,
            us / theirs
        );
        rows.push(serde_json::json!({ "threads": threads, "ours_steps_per_second": us, "pytorch_steps_per_second": theirs, "ratio": us / theirs, "ours_rounds": us_runs, "pytorch_rounds": their_runs, "parameters": params, "pytorch": reference }));
    }
    if let Some(path) = &a.json {
        let doc = serde_json::json!({ "benchmark": "SSReg speaker training step", "repeats": a.repeats, "steps": a.steps, "batch": a.batch, "frames": a.frames, "bins": a.bins, "channels": a.channels, "device": a.device, "rows": rows });
        ssl_core::config::write_atomically(path, serde_json::to_string_pretty(&doc)?.as_bytes())?;
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
