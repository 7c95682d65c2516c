//! The generated abdominal CT: determinism, anatomy where it belongs at realistic
//! Hounsfield values, exact masks and boxes, noise and partial volume as configured.
use ssl_medical::phantom::{generate, Organ, PhantomConfig, VoxelBox};
use tch::{Kind, Tensor};

fn small() -> PhantomConfig {
    PhantomConfig { shape: [24, 36, 48], spacing: [8.0, 8.0, 8.0], ..PhantomConfig::default() }
}

fn mask(p: &ssl_medical::phantom::Phantom, organ: Organ) -> Tensor {
    p.labels.data.eq(organ.label() as f64)
}

/// Median HU inside the structure's mask.
fn median_hu(p: &ssl_medical::phantom::Phantom, organ: Organ) -> f64 {
    p.image.data.masked_select(&mask(p, organ)).median().double_value(&[])
}

/// The structure's centroid in world millimetres (RAS+).
fn centroid_mm(p: &ssl_medical::phantom::Phantom, organ: Organ) -> [f64; 3] {
    let idx = mask(p, organ).nonzero().to_kind(Kind::Double).mean_dim(0, false, Kind::Double);
    let (z, y, x) = (idx.double_value(&[0]), idx.double_value(&[1]), idx.double_value(&[2]));
    p.image.affine.apply([x, y, z])
}

fn millilitres(p: &ssl_medical::phantom::Phantom, organ: Organ) -> f64 {
    let voxel_ml = p.image.spacing().iter().product::<f64>() / 1000.0;
    mask(p, organ).sum(Kind::Int64).int64_value(&[]) as f64 * voxel_ml
}

#[test]
fn the_same_seed_gives_the_same_phantom_and_seeds_differ_in_pose_and_shape() {
    let cfg = small();
    let (a, b, c) = (generate(&cfg, 7).unwrap(), generate(&cfg, 7).unwrap(), generate(&cfg, 8).unwrap());
    assert!(a.image.data.equal(&b.image.data) && a.labels.data.equal(&b.labels.data));
    assert_eq!(a.boxes, b.boxes);
    assert!(!a.labels.data.equal(&c.labels.data));
    let (la, lc) = (millilitres(&a, Organ::Liver), millilitres(&c, Organ::Liver));
    assert!((la - lc).abs() / la > 0.02, "liver volumes {la} and {lc} ml barely differ");
    assert_ne!(a.box_of(Organ::KidneyLeft), c.box_of(Organ::KidneyLeft));

    // Without variation only the noise differs.
    let fixed = PhantomConfig { variation: 0.0, ..small() };
    let (d, e) = (generate(&fixed, 1).unwrap(), generate(&fixed, 2).unwrap());
    assert!(d.labels.data.equal(&e.labels.data));
    assert!(!d.image.data.equal(&e.image.data));
}

#[test]
fn organs_sit_where_anatomy_puts_them_at_portal_venous_hounsfield_units() {
    let cfg = PhantomConfig::default();
    for seed in 0..3 {
        let p = generate(&cfg, seed).unwrap();
        assert_eq!(p.image.shape(), cfg.shape);
        assert!(p.labels.same_grid(&p.image));
        for organ in Organ::ALL {
            assert!(p.box_of(organ).is_some(), "seed {seed}: {} missing", organ.name());
        }
        for (organ, low, high) in [
            (Organ::Liver, 85.0, 125.0),
            (Organ::Spleen, 95.0, 135.0),
            (Organ::KidneyLeft, 130.0, 190.0),
            (Organ::KidneyRight, 130.0, 190.0),
            (Organ::Aorta, 130.0, 200.0),
            (Organ::Spine, 200.0, 800.0),
        ] {
            let hu = median_hu(&p, organ);
            assert!((low..=high).contains(&hu), "seed {seed}: {} median {hu} HU outside {low}..{high}", organ.name());
        }
        let outside = p.image.data.masked_select(&p.labels.data.eq(0.0)).median().double_value(&[]);
        assert!(outside < -950.0, "air outside the body: {outside} HU");
        // RAS+: the patient's right is +x, anterior +y.
        let (liver, spleen) = (centroid_mm(&p, Organ::Liver), centroid_mm(&p, Organ::Spleen));
        let (left, right) = (centroid_mm(&p, Organ::KidneyLeft), centroid_mm(&p, Organ::KidneyRight));
        let (spine, aorta) = (centroid_mm(&p, Organ::Spine), centroid_mm(&p, Organ::Aorta));
        assert!(liver[0] > 0.0 && spleen[0] < 0.0, "liver {liver:?} spleen {spleen:?}");
        assert!(right[0] > spine[0] && left[0] < spine[0], "kidneys {left:?} {right:?} spine {spine:?}");
        assert!(aorta[1] > spine[1] && liver[1] > spine[1], "aorta {aorta:?} liver {liver:?} in front of the spine {spine:?}");
        // Plausible adult sizes.
        for (organ, low, high) in
            [(Organ::Liver, 900.0, 2600.0), (Organ::Spleen, 100.0, 450.0), (Organ::KidneyLeft, 90.0, 300.0), (Organ::KidneyRight, 90.0, 300.0)]
        {
            let ml = millilitres(&p, organ);
            assert!((low..=high).contains(&ml), "seed {seed}: {} {ml:.0} ml outside {low}..{high}", organ.name());
        }
    }
}

#[test]
fn boxes_are_tight_around_the_masks() {
    let p = generate(&small(), 3).unwrap();
    for (organ, b) in &p.boxes {
        let m = mask(&p, *organ);
        let idx = m.nonzero();
        let lo = idx.min_dim(0, false).0;
        let hi = idx.max_dim(0, false).0;
        // nonzero gives (z, y, x); boxes are (x, y, z).
        for a in 0..3 {
            assert_eq!(b.min[a], lo.int64_value(&[2 - a as i64]), "{}", organ.name());
            assert_eq!(b.max[a], hi.int64_value(&[2 - a as i64]), "{}", organ.name());
        }
    }
    // A hand-made mask and the box arithmetic.
    let m = Tensor::zeros([4, 5, 6], (Kind::Float, tch::Device::Cpu));
    let _ = m.get(1).get(2).get(3).fill_(1.0);
    let _ = m.get(2).get(4).get(1).fill_(1.0);
    let b = VoxelBox::of_mask(&m).unwrap();
    assert_eq!(b, VoxelBox { min: [1, 2, 1], max: [3, 4, 2] });
    assert_eq!(b.volume(), 3 * 3 * 2);
    assert!(VoxelBox::of_mask(&Tensor::zeros([2, 2, 2], (Kind::Float, tch::Device::Cpu))).is_none());
    let shifted = VoxelBox { min: [2, 2, 1], max: [4, 4, 2] };
    assert!((b.iou(&shifted) - 12.0 / 24.0).abs() < 1e-12);
    assert_eq!(b.iou(&b), 1.0);
}

#[test]
fn noise_and_partial_volume_are_as_configured() {
    let clean = PhantomConfig { noise_hu: 0.0, blur_mm: 0.0, ..small() };
    let noisy = PhantomConfig { noise_hu: 20.0, ..clean.clone() };
    let (a, b) = (generate(&clean, 5).unwrap(), generate(&noisy, 5).unwrap());
    assert!(a.labels.data.equal(&b.labels.data));
    // Inside the body (outside, values are clipped at -1024 HU).
    let body = a.labels.data.ne(0.0);
    let sd = (&b.image.data - &a.image.data).masked_select(&body).std(true).double_value(&[]);
    assert!((sd - 20.0).abs() < 1.0, "noise sd {sd}");
    // Without noise: the liver's inside is exactly 105 HU; at its surface, sub-voxels of
    // neighbours mix in (partial volume).
    let liver = a.image.data.masked_select(&mask(&a, Organ::Liver));
    let exact = liver.eq(105.0).sum(Kind::Int64).int64_value(&[]);
    let n = liver.numel() as i64;
    assert!(exact > n / 4 && exact < n, "{exact} of {n} liver voxels at exactly 105 HU");
}

#[test]
fn bad_settings_are_refused() {
    for (cfg, what) in [
        (PhantomConfig { shape: [4, 36, 48], ..small() }, "shape"),
        (PhantomConfig { spacing: [0.0, 1.0, 1.0], ..small() }, "spacing"),
        (PhantomConfig { noise_hu: f64::NAN, ..small() }, "noise_hu"),
        (PhantomConfig { variation: -1.0, ..small() }, "variation"),
    ] {
        let err = generate(&cfg, 0).unwrap_err().to_string();
        assert!(err.contains(what), "{err}");
    }
    assert!(Organ::from_name("pancreas").unwrap_err().to_string().contains("kidney-left"));
    assert_eq!(Organ::from_name("spleen").unwrap(), Organ::Spleen);
}
