//! Video pre-training against the no-learning baselines on a labelled video folder (the
//! generated motion benchmark by default): raw pixels, random 3-D encoders, and a method's
//! pre-trained encoders over seeds, scored by kNN, the linear probe and clip-to-clip
//! retrieval; the table goes to `docs/`.
use super::video_common::{clip_blocks_png, pretrain_and_score, scores_table, supervised_row, LabelledClips, RuntimeArgs, SizeArgs};
use anyhow::{bail, Context, Result};
use clap::Parser;
use ssl_vision::video::{VideoPretrainConfig, VideoScores};
use std::fmt::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser, Debug)]
pub struct Args {
    /// A split of the motion benchmark (or any folder with `train/` and `test/` video folders
    /// in the `<class>/<video>/<frames>` layout).
    #[arg(long, default_value = "datasets/generated/motion/plain")]
    pub data: PathBuf,
    #[arg(long, default_value_t = VideoPretrainConfig::default().method)]
    pub method: String,
    #[command(flatten)]
    pub size: SizeArgs,
    /// Seeds (pre-training runs and random encoders).
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    /// Seeds of the supervised reference (the backbone trained on the labels; 0: none).
    #[arg(long, default_value_t = 1)]
    pub supervised_seeds: u64,
    #[arg(long, default_value = "runs/video-baseline")]
    pub out: PathBuf,
    /// The report (default `docs/video-baseline-<split>.md`); its pictures (loss curves,
    /// retrieval examples) go to `img/` beside it.
    #[arg(long)]
    pub doc: Option<PathBuf>,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

pub fn run(a: Args) -> Result<()> {
    if a.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let device = a.runtime.setup()?;
    let cfg = a.size.config(&a.method)?;
    let clips = LabelledClips::open(&a.data, &cfg)?;
    let split = clips.split.clone();
    let t0 = Instant::now();
    let mut rows: Vec<(String, Vec<VideoScores>)> = vec![("raw pixels (centre clip, flattened)".into(), vec![clips.raw_scores()?])];
    let (mut random, mut trained) = (Vec::new(), Vec::new());
    let (mut curves, mut examples) = (Vec::new(), None);
    for seed in 0..a.seeds {
        let c = VideoPretrainConfig { seed, ..cfg.clone() };
        random.push(clips.random_scores(&c, device)?);
        let run = pretrain_and_score(&c, clips.train.clone(), &clips, &a.out.join(&split).join(format!("{}-s{seed}", c.method)), device)?;
        curves.push((format!("seed {seed}"), run.curve));
        if seed == 0 {
            examples = Some(run.features);
        }
        trained.push(run.scores);
    }
    rows.push((format!("random {} (width {})", cfg.backbone, cfg.width), random));
    rows.push((format!("{} pre-trained, {} steps", cfg.method, cfg.steps), trained));
    rows.extend(supervised_row(&cfg, &clips, a.supervised_seeds, &a.out.join(&split), device)?);

    let (train, test) = (&clips.train, &clips.test);
    let mut md = format!(
        "Data: {} (generated where it is the motion benchmark: see docs/video.md): {} training and {} test videos, {} classes. Clips of {} frames at stride {}, {} x {} px. Pre-training: {} on {} (width {}, small-input stem), {} steps of {} videos x 2 clips (AdamW, lr {}, queue {} where the method keeps one); {}. Evaluation on the centre clip of each video, frozen features: kNN (k 20, t 0.07), linear probe, clip-to-clip retrieval (test clips query the training clips; recall@k). Mean ± sd over {} seeds (raw pixels: one, deterministic; the supervised reference: {} seed(s)).\n\n\
         Command: `cargo run --release -p ssl-vision -- video-baseline --data {} --method {} {} --seeds {} --supervised-seeds {}`\n\n",
        a.data.display(), train.len(), test.len(), clips.classes(), cfg.frames, cfg.stride, cfg.size, cfg.size, cfg.method, cfg.backbone, cfg.width, cfg.steps, cfg.batch, cfg.lr, cfg.queue, SizeArgs::augmentation_note(&cfg), a.seeds, a.supervised_seeds,
        a.data.display(), cfg.method, a.size.flags(&cfg), a.seeds, a.supervised_seeds,
    );
    md += &scores_table(&rows);
    writeln!(
        md,
        "\nTotal time {:.0} s on {} ({} threads). Chance is {:.1}%.",
        t0.elapsed().as_secs_f64(),
        a.runtime.device,
        tch::get_num_threads(),
        100.0 / clips.classes() as f64
    )?;
    let doc = a.doc.clone().unwrap_or_else(|| PathBuf::from(format!("docs/video-baseline-{split}.md")));
    let img = doc.parent().unwrap_or(std::path::Path::new(".")).join("img");
    std::fs::create_dir_all(&img).with_context(|| format!("cannot create {}", img.display()))?;
    let curve_png = img.join(format!("video-baseline-{split}-loss.png"));
    ssl_core::plots::loss_curves(&curve_png, &format!("{} on {} clips ({split})", cfg.method, cfg.backbone), &curves)?;
    writeln!(md, "\n![pre-training loss per seed](img/{})", curve_png.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default())?;
    if let Some((ftr, fte)) = examples {
        let strip_png = img.join(format!("video-baseline-{split}-retrieval.png"));
        let caption = retrieval_strip(&strip_png, &clips.xtr, &clips.ytr, &ftr, &clips.xte, &clips.yte, &fte, &train.class_names)?;
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
pub fn retrieval_strip(
    path: &std::path::Path,
    xtr: &tch::Tensor,
    ytr: &tch::Tensor,
    ftr: &tch::Tensor,
    xte: &tch::Tensor,
    yte: &tch::Tensor,
    fte: &tch::Tensor,
    classes: &[String],
) -> Result<String> {
    let norm = |f: &tch::Tensor| f / f.norm_scalaropt_dim(2, [1].as_slice(), true).clamp_min(1e-12);
    let sim = norm(fte).matmul(&norm(ftr).transpose(0, 1));
    let (ytr, yte) = (Vec::<i64>::try_from(ytr)?, Vec::<i64>::try_from(yte)?);
    let mut queries = Vec::new();
    for (i, y) in yte.iter().enumerate() {
        if !queries.iter().any(|&(_, c)| c == *y) && queries.len() < 4 {
            queries.push((i, *y));
        }
    }
    let mut blocks = Vec::new();
    let mut caption = Vec::new();
    for (b, &(q, class)) in queries.iter().enumerate() {
        let (_, nn) = sim.get(q as i64).topk(3, 0, true, true);
        let nn = Vec::<i64>::try_from(&nn)?;
        caption.push(format!(
            "Block {}: query {}, neighbours {}.",
            b + 1,
            classes[class as usize],
            nn.iter().map(|&j| classes[ytr[j as usize] as usize].as_str()).collect::<Vec<_>>().join(", ")
        ));
        let mut rows = vec![xte.get(q as i64)];
        rows.extend(nn.iter().map(|&j| xtr.get(j)));
        blocks.push(rows);
    }
    clip_blocks_png(path, &blocks)?;
    Ok(caption.join(" "))
}
