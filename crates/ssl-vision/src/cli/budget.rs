//! Accuracy against pre-training budget: one full run (warm-up and cosine schedule fitted
//! to its length) per budget and method, beside the baselines without learning.
use super::experiment::{Experiment, ExperimentArgs};
use super::summary::row;
use anyhow::{bail, Context, Result};
use clap::Parser;
use ssl_vision::config::EvalConfig;
use ssl_vision::pipeline::{evaluate, evaluate_raw_pixels, pretrain};
use std::fmt::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser, Debug)]
pub struct Args {
    #[command(flatten)]
    pub experiment: ExperimentArgs,
    #[arg(long, default_value = "runs/budget")]
    pub out: PathBuf,
    /// Markdown file for the table.
    #[arg(long, default_value = "docs/fashion-mnist-budget.md")]
    pub doc: PathBuf,
    /// The plot of accuracy against steps.
    #[arg(long, default_value = "docs/img/fashion-mnist-budget.png")]
    pub plot: PathBuf,
    /// Pre-training steps of each run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "250,500,1000,2000")]
    pub budgets: Vec<usize>,
    #[arg(long, value_delimiter = ',', default_value = "simclr")]
    pub methods: Vec<String>,
}

pub fn run(a: Args) -> Result<()> {
    if a.budgets.is_empty() || a.budgets.contains(&0) {
        bail!("--budgets must list positive step counts");
    }
    let Experiment { base, device, train, test } = a.experiment.prepare()?;
    let eval = EvalConfig::default();
    let mut md = String::from("| encoder | kNN top-1 (%) | linear top-1 (%) | seeds | steps | epochs | pre-training (s) |\n|---|---|---|---|---|---|---|\n");
    let [raw, centred] = evaluate_raw_pixels(&base, &train, &test, &eval)?;
    let random = evaluate(&base.clone().with_method(a.methods[0].clone()), None, &train, &test, &eval, device, None)?;
    for (name, r) in [("raw pixels", &raw), ("raw pixels, centred", &centred), ("random init", &random)] {
        writeln!(md, "{}", row(name, std::slice::from_ref(r), &["-".into(), "-".into(), "-".into()]))?;
    }
    let budgets_max = *a.budgets.iter().max().expect("not empty");
    let flat = |r: &ssl_vision::pipeline::EvalReport, knn: bool| {
        let v = 100.0 * if knn { r.knn_top1 } else { r.linear_top1 };
        vec![(0.0, v), (budgets_max as f64, v)]
    };
    let mut series = vec![
        ("raw pixels, kNN".to_string(), flat(&raw, true)),
        ("raw pixels, linear".to_string(), flat(&raw, false)),
        ("raw pixels centred, kNN".to_string(), flat(&centred, true)),
        ("random init, kNN".to_string(), flat(&random, true)),
        ("random init, linear".to_string(), flat(&random, false)),
    ];
    for method in &a.methods {
        let (mut knn, mut linear) = (Vec::new(), Vec::new());
        for &steps in &a.budgets {
            // The warm-up keeps its share of the run.
            let warmup = (base.train.warmup_steps as f64 * steps as f64 / base.train.steps.max(1) as f64).round() as usize;
            let cfg = base.clone().with_method(method.clone()).with_out(a.out.join(format!("{method}-{steps}"))).with_train(base.train.clone().with_schedule(
                steps,
                base.train.batch_size,
                base.train.lr,
                warmup.min(steps / 2),
            ));
            eprintln!("{method}: pre-training {steps} steps ...");
            let t0 = Instant::now();
            let summary = pretrain(&cfg, true).with_context(|| format!("pre-training {method} for {steps} steps"))?;
            // A run finished by an earlier invocation trains nothing now: no time to report.
            let secs = if summary.already_finished { "(earlier run)".to_string() } else { format!("{:.0}", t0.elapsed().as_secs_f64()) };
            let r = evaluate(&cfg, Some(&cfg.out), &train, &test, &eval, device, None)?;
            let epochs = (steps * cfg.train.batch_size as usize) as f64 / train.n as f64;
            let line = row(method, std::slice::from_ref(&r), &[steps.to_string(), format!("{epochs:.1}"), secs]);
            println!("{line}");
            writeln!(md, "{line}")?;
            knn.push((steps as f64, 100.0 * r.knn_top1));
            linear.push((steps as f64, 100.0 * r.linear_top1));
        }
        series.push((format!("{method}, kNN"), knn));
        series.push((format!("{method}, linear"), linear));
    }
    for p in [&a.doc, &a.plot] {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
    }
    ssl_vision::plots::line_chart(&a.plot, "Fashion-MNIST: test top-1 against pre-training steps", ("pre-training steps", "top-1 (%)"), &series)?;
    let header = format!(
        "Accuracy against pre-training budget on Fashion-MNIST (real data; {} training images without labels, {} test images): one run per budget, \
         its warm-up and cosine schedule fitted to its length; backbone {:?} (width {}, {} stages), batch {}, {:?} lr {}. \
         Linear cells are the mean ± sd over {} probe seeds; each run is one pre-training seed.\n\n\
         Command: `cargo run --release -p ssl-vision -- budget-curve --budgets {} --methods {}`\n\n",
        train.n,
        test.n,
        base.model.backbone.kind,
        base.model.backbone.width,
        base.model.backbone.stages,
        base.train.batch_size,
        base.train.optimizer.kind,
        base.train.lr,
        eval.linear.seeds,
        a.budgets.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(","),
        a.methods.join(","),
    );
    std::fs::write(&a.doc, header + &md).with_context(|| format!("cannot write {}", a.doc.display()))?;
    println!("written to {} and {}", a.doc.display(), a.plot.display());
    Ok(())
}
