//! Organ localisation: the box agent trained on the labelled volumes (supervised), then
//! continued on a mix of labelled volumes and unlabelled ones whose boxes the supervised
//! agents predicted (semi-supervised, at the paper's labelled : pseudo-labelled mixes),
//! against continuing on the labelled ones alone for as many steps; IoU, wall and centroid
//! distances of the fused boxes on held-out volumes, over seeds, and a picture of boxes. On
//! generated abdominal CTs (organs), or on the real Colin27 MRI under random poses (AAL
//! structures).
use super::Size;
use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use ssl_core::train::Resume;
use ssl_medical::colin27::Colin27;
use ssl_medical::localisation::{
    box_scores, colin27_cases, colin27_poses, localise_cases, mean_box, phantom_cases, train_agent, AgentConfig, BoxF, BoxScores, Case, Localisation, Schedule,
    Task,
};
use ssl_medical::overlay::{save_row, Panel, COLOURS};
use ssl_medical::phantom::{Organ, PhantomConfig};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Which volumes the agents search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Data {
    /// Generated abdominal CTs (`phantom::generate`); organs spleen, kidney-left, ...
    Phantom,
    /// Colin27's T1 (real) moved by random rotations, scalings and shifts; AAL structures
    /// cerebellum, thalamus, basal-ganglia.
    Colin27,
}

#[derive(Parser, Debug)]
pub struct Args {
    #[arg(long, value_enum, default_value_t = Data::Phantom)]
    pub data: Data,
    /// Organs (phantom; the paper's: spleen, left and right kidney by default) or structures
    /// (colin27: cerebellum, thalamus, basal-ganglia by default) to localise.
    #[arg(long, value_delimiter = ',')]
    pub organs: Vec<String>,
    /// Folder with Colin27's `ch2.nii.gz` and `aal.nii.gz` (`datasets/fetch-medical.sh`).
    #[arg(long, default_value = "datasets/cache/medical/colin27")]
    pub colin27: PathBuf,
    /// Voxel size (mm) Colin27 is resampled to.
    #[arg(long, default_value_t = 4.0)]
    pub spacing: f64,
    /// CPU-sized defaults, or the larger configuration for a GPU (`AgentConfig::gpu`, more
    /// volumes and steps); flags given explicitly override either.
    #[arg(long, value_enum, default_value_t = Size::Cpu)]
    pub size: Size,
    /// Labelled volumes (seeds 0..; 6, or 12 on a GPU).
    #[arg(long)]
    pub labelled: Option<u64>,
    /// Unlabelled volumes (the seeds after the labelled ones; 14, or 28 on a GPU).
    #[arg(long)]
    pub unlabelled: Option<u64>,
    /// Test volumes (seeds from 1000; 8, or 16 on a GPU).
    #[arg(long)]
    pub test: Option<u64>,
    /// Labelled shares (%) of the semi-supervised mixes.
    #[arg(long, value_delimiter = ',', default_value = "30,35,40")]
    pub mixes: Vec<f64>,
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    /// Steps of the supervised run (800; 8000 on a GPU).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Steps of each continuation (semi-supervised, or labelled only; 400; 4000 on a GPU).
    #[arg(long)]
    pub continue_steps: Option<usize>,
    /// Agents fused per volume.
    #[arg(long, default_value_t = 6)]
    pub agents: usize,
    /// Side of the observed cube (8; 24 on a GPU).
    #[arg(long)]
    pub side: Option<i64>,
    #[arg(long, default_value = "runs/localise")]
    pub out: PathBuf,
    /// The report (default `docs/localisation-<data>.md`).
    #[arg(long)]
    pub doc: Option<PathBuf>,
    /// The picture of boxes (default `docs/img/localisation-<data>.png`).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

fn mean_sd(v: &[f64]) -> String {
    let (m, sd) = ssl_core::eval::mean_std(v);
    format!("{m:.3} ± {sd:.3}")
}

pub fn run(a: Args) -> Result<()> {
    let gpu = a.size == Size::Gpu;
    let pick = |given: Option<u64>, cpu: u64, on_gpu: u64| given.unwrap_or(if gpu { on_gpu } else { cpu });
    let (n_labelled, n_unlabelled, n_test) = (pick(a.labelled, 6, 12), pick(a.unlabelled, 14, 28), pick(a.test, 8, 16));
    let steps = pick(a.steps.map(|s| s as u64), 800, 8000) as usize;
    let continue_steps = pick(a.continue_steps.map(|s| s as u64), 400, 4000) as usize;
    let preset = if gpu { AgentConfig::gpu() } else { AgentConfig::default() };
    let cfg = AgentConfig { side: a.side.unwrap_or(preset.side), ..preset };
    let size = if gpu { "gpu" } else { "cpu" };
    if n_labelled == 0 || n_test == 0 || a.seeds == 0 || a.mixes.iter().any(|m| !(*m > 0.0 && *m < 100.0)) {
        bail!("needs labelled and test volumes, a seed, and mixes strictly between 0 and 100");
    }
    let (name, default_organs) = match a.data {
        Data::Phantom => ("phantom", "spleen,kidney-left,kidney-right"),
        Data::Colin27 => ("colin27", "cerebellum,thalamus,basal-ganglia"),
    };
    let organs: Vec<String> = if a.organs.is_empty() { default_organs.split(',').map(String::from).collect() } else { a.organs.clone() };
    let device = ssl_core::device::setup_runtime(&a.device, a.threads)?;
    let phantom = PhantomConfig::default();
    let brain = match a.data {
        Data::Colin27 => Some(Colin27::load(&a.colin27, a.spacing)?),
        Data::Phantom => None,
    };
    // The cases of one organ for a range of seeds, checked up front for every organ.
    let cases = |organ: &str, seeds: std::ops::Range<u64>| -> Result<Vec<Case>> {
        match &brain {
            Some(brain) => colin27_cases(brain, Colin27::class(organ)?, seeds, &colin27_poses()),
            None => phantom_cases(&phantom, seeds, Organ::from_name(organ)?),
        }
    };
    for organ in &organs {
        cases(organ, 0..1)?;
    }
    let doc = a.doc.clone().unwrap_or_else(|| PathBuf::from(format!("docs/localisation-{name}.md")));
    let plot = a.plot.clone().unwrap_or_else(|| PathBuf::from(format!("docs/img/localisation-{name}.png")));
    cfg.validate()?;
    let t0 = Instant::now();
    let data = match a.data {
        Data::Phantom => "Generated abdominal CT phantoms (`phantom::generate`, 4 mm voxels)".to_string(),
        Data::Colin27 => format!(
            "Colin27's T1 (real; `ch2.nii.gz` with AAL structures, resampled to {} mm), each volume a random pose of it (rotations up to 10 degrees per axis, scale 0.9-1.1, shifts up to 8% of the extent; seeded), the structure's box taken after the move",
            a.spacing
        ),
    };
    let mut md = format!(
        "{data}: {} labelled, {} unlabelled, {} test volumes (other seeds). Box agent: {}^3 view of the box grown {}x, {} frames, moves of {}% ({} actions with stay), episodes of {} moves; double DQN with a dueling head, replay {}, batch {}, target synchronised every {} steps; imitation (DQfD large margin, the expert handing over as in DAgger) for {} steps, then epsilon {}->{}. Supervised: {} steps on the labelled volumes. Each continuation: {} more steps, either on the labelled volumes alone or on a mix where labelled volumes are drawn with the given share and the unlabelled ones, pseudo-labelled by the supervised agents' fused boxes, with the rest. Scores of the median of {} agents' boxes on the test volumes; mean ± sd over {} seeds (the agents' initialisation, starts and moves).\n\n\
         Command: `cargo run --release -p ssl-medical -- localise-experiment --data {name} --size {size} --labelled {} --unlabelled {} --test {} --seeds {} --steps {} --continue-steps {} --side {}`\n\n",
        n_labelled, n_unlabelled, n_test, cfg.side, cfg.context, cfg.history, cfg.alpha * 100.0, ssl_medical::localisation::ACTIONS, cfg.episode_steps, cfg.replay, cfg.batch, cfg.target_every, cfg.imitation_steps.min(steps), cfg.epsilon.0, cfg.epsilon.1, steps, continue_steps, a.agents, a.seeds,
        n_labelled, n_unlabelled, n_test, a.seeds, steps, continue_steps, cfg.side,
    );
    md.push_str("| structure | training | IoU | wall distance (mm) | centroid distance (mm) |\n|---|---|---|---|---|\n");
    let mut panels = Vec::new();
    for organ in &organs {
        let labelled = cases(organ, 0..n_labelled)?;
        let unlabelled = cases(organ, n_labelled..n_labelled + n_unlabelled)?;
        let test = cases(organ, 1000..1000 + n_test)?;
        let prior = mean_box(&labelled.iter().map(|c| c.truth).collect::<Vec<_>>())?;
        let tasks = |cases: &[Case], weight: f64| cases.iter().map(|c| Task { volume: c.volume.shallow_clone(), target: c.truth, weight }).collect::<Vec<_>>();
        // rows[name] = per seed (IoU, wall, centroid)
        let mut rows: Vec<(String, Vec<BoxScores>)> = vec![("start box (mean of the labelled boxes; no learning)".into(), Vec::new())];
        let prior_scores = BoxScores::mean(&test.iter().map(|c| box_scores(&prior, c)).collect::<Vec<_>>());
        for seed in 0..a.seeds {
            rows[0].1.push(prior_scores);
            let dir = a.out.join(name).join(organ).join(format!("s{seed}"));
            let _ = std::fs::remove_dir_all(&dir);
            let schedule = Schedule { steps, lr: 5e-4, seed, checkpoint_every: steps };
            let sup_dir = dir.join("supervised");
            let (_, agent, _) = train_agent(tasks(&labelled, 1.0), prior, &cfg, &schedule, None, &sup_dir, Resume::No, device)?;
            let found = |agent: &ssl_medical::localisation::BoxAgent| localise_cases(agent, &test, &prior, &cfg, a.agents, 77 + seed);
            let score = |found: &[Localisation]| BoxScores::mean(&found.iter().zip(&test).map(|(l, c)| box_scores(&l.fused, c)).collect::<Vec<_>>());
            let mut push = |name: String, s: BoxScores| match rows.iter_mut().find(|r| r.0 == name) {
                Some(r) => r.1.push(s),
                None => rows.push((name, vec![s])),
            };
            let supervised = found(&agent)?;
            push(format!("supervised, {} steps", steps), score(&supervised));
            if seed == 0 {
                panels.push(box_panel(&test[0], &prior, &supervised[0].fused)?);
            }
            eprintln!("{organ} seed {seed}: supervised done [{:.0} s]", t0.elapsed().as_secs_f64());
            // Pseudo-labels: the supervised agents' fused boxes on the unlabelled volumes.
            let pseudo: Vec<Case> = localise_cases(&agent, &unlabelled, &prior, &cfg, a.agents, 1234 + seed)?
                .into_iter()
                .zip(&unlabelled)
                .map(|(l, c)| Case { volume: c.volume.shallow_clone(), truth: l.fused, spacing: c.spacing })
                .collect();
            let pseudo_quality = BoxScores::mean(&pseudo.iter().zip(&unlabelled).map(|(p, c)| box_scores(&p.truth, c)).collect::<Vec<_>>());
            push("(pseudo-labels of the unlabelled volumes)".into(), pseudo_quality);
            let cont = Schedule { steps: continue_steps, ..schedule.clone() };
            let (_, more, _) = train_agent(tasks(&labelled, 1.0), prior, &cfg, &cont, Some(&sup_dir), &dir.join("labelled-only"), Resume::No, device)?;
            push(format!("supervised + {} steps on the labelled", continue_steps), score(&found(&more)?));
            for &mix in &a.mixes {
                let share = mix / 100.0;
                let mut mixed = tasks(&labelled, share / labelled.len() as f64);
                if !pseudo.is_empty() {
                    mixed.extend(tasks(&pseudo, (1.0 - share) / pseudo.len() as f64));
                }
                let (_, semi, _) = train_agent(mixed, prior, &cfg, &cont, Some(&sup_dir), &dir.join(format!("semi-{mix}")), Resume::No, device)?;
                push(format!("semi-supervised {mix}:{} (+{} steps)", 100.0 - mix, continue_steps), score(&found(&semi)?));
            }
            eprintln!("{organ} seed {seed}: done [{:.0} s]", t0.elapsed().as_secs_f64());
        }
        for (name, scores) in &rows {
            let col = |f: &dyn Fn(&BoxScores) -> f64| mean_sd(&scores.iter().map(f).collect::<Vec<_>>());
            writeln!(md, "| {organ} | {name} | {} | {} | {} |", col(&|s| s.iou), col(&|s| s.wall_mm), col(&|s| s.centroid_mm))?;
        }
    }
    save_row(&plot, &panels)?;
    let image = plot.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    writeln!(
        md,
        "\n![boxes on the first test volume]({})\n\nThe first test volume, one panel per structure ({}), the axial slice through the true box's centre: true box green, start box yellow, the supervised agents' fused box red (seed 0).",
        Path::new("img").join(&image).display(),
        organs.join(", ")
    )?;
    writeln!(md, "\nTotal time {:.0} s on {} ({} threads).", t0.elapsed().as_secs_f64(), a.device, tch::get_num_threads())?;
    if let Some(dir) = doc.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&doc, &md).with_context(|| format!("cannot write {}", doc.display()))?;
    println!("{md}");
    println!("written to {} and {}", doc.display(), plot.display());
    Ok(())
}

/// The axial slice through the centre of `case`'s true box with the true box (green), the
/// start box (yellow) and `found` (red) where they cross that slice.
fn box_panel(case: &Case, start: &BoxF, found: &BoxF) -> Result<Panel> {
    let z = (case.truth.centre()[2].floor() as i64).clamp(0, case.volume.size()[0] - 1);
    let mut panel = Panel::axial(&case.volume.get(z), 4)?;
    for (b, colour) in [(start, COLOURS[3]), (&case.truth, COLOURS[1]), (found, COLOURS[0])] {
        if (b.min[2]..b.max[2]).contains(&(z as f64 + 0.5)) {
            panel.rectangle((b.min[0], b.max[0]), (b.min[1], b.max[1]), colour);
        }
    }
    Ok(panel)
}
