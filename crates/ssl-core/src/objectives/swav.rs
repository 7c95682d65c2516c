//! SwAV (arXiv 2006.09882): swapped prediction of online cluster assignments. The codes of
//! each global view come from Sinkhorn-Knopp over its prototype scores (equal use of the
//! prototypes within the batch, optionally with queued scores prepended); every other view
//! predicts them through a softmax at `temperature`. Defaults of the official code:
//! temperature 0.1, epsilon 0.05, 3 iterations.
use anyhow::{bail, Result};
use tch::{Kind, Tensor};

/// Softmax temperature of the predictions in the official code (`temperature = 0.1`).
pub const SWAV_TEMPERATURE: f64 = 0.1;
/// Sinkhorn-Knopp's entropy regularisation in the official code (`epsilon = 0.05`).
pub const SWAV_EPSILON: f64 = 0.05;
/// Sinkhorn-Knopp iterations in the official code (`sinkhorn_iterations = 3`).
pub const SWAV_ITERATIONS: usize = 3;

/// Codes `[B, K]` of prototype scores `[B, K]`: `exp(scores / epsilon)`, then
/// `iterations` rounds of normalising the prototypes to `1/K` and the samples to `1/B`,
/// scaled so that each sample's codes sum to 1. Carries no gradient (computed in f64).
pub fn sinkhorn_knopp(scores: &Tensor, epsilon: f64, iterations: usize) -> Result<Tensor> {
    let s = scores.size();
    if s.len() != 2 || s[0] < 1 || s[1] < 1 {
        bail!("sinkhorn: expected scores [B, K], got {s:?}");
    }
    if !(epsilon > 0.0 && epsilon.is_finite()) {
        bail!("sinkhorn: epsilon must be a positive finite number, got {epsilon}");
    }
    let (b, k) = (s[0] as f64, s[1] as f64);
    Ok(tch::no_grad(|| {
        let mut q = (scores.detach().to_kind(Kind::Double) / epsilon).exp().transpose(0, 1);
        q = &q / q.sum(Kind::Double);
        for _ in 0..iterations {
            q = &q / q.sum_dim_intlist([1i64].as_slice(), true, Kind::Double) / k;
            q = &q / q.sum_dim_intlist([0i64].as_slice(), true, Kind::Double) / b;
        }
        (q * b).transpose(0, 1).to_kind(scores.kind())
    }))
}

/// Per-sample, per-view SwAV losses `[N, V]` from the prototype scores of each view
/// (`[N, K]` each; the first `global` views assign codes). `queues[i]`, when given, are
/// queued scores `[Q, K]` of global view `i` prepended before Sinkhorn-Knopp. The mean of
/// the result is the official loss `1/G sum_c 1/(V-1) sum_{v != c} CE(q_c, p_v)`.
pub fn swav_per_view(scores: &[Tensor], global: usize, temperature: f64, epsilon: f64, iterations: usize, queues: &[Tensor]) -> Result<Tensor> {
    let v = scores.len();
    if v < 2 || global < 1 || global > v {
        bail!("swav: needs at least 2 views and 1..={v} global ones, got {v} views and {global} global");
    }
    if !queues.is_empty() && queues.len() != global {
        bail!("swav: one queue per global view ({global}), got {}", queues.len());
    }
    if !(temperature > 0.0 && temperature.is_finite()) {
        bail!("swav: temperature must be a positive finite number, got {temperature}");
    }
    let shape = scores[0].size();
    if shape.len() != 2 || scores.iter().any(|s| s.size() != shape) {
        bail!("swav: every view's scores must be [N, K] of one shape, got {:?}", scores.iter().map(|s| s.size()).collect::<Vec<_>>());
    }
    let n = shape[0];
    let mut codes = Vec::with_capacity(global);
    for (c, own) in scores.iter().take(global).enumerate() {
        let out = match queues.get(c) {
            Some(q) if q.dim() == 2 && q.size()[1] == shape[1] => Tensor::cat(&[q.detach(), own.detach()], 0),
            Some(q) => bail!("swav: queued scores must be [Q, {}], got {:?}", shape[1], q.size()),
            None => own.detach(),
        };
        let q = sinkhorn_knopp(&out, epsilon, iterations)?;
        codes.push(q.narrow(0, q.size()[0] - n, n));
    }
    let log_p: Vec<Tensor> = scores.iter().map(|s| (s / temperature).log_softmax(1, s.kind())).collect();
    let scale = v as f64 / (global as f64 * (v - 1) as f64);
    let mut columns = Vec::with_capacity(v);
    for (view, lp) in log_p.iter().enumerate() {
        let mut total: Option<Tensor> = None;
        for (c, q) in codes.iter().enumerate() {
            if c == view {
                continue;
            }
            let ce = -(q * lp).sum_dim_intlist([1i64].as_slice(), false, lp.kind());
            total = Some(match total {
                Some(t) => t + ce,
                None => ce,
            });
        }
        columns.push(match total {
            Some(t) => t * scale,
            None => Tensor::zeros([n], (lp.kind(), lp.device())),
        });
    }
    Ok(Tensor::stack(&columns, 1))
}

/// The official SwAV loss (the mean of [`swav_per_view`]).
pub fn swav(scores: &[Tensor], global: usize, temperature: f64, epsilon: f64, iterations: usize, queues: &[Tensor]) -> Result<Tensor> {
    Ok(swav_per_view(scores, global, temperature, epsilon, iterations, queues)?.mean(None))
}
