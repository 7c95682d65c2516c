//! UOTA where its paper puts it: SwAV with multi-crop (2 global + 6 local views), with and
//! without view weighting, on clean views and with some local crops replaced by crops of
//! other images (outlier views, where the weighting should matter most). Each setting is
//! pre-trained with several seeds; UOTA's effect is also shown paired by seed (same
//! initial weights and batches up to the point where weighting starts).
use super::experiment::{Experiment, ExperimentArgs};
use super::summary::{cell, row};
use anyhow::{bail, Context, Result};
use clap::Parser;
use ssl_vision::config::EvalConfig;
use ssl_vision::pipeline::{evaluate, evaluate_raw_pixels, pretrain, EvalReport};
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Parser, Debug)]
pub struct Args {
    #[command(flatten)]
    pub experiment: ExperimentArgs,
    #[arg(long, default_value = "runs/uota")]
    pub out: PathBuf,
    /// Markdown file for the table.
    #[arg(long, default_value = "docs/uota-swav.md")]
    pub doc: PathBuf,
    /// The multi-crop method (its default local views apply).
    #[arg(long, default_value = "swav")]
    pub method: String,
    /// Pre-training seeds per setting.
    #[arg(long, default_value_t = 3)]
    pub seeds: usize,
    /// Share of the local crops cut from another image of the batch in the outlier runs.
    #[arg(long, default_value_t = 0.25)]
    pub outlier_fraction: f64,
    /// A setting of every run, `KEY=VALUE` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// Steps when `--steps` is not given: this command trains 4 settings x the seeds.
const DEFAULT_STEPS: usize = 500;

pub fn run(a: Args) -> Result<()> {
    if !(0.0..=1.0).contains(&a.outlier_fraction) || a.outlier_fraction == 0.0 {
        bail!("--outlier-fraction must be in (0, 1], got {}", a.outlier_fraction);
    }
    let Experiment { mut base, device, train, test } = a.experiment.prepare()?;
    if a.experiment.steps.is_none() {
        base.train.steps = DEFAULT_STEPS;
    }
    base.method = a.method.clone();
    base = ssl_core::config::Overrides::new().assignments(&a.set)?.apply(&base)?;
    let seeds = a.seeds.max(1) as u64;
    let eval = EvalConfig::default();
    let mut md = String::from("| encoder | kNN top-1 (%) | linear top-1 (%) | seeds | final loss |\n|---|---|---|---|---|\n");
    let mut emit = |line: String| -> Result<()> {
        println!("{line}");
        writeln!(md, "{line}")?;
        Ok(())
    };
    let [raw, centred] = evaluate_raw_pixels(&base, &train, &test, &eval)?;
    emit(row("raw pixels", &[raw], &["-".into()]))?;
    emit(row("raw pixels, centred", &[centred], &["-".into()]))?;
    let mut random = Vec::new();
    for i in 0..seeds {
        let cfg = base.clone().with_train(base.train.clone().with_seed(base.train.seed.wrapping_add(i)));
        random.push(evaluate(&cfg, None, &train, &test, &eval, device, None)?);
    }
    emit(row("random init", &random, &["-".into()]))?;

    let mut paired = String::new();
    for outliers in [false, true] {
        let mut by_uota: Vec<Vec<EvalReport>> = Vec::new();
        for uota in [false, true] {
            let mut cfg = base.clone();
            cfg.train.uota.enabled = uota;
            if outliers {
                cfg.multi_crop.outlier_fraction = a.outlier_fraction;
            }
            let name = format!(
                "{}{}{}",
                a.method,
                if uota { " + UOTA" } else { "" },
                if outliers { format!(", {:.0}% outlier local crops", 100.0 * a.outlier_fraction) } else { String::new() }
            );
            let folder = format!("{}{}{}", a.method, if uota { "-uota" } else { "" }, if outliers { "-outliers" } else { "" });
            let (mut reports, mut losses) = (Vec::new(), Vec::new());
            for i in 0..seeds {
                let seed = base.train.seed.wrapping_add(i);
                let c = cfg.clone().with_out(a.out.join(&folder).join(format!("seed-{seed}"))).with_train(cfg.train.clone().with_seed(seed));
                eprintln!("{name} (seed {seed}): pre-training {} steps ...", c.train.steps);
                let s = pretrain(&c, true).with_context(|| format!("pre-training {name} (seed {seed})"))?;
                losses.push(s.final_loss);
                reports.push(evaluate(&c, Some(&c.out), &train, &test, &eval, device, None)?);
            }
            emit(row(&name, &reports, &[cell(&losses, false)]))?;
            by_uota.push(reports);
        }
        let diff = |f: fn(&EvalReport) -> f64| -> Vec<f64> { by_uota[1].iter().zip(&by_uota[0]).map(|(u, p)| f(u) - f(p)).collect() };
        writeln!(
            paired,
            "| {} | {} | {} | {seeds} |",
            if outliers { "outlier local crops" } else { "clean views" },
            cell(&diff(|r| r.knn_top1), true),
            cell(&diff(|r| r.linear_top1), true)
        )?;
    }
    let local = base.local_views();
    let global_side = if base.augment.size == 0 { train.height.min(train.width) } else { base.augment.size };
    let header = format!(
        "# UOTA on SwAV multi-crop\n\n\
         {method} with {} global and {local} local views ({} px crops of {:?} of the image) on Fashion-MNIST (real data: {} training images without labels, \
         {} test images), {} steps of batch {}, {:?} lr {}, backbone {:?} (width {}, {} stages), method options {}. \
         UOTA (tau {}, weighting from {:.0}% of training) against the same runs without it; the outlier runs cut {:.0}% of the local crops \
         from another image of the batch. Cells are mean ± sd over {seeds} pre-training seeds; kNN k={} t={}, the linear probe's epochs and \
         weight decay chosen on {:.0}% of the training images held out.\n\n\
         Command: `cargo run --release -p ssl-vision -- uota-experiment{}{}`\n\n",
        base.views,
        base.multi_crop.local_size_for(global_side),
        base.multi_crop.local_crop_scale,
        train.n,
        test.n,
        base.train.steps,
        base.train.batch_size,
        base.train.optimizer.kind,
        base.train.lr,
        base.model.backbone.kind,
        base.model.backbone.width,
        base.model.backbone.stages,
        serde_json::to_string(&base.model.options)?,
        base.train.uota.tau,
        100.0 * base.train.uota.start_fraction,
        100.0 * a.outlier_fraction,
        eval.knn.k,
        eval.knn.temperature,
        100.0 * eval.linear.val_fraction,
        a.experiment.steps.map(|s| format!(" --steps {s}")).unwrap_or_default(),
        a.set.iter().map(|s| format!(" --set {s}")).collect::<String>(),
        method = a.method,
    );
    let paired_table =
        format!("\n## UOTA minus plain {}, paired by seed (percentage points)\n\n| views | kNN | linear | seeds |\n|---|---|---|---|\n{paired}", a.method);
    if let Some(dir) = a.doc.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&a.doc, header + &md + &paired_table).with_context(|| format!("cannot write {}", a.doc.display()))?;
    println!("{paired_table}\nwritten to {}", a.doc.display());
    Ok(())
}
