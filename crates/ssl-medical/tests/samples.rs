//! Training samples: seeded augmentations of an image and its labels together, 3-D
//! patches, axial slices and the split of slices by slab.
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use ssl_medical::augment::{Augment, Elastic};
use ssl_medical::sampling::{axial_slices, split_by_slab, PatchSampler, SliceFilter};
use tch::{Device, Kind, Tensor};

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A [1, Z, Y, X] ramp image and a label map with a labelled cube (label 2) and a slab
/// (label 1).
fn scene(z: i64, y: i64, x: i64) -> (Tensor, Tensor) {
    let image = Tensor::arange(z * y * x, (Kind::Float, Device::Cpu)).view([1, z, y, x]) / (z * y * x) as f64;
    let labels = Tensor::zeros([z, y, x], (Kind::Int64, Device::Cpu));
    let _ = labels.narrow(0, z / 2 - 2, 4).narrow(1, y / 2 - 2, 4).narrow(2, x / 2 - 2, 4).fill_(2);
    let _ = labels.narrow(0, 0, 2).fill_(1);
    (image, labels)
}

fn counts(labels: &Tensor) -> Vec<i64> {
    (0..3).map(|v| labels.eq(v).sum(Kind::Int64).int64_value(&[])).collect()
}

#[test]
fn nothing_configured_changes_nothing_and_flips_and_turns_are_exact() {
    let (image, labels) = scene(8, 10, 10);
    let (i, l) = Augment::default().apply(&image, Some(&labels), &mut rng(0)).unwrap();
    assert!(i.equal(&image) && l.unwrap().equal(&labels));

    let flip_x = Augment { flip: [1.0, 0.0, 0.0], ..Augment::default() };
    let (i, l) = flip_x.apply(&image, Some(&labels), &mut rng(0)).unwrap();
    assert!(i.equal(&image.flip([3])) && l.unwrap().equal(&labels.flip([2])));

    // A quarter turn keeps every label's voxel count; labels stay int64.
    let turn = Augment { rot90: 1.0, ..Augment::default() };
    let (i, l) = turn.apply(&image, Some(&labels), &mut rng(3)).unwrap();
    let l = l.unwrap();
    assert_eq!(l.kind(), Kind::Int64);
    assert_eq!(counts(&l), counts(&labels));
    assert!(!i.equal(&image));
    // On a plane that is not square only half turns keep the shape.
    let (wide, wide_labels) = scene(4, 6, 10);
    let (i, _) = turn.apply(&wide, Some(&wide_labels), &mut rng(3)).unwrap();
    assert!(i.equal(&wide.rot90(2, [2, 3])));
}

#[test]
fn affine_and_elastic_move_image_and_labels_together_without_new_labels() {
    let (image, labels) = scene(16, 16, 16);
    let zoom = Augment { affine: 1.0, scale: [2.0, 2.0], ..Augment::default() };
    let (_, l) = zoom.apply(&image, Some(&labels), &mut rng(1)).unwrap();
    // A zoom of 2 about the centre makes the centred 4^3 cube an 8^3 one.
    let cube = l.unwrap().eq(2).sum(Kind::Int64).int64_value(&[]);
    assert!((400..=640).contains(&cube), "zoomed cube has {cube} voxels, 512 expected");

    let strong = Augment::volumes();
    for seed in 0..4 {
        let (i, l) = strong.apply(&image, Some(&labels), &mut rng(seed)).unwrap();
        let l = l.unwrap();
        assert_eq!(i.size(), image.size());
        // Only labels that existed.
        let values = l.unique_dim(0, false, false, false).0;
        assert!(Vec::<i64>::try_from(&values.flatten(0, -1)).unwrap().iter().all(|v| (0..=2).contains(v)));
    }
    // An elastic deformation alone, no flips: the labelled image and labels stay aligned.
    let elastic = Augment { elastic: (1.0, Elastic { control_points: 5, max_displacement: 2.0 }), ..Augment::default() };
    let marked = labels.to_kind(Kind::Float).unsqueeze(0);
    let (i, l) = elastic.apply(&marked, Some(&labels), &mut rng(9)).unwrap();
    let (i, l) = (i.squeeze_dim(0), l.unwrap().to_kind(Kind::Float));
    let agree = (i - &l).abs().lt(0.5).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
    assert!(agree > 0.97, "image and labels agree on {agree} of voxels");
    assert!(!l.equal(&labels.to_kind(Kind::Float)), "nothing moved");
}

#[test]
fn the_same_seed_gives_the_same_augmentation_and_slices_stay_flat() {
    let (image, labels) = scene(12, 12, 12);
    let aug = Augment::volumes();
    let (a, la) = aug.apply(&image, Some(&labels), &mut rng(4)).unwrap();
    let (b, lb) = aug.apply(&image, Some(&labels), &mut rng(4)).unwrap();
    let (c, _) = aug.apply(&image, Some(&labels), &mut rng(5)).unwrap();
    assert!(a.equal(&b) && la.unwrap().equal(&lb.unwrap()));
    assert!(!a.equal(&c));

    // A slice is a volume one voxel deep: 2-D augmentations keep it so.
    let slice = image.narrow(1, 6, 1);
    for seed in 0..4 {
        let (s, _) = Augment::slices().apply(&slice, None, &mut rng(seed)).unwrap();
        assert_eq!(s.size(), [1, 1, 12, 12]);
        assert!(s.isfinite().all().int64_value(&[]) == 1);
    }
}

#[test]
fn gamma_keeps_the_range_and_noise_has_its_level() {
    let (image, _) = scene(8, 8, 8);
    let gamma = Augment { gamma: (1.0, [2.0, 2.0]), ..Augment::default() };
    let (g, _) = gamma.apply(&image, None, &mut rng(0)).unwrap();
    let (lo, hi) = (image.min().double_value(&[]), image.max().double_value(&[]));
    assert!((g.min().double_value(&[]) - lo).abs() < 1e-6 && (g.max().double_value(&[]) - hi).abs() < 1e-6);
    let expected = ((&image - lo) / (hi - lo)).pow_tensor_scalar(2.0) * (hi - lo) + lo;
    assert!(g.allclose(&expected, 1e-5, 1e-6, false));

    let noise = Augment { noise: (1.0, 0.1), ..Augment::default() };
    let (n, _) = noise.apply(&image, None, &mut rng(0)).unwrap();
    let sd = (n - &image).std(true).double_value(&[]);
    assert!((sd - 0.1).abs() < 0.01, "noise sd {sd}");
}

#[test]
fn bad_augmentation_input_is_refused() {
    let (image, labels) = scene(8, 8, 8);
    let err = Augment::default().apply(&image.squeeze_dim(0), None, &mut rng(0)).unwrap_err().to_string();
    assert!(err.contains("[C, Z, Y, X]"), "{err}");
    let err = Augment::default().apply(&image, Some(&labels.narrow(0, 0, 4)), &mut rng(0)).unwrap_err().to_string();
    assert!(err.contains("do not match"), "{err}");
    for (aug, what) in [
        (Augment { flip: [1.5, 0.0, 0.0], ..Augment::default() }, "flip x"),
        (Augment { scale: [1.2, 1.0], ..Augment::default() }, "scale"),
        (Augment { gamma: (0.5, [0.0, 1.0]), ..Augment::default() }, "gamma"),
        (Augment { elastic: (0.5, Elastic { control_points: 1, max_displacement: 1.0 }), ..Augment::default() }, "control points"),
    ] {
        let err = aug.validate().unwrap_err().to_string();
        assert!(err.contains(what), "{err}");
    }
}

#[test]
fn patches_are_cut_where_the_labels_are_and_padded_when_the_volume_is_small() {
    let (image, labels) = scene(16, 20, 24);
    let sampler = PatchSampler { size: [6, 6, 6], foreground: 1.0 };
    for seed in 0..8 {
        let (p, l, corner) = sampler.sample(&image, Some(&labels), &mut rng(seed)).unwrap();
        assert_eq!(p.size(), [1, 6, 6, 6]);
        let l = l.unwrap();
        assert!(l.ne(0).any().int64_value(&[]) == 1, "a foreground patch without foreground at {corner:?}");
        // The patch is the image at its corner.
        let [z, y, x] = corner;
        let expected = image.narrow(1, z, 6).narrow(2, y, 6).narrow(3, x, 6);
        assert!(p.equal(&expected));
        assert!(l.equal(&labels.narrow(0, z, 6).narrow(1, y, 6).narrow(2, x, 6)));
    }
    // Larger than the volume along x: padded with the image's minimum, labels with 0.
    let tiny = Tensor::ones([4, 4, 2], (Kind::Float, Device::Cpu)) * 5.0;
    let tiny_labels = Tensor::ones([4, 4, 2], (Kind::Int64, Device::Cpu));
    let (p, l, corner) = PatchSampler { size: [4, 4, 6], foreground: 0.0 }.sample(&tiny, Some(&tiny_labels), &mut rng(0)).unwrap();
    assert_eq!(p.size(), [4, 4, 6]);
    assert_eq!(corner[2], -2);
    assert_eq!(p.sum(Kind::Double).double_value(&[]), 5.0 * 32.0 + 5.0 * 64.0);
    assert_eq!(l.unwrap().sum(Kind::Int64).int64_value(&[]), 32);
    let err = sampler.sample(&image, Some(&labels.narrow(0, 0, 3)), &mut rng(0)).unwrap_err().to_string();
    assert!(err.contains("do not match"), "{err}");
}

#[test]
fn slices_are_filtered_and_split_by_slab() {
    let (image, labels) = scene(16, 8, 8);
    let image = image.squeeze_dim(0);
    assert_eq!(axial_slices(&image, None, SliceFilter::All).unwrap().len(), 16);
    assert_eq!(axial_slices(&image, Some(&labels), SliceFilter::Labelled(1)).unwrap(), vec![0, 1, 6, 7, 8, 9]);
    assert_eq!(axial_slices(&image, Some(&labels), SliceFilter::Labelled(20)).unwrap(), vec![0, 1]);
    assert!(axial_slices(&image, None, SliceFilter::Labelled(1)).is_err());
    let bright = axial_slices(&image, None, SliceFilter::Above(0.5, 0.5)).unwrap();
    assert_eq!(bright, (8..16).collect::<Vec<_>>());

    let indices: Vec<i64> = (0..100).collect();
    let parts = split_by_slab(&indices, 5, &[0.7, 0.1, 0.2], &mut rng(1)).unwrap();
    assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), vec![70, 10, 20]);
    let mut all: Vec<i64> = parts.concat();
    all.sort_unstable();
    assert_eq!(all, indices);
    // Every slab of five lies wholly in one part.
    for slab in indices.chunks(5) {
        assert!(parts.iter().any(|p| slab.iter().all(|s| p.contains(s))), "slab {slab:?} was split");
    }
    assert_ne!(parts, split_by_slab(&indices, 5, &[0.7, 0.1, 0.2], &mut rng(2)).unwrap());
    assert!(split_by_slab(&indices, 0, &[1.0], &mut rng(0)).is_err());
}
