//! Video pre-training against the no-learning baselines on a labelled video folder (the
//! generated motion benchmark by default): raw pixels, random 3-D encoders, and a method's
//! pre-trained encoders over seeds, scored by kNN, the linear probe and clip-to-clip
//! retrieval; the table goes to `docs/`.
use anyhow::{bail, Context, Result};
use clap::Parser;
use ssl_core::eval::mean_std;
use ssl_core::train::Resume;
use ssl_vision::video::{centre_clips, clip_features, pretrain_video, score_features, VideoFolder, VideoPretrainConfig, VideoScores};
use std::fmt::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser, Debug)]
pub struct Args {
    /// A split of the motion benchmark (or any folder with `train/` and `test/` video folders
    /// in the `<class>/<video>/<frames>` layout).
    #[arg(long, default_value = "datasets/generated/motion/plain")]
    pub data: PathBuf,
    #[arg(long, default_value_t = VideoPretrainConfig::default().method)]
    pub method: String,
    #[arg(long, default_value_t = VideoPretrainConfig::default().backbone)]
    pub backbone: String,
    #[arg(long, default_value_t = VideoPretrainConfig::default().width)]
    pub width: i64,
    #[arg(long, default_value_t = VideoPretrainConfig::default().frames)]
    pub frames: usize,
    #[arg(long, default_value_t = VideoPretrainConfig::default().stride)]
    pub stride: usize,
    #[arg(long, default_value_t = VideoPretrainConfig::default().size)]
    pub size: usize,
    #[arg(long, default_value_t = VideoPretrainConfig::default().batch)]
    pub batch: usize,
    #[arg(long, default_value_t = VideoPretrainConfig::default().steps)]
    pub steps: usize,
    #[arg(long, default_value_t = VideoPretrainConfig::default().lr)]
    pub lr: f64,
    /// Seeds (pre-training runs and random encoders).
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    #[arg(long, default_value = "runs/video-baseline")]
    pub out: PathBuf,
    /// The report (default `docs/video-baseline-<split>.md`).
    #[arg(long)]
    pub doc: Option<PathBuf>,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Threads (0: all free cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

fn cell(v: &[f64]) -> String {
    let (m, sd) = mean_std(v);
    format!("{:.1} ± {:.1}", 100.0 * m, 100.0 * sd)
}

pub fn run(a: Args) -> Result<()> {
    if a.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let device = ssl_core::device::setup_runtime(&a.device, a.threads)?;
    let cfg = VideoPretrainConfig {
        method: a.method.clone(),
        backbone: a.backbone.clone(),
        width: a.width,
        frames: a.frames,
        stride: a.stride,
        size: a.size,
        batch: a.batch,
        steps: a.steps,
        lr: a.lr,
        ..VideoPretrainConfig::default()
    };
    cfg.validate()?;
    let train = Arc::new(VideoFolder::open(&a.data.join("train"), false)?);
    let test = VideoFolder::open(&a.data.join("test"), false)?;
    if train.len() < 10 {
        bail!("{}: {} training videos; retrieval recall@10 needs at least 10", a.data.join("train").display(), train.len());
    }
    if train.class_names != test.class_names {
        bail!("{}: train and test hold different classes ({:?} vs {:?})", a.data.display(), train.class_names, test.class_names);
    }
    let (xtr, ytr) = centre_clips(&train, cfg.clip(), cfg.size)?;
    let (xte, yte) = centre_clips(&test, cfg.clip(), cfg.size)?;
    let split = a.data.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "data".into());
    let t0 = Instant::now();
    let mut rows: Vec<(String, Vec<VideoScores>)> = Vec::new();
    rows.push(("raw pixels (centre clip, flattened)".into(), vec![score_features(&xtr.flatten(1, -1), &ytr, &xte.flatten(1, -1), &yte, 0)?]));
    let (mut random, mut trained) = (Vec::new(), Vec::new());
    for seed in 0..a.seeds {
        let c = VideoPretrainConfig { seed, ..cfg.clone() };
        let (_, method) = c.build(train.channels, device)?;
        random.push(score_features(&clip_features(method.backbone(), &xtr, device), &ytr, &clip_features(method.backbone(), &xte, device), &yte, seed)?);
        let dir = a.out.join(&split).join(format!("{}-s{seed}", c.method));
        let _ = std::fs::remove_dir_all(&dir);
        let (_, method, summary) = pretrain_video(&c, train.clone(), &dir, device, Resume::No)?;
        let s = score_features(&clip_features(method.backbone(), &xtr, device), &ytr, &clip_features(method.backbone(), &xte, device), &yte, seed)?;
        eprintln!(
            "seed {seed}: loss {:.3} -> {:.3}, kNN {:.1}%, linear {:.1}%, R@1 {:.1}% [{:.0} s]",
            summary.first_loss.unwrap_or(f64::NAN),
            summary.final_loss,
            100.0 * s.knn,
            100.0 * s.linear,
            100.0 * s.recall[0],
            t0.elapsed().as_secs_f64()
        );
        trained.push(s);
    }
    rows.push((format!("random {} (width {})", cfg.backbone, cfg.width), random));
    rows.push((format!("{} pre-trained, {} steps", cfg.method, cfg.steps), trained));

    let mut md = format!(
        "Data: {} (generated where it is the motion benchmark: see docs/video.md): {} training and {} test videos, {} classes. Clips of {} frames at stride {}, {} x {} px. Pre-training: {} on {} (width {}, small-input stem), {} steps of {} videos x 2 clips (AdamW, lr {}), SimCLR's crop / flip / jitter / grey-scale on each clip as one. Evaluation on the centre clip of each video, frozen features: kNN (k 20, t 0.07), linear probe, clip-to-clip retrieval (test clips query the training clips; recall@k). Mean ± sd over {} seeds (raw pixels: one, deterministic).\n\n\
         Command: `cargo run --release -p ssl-vision -- video-baseline --data {} --method {} --backbone {} --width {} --frames {} --stride {} --size {} --batch {} --steps {} --lr {} --seeds {}`\n\n\
         | encoder | kNN % | linear % | R@1 % | R@5 % | R@10 % |\n|---|---|---|---|---|---|\n",
        a.data.display(), train.len(), test.len(), train.class_names.len(), cfg.frames, cfg.stride, cfg.size, cfg.size, cfg.method, cfg.backbone, cfg.width, cfg.steps, cfg.batch, cfg.lr, a.seeds,
        a.data.display(), cfg.method, cfg.backbone, cfg.width, cfg.frames, cfg.stride, cfg.size, cfg.batch, cfg.steps, cfg.lr, a.seeds,
    );
    for (name, scores) in &rows {
        let col = |f: &dyn Fn(&VideoScores) -> f64| cell(&scores.iter().map(f).collect::<Vec<_>>());
        writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} |",
            col(&|s| s.knn),
            col(&|s| s.linear),
            col(&|s| s.recall[0]),
            col(&|s| s.recall[1]),
            col(&|s| s.recall[2])
        )?;
    }
    writeln!(
        md,
        "\nTotal time {:.0} s on {} ({} threads). Chance is {:.1}%.",
        t0.elapsed().as_secs_f64(),
        a.device,
        tch::get_num_threads(),
        100.0 / train.class_names.len() as f64
    )?;
    let doc = a.doc.clone().unwrap_or_else(|| PathBuf::from(format!("docs/video-baseline-{split}.md")));
    if let Some(dir) = doc.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&doc, &md).with_context(|| format!("cannot write {}", doc.display()))?;
    println!("{md}");
    println!("written to {}", doc.display());
    Ok(())
}
