//! Neural activation coding (arXiv 2112.04014): a contrastive bound on the mutual
//! information between a noisy binary-ish code of one view and the other view.
use super::check_pair;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// NAC settings: code width and the flip probability of the binary symmetric channel.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct NacConfig {
    /// Width of the code (the output of the code and `q` heads), 1 to 65536.
    pub code_dim: i64,
    /// 0.1 for representation learning, 0.4 for hashing.
    pub flip: f64,
}

impl Default for NacConfig {
    fn default() -> Self {
        Self { code_dim: 128, flip: 0.1 }
    }
}

/// Scales raw pre-activations by `1/sqrt(d)` as the official model does (the code is
/// `tanh` of this); `sign` of the code is the hash.
pub fn nac_code(h: &Tensor) -> Tensor {
    let d = *h.size().last().unwrap_or(&1) as f64;
    h / d.sqrt()
}

/// Per-sample NAC loss, `[N, 2]` (column v for the anchors of view v+1).
///
/// `u1, u2`: pre-tanh codes (already scaled by `1/sqrt(d)`); `l1, l2`: logits of the
/// factorised Bernoulli `q` from each view; `flip`: `[2N, D]` of ±1 (the channel's draw,
/// rows of view 1 first); `p`: flip probability. With `Y = tanh([u1; u2])`,
/// `Ỹ = flip ⊙ Y`, `β = ½ log((1-p)/p)`, the loss of row i is
/// `-log q(ỹ_i | l_other) + logsumexp_j β ỹ_i·y_j`.
pub fn nac_per_sample(u1: &Tensor, u2: &Tensor, l1: &Tensor, l2: &Tensor, flip: &Tensor, p: f64) -> Result<Tensor> {
    let (n, d) = check_pair("nac", u1, u2, 1)?;
    check_pair("nac logits", l1, l2, 1)?;
    if l1.size() != [n, d] || flip.size() != [2 * n, d] {
        bail!("nac: logits must be [{n}, {d}] and the flip mask [{}, {d}], got {:?} and {:?}", 2 * n, l1.size(), flip.size());
    }
    if !(p > 0.0 && p < 0.5) {
        bail!("nac: flip probability must be in (0, 0.5), got {p}");
    }
    let y = Tensor::cat(&[u1, u2], 0).tanh();
    let y_noisy = &y * flip.detach();
    let beta = 0.5 * ((1.0 - p) / p).ln();
    let scores = y_noisy.matmul(&y.transpose(0, 1)) * beta;
    let partner_logits = Tensor::cat(&[l2, l1], 0);
    let log_q = (&y_noisy * &partner_logits + partner_logits.log_sigmoid() + (-&partner_logits).log_sigmoid() + 4f64.ln()).sum_dim_intlist(
        [1i64].as_slice(),
        false,
        y.kind(),
    ) * 0.5;
    let per_row = scores.logsumexp([1i64].as_slice(), false) - log_q;
    Ok(per_row.view([2, n]).transpose(0, 1))
}

/// Mean NAC loss over the 2N rows.
pub fn nac(u1: &Tensor, u2: &Tensor, l1: &Tensor, l2: &Tensor, flip: &Tensor, p: f64) -> Result<Tensor> {
    Ok(nac_per_sample(u1, u2, l1, l2, flip, p)?.mean(None))
}

/// Draws the channel: `+1` with probability `1 - p`, `-1` with probability `p`.
pub fn nac_flip_mask(shape: [i64; 2], p: f64, rng: &mut impl rand::Rng, device: tch::Device) -> Tensor {
    let signs: Vec<f32> = (0..shape[0] * shape[1]).map(|_| if rng.random::<f64>() > p { 1.0 } else { -1.0 }).collect();
    Tensor::from_slice(&signs).view(shape).to_device(device)
}
