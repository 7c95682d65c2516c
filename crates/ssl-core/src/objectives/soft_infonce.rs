//! InfoNCE with soft targets (i-Mix, MixCo): a mixed sample is the positive of each key it
//! was mixed from, weighted by its share, `L_i = -sum_j y_ij log softmax_j(q_i . k_j / t)`
//! over the batch's keys. With one-hot targets it is the in-batch InfoNCE.
use super::l2_normalize;
use anyhow::{bail, Result};
use tch::{Kind, Tensor};

/// Per-sample soft-target InfoNCE of queries `q` `[N, D]` against keys `k` `[M, D]` (both
/// L2-normalised here) with target weights `targets` `[N, M]`, rows summing to 1.
pub fn soft_infonce_per_sample(q: &Tensor, k: &Tensor, targets: &Tensor, temperature: f64) -> Result<Tensor> {
    let (qs, ks, ts) = (q.size(), k.size(), targets.size());
    if qs.len() != 2 || ks.len() != 2 || qs[1] != ks[1] || ts != [qs[0], ks[0]] {
        bail!("soft InfoNCE: queries [N, D], keys [M, D] and targets [N, M], got {qs:?}, {ks:?}, {ts:?}");
    }
    if temperature.is_nan() || temperature <= 0.0 {
        bail!("soft InfoNCE: the temperature must be positive, got {temperature}");
    }
    let logits = l2_normalize(q).matmul(&l2_normalize(k).transpose(0, 1)) / temperature;
    Ok(-(targets * logits.log_softmax(1, Kind::Float)).sum_dim_intlist([1].as_slice(), false, Kind::Float))
}

/// The batch mean of [`soft_infonce_per_sample`].
pub fn soft_infonce(q: &Tensor, k: &Tensor, targets: &Tensor, temperature: f64) -> Result<Tensor> {
    Ok(soft_infonce_per_sample(q, k, targets, temperature)?.mean(Kind::Float))
}

/// Targets of mixed samples: row `i` puts `lambda[i]` on key `i` and the rest on key
/// `partner[i]` (`[N]` each; `partner[i] != i`).
pub fn mix_targets(lambda: &Tensor, partner: &Tensor, keys: i64) -> Tensor {
    let n = lambda.size()[0];
    let opts = (Kind::Float, lambda.device());
    let own =
        Tensor::zeros([n, keys], opts).scatter(1, &Tensor::arange(n, (Kind::Int64, lambda.device())).unsqueeze(1), &lambda.to_kind(Kind::Float).unsqueeze(1));
    let other = Tensor::zeros([n, keys], opts).scatter(1, &partner.unsqueeze(1), &(-lambda.to_kind(Kind::Float) + 1.0).unsqueeze(1));
    own + other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_infonce_matches_its_closed_form() {
        // Orthonormal queries = keys: logits diag 1/t, else 0.
        let e = Tensor::eye(2, (Kind::Float, tch::Device::Cpu));
        let t = 0.5;
        let p_own = (1.0f64 / t).exp() / ((1.0f64 / t).exp() + 1.0);
        // One-hot targets: -log p_own.
        let hard = soft_infonce(&e, &e, &e, t).unwrap().double_value(&[]);
        assert!((hard + p_own.ln()).abs() < 1e-5, "{hard}");
        // Mixed 0.7 / 0.3 with the other key: -(0.7 log p_own + 0.3 log (1 - p_own)).
        let lam = Tensor::from_slice(&[0.7f32, 0.7]);
        let partner = Tensor::from_slice(&[1i64, 0]);
        let y = mix_targets(&lam, &partner, 2);
        assert_eq!(Vec::<f32>::try_from(y.flatten(0, -1)).unwrap(), [0.7, 0.3, 0.3, 0.7]);
        let soft = soft_infonce(&e, &e, &y, t).unwrap().double_value(&[]);
        let want = -(0.7 * p_own.ln() + 0.3 * (1.0 - p_own).ln());
        assert!((soft - want).abs() < 1e-5, "{soft} vs {want}");
        // Gradient: pushes the query towards the keys in proportion to the targets' excess.
        let q = e.copy().set_requires_grad(true);
        soft_infonce(&q, &e, &y, t).unwrap().backward();
        let g = q.grad();
        // d/dq_0 of the loss along k_1: (p_other - 0.3) / t / N with p_other = 1 - p_own, scaled by
        // the normalisation's projection (q_0 = e_0, so the k_1 direction is orthogonal: factor 1).
        let want_g = ((1.0 - p_own) - 0.3) / t / 2.0;
        assert!((g.double_value(&[0, 1]) - want_g).abs() < 1e-5, "{g:?}");
        assert!(soft_infonce(&e, &e, &Tensor::ones([3, 2], (Kind::Float, tch::Device::Cpu)), t).is_err());
        assert!(soft_infonce(&e, &e, &e, 0.0).is_err());
    }
}
