//! The 2-D U-Net of BT-Unet (arXiv 2112.03916, official code nspunn1993/BT-Unet): encoder
//! blocks of two separable 3x3 convolutions with batch norm and ReLU plus a 1x1 shortcut
//! and dropout 0.1, widths w, 2w, 4w, 8w with max-pooling between them and a bottleneck of
//! 16w (w = 16 in the paper); a decoder of transposed convolutions, skip connections and
//! convolution blocks; a 1x1 head to class logits.
//!
//! The encoder is a [`Backbone`] (pooled bottleneck features for Barlow Twins, and the
//! feature maps of every scale for the decoder), registered as `bt-unet-encoder`, so the
//! shared SSL loop pre-trains it and [`ssl_core::train::load_encoder`] moves it into a
//! [`Unet`] whose encoder lives under the same name.
use anyhow::{bail, Result};
use ssl_core::blocks::Backbone;
use tch::{nn, nn::Module, nn::ModuleT, Tensor};

/// Dropout after every encoder block (the official code's 0.1).
pub const ENCODER_DROPOUT: f64 = 0.1;

/// A depthwise 3x3 convolution followed by a pointwise 1x1 one.
#[derive(Debug)]
struct SeparableConv {
    depthwise: nn::Conv2D,
    pointwise: nn::Conv2D,
}

impl SeparableConv {
    fn new(p: nn::Path, c_in: i64, c_out: i64) -> Self {
        let depthwise = nn::conv2d(&p / "depthwise", c_in, c_in, 3, nn::ConvConfig { padding: 1, groups: c_in, bias: false, ..Default::default() });
        let pointwise = nn::conv2d(&p / "pointwise", c_in, c_out, 1, nn::ConvConfig { bias: false, ..Default::default() });
        Self { depthwise, pointwise }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.pointwise.forward(&self.depthwise.forward(x))
    }
}

/// An encoder block: (separable conv, BN, ReLU) twice, plus a 1x1 shortcut, then dropout.
#[derive(Debug)]
struct ResidualBlock {
    conv1: SeparableConv,
    bn1: nn::BatchNorm,
    conv2: SeparableConv,
    bn2: nn::BatchNorm,
    shortcut: nn::Conv2D,
}

impl ResidualBlock {
    fn new(p: nn::Path, c_in: i64, c_out: i64) -> Self {
        Self {
            conv1: SeparableConv::new(&p / "conv1", c_in, c_out),
            bn1: nn::batch_norm2d(&p / "bn1", c_out, Default::default()),
            conv2: SeparableConv::new(&p / "conv2", c_out, c_out),
            bn2: nn::batch_norm2d(&p / "bn2", c_out, Default::default()),
            shortcut: nn::conv2d(&p / "shortcut", c_in, c_out, 1, Default::default()),
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let y = self.bn1.forward_t(&self.conv1.forward(x), train).relu();
        let y = self.bn2.forward_t(&self.conv2.forward(&y), train).relu();
        (y + self.shortcut.forward(x)).dropout(ENCODER_DROPOUT, train)
    }
}

/// The U-Net's encoder: blocks of widths w, 2w, 4w, 8w, each followed by 2x2 max-pooling
/// (the block's output before pooling is the skip), and a bottleneck block of 16w.
#[derive(Debug)]
pub struct UnetEncoder {
    blocks: Vec<ResidualBlock>,
    widths: Vec<i64>,
}

impl UnetEncoder {
    /// An encoder for `in_channels` channels with first width `width` and `levels` pooled
    /// levels (4 in the paper) before the bottleneck.
    pub fn new(p: &nn::Path, in_channels: i64, width: i64, levels: i64) -> Result<Self> {
        if !(1..=6).contains(&levels) || !(1..=1024).contains(&width) || in_channels < 1 {
            bail!("bt-unet-encoder: needs 1 to 6 levels, a width of 1 to 1024 and at least one input channel, got {levels}, {width}, {in_channels}");
        }
        let widths: Vec<i64> = (0..=levels).map(|l| width << l).collect();
        let mut c_in = in_channels;
        let blocks = widths
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let b = ResidualBlock::new(p / format!("block{i}"), c_in, w);
                c_in = w;
                b
            })
            .collect();
        Ok(Self { blocks, widths })
    }

    /// Levels of pooling: inputs must be a multiple of `2^levels` pixels a side.
    pub fn levels(&self) -> usize {
        self.blocks.len() - 1
    }

    fn maps(&self, xs: &Tensor, train: bool) -> Vec<Tensor> {
        let mut maps = Vec::with_capacity(self.blocks.len());
        let mut x = xs.shallow_clone();
        for (i, block) in self.blocks.iter().enumerate() {
            if i > 0 {
                x = x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
            }
            x = block.forward_t(&x, train);
            maps.push(x.shallow_clone());
        }
        maps
    }
}

impl Backbone for UnetEncoder {
    /// The bottleneck's feature maps averaged over the image: `[N, 16w]`.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.maps(xs, train).pop().map(|b| b.mean_dim([2, 3].as_slice(), false, b.kind())).unwrap_or_else(|| xs.shallow_clone())
    }

    fn out_dim(&self) -> i64 {
        self.widths.last().copied().unwrap_or(0)
    }

    fn feature_maps(&self, xs: &Tensor, train: bool) -> Result<Vec<Tensor>> {
        let size = xs.size();
        let multiple = 1i64 << self.levels();
        if size.len() != 4 || size[2] % multiple != 0 || size[3] % multiple != 0 {
            bail!("bt-unet-encoder: inputs must be [N, C, H, W] with H and W multiples of {multiple}, got {size:?}");
        }
        Ok(self.maps(xs, train))
    }

    fn feature_channels(&self) -> Vec<i64> {
        self.widths.clone()
    }
}

/// A decoder stage: a 2x2 transposed convolution up to the skip's width, the skip
/// concatenated, then (3x3 conv, BN, ReLU) twice.
#[derive(Debug)]
struct UpStage {
    up: nn::ConvTranspose2D,
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
}

impl UpStage {
    fn new(p: nn::Path, c_in: i64, c_skip: i64) -> Self {
        let conv = nn::ConvConfig { padding: 1, bias: false, ..Default::default() };
        Self {
            up: nn::conv_transpose2d(&p / "up", c_in, c_skip, 2, nn::ConvTransposeConfig { stride: 2, ..Default::default() }),
            conv1: nn::conv2d(&p / "conv1", 2 * c_skip, c_skip, 3, conv),
            bn1: nn::batch_norm2d(&p / "bn1", c_skip, Default::default()),
            conv2: nn::conv2d(&p / "conv2", c_skip, c_skip, 3, conv),
            bn2: nn::batch_norm2d(&p / "bn2", c_skip, Default::default()),
        }
    }

    fn forward_t(&self, x: &Tensor, skip: &Tensor, train: bool) -> Tensor {
        let x = Tensor::cat(&[self.up.forward(x), skip.shallow_clone()], 1);
        let x = self.bn1.forward_t(&self.conv1.forward(&x), train).relu();
        self.bn2.forward_t(&self.conv2.forward(&x), train).relu()
    }
}

/// Encoder (under `backbone`, the name the SSL methods export it by), decoder (under
/// `decoder`) and 1x1 head (under `head`) to `classes` logits per pixel.
#[derive(Debug)]
pub struct Unet {
    /// The encoder, a [`Backbone`].
    pub encoder: UnetEncoder,
    stages: Vec<UpStage>,
    head: nn::Conv2D,
    classes: i64,
}

impl Unet {
    /// A U-Net on `vs`'s root for `in_channels` channels and `classes` classes (background
    /// included, at least 2).
    pub fn new(vs: &nn::VarStore, in_channels: i64, width: i64, levels: i64, classes: i64) -> Result<Self> {
        if classes < 2 {
            bail!("a U-Net needs at least 2 classes (background included), got {classes}");
        }
        let root = vs.root();
        let encoder = UnetEncoder::new(&(&root / "backbone"), in_channels, width, levels)?;
        let widths = encoder.feature_channels();
        let stages = (0..widths.len() - 1).rev().map(|l| UpStage::new(&root / "decoder" / format!("stage{l}"), widths[l + 1], widths[l])).collect();
        let head = nn::conv2d(&root / "head", widths[0], classes, 1, Default::default());
        Ok(Self { encoder, stages, head, classes })
    }

    /// Classes the head scores.
    pub fn classes(&self) -> i64 {
        self.classes
    }

    /// Logits `[N, classes, H, W]` of images `[N, C, H, W]` (H, W multiples of `2^levels`).
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let mut maps = self.encoder.feature_maps(xs, train)?;
        let Some(mut x) = maps.pop() else { bail!("the encoder returned no feature map") };
        for (stage, skip) in self.stages.iter().zip(maps.iter().rev()) {
            x = stage.forward_t(&x, skip, train);
        }
        Ok(self.head.forward(&x))
    }
}
