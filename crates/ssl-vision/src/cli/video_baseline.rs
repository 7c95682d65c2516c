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

/// How large the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// Well under 30 minutes on 2 CPU cores.
    Cpu,
    /// The larger configuration for a GPU.
    Gpu,
}

#[derive(Parser, Debug)]
pub struct Args {
    /// A split of the motion benchmark (or any folder with `train/` and `test/` video folders
    /// in the `<class>/<video>/<frames>` layout).
    #[arg(long, default_value = "datasets/generated/motion/plain")]
    pub data: PathBuf,
    /// CPU-sized defaults, or the larger configuration for a GPU (`VideoPretrainConfig::gpu`);
    /// flags given explicitly override either.
    #[arg(long, value_enum, default_value_t = Preset::Cpu)]
    pub preset: Preset,
    #[arg(long, default_value_t = VideoPretrainConfig::default().method)]
    pub method: String,
    #[arg(long, default_value_t = VideoPretrainConfig::default().backbone)]
    pub backbone: String,
    /// The backbone's first width (16; 64 with --preset gpu).
    #[arg(long)]
    pub width: Option<i64>,
    /// Frames per clip (8; 16 with --preset gpu).
    #[arg(long)]
    pub frames: Option<usize>,
    /// Frames between clip frames (2).
    #[arg(long)]
    pub stride: Option<usize>,
    /// Side of the clips, px (32; 64 with --preset gpu).
    #[arg(long)]
    pub size: Option<usize>,
    /// Videos per step (16; 64 with --preset gpu).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Pre-training steps (300; 5000 with --preset gpu).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Peak learning rate (1e-3).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seeds (pre-training runs and random encoders).
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    #[arg(long, default_value = "runs/video-baseline")]
    pub out: PathBuf,
    /// The report (default `docs/video-baseline-<split>.md`); its pictures (loss curves,
    /// retrieval examples) go to `img/` beside it.
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
    let preset = match a.preset {
        Preset::Cpu => VideoPretrainConfig::default(),
        Preset::Gpu => VideoPretrainConfig::gpu(),
    };
    let cfg = VideoPretrainConfig {
        method: a.method.clone(),
        backbone: a.backbone.clone(),
        width: a.width.unwrap_or(preset.width),
        frames: a.frames.unwrap_or(preset.frames),
        stride: a.stride.unwrap_or(preset.stride),
        size: a.size.unwrap_or(preset.size),
        batch: a.batch.unwrap_or(preset.batch),
        steps: a.steps.unwrap_or(preset.steps),
        lr: a.lr.unwrap_or(preset.lr),
        ..preset
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
    let (mut curves, mut examples) = (Vec::new(), None);
    for seed in 0..a.seeds {
        let c = VideoPretrainConfig { seed, ..cfg.clone() };
        let (_, method) = c.build(train.channels, device)?;
        random.push(score_features(&clip_features(method.backbone(), &xtr, device), &ytr, &clip_features(method.backbone(), &xte, device), &yte, seed)?);
        let dir = a.out.join(&split).join(format!("{}-s{seed}", c.method));
        let _ = std::fs::remove_dir_all(&dir);
        let (_, method, summary) = pretrain_video(&c, train.clone(), &dir, device, Resume::No)?;
        let (ftr, fte) = (clip_features(method.backbone(), &xtr, device), clip_features(method.backbone(), &xte, device));
        let s = score_features(&ftr, &ytr, &fte, &yte, seed)?;
        curves.push((format!("seed {seed}"), ssl_core::train::MetricsLog::read_losses(&dir.join("metrics.jsonl"))?));
        if seed == 0 {
            examples = Some((ftr, fte));
        }
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
        "Data: {} (generated where it is the motion benchmark: see docs/video.md): {} training and {} test videos, {} classes. Clips of {} frames at stride {}, {} x {} px. Pre-training: {} on {} (width {}, small-input stem), {} steps of {} videos x 2 clips (AdamW, lr {}, queue {} where the method keeps one), SimCLR's crop / flip / jitter / grey-scale on each clip as one. Evaluation on the centre clip of each video, frozen features: kNN (k 20, t 0.07), linear probe, clip-to-clip retrieval (test clips query the training clips; recall@k). Mean ± sd over {} seeds (raw pixels: one, deterministic).\n\n\
         Command: `cargo run --release -p ssl-vision -- video-baseline --data {} --preset {} --method {} --backbone {} --width {} --frames {} --stride {} --size {} --batch {} --steps {} --lr {} --seeds {}`\n\n\
         | encoder | kNN % | linear % | R@1 % | R@5 % | R@10 % |\n|---|---|---|---|---|---|\n",
        a.data.display(), train.len(), test.len(), train.class_names.len(), cfg.frames, cfg.stride, cfg.size, cfg.size, cfg.method, cfg.backbone, cfg.width, cfg.steps, cfg.batch, cfg.lr, cfg.queue, a.seeds,
        a.data.display(), if a.preset == Preset::Gpu { "gpu" } else { "cpu" }, cfg.method, cfg.backbone, cfg.width, cfg.frames, cfg.stride, cfg.size, cfg.batch, cfg.steps, cfg.lr, a.seeds,
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
    let img = doc.parent().unwrap_or(std::path::Path::new(".")).join("img");
    std::fs::create_dir_all(&img).with_context(|| format!("cannot create {}", img.display()))?;
    let curve_png = img.join(format!("video-baseline-{split}-loss.png"));
    ssl_core::plots::loss_curves(&curve_png, &format!("{} on {} clips ({split})", cfg.method, cfg.backbone), &curves)?;
    writeln!(md, "\n![pre-training loss per seed](img/{})", curve_png.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default())?;
    if let Some((ftr, fte)) = examples {
        let strip_png = img.join(format!("video-baseline-{split}-retrieval.png"));
        let caption = retrieval_strip(&strip_png, &xtr, &ytr, &ftr, &xte, &yte, &fte, &train.class_names)?;
        writeln!(
            md,
            "\n![retrieval examples](img/{})\n\nRetrieval with the seed-0 encoder: each block is a test clip (top row) and its three nearest training clips (frames left to right). {caption}",
            strip_png.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
        )?;
    }
    std::fs::write(&doc, &md).with_context(|| format!("cannot write {}", doc.display()))?;
    println!("{md}");
    println!("written to {}", doc.display());
    Ok(())
}

/// Frame strips of retrieval: for the first test clip of up to four classes, the query and
/// its three nearest training clips (cosine); returns a caption naming each row's class.
#[allow(clippy::too_many_arguments)]
fn retrieval_strip(
    path: &std::path::Path,
    xtr: &tch::Tensor,
    ytr: &tch::Tensor,
    ftr: &tch::Tensor,
    xte: &tch::Tensor,
    yte: &tch::Tensor,
    fte: &tch::Tensor,
    classes: &[String],
) -> Result<String> {
    use tch::Kind;
    let norm = |f: &tch::Tensor| f / f.norm_scalaropt_dim(2, [1].as_slice(), true).clamp_min(1e-12);
    let sim = norm(fte).matmul(&norm(ftr).transpose(0, 1));
    let (ytr, yte) = (Vec::<i64>::try_from(ytr)?, Vec::<i64>::try_from(yte)?);
    let mut queries = Vec::new();
    for (i, y) in yte.iter().enumerate() {
        if !queries.iter().any(|&(_, c)| c == *y) && queries.len() < 4 {
            queries.push((i, *y));
        }
    }
    let s = xte.size();
    let (t, h, w) = (s[2], s[3], s[4]);
    let (cell_w, cell_h) = (w + 2, h + 2);
    let rows_per_block = 4;
    let mut img = image::RgbImage::new((t * cell_w) as u32, (queries.len() as i64 * (rows_per_block * cell_h + 6)) as u32);
    let mut caption = Vec::new();
    for (b, &(q, class)) in queries.iter().enumerate() {
        let (_, nn) = sim.get(q as i64).topk(3, 0, true, true);
        let nn = Vec::<i64>::try_from(&nn)?;
        let mut rows = vec![(xte.get(q as i64), class)];
        rows.extend(nn.iter().map(|&j| (xtr.get(j), ytr[j as usize])));
        caption.push(format!(
            "Block {}: query {}, neighbours {}.",
            b + 1,
            classes[class as usize],
            rows[1..].iter().map(|r| classes[r.1 as usize].as_str()).collect::<Vec<_>>().join(", ")
        ));
        for (r, (clip, _)) in rows.iter().enumerate() {
            // [C, T, H, W] normalised with mean 0.5, sd 0.5: back to [0, 1], first channel.
            let frames = (clip.get(0) * 0.5 + 0.5).clamp(0.0, 1.0).to_kind(Kind::Float);
            for f in 0..t {
                let plane = Vec::<f32>::try_from(&frames.get(f).contiguous().view([-1]))?;
                for (p, v) in plane.iter().enumerate() {
                    let (y, x) = (p as i64 / w, p as i64 % w);
                    let top = b as i64 * (rows_per_block * cell_h + 6) + r as i64 * cell_h;
                    let g = (v * 255.0) as u8;
                    img.put_pixel((f * cell_w + x) as u32, (top + y) as u32, image::Rgb([g, g, g]));
                }
            }
        }
    }
    img.save(path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(caption.join(" "))
}
