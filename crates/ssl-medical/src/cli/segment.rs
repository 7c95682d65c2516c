//! A fine-tuned U-Net applied to a volume: every axial slice segmented at the training
//! spacing, the classes turned back into label values on the image's own grid, written as a
//! NIfTI label map.
use super::finetune::read_settings;
use anyhow::{bail, Context, Result};
use clap::Parser;
use ssl_medical::bt_unet::{pad_to, unpad};
use ssl_medical::io::{read_volume, write_nifti, VoxelType};
use ssl_medical::preprocess::{resample_to_spacing, Intensity, Interpolation};
use ssl_medical::segmentation::Segmenter;
use ssl_medical::volume::Volume;
use std::path::PathBuf;
use tch::{nn, Device, Kind, Tensor};

#[derive(Parser, Debug)]
pub struct Args {
    /// A `finetune` run.
    #[arg(long)]
    pub model: PathBuf,
    /// The image to segment (NIfTI or DICOM).
    #[arg(long)]
    pub image: PathBuf,
    /// Where the label map goes (`.nii` / `.nii.gz`, on the image's grid).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Threads (0: all free cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

pub fn run(a: Args) -> Result<()> {
    let device = ssl_core::device::setup_runtime(&a.device, a.threads)?;
    let settings = read_settings(&a.model)?;
    let field = |k: &str| settings.get(k).with_context(|| format!("{}: the settings lack '{k}'", a.model.display()));
    let width = field("width")?.as_i64().context("width")?;
    let levels = field("levels")?.as_i64().context("levels")?;
    let spacing = field("spacing_mm")?.as_f64().context("spacing_mm")?;
    let intensity = Intensity::parse(field("intensity")?.as_str().context("intensity")?)?;
    let values: Vec<i64> = serde_json::from_value(field("label_values")?.clone()).context("label_values")?;
    if !(1..=16).contains(&levels) || width < 1 || values.is_empty() {
        bail!("{}: implausible settings (width {width}, levels {levels}, labels {values:?})", a.model.display());
    }
    let vs = nn::VarStore::new(device);
    let model = Segmenter::load(&a.model, &vs, width, levels, values.len() as i64 + 1)?;

    let image = read_volume(&a.image)?;
    let resampled = resample_to_spacing(&image, [spacing; 3], Interpolation::Linear)?;
    let slices = intensity.apply(&resampled)?;
    let [_, h, w] = resampled.shape();
    let multiple = 1i64 << levels;
    let side = |n: i64| (n + multiple - 1) / multiple * multiple;
    let padded = pad_to(&slices, [side(h), side(w)], 0.0)?.unsqueeze(1);
    let mut classes = Vec::new();
    for chunk in padded.split(16, 0) {
        let logits = tch::no_grad(|| model.unet.forward_t(&chunk.to_device(device), false))?;
        classes.push(logits.argmax(1, false).to_device(Device::Cpu));
    }
    let classes = unpad(&Tensor::cat(&classes, 0), [h, w])?;
    // Class c + 1 back to label value values[c].
    let lookup = Tensor::from_slice(&std::iter::once(0).chain(values.iter().copied()).collect::<Vec<i64>>());
    let labels = lookup.index_select(0, &classes.flatten(0, -1)).view(classes.size().as_slice()).to_kind(Kind::Float);
    let on_training_grid = Volume::new(labels, resampled.affine, &a.out)?;
    // Back to the image's spacing (voxel 0 keeps its centre), then cut or padded to its shape.
    let back = resample_to_spacing(&on_training_grid, image.spacing(), Interpolation::Nearest)?;
    let [z, y, x] = image.shape();
    let [bz, by, bx] = back.shape();
    let fitted = back
        .data
        .f_pad([0, (x - bx).max(0), 0, (y - by).max(0), 0, (z - bz).max(0)].as_slice(), "constant", Some(0.0))?
        .narrow(0, 0, z)
        .narrow(1, 0, y)
        .narrow(2, 0, x);
    let out = Volume::new(fitted, image.affine, &a.out)?;
    write_nifti(&out, &a.out, VoxelType::Int16)?;
    let voxel_ml = image.spacing().iter().product::<f64>() / 1000.0;
    println!("{}: {} x {} x {} voxels segmented", a.image.display(), x, y, z);
    for &v in &values {
        let n = out.data.eq(v as f64).sum(Kind::Int64).int64_value(&[]);
        println!("  label {v}: {n} voxels, {:.1} ml", n as f64 * voxel_ml);
    }
    println!("wrote {}", a.out.display());
    Ok(())
}
