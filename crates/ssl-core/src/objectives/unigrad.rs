//! UniGrad (arXiv 2112.05141): the gradient shared by Siamese methods, written as a
//! surrogate loss whose gradient w.r.t. the normalised online projection is
//! `(-z2m + lambda z1 F) / N`, with `F` a moving average of momentum-feature correlations.
use super::{check_pair, l2_normalize};
use anyhow::{bail, Result};
use tch::{Kind, Tensor};

/// Per-sample surrogate `<sg(-ẑ2m + λ ẑ1 F), ẑ1>`; `z1` online (normalised here, with
/// gradient), `z2m` momentum projection of the other view (detached), `f` is `[D, D]`.
pub fn unigrad_per_sample(z1: &Tensor, z2m: &Tensor, f: &Tensor, lambda: f64) -> Result<Tensor> {
    let (_, d) = check_pair("unigrad", z1, z2m, 1)?;
    if f.size() != [d, d] {
        bail!("unigrad: correlation matrix must be [{d}, {d}], got {:?}", f.size());
    }
    let z1 = l2_normalize(z1);
    let z2m = l2_normalize(&z2m.detach());
    let target = (-z2m + z1.matmul(&f.detach()) * lambda).detach();
    let kind = z1.kind();
    Ok((target * z1).sum_dim_intlist([1i64].as_slice(), false, kind))
}

/// Mean of [`unigrad_per_sample`] over the batch (one direction).
pub fn unigrad(z1: &Tensor, z2m: &Tensor, f: &Tensor, lambda: f64) -> Result<Tensor> {
    Ok(unigrad_per_sample(z1, z2m, f, lambda)?.mean(None))
}

/// The moving correlation matrix `F <- rho F + (1 - rho) (ẑ1mᵀẑ1m + ẑ2mᵀẑ2m) / 2N` of
/// momentum features; the first update sets `F` to the batch estimate.
#[derive(Debug)]
pub struct UniGradCorrelation {
    /// The correlation matrix `F`, `[D, D]` (zeros until the first update).
    pub f: Tensor,
    /// EMA rate `rho`: the weight of the old `F` in each update.
    pub rho: f64,
    /// Whether an update has set `F` yet (the first one replaces it).
    pub initialised: bool,
}

impl UniGradCorrelation {
    /// A zero `[dim, dim]` matrix on `device`, to be set by the first [`UniGradCorrelation::update`].
    pub fn new(dim: i64, rho: f64, device: tch::Device) -> Self {
        Self { f: Tensor::zeros([dim, dim], (Kind::Float, device)), rho, initialised: false }
    }

    /// Updates `F` from the momentum projections of both views (before computing the loss,
    /// as the official code does).
    pub fn update(&mut self, z1m: &Tensor, z2m: &Tensor) -> Result<()> {
        let (n, d) = check_pair("unigrad correlation", z1m, z2m, 1)?;
        if self.f.size() != [d, d] {
            bail!("unigrad correlation: state is {:?}, projections have {d} dims", self.f.size());
        }
        tch::no_grad(|| {
            let a = l2_normalize(&z1m.detach());
            let b = l2_normalize(&z2m.detach());
            let batch = (a.transpose(0, 1).matmul(&a) + b.transpose(0, 1).matmul(&b)) / (2 * n) as f64;
            let batch = batch.to_kind(self.f.kind());
            if self.initialised {
                self.f = &self.f * self.rho + batch * (1.0 - self.rho);
            } else {
                self.f = batch;
                self.initialised = true;
            }
        });
        Ok(())
    }
}
