//! Colin27, the single-subject T1 of the Montreal Neurological Institute, with structures of
//! the AAL atlas on its grid: the real brain MRI and label maps the registries ship, used by
//! BT-Unet's segmentation and by the localisation check.
use crate::io::read_nifti;
use crate::preprocess::{normalise_percentiles, resample_to_spacing, Interpolation};
use anyhow::{Context, Result};
use std::path::Path;
use tch::{Kind, Tensor};

/// AAL labels of the structures used: cerebellum (hemispheres and vermis), thalamus, and the
/// basal ganglia (caudate, putamen, pallidum): structures a T1 image shows.
pub const COLIN27_CLASSES: [(&str, &[i64]); 3] = [
    ("cerebellum", &[91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116]),
    ("thalamus", &[77, 78]),
    ("basal-ganglia", &[71, 72, 73, 74, 75, 76]),
];

/// Colin27 at one isotropic spacing.
#[derive(Debug)]
pub struct Colin27 {
    /// The T1 (`ch2.nii.gz`), `[Z, Y, X]`, normalised by its 1st and 99th percentiles (of the
    /// head) to about `[0, 1]`.
    pub image: Tensor,
    /// The class of each voxel (`[Z, Y, X]`, int64): 0 none, c + 1 for `COLIN27_CLASSES[c]`.
    pub classes: Tensor,
    /// Millimetres per voxel.
    pub spacing_mm: f64,
}

impl Colin27 {
    /// Reads `ch2.nii.gz` and `aal.nii.gz` from `dir` (as `datasets/fetch-medical.sh` lays
    /// them out), checks they share a grid, and resamples both to `spacing_mm`.
    pub fn load(dir: &Path, spacing_mm: f64) -> Result<Self> {
        let t1 = read_nifti(&dir.join("ch2.nii.gz"))?;
        let aal = read_nifti(&dir.join("aal.nii.gz"))?;
        t1.check_mask(&aal)?;
        let t1 = resample_to_spacing(&t1, [spacing_mm; 3], Interpolation::Linear)?;
        let aal = resample_to_spacing(&aal, [spacing_mm; 3], Interpolation::Nearest)?;
        let image = normalise_percentiles(&t1, 1.0, 99.0, Some(1.0))?;
        let ids = aal.data.round().to_kind(Kind::Int64);
        let mut classes = ids.zeros_like();
        for (c, (_, labels)) in COLIN27_CLASSES.iter().enumerate() {
            for &l in *labels {
                classes = classes.masked_fill(&ids.eq(l), c as i64 + 1);
            }
        }
        Ok(Self { image, classes, spacing_mm })
    }

    /// The class number (1..) of a structure by name.
    pub fn class(name: &str) -> Result<i64> {
        COLIN27_CLASSES
            .iter()
            .position(|c| c.0 == name)
            .map(|c| c as i64 + 1)
            .with_context(|| format!("no Colin27 structure {name:?} (there are {:?})", COLIN27_CLASSES.iter().map(|c| c.0).collect::<Vec<_>>()))
    }
}
