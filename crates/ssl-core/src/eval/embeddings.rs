//! Feature extraction with a frozen backbone, embeddings export, and a 2-D projection.
use crate::blocks::Backbone;
use anyhow::{bail, Context, Result};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Features `[N, D]` of `inputs` `[N, ...]` in evaluation mode, `batch` samples at a time,
/// computed on `device` and returned on the CPU.
pub fn extract_features(backbone: &dyn Backbone, inputs: &Tensor, batch: i64, device: Device) -> Tensor {
    let n = inputs.size()[0];
    let mut chunks = Vec::new();
    tch::no_grad(|| {
        let mut start = 0;
        while start < n {
            let len = batch.max(1).min(n - start);
            let x = inputs.narrow(0, start, len).to_device(device);
            chunks.push(backbone.forward_t(&x, false).to_device(Device::Cpu));
            start += len;
        }
    });
    if chunks.is_empty() {
        return Tensor::zeros([0, backbone.out_dim()], (Kind::Float, Device::Cpu));
    }
    Tensor::cat(&chunks, 0)
}

/// Writes `features.npy` (`[N, D]` float32) and, when given, `labels.npy` (int64) into `dir`.
pub fn export_embeddings(dir: &Path, features: &Tensor, labels: Option<&Tensor>) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let f = dir.join("features.npy");
    features.to_kind(Kind::Float).contiguous().write_npy(&f).with_context(|| format!("cannot write {}", f.display()))?;
    if let Some(l) = labels {
        let p = dir.join("labels.npy");
        l.to_kind(Kind::Int64).contiguous().write_npy(&p).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}

/// Projects features `[N, D]` onto their first two principal components, `[N, 2]`.
pub fn pca_2d(features: &Tensor) -> Result<Tensor> {
    let s = features.size();
    if s.len() != 2 || s[0] < 2 || s[1] < 2 {
        bail!("pca: need at least 2 samples of at least 2 dims, got {s:?}");
    }
    let x = features.to_kind(Kind::Double);
    let x = &x - x.mean_dim([0i64].as_slice(), true, Kind::Double);
    // Eigenvectors of the covariance come in ascending order of eigenvalue.
    let (_, vectors) = Tensor::f_linalg_eigh(&x.transpose(0, 1).matmul(&x), "L")?;
    let top2 = vectors.narrow(1, s[1] - 2, 2).flip([1i64]);
    Ok(x.matmul(&top2).to_kind(Kind::Float))
}
