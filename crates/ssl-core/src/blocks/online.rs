//! The online branch of a Siamese method: an encoder followed by a projector, run once
//! per resolution group of views.
use super::{Backbone, Mlp, MlpConfig};
use anyhow::Result;
use tch::{nn, Tensor};

#[derive(Debug)]
pub struct Online {
    pub backbone: Box<dyn Backbone>,
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

    /// Projections of every view, with one network call per group of views of the same
    /// shape (the global crops together, the local crops together).
    pub fn project_views(&self, views: &[Tensor]) -> Result<Vec<Tensor>> {
        by_resolution(views, |x| Ok(self.project(x)))
    }
}

/// Applies `f` once per group of same-shaped views (concatenated along the samples) and
/// returns its outputs per view, in the order of `views`.
pub fn by_resolution(views: &[Tensor], mut f: impl FnMut(&Tensor) -> Result<Tensor>) -> Result<Vec<Tensor>> {
    let mut out: Vec<Option<Tensor>> = (0..views.len()).map(|_| None).collect();
    let mut done = vec![false; views.len()];
    for i in 0..views.len() {
        if done[i] {
            continue;
        }
        let shape = views[i].size();
        let group: Vec<usize> = (i..views.len()).filter(|&j| !done[j] && views[j].size() == shape).collect();
        let n = shape[0];
        let y = if group.len() == 1 { f(&views[i])? } else { f(&Tensor::f_cat(&group.iter().map(|&j| &views[j]).collect::<Vec<_>>(), 0)?)? };
        for (k, &j) in group.iter().enumerate() {
            out[j] = Some(if group.len() == 1 { y.shallow_clone() } else { y.narrow(0, k as i64 * n, n) });
            done[j] = true;
        }
    }
    Ok(out.into_iter().flatten().collect())
}
