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

impl SmallConvNet {
    /// Each stage's output, before the pooling that follows it.
    fn maps(&self, xs: &Tensor, train: bool) -> Vec<Tensor> {
        let mut x = xs.shallow_clone();
        let mut maps = Vec::with_capacity(self.stages.len());
        for (i, (conv, bn)) in self.stages.iter().enumerate() {
            if i > 0 {
                x = x.max_pool2d_default(2);
            }
            x = x.apply(conv).apply_t(bn, train).relu();
            maps.push(x.shallow_clone());
        }
        maps
    }
}

impl Backbone for SmallConvNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        global_average_pool(self.maps(xs, train).last().expect("the small ConvNet has three stages"))
    }

    fn out_dim(&self) -> i64 {
        self.out_dim
    }

    fn feature_maps(&self, xs: &Tensor, train: bool) -> anyhow::Result<Vec<Tensor>> {
        Ok(self.maps(xs, train))
    }

    fn feature_channels(&self) -> Vec<i64> {
        vec![self.out_dim / 4, self.out_dim / 2, self.out_dim]
    }
}
