//! What a volume is: grid, spacing, orientation, where it sits, its values; a label map
//! beside it is checked against its grid and counted; an RT structure set is filled on its
//! grid (or on one built around the contours) and can be written out as a NIfTI label map.
use anyhow::{bail, Context, Result};
use clap::Parser;
use ssl_medical::io::{read_rtstruct, read_volume, write_nifti, VoxelType};
use ssl_medical::preprocess::{resample_to_spacing, Interpolation};
use ssl_medical::volume::Volume;
use std::path::PathBuf;
use tch::Kind;

#[derive(Parser, Debug)]
pub struct Args {
    /// A `.nii` / `.nii.gz` file, or a DICOM series (a folder with one slice per file, or one file).
    /// May be left out with `--rtstruct`: the structures are then filled on a grid around them.
    #[arg(long, required_unless_present = "rtstruct")]
    pub data: Option<PathBuf>,
    /// A label map that must lie on the same grid (NIfTI or DICOM).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// A DICOM RT structure set: its structures filled on the volume's grid (the image they were
    /// drawn on) and counted.
    #[arg(long)]
    pub rtstruct: Option<PathBuf>,
    /// Which structures of `--rtstruct`, in label order (later ones win where they overlap);
    /// all with closed contours when left out.
    #[arg(long, value_delimiter = ',')]
    pub structures: Vec<String>,
    /// Pixel size in mm of the grid built around the structures when `--data` is left out.
    #[arg(long, default_value_t = 1.0)]
    pub pixel: f64,
    /// Write the structures' label map here (`.nii` / `.nii.gz`, int16).
    #[arg(long)]
    pub labels_out: Option<PathBuf>,
    /// Also resample to this spacing in mm (x,y,z) and report the new grid.
    #[arg(long, value_delimiter = ',')]
    pub spacing: Option<Vec<f64>>,
}

fn describe(what: &str, v: &Volume) {
    let [z, y, x] = v.shape();
    let s = v.spacing();
    let origin = v.affine.apply([0.0, 0.0, 0.0]);
    let (lo, hi) = v.range();
    println!("{what}: {}", v.source.display());
    println!("  grid      {x} x {y} x {z} voxels (x, y, z)");
    println!("  spacing   {:.3} x {:.3} x {:.3} mm", s[0], s[1], s[2]);
    println!("  axes      {} (direction of increasing i, j, k)", v.affine.orientation());
    println!("  origin    ({:.2}, {:.2}, {:.2}) mm, RAS+", origin[0], origin[1], origin[2]);
    println!("  values    {lo:.2} to {hi:.2}, mean {:.3}", v.data.mean(Kind::Double).double_value(&[]));
}

pub fn run(a: Args) -> Result<()> {
    let volume = a.data.as_deref().map(read_volume).transpose()?;
    if let Some(volume) = &volume {
        describe("volume", volume);
    }
    if let Some(path) = &a.labels {
        let Some(volume) = &volume else { bail!("--labels needs --data") };
        let labels = read_volume(path)?;
        volume.check_mask(&labels)?;
        println!("labels: {} (on the volume's grid)", path.display());
        count_labels(&labels, &[]);
    }
    if let Some(path) = &a.rtstruct {
        let set = read_rtstruct(path)?;
        let names: Vec<&str> = if a.structures.is_empty() {
            set.structures.iter().filter(|s| !s.contours.is_empty()).map(|s| s.name.as_str()).collect()
        } else {
            a.structures.iter().map(String::as_str).collect()
        };
        let built;
        let grid = match &volume {
            Some(v) => v,
            None => {
                built = set.grid_around(&names, a.pixel, 2.0 * a.pixel)?;
                describe("grid around the structures", &built);
                &built
            }
        };
        let labels = set.label_map(grid, &names)?;
        println!("structures: {} ({} of {}, filled on the grid)", path.display(), names.len(), set.structures.len());
        count_labels(&labels, &names);
        if let Some(out) = &a.labels_out {
            write_nifti(&labels, out, VoxelType::Int16)?;
            println!("wrote {}", out.display());
        }
    } else if a.labels_out.is_some() {
        bail!("--labels-out writes the label map of --rtstruct, which is missing");
    }
    if let Some(s) = &a.spacing {
        let Some(volume) = &volume else { bail!("--spacing needs --data") };
        let target: [f64; 3] = s.clone().try_into().map_err(|_| anyhow::anyhow!("--spacing takes three values"))?;
        let fine = resample_to_spacing(volume, target, Interpolation::Linear).context("resampling")?;
        describe("resampled", &fine);
    }
    Ok(())
}

/// Prints the voxels and millilitres of each label (the first 12 besides 0), with its name
/// where `names` gives one (label l is `names[l - 1]`).
fn count_labels(labels: &Volume, names: &[&str]) {
    let ids = labels.data.round().to_kind(Kind::Int64).flatten(0, -1);
    // Sorted, each label's voxels form one run.
    let sorted = ids.sort(0, false).0;
    let (values, _, counts) = sorted.unique_consecutive(false, true, 0);
    let (values, counts) = (Vec::<i64>::try_from(&values).unwrap_or_default(), Vec::<i64>::try_from(&counts).unwrap_or_default());
    let labelled = values.iter().filter(|&&v| v != 0).count();
    println!("  {labelled} labels besides 0");
    let voxel_ml = labels.spacing().iter().product::<f64>() / 1000.0;
    for (v, c) in values.iter().zip(&counts).filter(|(v, _)| **v != 0).take(12) {
        let name = names.get(*v as usize - 1).map(|n| format!(" {n}")).unwrap_or_default();
        println!("  label {v:>5}{name}: {c:>9} voxels, {:.1} ml", *c as f64 * voxel_ml);
    }
    if labelled > 12 {
        println!("  ... and {} more", labelled - 12);
    }
}
