//! A small convolutional encoder for quick CPU runs on small images.
use super::backbone::{batch_norm2d, global_average_pool, Backbone};
use tch::{nn, Tensor};

/// Stages of conv3x3-BN-ReLU (widths w, 2w, 4w, ...; three by default), a 2x2 max-pool
/// between stages (skipped once the maps are 1 px), global average pooling at the end:
/// `w * 2^(stages-1)` features.
#[derive(Debug)]
pub struct SmallConvNet {
    stages: Vec<(nn::Conv2D, nn::BatchNorm)>,
    out_dim: i64,
}

impl SmallConvNet {
    /// The net under `p` (`conv1`/`bn1`, `conv2`/`bn2`, ...): `stages` stages (at least one) of widths
    /// `width`, `2 * width`, ... on inputs of `in_channels` channels.
    pub fn new(p: &nn::Path, in_channels: i64, width: i64, stages: i64) -> Self {
        let cfg = nn::ConvConfig { padding: 1, bias: false, ..Default::default() };
        let widths: Vec<i64> = (0..stages.max(1)).map(|i| width << i).collect();
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
        let out_dim = *widths.last().expect("at least one stage");
        Self { stages, out_dim }
    }
}

impl SmallConvNet {
    /// Each stage's output, before the pooling that follows it.
    fn maps(&self, xs: &Tensor, train: bool) -> Vec<Tensor> {
        let mut x = xs.shallow_clone();
        let mut maps = Vec::with_capacity(self.stages.len());
        for (i, (conv, bn)) in self.stages.iter().enumerate() {
            let side = x.size().iter().rev().take(2).copied().min().unwrap_or(0);
            if i > 0 && side >= 2 {
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
        global_average_pool(self.maps(xs, train).last().expect("the small ConvNet has at least one stage"))
    }

    fn out_dim(&self) -> i64 {
        self.out_dim
    }

    fn feature_maps(&self, xs: &Tensor, train: bool) -> anyhow::Result<Vec<Tensor>> {
        Ok(self.maps(xs, train))
    }

    fn feature_channels(&self) -> Vec<i64> {
        (0..self.stages.len()).rev().map(|i| self.out_dim >> i).collect()
    }
}
