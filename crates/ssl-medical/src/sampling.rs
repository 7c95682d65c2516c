//! Training samples cut from volumes: 3-D patches (a share of them centred on labelled
//! voxels, as MONAI's `RandCropByPosNegLabel` does, so small organs are seen often enough)
//! and 2-D axial slices (all, or those showing a structure), drawn from a seeded generator.
use anyhow::{bail, Result};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

/// Random 3-D patches of a fixed size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PatchSampler {
    /// Patch size `[Z, Y, X]`.
    pub size: [i64; 3],
    /// Share of patches centred on a labelled (non-zero) voxel; the others are centred
    /// anywhere. Without labels every patch is centred anywhere.
    pub foreground: f64,
}

/// A patch, its labels, and where its first voxel lay in the volume (`[z, y, x]`, negative
/// where the volume was padded).
pub type Patch = (Tensor, Option<Tensor>, [i64; 3]);

impl PatchSampler {
    /// Patches of `size` voxels (`[Z, Y, X]`), half centred on labelled voxels.
    pub fn new(size: [i64; 3]) -> Self {
        Self { size, foreground: 0.5 }
    }

    /// A patch of `image` (`[Z, Y, X]` or `[C, Z, Y, X]`) and of `labels` (`[Z, Y, X]`) at
    /// the same place. A volume smaller than the patch is padded (the image with its
    /// minimum, labels with 0), keeping the volume centred.
    pub fn sample(&self, image: &Tensor, labels: Option<&Tensor>, rng: &mut ChaCha8Rng) -> Result<Patch> {
        if self.size.iter().any(|&s| s < 1) || !(0.0..=1.0).contains(&self.foreground) {
            bail!("patch sampler: size must be positive and foreground in [0, 1], got {:?} and {}", self.size, self.foreground);
        }
        let channels = image.dim() == 4;
        let grid: Vec<i64> = image.size()[usize::from(channels)..].to_vec();
        if grid.len() != 3 || grid.iter().any(|&d| d < 1) {
            bail!("patch sampler: the image must be [Z, Y, X] or [C, Z, Y, X], got {:?}", image.size());
        }
        if let Some(l) = labels {
            if l.size() != grid {
                bail!("patch sampler: labels {:?} do not match the image's grid {grid:?}", l.size());
            }
        }
        // Centre: a labelled voxel, or anywhere.
        let centre: [i64; 3] = match labels {
            Some(l) if rng.random_bool(self.foreground) => {
                let fg = l.ne(0).nonzero();
                let n = fg.size()[0];
                if n > 0 {
                    let i = rng.random_range(0..n);
                    std::array::from_fn(|a| fg.int64_value(&[i, a as i64]))
                } else {
                    std::array::from_fn(|a| rng.random_range(0..grid[a]))
                }
            }
            _ => std::array::from_fn(|a| rng.random_range(0..grid[a])),
        };
        // The corner, kept inside the volume where the volume is large enough; padding
        // (split evenly) where it is not.
        let corner: [i64; 3] = std::array::from_fn(|a| {
            let (n, s) = (grid[a], self.size[a]);
            if n >= s {
                (centre[a] - s / 2).clamp(0, n - s)
            } else {
                -((s - n) / 2)
            }
        });
        let cut = |t: &Tensor, offset: usize, fill: f64| -> Result<Tensor> {
            // Pad first where needed (pad order: last dim first), then narrow.
            let mut pad = Vec::new();
            for a in (0..3).rev() {
                let before = (-corner[a]).max(0);
                let after = (corner[a] + self.size[a] - grid[a]).max(0);
                pad.extend([before, after]);
            }
            let mut out = if pad.iter().any(|&p| p > 0) { t.f_pad(pad.as_slice(), "constant", Some(fill))? } else { t.shallow_clone() };
            for (a, (start, len)) in corner.iter().zip(self.size).enumerate() {
                out = out.f_narrow((offset + a) as i64, (*start).max(0), len)?;
            }
            Ok(out)
        };
        let fill = image.min().double_value(&[]);
        let patch = cut(image, usize::from(channels), fill)?;
        let labels = labels.map(|l| cut(&l.to_kind(Kind::Float), 0, 0.0).map(|p| p.to_kind(l.kind()))).transpose()?;
        Ok((patch, labels, corner))
    }
}

/// Which axial slices of a volume are used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SliceFilter {
    /// Every slice.
    All,
    /// Slices with at least this many labelled (non-zero) voxels.
    Labelled(i64),
    /// Slices where at least this share of voxels exceed the threshold (e.g. the body in a
    /// CT above -500 HU, the head in an MR above 0).
    Above(f64, f64),
}

/// The indices (along Z) of the slices of `image` (`[Z, Y, X]`) that pass `filter`
/// (`Labelled` needs `labels` on the same grid).
pub fn axial_slices(image: &Tensor, labels: Option<&Tensor>, filter: SliceFilter) -> Result<Vec<i64>> {
    let size = image.size();
    if size.len() != 3 {
        bail!("axial slices: the image must be [Z, Y, X], got {size:?}");
    }
    let counts = match filter {
        SliceFilter::All => return Ok((0..size[0]).collect()),
        SliceFilter::Labelled(min) => {
            let Some(l) = labels else { bail!("axial slices: keeping labelled slices needs a label map") };
            if l.size() != size {
                bail!("axial slices: labels {:?} do not match the image {size:?}", l.size());
            }
            (l.ne(0).sum_dim_intlist([1, 2].as_slice(), false, Kind::Int64), min as f64)
        }
        SliceFilter::Above(threshold, share) => {
            (image.gt(threshold).sum_dim_intlist([1, 2].as_slice(), false, Kind::Int64), share * (size[1] * size[2]) as f64)
        }
    };
    let values = Vec::<i64>::try_from(&counts.0)?;
    Ok(values.iter().enumerate().filter(|(_, &c)| c as f64 >= counts.1 && c > 0).map(|(i, _)| i as i64).collect())
}

/// Slice indices split into consecutive slabs of `slab` slices, and the slabs dealt to
/// parts in the proportions `shares` (e.g. `[0.7, 0.1, 0.2]` for train / validation / test)
/// in a seeded order: neighbouring slices, nearly alike, never fall on both sides of a split.
pub fn split_by_slab(indices: &[i64], slab: usize, shares: &[f64], rng: &mut ChaCha8Rng) -> Result<Vec<Vec<i64>>> {
    if slab == 0 || shares.is_empty() || shares.iter().any(|s| !(s.is_finite() && *s >= 0.0)) || shares.iter().sum::<f64>() <= 0.0 {
        bail!("slab split: needs a slab of at least one slice and non-negative shares, got {slab} and {shares:?}");
    }
    let mut slabs: Vec<Vec<i64>> = indices.chunks(slab).map(|c| c.to_vec()).collect();
    // Fisher-Yates with the seeded generator.
    for i in (1..slabs.len()).rev() {
        let j = rng.random_range(0..=i);
        slabs.swap(i, j);
    }
    let total: f64 = shares.iter().sum();
    let n = slabs.len();
    let mut parts = vec![Vec::new(); shares.len()];
    let mut taken = 0usize;
    let mut cumulative = 0.0;
    for (p, share) in shares.iter().enumerate() {
        cumulative += share / total;
        let end = if p + 1 == shares.len() { n } else { ((cumulative * n as f64).round() as usize).clamp(taken, n) };
        for s in &slabs[taken..end] {
            parts[p].extend_from_slice(s);
        }
        parts[p].sort_unstable();
        taken = end;
    }
    Ok(parts)
}
