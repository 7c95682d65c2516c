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

/// The training tests draw from libtorch's process-wide generator, which tests running in
/// parallel share: one at a time, so each sees the draws its seed promises.
static TRAINING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn small() -> PhantomConfig {
    PhantomConfig { shape: [24, 36, 48], spacing: [8.0, 8.0, 8.0], ..PhantomConfig::default() }
}

fn quick() -> AgentConfig {
    AgentConfig { side: 8, replay: 600, batch: 32, imitation_steps: 60, epsilon_steps: 40, episode_steps: 15, target_every: 20, ..AgentConfig::default() }
}

#[test]
fn imitation_and_q_learning_improve_on_the_start_box() {
    let _one_at_a_time = TRAINING.lock().unwrap_or_else(|e| e.into_inner());
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
    let _one_at_a_time = TRAINING.lock().unwrap_or_else(|e| e.into_inner());
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

/// The real-data check's cases: Colin27 (here a small synthetic head written as the two files
/// the loader reads) under seeded random poses; the structure's box moves with the pose,
/// keeps its size within the pose's scale and rotation, and the same seed gives the same case.
#[test]
fn colin27_cases_move_the_structure_box_with_the_pose() {
    use ssl_medical::colin27::Colin27;
    use ssl_medical::io::{write_nifti, VoxelType};
    use ssl_medical::localisation::{colin27_cases, colin27_poses};
    use ssl_medical::volume::{Affine, Volume};
    let dir = std::env::temp_dir().join(format!("ssl-medical-colin-loc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A head of varying brightness (percentile normalisation needs more than one value).
    let head = Tensor::zeros([32, 32, 32], (Kind::Float, Device::Cpu));
    let _ = head.narrow(0, 4, 24).narrow(1, 4, 24).narrow(2, 4, 24).fill_(1.0);
    let t1 = head * (Tensor::arange(32 * 32 * 32, (Kind::Float, Device::Cpu)).view([32, 32, 32]).remainder(50.0) + 50.0);
    let aal = Tensor::zeros([32, 32, 32], (Kind::Float, Device::Cpu));
    // The thalamus (AAL 77 and 78) as an 8 x 6 x 4 block off centre.
    let _ = aal.narrow(0, 12, 4).narrow(1, 10, 6).narrow(2, 14, 8).fill_(77.0);
    let affine = Affine::scaling([2.0, 2.0, 2.0]);
    write_nifti(&Volume::new(t1, affine, "t1".as_ref()).unwrap(), &dir.join("ch2.nii.gz"), VoxelType::Float32).unwrap();
    write_nifti(&Volume::new(aal, affine, "aal".as_ref()).unwrap(), &dir.join("aal.nii.gz"), VoxelType::Int16).unwrap();
    let brain = Colin27::load(&dir, 2.0).unwrap();
    let thalamus = Colin27::class("thalamus").unwrap();
    assert!(Colin27::class("hippocampus").unwrap_err().to_string().contains("cerebellum"));

    let cases = colin27_cases(&brain, thalamus, 0..6, &colin27_poses()).unwrap();
    let again = colin27_cases(&brain, thalamus, 3..4, &colin27_poses()).unwrap();
    assert_eq!(cases[3].truth, again[0].truth);
    assert!(cases[3].volume.equal(&again[0].volume));
    let unmoved = BoxF { min: [14.0, 10.0, 12.0], max: [22.0, 16.0, 16.0] };
    let volume = |b: &BoxF| b.size().iter().product::<f64>();
    let mut centres = Vec::new();
    for c in &cases {
        assert_eq!(c.volume.size(), [32, 32, 32]);
        let (lo, hi) = (c.volume.min().double_value(&[]), c.volume.max().double_value(&[]));
        assert!(lo >= 0.0 && hi <= 1.0, "{lo}..{hi}");
        // Scale 0.9-1.1 and turns of up to 10 degrees: the tight box grows or shrinks, within bounds.
        let ratio = volume(&c.truth) / volume(&unmoved);
        assert!((0.6..2.2).contains(&ratio), "box {:?}: {ratio} times the unmoved volume", c.truth);
        centres.push(c.truth.centre());
    }
    // The poses differ: the box's centre moves between cases and away from where it was.
    let spread = (0..3)
        .map(|a| centres.iter().map(|c| c[a]).fold(f64::NEG_INFINITY, f64::max) - centres.iter().map(|c| c[a]).fold(f64::INFINITY, f64::min))
        .sum::<f64>();
    assert!(spread > 2.0, "centres {centres:?}");
    assert!(cases.iter().any(|c| c.truth != unmoved));
}

/// A volume from a file on the agent's footing: resampled, intensities in [0, 1], the box of
/// a label found on the resampled grid; a label the map lacks is an error naming the file.
#[test]
fn volume_case_resamples_and_finds_the_label_box() {
    use ssl_medical::localisation::volume_case;
    use ssl_medical::preprocess::Intensity;
    use ssl_medical::volume::{Affine, Volume};
    let image = Volume::new(Tensor::full([16, 16, 16], -1000.0, (Kind::Float, Device::Cpu)), Affine::scaling([2.0, 2.0, 2.0]), "ct".as_ref()).unwrap();
    let _ = image.data.narrow(0, 4, 8).narrow(1, 4, 8).narrow(2, 4, 8).fill_(40.0);
    let labels = Volume::new(Tensor::zeros([16, 16, 16], (Kind::Float, Device::Cpu)), image.affine, "labels".as_ref()).unwrap();
    let _ = labels.data.narrow(0, 4, 4).narrow(1, 6, 4).narrow(2, 8, 4).fill_(5.0);
    let (volume, affine, truth) = volume_case(&image, Some(&labels), 5, Intensity::parse("abdomen").unwrap(), 4.0).unwrap();
    assert_eq!(volume.size(), [8, 8, 8]);
    assert_eq!(affine.spacing(), [4.0, 4.0, 4.0]);
    assert!((volume.max().double_value(&[]) - 0.5).abs() < 1e-6 && volume.min().double_value(&[]) == 0.0);
    // Voxels 8..11 (x), 6..9 (y), 4..7 (z) at 2 mm are voxels 4..5, 3..4, 2..3 at 4 mm.
    assert_eq!(truth, Some(BoxF { min: [4.0, 3.0, 2.0], max: [6.0, 5.0, 4.0] }));
    let err = volume_case(&image, Some(&labels), 7, Intensity::parse("abdomen").unwrap(), 4.0).unwrap_err().to_string();
    assert!(err.contains("labels") && err.contains("no voxel holds label 7"), "{err}");
}
