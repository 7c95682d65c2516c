//! Throughput benchmarks, each against the reference a user would otherwise pick, run in
//! the same invocation and reported as a ratio (ours / reference; > 1 means faster).
use anyhow::{bail, Context, Result};
use clap::Parser;
use rand::{Rng, SeedableRng};
use ssl_core::blocks::BackboneConfig;
use ssl_core::train::{Optimizer, OptimizerConfig, OptimizerKind};
use ssl_core::{build_method, Batch, MethodConfig, StepContext};
use ssl_vision::augment::{augment, AugmentConfig, Image};
use std::path::PathBuf;
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

/// The benchmarks `--which` chooses from.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// The augmentation and the training step.
    All,
    Augment,
    TrainStep,
    /// The training step alone and beside one CPU-bound competing process, both sides.
    Contention,
}

#[derive(Parser, Debug)]
pub struct Args {
    /// Python of the virtual environment holding torch and torchvision.
    #[arg(long, default_value = ".venv/bin/python")]
    pub python: PathBuf,
    /// Folder of the Python reference scripts.
    #[arg(long, default_value = "benches/python")]
    pub scripts: PathBuf,
    /// What to measure.
    #[arg(long, value_enum, default_value_t = Which::All)]
    pub which: Which,
    #[arg(long, default_value_t = 256)]
    pub batch: i64,
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    #[arg(long, default_value_t = 2048)]
    pub images: usize,
    /// libtorch threads for the training step (both sides); 0: ours takes the cores free at
    /// start (as `pretrain --threads 0` does), PyTorch keeps its default (one per core).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(i32).range(0..=1024))]
    pub threads: i32,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

fn python(a: &Args, script: &str, args: &[String]) -> Result<serde_json::Value> {
    ssl_core::cli::run_reference(&a.python, &a.scripts.join(script), args)
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

/// SimCLR step (ResNet-18 with the small-image stem, batch `b`, 32x32 RGB), SGD; with
/// `compete`, beside one CPU-bound process for both sides.
fn train_step(a: &Args, compete: bool) -> Result<serde_json::Value> {
    if a.batch < 2 || a.steps == 0 {
        bail!("the training-step benchmark needs --batch >= 2 and --steps >= 1");
    }
    let _competitor = if compete { Some(Competitor::start()?) } else { None };
    let threads = if a.threads == 0 { ssl_core::device::free_cores() as i32 } else { a.threads };
    tch::set_num_threads(threads);
    let device = ssl_core::device::parse_device(&a.device)?;
    tch::manual_seed(0);
    let vs = nn::VarStore::new(device);
    let cfg = MethodConfig {
        backbone: BackboneConfig { kind: "resnet18".into(), in_channels: 3, small_image_stem: true, width: 1, stages: 3 },
        projector_hidden: 512,
        projector_dim: 128,
        ..Default::default()
    }
    .with_option("temperature", 0.2);
    let mut method = build_method("simclr", &vs, &cfg)?;
    let opt_cfg = OptimizerConfig { kind: OptimizerKind::Sgd, momentum: 0.9, weight_decay: 1e-6, ..Default::default() };
    let mut opt = Optimizer::new(opt_cfg, vs.variables());
    let batch =
        Batch::from_views(vec![Tensor::randn([a.batch, 3, 32, 32], (Kind::Float, device)), Tensor::randn([a.batch, 3, 32, 32], (Kind::Float, device))])?;
    let mut step = |i: usize| -> Result<()> {
        opt.zero_grad();
        let ctx = StepContext { step: i, total_steps: a.warmup + a.steps, micro: 0, seed: i as u64 };
        let loss = method.loss(&batch, &ctx)?.mean_total();
        loss.f_backward()?;
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
    let secs = t0.elapsed().as_secs_f64();
    let ours = a.steps as f64 / secs;
    let mut args = vec![
        "--batch".into(),
        a.batch.to_string(),
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
    Ok(serde_json::json!({
        "benchmark": "SimCLR training step, ResNet-18 small-image stem, batch 256 (two views), 32x32 RGB, SGD",
        "batch": a.batch, "threads": a.threads, "ours_threads": threads, "competing_process": compete, "device": a.device,
        "ours_steps_per_second": ours, "pytorch_steps_per_second": theirs, "ratio": ours / theirs,
        "ours_omp_wait_policy": std::env::var("OMP_WAIT_POLICY").ok(),
        "pytorch": reference,
    }))
}

/// Two-view SimCLR augmentation of 32x32 RGB images on one thread, against torchvision v2.
fn augmentation(a: &Args) -> Result<serde_json::Value> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let images: Vec<Image> = (0..a.images)
        .map(|_| {
            let px: Vec<u8> = (0..3 * 32 * 32).map(|_| rng.random()).collect();
            Image::from_u8(3, 32, 32, &px)
        })
        .collect();
    let cfg = AugmentConfig { size: 32, mean: vec![0.0], std: vec![1.0], ..Default::default() };
    let run = |imgs: &[Image], seed: u64| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut checksum = 0f32;
        for img in imgs {
            for _ in 0..2 {
                checksum += augment(img, &cfg, &mut rng).data[0];
            }
        }
        checksum
    };
    run(&images[..256.min(images.len())], 1);
    let t0 = Instant::now();
    let checksum = run(&images, 2);
    let ours = a.images as f64 / t0.elapsed().as_secs_f64();
    let reference = python(a, "augment_torchvision.py", &["--images".into(), a.images.to_string(), "--threads".into(), "1".into()])?;
    let theirs = reference["images_per_second"].as_f64().context("reference gave no images_per_second")?;
    Ok(serde_json::json!({
        "benchmark": "two-view SimCLR augmentation (crop, flip, jitter, grayscale) of 32x32 RGB uint8 images, one thread",
        "images": a.images, "ours_images_per_second": ours, "torchvision_images_per_second": theirs, "ratio": ours / theirs,
        "checksum": checksum, "torchvision": reference,
    }))
}

fn print_step(r: &serde_json::Value) {
    let compete = if r["competing_process"].as_bool() == Some(true) { " beside one busy process" } else { "" };
    println!(
        "training step{compete}: ours {:.3} steps/s ({} threads), PyTorch {:.3} steps/s, ratio {:.2}",
        r["ours_steps_per_second"].as_f64().unwrap_or(0.0),
        r["ours_threads"],
        r["pytorch_steps_per_second"].as_f64().unwrap_or(0.0),
        r["ratio"].as_f64().unwrap_or(0.0)
    );
}

pub fn run(a: Args) -> Result<()> {
    let mut results = Vec::new();
    if matches!(a.which, Which::All | Which::Augment) {
        let r = augmentation(&a)?;
        println!(
            "augmentation: ours {:.0} images/s, torchvision.v2 {:.0} images/s, ratio {:.2}",
            r["ours_images_per_second"].as_f64().unwrap_or(0.0),
            r["torchvision_images_per_second"].as_f64().unwrap_or(0.0),
            r["ratio"].as_f64().unwrap_or(0.0)
        );
        results.push(r);
    }
    if matches!(a.which, Which::All | Which::TrainStep | Which::Contention) {
        let r = train_step(&a, false)?;
        print_step(&r);
        results.push(r);
    }
    if a.which == Which::Contention {
        let r = train_step(&a, true)?;
        print_step(&r);
        results.push(r);
    }
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&results)?).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}
