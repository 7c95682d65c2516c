//! BT-Unet's second stage on the user's volumes: the whole U-Net trained for segmentation on
//! labelled volumes, its encoder from a `pretrain` run (or random), scored on test volumes
//! when given; the run folder holds the U-Net for `segment`.
use super::volumes::{read_all, read_labels, write_json, VolumeArgs};
use anyhow::{bail, Result};
use clap::Parser;
use ssl_core::train::Resume;
use ssl_medical::bt_unet::{finetune, predict, score, volume_slices, BtUnetSettings};
use ssl_medical::sampling::SliceFilter;
use ssl_medical::volume::Volume;
use std::path::{Path, PathBuf};
use tch::Kind;

/// The settings a fine-tuned U-Net was trained with, beside its checkpoints: what `segment`
/// needs to rebuild it and prepare an image as in training.
pub const SEGMENTER_FILE: &str = "segmenter.json";

#[derive(Parser, Debug)]
pub struct Args {
    #[command(flatten)]
    pub volumes: VolumeArgs,
    /// Label maps, one per image (same order, same grid).
    #[arg(long, value_delimiter = ',', required = true)]
    pub labels: Vec<PathBuf>,
    /// The label values to segment, in class order (default: every non-zero value the label
    /// maps hold).
    #[arg(long, value_delimiter = ',')]
    pub label_values: Vec<i64>,
    /// A `pretrain` run whose encoder starts the U-Net (random without).
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    /// Test images and their label maps, scored after training (Dice, IoU, HD95 per class).
    #[arg(long, value_delimiter = ',')]
    pub test_images: Vec<PathBuf>,
    #[arg(long, value_delimiter = ',')]
    pub test_labels: Vec<PathBuf>,
    /// The run folder (checkpoints; the U-Net exported as backbone, decoder and head).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = BtUnetSettings::default().finetune.0)]
    pub steps: usize,
    /// Slices per step.
    #[arg(long, default_value_t = BtUnetSettings::default().finetune.1)]
    pub batch: usize,
    #[arg(long, default_value_t = BtUnetSettings::default().finetune.2)]
    pub lr: f64,
    /// U-Net width (must match the pre-trained encoder's).
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

/// The non-zero values of the label maps, sorted (at most 64).
fn label_values_of(labels: &[Volume]) -> Result<Vec<i64>> {
    let mut values: Vec<i64> = Vec::new();
    for l in labels {
        let ids = l.data.round().to_kind(Kind::Int64).flatten(0, -1);
        let (unique, _, _) = ids.unique_dim(0, true, false, false);
        values.extend(Vec::<i64>::try_from(&unique)?.into_iter().filter(|&v| v != 0));
    }
    values.sort_unstable();
    values.dedup();
    if values.is_empty() {
        bail!("the label maps hold no label besides 0 ({})", labels[0].source.display());
    }
    if values.len() > 64 {
        bail!("the label maps hold {} different labels; choose some with --label-values", values.len());
    }
    Ok(values)
}

pub fn run(a: Args) -> Result<()> {
    a.volumes.check()?;
    if a.test_images.len() != a.test_labels.len() {
        bail!("{} test label maps for {} test images: give one per image", a.test_labels.len(), a.test_images.len());
    }
    let device = ssl_core::device::setup_runtime(&a.device, a.threads)?;
    let settings = BtUnetSettings { width: a.width, finetune: (a.steps, a.batch, a.lr), ..BtUnetSettings::default() };
    let images = a.volumes.read()?;
    let labels = read_labels(&a.labels, &images)?;
    let values = if a.label_values.is_empty() { label_values_of(&labels)? } else { a.label_values.clone() };
    let intensity = a.volumes.intensity()?;
    let multiple = 1 << settings.levels;
    let filter = SliceFilter::Above(0.05, 0.05);
    let set = volume_slices(&images, Some(&labels), &values, intensity, a.volumes.spacing, filter, multiple)?;
    println!(
        "fine-tuning on {} slices of {} x {} px, labels {values:?}, encoder {}",
        set.len(),
        set.images.size()[2],
        set.images.size()[3],
        match &a.encoder {
            Some(run) => run.display().to_string(),
            None => "random".into(),
        }
    );
    // What `segment` needs, written before training so an interrupted run can be resumed and used.
    let settings_json = serde_json::json!({
        "width": settings.width, "levels": settings.levels, "label_values": values,
        "intensity": intensity.name(), "spacing_mm": a.volumes.spacing, "encoder": a.encoder,
    });
    write_json(&a.out.join(SEGMENTER_FILE), &settings_json)?;
    let resume = if a.resume { Resume::Latest } else { Resume::No };
    let model = finetune(&set, a.encoder.as_deref(), &settings, a.seed, &a.out, device, resume)?;
    println!("U-Net in {} (for segment --model)", a.out.display());
    if !a.test_images.is_empty() {
        let test_images = read_all(&a.test_images)?;
        let test_labels = read_labels(&a.test_labels, &test_images)?;
        let test = volume_slices(&test_images, Some(&test_labels), &values, intensity, a.volumes.spacing, filter, multiple)?;
        let scores = score(&predict(&model, &test, device)?, &test)?;
        println!("test: {} slices", test.len());
        for (class, s) in test.classes[1..].iter().zip(&scores) {
            println!("  {class}: Dice {:.3}, IoU {:.3}, HD95 {:.1} mm, missed {:.0}% of the slices showing it", s.dice, s.iou, s.hd95, 100.0 * s.missed);
        }
    }
    Ok(())
}

/// Reads the settings a fine-tuning run wrote.
pub fn read_settings(run: &Path) -> Result<serde_json::Value> {
    let path = run.join(SEGMENTER_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e} (is {} a finetune run?)", path.display(), run.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: not valid settings: {e}", path.display()))
}
