//! The box environment: an agent moves, scales and deforms a 3-D box through a volume by
//! discrete actions and is rewarded by the sign of the change of its overlap with the
//! organ's box (arXiv 2112.03276). It sees the box's content (with some context around it)
//! resampled to a small cube, over its last few moves.
use crate::phantom::VoxelBox;
use anyhow::{bail, Result};
use tch::{Device, Kind, Tensor};

/// Number of actions: move -x, +x, -y, +y, -z, +z; shrink, grow; thinner and thicker along
/// x, y and z; and stay. The paper's agent has the first fourteen; staying gives the expert
/// (and so the agent) an answer where every move would lose overlap, instead of a least-bad
/// move that changes with the box's proportions, and lets a trained agent settle.
pub const ACTIONS: i64 = 15;

/// The action that leaves the box as it is.
pub const STAY: i64 = 14;

/// A box in continuous voxel coordinates `(x, y, z)`: `[min, max)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxF {
    /// Lower corner.
    pub min: [f64; 3],
    /// Upper corner (exclusive).
    pub max: [f64; 3],
}

impl BoxF {
    /// The continuous box covering the voxels of `b`.
    pub fn from_voxels(b: &VoxelBox) -> Self {
        Self { min: b.min.map(|v| v as f64), max: b.max.map(|v| v as f64 + 1.0) }
    }

    /// Side lengths.
    pub fn size(&self) -> [f64; 3] {
        std::array::from_fn(|a| self.max[a] - self.min[a])
    }

    /// Centre.
    pub fn centre(&self) -> [f64; 3] {
        std::array::from_fn(|a| 0.5 * (self.max[a] + self.min[a]))
    }

    /// Intersection over union.
    pub fn iou(&self, o: &BoxF) -> f64 {
        let inter: f64 = (0..3).map(|a| (self.max[a].min(o.max[a]) - self.min[a].max(o.min[a])).max(0.0)).product();
        let vol = |b: &BoxF| b.size().iter().product::<f64>();
        let union = vol(self) + vol(o) - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }

    /// Mean distance between corresponding walls and distance between centres, in mm
    /// (`spacing` (x, y, z) in mm per voxel).
    pub fn distances_mm(&self, o: &BoxF, spacing: [f64; 3]) -> (f64, f64) {
        let walls = (0..3).map(|a| ((self.min[a] - o.min[a]).abs() + (self.max[a] - o.max[a]).abs()) * spacing[a]).sum::<f64>() / 6.0;
        let (c, d) = (self.centre(), o.centre());
        let centroid = (0..3).map(|a| ((c[a] - d[a]) * spacing[a]).powi(2)).sum::<f64>().sqrt();
        (walls, centroid)
    }

    /// The box after `action`, each step a fraction `alpha` of the box's size, kept at
    /// least 2 voxels wide and its centre inside the volume (`extent` (x, y, z)).
    pub fn step(&self, action: i64, alpha: f64, extent: [i64; 3]) -> BoxF {
        let size = self.size();
        let (mut min, mut max) = (self.min, self.max);
        let a = action as usize;
        match action {
            0..=5 => {
                let axis = a / 2;
                let d = if a.is_multiple_of(2) { -alpha } else { alpha } * size[axis];
                min[axis] += d;
                max[axis] += d;
            }
            STAY => {}
            6 | 7 => {
                let f = if action == 6 { 1.0 - alpha } else { 1.0 + alpha };
                for axis in 0..3 {
                    let half = 0.5 * size[axis] * f;
                    let c = 0.5 * (min[axis] + max[axis]);
                    (min[axis], max[axis]) = (c - half, c + half);
                }
            }
            _ => {
                let axis = (a - 8) / 2;
                let f = if (a - 8).is_multiple_of(2) { 1.0 - alpha } else { 1.0 + alpha };
                let half = 0.5 * size[axis] * f;
                let c = 0.5 * (min[axis] + max[axis]);
                (min[axis], max[axis]) = (c - half, c + half);
            }
        }
        for axis in 0..3 {
            let n = extent[axis] as f64;
            // At least 2 voxels, at most the volume.
            let width = (max[axis] - min[axis]).clamp(2.0, n);
            let c = (0.5 * (min[axis] + max[axis])).clamp(0.0, n);
            (min[axis], max[axis]) = (c - width / 2.0, c + width / 2.0);
        }
        BoxF { min, max }
    }

    /// The expert's action towards `target`: the move whose result overlaps it most (the
    /// first such on ties), or [`STAY`] when no move gains overlap.
    pub fn expert_action(&self, target: &BoxF, alpha: f64, extent: [i64; 3]) -> i64 {
        let now = self.iou(target);
        let (best, value) =
            (0..STAY).map(|a| (a, self.step(a, alpha, extent).iou(target))).fold((STAY, now), |best, (a, v)| if v > best.1 + 1e-9 { (a, v) } else { best });
        if value > now + 1e-9 {
            best
        } else {
            STAY
        }
    }

    /// As 6 numbers (min then max), for checkpoints.
    pub fn to_vec(&self) -> Vec<f64> {
        self.min.iter().chain(&self.max).copied().collect()
    }

    /// From [`BoxF::to_vec`]'s numbers.
    pub fn from_slice(v: &[f64]) -> Result<BoxF> {
        if v.len() != 6 || v.iter().any(|x| !x.is_finite()) {
            bail!("a box needs 6 finite numbers, got {v:?}");
        }
        Ok(BoxF { min: [v[0], v[1], v[2]], max: [v[3], v[4], v[5]] })
    }
}

/// The median of each coordinate over several boxes (the paper fuses six).
pub fn fuse_median(boxes: &[BoxF]) -> Option<BoxF> {
    if boxes.is_empty() {
        return None;
    }
    let median = |f: &dyn Fn(&BoxF) -> f64| {
        let mut v: Vec<f64> = boxes.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            0.5 * (v[n / 2 - 1] + v[n / 2])
        }
    };
    Some(BoxF { min: std::array::from_fn(|a| median(&|b: &BoxF| b.min[a])), max: std::array::from_fn(|a| median(&|b: &BoxF| b.max[a])) })
}

/// What the agent sees of `volume` (`[Z, Y, X]`) in `b`: the box grown by `context` about
/// its centre, resampled trilinearly to `side`^3 (`[side, side, side]`; zeros outside).
pub fn observe(volume: &Tensor, b: &BoxF, context: f64, side: i64) -> Result<Tensor> {
    let s = volume.size();
    if s.len() != 3 {
        bail!("observe: the volume must be [Z, Y, X], got {s:?}");
    }
    let extent = [s[2], s[1], s[0]];
    let (c, size) = (b.centre(), b.size());
    // Voxel centres sit at index + 0.5 in box coordinates; align_corners = false maps
    // [-1, 1] to the volume's outer faces.
    let axis = |a: usize| -> Tensor {
        let lo = c[a] - 0.5 * size[a] * context;
        let step = size[a] * context / side as f64;
        let pos = Tensor::arange(side, (Kind::Float, Device::Cpu)) * step + (lo + 0.5 * step);
        pos * (2.0 / extent[a] as f64) - 1.0
    };
    let (gx, gy, gz) = (axis(0), axis(1), axis(2));
    let shape = [side, side, side];
    let grid = Tensor::stack(
        &[gx.view([1, 1, side]).expand(shape, false), gy.view([1, side, 1]).expand(shape, false), gz.view([side, 1, 1]).expand(shape, false)],
        -1,
    )
    .unsqueeze(0)
    .to_device(volume.device());
    Ok(volume.view([1, 1, s[0], s[1], s[2]]).to_kind(Kind::Float).f_grid_sampler(&grid, 0, 0, false)?.view(shape))
}
