//! What the training commands read: image volumes (NIfTI or DICOM), their label maps, and how
//! they are brought to one footing (isotropic spacing, intensities in `[0, 1]`).
use anyhow::{bail, Context, Result};
use clap::Args;
use ssl_medical::io::read_volume;
use ssl_medical::preprocess::Intensity;
use ssl_medical::volume::Volume;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct VolumeArgs {
    /// Image volumes: `.nii` / `.nii.gz` files or DICOM series, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub images: Vec<PathBuf>,
    /// Intensities to [0, 1]: `mr` (1st-99th percentiles), a CT window (`abdomen`, `brain`,
    /// `bone`, `lung`) or `CENTRE,WIDTH` in the image's units.
    #[arg(long, default_value = "abdomen")]
    pub intensity: String,
    /// Isotropic voxel size (mm) the volumes are resampled to.
    #[arg(long, default_value_t = 4.0)]
    pub spacing: f64,
}

impl VolumeArgs {
    /// The volumes, read in order (the first unreadable one is an error naming it).
    pub fn read(&self) -> Result<Vec<Volume>> {
        read_all(&self.images)
    }

    pub fn intensity(&self) -> Result<Intensity> {
        Intensity::parse(&self.intensity)
    }

    pub fn check(&self) -> Result<()> {
        self.intensity()?;
        if !(self.spacing.is_finite() && self.spacing > 0.0) {
            bail!("--spacing must be a positive number of millimetres, got {}", self.spacing);
        }
        Ok(())
    }
}

/// Reads every path as a volume.
pub fn read_all(paths: &[PathBuf]) -> Result<Vec<Volume>> {
    paths.iter().map(|p| read_volume(p)).collect()
}

/// Label maps, one per image and in the same order, checked to lie on their image's grid.
pub fn read_labels(paths: &[PathBuf], images: &[Volume]) -> Result<Vec<Volume>> {
    if paths.len() != images.len() {
        bail!("{} label maps for {} images: give one per image, in the same order", paths.len(), images.len());
    }
    let labels = read_all(paths)?;
    for (image, label) in images.iter().zip(&labels) {
        image.check_mask(label)?;
    }
    Ok(labels)
}

/// Writes `value` as pretty JSON to `path`.
pub fn write_json(path: &std::path::Path, value: &serde_json::Value) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, serde_json::to_string_pretty(value)?).with_context(|| format!("cannot write {}", path.display()))
}
