//! What the video commands share: the run's size (a preset with per-flag overrides), the
//! labelled train / test clips, one scored pre-training run, and the table of scores.
use anyhow::{bail, Result};
use ssl_core::eval::mean_std;
use ssl_core::train::{MetricsLog, Resume};
use ssl_vision::video::{centre_clips, clip_features, pretrain_video, score_features, VideoFolder, VideoPretrainConfig, VideoScores};
use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;
use tch::{Device, Tensor};

/// Where a video command computes: `--device` and `--threads`.
#[derive(clap::Args, Debug, Clone)]
pub struct RuntimeArgs {
    /// cpu, cuda, cuda:N, or auto (CUDA when present).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Threads (0: all free cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

impl RuntimeArgs {
    /// Sets libtorch's threads and parses the device.
    pub fn setup(&self) -> Result<Device> {
        ssl_core::device::setup_runtime(&self.device, self.threads)
    }
}

/// How large the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// Well under 30 minutes on 2 CPU cores.
    Cpu,
    /// The larger configuration for a GPU.
    Gpu,
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::Cpu => "cpu",
            Preset::Gpu => "gpu",
        }
    }
}

/// The size of a video run: a preset, and flags that override it.
#[derive(clap::Args, Debug, Clone)]
pub struct SizeArgs {
    /// CPU-sized defaults, or the larger configuration for a GPU (`VideoPretrainConfig::gpu`);
    /// flags given explicitly override either.
    #[arg(long, value_enum, default_value_t = Preset::Cpu)]
    pub preset: Preset,
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
    /// Smallest crop of a clip, as a share of the frame's area (the preset's augmentation).
    #[arg(long)]
    pub crop_min: Option<f64>,
    /// Probability of flipping a clip left to right (the preset's augmentation).
    #[arg(long)]
    pub flip_p: Option<f64>,
}

impl SizeArgs {
    /// The configuration of `method` at this size.
    pub fn config(&self, method: &str) -> Result<VideoPretrainConfig> {
        let preset = match self.preset {
            Preset::Cpu => VideoPretrainConfig::default(),
            Preset::Gpu => VideoPretrainConfig::gpu(),
        };
        let mut cfg = VideoPretrainConfig {
            method: method.to_string(),
            backbone: self.backbone.clone(),
            width: self.width.unwrap_or(preset.width),
            frames: self.frames.unwrap_or(preset.frames),
            stride: self.stride.unwrap_or(preset.stride),
            size: self.size.unwrap_or(preset.size),
            batch: self.batch.unwrap_or(preset.batch),
            steps: self.steps.unwrap_or(preset.steps),
            lr: self.lr.unwrap_or(preset.lr),
            ..preset
        };
        if let Some(c) = self.crop_min {
            cfg.clip_augment.crop_scale.0 = c;
        }
        if let Some(p) = self.flip_p {
            cfg.clip_augment.flip_p = p;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// How each clip of `cfg` is augmented, for the reports.
    pub fn augmentation_note(cfg: &VideoPretrainConfig) -> String {
        format!(
            "each clip augmented as one: crops of {}-100% of the frame, flips with p {}, SimCLR's colour jitter and grey-scale",
            100.0 * cfg.clip_augment.crop_scale.0,
            cfg.clip_augment.flip_p
        )
    }

    /// The flags that reproduce `cfg` from this preset.
    pub fn flags(&self, cfg: &VideoPretrainConfig) -> String {
        format!(
            "--preset {} --backbone {} --width {} --frames {} --stride {} --size {} --batch {} --steps {} --lr {} --crop-min {} --flip-p {}",
            self.preset.name(),
            cfg.backbone,
            cfg.width,
            cfg.frames,
            cfg.stride,
            cfg.size,
            cfg.batch,
            cfg.steps,
            cfg.lr,
            cfg.clip_augment.crop_scale.0,
            cfg.clip_augment.flip_p
        )
    }
}

/// A labelled split (`train/` and `test/` in the `<class>/<video>/<frames>` layout) with the
/// centre clips that evaluation scores.
pub struct LabelledClips {
    pub train: Arc<VideoFolder>,
    pub test: VideoFolder,
    pub xtr: Tensor,
    pub ytr: Tensor,
    pub xte: Tensor,
    pub yte: Tensor,
    /// The split's folder name (for file names).
    pub split: String,
}

impl LabelledClips {
    /// Opens `data` and cuts the centre clips at `cfg`'s clip length and size.
    pub fn open(data: &Path, cfg: &VideoPretrainConfig) -> Result<Self> {
        let train = Arc::new(VideoFolder::open(&data.join("train"), false)?);
        let test = VideoFolder::open(&data.join("test"), false)?;
        if train.len() < 10 {
            bail!("{}: {} training videos; retrieval recall@10 needs at least 10", data.join("train").display(), train.len());
        }
        if train.class_names != test.class_names {
            bail!("{}: train and test hold different classes ({:?} vs {:?})", data.display(), train.class_names, test.class_names);
        }
        let (xtr, ytr) = centre_clips(&train, cfg.clip(), cfg.size)?;
        let (xte, yte) = centre_clips(&test, cfg.clip(), cfg.size)?;
        let split = data.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "data".into());
        Ok(Self { train, test, xtr, ytr, xte, yte, split })
    }

    /// Scores of raw pixels (the flattened centre clips).
    pub fn raw_scores(&self) -> Result<VideoScores> {
        score_features(&self.xtr.flatten(1, -1), &self.ytr, &self.xte.flatten(1, -1), &self.yte, 0)
    }

    /// Scores of `cfg`'s encoder at its random start.
    pub fn random_scores(&self, cfg: &VideoPretrainConfig, device: Device) -> Result<VideoScores> {
        let (_, method) = cfg.build(self.train.channels, device)?;
        self.score(method.backbone(), cfg.seed, device).map(|(s, _)| s)
    }

    /// Scores of a backbone's frozen features, and the features (train, test).
    pub fn score(&self, backbone: &dyn ssl_core::blocks::Backbone, probe_seed: u64, device: Device) -> Result<(VideoScores, (Tensor, Tensor))> {
        let (ftr, fte) = (clip_features(backbone, &self.xtr, device), clip_features(backbone, &self.xte, device));
        Ok((score_features(&ftr, &self.ytr, &fte, &self.yte, probe_seed)?, (ftr, fte)))
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.train.class_names.len()
    }
}

/// The supervised reference over `seeds` seeds: `cfg`'s backbone trained on the labels of
/// the training videos (the same steps, batch, augmentation), then frozen and scored.
pub fn supervised_row(cfg: &VideoPretrainConfig, clips: &LabelledClips, seeds: u64, out: &Path, device: Device) -> Result<Option<(String, Vec<VideoScores>)>> {
    if seeds == 0 {
        return Ok(None);
    }
    let mut scores = Vec::new();
    for seed in 0..seeds {
        let c = VideoPretrainConfig { seed, ..cfg.clone() };
        let dir = out.join(format!("supervised-s{seed}"));
        let _ = std::fs::remove_dir_all(&dir);
        let (_, model) = ssl_vision::video::pipeline::train_supervised(&c, clips.train.clone(), &dir, device)?;
        let (s, _) = clips.score(model.encoder.as_ref(), seed, device)?;
        eprintln!("supervised seed {seed}: kNN {:.1}%, linear {:.1}%, R@1 {:.1}%", 100.0 * s.knn, 100.0 * s.linear, 100.0 * s.recall[0]);
        scores.push(s);
    }
    Ok(Some((format!("supervised {} on the labels (upper reference), {} steps", cfg.backbone, cfg.steps), scores)))
}

/// One finished pre-training run: its scores, loss curve and features.
pub struct ScoredRun {
    pub scores: VideoScores,
    pub curve: Vec<(usize, f64)>,
    pub features: (Tensor, Tensor),
}

/// Pre-trains `cfg` from scratch on `train` in `dir` and scores it on `clips`.
pub fn pretrain_and_score(cfg: &VideoPretrainConfig, train: Arc<VideoFolder>, clips: &LabelledClips, dir: &Path, device: Device) -> Result<ScoredRun> {
    let _ = std::fs::remove_dir_all(dir);
    let started = std::time::Instant::now();
    let (_, method, summary) = pretrain_video(cfg, train, dir, device, Resume::No)?;
    let (scores, features) = clips.score(method.backbone(), cfg.seed, device)?;
    eprintln!(
        "{} seed {}: loss {:.3} -> {:.3}, kNN {:.1}%, linear {:.1}%, R@1 {:.1}% [{:.0} s]",
        cfg.label(),
        cfg.seed,
        summary.first_loss.unwrap_or(f64::NAN),
        summary.final_loss,
        100.0 * scores.knn,
        100.0 * scores.linear,
        100.0 * scores.recall[0],
        started.elapsed().as_secs_f64()
    );
    Ok(ScoredRun { scores, curve: MetricsLog::read_losses(&dir.join("metrics.jsonl"))?, features })
}

/// `mean ± sd` in percent.
pub fn cell(v: &[f64]) -> String {
    let (m, sd) = mean_std(v);
    format!("{:.1} ± {:.1}", 100.0 * m, 100.0 * sd)
}

/// The table's header and one row per encoder (kNN, linear, R@1/5/10, mean ± sd over its runs).
pub fn scores_table(rows: &[(String, Vec<VideoScores>)]) -> String {
    let mut md = String::from("| encoder | kNN % | linear % | R@1 % | R@5 % | R@10 % |\n|---|---|---|---|---|---|\n");
    for (name, scores) in rows {
        let col = |f: &dyn Fn(&VideoScores) -> f64| cell(&scores.iter().map(f).collect::<Vec<_>>());
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} |",
            col(&|s| s.knn),
            col(&|s| s.linear),
            col(&|s| s.recall[0]),
            col(&|s| s.recall[1]),
            col(&|s| s.recall[2])
        );
    }
    md
}

/// Draws blocks of clips as frame strips (one row per clip `[C, T, H, W]` normalised with
/// mean 0.5 and sd 0.5, frames left to right, first channel in grey, blocks 6 px apart).
pub fn clip_blocks_png(path: &Path, blocks: &[Vec<Tensor>]) -> Result<()> {
    use anyhow::Context;
    let Some(first) = blocks.iter().flatten().next() else { bail!("no clips to draw") };
    let s = first.size();
    let (t, h, w) = (s[1], s[2], s[3]);
    let (cell_w, cell_h) = (w + 2, h + 2);
    let rows = blocks.iter().map(|b| b.len()).max().unwrap_or(0) as i64;
    let mut img = image::RgbImage::new((t * cell_w) as u32, (blocks.len() as i64 * (rows * cell_h + 6)) as u32);
    for (b, block) in blocks.iter().enumerate() {
        for (r, clip) in block.iter().enumerate() {
            let frames = (clip.get(0) * 0.5 + 0.5).clamp(0.0, 1.0).to_kind(tch::Kind::Float).to_device(Device::Cpu);
            for f in 0..t {
                let plane = Vec::<f32>::try_from(&frames.get(f).contiguous().view([-1]))?;
                for (p, v) in plane.iter().enumerate() {
                    let (y, x) = (p as i64 / w, p as i64 % w);
                    let top = b as i64 * (rows * cell_h + 6) + r as i64 * cell_h;
                    let g = (v * 255.0) as u8;
                    img.put_pixel((f * cell_w + x) as u32, (top + y) as u32, image::Rgb([g, g, g]));
                }
            }
        }
    }
    img.save(path).with_context(|| format!("cannot write {}", path.display()))
}
