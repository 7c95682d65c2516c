//! The online branch of a Siamese method: an encoder followed by a projector, run once
//! per resolution group of views.
use super::{Backbone, Mlp, MlpConfig};
use anyhow::Result;
use tch::{nn, Tensor};

/// An encoder followed by a projector head (variables under `backbone` and `projector`).
#[derive(Debug)]
pub struct Online {
    /// The encoder, built by the caller under `backbone`.
    pub backbone: Box<dyn Backbone>,
    /// The projection head on the encoder's features.
    pub projector: Mlp,
}

impl Online {
    /// Puts `backbone` under `root/backbone` (built by the caller) and a projector under
    /// `root/projector`.
    pub fn new(root: &nn::Path, backbone: Box<dyn Backbone>, projector: MlpConfig) -> Self {
        let projector = Mlp::new(&(root / "projector"), backbone.out_dim(), projector);
        Self { backbone, projector }
    }

    /// Projection `[N, D]` of a batch (training mode).
    pub fn project(&self, x: &Tensor) -> Tensor {
        self.projector.forward_t(&self.backbone.forward_t(x, true), true)
    }

    /// Projections of every view: one network call per global view, one per group of
    /// smaller views of the same shape (see [`by_resolution`]).
    pub fn project_views(&self, views: &[Tensor]) -> Result<Vec<Tensor>> {
        by_resolution(views, |x| Ok(self.project(x)))
    }
}

/// Applies `f` to the views and returns its outputs per view, in the order of `views`.
/// The global views (those of the first view's shape) get one call each, so that
/// normalisation statistics are per view as in the two-view reference code (and on CPU
/// one call on `2N` samples is slower than two on `N`: see docs/benchmarks.md); every
/// group of smaller views of one shape (multi-crop's local crops) is concatenated along
/// the samples and encoded in one call.
pub fn by_resolution(views: &[Tensor], mut f: impl FnMut(&Tensor) -> Result<Tensor>) -> Result<Vec<Tensor>> {
    let global = views.first().map(|v| v.size());
    let mut out: Vec<Option<Tensor>> = (0..views.len()).map(|_| None).collect();
    let mut done = vec![false; views.len()];
    for i in 0..views.len() {
        if done[i] {
            continue;
        }
        let shape = views[i].size();
        let group: Vec<usize> =
            if Some(&shape) == global.as_ref() { vec![i] } else { (i..views.len()).filter(|&j| !done[j] && views[j].size() == shape).collect() };
        let n = shape[0];
        let y = if group.len() == 1 { f(&views[i])? } else { f(&Tensor::f_cat(&group.iter().map(|&j| &views[j]).collect::<Vec<_>>(), 0)?)? };
        for (k, &j) in group.iter().enumerate() {
            out[j] = Some(if group.len() == 1 { y.shallow_clone() } else { y.narrow(0, k as i64 * n, n) });
            done[j] = true;
        }
    }
    Ok(out.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn global_views_get_a_call_each_and_local_groups_share_one() {
        let t = |side: i64, v: f64| Tensor::full([2, 1, side, side], v, (Kind::Float, Device::Cpu));
        let views = [t(4, 1.0), t(4, 2.0), t(2, 3.0), t(2, 4.0), t(2, 5.0)];
        let mut calls = Vec::new();
        let out = by_resolution(&views, |x| {
            calls.push(x.size()[0]);
            Ok(x.mean_dim([1i64, 2, 3].as_slice(), false, Kind::Float))
        })
        .unwrap();
        assert_eq!(calls, vec![2, 2, 6], "two global calls, one for the three local views");
        let means: Vec<f64> = out.iter().map(|o| o.double_value(&[0])).collect();
        assert_eq!(means, vec![1.0, 2.0, 3.0, 4.0, 5.0], "outputs come back in view order");
    }
}
