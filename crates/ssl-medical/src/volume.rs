//! A volume on a voxel grid placed in the world: the values as a tensor `[Z, Y, X]`, and
//! the affine that maps voxel indices to millimetres.
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// Voxel indices `(i, j, k, 1)` (i the fastest, along X) to world millimetres in NIfTI's
/// RAS+ frame: +x towards the patient's right, +y anterior, +z superior. DICOM's LPS+
/// positions are converted on reading (x and y negated).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine(pub [[f64; 4]; 4]);

impl Affine {
    /// A grid aligned with the world axes, `spacing` = (x, y, z) millimetres per voxel.
    pub fn scaling(spacing: [f64; 3]) -> Self {
        let mut m = [[0.0; 4]; 4];
        for (a, s) in spacing.iter().enumerate() {
            m[a][a] = *s;
        }
        m[3][3] = 1.0;
        Self(m)
    }

    /// The world position of voxel `(i, j, k)`.
    pub fn apply(&self, ijk: [f64; 3]) -> [f64; 3] {
        let m = &self.0;
        std::array::from_fn(|r| m[r][0] * ijk[0] + m[r][1] * ijk[1] + m[r][2] * ijk[2] + m[r][3])
    }

    /// Millimetres per voxel along i, j and k (the lengths of the matrix's columns).
    pub fn spacing(&self) -> [f64; 3] {
        std::array::from_fn(|c| (0..3).map(|r| self.0[r][c].powi(2)).sum::<f64>().sqrt())
    }

    /// The world axis each voxel axis runs closest to, as orientation letters (the
    /// direction of increasing index): `"RAS"` for a grid aligned with the world, `"LPS"`
    /// for DICOM's usual one.
    pub fn orientation(&self) -> String {
        (0..3)
            .map(|c| {
                let col: Vec<f64> = (0..3).map(|r| self.0[r][c]).collect();
                let axis = (0..3).max_by(|&a, &b| col[a].abs().total_cmp(&col[b].abs())).unwrap_or(c);
                let positive = col[axis] >= 0.0;
                match (axis, positive) {
                    (0, true) => 'R',
                    (0, false) => 'L',
                    (1, true) => 'A',
                    (1, false) => 'P',
                    (2, true) => 'S',
                    _ => 'I',
                }
            })
            .collect()
    }

    /// World to voxel: the inverse map, or `None` for a singular matrix.
    pub fn inverse(&self) -> Option<Affine> {
        if !self.is_invertible() {
            return None;
        }
        let m = &self.0;
        let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
        // The adjugate over the determinant: entry (r, c) is the cofactor of (c, r), with rows
        // and columns taken cyclically so its sign is built in.
        let cofactor = |r: usize, c: usize| {
            let (r1, r2, c1, c2) = ((c + 1) % 3, (c + 2) % 3, (r + 1) % 3, (r + 2) % 3);
            (m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]) / det
        };
        let mut inv: [[f64; 4]; 4] = std::array::from_fn(|r| std::array::from_fn(|c| if r < 3 && c < 3 { cofactor(r, c) } else { 0.0 }));
        for row in inv.iter_mut().take(3) {
            row[3] = -(0..3).map(|c| row[c] * m[c][3]).sum::<f64>();
        }
        inv[3][3] = 1.0;
        Some(Affine(inv))
    }

    /// Whether the 3x3 part can be inverted (a grid that spans three dimensions).
    pub fn is_invertible(&self) -> bool {
        let m = &self.0;
        let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
        det.is_finite() && det.abs() > 1e-12
    }
}

/// Values on a voxel grid: a float tensor `[Z, Y, X]` (k, j, i) and where it sits.
#[derive(Debug)]
pub struct Volume {
    /// `[Z, Y, X]` float values (Hounsfield units for CT, scanner units for MR, label ids).
    pub data: Tensor,
    /// Voxel to world.
    pub affine: Affine,
    /// The file or folder it was read from (for messages).
    pub source: PathBuf,
}

impl Volume {
    /// A volume from values `[Z, Y, X]`, checked: three non-empty dimensions, finite
    /// values, an invertible affine. Errors name `source`.
    pub fn new(data: Tensor, affine: Affine, source: &Path) -> Result<Self> {
        let size = data.size();
        if size.len() != 3 || size.iter().any(|&d| d < 1) {
            bail!("{}: a volume needs three non-empty dimensions, got {size:?}", source.display());
        }
        if !affine.is_invertible() {
            bail!("{}: the voxel-to-world matrix is singular or not finite: {:?}", source.display(), affine.0);
        }
        let data = data.to_kind(Kind::Float);
        let bad = data.isfinite().logical_not().sum(Kind::Int64).int64_value(&[]);
        if bad > 0 {
            bail!("{}: {bad} voxels are NaN or infinite", source.display());
        }
        Ok(Self { data, affine, source: source.to_path_buf() })
    }

    /// `[Z, Y, X]`.
    pub fn shape(&self) -> [i64; 3] {
        let s = self.data.size();
        [s[0], s[1], s[2]]
    }

    /// Millimetres per voxel along (x, y, z) = (i, j, k).
    pub fn spacing(&self) -> [f64; 3] {
        self.affine.spacing()
    }

    /// Whether `other` lies on the same grid (shape, and affine within 1e-3 mm).
    pub fn same_grid(&self, other: &Volume) -> bool {
        self.shape() == other.shape() && self.affine.0.iter().flatten().zip(other.affine.0.iter().flatten()).all(|(a, b)| (a - b).abs() < 1e-3)
    }

    /// An error naming both files unless `mask` lies on this volume's grid.
    pub fn check_mask(&self, mask: &Volume) -> Result<()> {
        if !self.same_grid(mask) {
            bail!(
                "{} is on another grid than {}: shape {:?} vs {:?}, spacing {:?} vs {:?} mm",
                mask.source.display(),
                self.source.display(),
                mask.shape(),
                self.shape(),
                mask.spacing(),
                self.spacing()
            );
        }
        Ok(())
    }

    /// Smallest and largest value.
    pub fn range(&self) -> (f64, f64) {
        (self.data.min().double_value(&[]), self.data.max().double_value(&[]))
    }
}
