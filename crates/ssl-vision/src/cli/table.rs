//! The objectives table: every method with the same backbone, data and budget.
use super::experiment::{Experiment, ExperimentArgs};
use anyhow::{Context, Result};
use clap::Parser;
use ssl_vision::config::{EvalConfig, PretrainConfig};
use ssl_vision::pipeline::{evaluate, pretrain};
use std::fmt::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser, Debug)]
pub struct Args {
    #[command(flatten)]
    pub experiment: ExperimentArgs,
    #[arg(long, default_value = "runs/objectives")]
    pub out: PathBuf,
    /// Markdown file to write the table to.
    #[arg(long, default_value = "docs/objectives-table.md")]
    pub doc: PathBuf,
    /// Methods (default: all), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub methods: Vec<String>,
    /// The method also run with UOTA view weighting.
    #[arg(long, default_value = "simclr")]
    pub uota_method: String,
}

pub fn run(a: Args) -> Result<()> {
    let Experiment { base, device, train, test } = a.experiment.prepare()?;
    let methods: Vec<String> =
        if a.methods.is_empty() { ssl_vision::registry().methods().iter().map(|m| m.name.to_string()).collect() } else { a.methods.clone() };
    let mut runs: Vec<(String, PretrainConfig)> = methods
        .iter()
        .map(|m| {
            let mut c = base.clone();
            c.method = m.clone();
            c.out = a.out.join(m);
            (m.clone(), c)
        })
        .collect();
    let mut with_uota = base.clone();
    with_uota.method = a.uota_method.clone();
    with_uota.train.uota.enabled = true;
    with_uota.out = a.out.join(format!("{}-uota", a.uota_method));
    runs.push((format!("{} + UOTA", a.uota_method), with_uota));

    let eval = EvalConfig::default();
    let mut md = String::new();
    writeln!(md, "| method | kNN top-1 (%) | linear top-1 (%) | final loss | wall time (s) |\n|---|---|---|---|---|")?;
    for (name, cfg) in &runs {
        eprintln!("{name}: pre-training {} steps ...", cfg.train.steps);
        let t0 = Instant::now();
        let s = pretrain(cfg, true).with_context(|| format!("pre-training {name}"))?;
        let secs = t0.elapsed().as_secs_f64();
        let r = evaluate(cfg, Some(&cfg.out), &train, &test, &eval, device, None)?;
        let line = format!("| {name} | {:.2} | {:.2} | {:.4} | {secs:.0} |", 100.0 * r.knn_top1, 100.0 * r.linear_top1, s.final_loss);
        println!("{line}");
        writeln!(md, "{line}")?;
    }
    let random = evaluate(&base, None, &train, &test, &eval, device, None)?;
    let line = format!("| random init | {:.2} | {:.2} | - | - |", 100.0 * random.knn_top1, 100.0 * random.linear_top1);
    println!("{line}");
    writeln!(md, "{line}")?;
    let header = format!(
        "# Objectives table\n\nEvery objective with the same backbone ({:?}, width {}), data (Fashion-MNIST, real: {} training images without labels, {} test images), \
         augmentations and budget ({} steps of batch {}, {:?} lr {}); kNN k={} t={} and a linear probe on frozen features. UOTA starts at {:.0}% of training (tau {}).\n\n\
         Command: `cargo run --release -p ssl-vision -- objectives-table{}{}`\n\n",
        base.model.backbone.kind,
        base.model.backbone.width,
        train.n,
        test.n,
        base.train.steps,
        base.train.batch_size,
        base.train.optimizer.kind,
        base.train.lr,
        eval.knn.k,
        eval.knn.temperature,
        100.0 * base.train.uota.start_fraction,
        base.train.uota.tau,
        a.experiment.steps.map(|s| format!(" --steps {s}")).unwrap_or_default(),
        a.experiment.limit.map(|s| format!(" --limit {s}")).unwrap_or_default(),
    );
    if let Some(dir) = a.doc.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&a.doc, header + &md).with_context(|| format!("cannot write {}", a.doc.display()))?;
    println!("written to {}", a.doc.display());
    Ok(())
}
