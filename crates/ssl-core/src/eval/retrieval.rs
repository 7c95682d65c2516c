//! Retrieval by nearest neighbours: each test sample queries the training set by cosine
//! similarity, and recall@k is the share of queries with a sample of their own class among
//! the k nearest (clip-to-clip retrieval in video SSL papers).
use super::check_features;
use anyhow::{bail, Result};
use tch::{Kind, Tensor};

/// Recall@k for each `k` of `ks`: the share of `test` queries whose `k` nearest `train`
/// samples (cosine similarity) include one of the query's class. Queries are processed in
/// blocks of 1024 (bounded memory).
pub fn retrieval_recall(train: &Tensor, train_labels: &Tensor, test: &Tensor, test_labels: &Tensor, ks: &[i64]) -> Result<Vec<f64>> {
    let n_train = check_features("retrieval (train)", train, train_labels)?;
    let n_test = check_features("retrieval (test)", test, test_labels)?;
    if train.size()[1] != test.size()[1] {
        bail!("retrieval: train features are {}-d, test features {}-d", train.size()[1], test.size()[1]);
    }
    if ks.is_empty() || ks.iter().any(|&k| k < 1 || k > n_train) {
        bail!("retrieval: each k must lie in 1..={n_train} (the training samples), got {ks:?}");
    }
    let kmax = *ks.iter().max().unwrap_or(&1);
    let norm = |x: &Tensor| {
        let x = x.to_kind(Kind::Float);
        &x / x.norm_scalaropt_dim(2, [1].as_slice(), true).clamp_min(1e-12)
    };
    let (tr, te) = (norm(train), norm(test));
    let (ytr, yte) = (train_labels.to_kind(Kind::Int64), test_labels.to_kind(Kind::Int64));
    let mut hits = vec![0i64; ks.len()];
    let mut start = 0;
    while start < n_test {
        let len = 1024.min(n_test - start);
        let sim = te.narrow(0, start, len).matmul(&tr.transpose(0, 1));
        let (_, idx) = sim.topk(kmax, 1, true, true);
        // [len, kmax]: whether the j-th neighbour shares the query's class.
        let same = ytr.index_select(0, &idx.flatten(0, -1)).view([len, kmax]).eq_tensor(&yte.narrow(0, start, len).unsqueeze(1));
        for (i, &k) in ks.iter().enumerate() {
            hits[i] += same.narrow(1, 0, k).any_dim(1, false).sum(Kind::Int64).int64_value(&[]);
        }
        start += len;
    }
    Ok(hits.iter().map(|&h| h as f64 / n_test as f64).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn recall_counts_a_query_once_its_class_appears_among_the_k_nearest() {
        // Train: class 0 at angles 0 and 90 degrees, class 1 at 10 degrees (unit vectors).
        let deg = |d: f64| [d.to_radians().cos(), d.to_radians().sin()];
        let train: Vec<f64> = [deg(0.0), deg(90.0), deg(10.0)].concat();
        let train = Tensor::from_slice(&train).view([3, 2]);
        let ytr = Tensor::from_slice(&[0i64, 0, 1]);
        // Query A (class 0) at 7 degrees: nearest 10 (class 1), then 0 (class 0).
        // Query B (class 1) at 80 degrees: nearest 90 (class 0), then 10 (class 1), then 0.
        let test = Tensor::from_slice(&[deg(7.0), deg(80.0)].concat()).view([2, 2]) * 3.0;
        let yte = Tensor::from_slice(&[0i64, 1]);
        let r = retrieval_recall(&train, &ytr, &test, &yte, &[1, 2, 3]).unwrap();
        assert_eq!(r, vec![0.0, 1.0, 1.0]);
        let r = retrieval_recall(&train, &ytr, &test, &Tensor::from_slice(&[1i64, 1]), &[1, 2]).unwrap();
        assert_eq!(r, vec![0.5, 1.0]);
        assert!(retrieval_recall(&train, &ytr, &test, &yte, &[4]).is_err());
        assert!(retrieval_recall(&train, &ytr, &Tensor::zeros([2, 3], (Kind::Float, Device::Cpu)), &yte, &[1]).is_err());
    }
}
