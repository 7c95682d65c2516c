//! A small convolutional encoder for quick CPU runs on small images.
use super::backbone::{batch_norm2d, global_average_pool, Backbone};
use tch::{nn, Tensor};

/// Three stages of conv3x3-BN-ReLU (widths w, 2w, 4w), 2x2 max-pool after the first two,
/// global average pooling at the end: `4w` features.
#[derive(Debug)]
pub struct SmallConvNet {
    stages: Vec<(nn::Conv2D, nn::BatchNorm)>,
    out_dim: i64,
}

impl SmallConvNet {
    pub fn new(p: &nn::Path, in_channels: i64, width: i64) -> Self {
        let cfg = nn::ConvConfig { padding: 1, bias: false, ..Default::default() };
        let widths = [width, 2 * width, 4 * width];
        let mut c_in = in_channels;
        let stages = widths
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let stage = (nn::conv2d(p / format!("conv{}", i + 1), c_in, c, 3, cfg), batch_norm2d(p / format!("bn{}", i + 1), c));
                c_in = c;
                stage
            })
            .collect();
        Self { stages, out_dim: 4 * width }
    }
}

impl Backbone for SmallConvNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut x = xs.shallow_clone();
        for (i, (conv, bn)) in self.stages.iter().enumerate() {
            x = x.apply(conv).apply_t(bn, train).relu();
            if i + 1 < self.stages.len() {
                x = x.max_pool2d_default(2);
            }
        }
        global_average_pool(&x)
    }
    fn out_dim(&self) -> i64 {
        self.out_dim
    }
}
