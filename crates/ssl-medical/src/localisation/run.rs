//! Training and scoring the box agent: cases from phantoms, the prior start box, a run on
//! the shared trainer (optionally continuing another run's network), and IoU, wall and
//! centroid distances of the fused boxes.
use super::dqn::{localise, AgentConfig, BoxAgent, Localisation, Task};
use super::env::BoxF;
use crate::augment::Augment;
use crate::colin27::Colin27;
use crate::phantom::{generate, Organ, PhantomConfig, VoxelBox};
use crate::preprocess::{resample_to_spacing, Intensity, Interpolation, Window};
use crate::volume::{Affine, Volume};
use anyhow::{bail, Context, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use ssl_core::train::{load_encoder, OptimizerConfig, OptimizerKind, Resume, TrainConfig, TrainSummary, Trainer};
use std::path::Path;
use tch::{nn, Device, Tensor};

/// A volume (`[Z, Y, X]` in `[0, 1]`) with an organ's true box and its voxel size.
#[derive(Debug)]
pub struct Case {
    /// The image.
    pub volume: Tensor,
    /// The organ's box.
    pub truth: BoxF,
    /// Millimetres per voxel (x, y, z).
    pub spacing: [f64; 3],
}

/// The phantoms of `seeds`, windowed for the abdomen, with `organ`'s box.
pub fn phantom_cases(cfg: &PhantomConfig, seeds: std::ops::Range<u64>, organ: Organ) -> Result<Vec<Case>> {
    seeds
        .map(|seed| {
            let p = generate(cfg, seed)?;
            let b = p.box_of(organ).with_context(|| format!("phantom {seed} has no {}", organ.name()))?;
            Ok(Case { volume: Window::ABDOMEN.apply(&p.image.data)?, truth: BoxF::from_voxels(&b), spacing: p.image.spacing() })
        })
        .collect()
}

/// How far Colin27 is moved for each case of the real-data check: rotations up to 10
/// degrees about each axis, scale 0.9-1.1, shifts up to 8% of the extent, as different head
/// positions in a scanner would place it (no flips: left and right stay apart).
pub fn colin27_poses() -> Augment {
    Augment { affine: 1.0, rotate_deg: [10.0; 3], scale: [0.9, 1.1], shift: [0.08; 3], ..Augment::default() }
}

/// Colin27 moved by `poses` (one draw per seed of `seeds`), with the box of the structure
/// `class` (of [`Colin27::classes`]) after the move: the cases of the real-data check.
pub fn colin27_cases(brain: &Colin27, class: i64, seeds: std::ops::Range<u64>, poses: &Augment) -> Result<Vec<Case>> {
    poses.validate()?;
    let spacing = [brain.spacing_mm; 3];
    seeds
        .map(|seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(ssl_core::seed::mix(&[0xC011_2700, seed]));
            let (image, classes) = poses.apply(&brain.image.unsqueeze(0), Some(&brain.classes), &mut rng)?;
            let classes = classes.context("the pose keeps the labels")?;
            let b = VoxelBox::of_mask(&classes.eq(class)).with_context(|| format!("Colin27 pose {seed}: structure {class} moved out of the volume"))?;
            Ok(Case { volume: image.squeeze_dim(0).clamp(0.0, 1.0), truth: BoxF::from_voxels(&b), spacing })
        })
        .collect()
}

/// A volume read from a file on the agent's footing: resampled to `spacing_mm` isotropic and
/// its intensities mapped into `[0, 1]`, with the box of the voxels holding `label` in its
/// label map when one is given (an error naming the file when there are none).
pub fn volume_case(image: &Volume, labels: Option<&Volume>, label: i64, intensity: Intensity, spacing_mm: f64) -> Result<(Tensor, Affine, Option<BoxF>)> {
    let resampled = resample_to_spacing(image, [spacing_mm; 3], Interpolation::Linear)?;
    let values = intensity.apply(&resampled)?;
    let truth = match labels {
        Some(l) => {
            image.check_mask(l)?;
            let ids = resample_to_spacing(l, [spacing_mm; 3], Interpolation::Nearest)?.data.round().to_kind(tch::Kind::Int64);
            let b = VoxelBox::of_mask(&ids.eq(label)).with_context(|| format!("{}: no voxel holds label {label}", l.source.display()))?;
            Some(BoxF::from_voxels(&b))
        }
        None => None,
    };
    Ok((values, resampled.affine, truth))
}

/// The mean of `boxes`: the agents start around it.
pub fn mean_box(boxes: &[BoxF]) -> Result<BoxF> {
    if boxes.is_empty() {
        bail!("no boxes to average");
    }
    let n = boxes.len() as f64;
    Ok(BoxF {
        min: std::array::from_fn(|a| boxes.iter().map(|b| b.min[a]).sum::<f64>() / n),
        max: std::array::from_fn(|a| boxes.iter().map(|b| b.max[a]).sum::<f64>() / n),
    })
}

/// How long and how fast the agent learns.
#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    /// Learning steps.
    pub steps: usize,
    /// Peak learning rate (Adam).
    pub lr: f64,
    /// Seed of the run.
    pub seed: u64,
    /// Checkpoint every this many steps.
    pub checkpoint_every: usize,
}

/// Trains an agent on `tasks` (starting around `prior`) in the run folder `out`; from the
/// network of the run `init` when given. Returns the agent and the run's summary.
#[allow(clippy::too_many_arguments)]
pub fn train_agent(
    tasks: Vec<Task>,
    prior: BoxF,
    cfg: &AgentConfig,
    schedule: &Schedule,
    init: Option<&Path>,
    out: &Path,
    resume: Resume,
    device: Device,
) -> Result<(nn::VarStore, BoxAgent, TrainSummary)> {
    tch::manual_seed(schedule.seed as i64);
    let vs = nn::VarStore::new(device);
    let mut agent = BoxAgent::new(&vs, cfg.clone(), tasks, prior)?;
    if let Some(run) = init {
        load_encoder(run, "qnet", &vs, "qnet.").with_context(|| format!("continuing from the agent of {}", run.display()))?;
        agent.sync_target_now()?;
    }
    let mut train = TrainConfig::default()
        .with_schedule(schedule.steps, cfg.batch as usize, schedule.lr, (schedule.steps / 20).max(1))
        .with_seed(schedule.seed)
        .with_optimizer(OptimizerConfig::new(OptimizerKind::Adamw).with_weight_decay(0.0))
        .with_checkpoint_every(schedule.checkpoint_every.max(1));
    train.progress = false;
    train.log_every = (schedule.steps / 20).max(1);
    train.clip_grad_norm = Some(10.0);
    let run = serde_json::json!({ "agent": cfg, "schedule": schedule, "prior": prior.to_vec(), "init": init });
    let summary = Trainer::for_run(train, out.to_path_buf(), &run, device)?.run(&vs, &mut agent, resume)?;
    Ok((vs, agent, summary))
}

/// Scores of one localisation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BoxScores {
    /// Intersection over union with the true box.
    pub iou: f64,
    /// Mean distance of the six walls, mm.
    pub wall_mm: f64,
    /// Distance of the centres, mm.
    pub centroid_mm: f64,
}

impl BoxScores {
    /// The mean of each score over `scores`.
    pub fn mean(scores: &[BoxScores]) -> BoxScores {
        let n = scores.len().max(1) as f64;
        let sum = |f: fn(&BoxScores) -> f64| scores.iter().map(f).sum::<f64>() / n;
        BoxScores { iou: sum(|s| s.iou), wall_mm: sum(|s| s.wall_mm), centroid_mm: sum(|s| s.centroid_mm) }
    }
}

/// Scores of a box against a case's truth.
pub fn box_scores(b: &BoxF, case: &Case) -> BoxScores {
    let (wall_mm, centroid_mm) = b.distances_mm(&case.truth, case.spacing);
    BoxScores { iou: b.iou(&case.truth), wall_mm, centroid_mm }
}

/// Localises every case with `agents` fused agents (seeded per case).
pub fn localise_cases(agent: &BoxAgent, cases: &[Case], prior: &BoxF, cfg: &AgentConfig, agents: usize, seed: u64) -> Result<Vec<Localisation>> {
    cases.iter().enumerate().map(|(i, c)| localise(agent.network(), &c.volume, prior, cfg, agents, ssl_core::seed::mix(&[seed, i as u64]))).collect()
}

/// The mean of each score over `boxes` of `case`.
pub fn mean_scores(boxes: &[BoxF], case: &Case) -> BoxScores {
    BoxScores::mean(&boxes.iter().map(|b| box_scores(b, case)).collect::<Vec<_>>())
}
