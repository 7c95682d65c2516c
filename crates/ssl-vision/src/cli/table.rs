//! The objectives table: every method with the same backbone, data and budget, each
//! pre-trained with several seeds, beside the baselines without learning.
use super::experiment::{Experiment, ExperimentArgs};
use super::summary::{cell, row};
use anyhow::{Context, Result};
use clap::Parser;
use ssl_vision::config::{EvalConfig, PretrainConfig};
use ssl_vision::pipeline::{evaluate, evaluate_raw_pixels, pretrain};
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
    /// Pre-training seeds per method (and random encoders); rows show mean ± sd over them.
    #[arg(long, default_value_t = 3)]
    pub seeds: usize,
    /// A method's own setting, `METHOD:KEY=VALUE` (e.g. `unigrad:model.options.lambda=0.5`); repeatable.
    #[arg(long = "method-set", value_name = "METHOD:KEY=VALUE")]
    pub method_set: Vec<String>,
}

/// `cfg` with the `method`'s own settings of `--method-set` applied.
fn with_method_settings(mut cfg: PretrainConfig, method: &str, settings: &[String]) -> Result<PretrainConfig> {
    let mut mine = Vec::new();
    for s in settings {
        let (m, kv) = s.split_once(':').with_context(|| format!("--method-set {s}: expected METHOD:KEY=VALUE"))?;
        if !ssl_vision::registry().methods().iter().any(|spec| spec.name == m) {
            anyhow::bail!("--method-set {s}: no method named {m:?}");
        }
        if m == method {
            mine.push(kv.to_string());
        }
    }
    if !mine.is_empty() {
        cfg = ssl_core::config::Overrides::new().assignments(&mine)?.apply(&cfg)?;
    }
    Ok(cfg)
}

pub fn run(a: Args) -> Result<()> {
    let Experiment { base, device, train, test } = a.experiment.prepare()?;
    let seeds = a.seeds.max(1) as u64;
    let methods: Vec<String> =
        if a.methods.is_empty() { ssl_vision::registry().methods().iter().map(|m| m.name.to_string()).collect() } else { a.methods.clone() };
    let mut runs: Vec<(String, PretrainConfig)> = Vec::new();
    for m in &methods {
        let c = base.clone().with_method(m.clone()).with_out(a.out.join(m));
        runs.push((m.clone(), with_method_settings(c, m, &a.method_set)?));
    }
    let mut with_uota = base.clone().with_method(a.uota_method.clone()).with_out(a.out.join(format!("{}-uota", a.uota_method)));
    with_uota.train.uota.enabled = true;
    runs.push((format!("{} + UOTA", a.uota_method), with_method_settings(with_uota, &a.uota_method, &a.method_set)?));

    let eval = EvalConfig::default();
    let mut md = String::new();
    writeln!(md, "| method | kNN top-1 (%) | linear top-1 (%) | seeds | final loss | wall time per run (s) |\n|---|---|---|---|---|---|")?;
    let mut emit = |line: String| -> Result<()> {
        println!("{line}");
        writeln!(md, "{line}")?;
        Ok(())
    };
    let [raw, centred] = evaluate_raw_pixels(&base, &train, &test, &eval)?;
    emit(row("raw pixels", &[raw], &["-".into(), "-".into()]))?;
    emit(row("raw pixels, centred", &[centred], &["-".into(), "-".into()]))?;
    let random_cfg = base.clone().with_method(methods.first().cloned().unwrap_or_else(|| "simclr".into()));
    let mut random = Vec::new();
    for i in 0..seeds {
        let cfg = random_cfg.clone().with_train(base.train.clone().with_seed(base.train.seed.wrapping_add(i)));
        random.push(evaluate(&cfg, None, &train, &test, &eval, device, None)?);
    }
    emit(row("random init", &random, &["-".into(), "-".into()]))?;
    for (name, cfg) in &runs {
        let (mut reports, mut losses, mut secs) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..seeds {
            let seed = cfg.train.seed.wrapping_add(i);
            let c = cfg.clone().with_out(cfg.out.join(format!("seed-{seed}"))).with_train(cfg.train.clone().with_seed(seed));
            eprintln!("{name} (seed {seed}): pre-training {} steps ...", c.train.steps);
            let t0 = Instant::now();
            let s = pretrain(&c, true).with_context(|| format!("pre-training {name} (seed {seed})"))?;
            secs.push(t0.elapsed().as_secs_f64());
            losses.push(s.final_loss);
            reports.push(evaluate(&c, Some(&c.out), &train, &test, &eval, device, None)?);
        }
        emit(row(name, &reports, &[cell(&losses, false), format!("{:.0}", secs.iter().sum::<f64>() / secs.len() as f64)]))?;
    }
    let header = format!(
        "# Objectives table\n\nEvery objective with the same backbone ({:?}, width {}, {} stages), data (Fashion-MNIST, real: {} training images without labels, {} test images), \
         augmentations and budget ({} steps of batch {}, {:?} lr {}), each pre-trained with {seeds} seeds: cells are mean ± sd over the seeds. kNN k={} t={}; \
         the linear probe chooses its epochs and weight decay on {:.0}% of the training images held out, and each seed's cell is the mean of {} probe seeds. \
         UOTA starts at {:.0}% of training (tau {}). Pre-training seconds include time shared with other work on the machine.\n\n\
         Command: `cargo run --release -p ssl-vision -- objectives-table{}{}{}`\n\n",
        base.model.backbone.kind,
        base.model.backbone.width,
        base.model.backbone.stages,
        train.n,
        test.n,
        base.train.steps,
        base.train.batch_size,
        base.train.optimizer.kind,
        base.train.lr,
        eval.knn.k,
        eval.knn.temperature,
        100.0 * eval.linear.val_fraction,
        eval.linear.seeds,
        100.0 * base.train.uota.start_fraction,
        base.train.uota.tau,
        a.experiment.steps.map(|s| format!(" --steps {s}")).unwrap_or_default(),
        a.experiment.limit.map(|s| format!(" --limit {s}")).unwrap_or_default(),
        a.method_set.iter().map(|s| format!(" --method-set {s}")).collect::<String>(),
    );
    if let Some(dir) = a.doc.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&a.doc, header + &md).with_context(|| format!("cannot write {}", a.doc.display()))?;
    println!("written to {}", a.doc.display());
    Ok(())
}
