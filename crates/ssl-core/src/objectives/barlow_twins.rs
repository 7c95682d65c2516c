//! Barlow Twins redundancy reduction (arXiv 2103.03230).
use super::check_pair;
use anyhow::Result;
use tch::Tensor;

/// Weight of the off-diagonal term in the official code (`lambd = 0.0051`).
pub const BARLOW_TWINS_LAMBDA: f64 = 0.0051;

/// Standardises along the batch like `BatchNorm1d(affine=False)` in training mode
/// (biased variance, eps 1e-5), as the official implementation does.
pub(crate) fn batch_standardize(z: &Tensor) -> Tensor {
    let mean = z.mean_dim([0i64].as_slice(), true, z.kind());
    let var = z.var_dim([0i64].as_slice(), false, true);
    (z - mean) / (var + 1e-5).sqrt()
}

/// `sum_i (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2` with `C = z1n^T z2n / N`.
pub fn barlow_twins(z1: &Tensor, z2: &Tensor, lambda: f64) -> Result<Tensor> {
    let (n, _) = check_pair("barlow_twins", z1, z2, 2)?;
    let c = batch_standardize(z1).transpose(0, 1).matmul(&batch_standardize(z2)) / n as f64;
    let diag = c.diagonal(0, 0, 1);
    let on_diag = (-&diag + 1.0).pow_tensor_scalar(2).sum(None);
    let off_diag = c.pow_tensor_scalar(2).sum(None) - diag.pow_tensor_scalar(2).sum(None);
    Ok(on_diag + off_diag * lambda)
}
