//! Stateless self-supervised objectives.
//!
//! Every objective takes the projections of two (or more) views, shape `[N, D]`, and
//! returns a scalar loss. Those that decompose per view also expose per-sample losses so
//! that view weighting (UOTA) can reweight them. Stop-gradient is `detach()`.
//! Defaults follow the official implementations (see `docs/objectives-notes.md`).

mod barlow_twins;
mod cosine;
mod moco;
mod nac;
mod nt_xent;
mod soft_infonce;
mod swav;
mod unigrad;
mod vicreg;

pub use barlow_twins::{barlow_twins, BARLOW_TWINS_LAMBDA};
pub use cosine::{byol, byol_per_sample, negative_cosine_per_sample, simsiam};
pub use moco::{moco_infonce, moco_infonce_per_sample, moco_v3, moco_v3_per_sample};
pub use nac::{nac, nac_code, nac_flip_mask, nac_per_sample, NacConfig};
pub use nt_xent::{nt_xent, nt_xent_per_view};
pub use soft_infonce::{mix_targets, soft_infonce, soft_infonce_per_sample};
pub use swav::{sinkhorn_knopp, swav, swav_per_view, SWAV_EPSILON, SWAV_ITERATIONS, SWAV_TEMPERATURE};
pub use unigrad::{unigrad, unigrad_per_sample, UniGradCorrelation};
pub use vicreg::{vicreg, VicRegWeights};

use anyhow::{bail, Result};
use tch::Tensor;

/// Checks that `a` and `b` are both `[N, D]` with the same shape and `N >= min_batch`.
pub(crate) fn check_pair(what: &str, a: &Tensor, b: &Tensor, min_batch: i64) -> Result<(i64, i64)> {
    let (sa, sb) = (a.size(), b.size());
    if sa.len() != 2 || sa != sb {
        bail!("{what}: expected two [N, D] tensors of the same shape, got {sa:?} and {sb:?}");
    }
    if sa[0] < min_batch {
        bail!("{what}: needs a batch of at least {min_batch} samples, got {}", sa[0]);
    }
    Ok((sa[0], sa[1]))
}

/// Row-wise L2 normalisation with the same epsilon as `torch.nn.functional.normalize`.
pub fn l2_normalize(x: &Tensor) -> Tensor {
    let norm = x.norm_scalaropt_dim(2.0, [-1i64].as_slice(), true).clamp_min(1e-12);
    x / norm
}

/// Cross-entropy per row of `logits` against integer `targets` (no reduction).
pub(crate) fn cross_entropy_per_row(logits: &Tensor, targets: &Tensor) -> Tensor {
    let logp = logits.log_softmax(-1, logits.kind());
    -logp.gather(1, &targets.unsqueeze(1), false).squeeze_dim(1)
}
