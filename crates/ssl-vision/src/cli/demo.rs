//! The main job: SimCLR (and other methods on request) on Fashion-MNIST against raw pixels
//! and random encoders.
use super::experiment::{Experiment, ExperimentArgs};
use super::summary::row;
use anyhow::{Context, Result};
use clap::Parser;
use ssl_core::train::MetricsLog;
use ssl_vision::config::EvalConfig;
use ssl_vision::pipeline::{embedding_plot, evaluate, evaluate_raw_pixels, pretrain, EvalReport};
use std::fmt::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser, Debug)]
pub struct Args {
    #[command(flatten)]
    pub experiment: ExperimentArgs,
    #[arg(long, default_value = "runs/fashion-mnist")]
    pub out: PathBuf,
    /// Methods to pre-train, comma-separated, each optionally with its own number of steps
    /// (`simclr:5000,byol:1000`; otherwise `--steps` or the config's). Without it: SimCLR for
    /// 5000 steps, which fit the main job's 15 minutes on 2 cores (BYOL needs more steps than
    /// that budget leaves to pass raw pixels here); with `--steps N`, SimCLR and BYOL for N.
    #[arg(long, value_delimiter = ',')]
    pub methods: Option<Vec<String>>,
    /// Randomly initialised encoders evaluated (each with its own seed) for the baseline.
    #[arg(long, default_value_t = 3)]
    pub random_seeds: usize,
}

pub fn run(a: Args) -> Result<()> {
    let Experiment { base, device, train, test } = a.experiment.prepare()?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    let eval = EvalConfig::default();

    let mut table = String::from("| encoder | kNN top-1 (%) | linear top-1 (%) | encoder seeds | pre-training (s) |\n|---|---|---|---|---|\n");
    let line = |name: &str, reports: &[EvalReport], seconds: Option<f64>| {
        let t = seconds.map(|s| format!("{s:.0}")).unwrap_or_else(|| "-".into());
        row(name, reports, &[t]) + "\n"
    };
    let raw_pixels = evaluate_raw_pixels(&base, &train, &test, &eval)?;
    for raw in &raw_pixels {
        println!("{}: kNN {:.2}%  linear {:.2}%", raw.encoder, 100.0 * raw.knn_top1, 100.0 * raw.linear_top1);
        table.push_str(&line(&raw.encoder, std::slice::from_ref(raw), None));
    }
    let mut reports = Vec::new();
    let mut curves = Vec::new();
    let specs = a.methods.clone().unwrap_or_else(|| {
        let budgets = if a.experiment.steps.is_some() { vec!["simclr", "byol"] } else { vec!["simclr:5000"] };
        budgets.into_iter().map(String::from).collect()
    });
    let methods = specs.iter().map(|m| method_steps(m, &base)).collect::<Result<Vec<_>>>()?;
    for (method, steps) in &methods {
        let mut cfg = base.clone();
        cfg.method = method.clone();
        cfg.out = a.out.join(method);
        if *steps != base.train.steps {
            // The warm-up keeps its share of the run.
            let warmup = (base.train.warmup_steps as f64 * *steps as f64 / base.train.steps.max(1) as f64).round() as usize;
            cfg.train = base.train.clone().with_schedule(*steps, base.train.batch_size, base.train.lr, warmup.min(steps / 2));
        }
        eprintln!("pre-training {method} for {} steps on {} images ...", cfg.train.steps, train.n);
        let t0 = Instant::now();
        // Resuming makes a re-run reuse finished (or interrupted) pre-training.
        let summary = pretrain(&cfg, true)?;
        let seconds = t0.elapsed().as_secs_f64();
        let report = evaluate(&cfg, Some(&cfg.out), &train, &test, &eval, device, None)?;
        println!("{method}: kNN {:.2}%  linear {:.2}%  ({seconds:.0} s pre-training)", 100.0 * report.knn_top1, 100.0 * report.linear_top1);
        table.push_str(&line(&format!("{method}, {} steps", summary.steps), std::slice::from_ref(&report), Some(seconds)));
        curves.push((method.clone(), MetricsLog::read_losses(&cfg.out.join("metrics.jsonl"))?));
        let png = a.out.join(format!("embedding-{method}.png"));
        embedding_plot(&cfg, Some(&cfg.out), &test, device, &png, &format!("{method}: test-set features, first two principal components"))?;
        reports.push((report, summary.steps));
    }
    let mut random_cfg = base.clone();
    random_cfg.method = methods.first().map(|m| m.0.clone()).unwrap_or_else(|| "simclr".into());
    let mut random = Vec::new();
    for i in 0..a.random_seeds.max(1) as u64 {
        let cfg = random_cfg.clone().with_train(base.train.clone().with_seed(base.train.seed.wrapping_add(i)));
        let r = evaluate(&cfg, None, &train, &test, &eval, device, None)?;
        println!("random encoder (seed {}): kNN {:.2}%  linear {:.2}%", cfg.train.seed, 100.0 * r.knn_top1, 100.0 * r.linear_top1);
        random.push(r);
    }
    table.push_str(&line("random init", &random, None));
    embedding_plot(&random_cfg, None, &test, device, &a.out.join("embedding-random.png"), "random encoder: test-set features, first two principal components")?;
    let curves_png = a.out.join("loss.png");
    let normalised: Vec<(String, Vec<(usize, f64)>)> = curves
        .iter()
        .map(|(n, c)| {
            let first = c.first().map(|p| p.1.abs()).unwrap_or(1.0).max(1e-12);
            (format!("{n} (loss / first loss)"), c.iter().map(|&(s, l)| (s, l / first)).collect())
        })
        .collect();
    ssl_vision::plots::loss_curves(&curves_png, "Pre-training loss on Fashion-MNIST (relative to the first step)", &normalised)?;

    let mut md = String::new();
    writeln!(
        md,
        "Fashion-MNIST (real data): {} unlabelled training images for pre-training; kNN (k={}, t={}) and linear probe on frozen features, {} test images. \
         The probe's epochs (up to {}) and weight decay ({:?}) are chosen on {:.0}% of the training images held out; linear top-1 is the mean ± sd over {} probe seeds \
         (and over the encoder seeds where there are several).\n",
        train.n,
        eval.knn.k,
        eval.knn.temperature,
        test.n,
        eval.linear.epochs,
        eval.linear.weight_decays,
        100.0 * eval.linear.val_fraction,
        eval.linear.seeds
    )?;
    writeln!(
        md,
        "Backbone: {:?} (width {}, {} stages), {} steps, batch {}, {:?} lr {}.\n",
        base.model.backbone.kind,
        base.model.backbone.width,
        base.model.backbone.stages,
        methods.iter().map(|(m, s)| format!("{m} {s}")).collect::<Vec<_>>().join(", "),
        base.train.batch_size,
        base.train.optimizer.kind,
        base.train.lr
    )?;
    md.push_str(&table);
    std::fs::write(a.out.join("report.md"), &md)?;
    let json = serde_json::json!({
        "methods": reports.iter().map(|(r, steps)| serde_json::json!({"report": r, "steps": steps})).collect::<Vec<_>>(),
        "random": random,
        "raw_pixels": raw_pixels,
    });
    std::fs::write(a.out.join("report.json"), serde_json::to_string_pretty(&json)?)?;
    println!("\n{md}");
    println!("plots: {}, {}/embedding-*.png", curves_png.display(), a.out.display());
    Ok(())
}

/// `method` or `method:steps`, with the base configuration's steps when none are given.
fn method_steps(spec: &str, base: &ssl_vision::config::PretrainConfig) -> Result<(String, usize)> {
    match spec.split_once(':') {
        None => Ok((spec.to_string(), base.train.steps)),
        Some((m, s)) => {
            let steps: usize = s.parse().map_err(|_| anyhow::anyhow!("--methods: '{spec}' is not METHOD or METHOD:STEPS"))?;
            if steps == 0 {
                anyhow::bail!("--methods: '{spec}' asks for 0 steps");
            }
            Ok((m.to_string(), steps))
        }
    }
}
