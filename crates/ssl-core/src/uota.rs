//! UOTA, outlier arbitration between views (arXiv 2112.08132): views far from their
//! instance's centre (in the Mahalanobis sense over the batch) get lower loss weights.
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// UOTA settings. `start_fraction` of training passes before weighting switches on (the
/// paper: half); `tau` flattens the weights (350 in the official code).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct UotaConfig {
    /// Whether UOTA weights the views; when off, the loss is the plain mean.
    pub enabled: bool,
    /// Fraction of training before weighting starts, in `[0, 1]`.
    pub start_fraction: f64,
    /// Temperature of the weights, finite and `> 0`.
    pub tau: f64,
    /// Ridge added to the covariance, finite and `> 0`.
    pub eps: f64,
    /// Views that define an instance's centre (the global views, first in the batch), `>= 1`.
    pub global_views: i64,
}

impl UotaConfig {
    /// Checks every setting against its documented range, naming the key.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.start_fraction) {
            bail!("train.uota.start_fraction must be in [0, 1] (a fraction of training), got {}", self.start_fraction);
        }
        for (name, v) in [("tau", self.tau), ("eps", self.eps)] {
            if !(v > 0.0 && v.is_finite()) {
                bail!("train.uota.{name} must be a positive finite number, got {v}");
            }
        }
        if self.global_views < 1 {
            bail!("train.uota.global_views must be at least 1, got {}", self.global_views);
        }
        Ok(())
    }
}

impl Default for UotaConfig {
    fn default() -> Self {
        Self { enabled: false, start_fraction: 0.5, tau: 350.0, eps: 1e-8, global_views: 2 }
    }
}

/// Per-view weights `[N, M]` for unit-norm projections `z` of shape `[N, M, D]`:
/// `mu_i` = mean of the first `global_views` views of instance i, `delta = z - mu`,
/// `Sigma = delta^T delta / NM + eps I`, `d = delta^T Sigma^-1 delta / tau`,
/// `w = NM softmax(-d)` over all views of the batch. Carries no gradient.
pub fn uota_weights(z: &Tensor, global_views: i64, tau: f64, eps: f64) -> Result<Tensor> {
    let s = z.size();
    if s.len() != 3 {
        bail!("uota: projections must be [N, M, D], got {s:?}");
    }
    let (n, m, d) = (s[0], s[1], s[2]);
    if global_views < 1 || global_views > m {
        bail!("uota: global_views must be in 1..={m}, got {global_views}");
    }
    let kind = z.kind();
    tch::no_grad(|| {
        let z = z.detach().to_kind(Kind::Double);
        let mu = z.narrow(1, 0, global_views).mean_dim([1i64].as_slice(), true, Kind::Double);
        let delta = (&z - mu).reshape([n * m, d]);
        let sigma = delta.transpose(0, 1).matmul(&delta) / (n * m) as f64 + Tensor::eye(d, (Kind::Double, z.device())) * eps;
        let solved = Tensor::f_linalg_solve(&sigma, &delta.transpose(0, 1), true)?;
        let dist = (&delta * solved.transpose(0, 1)).sum_dim_intlist([1i64].as_slice(), false, Kind::Double) / tau;
        let w = (-dist).softmax(0, Kind::Double) * (n * m) as f64;
        Ok(w.reshape([n, m]).to_kind(kind))
    })
}

/// `mean(w * per_view)` with `w` from [`uota_weights`]; `per_view` is `[N, M]`.
pub fn uota_weighted_loss(per_view: &Tensor, z: &Tensor, cfg: &UotaConfig) -> Result<Tensor> {
    let w = uota_weights(z, cfg.global_views.min(z.size()[1]), cfg.tau, cfg.eps)?;
    if w.size() != per_view.size() {
        bail!("uota: per-view losses {:?} do not match projections {:?}", per_view.size(), z.size());
    }
    Ok((w.to_kind(per_view.kind()) * per_view).mean(None))
}
