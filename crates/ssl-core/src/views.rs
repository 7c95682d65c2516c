//! Helpers that let a two-view objective run on any number of views.
//!
//! With `V` views of which the first `G` are global (multi-crop: global crops first), a
//! method compares the pairs `(a, b)`, `a < b`, in which `a` is global. Each pair gives a
//! per-sample loss for each of its sides (or none, where a side would predict a local
//! view's target); a view's loss is the mean over the sides it takes part in. With two
//! views this is exactly the symmetrised two-view loss.
use crate::objectives::l2_normalize;
use anyhow::{bail, Result};
use tch::Tensor;

/// The pairs `(a, b)`, `a < b < views`, with `a < global`.
pub fn view_pairs(views: usize, global: usize) -> Vec<(usize, usize)> {
    (0..views.min(global)).flat_map(|a| (a + 1..views).map(move |b| (a, b))).collect()
}

/// Per-view losses `[N, V]`: `pair(a, b)` returns the per-sample losses `[N]` of side `a`
/// and side `b` of the pair (either may be `None`).
pub fn per_view_from_pairs(views: usize, global: usize, mut pair: impl FnMut(usize, usize) -> Result<[Option<Tensor>; 2]>) -> Result<Tensor> {
    let mut sums: Vec<Option<Tensor>> = (0..views).map(|_| None).collect();
    let mut counts = vec![0usize; views];
    for (a, b) in view_pairs(views, global) {
        let sides = pair(a, b)?;
        for (v, side) in [a, b].into_iter().zip(sides) {
            if let Some(l) = side {
                sums[v] = Some(match sums[v].take() {
                    Some(s) => s + l,
                    None => l,
                });
                counts[v] += 1;
            }
        }
    }
    let mut columns = Vec::with_capacity(views);
    for (v, (s, c)) in sums.into_iter().zip(counts).enumerate() {
        match s {
            Some(s) if c == 1 => columns.push(s),
            Some(s) => columns.push(s / c as f64),
            None => bail!("view {v} takes part in no pair (views {views}, global {global})"),
        }
    }
    Ok(Tensor::stack(&columns, 1))
}

/// The mean over the pairs of a loss of the whole batch (Barlow Twins, VICReg).
pub fn mean_over_pairs(views: usize, global: usize, mut pair: impl FnMut(usize, usize) -> Result<Tensor>) -> Result<Tensor> {
    let pairs = view_pairs(views, global);
    if pairs.is_empty() {
        bail!("a pairwise loss needs at least two views, one of them global (views {views}, global {global})");
    }
    let mut total: Option<Tensor> = None;
    for (a, b) in &pairs {
        let l = pair(*a, *b)?;
        total = Some(match total {
            Some(t) => t + l,
            None => l,
        });
    }
    let total = total.expect("pairs is not empty");
    Ok(if pairs.len() == 1 { total } else { total / pairs.len() as f64 })
}

/// Unit-norm, detached projections of every view stacked to `[N, V, D]` (what view
/// weighting compares).
pub fn view_embeddings(z: &[Tensor]) -> Tensor {
    Tensor::stack(&z.iter().map(|z| l2_normalize(&z.detach())).collect::<Vec<_>>(), 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn pairs_need_a_global_side_and_two_views_reduce_to_the_symmetric_loss() {
        assert_eq!(view_pairs(2, 2), vec![(0, 1)]);
        assert_eq!(view_pairs(4, 2), vec![(0, 1), (0, 2), (0, 3), (1, 2), (1, 3)]);
        let l = |v: f64| Tensor::full([3], v, (Kind::Float, Device::Cpu));
        let two = per_view_from_pairs(2, 2, |_, _| Ok([Some(l(1.0)), Some(l(3.0))])).unwrap();
        assert_eq!(Vec::<f32>::try_from(two.get(0)).unwrap(), vec![1.0, 3.0]);
        // Local views (2, 3) never compare with each other; view 2 sides with 0 and 1.
        let four = per_view_from_pairs(4, 2, |a, b| Ok([Some(l(a as f64)), Some(l(10.0 * b as f64 + a as f64))])).unwrap();
        let row = Vec::<f32>::try_from(four.get(0)).unwrap();
        assert_eq!(row, vec![0.0, (10.0 + 1.0 + 1.0) / 3.0, (20.0 + 21.0) / 2.0, (30.0 + 31.0) / 2.0]);
        assert!(per_view_from_pairs(2, 2, |_, _| Ok([None, Some(l(1.0))])).is_err(), "a view without a loss is an error");
    }
}
