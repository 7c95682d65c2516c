//! S3D (separable 3-D Inception) for clips `[N, C, T, H, W]` with the module names of
//! `torchvision.models.video.s3d` (its `features`), so an exported backbone loads there with
//! `strict=True`: every 3x3x3 convolution of I3D factored into a spatial 1xkxk and a
//! temporal kx1x1 one, Inception blocks of four branches. Batch norm with torchvision's
//! eps 1e-3 and momentum 1e-3. `width` scales every channel count by `width / 64` (64:
//! torchvision's shapes, 1024-d features); the small-input stem uses stride 1 instead of 2
//! in the first (separable) convolution, for clips of 32-64 px.
use super::resnet3d::conv;
use anyhow::{bail, Result};
use ssl_core::blocks::Backbone;
use tch::nn::{self, Module};
use tch::Tensor;

/// torchvision's `Conv3dNormActivation`: convolution (no bias), batch norm, ReLU; the names
/// `.0` and `.1`.
#[derive(Debug)]
struct ConvNormAct {
    conv: nn::Conv3D,
    bn: nn::BatchNorm,
}

impl ConvNormAct {
    fn new(p: nn::Path, c_in: i64, c_out: i64, kernel: [i64; 3], stride: [i64; 3], padding: [i64; 3]) -> Self {
        let _ = (&p / "1").zeros_no_train("num_batches_tracked", &[]);
        let bn = nn::batch_norm3d(&p / "1", c_out, nn::BatchNormConfig { eps: 1e-3, momentum: 1e-3, ..Default::default() });
        Self { conv: conv(&p / "0", c_in, c_out, kernel, stride, padding), bn }
    }

    fn pointwise(p: nn::Path, c_in: i64, c_out: i64) -> Self {
        Self::new(p, c_in, c_out, [1, 1, 1], [1, 1, 1], [0, 0, 0])
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.conv.forward(x).apply_t(&self.bn, train).relu()
    }
}

/// `TemporalSeparableConv`: spatial 1xkxk then temporal kx1x1 (`.0`, `.1`).
#[derive(Debug)]
struct SepConv {
    spatial: ConvNormAct,
    temporal: ConvNormAct,
}

impl SepConv {
    fn new(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64, pad: i64) -> Self {
        Self {
            spatial: ConvNormAct::new(&p / "0", c_in, c_out, [1, k, k], [1, stride, stride], [0, pad, pad]),
            temporal: ConvNormAct::new(&p / "1", c_out, c_out, [k, 1, 1], [stride, 1, 1], [pad, 0, 0]),
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.temporal.forward_t(&self.spatial.forward_t(x, train), train)
    }
}

/// `SepInceptionBlock3D`: 1x1x1 | 1x1x1 + separable 3 | 1x1x1 + separable 3 | max-pool + 1x1x1.
#[derive(Debug)]
struct Inception {
    b0: ConvNormAct,
    b1: (ConvNormAct, SepConv),
    b2: (ConvNormAct, SepConv),
    b3: ConvNormAct,
}

impl Inception {
    /// Channels `[b0, b1_mid, b1, b2_mid, b2, b3]`.
    fn new(p: nn::Path, c_in: i64, c: [i64; 6]) -> Self {
        Self {
            b0: ConvNormAct::pointwise(&p / "branch0", c_in, c[0]),
            b1: (ConvNormAct::pointwise(&p / "branch1" / "0", c_in, c[1]), SepConv::new(&p / "branch1" / "1", c[1], c[2], 3, 1, 1)),
            b2: (ConvNormAct::pointwise(&p / "branch2" / "0", c_in, c[3]), SepConv::new(&p / "branch2" / "1", c[3], c[4], 3, 1, 1)),
            b3: ConvNormAct::pointwise(&p / "branch3" / "1", c_in, c[5]),
        }
    }

    fn out(c: [i64; 6]) -> i64 {
        c[0] + c[2] + c[4] + c[5]
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let pooled = x.max_pool3d([3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], false);
        Tensor::cat(
            &[
                self.b0.forward_t(x, train),
                self.b1.1.forward_t(&self.b1.0.forward_t(x, train), train),
                self.b2.1.forward_t(&self.b2.0.forward_t(x, train), train),
                self.b3.forward_t(&pooled, train),
            ],
            1,
        )
    }
}

/// One entry of `features`.
#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "a few per network, built once")]
enum Layer {
    Sep(SepConv),
    Point(ConvNormAct),
    Pool { kernel: [i64; 3], stride: [i64; 3], padding: [i64; 3] },
    Block(Inception),
}

/// S3D's feature extractor, pooled to `[N, 1024 w / 64]`.
#[derive(Debug)]
pub struct S3d {
    layers: Vec<Layer>,
    out_dim: i64,
}

/// torchvision's Inception blocks (at width 64): the index in `features` and the channels.
const BLOCKS: [(usize, [i64; 6]); 9] = [
    (5, [64, 96, 128, 16, 32, 32]),
    (6, [128, 128, 192, 32, 96, 64]),
    (8, [192, 96, 208, 16, 48, 64]),
    (9, [160, 112, 224, 24, 64, 64]),
    (10, [128, 128, 256, 24, 64, 64]),
    (11, [112, 144, 288, 32, 64, 64]),
    (12, [256, 160, 320, 32, 128, 128]),
    (14, [256, 160, 320, 32, 128, 128]),
    (15, [384, 192, 384, 48, 128, 128]),
];

impl S3d {
    /// Under `p` (names `features.*` as torchvision's), for clips of `in_channels`, channel
    /// counts scaled by `width / 64`; `small_input` makes the first convolution stride 1.
    pub fn new(p: &nn::Path, in_channels: i64, width: i64, small_input: bool) -> Result<Self> {
        if !(4..=1024).contains(&width) {
            bail!("S3D: width must be between 4 and 1024 (64 is torchvision's), got {width}");
        }
        let scale = |c: i64| ((c * width) / 64).max(1);
        let f = p / "features";
        let s = if small_input { 1 } else { 2 };
        let mut layers = vec![
            Layer::Sep(SepConv::new(&f / "0", in_channels, scale(64), 7, s, 3)),
            Layer::Pool { kernel: [1, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1] },
            Layer::Point(ConvNormAct::pointwise(&f / "2", scale(64), scale(64))),
            Layer::Sep(SepConv::new(&f / "3", scale(64), scale(192), 3, 1, 1)),
            Layer::Pool { kernel: [1, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1] },
        ];
        let mut c_in = scale(192);
        for (index, c) in BLOCKS {
            if index == 8 {
                layers.push(Layer::Pool { kernel: [3, 3, 3], stride: [2, 2, 2], padding: [1, 1, 1] });
            }
            if index == 14 {
                layers.push(Layer::Pool { kernel: [2, 2, 2], stride: [2, 2, 2], padding: [0, 0, 0] });
            }
            let c = c.map(scale);
            layers.push(Layer::Block(Inception::new(&f / index.to_string(), c_in, c)));
            c_in = Inception::out(c);
        }
        Ok(Self { layers, out_dim: c_in })
    }

    /// The last feature map `[N, D, T', H', W']`.
    pub fn feature_map(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut x = xs.shallow_clone();
        for layer in &self.layers {
            x = match layer {
                Layer::Sep(c) => c.forward_t(&x, train),
                Layer::Point(c) => c.forward_t(&x, train),
                Layer::Pool { kernel, stride, padding } => {
                    // A clip already shorter than a temporal pool (padding included) keeps its
                    // length there, where PyTorch would refuse it.
                    let t = x.size()[2];
                    if t + 2 * padding[0] < kernel[0] {
                        x.max_pool3d([t, kernel[1], kernel[2]], [1, stride[1], stride[2]], [0, padding[1], padding[2]], [1, 1, 1], false)
                    } else {
                        x.max_pool3d(kernel, stride, padding, [1, 1, 1], false)
                    }
                }
                Layer::Block(b) => b.forward_t(&x, train),
            };
        }
        x
    }
}

impl Backbone for S3d {
    /// Clip features: the last feature map averaged over time and space.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.feature_map(xs, train).mean_dim([2, 3, 4].as_slice(), false, xs.kind())
    }

    fn out_dim(&self) -> i64 {
        self.out_dim
    }
}
