//! Negative-cosine objectives of the non-contrastive Siamese methods: BYOL
//! (arXiv 2006.07733) and SimSiam (arXiv 2011.10566). Targets are stop-gradient.
use super::{check_pair, l2_normalize};
use anyhow::Result;
use tch::Tensor;

/// `-cos(p_i, sg z_i)` per sample.
pub fn negative_cosine_per_sample(p: &Tensor, z: &Tensor) -> Result<Tensor> {
    check_pair("negative_cosine", p, z, 1)?;
    let cos = (l2_normalize(p) * l2_normalize(&z.detach())).sum_dim_intlist([1i64].as_slice(), false, p.kind());
    Ok(-cos)
}

/// BYOL regression loss per sample: `2 - 2 cos(p, sg z)`.
pub fn byol_per_sample(p: &Tensor, z: &Tensor) -> Result<Tensor> {
    Ok(negative_cosine_per_sample(p, z)? * 2.0 + 2.0)
}

/// Mean BYOL loss of one direction; BYOL symmetrises by swapping the views.
pub fn byol(p: &Tensor, z: &Tensor) -> Result<Tensor> {
    Ok(byol_per_sample(p, z)?.mean(None))
}

/// SimSiam: `0.5 D(p1, sg z2) + 0.5 D(p2, sg z1)` with `D = -cos`, averaged over the batch.
pub fn simsiam(p1: &Tensor, p2: &Tensor, z1: &Tensor, z2: &Tensor) -> Result<Tensor> {
    let a = negative_cosine_per_sample(p1, z2)?.mean(None);
    let b = negative_cosine_per_sample(p2, z1)?.mean(None);
    Ok(a * 0.5 + b * 0.5)
}
