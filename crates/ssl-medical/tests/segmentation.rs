//! Segmentation: the Dice loss and the mask scores on cases worked by hand, the loss's
//! gradient against finite differences, the U-Net's shapes, and a few steps of training.
use ssl_core::blocks::Backbone;
use ssl_core::data::Batch;
use ssl_core::method::StepContext;
use ssl_core::train::SupervisedModel;
use ssl_medical::segmentation::{dice_loss, mask_scores, segmentation_loss, Segmenter, MASKS};
use ssl_medical::unet::Unet;
use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

fn cpu() -> (Kind, Device) {
    (Kind::Float, Device::Cpu)
}

#[test]
fn dice_loss_on_cases_worked_by_hand() {
    // Two classes, 4 pixels all of class 1, uniform logits: p = 1/2 everywhere.
    let logits = Tensor::zeros([1, 2, 2, 2], cpu());
    let target = Tensor::ones([1, 2, 2], (Kind::Int64, Device::Cpu));
    // (2 * 2 + 1) / (2 + 4 + 1) = 5 / 7.
    let loss = dice_loss(&logits, &target).unwrap().double_value(&[]);
    assert!((loss - 2.0 / 7.0).abs() < 1e-6, "{loss}");
    // Confident and right: nearly 0; confident and wrong: nearly 1.
    let right = Tensor::from_slice(&[-20.0f32, 20.0]).view([1, 2, 1, 1]).expand([1, 2, 2, 2], false);
    assert!(dice_loss(&right, &target).unwrap().double_value(&[]) < 1e-6);
    assert!(dice_loss(&(-&right), &target).unwrap().double_value(&[]) > 0.7);
    // CE + Dice, weighted 0.4 / 0.6.
    let ce = logits.cross_entropy_loss::<Tensor>(&target, None, tch::Reduction::Mean, -100, 0.0).double_value(&[]);
    let total = segmentation_loss(&logits, &target).unwrap().double_value(&[]);
    assert!((total - (0.4 * ce + 0.6 * 2.0 / 7.0)).abs() < 1e-6);
    // Mismatched shapes and labels outside the classes are errors.
    assert!(dice_loss(&logits, &target.narrow(1, 0, 1)).unwrap_err().to_string().contains("do not match"));
    assert!(dice_loss(&logits, &(target * 2)).unwrap_err().to_string().contains("outside the 2 classes"));
}

#[test]
fn dice_loss_gradient_matches_finite_differences() {
    tch::manual_seed(0);
    let logits = Tensor::randn([2, 3, 3, 3], (Kind::Double, Device::Cpu)).set_requires_grad(true);
    let target = Tensor::randint(3, [2, 3, 3], (Kind::Int64, Device::Cpu));
    let loss = dice_loss(&logits, &target).unwrap();
    loss.backward();
    let grad = logits.grad();
    let eps = 1e-6;
    for i in [0i64, 7, 20, 33, 53] {
        let flat = logits.detach().flatten(0, -1);
        let bump = |d: f64| {
            let x = flat.copy();
            let _ = x.get(i).fill_(flat.double_value(&[i]) + d);
            dice_loss(&x.view([2, 3, 3, 3]), &target).unwrap().double_value(&[])
        };
        let numeric = (bump(eps) - bump(-eps)) / (2.0 * eps);
        let analytic = grad.flatten(0, -1).double_value(&[i]);
        assert!((numeric - analytic).abs() < 1e-6, "element {i}: {numeric} vs {analytic}");
    }
}

#[test]
fn mask_scores_on_squares() {
    let square = |x0: i64, y0: i64| {
        let m = Tensor::zeros([20, 20], cpu());
        let _ = m.narrow(0, y0, 10).narrow(1, x0, 10).fill_(1.0);
        m
    };
    let (a, b) = (square(2, 2), square(4, 2));
    let s = mask_scores(&a, &b, &[1.0, 1.0]).unwrap();
    // Overlap 8 x 10 of two 100-pixel squares.
    assert!((s.dice - 160.0 / 200.0).abs() < 1e-12 && (s.iou - 80.0 / 120.0).abs() < 1e-12, "{s:?}");
    // A shift of 2 pixels: over 5% of the surface lies 2 away, none further.
    assert_eq!(s.hd95, 2.0);
    // Pixels 3 mm wide along x.
    assert_eq!(mask_scores(&a, &b, &[1.0, 3.0]).unwrap().hd95, 6.0);
    assert_eq!(mask_scores(&a, &a, &[1.0, 1.0]).unwrap(), ssl_medical::segmentation::MaskScores { dice: 1.0, iou: 1.0, hd95: 0.0 });
    let empty = Tensor::zeros([20, 20], cpu());
    let e = mask_scores(&empty, &empty, &[1.0, 1.0]).unwrap();
    assert_eq!((e.dice, e.iou, e.hd95), (1.0, 1.0, 0.0));
    let one = mask_scores(&a, &empty, &[1.0, 1.0]).unwrap();
    assert!(one.dice == 0.0 && one.hd95.is_nan());
    // 3-D masks; mismatched grids refused.
    let cube = a.unsqueeze(0).expand([4, 20, 20], false).contiguous();
    assert_eq!(mask_scores(&cube, &cube, &[1.0, 1.0, 1.0]).unwrap().dice, 1.0);
    assert!(mask_scores(&a, &cube, &[1.0, 1.0]).is_err());
}

#[test]
fn the_unet_keeps_the_image_size_and_its_encoder_is_a_backbone() {
    let vs = nn::VarStore::new(Device::Cpu);
    let unet = Unet::new(&vs, 1, 4, 3, 3).unwrap();
    assert_eq!(unet.encoder.feature_channels(), vec![4, 8, 16, 32]);
    assert_eq!(unet.encoder.out_dim(), 32);
    let x = Tensor::randn([2, 1, 16, 24], cpu());
    assert_eq!(unet.forward_t(&x, false).unwrap().size(), [2, 3, 16, 24]);
    assert_eq!(unet.encoder.forward_t(&x, false).size(), [2, 32]);
    let err = unet.forward_t(&Tensor::randn([2, 1, 12, 24], cpu()), false).unwrap_err().to_string();
    assert!(err.contains("multiples of 8"), "{err}");
    // The encoder's variables live under `backbone.`, as SSL methods export it.
    let names: Vec<String> = vs.variables().into_keys().collect();
    assert!(names.iter().any(|n| n.starts_with("backbone.block3.conv1.depthwise")), "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("backbone.") || n.starts_with("decoder.") || n.starts_with("head.")));
    assert!(Unet::new(&vs, 1, 4, 3, 1).is_err());
}

#[test]
fn the_segmenter_learns_bright_squares_in_a_few_steps() {
    tch::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let mut model = Segmenter { unet: Unet::new(&vs, 1, 4, 2, 2).unwrap() };
    // Squares brighter than a noisy background.
    let mut masks = Tensor::zeros([8, 16, 16], (Kind::Int64, Device::Cpu));
    for i in 0..8 {
        let _ = masks.get(i).narrow(0, i % 5 + 2, 6).narrow(1, (3 * i) % 8 + 1, 6).fill_(1);
    }
    let images = (masks.to_kind(Kind::Float) + Tensor::randn([8, 16, 16], cpu()) * 0.3).unsqueeze(1);
    let batch = Batch::from_views(vec![images]).unwrap().with(MASKS, masks.shallow_clone()).unwrap();
    let mut opt = nn::Adam::default().build(&vs, 1e-2).unwrap();
    let ctx = StepContext::new(0, 40, 0);
    let first = model.metrics(&batch).unwrap();
    let mut losses = Vec::new();
    for _ in 0..40 {
        let loss = model.loss(&batch, &ctx).unwrap().mean_total();
        opt.backward_step(&loss);
        losses.push(loss.double_value(&[]));
    }
    assert!(losses[39] < 0.5 * losses[0], "loss {} -> {}", losses[0], losses[39]);
    let last = model.metrics(&batch).unwrap();
    let soft_dice = |m: &[(String, f64)]| m.iter().find(|(n, _)| n == "soft_dice").unwrap().1;
    assert!(soft_dice(&last) > soft_dice(&first) + 0.2, "{first:?} -> {last:?}");
    masks = masks.narrow(0, 0, 4);
    let bad = Batch::from_views(vec![Tensor::zeros([4, 1, 16, 16], cpu())]).unwrap().with(MASKS, masks * 5).unwrap();
    assert!(model.loss(&bad, &ctx).is_err());
}
