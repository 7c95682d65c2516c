//! The backbone contract and its configuration. Backbones are built by name through a
//! [`crate::registry::BackboneRegistry`], which other crates extend with their own nets.
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

/// An encoder from an input batch to a feature vector per sample, and optionally to
/// feature maps at several scales (for decoders such as a U-Net's).
pub trait Backbone: std::fmt::Debug + Send {
    /// Features `[N, out_dim]`; `train` selects batch statistics in normalisation layers.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor;

    /// Width of the feature vector.
    fn out_dim(&self) -> i64;

    /// Feature maps from the finest scale to the coarsest, `[N, C_s, ...]` each.
    fn feature_maps(&self, _xs: &Tensor, _train: bool) -> Result<Vec<Tensor>> {
        bail!("this backbone gives pooled features only, no feature maps")
    }

    /// Channels of each map returned by [`Backbone::feature_maps`].
    fn feature_channels(&self) -> Vec<i64> {
        Vec::new()
    }
}

/// Backbone configuration, part of every method's configuration. `kind` names a
/// registered backbone (`ssl-vision methods` lists them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct BackboneConfig {
    /// Name of the registered backbone to build (default `small-convnet`).
    pub kind: String,
    /// Channels of the input (1 for grayscale, 3 for RGB).
    pub in_channels: i64,
    /// ResNet only: a 3x3 stride-1 first convolution and no max-pool, for 32 px images.
    pub small_image_stem: bool,
    /// Width of the first stage (the small ConvNet's; other nets may read it).
    pub width: i64,
    /// Stages of the small ConvNet (widths w, 2w, 4w, ...; other nets may read it).
    pub stages: i64,
}

impl Default for BackboneConfig {
    fn default() -> Self {
        Self { kind: "small-convnet".into(), in_channels: 3, small_image_stem: true, width: 32, stages: 3 }
    }
}

impl BackboneConfig {
    /// The registered backbone `kind` for inputs of `in_channels` channels, the other
    /// settings at their defaults.
    pub fn new(kind: impl Into<String>, in_channels: i64) -> Self {
        Self { kind: kind.into(), in_channels, ..Self::default() }
    }

    /// The same with first-stage width `width` and `stages` stages.
    pub fn with_shape(self, width: i64, stages: i64) -> Self {
        Self { width, stages, ..self }
    }

    /// The same with or without the small-image stem.
    pub fn with_small_image_stem(self, small_image_stem: bool) -> Self {
        Self { small_image_stem, ..self }
    }

    /// Checks `in_channels` and `width` (1 to 4096) and `stages` (1 to 6, last width at most 65536).
    pub fn validate(&self) -> Result<()> {
        if !(1..=4096).contains(&self.in_channels) || !(1..=4096).contains(&self.width) {
            bail!("backbone: in_channels and width must be between 1 and 4096 (got {} and {})", self.in_channels, self.width);
        }
        if !(1..=6).contains(&self.stages) || self.width << (self.stages - 1) > 1 << 16 {
            bail!(
                "backbone: stages must be between 1 and 6 with a last width (width * 2^(stages-1)) of at most 65536, got {} stages of width {}",
                self.stages,
                self.width
            );
        }
        Ok(())
    }
}

/// Mean over every dimension after the channels, `[N, C, ...] -> [N, C]` (images, clips,
/// sequences alike; `[N, C]` is returned as is). A plain mean, unlike adaptive pooling,
/// has a deterministic backward pass on CUDA.
pub fn global_average_pool(x: &Tensor) -> Tensor {
    let dims: Vec<i64> = (2..x.dim() as i64).collect();
    if dims.is_empty() {
        return x.shallow_clone();
    }
    x.mean_dim(dims.as_slice(), false, x.kind())
}

/// A BatchNorm2d that also owns torchvision's `num_batches_tracked` buffer, so exported
/// weights load into PyTorch with `strict=True`.
pub fn batch_norm2d(p: nn::Path, channels: i64) -> nn::BatchNorm {
    let _ = p.zeros_no_train("num_batches_tracked", &[]);
    nn::batch_norm2d(p, channels, Default::default())
}
