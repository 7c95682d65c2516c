//! Generated abdominal CTs with their label maps and organ boxes, written as NIfTI.
use anyhow::{bail, Context, Result};
use clap::Parser;
use ssl_medical::io::{write_nifti, VoxelType};
use ssl_medical::phantom::{generate, PhantomConfig};
use std::path::PathBuf;

#[derive(Parser, Debug)]
pub struct Args {
    /// Folder for `phantom-<seed>.nii.gz` (HU), `phantom-<seed>-labels.nii.gz` and
    /// `phantom-<seed>.json` (organ boxes).
    #[arg(long)]
    pub out: PathBuf,
    /// How many phantoms (seeds `seed`, `seed + 1`, ...).
    #[arg(long, default_value_t = 4)]
    pub count: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Voxels Z,Y,X.
    #[arg(long, value_delimiter = ',', default_values_t = PhantomConfig::default().shape)]
    pub shape: Vec<i64>,
    /// Millimetres per voxel x,y,z.
    #[arg(long, value_delimiter = ',', default_values_t = PhantomConfig::default().spacing)]
    pub spacing: Vec<f64>,
    /// Noise standard deviation, HU.
    #[arg(long, default_value_t = PhantomConfig::default().noise_hu)]
    pub noise_hu: f64,
    /// Scale of the variation of pose, size and shape between phantoms (0: none).
    #[arg(long, default_value_t = PhantomConfig::default().variation)]
    pub variation: f64,
}

pub fn run(a: Args) -> Result<()> {
    let (Ok(shape), Ok(spacing)) = (<[i64; 3]>::try_from(a.shape.clone()), <[f64; 3]>::try_from(a.spacing.clone())) else {
        bail!("--shape and --spacing take three values each");
    };
    let cfg = PhantomConfig { shape, spacing, noise_hu: a.noise_hu, variation: a.variation, ..PhantomConfig::default() };
    cfg.validate()?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    for seed in a.seed..a.seed + a.count {
        let p = generate(&cfg, seed)?;
        let stem = a.out.join(format!("phantom-{seed}"));
        write_nifti(&p.image, &stem.with_extension("nii.gz"), VoxelType::Int16)?;
        write_nifti(&p.labels, &a.out.join(format!("phantom-{seed}-labels.nii.gz")), VoxelType::Int16)?;
        let boxes: Vec<serde_json::Value> = p
            .boxes
            .iter()
            .map(|(organ, b)| {
                let (lo, hi) = (p.image.affine.apply(b.min.map(|v| v as f64)), p.image.affine.apply(b.max.map(|v| v as f64)));
                serde_json::json!({ "organ": organ.name(), "label": organ.label(), "min_voxel": b.min, "max_voxel": b.max, "min_mm": lo, "max_mm": hi })
            })
            .collect();
        let json = serde_json::json!({ "seed": seed, "generated": true, "shape_zyx": cfg.shape, "spacing_xyz_mm": cfg.spacing, "boxes": boxes });
        let path = stem.with_extension("json");
        std::fs::write(&path, serde_json::to_string_pretty(&json)?).with_context(|| format!("cannot write {}", path.display()))?;
        let kidney = p.box_of(ssl_medical::phantom::Organ::KidneyLeft).map(|b| format!("{:?}..{:?}", b.min, b.max)).unwrap_or_else(|| "absent".into());
        println!("{}: {} structures, left kidney box {kidney} (x, y, z voxels)", stem.with_extension("nii.gz").display(), p.boxes.len());
    }
    Ok(())
}
