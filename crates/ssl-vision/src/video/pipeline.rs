//! Video pre-training and evaluation on the shared run: any registered method on clip views
//! of a 3-D backbone, and frozen clip features scored by kNN, the linear probe and
//! clip-to-clip retrieval (recall@k), next to the no-learning baselines.
use super::clip::ClipSpec;
use super::flow::{train_flow, FrameFlow};
use super::frames::VideoFolder;
use super::loader::{ClipLoader, ClipPlan};
use super::ssvc::{SsvcConfig, StaticSuppression};
use super::view_transform::TransformedView;
use super::viewclr::{ViewClrConfig, ViewGenerator};
use crate::augment::{augment, AugmentConfig};
use anyhow::{bail, Context, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use ssl_core::blocks::{Backbone, BackboneConfig};
use ssl_core::eval::{extract_features, knn_accuracy, linear_probe, retrieval_recall, KnnConfig, LinearProbeConfig};
use ssl_core::method::Method;
use ssl_core::registry::MethodConfig;
use ssl_core::train::{OptimizerConfig, OptimizerKind, Resume, TrainConfig, TrainSummary, Trainer};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tch::{nn, Device, Tensor};

/// How a video encoder is pre-trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoPretrainConfig {
    /// A registered method (`moco-v2`, `simclr`, `byol`, ...).
    pub method: String,
    /// A registered 3-D backbone (`r3d-18`, `r2plus1d-18`).
    pub backbone: String,
    /// The backbone's first-stage width (64: torchvision's shapes).
    pub width: i64,
    /// Frames per clip.
    pub frames: usize,
    /// Frames between clip frames.
    pub stride: usize,
    /// Side of the square crops.
    pub size: usize,
    /// Clips per video (temporal views).
    pub views: usize,
    /// Videos per step.
    pub batch: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// Peak learning rate (AdamW, warm-up then cosine).
    pub lr: f64,
    /// Seed of the initialisation, the clips and their augmentations.
    pub seed: u64,
    /// Memory-bank size of methods that keep one (`moco-v2`); small data sets need a small one.
    pub queue: usize,
    /// The augmentation of each clip (its `size` is replaced by [`VideoPretrainConfig::size`]);
    /// [`VideoPretrainConfig::clip_augmentation`] by default.
    pub clip_augment: AugmentConfig,
    /// Options of the method (`[model.options]`, e.g. `temperature`), over its defaults.
    #[serde(default)]
    pub method_options: BTreeMap<String, serde_json::Value>,
    /// SSVC: the second clip of each pair goes through static cue suppression.
    #[serde(default)]
    pub ssvc: Option<SsvcConfig>,
    /// ViewCLR: the first clip of each pair is re-rendered by the learnable view generator.
    #[serde(default)]
    pub viewclr: Option<ViewClrConfig>,
}

impl Default for VideoPretrainConfig {
    /// CPU-sized: MoCo v2 on R3D-18 of width 16 (small-input stem), 8 frames at stride 2 of
    /// 32 x 32, two clips per video, 16 videos per step, 300 steps at 1e-3, a queue of 1024.
    fn default() -> Self {
        Self {
            method: "moco-v2".into(),
            backbone: "r3d-18".into(),
            width: 16,
            frames: 8,
            stride: 2,
            size: 32,
            views: 2,
            batch: 16,
            steps: 300,
            lr: 1e-3,
            seed: 0,
            queue: 1024,
            clip_augment: Self::clip_augmentation(),
            method_options: BTreeMap::new(),
            ssvc: None,
            viewclr: None,
        }
    }
}

impl VideoPretrainConfig {
    /// The default augmentation of a clip: SimCLR's colour jitter and grey-scale, crops of
    /// 50-100% of the frame, and no flips. Motion direction is mirror-sensitive (left and
    /// right, clockwise and anticlockwise): with flips the two clips of a video may be
    /// mirror images, and the encoder is taught to ignore direction. On the generated
    /// benchmark's plain split the supervised R3D-18 (300 steps) stays at chance with SimCLR's
    /// flips and crops of 20-100% (kNN 10.9%), and reaches 47.7% without flips and 57.0% with
    /// crops of 50-100% as well.
    pub fn clip_augmentation() -> AugmentConfig {
        AugmentConfig { crop_scale: (0.5, 1.0), flip_p: 0.0, ..AugmentConfig::default() }
    }

    /// GPU-sized: MoCo v2 on R3D-18 at torchvision's width 64, 16 frames at stride 2 of
    /// 64 x 64, 64 videos per step, 5000 steps, a queue of 4096.
    pub fn gpu() -> Self {
        Self { width: 64, frames: 16, size: 64, batch: 64, steps: 5000, queue: 4096, ..Self::default() }
    }

    /// Which frames make a clip.
    pub fn clip(&self) -> ClipSpec {
        ClipSpec { frames: self.frames, stride: self.stride }
    }

    /// The training augmentation of a clip, at the clips' size.
    pub fn augment(&self) -> AugmentConfig {
        AugmentConfig { size: self.size, ..self.clip_augment.clone() }
    }

    /// The method's configuration: the 3-D backbone, heads of 128, the queue where it applies.
    pub fn method_config(&self, channels: usize) -> MethodConfig {
        let backbone = BackboneConfig::new(self.backbone.clone(), channels as i64).with_shape(self.width, 4).with_small_image_stem(true);
        let mut m = MethodConfig::default().with_backbone(backbone).with_heads(256, 128, 256);
        if self.method == "moco-v2" {
            m = m.with_option("queue_size", self.queue);
        }
        for (k, v) in &self.method_options {
            m = m.with_option(k, v);
        }
        m
    }

    /// The method with freshly initialised weights (seeded), wrapped in ViewCLR's view
    /// generator when that is on (its variables under `view_generator`, after the method's,
    /// so the method starts from the same weights either way). SSVC's flow is fitted by
    /// [`pretrain_video`].
    pub fn build(&self, channels: usize, device: Device) -> Result<(nn::VarStore, Box<dyn Method>)> {
        tch::manual_seed(self.seed as i64);
        let vs = nn::VarStore::new(device);
        let mut method = crate::registry().build_method(&self.method, &vs, &self.method_config(channels))?;
        if let Some(v) = &self.viewclr {
            let generator = ViewGenerator::new(&(vs.root() / "view_generator"), channels as i64, v)?;
            method = Box::new(TransformedView::new(method, Box::new(generator), v.view));
        }
        Ok((vs, method))
    }

    /// A name for the run: the method, with `+ssvc` / `+viewclr` when those are on.
    pub fn label(&self) -> String {
        let mut l = self.method.clone();
        if self.ssvc.is_some() {
            l += "+ssvc";
        }
        if self.viewclr.is_some() {
            l += "+viewclr";
        }
        l
    }

    /// The run's schedule (AdamW, a tenth of the steps warm-up then cosine, one checkpoint at
    /// the end, the loss logged ten times), shared by pre-training and the supervised reference.
    pub fn train_config(&self) -> TrainConfig {
        let mut train = TrainConfig::default()
            .with_schedule(self.steps, self.batch, self.lr, (self.steps / 10).max(1))
            .with_seed(self.seed)
            .with_optimizer(OptimizerConfig::new(OptimizerKind::Adamw))
            .with_checkpoint_every(self.steps.max(1));
        train.progress = false;
        train.log_every = (self.steps / 10).max(1);
        train
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        self.clip().validate()?;
        if self.views < 2 || self.batch < 2 || self.steps == 0 || !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("video pre-training needs at least 2 views, a batch of 2 or more, steps and a positive learning rate");
        }
        if let Some(s) = &self.ssvc {
            s.flow.flow.validate()?;
            if s.view >= self.views {
                bail!("SSVC suppresses view {} but there are {} views", s.view, self.views);
            }
        }
        if let Some(v) = &self.viewclr {
            if v.view >= self.views {
                bail!("ViewCLR re-renders view {} but there are {} views", v.view, self.views);
            }
        }
        self.augment().validate()
    }
}

/// Pre-trains on the videos of `set` (labels unused) in the run folder `out`.
pub fn pretrain_video(
    cfg: &VideoPretrainConfig,
    set: Arc<VideoFolder>,
    out: &Path,
    device: Device,
    resume: Resume,
) -> Result<(nn::VarStore, Box<dyn Method>, TrainSummary)> {
    cfg.validate()?;
    let (vs, mut method) = cfg.build(set.channels, device)?;
    if let Some(s) = &cfg.ssvc {
        let flow = fitted_flow(s, &set, cfg, out, device)?;
        method = Box::new(TransformedView::new(method, Box::new(StaticSuppression::new(flow, s.alpha)), s.view));
    }
    let plan = ClipPlan { clip: cfg.clip(), augment: cfg.augment(), views: cfg.views };
    let fingerprint = set.fingerprint();
    let mut loader = ClipLoader::new(set, plan, cfg.batch, cfg.seed)?;
    let summary = Trainer::for_run(cfg.train_config(), out.to_path_buf(), cfg, device)?.with_data_fingerprint(fingerprint).fit(
        &vs,
        method.as_mut(),
        &mut loader,
        resume,
    )?;
    Ok((vs, method, summary))
}

/// The supervised reference: `cfg`'s backbone with a linear head trained with cross entropy
/// on the labelled videos of `set` (one clip per video, the same augmentation, steps, batch
/// and learning rate as pre-training), in the run folder `out`. Its encoder, frozen and
/// scored like a pre-trained one, is the upper reference of a table.
pub fn train_supervised(cfg: &VideoPretrainConfig, set: Arc<VideoFolder>, out: &Path, device: Device) -> Result<(nn::VarStore, ssl_core::train::Classifier)> {
    cfg.validate()?;
    if set.class_names.len() < 2 {
        bail!("{}: the supervised reference needs labelled videos of at least 2 classes", set.root.display());
    }
    tch::manual_seed(cfg.seed as i64);
    let vs = nn::VarStore::new(device);
    let backbone = cfg.method_config(set.channels).backbone;
    let mut model = ssl_core::train::Classifier::new(&vs, &crate::registry(), &backbone, set.class_names.len() as i64)?;
    let plan = ClipPlan { clip: cfg.clip(), augment: cfg.augment(), views: 1 };
    let fingerprint = set.fingerprint();
    let mut loader = ClipLoader::new(set, plan, cfg.batch, cfg.seed)?;
    Trainer::for_run(cfg.train_config(), out.to_path_buf(), cfg, device)?.with_data_fingerprint(fingerprint).fine_tune(
        &vs,
        &mut ssl_core::train::FineTune::new(&mut model, &mut loader),
        Resume::No,
    )?;
    Ok((vs, model))
}

/// The configuration a video run was trained with (from its newest checkpoint).
pub fn video_run_config(run: &Path) -> Result<VideoPretrainConfig> {
    let ck = ssl_core::train::CheckpointDir::new(run.join("checkpoints"), 1)
        .latest()?
        .with_context(|| format!("{}: no checkpoint found (is this a video pre-training folder?)", run.display()))?;
    let cfg: VideoPretrainConfig = serde_json::from_value(ck.meta.config.clone())
        .with_context(|| format!("{}: the checkpoint's config is not a video pre-training config", ck.dir.display()))?;
    cfg.validate().with_context(|| format!("{}: the checkpoint's config is not valid", ck.dir.display()))?;
    Ok(cfg)
}

/// SSVC's flow for a run in `out`: read from `out/flow.safetensors` when an earlier start of
/// the run fitted it, else fitted on the training frames and saved there with its NLL curve.
pub fn fitted_flow(s: &SsvcConfig, set: &VideoFolder, cfg: &VideoPretrainConfig, out: &Path, device: Device) -> Result<FrameFlow> {
    let path = out.join("flow.safetensors");
    if path.exists() {
        let mut vs = nn::VarStore::new(device);
        let flow = FrameFlow::new(&(vs.root() / "flow"), set.channels as i64, &s.flow.flow)?;
        vs.load(&path).with_context(|| format!("{}: not the flow of this run", path.display()))?;
        return Ok(flow);
    }
    let fitted = train_flow(set, &s.flow, &cfg.augment(), cfg.seed, device)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    fitted.vs.save(&path).with_context(|| format!("cannot write {}", path.display()))?;
    let curve = serde_json::to_string(&fitted.losses)?;
    std::fs::write(out.join("flow-nll.json"), curve).with_context(|| format!("cannot write {}", out.join("flow-nll.json").display()))?;
    Ok(fitted.flow)
}

/// The evaluation input of every video: its centre clip (the frames around the middle), each
/// frame whole, resized to `size` and normalised as in training; and the labels.
pub fn centre_clips(set: &VideoFolder, clip: ClipSpec, size: usize) -> Result<(Tensor, Tensor)> {
    clip.validate()?;
    let plain = AugmentConfig {
        size,
        crop_scale: (1.0, 1.0),
        crop_ratio: (1.0, 1.0),
        flip_p: 0.0,
        jitter_p: 0.0,
        grayscale_p: 0.0,
        blur_p: 0.0,
        ..AugmentConfig::default()
    };
    let mut clips = Vec::with_capacity(set.len());
    let mut labels = Vec::with_capacity(set.len());
    for (v, video) in set.videos.iter().enumerate() {
        if video.length < clip.span() {
            bail!("{}: {} frames, a clip needs {}", video.dir.display(), video.length, clip.span());
        }
        let Some(label) = video.label else { bail!("{}: evaluation needs labelled videos (<class>/<video>/<frames>)", set.root.display()) };
        let start = (video.length - clip.span()) / 2;
        let mut frames = Vec::with_capacity(clip.frames);
        for k in 0..clip.frames {
            let img = augment(&set.frame(v, start + k * clip.stride)?, &plain, &mut ChaCha8Rng::seed_from_u64(0));
            frames.push(Tensor::from_slice(&img.data).view([img.channels as i64, size as i64, size as i64]));
        }
        // [C, T, H, W]
        clips.push(Tensor::stack(&frames, 1));
        labels.push(label);
    }
    Ok((Tensor::stack(&clips, 0), Tensor::from_slice(&labels)))
}

/// Scores of frozen clip features.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoScores {
    /// Weighted kNN (k 20, temperature 0.07), top-1 accuracy.
    pub knn: f64,
    /// Linear probe test accuracy.
    pub linear: f64,
    /// Clip-to-clip retrieval, recall@1, @5, @10.
    pub recall: [f64; 3],
}

/// Scores train / test features: kNN, linear probe, retrieval.
pub fn score_features(ftr: &Tensor, ytr: &Tensor, fte: &Tensor, yte: &Tensor, probe_seed: u64) -> Result<VideoScores> {
    let knn = knn_accuracy(ftr, ytr, fte, yte, KnnConfig::new(20, 0.07))?;
    let mut probe_cfg = LinearProbeConfig::default();
    probe_cfg.seed = probe_seed;
    let probe = linear_probe(ftr, ytr, fte, yte, &probe_cfg)?;
    let r = retrieval_recall(ftr, ytr, fte, yte, &[1, 5, 10])?;
    Ok(VideoScores { knn, linear: probe.test_accuracy, recall: [r[0], r[1], r[2]] })
}

/// Features of `clips` by a frozen backbone (evaluation mode, 32 clips at a time).
pub fn clip_features(backbone: &dyn Backbone, clips: &Tensor, device: Device) -> Tensor {
    extract_features(backbone, clips, 32, device)
}
