//! VICReg: variance-invariance-covariance regularisation (arXiv 2105.04906).
use super::check_pair;
use anyhow::Result;
use tch::Tensor;

/// Coefficients of the three VICReg terms; defaults are the official 25 / 25 / 1.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VicRegWeights {
    /// Weight of the invariance (MSE) term.
    pub sim: f64,
    /// Weight of the variance (standard-deviation hinge) term.
    pub std: f64,
    /// Weight of the covariance (off-diagonal) term.
    pub cov: f64,
}

impl Default for VicRegWeights {
    fn default() -> Self {
        Self { sim: 25.0, std: 25.0, cov: 1.0 }
    }
}

fn off_diagonal_square_sum(c: &Tensor) -> Tensor {
    c.pow_tensor_scalar(2).sum(None) - c.diagonal(0, 0, 1).pow_tensor_scalar(2).sum(None)
}

/// `sim MSE(z1, z2) + std [0.5 mean relu(1 - s1) + 0.5 mean relu(1 - s2)] + cov [offdiag(C1)^2/D + offdiag(C2)^2/D]`
/// with `s = sqrt(Var + 1e-4)` (unbiased) and covariances divided by `N - 1`.
pub fn vicreg(z1: &Tensor, z2: &Tensor, w: VicRegWeights) -> Result<Tensor> {
    let (n, d) = check_pair("vicreg", z1, z2, 2)?;
    let repr = z1.mse_loss(z2, tch::Reduction::Mean);
    let x = z1 - z1.mean_dim([0i64].as_slice(), true, z1.kind());
    let y = z2 - z2.mean_dim([0i64].as_slice(), true, z2.kind());
    let std_x = (x.var_dim([0i64].as_slice(), true, false) + 1e-4).sqrt();
    let std_y = (y.var_dim([0i64].as_slice(), true, false) + 1e-4).sqrt();
    let std_loss = (-std_x + 1.0).relu().mean(None) / 2.0 + (-std_y + 1.0).relu().mean(None) / 2.0;
    let cov_x = x.transpose(0, 1).matmul(&x) / (n - 1) as f64;
    let cov_y = y.transpose(0, 1).matmul(&y) / (n - 1) as f64;
    let cov_loss = off_diagonal_square_sum(&cov_x) / d as f64 + off_diagonal_square_sum(&cov_y) / d as f64;
    Ok(repr * w.sim + std_loss * w.std + cov_loss * w.cov)
}
