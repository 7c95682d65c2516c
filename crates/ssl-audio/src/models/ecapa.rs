//! ECAPA-TDNN (Desplanques et al. 2020, arXiv 2005.07143): a 1-D convolution over frames,
//! three SE-Res2Net blocks with dilations 2, 3 and 4, multi-layer feature aggregation,
//! channel- and context-dependent attentive statistics pooling, and a 192-d embedding.
use super::pooling::{attentive_statistics, statistics};
use ssl_core::blocks::Backbone;
use tch::{nn, Kind, Tensor};

/// Width of the embedding (the paper's 192).
pub const ECAPA_EMBEDDING: i64 = 192;
/// Sub-bands of each Res2Net block (the paper's scale 8).
const SCALE: i64 = 8;
/// Bottleneck of the squeeze-excitation and of the attention (the paper's 128).
const BOTTLENECK: i64 = 128;

/// Convolution, ReLU, BatchNorm: the TDNN layer of SpeechBrain's ECAPA.
#[derive(Debug)]
struct Tdnn {
    conv: nn::Conv1D,
    bn: nn::BatchNorm,
}

impl Tdnn {
    fn new(p: nn::Path, c_in: i64, c_out: i64, kernel: i64, dilation: i64) -> Self {
        let cfg = nn::ConvConfig { padding: dilation * (kernel - 1) / 2, dilation, ..Default::default() };
        Self { conv: nn::conv1d(&p / "conv", c_in, c_out, kernel, cfg), bn: nn::batch_norm1d(&p / "bn", c_out, Default::default()) }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        x.apply(&self.conv).relu().apply_t(&self.bn, train)
    }
}

/// 1x1 TDNN, Res2Net's hierarchy of dilated convolutions over sub-bands, 1x1 TDNN,
/// squeeze-excitation, residual.
#[derive(Debug)]
struct SeRes2Block {
    reduce: Tdnn,
    bands: Vec<Tdnn>,
    expand: Tdnn,
    squeeze: nn::Conv1D,
    excite: nn::Conv1D,
}

impl SeRes2Block {
    fn new(p: nn::Path, channels: i64, dilation: i64) -> Self {
        let band = channels / SCALE;
        let bottleneck = BOTTLENECK.min(channels);
        Self {
            reduce: Tdnn::new(&p / "reduce", channels, channels, 1, 1),
            bands: (1..SCALE).map(|i| Tdnn::new(&p / "bands" / (i - 1), band, band, 3, dilation)).collect(),
            expand: Tdnn::new(&p / "expand", channels, channels, 1, 1),
            squeeze: nn::conv1d(&p / "squeeze", channels, bottleneck, 1, Default::default()),
            excite: nn::conv1d(&p / "excite", bottleneck, channels, 1, Default::default()),
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.reduce.forward_t(x, train);
        let chunks = h.chunk(SCALE, 1);
        // y_1 = x_1, y_2 = K(x_2), y_i = K(x_i + y_{i-1}).
        let mut out = vec![chunks[0].shallow_clone()];
        for (i, band) in self.bands.iter().enumerate() {
            let input = if i == 0 { chunks[1].shallow_clone() } else { &chunks[i + 1] + out.last().expect("one band done") };
            out.push(band.forward_t(&input, train));
        }
        let h = self.expand.forward_t(&Tensor::cat(&out, 1), train);
        let s = h.mean_dim([2i64].as_slice(), true, Kind::Float).apply(&self.squeeze).relu().apply(&self.excite).sigmoid();
        h * s + x
    }
}

/// A small ECAPA-TDNN: features `[N, T, F]` to embeddings `[N, 192]`.
#[derive(Debug)]
pub struct EcapaTdnn {
    input: Tdnn,
    blocks: Vec<SeRes2Block>,
    aggregate: Tdnn,
    attention: Tdnn,
    attention_out: nn::Conv1D,
    pooled_bn: nn::BatchNorm,
    embedding: nn::Linear,
}

impl EcapaTdnn {
    /// The encoder over `bins` feature bins with `channels` channels in its blocks (the
    /// paper: 512 or 1024; a multiple of 8).
    pub fn new(p: &nn::Path, bins: i64, channels: i64) -> Self {
        let c = channels;
        let att = BOTTLENECK.min(c);
        Self {
            input: Tdnn::new(p / "input", bins, c, 5, 1),
            blocks: [2, 3, 4].iter().enumerate().map(|(i, &d)| SeRes2Block::new(p / "blocks" / i, c, d)).collect(),
            aggregate: Tdnn::new(p / "aggregate", 3 * c, 3 * c, 1, 1),
            attention: Tdnn::new(p / "attention", 9 * c, att, 1, 1),
            attention_out: nn::conv1d(p / "attention_out", att, 3 * c, 1, Default::default()),
            pooled_bn: nn::batch_norm1d(p / "pooled_bn", 6 * c, Default::default()),
            embedding: nn::linear(p / "embedding", 6 * c, ECAPA_EMBEDDING, Default::default()),
        }
    }
}

impl Backbone for EcapaTdnn {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut x = self.input.forward_t(&xs.transpose(1, 2), train);
        let mut outs = Vec::new();
        for block in &self.blocks {
            x = block.forward_t(&x, train);
            outs.push(x.shallow_clone());
        }
        let h = self.aggregate.forward_t(&Tensor::cat(&outs, 1), train);
        // Attention sees each frame with the utterance's global mean and deviation.
        let t = h.size()[2];
        let global = statistics(&h).unsqueeze(2).expand([-1, -1, t], false);
        let context = Tensor::cat(&[h.shallow_clone(), global], 1);
        let scores = self.attention.forward_t(&context, train).tanh().apply(&self.attention_out);
        let weights = scores.softmax(2, Kind::Float);
        attentive_statistics(&h, &weights).apply_t(&self.pooled_bn, train).apply(&self.embedding)
    }

    fn out_dim(&self) -> i64 {
        ECAPA_EMBEDDING
    }
}
