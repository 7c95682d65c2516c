//! The thin ResNet-34 of speaker recognition (basic blocks `[3, 4, 6, 3]` at a reduced
//! width, as in the VoxCeleb baselines and WeSpeaker's `ResNet34`): a 2-D ResNet over the
//! (bins x frames) plane, statistics pooling over time, and a linear embedding.
use super::pooling::statistics;
use ssl_core::blocks::{Backbone, ResNet};
use tch::{nn, Tensor};

/// Width of the embedding (WeSpeaker's `embed_dim`).
pub const THIN_RESNET_EMBEDDING: i64 = 256;

/// A thin ResNet speaker encoder: features `[N, T, F]` to embeddings `[N, 256]`.
#[derive(Debug)]
pub struct ThinResNet {
    trunk: ResNet,
    embedding: nn::Linear,
    width: i64,
    pooled_bins: i64,
}

impl ThinResNet {
    /// `blocks` per stage (`[3, 4, 6, 3]`: ResNet-34) over `bins` feature bins, stage
    /// widths `width` to `8 width` (32 is the usual thin width), a stride-1 3x3 stem and
    /// strides 2 in stages 2-4, so the bins are pooled from `F` to `ceil(F / 8)`.
    pub fn new(p: &nn::Path, blocks: [usize; 4], bins: i64, width: i64) -> Self {
        let trunk = ResNet::with_width(p, blocks, 1, width, true);
        // Each stride-2 3x3 convolution with padding 1 halves the bins, rounding up.
        let pooled_bins = (0..3).fold(bins, |f, _| (f + 1) / 2);
        let embedding = nn::linear(p / "embedding", 2 * 8 * width * pooled_bins, THIN_RESNET_EMBEDDING, Default::default());
        Self { trunk, embedding, width, pooled_bins }
    }
}

impl Backbone for ThinResNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        // [N, T, F] -> [N, 1, F, T]: bins along height, frames along width.
        let x = xs.transpose(1, 2).unsqueeze(1);
        let maps = self.trunk.feature_maps(&x, train).expect("a ResNet gives feature maps");
        let last = maps.last().expect("a ResNet has stages");
        let (n, t) = (last.size()[0], last.size()[3]);
        let frames = last.reshape([n, 8 * self.width * self.pooled_bins, t]);
        statistics(&frames).apply(&self.embedding)
    }

    fn out_dim(&self) -> i64 {
        THIN_RESNET_EMBEDDING
    }
}
