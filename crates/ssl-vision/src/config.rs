//! Typed configuration of the `pretrain` and `eval` commands: a TOML file and/or flags,
//! flags winning. Unknown keys are errors, so a typo never silently does nothing.
use crate::augment::AugmentConfig;
use serde::{Deserialize, Serialize};
use ssl_core::blocks::BackboneConfig;
use ssl_core::eval::{KnnConfig, LinearProbeConfig};
use ssl_core::train::{OptimizerConfig, OptimizerKind, TrainConfig};
use ssl_core::MethodConfig;
use std::path::PathBuf;

/// Everything a pre-training run needs; saved with every checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct PretrainConfig {
    /// Registered name of the method to pre-train (default `simclr`).
    pub method: String,
    /// Images: an IDX file, a Fashion-MNIST folder, or an ImageFolder.
    pub data: Option<PathBuf>,
    /// Use only this many images (a fixed random subset, kept in order).
    pub limit: Option<usize>,
    /// Decode the images of a folder as batches need them instead of all at the start:
    /// for data larger than memory (only headers are read up front).
    pub stream: bool,
    /// Leave out images that cannot be read (reported); while streaming, an image that
    /// fails to decode is replaced by the next one that does (reported at the end).
    pub skip_bad: bool,
    /// Run folder the checkpoints and the config are written to (default `runs/pretrain`).
    pub out: PathBuf,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// libtorch intra-op threads, at most 1024 (0: the cores free at start; see `ssl_core::device::free_cores`).
    pub threads: usize,
    /// Global views per image.
    pub views: usize,
    /// Convolution weights and image batches in NHWC strides (PyTorch's channels-last,
    /// oneDNN's preferred layout on CPU): about 1.2x faster training steps on CPU
    /// (docs/benchmarks.md). The values are the same; floating-point sums differ in order.
    pub channels_last: bool,
    /// Local views (multi-crop) beside the global ones.
    pub multi_crop: MultiCropConfig,
    /// The method's options and backbone (default: a `small-convnet` of width 32 and 4 stages, 1 channel).
    pub model: MethodConfig,
    /// Optimiser and schedule (default 2000 steps of 128, AdamW at lr 5e-3, weight decay 1e-5).
    pub train: TrainConfig,
    /// Augmentation of the global views (default crops of 40-100% of the image).
    pub augment: AugmentConfig,
}

/// Multi-crop (SwAV, DINO): `local_views` small crops of `local_size` px, cut from
/// `local_crop_scale` of the image, after the global views; the other augmentations are
/// those of `[augment]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct MultiCropConfig {
    /// Local views per image; absent: the method's own default (SwAV 6, others 0).
    pub local_views: Option<usize>,
    /// Side of the local crops; 0 takes 3/7 of the global side (SwAV's 96 px of 224).
    pub local_size: usize,
    /// Range of the local crops' area as a fraction of the image (default `(0.05, 0.4)`).
    pub local_crop_scale: (f64, f64),
    /// For robustness experiments: the share of local views cut from another image of
    /// the batch instead of their own (outlier views), in `[0, 1]`.
    pub outlier_fraction: f64,
}

impl Default for MultiCropConfig {
    fn default() -> Self {
        Self { local_views: None, local_size: 0, local_crop_scale: (0.05, 0.4), outlier_fraction: 0.0 }
    }
}

impl MultiCropConfig {
    /// The side of the local crops for global views of `global_side` px.
    pub fn local_size_for(&self, global_side: usize) -> usize {
        if self.local_size == 0 {
            (global_side * 3).div_ceil(7).max(1)
        } else {
            self.local_size
        }
    }

    /// The augmentation of a local view, given the global one and the global side.
    pub fn local_augment(&self, global: &AugmentConfig, global_side: usize) -> AugmentConfig {
        AugmentConfig { size: self.local_size_for(global_side), crop_scale: self.local_crop_scale, ..global.clone() }
    }
}

impl Default for PretrainConfig {
    fn default() -> Self {
        Self {
            method: "simclr".into(),
            data: None,
            limit: None,
            stream: false,
            skip_bad: false,
            out: PathBuf::from("runs/pretrain"),
            device: "auto".into(),
            threads: 0,
            views: 2,
            channels_last: true,
            multi_crop: MultiCropConfig::default(),
            // Four stages: the last (3x3 on 28 px inputs) sees the whole garment.
            model: MethodConfig::default().with_backbone(BackboneConfig::new("small-convnet", 1).with_shape(32, 4)),
            // 2000 steps of 128 (4.3 epochs of Fashion-MNIST): at the same number of epochs,
            // batches of 128 beat 256 by 0.9 kNN points (docs/fashion-mnist.md).
            train: TrainConfig::default()
                .with_schedule(2000, 128, 5e-3, 50)
                .with_optimizer(OptimizerConfig::new(OptimizerKind::Adamw).with_weight_decay(1e-5))
                .with_checkpoint_every(250),
            // Crops of 60-100% of a 28 px image keep the garment's outline, and solarizing
            // one view in five teaches what jitter alone does not: over 3 seeds at 2000
            // steps, +1.8 kNN and +0.8 linear points over crops of 40-100% without
            // solarize (docs/fashion-mnist.md).
            augment: AugmentConfig { crop_scale: (0.6, 1.0), solarize_p: 0.2, ..AugmentConfig::default() },
        }
    }
}

impl PretrainConfig {
    /// The same run with the registered method `method`.
    pub fn with_method(self, method: impl Into<String>) -> Self {
        Self { method: method.into(), ..self }
    }

    /// The same run reading its images from `data`.
    pub fn with_data(self, data: impl Into<PathBuf>) -> Self {
        Self { data: Some(data.into()), ..self }
    }

    /// The same run writing into the run folder `out`.
    pub fn with_out(self, out: impl Into<PathBuf>) -> Self {
        Self { out: out.into(), ..self }
    }

    /// The same run with the training settings `train`.
    pub fn with_train(self, train: TrainConfig) -> Self {
        Self { train, ..self }
    }

    /// Local views of this run: `multi_crop.local_views`, or the method's default.
    pub fn local_views(&self) -> usize {
        self.multi_crop.local_views.unwrap_or_else(|| crate::registry().method(&self.method).map(|m| m.default_local_views).unwrap_or(0))
    }

    /// Checks every setting against its valid range (also for configs read back from
    /// checkpoints), naming the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(2..=64).contains(&self.views) {
            anyhow::bail!("views must be between 2 and 64, got {}", self.views);
        }
        if self.limit == Some(0) {
            anyhow::bail!("limit must be at least 1 (or absent for all images)");
        }
        if self.threads > 1024 {
            anyhow::bail!("threads must be at most 1024, got {}", self.threads);
        }
        if self.model.backbone.width < 1 || self.model.backbone.width > 4096 {
            anyhow::bail!("model.backbone.width must be between 1 and 4096, got {}", self.model.backbone.width);
        }
        if self.local_views() > 64 {
            anyhow::bail!("multi_crop.local_views must be at most 64, got {}", self.local_views());
        }
        let p = self.multi_crop.outlier_fraction;
        if !(0.0..=1.0).contains(&p) {
            anyhow::bail!("multi_crop.outlier_fraction must be in [0, 1], got {p}");
        }
        if p > 0.0 && self.local_views() == 0 {
            anyhow::bail!("multi_crop.outlier_fraction replaces local views, but this run has none (set multi_crop.local_views)");
        }
        let (lo, hi) = self.multi_crop.local_crop_scale;
        if !(lo > 0.0 && lo <= hi && hi <= 1.0) {
            anyhow::bail!("multi_crop.local_crop_scale must satisfy 0 < min <= max <= 1, got {:?}", self.multi_crop.local_crop_scale);
        }
        if self.multi_crop.local_size > 4096 {
            anyhow::bail!("multi_crop.local_size must be at most 4096 px, got {}", self.multi_crop.local_size);
        }
        // The method and backbone are registered, and the method's options are its own.
        crate::registry().check(&self.method, &self.model)?;
        self.augment.validate()?;
        self.train.validate()
    }
}

/// Settings of the frozen-feature evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct EvalConfig {
    /// The weighted k-nearest-neighbour classifier.
    pub knn: KnnConfig,
    /// The linear probe trained on frozen features.
    pub linear: LinearProbeConfig,
    /// Images per forward pass when extracting features.
    pub batch: i64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self { knn: KnnConfig::default(), linear: LinearProbeConfig::default(), batch: 512 }
    }
}

pub use ssl_core::config::read_toml;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_unknown_keys() {
        let cfg = PretrainConfig::default();
        let text = toml::to_string(&cfg).unwrap();
        let back: PretrainConfig = toml::from_str(&text).unwrap();
        assert_eq!(cfg, back);
        let err = toml::from_str::<PretrainConfig>("[train]\nstepz = 3\n").unwrap_err().to_string();
        assert!(err.contains("stepz"), "{err}");
        let dir = std::env::temp_dir().join(format!("ssl-vision-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("partial.toml");
        std::fs::write(&path, "method = \"byol\"\n[train]\nsteps = 7\n[train.optimizer]\nweight_decay = 0.5\n").unwrap();
        let partial: PretrainConfig = read_toml(&path).unwrap();
        let d = PretrainConfig::default();
        assert_eq!((partial.method.as_str(), partial.train.steps, partial.train.batch_size), ("byol", 7, 128));
        // Siblings of the keys given keep the command's defaults, not the library's.
        assert_eq!((partial.train.lr, partial.train.optimizer.kind), (d.train.lr, d.train.optimizer.kind));
        assert_eq!(partial.train.optimizer.weight_decay, 0.5);
        std::fs::write(&path, "[train.optimizer]\nkind = \"sgd\"\nmomentun = 0.5\n").unwrap();
        let err = read_toml::<PretrainConfig>(&path).unwrap_err().to_string();
        assert!(err.contains("momentun") && err.contains("partial.toml"), "{err}");
        // A method's options live in [model.options] and are checked against the method.
        std::fs::write(&path, "method = \"moco-v2\"\n[model.options]\nqueue_size = 64\n").unwrap();
        let moco: PretrainConfig = read_toml(&path).unwrap();
        moco.validate().unwrap();
        let simclr = PretrainConfig { method: "simclr".into(), ..moco };
        let err = simclr.validate().unwrap_err().to_string();
        assert!(err.contains("queue_size") && err.contains("simclr"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
