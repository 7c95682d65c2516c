//! Transformer layers: multi-head attention (self- or cross-), and a pre-norm layer of
//! attention + MLP with residuals. Parameter names follow `torch.nn.MultiheadAttention`'s
//! separate projections (`q_proj`, `k_proj`, `v_proj`, `out_proj`), `norm1` / `norm2`,
//! `fc1` / `fc2`.
use anyhow::{bail, Result};
use tch::{nn, nn::Module, Kind, Tensor};

/// Scaled dot-product attention over `heads` heads of `dim / heads` channels each.
#[derive(Debug)]
pub struct MultiHeadAttention {
    q_proj: nn::Linear,
    k_proj: nn::Linear,
    v_proj: nn::Linear,
    out_proj: nn::Linear,
    heads: i64,
    dim: i64,
}

impl MultiHeadAttention {
    /// Attention of width `dim` (a multiple of `heads`) under `p`.
    pub fn new(p: &nn::Path, dim: i64, heads: i64) -> Result<Self> {
        if heads < 1 || dim < 1 || dim % heads != 0 {
            bail!("attention: the width {dim} must be a positive multiple of the {heads} heads");
        }
        let lin = |name: &str| nn::linear(p / name, dim, dim, Default::default());
        Ok(Self { q_proj: lin("q_proj"), k_proj: lin("k_proj"), v_proj: lin("v_proj"), out_proj: lin("out_proj"), heads, dim })
    }

    /// `softmax(Q K^T / sqrt(d)) V` of `queries` `[N, Lq, D]` on `context` `[N, Lk, D]`, then the
    /// output projection. `padding` `[N, Lk]` (true where a key is padding) takes those keys
    /// out of every softmax; a row of only padding is refused.
    pub fn forward(&self, queries: &Tensor, context: &Tensor, padding: Option<&Tensor>) -> Result<Tensor> {
        let (qs, cs) = (queries.size(), context.size());
        if qs.len() != 3 || cs.len() != 3 || qs[0] != cs[0] || qs[2] != self.dim || cs[2] != self.dim {
            bail!("attention of width {}: queries {qs:?} and context {cs:?} must be [N, L, {}] with the same N", self.dim, self.dim);
        }
        let (n, lq, lk, h, d) = (qs[0], qs[1], cs[1], self.heads, self.dim / self.heads);
        let split = |t: Tensor, l: i64| t.view([n, l, h, d]).transpose(1, 2);
        let q = split(self.q_proj.forward(queries), lq);
        let k = split(self.k_proj.forward(context), lk);
        let v = split(self.v_proj.forward(context), lk);
        let mut scores = q.matmul(&k.transpose(-2, -1)) / (d as f64).sqrt();
        if let Some(pad) = padding {
            if pad.size() != [n, lk] {
                bail!("attention: the padding mask is {:?}, not [{n}, {lk}]", pad.size());
            }
            let all_padding = pad.to_kind(Kind::Bool).all_dim(1, false).any().int64_value(&[]) != 0;
            if all_padding {
                bail!("attention: a row of the context is padding only");
            }
            scores = scores.masked_fill(&pad.to_kind(Kind::Bool).view([n, 1, 1, lk]), f64::NEG_INFINITY);
        }
        let out = scores.softmax(-1, Kind::Float).matmul(&v).transpose(1, 2).contiguous().view([n, lq, self.dim]);
        Ok(self.out_proj.forward(&out))
    }
}

/// A pre-norm transformer layer: `x + attn(norm1(x), context)`, then `x + fc2(gelu(fc1(norm2(x))))`.
/// Without a context it is self-attention; with one (another stream's states) it is the
/// cross-attention of a co-attention layer.
#[derive(Debug)]
pub struct TransformerLayer {
    norm1: nn::LayerNorm,
    attention: MultiHeadAttention,
    norm2: nn::LayerNorm,
    fc1: nn::Linear,
    fc2: nn::Linear,
    dropout: f64,
}

impl TransformerLayer {
    /// A layer of width `dim`, `heads` heads, an MLP of `mlp` hidden units, and dropout
    /// (in training) after attention and MLP.
    pub fn new(p: &nn::Path, dim: i64, heads: i64, mlp: i64, dropout: f64) -> Result<Self> {
        if mlp < 1 || !(0.0..1.0).contains(&dropout) {
            bail!("transformer layer: the MLP width must be positive ({mlp}) and dropout in [0, 1) ({dropout})");
        }
        Ok(Self {
            norm1: nn::layer_norm(p / "norm1", vec![dim], Default::default()),
            attention: MultiHeadAttention::new(&(p / "attn"), dim, heads)?,
            norm2: nn::layer_norm(p / "norm2", vec![dim], Default::default()),
            fc1: nn::linear(p / "fc1", dim, mlp, Default::default()),
            fc2: nn::linear(p / "fc2", mlp, dim, Default::default()),
            dropout,
        })
    }

    /// The layer on `x` `[N, L, D]`; `context` (default: `x` itself, normalised) with its
    /// `padding` mask `[N, Lk]`.
    pub fn forward(&self, x: &Tensor, context: Option<&Tensor>, padding: Option<&Tensor>, train: bool) -> Result<Tensor> {
        let h = self.norm1.forward(x);
        let a = match context {
            Some(c) => self.attention.forward(&h, c, padding)?,
            None => self.attention.forward(&h, &h, padding)?,
        };
        let x = x + a.dropout(self.dropout, train);
        let m = self.fc2.forward(&self.fc1.forward(&self.norm2.forward(&x)).gelu("none"));
        Ok(&x + m.dropout(self.dropout, train))
    }
}
