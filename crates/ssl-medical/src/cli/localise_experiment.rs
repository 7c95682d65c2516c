//! Organ localisation on generated CTs: the box agent trained on the labelled phantoms
//! (supervised), then continued on a mix of labelled phantoms and unlabelled ones whose boxes
//! the supervised agents predicted (semi-supervised, at the paper's labelled : pseudo-labelled
//! mixes), against continuing on the labelled ones alone for as many steps; IoU, wall and
//! centroid distances of the fused boxes on held-out phantoms, over seeds.
use anyhow::{bail, Context, Result};
use clap::Parser;
use ssl_core::train::Resume;
use ssl_medical::localisation::{box_scores, localise_cases, mean_box, phantom_cases, train_agent, AgentConfig, BoxScores, Case, Schedule, Task};
use ssl_medical::phantom::{Organ, PhantomConfig};
use std::fmt::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser, Debug)]
pub struct Args {
    /// Organs to localise (the paper's: spleen, left and right kidney).
    #[arg(long, value_delimiter = ',', default_value = "spleen,kidney-left,kidney-right")]
    pub organs: Vec<String>,
    /// Labelled phantoms (seeds 0..).
    #[arg(long, default_value_t = 6)]
    pub labelled: u64,
    /// Unlabelled phantoms (the seeds after the labelled ones).
    #[arg(long, default_value_t = 14)]
    pub unlabelled: u64,
    /// Test phantoms (seeds from 1000).
    #[arg(long, default_value_t = 8)]
    pub test: u64,
    /// Labelled shares (%) of the semi-supervised mixes.
    #[arg(long, value_delimiter = ',', default_value = "30,35,40")]
    pub mixes: Vec<f64>,
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    /// Steps of the supervised run.
    #[arg(long, default_value_t = 800)]
    pub steps: usize,
    /// Steps of each continuation (semi-supervised, or labelled only).
    #[arg(long, default_value_t = 400)]
    pub continue_steps: usize,
    /// Agents fused per volume.
    #[arg(long, default_value_t = 6)]
    pub agents: usize,
    /// Side of the observed cube.
    #[arg(long, default_value_t = AgentConfig::default().side)]
    pub side: i64,
    #[arg(long, default_value = "runs/localise")]
    pub out: PathBuf,
    #[arg(long, default_value = "docs/localisation-phantom.md")]
    pub doc: PathBuf,
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
    if a.labelled == 0 || a.test == 0 || a.seeds == 0 || a.mixes.iter().any(|m| !(*m > 0.0 && *m < 100.0)) {
        bail!("needs labelled and test phantoms, a seed, and mixes strictly between 0 and 100");
    }
    let organs = a.organs.iter().map(|o| Organ::from_name(o)).collect::<Result<Vec<_>>>()?;
    let device = ssl_core::device::setup_runtime(&a.device, a.threads)?;
    let phantom = PhantomConfig::default();
    let cfg = AgentConfig { side: a.side, ..AgentConfig::default() };
    cfg.validate()?;
    let t0 = Instant::now();
    let mut md = format!(
        "Generated abdominal CT phantoms (`phantom::generate`, 4 mm voxels): {} labelled, {} unlabelled, {} test phantoms (other seeds). Box agent: {}^3 view of the box grown {}x, {} frames, moves of {}% ({} actions with stay), episodes of {} moves; double DQN with a dueling head, replay {}, batch {}, target synchronised every {} steps; imitation (DQfD large margin, the expert handing over as in DAgger) for {} steps, then epsilon {}->{}. Supervised: {} steps on the labelled phantoms. Each continuation: {} more steps, either on the labelled phantoms alone or on a mix where labelled phantoms are drawn with the given share and the unlabelled ones, pseudo-labelled by the supervised agents' fused boxes, with the rest. Scores of the median of {} agents' boxes on the test phantoms; mean ± sd over {} seeds (the agents' initialisation, starts and moves).\n\n\
         Command: `cargo run --release -p ssl-medical -- localise-experiment --labelled {} --unlabelled {} --test {} --seeds {} --steps {} --continue-steps {}`\n\n",
        a.labelled, a.unlabelled, a.test, cfg.side, cfg.context, cfg.history, cfg.alpha * 100.0, ssl_medical::localisation::ACTIONS, cfg.episode_steps, cfg.replay, cfg.batch, cfg.target_every, cfg.imitation_steps.min(a.steps), cfg.epsilon.0, cfg.epsilon.1, a.steps, a.continue_steps, a.agents, a.seeds,
        a.labelled, a.unlabelled, a.test, a.seeds, a.steps, a.continue_steps,
    );
    md.push_str("| organ | training | IoU | wall distance (mm) | centroid distance (mm) |\n|---|---|---|---|---|\n");
    for organ in organs {
        let labelled = phantom_cases(&phantom, 0..a.labelled, organ)?;
        let unlabelled = phantom_cases(&phantom, a.labelled..a.labelled + a.unlabelled, organ)?;
        let test = phantom_cases(&phantom, 1000..1000 + a.test, organ)?;
        let prior = mean_box(&labelled.iter().map(|c| c.truth).collect::<Vec<_>>())?;
        let tasks = |cases: &[Case], weight: f64| cases.iter().map(|c| Task { volume: c.volume.shallow_clone(), target: c.truth, weight }).collect::<Vec<_>>();
        // rows[name] = per seed (IoU, wall, centroid)
        let mut rows: Vec<(String, Vec<BoxScores>)> = vec![("start box (mean of the labelled boxes; no learning)".into(), Vec::new())];
        let prior_scores = BoxScores::mean(&test.iter().map(|c| box_scores(&prior, c)).collect::<Vec<_>>());
        for seed in 0..a.seeds {
            rows[0].1.push(prior_scores);
            let dir = a.out.join(organ.name()).join(format!("s{seed}"));
            let _ = std::fs::remove_dir_all(&dir);
            let schedule = Schedule { steps: a.steps, lr: 5e-4, seed, checkpoint_every: a.steps };
            let sup_dir = dir.join("supervised");
            let (_, agent, _) = train_agent(tasks(&labelled, 1.0), prior, &cfg, &schedule, None, &sup_dir, Resume::No, device)?;
            let score = |agent: &ssl_medical::localisation::BoxAgent| -> Result<BoxScores> {
                let found = localise_cases(agent, &test, &prior, &cfg, a.agents, 77 + seed)?;
                Ok(BoxScores::mean(&found.iter().zip(&test).map(|(l, c)| box_scores(&l.fused, c)).collect::<Vec<_>>()))
            };
            let mut push = |name: String, s: BoxScores| match rows.iter_mut().find(|r| r.0 == name) {
                Some(r) => r.1.push(s),
                None => rows.push((name, vec![s])),
            };
            push(format!("supervised, {} steps", a.steps), score(&agent)?);
            eprintln!("{} seed {seed}: supervised done [{:.0} s]", organ.name(), t0.elapsed().as_secs_f64());
            // Pseudo-labels: the supervised agents' fused boxes on the unlabelled phantoms.
            let pseudo: Vec<Case> = localise_cases(&agent, &unlabelled, &prior, &cfg, a.agents, 1234 + seed)?
                .into_iter()
                .zip(&unlabelled)
                .map(|(l, c)| Case { volume: c.volume.shallow_clone(), truth: l.fused, spacing: c.spacing })
                .collect();
            let pseudo_quality = BoxScores::mean(&pseudo.iter().zip(&unlabelled).map(|(p, c)| box_scores(&p.truth, c)).collect::<Vec<_>>());
            push("(pseudo-labels of the unlabelled phantoms)".into(), pseudo_quality);
            let cont = Schedule { steps: a.continue_steps, ..schedule.clone() };
            let (_, more, _) = train_agent(tasks(&labelled, 1.0), prior, &cfg, &cont, Some(&sup_dir), &dir.join("labelled-only"), Resume::No, device)?;
            push(format!("supervised + {} steps on the labelled", a.continue_steps), score(&more)?);
            for &mix in &a.mixes {
                let share = mix / 100.0;
                let mut mixed = tasks(&labelled, share / labelled.len() as f64);
                if !pseudo.is_empty() {
                    mixed.extend(tasks(&pseudo, (1.0 - share) / pseudo.len() as f64));
                }
                let (_, semi, _) = train_agent(mixed, prior, &cfg, &cont, Some(&sup_dir), &dir.join(format!("semi-{mix}")), Resume::No, device)?;
                push(format!("semi-supervised {mix}:{} (+{} steps)", 100.0 - mix, a.continue_steps), score(&semi)?);
            }
            eprintln!("{} seed {seed}: done [{:.0} s]", organ.name(), t0.elapsed().as_secs_f64());
        }
        for (name, scores) in &rows {
            let col = |f: &dyn Fn(&BoxScores) -> f64| mean_sd(&scores.iter().map(f).collect::<Vec<_>>());
            writeln!(md, "| {} | {name} | {} | {} | {} |", organ.name(), col(&|s| s.iou), col(&|s| s.wall_mm), col(&|s| s.centroid_mm))?;
        }
    }
    writeln!(md, "\nTotal time {:.0} s on {} ({} threads).", t0.elapsed().as_secs_f64(), a.device, tch::get_num_threads())?;
    if let Some(dir) = a.doc.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&a.doc, &md).with_context(|| format!("cannot write {}", a.doc.display()))?;
    println!("{md}");
    println!("written to {}", a.doc.display());
    Ok(())
}
