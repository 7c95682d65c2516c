//! Small helpers the methods share.
use anyhow::{bail, Result};
use tch::Tensor;

/// The two sides of a pairwise per-sample loss `[N, 2]`.
pub(crate) fn sides(l: Tensor) -> [Option<Tensor>; 2] {
    [Some(l.select(1, 0)), Some(l.select(1, 1))]
}

/// `Some(f())` for a side whose target view is global, `None` otherwise.
pub(crate) fn if_global(target: usize, global: usize, f: impl FnOnce() -> Result<Tensor>) -> Result<Option<Tensor>> {
    if target < global {
        f().map(Some)
    } else {
        Ok(None)
    }
}

pub(crate) fn positive(method: &str, key: &str, v: f64) -> Result<()> {
    if !(v > 0.0 && v.is_finite()) {
        bail!("{method}: {key} must be a positive finite number, got {v}");
    }
    Ok(())
}

pub(crate) fn momentum_in_unit(method: &str, m: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&m) {
        bail!("{method}: momentum must be in [0, 1], got {m}");
    }
    Ok(())
}
