//! Benchmarks against the references a user would otherwise pick, in one run: the U-Net
//! training step against the same model in PyTorch, and reading a NIfTI volume with its
//! labels then cutting and augmenting 3-D patches against nibabel + MONAI transforms.
use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use ssl_core::data::Batch;
use ssl_core::method::StepContext;
use ssl_core::train::{Optimizer, OptimizerConfig, OptimizerKind, SupervisedModel};
use ssl_medical::augment::Augment;
use ssl_medical::io::read_nifti;
use ssl_medical::sampling::PatchSampler;
use ssl_medical::segmentation::{Segmenter, MASKS};
use ssl_medical::unet::Unet;
use std::path::PathBuf;
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Which {
    /// The U-Net training step.
    Step,
    /// NIfTI reading, patch sampling and augmentation.
    Volumes,
    /// Both.
    All,
}

#[derive(Parser, Debug)]
pub struct Args {
    #[arg(long, value_enum, default_value_t = Which::All)]
    pub which: Which,
    /// U-Net step: images per step.
    #[arg(long, default_value_t = 8)]
    pub batch: i64,
    /// U-Net step: image side.
    #[arg(long, default_value_t = 128)]
    pub size: i64,
    /// U-Net step: first width (16 in the paper).
    #[arg(long, default_value_t = 16)]
    pub width: i64,
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Volumes: the image and label map.
    #[arg(long, default_value = "datasets/cache/medical/colin27/ch2.nii.gz")]
    pub image: PathBuf,
    #[arg(long, default_value = "datasets/cache/medical/colin27/aal.nii.gz")]
    pub labels: PathBuf,
    /// Volumes: patch side and how many patches.
    #[arg(long, default_value_t = 64)]
    pub patch: i64,
    #[arg(long, default_value_t = 32)]
    pub patches: usize,
    /// Alternating rounds of ours and the reference; medians are reported.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub threads: Vec<i32>,
    #[arg(long, default_value = ".venv/bin/python")]
    pub python: PathBuf,
    #[arg(long)]
    pub json: Option<PathBuf>,
}

const CLASSES: i64 = 5;
const LEVELS: i64 = 4;

/// Our U-Net steps per second and parameter count.
fn our_step(a: &Args, threads: i32) -> Result<(f64, i64)> {
    tch::set_num_threads(threads);
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let mut model = Segmenter { unet: Unet::new(&vs, 1, a.width, LEVELS, CLASSES)? };
    let params: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
    let mut opt = Optimizer::new(OptimizerConfig::new(OptimizerKind::Adamw).with_weight_decay(0.0), vs.variables());
    let x = Tensor::f_randn([a.batch, 1, a.size, a.size], (Kind::Float, Device::Cpu))?;
    let y = Tensor::f_randint(CLASSES, [a.batch, a.size, a.size], (Kind::Int64, Device::Cpu))?;
    let batch = Batch::from_views(vec![x])?.with(MASKS, y)?;
    let mut step = |i: usize| -> Result<()> {
        opt.zero_grad();
        model.loss(&batch, &StepContext::new(i, a.warmup + a.steps, i as u64))?.mean_total().f_backward()?;
        opt.step(1e-3);
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

/// Our seconds to read image and labels, and augmented patches per second.
fn our_volumes(a: &Args, threads: i32) -> Result<(f64, f64)> {
    tch::set_num_threads(threads);
    let t0 = Instant::now();
    let image = read_nifti(&a.image)?;
    let labels = read_nifti(&a.labels)?;
    image.check_mask(&labels)?;
    let load = t0.elapsed().as_secs_f64();
    let sampler = PatchSampler { size: [a.patch; 3], foreground: 0.5 };
    let augment = Augment::volumes();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let t0 = Instant::now();
    for _ in 0..a.patches {
        let (p, l, _) = sampler.sample(&image.data, Some(&labels.data), &mut rng)?;
        let l = l.context("no labels")?;
        let (x, _) = augment.apply(&p.unsqueeze(0), Some(&l), &mut rng)?;
        // Make sure the work is done (tensors are computed eagerly; this reads a value).
        let _ = x.double_value(&[0, 0, 0, 0]);
    }
    Ok((load, a.patches as f64 / t0.elapsed().as_secs_f64()))
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

pub fn run(a: Args) -> Result<()> {
    if a.batch < 1 || a.size % (1 << LEVELS) != 0 || a.steps == 0 || a.repeats == 0 || a.patches == 0 {
        bail!("the benchmark needs --batch >= 1, --size a multiple of {}, --steps, --repeats and --patches >= 1", 1 << LEVELS);
    }
    let mut rows = Vec::new();
    for &threads in &a.threads {
        if matches!(a.which, Which::Step | Which::All) {
            let args: Vec<String> = [
                ("--batch", a.batch),
                ("--size", a.size),
                ("--width", a.width),
                ("--levels", LEVELS),
                ("--classes", CLASSES),
                ("--steps", a.steps as i64),
                ("--warmup", a.warmup as i64),
                ("--threads", threads as i64),
            ]
            .into_iter()
            .flat_map(|(k, v)| [k.to_string(), v.to_string()])
            .collect();
            let (mut us, mut theirs, mut params) = (Vec::new(), Vec::new(), 0);
            for _ in 0..a.repeats {
                let (u, p) = our_step(&a, threads)?;
                us.push(u);
                params = p;
                let r = ssl_core::cli::run_reference(&a.python, "benches/python/unet_step.py".as_ref(), &args)?;
                theirs.push(r["steps_per_second"].as_f64().context("the reference gave no steps_per_second")?);
                let their_params = r["parameters"].as_i64().context("the reference gave no parameter count")?;
                if their_params != params {
                    bail!("the reference U-Net has {their_params} parameters and ours {params}: not the same model");
                }
            }
            let (u, t) = (median(us.clone()), median(theirs.clone()));
            println!(
                "U-Net step (width {}, {LEVELS} levels, batch {} x 1 x {}^2, {CLASSES} classes, CE + Dice, AdamW; {threads} threads, median of {}): ours {u:.2} steps/s, PyTorch {t:.2}, ratio {:.2} ({params} parameters each)",
                a.width,
                a.batch,
                a.size,
                a.repeats,
                u / t
            );
            rows.push(serde_json::json!({ "benchmark": "unet-step", "threads": threads, "ours": u, "pytorch": t, "ratio": u / t, "ours_rounds": us, "pytorch_rounds": theirs, "parameters": params }));
        }
        if matches!(a.which, Which::Volumes | Which::All) {
            let args: Vec<String> = vec![
                "--image".into(),
                a.image.display().to_string(),
                "--labels".into(),
                a.labels.display().to_string(),
                "--patch".into(),
                a.patch.to_string(),
                "--patches".into(),
                a.patches.to_string(),
                "--threads".into(),
                threads.to_string(),
            ];
            let (mut load_us, mut rate_us, mut load_them, mut rate_them) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for _ in 0..a.repeats {
                let (l, r) = our_volumes(&a, threads)?;
                load_us.push(l);
                rate_us.push(r);
                let reference = ssl_core::cli::run_reference(&a.python, "benches/python/volume_pipeline.py".as_ref(), &args)?;
                load_them.push(reference["load_seconds"].as_f64().context("the reference gave no load_seconds")?);
                rate_them.push(reference["patches_per_second"].as_f64().context("the reference gave no patches_per_second")?);
            }
            let (lu, ru, lt, rt) = (median(load_us), median(rate_us), median(load_them), median(rate_them));
            println!(
                "volumes ({} + {}; {} patches of {}^3; {threads} threads, median of {}): reading ours {lu:.3} s, nibabel (MONAI LoadImaged) {lt:.3} s, ratio {:.2}; patches + augmentation ours {ru:.1}/s, MONAI {rt:.1}/s, ratio {:.2}",
                a.image.display(),
                a.labels.display(),
                a.patches,
                a.patch,
                a.repeats,
                lt / lu,
                ru / rt
            );
            rows.push(serde_json::json!({ "benchmark": "volumes", "threads": threads, "ours_load_s": lu, "reference_load_s": lt, "load_ratio": lt / lu, "ours_patches_per_s": ru, "reference_patches_per_s": rt, "patch_ratio": ru / rt }));
        }
    }
    if let Some(path) = &a.json {
        let doc = serde_json::json!({ "rows": rows, "repeats": a.repeats });
        ssl_core::config::write_atomically(path, serde_json::to_string_pretty(&doc)?.as_bytes())?;
    }
    Ok(())
}
