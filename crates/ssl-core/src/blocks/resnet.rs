//! ResNet-18 / 34 (basic blocks) with torchvision's parameter names.
use super::backbone::{batch_norm2d, global_average_pool, Backbone};
use tch::{nn, Tensor};

fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig { stride, padding: k / 2, bias: false, ..Default::default() };
    nn::conv2d(p, c_in, c_out, k, cfg)
}

#[derive(Debug)]
struct BasicBlock {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    downsample: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl BasicBlock {
    fn new(p: nn::Path, c_in: i64, c_out: i64, stride: i64) -> Self {
        let downsample =
            (stride != 1 || c_in != c_out).then(|| (conv(&p / "downsample" / "0", c_in, c_out, 1, stride), batch_norm2d(&p / "downsample" / "1", c_out)));
        Self {
            conv1: conv(&p / "conv1", c_in, c_out, 3, stride),
            bn1: batch_norm2d(&p / "bn1", c_out),
            conv2: conv(&p / "conv2", c_out, c_out, 3, 1),
            bn2: batch_norm2d(&p / "bn2", c_out),
            downsample,
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let out = x.apply(&self.conv1).apply_t(&self.bn1, train).relu();
        let out = out.apply(&self.conv2).apply_t(&self.bn2, train);
        let shortcut = match &self.downsample {
            Some((c, bn)) => x.apply(c).apply_t(bn, train),
            None => x.shallow_clone(),
        };
        (out + shortcut).relu()
    }
}

/// A ResNet with basic blocks; outputs globally pooled features of `8 * width` (512 at
/// torchvision's width 64; no `fc`).
#[derive(Debug)]
pub struct ResNet {
    width: i64,
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    max_pool: bool,
    layers: Vec<BasicBlock>,
    /// Index of the last block of each stage.
    stage_ends: Vec<usize>,
}

impl ResNet {
    /// `blocks` per stage: `[2, 2, 2, 2]` is ResNet-18, `[3, 4, 6, 3]` ResNet-34.
    pub fn new(p: &nn::Path, blocks: [usize; 4], in_channels: i64, small_image_stem: bool) -> Self {
        Self::with_width(p, blocks, in_channels, 64, small_image_stem)
    }

    /// The same with stage widths `width, 2 width, 4 width, 8 width` (torchvision: 64; the
    /// "thin" ResNets of speaker recognition: 32 or less).
    pub fn with_width(p: &nn::Path, blocks: [usize; 4], in_channels: i64, width: i64, small_image_stem: bool) -> Self {
        let (conv1, max_pool) =
            if small_image_stem { (conv(p / "conv1", in_channels, width, 3, 1), false) } else { (conv(p / "conv1", in_channels, width, 7, 2), true) };
        let mut layers = Vec::new();
        let mut stage_ends = Vec::new();
        let mut c_in = width;
        for (stage, &n) in blocks.iter().enumerate() {
            let c_out = width << stage;
            for b in 0..n {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                layers.push(BasicBlock::new(p / format!("layer{}", stage + 1) / b, c_in, c_out, stride));
                c_in = c_out;
            }
            stage_ends.push(layers.len() - 1);
        }
        Self { width, conv1, bn1: batch_norm2d(p / "bn1", width), max_pool, layers, stage_ends }
    }
}

impl ResNet {
    /// The stem's output, then each stage's (`layer1` to `layer4`).
    fn maps(&self, xs: &Tensor, train: bool) -> Vec<Tensor> {
        let mut x = xs.apply(&self.conv1).apply_t(&self.bn1, train).relu();
        let mut maps = vec![x.shallow_clone()];
        if self.max_pool {
            x = x.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        }
        for (i, block) in self.layers.iter().enumerate() {
            x = block.forward_t(&x, train);
            if self.stage_ends.contains(&i) {
                maps.push(x.shallow_clone());
            }
        }
        maps
    }
}

impl Backbone for ResNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        global_average_pool(self.maps(xs, train).last().expect("a ResNet has stages"))
    }

    fn out_dim(&self) -> i64 {
        8 * self.width
    }

    fn feature_maps(&self, xs: &Tensor, train: bool) -> anyhow::Result<Vec<Tensor>> {
        Ok(self.maps(xs, train))
    }

    fn feature_channels(&self) -> Vec<i64> {
        let w = self.width;
        vec![w, w, 2 * w, 4 * w, 8 * w]
    }
}
