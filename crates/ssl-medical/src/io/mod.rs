//! Volumes in: NIfTI-1 files and DICOM series, each to a [`Volume`] in RAS+ millimetres.
pub mod dicom;
mod dicom_lengths;
pub mod dicom_seg;
pub mod nifti;
pub mod rtstruct;

pub use dicom::read_dicom_series;
pub use dicom_seg::{read_dicom_seg, Segmentation};
pub use nifti::{read_nifti, write_nifti, VoxelType};
pub use rtstruct::{read_rtstruct, Structure, StructureSet};

use crate::volume::Volume;
use anyhow::Result;
use std::path::Path;

/// Reads a volume by what `path` is: a `.nii` / `.nii.gz` file as NIfTI; a folder, or any
/// other file, as a DICOM series.
pub fn read_volume(path: &Path) -> Result<Volume> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    if path.is_file() && (name.ends_with(".nii") || name.ends_with(".nii.gz")) {
        read_nifti(path)
    } else {
        read_dicom_series(path)
    }
}
