//! Volumes brought to a common footing: resampled to a voxel spacing, intensities
//! windowed (CT) or normalised by percentiles (MR).
use crate::volume::{Affine, Volume};
use anyhow::{bail, Result};
use tch::{Kind, Tensor};

/// How values between voxel centres are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    /// Trilinear: for intensities.
    Linear,
    /// The nearest voxel: for label maps (no label is invented between two others).
    Nearest,
}

/// The volume resampled to `spacing` = (x, y, z) millimetres per voxel. Voxel 0 keeps its
/// centre; the grid covers the old extent (rounded to whole voxels); values beyond the
/// last old voxel repeat the border. The affine's directions are kept.
pub fn resample_to_spacing(volume: &Volume, spacing: [f64; 3], how: Interpolation) -> Result<Volume> {
    if spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        bail!("{}: the target spacing must be positive, got {spacing:?}", volume.source.display());
    }
    let old = volume.spacing();
    let [z, y, x] = volume.shape();
    let old_sizes = [x, y, z];
    // New voxel counts per axis (x, y, z) and where each new centre falls in old indices.
    let sizes: [i64; 3] = std::array::from_fn(|a| ((old_sizes[a] as f64 * old[a] / spacing[a]).round() as i64).max(1));
    let device = volume.data.device();
    let coord = |a: usize| -> Tensor {
        let step = spacing[a] / old[a];
        let idx = Tensor::arange(sizes[a], (Kind::Float, device)) * step;
        // align_corners: index 0 -> -1, index n-1 -> +1 (a single voxel sits at 0).
        if old_sizes[a] > 1 {
            idx * (2.0 / (old_sizes[a] - 1) as f64) - 1.0
        } else {
            idx * 0.0
        }
    };
    let (gx, gy, gz) = (coord(0), coord(1), coord(2));
    let (nx, ny, nz) = (sizes[0], sizes[1], sizes[2]);
    // grid_sample's last dimension is (x, y, z) for a [N, C, D, H, W] input.
    let grid = Tensor::stack(
        &[gx.view([1, 1, nx]).expand([nz, ny, nx], false), gy.view([1, ny, 1]).expand([nz, ny, nx], false), gz.view([nz, 1, 1]).expand([nz, ny, nx], false)],
        -1,
    )
    .unsqueeze(0);
    let mode = match how {
        Interpolation::Linear => 0,
        Interpolation::Nearest => 1,
    };
    // Padding mode 1 (border), align_corners true.
    let data = volume.data.view([1, 1, z, y, x]).f_grid_sampler(&grid, mode, 1, true)?.view([nz, ny, nx]);
    let mut m = volume.affine.0;
    for (a, s) in spacing.iter().enumerate() {
        for row in m.iter_mut().take(3) {
            row[a] *= s / old[a];
        }
    }
    Volume::new(data, Affine(m), &volume.source)
}

/// An intensity window (centre and width, as radiologists give them): values below
/// `centre - width / 2` become 0, above `centre + width / 2` 1, linear between.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Centre (level), in the volume's units (HU for CT).
    pub centre: f64,
    /// Width, > 0.
    pub width: f64,
}

impl Window {
    /// Soft tissue of the abdomen: level 40 HU, width 400.
    pub const ABDOMEN: Window = Window { centre: 40.0, width: 400.0 };
    /// Brain: level 40 HU, width 80.
    pub const BRAIN: Window = Window { centre: 40.0, width: 80.0 };
    /// Bone: level 400 HU, width 1800.
    pub const BONE: Window = Window { centre: 400.0, width: 1800.0 };
    /// Lung: level -600 HU, width 1500.
    pub const LUNG: Window = Window { centre: -600.0, width: 1500.0 };

    /// A preset by name (abdomen, brain, bone, lung).
    pub fn preset(name: &str) -> Result<Window> {
        Ok(match name {
            "abdomen" => Self::ABDOMEN,
            "brain" => Self::BRAIN,
            "bone" => Self::BONE,
            "lung" => Self::LUNG,
            other => bail!("unknown window '{other}': abdomen, brain, bone or lung (or give centre and width)"),
        })
    }

    /// Values mapped into `[0, 1]`.
    pub fn apply(&self, values: &Tensor) -> Result<Tensor> {
        if !(self.width.is_finite() && self.width > 0.0 && self.centre.is_finite()) {
            bail!("a window needs a finite centre and a positive width, got {self:?}");
        }
        let low = self.centre - self.width / 2.0;
        Ok(((values - low) / self.width).clamp(0.0, 1.0))
    }
}

/// Values mapped linearly so that the `low` and `high` percentiles (of the voxels above
/// `floor`, e.g. 0 to leave out an MR's background) become 0 and 1, then clipped to
/// `[0, 1]`: the usual normalisation of MR, whose units vary by scanner.
pub fn normalise_percentiles(volume: &Volume, low: f64, high: f64, floor: Option<f64>) -> Result<Tensor> {
    if !((0.0..100.0).contains(&low) && low < high && high <= 100.0) {
        bail!("percentiles must satisfy 0 <= low < high <= 100, got {low} and {high}");
    }
    let flat = volume.data.flatten(0, -1);
    let kept = match floor {
        Some(f) => flat.masked_select(&flat.gt(f)),
        None => flat,
    };
    let n = kept.size()[0];
    if n == 0 {
        bail!("{}: no voxel lies above {floor:?}", volume.source.display());
    }
    let sorted = kept.sort(0, false).0;
    let at = |p: f64| sorted.double_value(&[((p / 100.0) * (n - 1) as f64).round() as i64]);
    let (lo, hi) = (at(low), at(high));
    if hi <= lo {
        bail!("{}: the {low}th and {high}th percentiles are equal ({lo}): a constant volume", volume.source.display());
    }
    Ok(((&volume.data - lo) / (hi - lo)).clamp(0.0, 1.0))
}

/// How a volume's values become `[0, 1]` for a network: a CT window, or MR's percentile
/// normalisation (1st and 99th percentiles of the voxels above 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Intensity {
    /// A window in the volume's units (HU for CT).
    Window(Window),
    /// The 1st and 99th percentiles of the voxels above 0 mapped to 0 and 1.
    Percentiles,
}

impl Intensity {
    /// From a name: `mr` (percentiles), a window preset (`abdomen`, `brain`, `bone`, `lung`),
    /// or `CENTRE,WIDTH`.
    pub fn parse(text: &str) -> Result<Self> {
        if text == "mr" {
            return Ok(Self::Percentiles);
        }
        if let Some((c, w)) = text.split_once(',') {
            let (centre, width) = (c.trim().parse::<f64>(), w.trim().parse::<f64>());
            let (Ok(centre), Ok(width)) = (centre, width) else { bail!("intensity '{text}': CENTRE,WIDTH must be two numbers") };
            if !(centre.is_finite() && width.is_finite() && width > 0.0) {
                bail!("intensity '{text}': a window needs a finite centre and a positive width");
            }
            return Ok(Self::Window(Window { centre, width }));
        }
        Window::preset(text).map(Self::Window).map_err(|e| anyhow::anyhow!("intensity: {e}, or mr"))
    }

    /// `volume`'s values mapped into `[0, 1]`.
    pub fn apply(&self, volume: &Volume) -> Result<Tensor> {
        match self {
            Self::Window(w) => w.apply(&volume.data),
            Self::Percentiles => normalise_percentiles(volume, 1.0, 99.0, Some(0.0)),
        }
    }

    /// The form [`Intensity::parse`] reads.
    pub fn name(&self) -> String {
        match self {
            Self::Percentiles => "mr".into(),
            Self::Window(w) => format!("{},{}", w.centre, w.width),
        }
    }
}
