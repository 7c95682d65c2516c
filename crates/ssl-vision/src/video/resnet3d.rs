//! 3-D ResNets for clips `[N, C, T, H, W]`, built with torchvision's module names
//! (`torchvision.models.video.r3d_18` and `r2plus1d_18`), so an exported backbone loads
//! there with `strict=True`: R3D-18 (3x3x3 convolutions throughout) and R(2+1)D-18 (each
//! 3-D convolution factored into a spatial 1x3x3 and a temporal 3x1x1 one, with the middle
//! width chosen to keep the parameter count of the 3-D one). A small-input stem (spatial
//! stride 1 instead of 2) suits clips of 32-64 px; it keeps every name and shape, only the
//! stride differs. The width (64 in torchvision) can be made smaller for CPU-sized runs:
//! the names stay, the shapes scale (such weights no longer load into torchvision).
use anyhow::{bail, Result};
use ssl_core::blocks::Backbone;
use tch::nn::{self, ConvConfigND, Module};
use tch::Tensor;

/// Which 3-D ResNet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resnet3dKind {
    /// R3D-18: full 3x3x3 convolutions.
    R3d18,
    /// R(2+1)D-18: 1x3x3 spatial then 3x1x1 temporal convolutions.
    R2Plus1d18,
}

/// A BatchNorm3d with torchvision's `num_batches_tracked` buffer (for `strict=True`).
pub(crate) fn batch_norm3d(p: nn::Path, channels: i64) -> nn::BatchNorm {
    let _ = p.zeros_no_train("num_batches_tracked", &[]);
    nn::batch_norm3d(p, channels, Default::default())
}

pub(crate) fn conv(p: nn::Path, c_in: i64, c_out: i64, kernel: [i64; 3], stride: [i64; 3], padding: [i64; 3]) -> nn::Conv3D {
    let cfg = ConvConfigND {
        stride,
        padding,
        dilation: [1, 1, 1],
        groups: 1,
        bias: false,
        ws_init: nn::init::DEFAULT_KAIMING_UNIFORM,
        bs_init: nn::Init::Const(0.0),
        padding_mode: nn::PaddingMode::Zeros,
    };
    nn::conv(p, c_in, c_out, kernel, cfg)
}

/// One 3-D convolution of a block as torchvision builds it: `Conv3DSimple` (one module at
/// `.0`) or `Conv2Plus1D` (a sequence at `.0.0` spatial, `.0.1` norm, `.0.3` temporal).
#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "a few per network, built once")]
enum Conv3dUnit {
    Simple(nn::Conv3D),
    TwoPlusOne { spatial: nn::Conv3D, norm: nn::BatchNorm, temporal: nn::Conv3D },
}

impl Conv3dUnit {
    /// Under `p` (the block's `conv1.0` / `conv2.0`), `stride` in all three dimensions.
    fn new(p: nn::Path, kind: Resnet3dKind, c_in: i64, c_out: i64, mid: i64, stride: i64) -> Self {
        match kind {
            Resnet3dKind::R3d18 => Self::Simple(conv(p, c_in, c_out, [3, 3, 3], [stride; 3], [1, 1, 1])),
            Resnet3dKind::R2Plus1d18 => Self::TwoPlusOne {
                spatial: conv(&p / "0", c_in, mid, [1, 3, 3], [1, stride, stride], [0, 1, 1]),
                norm: batch_norm3d(&p / "1", mid),
                temporal: conv(&p / "3", mid, c_out, [3, 1, 1], [stride, 1, 1], [1, 0, 0]),
            },
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        match self {
            Self::Simple(c) => c.forward(x),
            Self::TwoPlusOne { spatial, norm, temporal } => temporal.forward(&spatial.forward(x).apply_t(norm, train).relu()),
        }
    }
}

/// torchvision's `BasicBlock` for video: two units with batch norm, a shortcut (a strided
/// 1x1x1 convolution and norm where the shape changes).
#[derive(Debug)]
struct Block {
    conv1: Conv3dUnit,
    bn1: nn::BatchNorm,
    conv2: Conv3dUnit,
    bn2: nn::BatchNorm,
    downsample: Option<(nn::Conv3D, nn::BatchNorm)>,
}

impl Block {
    fn new(p: nn::Path, kind: Resnet3dKind, c_in: i64, c_out: i64, stride: i64) -> Self {
        // torchvision: midplanes = (inplanes * planes * 27) // (inplanes * 9 + 3 * planes).
        let mid = (c_in * c_out * 27) / (c_in * 9 + 3 * c_out);
        let downsample = (stride != 1 || c_in != c_out).then(|| {
            let d = &p / "downsample";
            (conv(&d / "0", c_in, c_out, [1, 1, 1], [stride; 3], [0, 0, 0]), batch_norm3d(&d / "1", c_out))
        });
        Self {
            conv1: Conv3dUnit::new(&p / "conv1" / "0", kind, c_in, c_out, mid, stride),
            bn1: batch_norm3d(&p / "conv1" / "1", c_out),
            conv2: Conv3dUnit::new(&p / "conv2" / "0", kind, c_out, c_out, mid, 1),
            bn2: batch_norm3d(&p / "conv2" / "1", c_out),
            downsample,
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let y = self.conv1.forward_t(x, train).apply_t(&self.bn1, train).relu();
        let y = self.conv2.forward_t(&y, train).apply_t(&self.bn2, train);
        let shortcut = match &self.downsample {
            Some((c, bn)) => c.forward(x).apply_t(bn, train),
            None => x.shallow_clone(),
        };
        (y + shortcut).relu()
    }
}

/// The stem: R3D's 3x7x7 convolution, or R(2+1)D's 1x7x7 (45 channels) then 3x1x1.
#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "one per network")]
enum Stem {
    R3d { conv: nn::Conv3D, bn: nn::BatchNorm },
    R2Plus1d { spatial: nn::Conv3D, bn1: nn::BatchNorm, temporal: nn::Conv3D, bn2: nn::BatchNorm },
}

/// A 3-D ResNet-18 (blocks 2, 2, 2, 2; widths w, 2w, 4w, 8w, torchvision's w = 64) giving
/// pooled 8w-d clip features.
#[derive(Debug)]
pub struct VideoResNet {
    stem: Stem,
    layers: Vec<Vec<Block>>,
    kind: Resnet3dKind,
    out_dim: i64,
}

impl VideoResNet {
    /// Under `p` (variables named as torchvision's), for clips of `in_channels` channels, first
    /// stage `width` wide (64: torchvision's shapes); with `small_input` the stem keeps the
    /// spatial resolution (stride 1 instead of 2).
    pub fn new(p: &nn::Path, kind: Resnet3dKind, in_channels: i64, width: i64, small_input: bool) -> Result<Self> {
        if !(4..=1024).contains(&width) {
            bail!("3-D ResNet: width must be between 4 and 1024 (64 is torchvision's), got {width}");
        }
        let s = if small_input { 1 } else { 2 };
        // R(2+1)D's stem widens to 45 channels before 64 in torchvision: the same ratio.
        let stem_mid = (45 * width) / 64;
        let stem = match kind {
            Resnet3dKind::R3d18 => {
                Stem::R3d { conv: conv(p / "stem" / "0", in_channels, width, [3, 7, 7], [1, s, s], [1, 3, 3]), bn: batch_norm3d(p / "stem" / "1", width) }
            }
            Resnet3dKind::R2Plus1d18 => Stem::R2Plus1d {
                spatial: conv(p / "stem" / "0", in_channels, stem_mid, [1, 7, 7], [1, s, s], [0, 3, 3]),
                bn1: batch_norm3d(p / "stem" / "1", stem_mid),
                temporal: conv(p / "stem" / "3", stem_mid, width, [3, 1, 1], [1, 1, 1], [1, 0, 0]),
                bn2: batch_norm3d(p / "stem" / "4", width),
            },
        };
        let widths = [width, 2 * width, 4 * width, 8 * width];
        let mut c_in = width;
        let mut layers = Vec::new();
        for (l, &w) in widths.iter().enumerate() {
            let lp = p / format!("layer{}", l + 1);
            let stride = if l == 0 { 1 } else { 2 };
            layers.push(vec![Block::new(&lp / "0", kind, c_in, w, stride), Block::new(&lp / "1", kind, w, w, 1)]);
            c_in = w;
        }
        Ok(Self { stem, layers, kind, out_dim: 8 * width })
    }

    /// Which network this is.
    pub fn kind(&self) -> Resnet3dKind {
        self.kind
    }

    /// The feature map of the last stage, `[N, 8w, T', H', W']`.
    pub fn feature_map(&self, xs: &Tensor, train: bool) -> Tensor {
        self.features_until(xs, 4, train)
    }

    /// The feature map after `stage` (0: the stem, 1-4: the residual stages), for methods
    /// that work on intermediate features (CMMC pastes between streams there).
    pub fn features_until(&self, xs: &Tensor, stage: usize, train: bool) -> Tensor {
        let x = match &self.stem {
            Stem::R3d { conv, bn } => conv.forward(xs).apply_t(bn, train).relu(),
            Stem::R2Plus1d { spatial, bn1, temporal, bn2 } => temporal.forward(&spatial.forward(xs).apply_t(bn1, train).relu()).apply_t(bn2, train).relu(),
        };
        self.run_stages(x, 0, stage.min(4), train)
    }

    /// Pooled features `[N, 8w]` from the feature map after `stage` (the rest of the network).
    pub fn features_from(&self, h: &Tensor, stage: usize, train: bool) -> Tensor {
        self.run_stages(h.shallow_clone(), stage.min(4), 4, train).mean_dim([2, 3, 4].as_slice(), false, h.kind())
    }

    fn run_stages(&self, mut x: Tensor, from: usize, to: usize, train: bool) -> Tensor {
        for layer in &self.layers[from..to] {
            for block in layer {
                x = block.forward_t(&x, train);
            }
        }
        x
    }

    /// Checks a clip batch's shape before it reaches the convolutions.
    pub fn check_input(xs: &Tensor, in_channels: i64) -> Result<()> {
        let s = xs.size();
        if s.len() != 5 || s[1] != in_channels || s[2] < 1 || s[3] < 8 || s[4] < 8 {
            bail!("3-D ResNet: clips must be [N, {in_channels}, T, H, W] with T >= 1 and H, W >= 8, got {s:?}");
        }
        Ok(())
    }
}

impl Backbone for VideoResNet {
    /// Clip features `[N, 8w]`: the last stage averaged over time and space.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.feature_map(xs, train).mean_dim([2, 3, 4].as_slice(), false, xs.kind())
    }

    fn out_dim(&self) -> i64 {
        self.out_dim
    }
}
