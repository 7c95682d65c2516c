//! Seeded augmentations of volumes (and 2-D slices, as volumes one voxel deep), applied to
//! an image and its label map together: flips, quarter turns, a random affine (rotation,
//! scale, shift) and an elastic deformation resampled in one pass, then intensity changes
//! (gamma, Gaussian noise) on the image alone. Labels are resampled by the nearest voxel, so
//! no label is invented; the same seed gives the same result.
//!
//! Geometry is in voxel units: resample to isotropic voxels first
//! ([`crate::preprocess::resample_to_spacing`]) when rotations should be rigid in millimetres.
use anyhow::{bail, Result};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use tch::{Kind, Tensor};

/// A smooth random displacement: uniform offsets at a coarse grid of control points,
/// interpolated trilinearly to every voxel (as TorchIO's elastic deformation does with
/// B-splines).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Elastic {
    /// Control points per axis (at least 2; 7 in TorchIO).
    pub control_points: i64,
    /// The largest displacement of a control point, in voxels.
    pub max_displacement: f64,
}

/// Which augmentations are applied, and how strongly. Probabilities are per sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Augment {
    /// Probability of flipping along x, y and z.
    pub flip: [f64; 3],
    /// Probability of a quarter turn (1, 2 or 3 of them) in the axial (y, x) plane; half
    /// turns only when the plane is not square.
    pub rot90: f64,
    /// Probability of the random affine.
    pub affine: f64,
    /// Largest rotation about x, y and z, in degrees.
    pub rotate_deg: [f64; 3],
    /// Range of the isotropic scale factor.
    pub scale: [f64; 2],
    /// Largest shift along x, y and z, as a fraction of the size along that axis.
    pub shift: [f64; 3],
    /// Probability of the elastic deformation, and its settings.
    pub elastic: (f64, Elastic),
    /// Probability of a gamma change, and its range: values are mapped to `[0, 1]` by the
    /// image's own range, raised to the power, and mapped back.
    pub gamma: (f64, [f64; 2]),
    /// Probability of Gaussian noise, and its standard deviation (in image units).
    pub noise: (f64, f64),
}

impl Default for Augment {
    /// Nothing applied.
    fn default() -> Self {
        Self {
            flip: [0.0; 3],
            rot90: 0.0,
            affine: 0.0,
            rotate_deg: [0.0; 3],
            scale: [1.0, 1.0],
            shift: [0.0; 3],
            elastic: (0.0, Elastic { control_points: 7, max_displacement: 0.0 }),
            gamma: (0.0, [1.0, 1.0]),
            noise: (0.0, 0.0),
        }
    }
}

impl Augment {
    /// For 2-D slices (BT-Unet's pre-training views): flips in the plane, quarter turns,
    /// a zoom of 1 to 1.33 (the paper's random resized crop of 75-100 %), a small rotation.
    pub fn slices() -> Self {
        Self { flip: [0.5, 0.5, 0.0], rot90: 0.5, affine: 0.8, rotate_deg: [0.0, 0.0, 10.0], scale: [1.0, 1.33], shift: [0.1, 0.1, 0.0], ..Self::default() }
    }

    /// For 3-D patches: flips, quarter turns, rotation up to 15 degrees, scale 0.9-1.1,
    /// elastic (7 control points, 3 voxels), gamma 0.7-1.5, noise.
    pub fn volumes() -> Self {
        Self {
            flip: [0.5, 0.5, 0.5],
            rot90: 0.5,
            affine: 0.8,
            rotate_deg: [15.0, 15.0, 15.0],
            scale: [0.9, 1.1],
            shift: [0.05, 0.05, 0.05],
            elastic: (0.3, Elastic { control_points: 7, max_displacement: 3.0 }),
            gamma: (0.3, [0.7, 1.5]),
            noise: (0.3, 0.05),
        }
    }

    /// Checks the settings, naming the field.
    pub fn validate(&self) -> Result<()> {
        let probabilities = [
            ("flip x", self.flip[0]),
            ("flip y", self.flip[1]),
            ("flip z", self.flip[2]),
            ("rot90", self.rot90),
            ("affine", self.affine),
            ("elastic", self.elastic.0),
            ("gamma", self.gamma.0),
            ("noise", self.noise.0),
        ];
        for (name, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                bail!("augment: the probability of {name} must lie in [0, 1], got {p}");
            }
        }
        if !(self.scale[0] > 0.0 && self.scale[0] <= self.scale[1] && self.scale[1].is_finite()) {
            bail!("augment: scale must be a range 0 < low <= high, got {:?}", self.scale);
        }
        if !(self.gamma.1[0] > 0.0 && self.gamma.1[0] <= self.gamma.1[1] && self.gamma.1[1].is_finite()) {
            bail!("augment: gamma must be a range 0 < low <= high, got {:?}", self.gamma.1);
        }
        if self.rotate_deg.iter().chain(&self.shift).any(|v| !(v.is_finite() && *v >= 0.0)) || !(self.noise.1.is_finite() && self.noise.1 >= 0.0) {
            bail!("augment: rotations, shifts and the noise level must be finite and >= 0");
        }
        let e = self.elastic.1;
        if e.control_points < 2 || !(e.max_displacement.is_finite() && e.max_displacement >= 0.0) {
            bail!("augment: elastic needs at least 2 control points and a displacement >= 0, got {e:?}");
        }
        Ok(())
    }

    /// Augments `image` (`[C, Z, Y, X]` floats) and, when given, its `labels` (`[Z, Y, X]`,
    /// any kind: returned in that kind) with draws from `rng`.
    pub fn apply(&self, image: &Tensor, labels: Option<&Tensor>, rng: &mut ChaCha8Rng) -> Result<(Tensor, Option<Tensor>)> {
        let size = image.size();
        if size.len() != 4 || size.iter().any(|&d| d < 1) {
            bail!("augment: the image must be [C, Z, Y, X], got {size:?}");
        }
        if let Some(l) = labels {
            if l.size() != size[1..] {
                bail!("augment: labels {:?} do not match the image's grid {:?}", l.size(), &size[1..]);
            }
        }
        let mut image = image.to_kind(Kind::Float);
        // Labels ride along as a float channel: exact through flips, turns and nearest sampling.
        let label_kind = labels.map(|l| l.kind());
        let mut labels = labels.map(|l| l.to_kind(Kind::Float).unsqueeze(0));

        // Flips along x, y, z (dims 3, 2, 1 of [C, Z, Y, X]).
        for (axis, p) in self.flip.iter().enumerate() {
            if rng.random_bool(*p) {
                let dim = 3 - axis as i64;
                image = image.flip([dim]);
                labels = labels.map(|l| l.flip([dim]));
            }
        }
        if rng.random_bool(self.rot90) {
            let square = size[2] == size[3];
            let k = if square { rng.random_range(1..=3) } else { 2 };
            image = image.rot90(k, [2, 3]);
            labels = labels.map(|l| l.rot90(k, [2, 3]));
        }
        let affine = rng.random_bool(self.affine).then(|| self.draw_affine(rng, &image.size()));
        let elastic = rng.random_bool(self.elastic.0).then(|| draw_displacement(rng, self.elastic.1, &image.size()));
        if affine.is_some() || elastic.is_some() {
            let grid = sampling_grid(&image.size(), affine, elastic.as_ref());
            image = resample(&image, &grid, 0)?;
            labels = labels.map(|l| resample(&l, &grid, 1)).transpose()?;
        }
        if rng.random_bool(self.gamma.0) {
            let g = rng.random_range(self.gamma.1[0]..=self.gamma.1[1]);
            let (lo, hi) = (image.min().double_value(&[]), image.max().double_value(&[]));
            if hi > lo {
                image = ((&image - lo) / (hi - lo)).clamp(0.0, 1.0).pow_tensor_scalar(g) * (hi - lo) + lo;
            }
        }
        if rng.random_bool(self.noise.0) && self.noise.1 > 0.0 {
            let n = image.numel();
            let noise: Vec<f32> = (0..n).map(|_| StandardNormal.sample(rng)).collect();
            // Not in place: `image` may still share storage with the caller's tensor.
            image = &image + Tensor::from_slice(&noise).view(image.size().as_slice()).to_device(image.device()) * self.noise.1;
        }
        let labels = match (labels, label_kind) {
            (Some(l), Some(kind)) => Some(l.squeeze_dim(0).round().to_kind(kind)),
            _ => None,
        };
        Ok((image, labels))
    }

    /// A 3x3 matrix (output voxel to input voxel, centred coordinates, (x, y, z)) and a
    /// shift in voxels.
    fn draw_affine(&self, rng: &mut ChaCha8Rng, size: &[i64]) -> ([[f64; 3]; 3], [f64; 3]) {
        let flat = size[1] == 1;
        let mut angle = |max: f64| if max > 0.0 { rng.random_range(-max..=max).to_radians() } else { 0.0 };
        let (ax, ay, az) = (angle(self.rotate_deg[0]), angle(self.rotate_deg[1]), angle(self.rotate_deg[2]));
        // A slice (one voxel deep) turns only in its plane.
        let (ax, ay) = if flat { (0.0, 0.0) } else { (ax, ay) };
        let scale = if self.scale[1] > self.scale[0] { rng.random_range(self.scale[0]..=self.scale[1]) } else { self.scale[0] };
        let r = rotation([ax, ay, az]);
        // Zooming in by `scale` samples the input 1 / scale as far from the centre.
        let m = r.map(|row| row.map(|v| v / scale));
        let extent = [size[3], size[2], size[1]];
        let shift = std::array::from_fn(|a| {
            let max = self.shift[a] * extent[a] as f64;
            if max > 0.0 && !(flat && a == 2) {
                rng.random_range(-max..=max)
            } else {
                0.0
            }
        });
        (m, shift)
    }
}

/// Displacements in voxels, `[3, Z, Y, X]` as (x, y, z), smooth between control points.
fn draw_displacement(rng: &mut ChaCha8Rng, e: Elastic, size: &[i64]) -> Tensor {
    let (z, y, x) = (size[1], size[2], size[3]);
    let k = [z.min(e.control_points).max(1), y.min(e.control_points).max(2), x.min(e.control_points).max(2)];
    let n = (3 * k[0] * k[1] * k[2]) as usize;
    let mut values: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..=1.0) * e.max_displacement as f32).collect();
    if z == 1 {
        // No displacement out of a slice's plane.
        values[2 * n / 3..].iter_mut().for_each(|v| *v = 0.0);
    }
    Tensor::from_slice(&values).view([1, 3, k[0], k[1], k[2]]).upsample_trilinear3d([z, y, x], true, None, None, None).squeeze_dim(0)
}

/// The grid for `grid_sampler` (`[1, Z, Y, X, 3]`, normalised (x, y, z), corners aligned):
/// each output voxel's centred coordinate mapped by the affine, shifted and displaced.
fn sampling_grid(size: &[i64], affine: Option<([[f64; 3]; 3], [f64; 3])>, displacement: Option<&Tensor>) -> Tensor {
    let (z, y, x) = (size[1], size[2], size[3]);
    let centred = |n: i64| Tensor::arange(n, (Kind::Float, tch::Device::Cpu)) - (n - 1) as f64 / 2.0;
    let shape = [z, y, x];
    let coords =
        [centred(x).view([1, 1, x]).expand(shape, false), centred(y).view([1, y, 1]).expand(shape, false), centred(z).view([z, 1, 1]).expand(shape, false)];
    let mut src: Vec<Tensor> = match affine {
        Some((m, t)) => (0..3).map(|r| &coords[0] * m[r][0] + &coords[1] * m[r][1] + &coords[2] * m[r][2] + t[r]).collect(),
        None => coords.iter().map(|c| c.shallow_clone()).collect(),
    };
    if let Some(d) = displacement {
        for (a, s) in src.iter_mut().enumerate() {
            *s = &*s + d.get(a as i64);
        }
    }
    let extent = [x, y, z];
    let normalised: Vec<Tensor> = src.iter().zip(extent).map(|(s, n)| if n > 1 { s * (2.0 / (n - 1) as f64) } else { s * 0.0 }).collect();
    Tensor::stack(&normalised, -1).unsqueeze(0)
}

/// `t` (`[C, Z, Y, X]`) sampled at `grid` on `t`'s device; mode 0 linear, 1 nearest;
/// values beyond the border repeat it.
fn resample(t: &Tensor, grid: &Tensor, mode: i64) -> Result<Tensor> {
    Ok(t.unsqueeze(0).f_grid_sampler(&grid.to_device(t.device()), mode, 1, true)?.squeeze_dim(0))
}

/// A rotation from angles (radians) about x, y and z, applied in that order.
pub(crate) fn rotation([ax, ay, az]: [f64; 3]) -> [[f64; 3]; 3] {
    let (sx, cx, sy, cy, sz, cz) = (ax.sin(), ax.cos(), ay.sin(), ay.cos(), az.sin(), az.cos());
    let rx = [[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]];
    let ry = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
    let rz = [[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]];
    let mul =
        |a: [[f64; 3]; 3], b: [[f64; 3]; 3]| -> [[f64; 3]; 3] { std::array::from_fn(|i| std::array::from_fn(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum())) };
    mul(mul(rz, ry), rx)
}
