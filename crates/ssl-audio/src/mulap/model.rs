//! The MuLaP networks: a Musicnn-style front end that turns each chunk of log-mel frames
//! into one vector, an audio transformer over a clip's chunks, a text transformer over the
//! caption's word pieces, and co-attention layers where each stream attends to the other.
use super::MulapConfig;
use anyhow::{bail, Result};
use ssl_core::blocks::{Backbone, TransformerLayer};
use tch::{nn, nn::Module, nn::ModuleT, Kind, Tensor};

/// Musicnn's front and back end (Pons & Serra 2019), narrowed for a CPU: vertical timbral
/// filters spanning 70% / 40% of the mel bands (max-pooled over frequency), horizontal
/// temporal filters of 129 / 65 / 33 frames on the frequency-averaged input, then three 1-D
/// convolutions with residuals and max + mean pooling over time, projected to the model width.
#[derive(Debug)]
pub struct MusicnnFrontEnd {
    timbre: Vec<nn::Conv2D>,
    temporal: Vec<nn::Conv1D>,
    front_bn: nn::BatchNorm,
    backend: Vec<(nn::Conv1D, nn::BatchNorm)>,
    project: nn::Linear,
}

impl MusicnnFrontEnd {
    /// The front end of `cfg` under `p`.
    pub fn new(p: &nn::Path, cfg: &MulapConfig) -> Self {
        let bins = cfg.bins;
        let timbre = [0.7, 0.4]
            .iter()
            .enumerate()
            .map(|(i, share)| {
                let kh = ((bins as f64 * share).round() as i64).max(1);
                nn::conv(p / format!("timbre{i}"), 1, cfg.timbre_filters, [kh, 7], nn::ConvConfigND::<[i64; 2]>::default())
            })
            .collect();
        let temporal = [129, 65, 33]
            .iter()
            .enumerate()
            .map(|(i, &k)| nn::conv1d(p / format!("temporal{i}"), 1, cfg.temporal_filters, k, nn::ConvConfig { padding: k / 2, ..Default::default() }))
            .collect();
        let front = Self::front_channels(cfg);
        let backend = (0..3)
            .map(|i| {
                let c_in = if i == 0 { front } else { cfg.backend };
                (
                    nn::conv1d(p / format!("backend{i}"), c_in, cfg.backend, 7, nn::ConvConfig { padding: 3, ..Default::default() }),
                    nn::batch_norm1d(p / format!("backend_bn{i}"), cfg.backend, Default::default()),
                )
            })
            .collect();
        let pooled = 2 * (front + 3 * cfg.backend);
        Self {
            timbre,
            temporal,
            front_bn: nn::batch_norm1d(p / "front_bn", front, Default::default()),
            backend,
            project: nn::linear(p / "project", pooled, cfg.d_model, Default::default()),
        }
    }

    fn front_channels(cfg: &MulapConfig) -> i64 {
        2 * cfg.timbre_filters + 3 * cfg.temporal_filters
    }

    /// One vector `[N, d_model]` per chunk `[N, frames, bins]`.
    pub fn forward_t(&self, chunks: &Tensor, train: bool) -> Tensor {
        let frames = chunks.size()[1];
        // [N, 1, bins, frames]: frequency up, time along.
        let x = chunks.transpose(1, 2).unsqueeze(1);
        let mut maps: Vec<Tensor> = Vec::new();
        for conv in &self.timbre {
            // Time padded by 3 each side so the 7-wide filters keep the frame count.
            let y = conv.forward(&x.constant_pad_nd([3, 3, 0, 0]));
            maps.push(y.amax([2i64].as_slice(), false).relu());
        }
        let averaged = x.mean_dim([2i64].as_slice(), false, Kind::Float); // [N, 1, frames]
        for conv in &self.temporal {
            maps.push(conv.forward(&averaged).narrow(2, 0, frames).relu());
        }
        let front = self.front_bn.forward_t(&Tensor::cat(&maps, 1), train);
        let mut outs = vec![front.shallow_clone()];
        let mut h = front;
        for (i, (conv, bn)) in self.backend.iter().enumerate() {
            let y = bn.forward_t(&conv.forward(&h).relu(), train);
            h = if i == 0 { y } else { y + h };
            outs.push(h.shallow_clone());
        }
        let all = Tensor::cat(&outs, 1);
        let pooled = Tensor::cat(&[all.amax([2i64].as_slice(), false), all.mean_dim([2i64].as_slice(), false, Kind::Float)], 1);
        self.project.forward(&pooled)
    }
}

/// The audio stream: chunk vectors from the front end, a learned `[AUD]` token in front,
/// learned positions, and transformer layers. Its `[AUD]` output is the clip's embedding
/// (what the downstream probes and the experiment evaluate).
#[derive(Debug)]
pub struct MusicEncoder {
    /// The per-chunk front end.
    pub front_end: MusicnnFrontEnd,
    token: Tensor,
    positions: Tensor,
    layers: Vec<TransformerLayer>,
    norm: nn::LayerNorm,
    chunks: i64,
    d_model: i64,
}

impl MusicEncoder {
    /// The audio stream of `cfg` under `p`.
    pub fn new(p: &nn::Path, cfg: &MulapConfig) -> Result<Self> {
        let layers = (0..cfg.audio_layers)
            .map(|i| TransformerLayer::new(&(p / format!("layer{i}")), cfg.d_model, cfg.heads, cfg.mlp, cfg.dropout))
            .collect::<Result<_>>()?;
        Ok(Self {
            front_end: MusicnnFrontEnd::new(&(p / "front_end"), cfg),
            token: p.var("audio_token", &[1, 1, cfg.d_model], nn::Init::Randn { mean: 0.0, stdev: 0.02 }),
            positions: p.var("positions", &[1, cfg.chunks + 1, cfg.d_model], nn::Init::Randn { mean: 0.0, stdev: 0.02 }),
            layers,
            norm: nn::layer_norm(p / "norm", vec![cfg.d_model], Default::default()),
            chunks: cfg.chunks,
            d_model: cfg.d_model,
        })
    }

    /// The chunk vectors `[N, C, d]` of clips `[N, C, frames, bins]`.
    pub fn chunk_vectors(&self, clips: &Tensor, train: bool) -> Result<Tensor> {
        let s = clips.size();
        if s.len() != 4 || s[1] != self.chunks {
            bail!("the music encoder takes clips [N, {}, frames, bins], not {s:?}", self.chunks);
        }
        let flat = clips.f_reshape([s[0] * s[1], s[2], s[3]])?;
        Ok(self.front_end.forward_t(&flat, train).view([s[0], s[1], self.d_model]))
    }

    /// Token states `[N, 1 + C, d]` (`[AUD]` first) of chunk vectors `[N, C, d]`.
    pub fn encode(&self, chunk_vectors: &Tensor, train: bool) -> Result<Tensor> {
        let n = chunk_vectors.size()[0];
        let mut h = Tensor::cat(&[self.token.expand([n, 1, self.d_model], false), chunk_vectors.shallow_clone()], 1) + &self.positions;
        for layer in &self.layers {
            h = layer.forward(&h, None, None, train)?;
        }
        Ok(self.norm.forward(&h))
    }
}

impl Backbone for MusicEncoder {
    fn forward_t(&self, clips: &Tensor, train: bool) -> Tensor {
        let states = self.chunk_vectors(clips, train).and_then(|v| self.encode(&v, train)).expect("clips of the encoder's shape");
        states.select(1, 0)
    }

    fn out_dim(&self) -> i64 {
        self.d_model
    }
}

/// The text stream: word-piece and position embeddings, layer norm, transformer layers
/// with the padding masked out.
#[derive(Debug)]
pub struct CaptionEncoder {
    words: nn::Embedding,
    positions: Tensor,
    embed_norm: nn::LayerNorm,
    layers: Vec<TransformerLayer>,
    norm: nn::LayerNorm,
    max_tokens: i64,
}

impl CaptionEncoder {
    /// The text stream of `cfg` for a vocabulary of `vocab` tokens under `p`.
    pub fn new(p: &nn::Path, cfg: &MulapConfig, vocab: i64) -> Result<Self> {
        let layers = (0..cfg.text_layers)
            .map(|i| TransformerLayer::new(&(p / format!("layer{i}")), cfg.d_model, cfg.heads, cfg.mlp, cfg.dropout))
            .collect::<Result<_>>()?;
        Ok(Self {
            words: nn::embedding(p / "words", vocab, cfg.d_model, Default::default()),
            positions: p.var("positions", &[1, cfg.max_tokens, cfg.d_model], nn::Init::Randn { mean: 0.0, stdev: 0.02 }),
            embed_norm: nn::layer_norm(p / "embed_norm", vec![cfg.d_model], Default::default()),
            layers,
            norm: nn::layer_norm(p / "norm", vec![cfg.d_model], Default::default()),
            max_tokens: cfg.max_tokens,
        })
    }

    /// Token states `[N, L, d]` of ids `[N, L]` (`padding` true at `[PAD]`).
    pub fn encode(&self, ids: &Tensor, padding: &Tensor, train: bool) -> Result<Tensor> {
        let l = ids.size()[1];
        if l > self.max_tokens {
            bail!("captions of {l} tokens are longer than the model's {}", self.max_tokens);
        }
        let mut h = self.embed_norm.forward(&(self.words.forward(ids) + self.positions.narrow(1, 0, l)));
        for layer in &self.layers {
            h = layer.forward(&h, None, Some(padding), train)?;
        }
        Ok(self.norm.forward(&h))
    }
}

/// A co-attention layer: the caption attends to the clip and the clip to the caption, both
/// from the states before the layer.
#[derive(Debug)]
pub struct CoAttention {
    text_to_audio: TransformerLayer,
    audio_to_text: TransformerLayer,
}

impl CoAttention {
    /// A layer of `cfg` under `p`.
    pub fn new(p: &nn::Path, cfg: &MulapConfig) -> Result<Self> {
        Ok(Self {
            text_to_audio: TransformerLayer::new(&(p / "text_to_audio"), cfg.d_model, cfg.heads, cfg.mlp, cfg.dropout)?,
            audio_to_text: TransformerLayer::new(&(p / "audio_to_text"), cfg.d_model, cfg.heads, cfg.mlp, cfg.dropout)?,
        })
    }

    /// New `(text, audio)` states; `padding` masks the caption's `[PAD]` keys.
    pub fn forward(&self, text: &Tensor, audio: &Tensor, padding: &Tensor, train: bool) -> Result<(Tensor, Tensor)> {
        let t = self.text_to_audio.forward(text, Some(audio), None, train)?;
        let a = self.audio_to_text.forward(audio, Some(text), Some(padding), train)?;
        Ok((t, a))
    }
}
