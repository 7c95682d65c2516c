//! The box agent: moves and overlaps worked by hand, the expert, the fused box, what the
//! agent sees, the replay buffer, learning on phantoms, and an exact resume.
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use ssl_core::train::Resume;
use ssl_medical::localisation::replay::Replay;
use ssl_medical::localisation::{
    box_scores, fuse_median, localise_cases, mean_box, mean_scores, observe, phantom_cases, train_agent, AgentConfig, BoxF, Case, Localisation, Schedule, Task,
    ACTIONS,
};
use ssl_medical::phantom::{Organ, PhantomConfig};
use std::collections::HashMap;
use tch::{Device, Kind, Tensor};

fn unit() -> BoxF {
    BoxF { min: [10.0, 10.0, 10.0], max: [20.0, 20.0, 20.0] }
}

#[test]
fn moves_overlaps_and_distances_worked_by_hand() {
    let b = unit();
    let ext = [64, 64, 64];
    assert_eq!(b.step(1, 0.1, ext), BoxF { min: [11.0, 10.0, 10.0], max: [21.0, 20.0, 20.0] });
    assert_eq!(b.step(4, 0.1, ext), BoxF { min: [10.0, 10.0, 9.0], max: [20.0, 20.0, 19.0] });
    assert_eq!(b.step(7, 0.2, ext), BoxF { min: [9.0, 9.0, 9.0], max: [21.0, 21.0, 21.0] });
    assert_eq!(b.step(10, 0.2, ext), BoxF { min: [10.0, 11.0, 10.0], max: [20.0, 19.0, 20.0] });
    // Never thinner than 2 voxels, the centre kept inside.
    let thin = BoxF { min: [0.0, 0.0, 0.0], max: [2.0, 2.0, 2.0] };
    assert_eq!(thin.step(8, 0.5, ext).size(), [2.0, 2.0, 2.0]);
    assert!(thin.step(0, 0.5, ext).centre()[0] >= 0.0);

    let shifted = BoxF { min: [15.0, 10.0, 10.0], max: [25.0, 20.0, 20.0] };
    assert!((b.iou(&shifted) - 500.0 / 1500.0).abs() < 1e-12);
    let (walls, centroid) = b.distances_mm(&shifted, [2.0, 1.0, 1.0]);
    assert!((walls - 20.0 / 6.0).abs() < 1e-12 && (centroid - 10.0).abs() < 1e-12);

    // The expert moves towards the target: +x here; at the target any move loses overlap.
    assert_eq!(b.expert_action(&shifted, 0.1, ext), 1);
    for start in [unit(), b.step(7, 0.3, ext), b.step(2, 0.3, ext)] {
        let mut now = start;
        for _ in 0..40 {
            now = now.step(now.expert_action(&shifted, 0.1, ext), 0.1, ext);
        }
        assert!(now.iou(&shifted) > 0.8, "the expert reached {} from {start:?}", now.iou(&shifted));
    }

    let boxes = [unit(), shifted, BoxF { min: [0.0, 0.0, 0.0], max: [30.0, 30.0, 30.0] }];
    assert_eq!(fuse_median(&boxes).unwrap(), BoxF { min: [10.0, 10.0, 10.0], max: [25.0, 20.0, 20.0] });
    assert!(fuse_median(&[]).is_none());
    assert_eq!(BoxF::from_slice(&b.to_vec()).unwrap(), b);
    assert!(BoxF::from_slice(&[1.0, f64::NAN, 0.0, 1.0, 1.0, 1.0]).is_err());
}

#[test]
fn the_agent_sees_the_box_content_with_context() {
    // A bright cube at voxels 8..16 of a 32^3 volume.
    let v = Tensor::zeros([32, 32, 32], (Kind::Float, Device::Cpu));
    let _ = v.narrow(0, 8, 8).narrow(1, 8, 8).narrow(2, 8, 8).fill_(1.0);
    let b = BoxF { min: [8.0; 3], max: [16.0; 3] };
    let inside = observe(&v, &b, 1.0, 8).unwrap();
    assert_eq!(inside.size(), [8, 8, 8]);
    assert!(inside.allclose(&Tensor::ones([8, 8, 8], (Kind::Float, Device::Cpu)), 1e-5, 1e-5, false));
    // With twice the context, the cube fills the middle half along each axis.
    let wide = observe(&v, &b, 2.0, 8).unwrap();
    let share = wide.gt(0.5).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
    assert!((share - 0.125).abs() < 1e-6, "{share}");
    assert!(observe(&v.get(0), &b, 1.0, 8).is_err());
}

#[test]
fn the_replay_buffer_rings_samples_and_restores() {
    let mut r = Replay::new(3, &[1, 2, 2, 2]).unwrap();
    for i in 0..5 {
        let obs = Tensor::full([1, 2, 2, 2], i as f64 / 10.0, (Kind::Float, Device::Cpu));
        r.push(&obs, i % ACTIONS, 1.0, &(&obs + 0.1), i == 4, 3);
    }
    assert_eq!(r.len(), 3);
    let b = r.sample(64, &mut ChaCha8Rng::seed_from_u64(0), Device::Cpu).unwrap();
    // Only the three newest remain (actions 2, 3, 4), observations to 1/255.
    let actions: Vec<i64> = Vec::try_from(&b.action.unique_dim(0, true, false, false).0).unwrap();
    assert_eq!(actions, [2, 3, 4]);
    assert!((&b.next - &b.obs - 0.1).abs().max().double_value(&[]) < 1.0 / 255.0 + 1e-6);
    let state: HashMap<String, Tensor> = r.state("r.").into_iter().collect();
    let mut back = Replay::new(3, &[1, 2, 2, 2]).unwrap();
    back.load_state(&state, "r.").unwrap();
    let again = back.sample(64, &mut ChaCha8Rng::seed_from_u64(0), Device::Cpu).unwrap();
    assert!(again.obs.equal(&b.obs) && again.action.equal(&b.action) && again.done.equal(&b.done));
    let mut other = Replay::new(4, &[1, 2, 2, 2]).unwrap();
    assert!(other.load_state(&state, "r.").is_err());
    assert!(Replay::new(0, &[1]).is_err());
}

fn small() -> PhantomConfig {
    PhantomConfig { shape: [24, 36, 48], spacing: [8.0, 8.0, 8.0], ..PhantomConfig::default() }
}

fn quick() -> AgentConfig {
    AgentConfig { side: 8, replay: 600, batch: 32, imitation_steps: 60, epsilon_steps: 40, episode_steps: 15, target_every: 20, ..AgentConfig::default() }
}

#[test]
fn imitation_and_q_learning_improve_on_the_start_box() {
    let cases = phantom_cases(&small(), 0..4, Organ::Liver).unwrap();
    let prior = mean_box(&cases.iter().map(|c| c.truth).collect::<Vec<_>>()).unwrap();
    let tasks = cases.iter().map(|c| Task { volume: c.volume.shallow_clone(), target: c.truth, weight: 1.0 }).collect();
    let dir = std::env::temp_dir().join(format!("ssl-medical-dqn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = quick();
    let steps = 300;
    let cfg = AgentConfig { imitation_steps: 180, epsilon_steps: 80, ..cfg };
    let schedule = Schedule { steps, lr: 1e-3, seed: 0, checkpoint_every: steps };
    let (_, agent, summary) = train_agent(tasks, prior, &cfg, &schedule, None, &dir.join("run"), Resume::No, Device::Cpu).unwrap();
    assert_eq!(summary.steps, steps);
    // From starts jittered around the prior, each agent ends nearer the organ than it began.
    let found = localise_cases(&agent, &cases, &prior, &cfg, 6, 1).unwrap();
    let mean = |f: &dyn Fn(&Localisation, &Case) -> f64| found.iter().zip(&cases).map(|(l, c)| f(l, c)).sum::<f64>() / cases.len() as f64;
    let start = mean(&|l, c| mean_scores(&l.starts, c).iou);
    let end = mean(&|l, c| mean_scores(&l.finals, c).iou);
    let fused = mean(&|l, c| box_scores(&l.fused, c).iou);
    println!("IoU: starts {start:.3}, agents' ends {end:.3}, fused {fused:.3}, prior {:.3}", mean(&|_, c| box_scores(&prior, c).iou));
    assert!(end > start + 0.05, "IoU {start:.3} at the starts, {end:.3} at the agents' ends");
    assert!(fused >= end - 0.02, "fusing lost overlap: {fused:.3} against {end:.3}");
}

#[test]
fn a_resumed_run_ends_where_the_uninterrupted_one_does() {
    let cases = phantom_cases(&small(), 0..2, Organ::Spleen).unwrap();
    let prior = mean_box(&cases.iter().map(|c| c.truth).collect::<Vec<_>>()).unwrap();
    let tasks = || cases.iter().map(|c| Task { volume: c.volume.shallow_clone(), target: c.truth, weight: 1.0 }).collect::<Vec<_>>();
    let dir = std::env::temp_dir().join(format!("ssl-medical-dqn-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Imitation ends at step 10 and the target synchronises at 20: both inside the runs.
    let cfg = AgentConfig { imitation_steps: 10, target_every: 8, ..quick() };
    let whole = Schedule { steps: 24, lr: 1e-3, seed: 3, checkpoint_every: 12 };
    let (vs_a, _, _) = train_agent(tasks(), prior, &cfg, &whole, None, &dir.join("a"), Resume::No, Device::Cpu).unwrap();
    // The same run stopped at its first checkpoint (12 steps written by a run of 12), then resumed.
    let first = Schedule { steps: 24, ..whole.clone() };
    let b_dir = dir.join("b");
    {
        let (_, _, _) = train_agent(tasks(), prior, &cfg, &Schedule { checkpoint_every: 12, ..first.clone() }, None, &b_dir, Resume::No, Device::Cpu).unwrap();
    }
    // Drop the final checkpoint: the resume starts from step 12.
    let ck = b_dir.join("checkpoints");
    let mut steps: Vec<_> = std::fs::read_dir(&ck).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    steps.sort();
    assert!(steps.len() >= 2, "{steps:?}");
    std::fs::remove_dir_all(steps.last().unwrap()).unwrap();
    std::fs::remove_file(ck.join("latest")).unwrap();
    let (vs_b, _, summary) = train_agent(tasks(), prior, &cfg, &first, None, &b_dir, Resume::Latest, Device::Cpu).unwrap();
    assert_eq!(summary.resumed_from, Some(12));
    let (a, b) = (vs_a.variables(), vs_b.variables());
    for (name, t) in &a {
        assert!(t.equal(&b[name]), "{name} differs after the resume");
    }
}
