//! Evaluation of frozen features: weighted kNN, linear probe, retrieval recall@k,
//! embeddings export, and verification metrics (EER, minDCF) of scored trials.

mod embeddings;
mod knn;
mod linear_probe;
mod retrieval;
mod verification;

pub use embeddings::{export_embeddings, extract_features, pca_2d};
pub use knn::{knn_accuracy, KnnConfig};
pub use linear_probe::{linear_probe, mean_std, LinearProbeConfig, LinearProbeResult, ProbeRun};
pub use retrieval::retrieval_recall;
pub use verification::{det_curve, equal_error_rate, min_dcf, verification_report, DcfParams, VerificationReport, WithInterval};

use anyhow::{bail, Result};
use tch::Tensor;

/// Checks that features `[N, D]` and labels `[N]` agree and are not empty.
pub(crate) fn check_features(what: &str, feats: &Tensor, labels: &Tensor) -> Result<i64> {
    let (fs, ls) = (feats.size(), labels.size());
    if fs.len() != 2 || ls.len() != 1 || fs[0] != ls[0] || fs[0] == 0 {
        bail!("{what}: expected features [N, D] and labels [N] with N > 0, got {fs:?} and {ls:?}");
    }
    Ok(fs[0])
}
