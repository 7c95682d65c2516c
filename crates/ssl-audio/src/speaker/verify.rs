//! Speaker verification with frozen encoders: one embedding per recording, cosine
//! scores of the trial pairs, and the raw-feature baseline.
use super::trials::TrialList;
use crate::models::statistics;
use anyhow::{bail, Result};
use ssl_core::blocks::Backbone;
use ssl_core::objectives::l2_normalize;
use std::collections::HashMap;
use tch::{Device, Kind, Tensor};

/// Embeddings `[N, D]` (on the CPU) of recordings' features `[T_i, F]`, each recording
/// whole and alone through `backbone` in evaluation mode on `device`.
pub fn embed(backbone: &dyn Backbone, features: &[Tensor], device: Device) -> Tensor {
    tch::no_grad(|| {
        let rows: Vec<Tensor> = features.iter().map(|f| backbone.forward_t(&f.unsqueeze(0).to_device(device), false).to_device(Device::Cpu)).collect();
        if rows.is_empty() {
            Tensor::zeros([0, backbone.out_dim()], (Kind::Float, Device::Cpu))
        } else {
            Tensor::cat(&rows, 0)
        }
    })
}

/// The no-learning baseline: each bin's mean and standard deviation over the frames of
/// the (not mean-normalised) log filterbanks, `[N, 2F]`.
pub fn statistics_embedding(raw_features: &[Tensor]) -> Tensor {
    let rows: Vec<Tensor> = raw_features.iter().map(|f| statistics(&f.transpose(0, 1).unsqueeze(0))).collect();
    Tensor::cat(&rows, 0)
}

/// `embeddings` with the mean of `reference` (`[M, D]`, e.g. embeddings of training
/// recordings) subtracted: the usual back-end step before cosine scoring, which removes
/// the direction every embedding shares (WeSpeaker's `cal_mean`).
pub fn centred(embeddings: &Tensor, reference: &Tensor) -> Result<Tensor> {
    let (e, r) = (embeddings.size(), reference.size());
    if e.len() != 2 || r.len() != 2 || e[1] != r[1] || r[0] == 0 {
        bail!("centring: embeddings {e:?} and reference {r:?} must be [N, D] and [M > 0, D]");
    }
    Ok(embeddings - reference.mean_dim([0i64].as_slice(), true, Kind::Float))
}

/// Cosine similarity of the rows of `embeddings` named by each pair.
pub fn cosine_scores(embeddings: &Tensor, pairs: &[(usize, usize)]) -> Vec<f64> {
    let e = l2_normalize(&embeddings.to_kind(Kind::Float));
    if pairs.is_empty() {
        return Vec::new();
    }
    let a = Tensor::from_slice(&pairs.iter().map(|p| p.0 as i64).collect::<Vec<_>>());
    let b = Tensor::from_slice(&pairs.iter().map(|p| p.1 as i64).collect::<Vec<_>>());
    let s = (e.index_select(0, &a) * e.index_select(0, &b)).sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
    Vec::<f64>::try_from(s).expect("a 1-D double tensor")
}

/// Cosine scores of target and of non-target trials.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scored {
    /// Scores of same-speaker trials.
    pub target: Vec<f64>,
    /// Scores of different-speaker trials.
    pub nontarget: Vec<f64>,
}

/// Scores every trial by the cosine of the embeddings of its two recordings (`names`
/// gives the recording of each row); an error names a trial recording that has none.
pub fn score_trials(trials: &TrialList, names: &[String], embeddings: &Tensor) -> Result<Scored> {
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let row = |name: &str| -> Result<usize> {
        match index.get(name) {
            Some(&i) => Ok(i),
            None => bail!("the trial list names {name}, which is not among the {} recordings read", names.len()),
        }
    };
    let mut pairs = Vec::with_capacity(trials.trials.len());
    for t in &trials.trials {
        pairs.push((row(&t.enroll)?, row(&t.test)?));
    }
    let scores = cosine_scores(embeddings, &pairs);
    let mut out = Scored::default();
    for (t, s) in trials.trials.iter().zip(scores) {
        if !s.is_finite() {
            bail!("the score of {} / {} is {s}: the encoder gives non-finite embeddings", t.enroll, t.test);
        }
        if t.target {
            out.target.push(s)
        } else {
            out.nontarget.push(s)
        }
    }
    Ok(out)
}
