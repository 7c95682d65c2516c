//! The video methods' pieces: the normalizing flow (exact inverse, log-determinant against
//! the Jacobian, likelihood training), SSVC's static cue suppression, ViewCLR's camera warp
//! and adversarial generator, and both wrapped round a method in pre-training.
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use ssl_core::data::Batch;
use ssl_core::method::{Method, StepContext};
use ssl_core::train::Resume;
use ssl_vision::augment::AugmentConfig;
use ssl_vision::video::viewclr::{camera_rotation_grid, gradient_reversal};
use ssl_vision::video::{
    pretrain_video, rotate_camera, suppress_static, train_flow, FlowConfig, FlowTrainConfig, FrameFlow, SsvcConfig, TransformedView, VideoFolder,
    VideoPretrainConfig, ViewClrConfig, ViewGenerator,
};
use std::sync::Arc;
use tch::{nn, Device, Kind, Tensor};

mod common;
use common::{mild_augment, moving_squares, tmp};

/// A small flow moved off its start: couplings and actnorms by noise of 0.1, the 1 x 1
/// rotations by 0.01 (more could make them near-singular, which no training does).
fn small_flow(channels: i64, size: usize) -> (nn::VarStore, FrameFlow) {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = FlowConfig { size, levels: 2, steps: 2, hidden: 8, clamp: 1.5 };
    let flow = FrameFlow::new(&(vs.root() / "flow"), channels, &cfg).unwrap();
    flow.initialize(&(Tensor::randn([16, channels, size as i64, size as i64], (Kind::Float, Device::Cpu)) * 0.7 + 0.2)).unwrap();
    // Move every weight off its start (couplings begin as the identity) so the checks see a
    // flow that actually scales and shifts.
    tch::no_grad(|| {
        for (name, mut v) in vs.variables() {
            let scale = if name.ends_with("invconv") { 0.01 } else { 0.1 };
            let _ = v.g_add_(&(Tensor::randn_like(&v) * scale));
        }
    });
    (vs, flow)
}

#[test]
fn the_flow_inverts_exactly_and_its_log_determinant_is_the_jacobians() {
    let (_vs, flow) = small_flow(3, 8);
    let x = Tensor::randn([5, 3, 8, 8], (Kind::Float, Device::Cpu));
    let (z, logdet) = flow.encode(&x).unwrap();
    assert_eq!(z.size(), [5, 192]);
    let back = flow.decode(&z).unwrap();
    let err = (&back - &x).abs().max().double_value(&[]);
    // Single precision through 8 scalings of up to e^1.5 each: about 1e-4 for values of 4.
    assert!(err < 1e-3, "decode(encode(x)) differs from x by {err}");
    assert!((&z - &x.flatten(1, -1)).abs().max().double_value(&[]) > 0.1, "the flow must not be the identity");

    // One channel of 4 x 4: D = 16, the full Jacobian by autograd.
    let (_vs1, flow1) = small_flow(1, 4);
    let x = Tensor::randn([1, 1, 4, 4], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let (z, logdet1) = flow1.encode(&x).unwrap();
    let rows: Vec<Tensor> = (0..16)
        .map(|i| {
            let g = Tensor::run_backward(&[z.get(0).get(i)], &[&x], true, false);
            g[0].flatten(0, -1)
        })
        .collect();
    let jac = Tensor::stack(&rows, 0);
    let (_, logabs) = Tensor::linalg_slogdet(&jac);
    let (want, got) = (logabs.double_value(&[]), logdet1.double_value(&[0]));
    assert!((want - got).abs() < 1e-3 * want.abs().max(1.0), "log|det J| {want} vs the flow's {got}");
    assert!(got.abs() > 0.01, "a log-determinant of {got} checks nothing");
    // Shapes are checked.
    let err = flow.encode(&Tensor::zeros([2, 3, 16, 16], (Kind::Float, Device::Cpu))).unwrap_err().to_string();
    assert!(err.contains("[N, 3, 8, 8]"), "{err}");
    assert!(flow.decode(&Tensor::zeros([2, 10], (Kind::Float, Device::Cpu))).is_err());
    assert!(FlowConfig { size: 10, ..FlowConfig::default() }.validate().is_err());
    let _ = logdet;
}

#[test]
fn the_flow_learns_frames_by_likelihood() {
    let root = tmp("flow-fit");
    moving_squares(&root, 3, 0);
    let set = VideoFolder::open(&root, false).unwrap();
    let cfg = FlowTrainConfig { flow: FlowConfig { size: 16, levels: 2, steps: 2, hidden: 16, clamp: 1.5 }, steps: 60, batch: 8, lr: 3e-3 };
    let fitted = train_flow(&set, &cfg, &AugmentConfig::default(), 0, Device::Cpu).unwrap();
    let n = fitted.losses.len();
    let (head, tail) = (fitted.losses[..5].iter().sum::<f64>() / 5.0, fitted.losses[n - 5..].iter().sum::<f64>() / 5.0);
    assert!(tail < head - 0.2, "NLL per dimension {head:.3} -> {tail:.3}");
    let bad = FlowTrainConfig { steps: 0, ..cfg };
    assert!(train_flow(&set, &bad, &AugmentConfig::default(), 0, Device::Cpu).is_err());
}

#[test]
fn suppression_keeps_what_moves_and_removes_what_stands_still() {
    let (_vs, flow) = small_flow(3, 8);
    let clips = Tensor::randn([2, 3, 4, 8, 8], (Kind::Float, Device::Cpu));
    // alpha 0: nothing is static, the flow round trip gives the clip back.
    let (same, stats) = suppress_static(&flow, &clips, 0.0).unwrap();
    assert!((&same - &clips).abs().max().double_value(&[]) < 1e-3);
    assert_eq!(stats.suppressed, 0.0);
    // A clip that does not move at all: every latent dimension is static, each frame becomes
    // the flow's image of the prior's mean, the same for any still clip.
    let still = |seed: i64| {
        tch::manual_seed(seed);
        Tensor::randn([1, 3, 1, 8, 8], (Kind::Float, Device::Cpu)).repeat([1, 1, 4, 1, 1])
    };
    let (a, sa) = suppress_static(&flow, &still(1), 0.5).unwrap();
    let (b, _) = suppress_static(&flow, &still(2), 0.5).unwrap();
    assert_eq!(sa.suppressed, 1.0);
    assert!((&a - &b).abs().max().double_value(&[]) < 1e-3, "still clips must lose all their content");
    let prior_mean = flow.decode(&Tensor::zeros([1, 192], (Kind::Float, Device::Cpu))).unwrap();
    assert!((a.select(2, 0) - prior_mean).abs().max().double_value(&[]) < 1e-3);
    // A clip made in latent space: dimensions 0..96 change from frame to frame, the other
    // 96 stand still. Exactly the still half is suppressed, the moving half is kept.
    let z0 = flow.encode(&still(3).select(2, 0)).unwrap().0;
    // Each moving dimension steps by 1 per frame, up or down: temporal sd 1.1.
    let signs = Tensor::randn([1, 96], (Kind::Float, Device::Cpu)).sign();
    let moving = (Tensor::arange(4, (Kind::Float, Device::Cpu)).view([4, 1]) - 1.5) * signs;
    let z = Tensor::cat(&[&z0.narrow(1, 0, 96) + &moving, z0.narrow(1, 96, 96).repeat([4, 1])], 1);
    let clip = flow.decode(&z).unwrap().unsqueeze(0).permute([0, 2, 1, 3, 4]);
    let (out, sm) = suppress_static(&flow, &clip, 0.5).unwrap();
    assert_eq!(sm.suppressed, 0.5, "{sm:?}");
    // Back through the flow in single precision: within a tenth of the latents' size.
    let scale = z.abs().max().double_value(&[]);
    let z_out = flow.encode(&out.get(0).permute([1, 0, 2, 3])).unwrap().0;
    let kept = (z_out.narrow(1, 0, 96) - z.narrow(1, 0, 96)).abs().max().double_value(&[]);
    assert!(kept < 0.1 * scale, "the moving dimensions are kept (off by {kept})");
    let still_dims = z_out.narrow(1, 96, 96).abs().max().double_value(&[]);
    assert!(still_dims < 0.1 * scale, "the still dimensions are zero (off by {still_dims})");
    // Clips larger than the flow: the change is added back at the clip's resolution, so
    // alpha 0 still returns the clip.
    let big = Tensor::randn([1, 3, 4, 16, 16], (Kind::Float, Device::Cpu));
    let (out, _) = suppress_static(&flow, &big, 0.0).unwrap();
    assert!((&out - &big).abs().max().double_value(&[]) < 1e-3);
    // Bad input.
    assert!(suppress_static(&flow, &Tensor::zeros([2, 3, 8, 8], (Kind::Float, Device::Cpu)), 0.5).is_err());
    assert!(suppress_static(&flow, &clips, f64::NAN).is_err());
}

#[test]
fn gradient_reversal_negates_the_gradient_only() {
    let x = Tensor::from_slice(&[1.0f32, -2.0, 3.0]).set_requires_grad(true);
    let y = gradient_reversal(&x);
    assert_eq!(Vec::<f32>::try_from(&y.detach()).unwrap(), [1.0, -2.0, 3.0]);
    (y * Tensor::from_slice(&[1.0f32, 2.0, 3.0])).sum(Kind::Float).backward();
    assert_eq!(Vec::<f32>::try_from(&x.grad()).unwrap(), [-1.0, -2.0, -3.0]);
}

#[test]
fn a_rotated_camera_moves_the_picture_as_a_pinhole_would() {
    // A bright column in the middle of a 33-px-wide frame.
    let (h, w, focal) = (9i64, 33i64, 1.5);
    let frame = Tensor::zeros([1, 1, 1, h, w], (Kind::Float, Device::Cpu));
    let _ = frame.narrow(4, 16, 1).fill_(1.0);
    let zero = Tensor::zeros([1, 3], (Kind::Float, Device::Cpu));
    let same = rotate_camera(&frame, &zero, focal).unwrap();
    assert!((&same - &frame).abs().max().double_value(&[]) < 1e-6, "no rotation, no change");
    // Yaw a: the centre column is seen at x = -f tan(a) (grid units).
    for deg in [10.0f64, -20.0] {
        let a = deg.to_radians();
        let angles = Tensor::from_slice(&[a as f32, 0.0, 0.0]).view([1, 3]);
        let out = rotate_camera(&frame, &angles, focal).unwrap().get(0).get(0).get(0).get(h / 2);
        let xs = (Tensor::arange(w, (Kind::Float, Device::Cpu)) * 2.0 + 1.0) / w as f64 - 1.0;
        let centroid = (&out * &xs).sum(Kind::Float).double_value(&[]) / out.sum(Kind::Float).double_value(&[]);
        let want = -focal * a.tan();
        assert!((centroid - want).abs() < 1.0 / w as f64, "yaw {deg}: column at {centroid:.3}, expected {want:.3}");
    }
    // Roll keeps the centre where it is; the grid has one point per pixel.
    let roll = Tensor::from_slice(&[0.0f32, 0.0, 0.3]).view([1, 3]);
    let grid = camera_rotation_grid(&roll, h, w, focal);
    assert_eq!(grid.size(), [1, h, w, 2]);
    assert!(grid.get(0).get(h / 2).get(w / 2).abs().max().double_value(&[]) < 1e-6);
    assert!(rotate_camera(&frame, &Tensor::zeros([2, 3], (Kind::Float, Device::Cpu)), focal).is_err());
}

/// A SimCLR on R3D-18 (width 4) for clips of 4 frames of 16 px.
fn tiny_simclr(vs: &nn::VarStore) -> Box<dyn Method> {
    let cfg = VideoPretrainConfig { method: "simclr".into(), width: 4, frames: 4, size: 16, ..VideoPretrainConfig::default() };
    ssl_vision::registry().build_method("simclr", vs, &cfg.method_config(3)).unwrap()
}

#[test]
fn the_view_generator_plays_against_the_encoder() {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let inner = tiny_simclr(&vs);
    let cfg = ViewClrConfig { pull: 0.0, ..ViewClrConfig::default() };
    let generator = ViewGenerator::new(&(vs.root() / "view_generator"), 3, &cfg).unwrap();
    let mut method = TransformedView::new(inner, Box::new(generator), 0);
    assert_eq!(method.name(), "viewclr");
    let clips = Tensor::randn([6, 3, 4, 16, 16], (Kind::Float, Device::Cpu));
    let batch = Batch::from_views(vec![clips.shallow_clone(), &clips + Tensor::randn_like(&clips) * 0.3]).unwrap();
    let ctx = StepContext::new(0, 10, 7);
    let bias = vs.variables().into_iter().find(|(n, _)| n == "view_generator.fc2.bias").unwrap().1;
    // Away from the original camera, where the loss has a slope in the angles.
    tch::no_grad(|| bias.shallow_clone().copy_(&Tensor::from_slice(&[0.4f32, -0.3, 0.2])));
    let contrastive = |m: &mut TransformedView| {
        let l = m.loss(&batch, &ctx).unwrap();
        let terms: f64 = l.terms().iter().map(|(_, t)| t.double_value(&[])).sum();
        l.mean_total().double_value(&[]) - terms
    };
    let before = contrastive(&mut method);
    method.loss(&batch, &ctx).unwrap().mean_total().backward();
    let g = bias.grad();
    assert!(g.abs().sum(Kind::Float).double_value(&[]) > 0.0, "the generator gets no gradient");
    // A descent step on the generator's own gradient raises the encoder's loss: the
    // generator works against the encoder.
    tch::no_grad(|| {
        let _ = bias.shallow_clone().g_sub_(&(&g / g.norm() * 0.05));
    });
    let after = contrastive(&mut method);
    assert!(after > before, "contrastive loss {before} -> {after} after the generator's step");
    // The pull towards the original camera is a term of its own.
    let cfg = ViewClrConfig { pull: 1.0, ..ViewClrConfig::default() };
    let vs2 = nn::VarStore::new(Device::Cpu);
    let g2 = ViewGenerator::new(&(vs2.root() / "view_generator"), 3, &cfg).unwrap();
    let (view, pull) = g2.generate(&clips, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    assert_eq!(view.size(), clips.size());
    assert_eq!(pull.double_value(&[]), 0.0, "a fresh generator starts at the original camera");
    assert!(ViewGenerator::new(&vs2.root(), 3, &ViewClrConfig { max_angle: 95.0, ..cfg }).is_err());
}

#[test]
fn ssvc_and_viewclr_pretrain_any_method_and_resume() {
    let root = tmp("methods-pretrain");
    moving_squares(&root.join("train"), 6, 0);
    let train = Arc::new(VideoFolder::open(&root.join("train"), false).unwrap());
    let mild = mild_augment();
    let base = VideoPretrainConfig {
        method: "moco-v2".into(),
        width: 4,
        frames: 4,
        stride: 2,
        size: 16,
        batch: 8,
        steps: 30,
        lr: 3e-3,
        queue: 32,
        clip_augment: mild,
        ..VideoPretrainConfig::default()
    };
    let flow = FlowTrainConfig { flow: FlowConfig { size: 8, levels: 2, steps: 2, hidden: 16, clamp: 1.5 }, steps: 80, batch: 16, lr: 3e-3 };
    // SimCLR's loss falls from the first step (MoCo's rises while its queue fills).
    let ssvc = VideoPretrainConfig { method: "simclr".into(), steps: 60, ssvc: Some(SsvcConfig { flow, ..SsvcConfig::default() }), ..base.clone() };
    assert_eq!(ssvc.label(), "simclr+ssvc");
    let dir = root.join("ssvc");
    let (_, method, summary) = pretrain_video(&ssvc, train.clone(), &dir, Device::Cpu, Resume::No).unwrap();
    assert_eq!(method.name(), "ssvc");
    let losses = ssl_core::train::MetricsLog::read_losses(&dir.join("metrics.jsonl")).unwrap();
    let mean = |l: &[(usize, f64)]| l.iter().map(|p| p.1).sum::<f64>() / l.len() as f64;
    assert!(mean(&losses[losses.len() - 4..]) < mean(&losses[..4]), "{losses:?}");
    assert!(dir.join("flow.safetensors").exists() && dir.join("flow-nll.json").exists());
    // Resuming reads the run's flow instead of fitting another.
    let longer = VideoPretrainConfig { steps: 60, ..ssvc.clone() };
    let (_, _, again) = pretrain_video(&longer, train.clone(), &dir, Device::Cpu, Resume::Latest).unwrap();
    assert_eq!(again.final_loss, summary.final_loss, "a finished run resumes to the same place");

    let viewclr = VideoPretrainConfig { method: "simclr".into(), viewclr: Some(ViewClrConfig::default()), ..base.clone() };
    let (vs, method, summary) = pretrain_video(&viewclr, train.clone(), &root.join("viewclr"), Device::Cpu, Resume::No).unwrap();
    assert_eq!(method.name(), "viewclr");
    assert!(summary.final_loss.is_finite());
    let moved = vs.variables().into_iter().find(|(n, _)| n == "view_generator.fc2.weight").unwrap().1;
    assert!(moved.abs().sum(Kind::Float).double_value(&[]) > 0.0, "the generator was not trained");
    // Views out of range are refused before anything runs.
    let bad = VideoPretrainConfig { viewclr: Some(ViewClrConfig { view: 2, ..ViewClrConfig::default() }), ..base };
    let err = pretrain_video(&bad, train, &root.join("bad"), Device::Cpu, Resume::No).err().unwrap().to_string();
    assert!(err.contains("view 2"), "{err}");
}

// ---- STC-mix / CMMC ----

use ssl_vision::video::{horn_schunck, MotionInput};

/// A smooth blob at `(cx, cy)` on a 24 x 24 frame, `[1, 1, 24, 24]`.
fn blob(cx: f64, cy: f64) -> Tensor {
    let xs = Tensor::arange(24, (Kind::Float, Device::Cpu));
    let gx = (-(&xs - cx).square() / 18.0).exp();
    let gy = (-(&xs - cy).square() / 18.0).exp();
    gy.view([24, 1]).matmul(&gx.view([1, 24])).view([1, 1, 24, 24])
}

#[test]
fn horn_schunck_finds_the_direction_and_size_of_a_shift() {
    for (dx, dy) in [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0)] {
        let (a, b) = (blob(11.5, 11.5), blob(11.5 + dx, 11.5 + dy));
        let (u, v) = horn_schunck(&a, &b, 0.1, 200).unwrap();
        // Mean flow where the blob is.
        let mask = a.gt(0.3).to_kind(Kind::Float);
        let mean = |f: &Tensor| (f * &mask).sum(Kind::Float).double_value(&[]) / mask.sum(Kind::Float).double_value(&[]);
        let (mu, mv) = (mean(&u), mean(&v));
        assert!((mu - dx).abs() < 0.35 && (mv - dy).abs() < 0.35, "shift ({dx}, {dy}): flow ({mu:.2}, {mv:.2})");
    }
    let still = horn_schunck(&blob(10.0, 10.0), &blob(10.0, 10.0), 0.1, 50).unwrap();
    assert_eq!(still.0.abs().max().double_value(&[]), 0.0);
    assert!(horn_schunck(&blob(1.0, 1.0), &Tensor::zeros([1, 1, 8, 8], (Kind::Float, Device::Cpu)), 0.1, 5).is_err());
    assert!(horn_schunck(&blob(1.0, 1.0), &blob(1.0, 1.0), 0.0, 5).is_err());
}

#[test]
fn motion_inputs_keep_the_clip_length() {
    let frames: Vec<Tensor> = (0..4).map(|t| blob(8.0 + t as f64, 10.0).repeat([1, 3, 1, 1])).collect();
    let clip = Tensor::stack(&frames, 2); // [1, 3, 4, 24, 24]
    let diff = MotionInput::RgbDiff.compute(&clip).unwrap();
    assert_eq!(diff.size(), [1, 3, 4, 24, 24]);
    let want = clip.select(2, 2) - clip.select(2, 1);
    assert!((diff.select(2, 1) - want).abs().max().double_value(&[]) < 1e-6);
    assert!((diff.select(2, 3) - diff.select(2, 2)).abs().max().double_value(&[]) == 0.0, "the last pair repeats");
    let flow = MotionInput::Flow.compute(&clip).unwrap();
    assert_eq!(flow.size(), [1, 2, 4, 24, 24]);
    // The blob moves right by a pixel per frame: u clearly positive on it, v about 0
    // (smoothing shrinks the estimate).
    let (u, v) = (flow.select(1, 0).select(1, 0), flow.select(1, 1).select(1, 0));
    assert!(
        u.double_value(&[0, 10, 9]) > 0.4 && v.double_value(&[0, 10, 9]).abs() < 0.1,
        "u {} v {}",
        u.double_value(&[0, 10, 9]),
        v.double_value(&[0, 10, 9])
    );
    assert_eq!(MotionInput::Flow.channels(3), 2);
    assert!(MotionInput::Flow.compute(&clip.narrow(2, 0, 1)).is_err());
}

#[test]
fn stc_mix_trains_two_streams_and_wants_a_3d_backbone() {
    let root = tmp("stc-mix");
    moving_squares(&root.join("train"), 6, 0);
    let train = Arc::new(VideoFolder::open(&root.join("train"), false).unwrap());
    let mild = mild_augment();
    let cfg = VideoPretrainConfig {
        method: "stc-mix".into(),
        width: 4,
        frames: 4,
        stride: 2,
        size: 16,
        batch: 8,
        steps: 40,
        lr: 3e-3,
        clip_augment: mild,
        ..VideoPretrainConfig::default()
    };
    let dir = root.join("run");
    let (vs, method, _) = pretrain_video(&cfg, train.clone(), &dir, Device::Cpu, Resume::No).unwrap();
    assert_eq!(method.name(), "stc-mix");
    let losses = ssl_core::train::MetricsLog::read_losses(&dir.join("metrics.jsonl")).unwrap();
    let mean = |l: &[(usize, f64)]| l.iter().map(|p| p.1).sum::<f64>() / l.len() as f64;
    assert!(mean(&losses[losses.len() - 4..]) < mean(&losses[..4]), "{losses:?}");
    // Both streams are trained and exported; the motion stream reads 2 flow channels.
    let names: Vec<String> = vs.variables().into_keys().collect();
    assert!(names.iter().any(|n| n == "motion_backbone.stem.0.weight"), "{names:?}");
    let stem = &vs.variables()["motion_backbone.stem.0.weight"];
    assert_eq!(stem.size()[1], 2);
    assert!(method.exports().iter().any(|e| e.name == "motion_backbone"));
    let ckpt = dir.join("checkpoints/step-00000040");
    assert!(ckpt.join("motion_backbone.safetensors").exists(), "{}", ckpt.display());
    // Frame differences as the motion input; image backbones are refused.
    let diff = VideoPretrainConfig { steps: 2, method_options: [("motion".to_string(), serde_json::json!("rgb-diff"))].into_iter().collect(), ..cfg.clone() };
    let (vs, _, _) = pretrain_video(&diff, train.clone(), &root.join("diff"), Device::Cpu, Resume::No).unwrap();
    assert_eq!(vs.variables()["motion_backbone.stem.0.weight"].size()[1], 3);
    let image = VideoPretrainConfig { backbone: "resnet18".into(), steps: 2, ..cfg };
    let err = pretrain_video(&image, train, &root.join("image"), Device::Cpu, Resume::No).err().unwrap().to_string();
    assert!(err.contains("3-D backbone"), "{err}");
}

#[test]
fn subsets_keep_a_share_of_each_class() {
    let root = tmp("subset");
    moving_squares(&root, 6, 0);
    let set = VideoFolder::open(&root, false).unwrap();
    let half = set.subset(0.5, 0).unwrap();
    assert_eq!(half.len(), 6);
    assert_eq!(half.videos.iter().filter(|v| v.label == Some(0)).count(), 3);
    assert_eq!(
        set.subset(0.5, 0).unwrap().videos.iter().map(|v| v.dir.clone()).collect::<Vec<_>>(),
        half.videos.iter().map(|v| v.dir.clone()).collect::<Vec<_>>()
    );
    assert_ne!(
        set.subset(0.5, 1).unwrap().videos.iter().map(|v| v.dir.clone()).collect::<Vec<_>>(),
        half.videos.iter().map(|v| v.dir.clone()).collect::<Vec<_>>()
    );
    assert_eq!(set.subset(0.01, 0).unwrap().len(), 2, "at least one per class");
    assert!(set.subset(0.0, 0).is_err() && set.subset(1.5, 0).is_err());
}
