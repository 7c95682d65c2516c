//! The backbone contract and the factory that builds one from its configuration.
use super::{ResNet, SmallConvNet};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

/// An encoder from an input batch to a feature vector per sample.
pub trait Backbone: std::fmt::Debug + Send {
    /// Features `[N, out_dim]`; `train` selects batch statistics in normalisation layers.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor;
    /// Width of the feature vector.
    fn out_dim(&self) -> i64;
}

/// Which backbone to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackboneKind {
    Resnet18,
    Resnet34,
    /// Three conv-BN-ReLU stages and global pooling: fast on CPU for small images.
    SmallConvnet,
}

impl std::str::FromStr for BackboneKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "resnet18" => Self::Resnet18,
            "resnet34" => Self::Resnet34,
            "small-convnet" => Self::SmallConvnet,
            other => bail!("unknown backbone '{other}' (choose resnet18, resnet34 or small-convnet)"),
        })
    }
}

/// Backbone configuration, part of every method's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackboneConfig {
    pub kind: BackboneKind,
    /// Channels of the input images (1 for grayscale, 3 for RGB).
    pub in_channels: i64,
    /// ResNet only: a 3x3 stride-1 first convolution and no max-pool, for 32 px images.
    pub small_image_stem: bool,
    /// SmallConvNet only: channels of the first stage (doubled at each of the next two).
    pub width: i64,
}

impl Default for BackboneConfig {
    fn default() -> Self {
        Self { kind: BackboneKind::SmallConvnet, in_channels: 3, small_image_stem: true, width: 32 }
    }
}

/// Builds the configured backbone under `path`.
pub fn build_backbone(path: &nn::Path, cfg: &BackboneConfig) -> Result<Box<dyn Backbone>> {
    if cfg.in_channels < 1 || cfg.width < 1 {
        bail!("backbone: in_channels and width must be positive (got {} and {})", cfg.in_channels, cfg.width);
    }
    Ok(match cfg.kind {
        BackboneKind::Resnet18 => Box::new(ResNet::new(path, [2, 2, 2, 2], cfg.in_channels, cfg.small_image_stem)),
        BackboneKind::Resnet34 => Box::new(ResNet::new(path, [3, 4, 6, 3], cfg.in_channels, cfg.small_image_stem)),
        BackboneKind::SmallConvnet => Box::new(SmallConvNet::new(path, cfg.in_channels, cfg.width)),
    })
}

/// Mean over the spatial dimensions, `[N, C, H, W] -> [N, C]`. (A plain mean, unlike
/// `adaptive_avg_pool2d`, has a deterministic backward pass on CUDA.)
pub(crate) fn global_average_pool(x: &Tensor) -> Tensor {
    x.mean_dim([2i64, 3].as_slice(), false, x.kind())
}

/// A BatchNorm2d that also owns torchvision's `num_batches_tracked` buffer, so exported
/// weights load into PyTorch with `strict=True`.
pub(crate) fn batch_norm2d(p: nn::Path, channels: i64) -> nn::BatchNorm {
    let _ = p.zeros_no_train("num_batches_tracked", &[]);
    nn::batch_norm2d(p, channels, Default::default())
}
