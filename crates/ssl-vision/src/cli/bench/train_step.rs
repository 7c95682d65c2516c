//! SimCLR training step (ResNet-18 with the small-image stem, 32x32 RGB, SGD) against
//! PyTorch, in the contiguous (NCHW) layout or channels-last (NHWC strides, oneDNN's
//! preferred layout on CPU); optionally beside one CPU-bound competing process. The step's
//! floating-point work (torch's FlopCounterMode on the reference) gives the achieved
//! GFLOP/s of both sides as a share of this machine's measured matrix-multiply peak.
use super::{num, python, Args};
use anyhow::{bail, Context, Result};
use ssl_core::blocks::BackboneConfig;
use ssl_core::train::{Optimizer, OptimizerConfig, OptimizerKind};
use ssl_core::{build_method, Batch, MethodConfig, StepContext};
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Contiguous,
    ChannelsLast,
}

/// A CPU-bound process competing for a core while it lives (a shell busy loop).
struct Competitor(std::process::Child);

impl Competitor {
    fn start() -> Result<Self> {
        let child = std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().context("cannot start the competing process (sh)")?;
        // Let the scheduler see it before threads are counted.
        std::thread::sleep(std::time::Duration::from_millis(300));
        Ok(Self(child))
    }
}

impl Drop for Competitor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Achieved GFLOP/s of the best of square single-precision matrix products (n = 1024,
/// 2048, 4096) on `device` with the current thread count: the practical peak the training
/// step is compared with.
pub fn matmul_peak(device: Device) -> Result<f64> {
    let mut best = 0f64;
    for n in [1024, 2048, 4096] {
        best = best.max(matmul_rate(device, n)?);
    }
    Ok(best)
}

fn matmul_rate(device: Device, n: i64) -> Result<f64> {
    let a = Tensor::f_randn([n, n], (Kind::Float, device))?;
    let b = Tensor::f_randn([n, n], (Kind::Float, device))?;
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    for _ in 0..2 {
        let _ = a.f_mm(&b)?;
    }
    sync();
    let reps = (8 * (2048 / n).pow(3)).clamp(2, 64);
    let t0 = Instant::now();
    for _ in 0..reps {
        let _ = a.f_mm(&b)?;
    }
    sync();
    Ok(2.0 * (n * n * n) as f64 * reps as f64 / t0.elapsed().as_secs_f64() / 1e9)
}

/// Our training steps per second: `a.warmup` untimed steps, then `a.steps` timed ones, of
/// `method` on `batch` with SGD at learning rate 0.1.
fn steps_per_second(a: &Args, method: &mut dyn ssl_core::Method, opt: &mut Optimizer, batch: &Batch, device: Device) -> Result<f64> {
    let mut step = |i: usize| -> Result<()> {
        opt.zero_grad();
        let ctx = StepContext::new(i, a.warmup + a.steps, i as u64);
        method.loss(batch, &ctx)?.mean_total().f_backward()?;
        opt.step(0.1);
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
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
    Ok(a.steps as f64 / t0.elapsed().as_secs_f64())
}

pub fn run(a: &Args, layout: Layout, compete: bool) -> Result<serde_json::Value> {
    if a.batch < 2 || a.steps == 0 {
        bail!("the training-step benchmark needs --batch >= 2 and --steps >= 1");
    }
    let _competitor = if compete { Some(Competitor::start()?) } else { None };
    let threads = if a.threads == 0 { ssl_core::device::free_cores() as i32 } else { a.threads };
    tch::set_num_threads(threads);
    let device = ssl_core::device::parse_device(&a.device)?;
    tch::manual_seed(0);
    let vs = nn::VarStore::new(device);
    let cfg = MethodConfig::default()
        .with_backbone(BackboneConfig::new("resnet18", 3).with_shape(1, 3))
        .with_heads(512, 128, MethodConfig::default().predictor_hidden)
        .with_option("temperature", 0.2);
    let mut method = build_method("simclr", &vs, &cfg)?;
    let mut views = vec![Tensor::f_randn([a.batch, 3, 32, 32], (Kind::Float, device))?, Tensor::f_randn([a.batch, 3, 32, 32], (Kind::Float, device))?];
    if layout == Layout::ChannelsLast {
        ssl_vision::pipeline::to_channels_last(&vs)?;
        views = views.iter().map(ssl_core::data::channels_last).collect::<Result<_>>()?;
    }
    let opt_cfg = OptimizerConfig::new(OptimizerKind::Sgd).with_momentum(0.9).with_weight_decay(1e-6);
    let mut opt = Optimizer::new(opt_cfg, vs.variables());
    let batch = Batch::from_views(views)?;
    let ours = steps_per_second(a, method.as_mut(), &mut opt, &batch, device)?;
    let peak = if compete { f64::NAN } else { matmul_peak(device)? };
    let mut args = vec![
        "--batch".into(),
        a.batch.to_string(),
        "--steps".into(),
        a.steps.to_string(),
        "--warmup".into(),
        a.warmup.to_string(),
        "--device".into(),
        if device == Device::Cpu { "cpu".into() } else { "cuda".into() },
        "--count-flops".into(),
    ];
    if a.threads > 0 {
        args.extend(["--threads".into(), a.threads.to_string()]);
    }
    if layout == Layout::ChannelsLast {
        args.push("--channels-last".into());
    }
    let reference = python(a, "simclr_step.py", &args)?;
    let theirs = reference["steps_per_second"].as_f64().context("reference gave no steps_per_second")?;
    let flops = num(&reference, "flops_per_step");
    let r = serde_json::json!({
        "benchmark": "SimCLR training step, ResNet-18 small-image stem, two views, 32x32 RGB, SGD",
        "layout": format!("{layout:?}"),
        "batch": a.batch, "threads": a.threads, "ours_threads": threads, "competing_process": compete, "device": a.device,
        "ours_steps_per_second": ours, "pytorch_steps_per_second": theirs, "ratio": ours / theirs,
        "flops_per_step": flops, "matmul_peak_gflops": peak,
        "ours_gflops": flops * ours / 1e9, "pytorch_gflops": flops * theirs / 1e9,
        "ours_share_of_peak": flops * ours / 1e9 / peak,
        "ours_omp_wait_policy": std::env::var("OMP_WAIT_POLICY").ok(),
        "pytorch": reference,
    });
    let beside = if compete { " beside one busy process" } else { "" };
    println!(
        "training step ({layout:?}{beside}): ours {:.3} steps/s ({threads} threads), PyTorch {:.3} steps/s, ratio {:.2}; \
         {:.1} GFLOP/step, ours {:.1} GFLOP/s = {:.0}% of the {:.1} GFLOP/s matmul peak",
        ours,
        theirs,
        ours / theirs,
        flops / 1e9,
        flops * ours / 1e9,
        100.0 * flops * ours / 1e9 / peak,
        peak
    );
    Ok(r)
}

/// The SimCLR step of a 3-D backbone at torchvision's width (`r3d-18` or `r2plus1d-18`, the
/// small-input stem) on clips of 8 x 32 x 32, against PyTorch's torchvision video ResNet with
/// the same projector and loss.
pub fn run_video(a: &Args, kind: &str) -> Result<serde_json::Value> {
    const FRAMES: i64 = 8;
    if a.video_batch < 2 || a.steps == 0 {
        bail!("the video training-step benchmark needs --video-batch >= 2 and --steps >= 1");
    }
    let threads = if a.threads == 0 { ssl_core::device::free_cores() as i32 } else { a.threads };
    tch::set_num_threads(threads);
    let device = ssl_core::device::parse_device(&a.device)?;
    tch::manual_seed(0);
    let vs = nn::VarStore::new(device);
    let cfg = MethodConfig::default()
        .with_backbone(BackboneConfig::new(kind, 3).with_shape(64, 4).with_small_image_stem(true))
        .with_heads(512, 128, MethodConfig::default().predictor_hidden)
        .with_option("temperature", 0.2);
    let mut method = ssl_vision::registry().build_method("simclr", &vs, &cfg)?;
    let shape = [a.video_batch, 3, FRAMES, 32, 32];
    let batch = Batch::from_views(vec![Tensor::f_randn(shape, (Kind::Float, device))?, Tensor::f_randn(shape, (Kind::Float, device))?])?;
    let mut opt = Optimizer::new(OptimizerConfig::new(OptimizerKind::Sgd).with_momentum(0.9).with_weight_decay(1e-6), vs.variables());
    let ours = steps_per_second(a, method.as_mut(), &mut opt, &batch, device)?;
    let arch = if kind == "r3d-18" { "r3d_18" } else { "r2plus1d_18" };
    let mut args = vec![
        "--arch".into(),
        arch.into(),
        "--frames".into(),
        FRAMES.to_string(),
        "--batch".into(),
        a.video_batch.to_string(),
        "--steps".into(),
        a.steps.to_string(),
        "--warmup".into(),
        a.warmup.to_string(),
        "--device".into(),
        if device == Device::Cpu { "cpu".into() } else { "cuda".into() },
    ];
    if a.threads > 0 {
        args.extend(["--threads".into(), a.threads.to_string()]);
    }
    let reference = python(a, "simclr_step.py", &args)?;
    let theirs = reference["steps_per_second"].as_f64().context("reference gave no steps_per_second")?;
    println!("video training step ({kind}, SimCLR, {} clips x 2 views of {FRAMES}x32x32): ours {ours:.3} steps/s ({threads} threads), PyTorch {theirs:.3} steps/s, ratio {:.2}", a.video_batch, ours / theirs);
    Ok(serde_json::json!({
        "benchmark": format!("SimCLR training step, {kind} (torchvision width, small-input stem), two views of {FRAMES}x32x32 RGB clips, SGD"),
        "batch": a.video_batch, "threads": a.threads, "ours_threads": threads, "device": a.device,
        "ours_steps_per_second": ours, "pytorch_steps_per_second": theirs, "ratio": ours / theirs, "pytorch": reference,
    }))
}
