//! MoCo objectives: v2 InfoNCE against a queue of keys (arXiv 2003.04297) and v3's
//! in-batch contrastive loss (arXiv 2104.02057). Keys never carry gradient.
use super::{check_pair, cross_entropy_per_row, l2_normalize};
use anyhow::{bail, Result};
use tch::{Kind, Tensor};

/// MoCo v2 InfoNCE per query: logits `[q.k+, q.queue^T] / t`, cross-entropy to index 0.
/// `queue` holds `K` unit-norm keys as rows, shape `[K, D]`.
pub fn moco_infonce_per_sample(q: &Tensor, k: &Tensor, queue: &Tensor, temperature: f64) -> Result<Tensor> {
    let (n, d) = check_pair("moco_infonce", q, k, 1)?;
    let qs = queue.size();
    if qs.len() != 2 || qs[1] != d {
        bail!("moco_infonce: queue must be [K, {d}], got {qs:?}");
    }
    let q = l2_normalize(q);
    let k = l2_normalize(&k.detach());
    let l_pos = (&q * &k).sum_dim_intlist([1i64].as_slice(), true, q.kind());
    let l_neg = q.matmul(&queue.detach().transpose(0, 1));
    let logits = Tensor::cat(&[l_pos, l_neg], 1) / temperature;
    let targets = Tensor::zeros([n], (Kind::Int64, q.device()));
    Ok(cross_entropy_per_row(&logits, &targets))
}

/// Mean MoCo v2 InfoNCE over the batch.
pub fn moco_infonce(q: &Tensor, k: &Tensor, queue: &Tensor, temperature: f64) -> Result<Tensor> {
    Ok(moco_infonce_per_sample(q, k, queue, temperature)?.mean(None))
}

/// MoCo v3 per query: `CE(q k^T / t, arange) * 2t`, keys of the same batch as negatives.
pub fn moco_v3_per_sample(q: &Tensor, k: &Tensor, temperature: f64) -> Result<Tensor> {
    let (n, _) = check_pair("moco_v3", q, k, 1)?;
    let q = l2_normalize(q);
    let k = l2_normalize(&k.detach());
    let logits = q.matmul(&k.transpose(0, 1)) / temperature;
    let targets = Tensor::arange(n, (Kind::Int64, q.device()));
    Ok(cross_entropy_per_row(&logits, &targets) * (2.0 * temperature))
}

/// Mean MoCo v3 loss over the batch (one direction; methods symmetrise).
pub fn moco_v3(q: &Tensor, k: &Tensor, temperature: f64) -> Result<Tensor> {
    Ok(moco_v3_per_sample(q, k, temperature)?.mean(None))
}
