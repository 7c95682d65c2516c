//! BT-Unet's first stage on the user's volumes: the U-Net encoder pre-trained with Barlow
//! Twins on their axial slices, no labels needed; the run folder holds the encoder for
//! `finetune --encoder`.
use super::volumes::VolumeArgs;
use anyhow::Result;
use clap::Parser;
use ssl_core::train::Resume;
use ssl_medical::bt_unet::{pretrain, volume_slices, BtUnetSettings};
use ssl_medical::sampling::SliceFilter;
use std::path::PathBuf;

#[derive(Parser, Debug)]
pub struct Args {
    #[command(flatten)]
    pub volumes: VolumeArgs,
    /// The run folder (checkpoints; the encoder exported as `backbone`).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = BtUnetSettings::default().pretrain.0)]
    pub steps: usize,
    /// Slice pairs per step.
    #[arg(long, default_value_t = BtUnetSettings::default().pretrain.1)]
    pub batch: usize,
    #[arg(long, default_value_t = BtUnetSettings::default().pretrain.2)]
    pub lr: f64,
    /// U-Net width (channels of the first level; 16 in the paper).
    #[arg(long, default_value_t = BtUnetSettings::default().width)]
    pub width: i64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continue the run in `--out` from its newest checkpoint.
    #[arg(long)]
    pub resume: bool,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Threads (0: all free cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

pub fn run(a: Args) -> Result<()> {
    a.volumes.check()?;
    let device = ssl_core::device::setup_runtime(&a.device, a.threads)?;
    let settings = BtUnetSettings { width: a.width, pretrain: (a.steps, a.batch, a.lr), ..BtUnetSettings::default() };
    let images = a.volumes.read()?;
    // Slices that show something: at least 5% of the voxels above 0.05 after the intensity map.
    let multiple = 1 << settings.levels;
    let set = volume_slices(&images, None, &[], a.volumes.intensity()?, a.volumes.spacing, SliceFilter::Above(0.05, 0.05), multiple)?;
    println!("pre-training on {} slices of {} x {} px ({})", set.len(), set.images.size()[2], set.images.size()[3], set.source);
    let resume = if a.resume { Resume::Latest } else { Resume::No };
    let summary = pretrain(&set, &settings, a.seed, &a.out, device, resume)?;
    println!(
        "{} steps (resumed from {:?}): loss {:.4} -> {:.4}",
        summary.steps,
        summary.resumed_from,
        summary.first_loss.unwrap_or(f64::NAN),
        summary.final_loss
    );
    println!("encoder in {} (for finetune --encoder)", a.out.display());
    Ok(())
}
