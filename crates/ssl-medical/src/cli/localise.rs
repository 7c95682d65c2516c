//! Organ localisation on the user's volumes: the box agent trained on labelled volumes (the
//! box of one label), then run on other volumes; the fused boxes written as JSON in voxels
//! of each image and in RAS+ millimetres, and scored when their label maps are given.
use super::volumes::{read_all, read_labels, write_json, VolumeArgs};
use anyhow::{bail, Context, Result};
use clap::Parser;
use ssl_core::train::Resume;
use ssl_medical::localisation::{box_scores, localise, mean_box, train_agent, volume_case, AgentConfig, BoxF, Case, Schedule, Task};
use ssl_medical::volume::Affine;
use std::path::PathBuf;

#[derive(Parser, Debug)]
pub struct Args {
    #[command(flatten)]
    pub volumes: VolumeArgs,
    /// Label maps of the training images, one per image (same order, same grid).
    #[arg(long, value_delimiter = ',', required = true)]
    pub labels: Vec<PathBuf>,
    /// The label value of the structure to localise.
    #[arg(long)]
    pub label: i64,
    /// Images to localise the structure in.
    #[arg(long, value_delimiter = ',', required = true)]
    pub test_images: Vec<PathBuf>,
    /// Their label maps, to score the boxes (optional).
    #[arg(long, value_delimiter = ',')]
    pub test_labels: Vec<PathBuf>,
    /// The run folder (checkpoints with replay buffer and episode: `--resume` continues exactly).
    #[arg(long)]
    pub out: PathBuf,
    /// The boxes found (default `<out>/boxes.json`).
    #[arg(long)]
    pub boxes_out: Option<PathBuf>,
    #[arg(long, default_value_t = 800)]
    pub steps: usize,
    /// Agents fused per volume (six in the paper).
    #[arg(long, default_value_t = 6)]
    pub agents: usize,
    /// Side of the observed cube.
    #[arg(long, default_value_t = AgentConfig::default().side)]
    pub side: i64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub resume: bool,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Threads (0: all free cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// A box `[min, max)` in voxels of one grid as the world positions of the first and last
/// voxel centres inside it.
fn corners_mm(b: &BoxF, affine: &Affine) -> ([f64; 3], [f64; 3]) {
    (affine.apply(b.min), affine.apply(b.max.map(|v| v - 1.0)))
}

pub fn run(a: Args) -> Result<()> {
    a.volumes.check()?;
    if !a.test_labels.is_empty() && a.test_labels.len() != a.test_images.len() {
        bail!("{} test label maps for {} test images: give one per image, or none", a.test_labels.len(), a.test_images.len());
    }
    let device = ssl_core::device::setup_runtime(&a.device, a.threads)?;
    let cfg = AgentConfig { side: a.side, ..AgentConfig::default() };
    cfg.validate()?;
    let intensity = a.volumes.intensity()?;
    let spacing = a.volumes.spacing;
    let images = a.volumes.read()?;
    let labels = read_labels(&a.labels, &images)?;
    let mut tasks = Vec::new();
    for (image, label) in images.iter().zip(&labels) {
        let (volume, _, truth) = volume_case(image, Some(label), a.label, intensity, spacing)?;
        tasks.push(Task { volume, target: truth.context("a label map was given")?, weight: 1.0 });
    }
    let prior = mean_box(&tasks.iter().map(|t| t.target).collect::<Vec<_>>())?;
    let schedule = Schedule { steps: a.steps, lr: 5e-4, seed: a.seed, checkpoint_every: (a.steps / 4).max(1) };
    let resume = if a.resume { Resume::Latest } else { Resume::No };
    println!("training on {} volumes (label {}), {} steps", tasks.len(), a.label, a.steps);
    let (_, agent, summary) = train_agent(tasks, prior, &cfg, &schedule, None, &a.out, resume, device)?;
    println!("trained: {} steps (resumed from {:?}), loss {:.4}", summary.steps, summary.resumed_from, summary.final_loss);

    let test_images = read_all(&a.test_images)?;
    let test_labels = if a.test_labels.is_empty() { None } else { Some(read_labels(&a.test_labels, &test_images)?) };
    let mut found = Vec::new();
    for (i, image) in test_images.iter().enumerate() {
        let (volume, affine, truth) = volume_case(image, test_labels.as_ref().map(|l| &l[i]), a.label, intensity, spacing)?;
        let l = localise(agent.network(), &volume, &prior, &cfg, a.agents, ssl_core::seed::mix(&[a.seed, i as u64]))?;
        let (lo, hi) = corners_mm(&l.fused, &affine);
        // The box in voxels of the image itself (its own grid, not the resampled one).
        let to_image = image.affine.inverse().with_context(|| format!("{}: singular affine", image.source.display()))?;
        let (vlo, vhi) = (to_image.apply(lo), to_image.apply(hi));
        let mut entry = serde_json::json!({
            "image": image.source, "label": a.label, "min_mm": lo, "max_mm": hi,
            "min_voxel": vlo.iter().zip(&vhi).map(|(p, q)| p.min(*q).round()).collect::<Vec<_>>(),
            "max_voxel": vlo.iter().zip(&vhi).map(|(p, q)| p.max(*q).round()).collect::<Vec<_>>(),
        });
        let mut line = format!("{}: box ({:.1}, {:.1}, {:.1}) to ({:.1}, {:.1}, {:.1}) mm", image.source.display(), lo[0], lo[1], lo[2], hi[0], hi[1], hi[2]);
        if let Some(truth) = truth {
            let s = box_scores(&l.fused, &Case { volume: volume.shallow_clone(), truth, spacing: [spacing; 3] });
            entry["iou"] = s.iou.into();
            entry["wall_mm"] = s.wall_mm.into();
            entry["centroid_mm"] = s.centroid_mm.into();
            line.push_str(&format!(", IoU {:.3}, walls {:.1} mm, centres {:.1} mm apart", s.iou, s.wall_mm, s.centroid_mm));
        }
        println!("{line}");
        found.push(entry);
    }
    let path = a.boxes_out.clone().unwrap_or_else(|| a.out.join("boxes.json"));
    write_json(&path, &serde_json::json!({ "label": a.label, "agents": a.agents, "boxes": found }))?;
    println!("wrote {}", path.display());
    Ok(())
}
