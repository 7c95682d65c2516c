//! A generated abdominal CT for what the registries lack: no abdominal CT with organ masks
//! can be installed from a package registry, so localisation and segmentation of liver,
//! spleen and kidneys are trained and scored on these volumes ("generated" in every report).
//!
//! Each phantom is drawn from its seed: a body outline (skin, subcutaneous fat, muscle
//! wall, a mottled interior of bowel and visceral fat), the spine (vertebral bodies with
//! discs, arches, canal) and paraspinal muscles, liver, spleen, both kidneys (with the
//! renal sinus), the aorta, the inferior vena cava and a stomach with an air-fluid level,
//! at portal-venous Hounsfield values. The whole patient is shifted, turned and scaled,
//! every organ is moved, resized, turned and its surface perturbed. Intensities are drawn
//! on a grid twice as fine and averaged (partial volume), blurred by a Gaussian point-spread
//! function and given Gaussian noise; the label of a voxel is the structure at its centre,
//! so masks and boxes are exact.
use crate::augment::rotation;
use crate::volume::{Affine, Volume};
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, StandardNormal};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// The structures of a phantom and their label ids (0 is outside the body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Organ {
    /// Everything inside the skin not listed below (fat, muscle, bowel, vessels).
    Body = 1,
    /// Vertebrae and discs.
    Spine = 2,
    /// Liver.
    Liver = 3,
    /// Spleen.
    Spleen = 4,
    /// The patient's left kidney (at negative x in RAS+).
    KidneyLeft = 5,
    /// The patient's right kidney.
    KidneyRight = 6,
    /// The abdominal aorta.
    Aorta = 7,
    /// The stomach, gas and fluid.
    Stomach = 8,
}

impl Organ {
    /// Every structure, in label order.
    pub const ALL: [Organ; 8] = [Organ::Body, Organ::Spine, Organ::Liver, Organ::Spleen, Organ::KidneyLeft, Organ::KidneyRight, Organ::Aorta, Organ::Stomach];

    /// The label id in the phantom's label map.
    pub fn label(self) -> i64 {
        self as i64
    }

    /// A lower-case name (`kidney-left`).
    pub fn name(self) -> &'static str {
        match self {
            Organ::Body => "body",
            Organ::Spine => "spine",
            Organ::Liver => "liver",
            Organ::Spleen => "spleen",
            Organ::KidneyLeft => "kidney-left",
            Organ::KidneyRight => "kidney-right",
            Organ::Aorta => "aorta",
            Organ::Stomach => "stomach",
        }
    }

    /// The structure called `name` (as [`Organ::name`] writes it).
    pub fn from_name(name: &str) -> Result<Organ> {
        Organ::ALL
            .into_iter()
            .find(|o| o.name() == name)
            .ok_or_else(|| anyhow::anyhow!("unknown organ '{name}': one of {}", Organ::ALL.map(|o| o.name()).join(", ")))
    }
}

/// How phantoms are drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct PhantomConfig {
    /// Voxels `[Z, Y, X]`.
    pub shape: [i64; 3],
    /// Millimetres per voxel along (x, y, z).
    pub spacing: [f64; 3],
    /// Standard deviation of the Gaussian noise, in HU.
    pub noise_hu: f64,
    /// Standard deviation of the Gaussian point-spread function, in millimetres (0: none).
    pub blur_mm: f64,
    /// Scale of the random variation of pose, size and shape (0: every phantom alike but
    /// for the noise; 1: the default spread).
    pub variation: f64,
}

impl Default for PhantomConfig {
    /// 96 x 72 x 48 voxels of 4 mm: 384 x 288 x 192 mm, from the liver dome to below the
    /// kidneys; small enough for CPU training.
    fn default() -> Self {
        Self { shape: [48, 72, 96], spacing: [4.0, 4.0, 4.0], noise_hu: 12.0, blur_mm: 1.5, variation: 1.0 }
    }
}

impl PhantomConfig {
    /// Checks the settings (errors name the field).
    pub fn validate(&self) -> Result<()> {
        if self.shape.iter().any(|&d| !(8..=1024).contains(&d)) {
            bail!("phantom shape must have 8 to 1024 voxels per axis, got {:?}", self.shape);
        }
        if self.spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            bail!("phantom spacing must be positive, got {:?}", self.spacing);
        }
        for (name, v) in [("noise_hu", self.noise_hu), ("blur_mm", self.blur_mm), ("variation", self.variation)] {
            if !(v.is_finite() && v >= 0.0) {
                bail!("phantom {name} must be a finite number >= 0, got {v}");
            }
        }
        Ok(())
    }

    /// The grid's affine: axis-aligned (RAS+), centred on the world origin.
    pub fn affine(&self) -> Affine {
        let mut a = Affine::scaling(self.spacing);
        let sizes = [self.shape[2], self.shape[1], self.shape[0]];
        for (axis, row) in a.0.iter_mut().take(3).enumerate() {
            row[3] = -(sizes[axis] - 1) as f64 * self.spacing[axis] / 2.0;
        }
        a
    }
}

/// A box on the voxel grid, inclusive, as `(x, y, z)` index triples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoxelBox {
    /// The smallest indices.
    pub min: [i64; 3],
    /// The largest indices.
    pub max: [i64; 3],
}

impl VoxelBox {
    /// The tight box of the non-zero voxels of a `[Z, Y, X]` mask, or `None` when it is empty.
    pub fn of_mask(mask: &Tensor) -> Option<VoxelBox> {
        let m = mask.ne(0);
        let extent = |keep: i64| -> Option<(i64, i64)> {
            // Reduce over the two other axes of [Z, Y, X] (dim `keep`).
            let dims: Vec<i64> = (0..3).filter(|&d| d != keep).collect();
            let any = m.any_dims(Some(dims.as_slice()), false);
            let idx = any.nonzero();
            let n = idx.size()[0];
            (n > 0).then(|| (idx.int64_value(&[0, 0]), idx.int64_value(&[n - 1, 0])))
        };
        let (z, y, x) = (extent(0)?, extent(1)?, extent(2)?);
        Some(VoxelBox { min: [x.0, y.0, z.0], max: [x.1, y.1, z.1] })
    }

    /// Voxels inside.
    pub fn volume(&self) -> i64 {
        (0..3).map(|a| self.max[a] - self.min[a] + 1).product()
    }

    /// Intersection over union with `other` (voxel counts).
    pub fn iou(&self, other: &VoxelBox) -> f64 {
        let inter: i64 = (0..3).map(|a| (self.max[a].min(other.max[a]) - self.min[a].max(other.min[a]) + 1).max(0)).product();
        inter as f64 / (self.volume() + other.volume() - inter) as f64
    }
}

/// One generated volume: intensities in HU, the label map on the same grid, and the box of
/// every structure.
#[derive(Debug)]
pub struct Phantom {
    /// Hounsfield units, `[Z, Y, X]`.
    pub image: Volume,
    /// Label ids ([`Organ::label`]), `[Z, Y, X]`.
    pub labels: Volume,
    /// The tight box of each structure present.
    pub boxes: Vec<(Organ, VoxelBox)>,
    /// The seed it was drawn from.
    pub seed: u64,
}

impl Phantom {
    /// The box of `organ`, when it lies in the volume.
    pub fn box_of(&self, organ: Organ) -> Option<VoxelBox> {
        self.boxes.iter().find(|(o, _)| *o == organ).map(|(_, b)| *b)
    }
}

/// Draws the phantom of `seed` (the same seed gives the same volume on any device).
pub fn generate(cfg: &PhantomConfig, seed: u64) -> Result<Phantom> {
    cfg.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let anatomy = Anatomy::draw(&mut rng, cfg.variation);
    let affine = cfg.affine();
    let source = Path::new("phantom").join(format!("seed-{seed}"));

    // Labels at the voxel centres; intensities on a grid twice as fine, then averaged.
    let labels = anatomy.render(&grid(cfg, 1), None).0;
    let fine_shape = cfg.shape.map(|d| 2 * d);
    let mottle = smooth_field(&mut rng, cfg.shape.map(|d| (d / 6).max(2)), fine_shape);
    let (_, hu) = anatomy.render(&grid(cfg, 2), Some(&mottle));
    let mut image = hu.view([1, 1, fine_shape[0], fine_shape[1], fine_shape[2]]).avg_pool3d([2, 2, 2], [2, 2, 2], [0, 0, 0], false, true, None::<i64>);
    if cfg.blur_mm > 0.0 {
        image = gaussian_blur(&image, cfg.blur_mm, cfg.spacing);
    }
    let mut image = image.view(cfg.shape);
    if cfg.noise_hu > 0.0 {
        let normal = Normal::new(0.0f32, cfg.noise_hu as f32)?;
        let noise: Vec<f32> = (0..cfg.shape.iter().product::<i64>()).map(|_| normal.sample(&mut rng)).collect();
        image += Tensor::from_slice(&noise).view(cfg.shape);
    }
    let boxes = Organ::ALL.into_iter().filter_map(|o| VoxelBox::of_mask(&labels.eq(o.label())).map(|b| (o, b))).collect();
    Ok(Phantom {
        image: Volume::new(image.clamp(-1024.0, 3071.0), affine, &source)?,
        labels: Volume::new(labels.to_kind(Kind::Float), affine, &source)?,
        boxes,
        seed,
    })
}

/// World coordinates (x, y, z) in millimetres of the voxel centres, each `[Z, Y, X]`, on a
/// grid `factor` times finer than `cfg`'s (covering the same extent).
fn grid(cfg: &PhantomConfig, factor: i64) -> [Tensor; 3] {
    let shape = cfg.shape.map(|d| d * factor);
    let axis = |dim: usize, spacing: f64| {
        let n = shape[dim];
        let step = spacing / factor as f64;
        // Centred on 0 like the coarse grid; sub-voxels sit symmetrically in each voxel.
        (Tensor::arange(n, (Kind::Float, Device::Cpu)) - (n - 1) as f64 / 2.0) * step
    };
    let z = axis(0, cfg.spacing[2]).view([shape[0], 1, 1]).expand(shape, false);
    let y = axis(1, cfg.spacing[1]).view([1, shape[1], 1]).expand(shape, false);
    let x = axis(2, cfg.spacing[0]).view([1, 1, shape[2]]).expand(shape, false);
    [x, y, z]
}

/// A separable Gaussian blur of a `[1, 1, Z, Y, X]` volume, `sigma_mm` in millimetres.
fn gaussian_blur(v: &Tensor, sigma_mm: f64, spacing: [f64; 3]) -> Tensor {
    let mut out = v.shallow_clone();
    // (dimension of [1,1,Z,Y,X], spacing along it)
    for (dim, s) in [(4usize, spacing[0]), (3, spacing[1]), (2, spacing[2])] {
        let sigma = sigma_mm / s;
        let radius = (3.0 * sigma).ceil() as i64;
        if radius < 1 {
            continue;
        }
        let taps: Vec<f32> = (-radius..=radius).map(|i| (-0.5 * (i as f64 / sigma).powi(2)).exp() as f32).collect();
        let total: f32 = taps.iter().sum();
        let kernel = Tensor::from_slice(&taps) / f64::from(total);
        let mut shape = [1i64, 1, 1, 1, 1];
        shape[dim] = 2 * radius + 1;
        // Replicate the border so the body's edge does not fade into the padding.
        let mut pad = [0i64; 6];
        pad[2 * (4 - dim)] = radius;
        pad[2 * (4 - dim) + 1] = radius;
        out = out.pad(pad, "replicate", None).conv3d(&kernel.view(shape), None::<Tensor>, [1, 1, 1], [0, 0, 0], [1, 1, 1], 1);
    }
    out
}

/// An ellipsoid-like solid: centre, semi-axes, rotation and a perturbed surface.
#[derive(Debug, Clone)]
struct Blob {
    centre: [f64; 3],
    radii: [f64; 3],
    /// Rotation (rows: the blob's axes in world coordinates).
    rotation: [[f64; 3]; 3],
    /// Surface waves: (direction, frequency, phase, amplitude).
    waves: Vec<([f64; 3], f64, f64, f64)>,
}

impl Blob {
    fn new(centre: [f64; 3], radii: [f64; 3], angles: [f64; 3]) -> Self {
        Self { centre, radii, rotation: rotation(angles), waves: Vec::new() }
    }

    /// Adds `n` random surface waves of relative amplitude about `amplitude`.
    fn perturbed(mut self, rng: &mut ChaCha8Rng, n: usize, amplitude: f64) -> Self {
        for _ in 0..n {
            let d = unit(rng);
            self.waves.push((d, rng.random_range(1.5..3.5), rng.random_range(0.0..std::f64::consts::TAU), amplitude * rng.random_range(0.5..1.0)));
        }
        self
    }

    /// The blob's local coordinates, each in units of its semi-axes.
    fn local(&self, p: &[Tensor; 3]) -> [Tensor; 3] {
        let d: Vec<Tensor> = (0..3).map(|a| &p[a] - self.centre[a]).collect();
        std::array::from_fn(|r| {
            let row = self.rotation[r];
            (&d[0] * row[0] + &d[1] * row[1] + &d[2] * row[2]) / self.radii[r]
        })
    }

    /// Where the blob is (bool `[Z, Y, X]`).
    fn inside(&self, p: &[Tensor; 3]) -> Tensor {
        let u = self.local(p);
        let r2 = &u[0] * &u[0] + &u[1] * &u[1] + &u[2] * &u[2];
        let mut bound = Tensor::ones_like(&r2);
        if !self.waves.is_empty() {
            let r = (&r2 + 1e-6).sqrt();
            for (d, f, phase, amp) in &self.waves {
                let cos = (&u[0] * d[0] + &u[1] * d[1] + &u[2] * d[2]) / &r;
                bound += (cos * *f + *phase).sin() * *amp;
            }
        }
        r2.lt_tensor(&(&bound * &bound))
    }
}

fn unit(rng: &mut ChaCha8Rng) -> [f64; 3] {
    loop {
        let v: [f64; 3] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if (0.1..=1.0).contains(&n) {
            return v.map(|x| x / n);
        }
    }
}

/// Portal-venous Hounsfield values.
mod hu {
    pub const AIR: f64 = -1000.0;
    pub const FAT: f64 = -100.0;
    pub const MUSCLE: f64 = 55.0;
    pub const INTERIOR: f64 = 20.0;
    pub const LIVER: f64 = 105.0;
    pub const SPLEEN: f64 = 115.0;
    pub const KIDNEY: f64 = 165.0;
    pub const RENAL_SINUS: f64 = -20.0;
    pub const AORTA: f64 = 170.0;
    pub const IVC: f64 = 120.0;
    pub const STOMACH_FLUID: f64 = 15.0;
    pub const BONE_CANCELLOUS: f64 = 250.0;
    pub const BONE_CORTICAL: f64 = 700.0;
    pub const DISC: f64 = 85.0;
    pub const CANAL: f64 = 15.0;
}

/// One patient: every structure placed in world millimetres.
struct Anatomy {
    body: Blob,
    fat_mm: f64,
    /// (centre x, centre y, semi-axes x and y) of the vertebral bodies; z runs through.
    spine: ([f64; 2], [f64; 2]),
    disc_period_mm: f64,
    disc_phase_mm: f64,
    muscles: [Blob; 2],
    liver: Blob,
    /// A plane (normal, offset) that cuts the liver's left lobe into a wedge.
    liver_cut: ([f64; 3], f64),
    spleen: Blob,
    kidneys: [Blob; 2],
    sinuses: [Blob; 2],
    aorta: ([f64; 2], f64),
    ivc: ([f64; 2], f64),
    stomach: Blob,
    /// Heights above which the stomach holds gas.
    gas_level: f64,
    /// Patient pose: turned about z by this angle, shifted by this offset.
    yaw: f64,
    shift: [f64; 3],
    /// Amplitude of the mottling of the interior (bowel and visceral fat).
    mottle_hu: f64,
}

impl Anatomy {
    fn draw(rng: &mut ChaCha8Rng, variation: f64) -> Self {
        let v = variation;
        let mut jitter = |spread: f64| if v > 0.0 { rng.random_range(-1.0..1.0) * spread * v } else { 0.0 };
        let body_scale = [1.0 + jitter(0.12), 1.0 + jitter(0.12)];
        let (bx, by) = (150.0 * body_scale[0], 105.0 * body_scale[1]);
        let spine_y = -by + 55.0 + jitter(5.0);
        let size = |j: &mut dyn FnMut(f64) -> f64, r: [f64; 3], s: f64| r.map(|x| x * (1.0 + j(s)));
        let mut j = |s: f64| jitter(s);
        let liver = Blob::new(
            [55.0 * body_scale[0] + j(8.0), 5.0 + j(8.0), 40.0 + j(10.0)],
            size(&mut j, [80.0, 72.0, 62.0], 0.12),
            [j(0.12), j(0.12), -0.3 + j(0.15)],
        );
        let liver_cut = ([-0.85, -0.35, 0.4], 95.0 + j(10.0));
        let spleen = Blob::new(
            [-78.0 * body_scale[0] + j(8.0), spine_y + 35.0 + j(8.0), 35.0 + j(10.0)],
            size(&mut j, [24.0, 50.0, 42.0], 0.15),
            [j(0.15), j(0.15), 0.6 + j(0.2)],
        );
        let kidney = |side: f64, j: &mut dyn FnMut(f64) -> f64, z: f64| {
            Blob::new(
                [side * (52.0 + j(6.0)), spine_y + 8.0 + j(6.0), z + j(10.0)],
                size(j, [24.0, 30.0, 52.0], 0.1),
                [j(0.1), side * (0.25 + j(0.1)), side * (-0.45 + j(0.15))],
            )
        };
        // RAS+: the patient's left is negative x; the right kidney sits lower.
        let kidneys = [kidney(-1.0, &mut j, -20.0), kidney(1.0, &mut j, -32.0)];
        let sinuses = kidneys.clone().map(|k| {
            let side = k.centre[0].signum();
            let inward = 0.35 * k.radii[0];
            Blob { centre: [k.centre[0] - side * inward, k.centre[1] + 4.0, k.centre[2]], radii: [k.radii[0] * 0.45, k.radii[1] * 0.4, k.radii[2] * 0.55], ..k }
        });
        let stomach =
            Blob::new([-45.0 * body_scale[0] + j(8.0), 35.0 + j(8.0), 50.0 + j(10.0)], size(&mut j, [42.0, 32.0, 38.0], 0.15), [j(0.2), j(0.2), j(0.3)]);
        let gas_level = stomach.centre[2] + 12.0 + j(8.0);
        let muscles = [-1.0, 1.0].map(|side| Blob::new([side * 32.0, spine_y - 30.0, 0.0], [22.0, 20.0, 400.0], [0.0, 0.0, 0.0]));
        let anatomy = Anatomy {
            body: Blob::new([0.0, 0.0, 0.0], [bx, by, 1e4], [0.0, 0.0, 0.0]),
            fat_mm: 14.0 + j(6.0),
            spine: ([j(3.0), spine_y], [20.0, 16.0]),
            disc_period_mm: 34.0 + j(3.0),
            disc_phase_mm: 17.0 * (1.0 + j(1.0)),
            muscles,
            liver,
            liver_cut,
            spleen,
            kidneys,
            sinuses,
            aorta: ([-18.0 + j(4.0), spine_y + 30.0], 11.0 + j(2.0)),
            ivc: ([22.0 + j(4.0), spine_y + 32.0], 12.0 + j(2.0)),
            stomach,
            gas_level,
            yaw: j(0.15),
            shift: [j(15.0), j(12.0), j(20.0)],
            mottle_hu: 35.0,
        };
        let wobble = 0.06 * v;
        if wobble > 0.0 {
            let mut a = anatomy;
            a.liver = a.liver.perturbed(rng, 3, wobble);
            a.spleen = a.spleen.perturbed(rng, 2, wobble);
            a.kidneys = a.kidneys.map(|k| k.perturbed(rng, 2, wobble * 0.6));
            a.stomach = a.stomach.perturbed(rng, 3, wobble);
            a
        } else {
            anatomy
        }
    }

    /// Labels (int64) and intensities (HU, float) at the points `p` (world mm, before the
    /// patient's pose); `mottle` (unit amplitude, on the points' grid) textures the
    /// interior where intensities are wanted.
    fn render(&self, p: &[Tensor; 3], mottle: Option<&Tensor>) -> (Tensor, Tensor) {
        // Undo the pose: the anatomy is drawn in the patient's own frame.
        let (s, c) = (self.yaw.sin(), self.yaw.cos());
        let (x0, y0) = (&p[0] - self.shift[0], &p[1] - self.shift[1]);
        let q = [&x0 * c + &y0 * s, &y0 * c - &x0 * s, &p[2] - self.shift[2]];
        let shape = q[0].size();
        let mut labels = Tensor::zeros(shape.as_slice(), (Kind::Int64, Device::Cpu));
        let mut hu = Tensor::full(shape.as_slice(), hu::AIR, (Kind::Float, Device::Cpu));
        let mut paint = |mask: &Tensor, label: Option<Organ>, value: &Tensor| {
            hu = value.where_self(mask, &hu);
            if let Some(o) = label {
                labels = labels.masked_fill(mask, o.label());
            }
        };
        let constant = |v: f64| Tensor::from(v as f32);

        // Body: fat under the skin, a mottled interior, the muscle wall.
        let body = self.body.inside(&q);
        paint(&body, Some(Organ::Body), &constant(hu::FAT));
        let inner = Blob { radii: [self.body.radii[0] - self.fat_mm, self.body.radii[1] - self.fat_mm, 1e4], ..self.body.clone() };
        let wall = Blob { radii: [inner.radii[0] - 10.0, inner.radii[1] - 10.0, 1e4], ..self.body.clone() };
        paint(&inner.inside(&q), None, &constant(hu::MUSCLE));
        let interior = mottle.map_or_else(|| constant(hu::INTERIOR), |m| m * self.mottle_hu + hu::INTERIOR);
        paint(&wall.inside(&q), None, &interior);
        for m in &self.muscles {
            paint(&m.inside(&q), None, &constant(hu::MUSCLE));
        }

        // Vessels.
        for ((centre, radius), value) in [(self.aorta, hu::AORTA), (self.ivc, hu::IVC)] {
            let tube = Blob::new([centre[0], centre[1], 0.0], [radius, radius, 1e4], [0.0; 3]);
            paint(&tube.inside(&q), if value == hu::AORTA { Some(Organ::Aorta) } else { None }, &constant(value));
        }

        // Spine: vertebral bodies (cortical shell, cancellous core) with discs, the arch and
        // spinous process behind, the canal inside the arch.
        let ([sx, sy], [ax, ay]) = self.spine;
        let column = Blob::new([sx, sy, 0.0], [ax, ay, 1e4], [0.0; 3]);
        let core = Blob::new([sx, sy, 0.0], [ax - 3.0, ay - 3.0, 1e4], [0.0; 3]);
        let arch = Blob::new([sx, sy - ay - 9.0, 0.0], [13.0, 11.0, 1e4], [0.0; 3]);
        let canal = Blob::new([sx, sy - ay - 9.0, 0.0], [8.0, 7.0, 1e4], [0.0; 3]);
        let process = Blob::new([sx, sy - ay - 26.0, 0.0], [4.0, 12.0, 1e4], [0.0; 3]);
        let phase = ((&q[2] + self.disc_phase_mm).remainder(self.disc_period_mm) - self.disc_period_mm / 2.0).abs();
        let disc = phase.lt(4.0);
        for (blob, value) in [(&column, hu::BONE_CORTICAL), (&core, hu::BONE_CANCELLOUS), (&arch, hu::BONE_CORTICAL), (&process, hu::BONE_CORTICAL)] {
            paint(&blob.inside(&q), Some(Organ::Spine), &constant(value));
        }
        paint(&column.inside(&q).logical_and(&disc), Some(Organ::Spine), &constant(hu::DISC));
        paint(&canal.inside(&q), Some(Organ::Body), &constant(hu::CANAL));

        // Organs.
        let (n, off) = self.liver_cut;
        let wedge = (&q[0] * n[0] + &q[1] * n[1] + &q[2] * n[2]).lt(off);
        paint(&self.liver.inside(&q).logical_and(&wedge), Some(Organ::Liver), &constant(hu::LIVER));
        paint(&self.spleen.inside(&q), Some(Organ::Spleen), &constant(hu::SPLEEN));
        for (i, organ) in [Organ::KidneyLeft, Organ::KidneyRight].into_iter().enumerate() {
            paint(&self.kidneys[i].inside(&q), Some(organ), &constant(hu::KIDNEY));
            let sinus = self.sinuses[i].inside(&q).logical_and(&self.kidneys[i].inside(&q));
            paint(&sinus, Some(organ), &constant(hu::RENAL_SINUS));
        }
        let stomach = self.stomach.inside(&q);
        let gas = q[2].gt(self.gas_level);
        paint(&stomach, Some(Organ::Stomach), &Tensor::where_scalar(&gas, hu::AIR, hu::STOMACH_FLUID).to_kind(Kind::Float));
        // Whatever lies outside the skin is air, whatever was painted there.
        let outside = body.logical_not();
        labels = labels.masked_fill(&outside, 0);
        hu = hu.masked_fill(&outside, hu::AIR);
        (labels, hu)
    }
}

/// A smooth random field of unit-order amplitude on `shape`: standard normal values on the
/// `coarse` grid of knots, upsampled trilinearly.
fn smooth_field(rng: &mut ChaCha8Rng, coarse: [i64; 3], shape: [i64; 3]) -> Tensor {
    let values: Vec<f32> = (0..coarse.iter().product::<i64>()).map(|_| StandardNormal.sample(rng)).collect();
    Tensor::from_slice(&values).view([1, 1, coarse[0], coarse[1], coarse[2]]).upsample_trilinear3d(shape, true, None, None, None).view(shape)
}
