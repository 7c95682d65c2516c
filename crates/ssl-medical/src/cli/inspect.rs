//! What a volume is: grid, spacing, orientation, where it sits, its values; a label map
//! beside it is checked against its grid and counted.
use anyhow::{Context, Result};
use clap::Parser;
use ssl_medical::io::read_volume;
use ssl_medical::preprocess::{resample_to_spacing, Interpolation};
use ssl_medical::volume::Volume;
use std::path::PathBuf;
use tch::Kind;

#[derive(Parser, Debug)]
pub struct Args {
    /// A `.nii` / `.nii.gz` file, or a DICOM series (a folder with one slice per file, or one file).
    #[arg(long)]
    pub data: PathBuf,
    /// A label map that must lie on the same grid (NIfTI or DICOM).
    #[arg(long)]
    pub labels: Option<PathBuf>,
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
    let volume = read_volume(&a.data)?;
    describe("volume", &volume);
    if let Some(path) = &a.labels {
        let labels = read_volume(path)?;
        volume.check_mask(&labels)?;
        let ids = labels.data.round().to_kind(Kind::Int64).flatten(0, -1);
        // Sorted, each label's voxels form one run.
        let sorted = ids.sort(0, false).0;
        let (values, _, counts) = sorted.unique_consecutive(false, true, 0);
        let (values, counts) = (Vec::<i64>::try_from(&values)?, Vec::<i64>::try_from(&counts)?);
        let labelled = values.iter().filter(|&&v| v != 0).count();
        println!("labels: {} ({} labels besides 0, on the volume's grid)", path.display(), labelled);
        let voxel_ml = volume.spacing().iter().product::<f64>() / 1000.0;
        for (v, c) in values.iter().zip(&counts).filter(|(v, _)| **v != 0).take(12) {
            println!("  label {v:>5}: {c:>9} voxels, {:.1} ml", *c as f64 * voxel_ml);
        }
        if labelled > 12 {
            println!("  ... and {} more", labelled - 12);
        }
    }
    if let Some(s) = &a.spacing {
        let target: [f64; 3] = s.clone().try_into().map_err(|_| anyhow::anyhow!("--spacing takes three values"))?;
        let fine = resample_to_spacing(&volume, target, Interpolation::Linear).context("resampling")?;
        describe("resampled", &fine);
    }
    Ok(())
}
