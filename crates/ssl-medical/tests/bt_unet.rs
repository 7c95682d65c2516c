//! BT-Unet end to end on tiny phantoms: slices, Barlow Twins pre-training of the U-Net
//! encoder (loss falls), the encoder carried into the U-Net by name, fine-tuning, scores.
use ssl_core::data::BatchSource;
use ssl_core::train::Resume;
use ssl_medical::augment::Augment;
use ssl_medical::bt_unet::{finetune, phantom_slices, predict, pretrain, score, BtUnetSettings, LabelledSlices, PairViews};
use ssl_medical::phantom::PhantomConfig;
use ssl_medical::segmentation::MASKS;
use std::collections::HashMap;
use tch::{Device, Kind, Tensor};

fn tiny() -> PhantomConfig {
    PhantomConfig { shape: [12, 18, 24], spacing: [16.0, 16.0, 16.0], ..PhantomConfig::default() }
}

#[test]
fn phantom_slices_are_padded_windowed_and_labelled() {
    let set = phantom_slices(&tiny(), 0..2, 16).unwrap();
    let s = set.images.size();
    assert_eq!((s[1], s[2] % 16, s[3] % 16), (1, 0, 0), "{s:?}");
    assert_eq!(set.masks.size(), [s[0], s[2], s[3]]);
    assert_eq!(set.classes, ["background", "liver", "spleen", "kidney-left", "kidney-right"]);
    assert!(set.images.min().double_value(&[]) >= 0.0 && set.images.max().double_value(&[]) <= 1.0);
    let labels: Vec<i64> = Vec::try_from(&set.masks.flatten(0, -1).unique_dim(0, true, false, false).0).unwrap();
    assert_eq!(labels, [0, 1, 2, 3, 4]);
    // Both phantoms contribute, in order.
    assert!(set.volumes.contains(&0) && set.volumes.contains(&1) && set.volumes.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(set.subset(&[1, 0]).volumes, [set.volumes[1], set.volumes[0]]);
}

#[test]
fn batches_are_seeded_by_index_and_keep_masks_with_images() {
    let set = phantom_slices(&tiny(), 0..1, 16).unwrap();
    let mut views = PairViews::new(&set.images, Augment::slices(), 4, 7).unwrap();
    views.start(3).unwrap();
    let a = views.next_batch().unwrap();
    views.start(3).unwrap();
    let b = views.next_batch().unwrap();
    assert_eq!(a.views().len(), 2);
    assert!(a.views()[0].equal(&b.views()[0]) && a.views()[1].equal(&b.views()[1]));
    assert!(!a.views()[0].equal(&a.views()[1]), "the two views are the same");

    // Flips and turns only: every mask pixel still carries its image value's class.
    let flips = Augment { flip: [0.5, 0.5, 0.0], rot90: 0.5, ..Augment::default() };
    let mut labelled = LabelledSlices::new(&set, flips, 6, 1).unwrap();
    labelled.start(0).unwrap();
    let batch = labelled.next_batch().unwrap();
    let (x, y) = (&batch.views()[0], batch.part(MASKS).unwrap());
    assert_eq!(y.kind(), Kind::Int64);
    // The liver (class 1) is windowed to about (105 + 160) / 400 = 0.66.
    let liver = x.squeeze_dim(1).masked_select(&y.eq(1));
    let median = liver.median().double_value(&[]);
    assert!((0.55..0.78).contains(&median), "liver pixels at {median}");
}

#[test]
fn pretraining_lowers_the_loss_and_fine_tuning_starts_from_its_encoder() {
    let dir = std::env::temp_dir().join(format!("ssl-medical-btunet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let set = phantom_slices(&tiny(), 0..2, 16).unwrap();
    let s = BtUnetSettings { width: 4, pretrain: (12, 8, 3e-3), finetune: (6, 4, 1e-3), ..BtUnetSettings::default() };
    let summary = pretrain(&set, &s, 0, &dir.join("pre"), Device::Cpu, Resume::No).unwrap();
    assert_eq!(summary.steps, 12);
    let first = summary.first_loss.unwrap();
    assert!(summary.final_loss < first, "Barlow Twins loss {first} -> {}", summary.final_loss);

    // The encoder the run exports fills every `backbone.` variable of a U-Net.
    let export = std::fs::read_dir(dir.join("pre/checkpoints")).unwrap().map(|e| e.unwrap().path()).max().unwrap().join("backbone.safetensors");
    let pre: HashMap<String, Tensor> = Tensor::read_safetensors(&export).unwrap().into_iter().collect();
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let _unet = ssl_medical::unet::Unet::new(&vs, 1, 4, 4, 5).unwrap();
    let loaded = ssl_core::train::load_encoder(&dir.join("pre"), "backbone", &vs, "backbone.").unwrap();
    assert_eq!(loaded, pre.len());
    let vars = vs.variables();
    for (name, t) in &pre {
        assert!(vars[&format!("backbone.{name}")].equal(t), "{name} not loaded");
    }

    let scratch = finetune(&set, None, &s, 0, &dir.join("scratch"), Device::Cpu, Resume::No).unwrap();
    let bt = finetune(&set, Some(&dir.join("pre")), &s, 0, &dir.join("bt"), Device::Cpu, Resume::No).unwrap();
    let (p1, p2) = (predict(&scratch, &set, Device::Cpu).unwrap(), predict(&bt, &set, Device::Cpu).unwrap());
    assert_eq!(p1.size(), set.masks.size());
    assert!(!p1.equal(&p2), "pre-training changed nothing");
    let scores = score(&p1, &set).unwrap();
    assert_eq!(scores.len(), 4);
    assert!(scores.iter().all(|c| (0.0..=1.0).contains(&c.dice) && (0.0..=1.0).contains(&c.missed)));
    // A missing pre-training run is an error naming it.
    let err = finetune(&set, Some(&dir.join("nothing")), &s, 0, &dir.join("x"), Device::Cpu, Resume::No).unwrap_err();
    assert!(format!("{err:#}").contains("nothing"), "{err:#}");
}

#[test]
fn colin27_slices_map_atlas_labels_to_classes_and_refuse_other_grids() {
    use ssl_medical::bt_unet::colin27_slices;
    use ssl_medical::io::{write_nifti, VoxelType};
    use ssl_medical::volume::{Affine, Volume};
    let dir = std::env::temp_dir().join(format!("ssl-medical-colin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A 1 mm "head": a bright block; atlas labels 95 (cerebellum), 77 (thalamus), 73
    // (putamen) and 5 (cortex, not a class) in its slabs.
    let t1 = Tensor::zeros([10, 20, 18], (Kind::Float, Device::Cpu));
    let _ = t1.narrow(1, 2, 16).narrow(2, 2, 14).fill_(100.0);
    let aal = Tensor::zeros([10, 20, 18], (Kind::Float, Device::Cpu));
    for (z, label) in [(1, 95.0), (4, 77.0), (6, 73.0), (8, 5.0)] {
        let _ = aal.narrow(0, z, 2).narrow(1, 4, 8).narrow(2, 4, 8).fill_(label);
    }
    let affine = Affine::scaling([1.0, 1.0, 1.0]);
    write_nifti(&Volume::new(t1, affine, "t1".as_ref()).unwrap(), &dir.join("ch2.nii.gz"), VoxelType::Float32).unwrap();
    write_nifti(&Volume::new(aal.shallow_clone(), affine, "aal".as_ref()).unwrap(), &dir.join("aal.nii.gz"), VoxelType::Int16).unwrap();
    let set = colin27_slices(&dir, 1.0, 16).unwrap();
    assert_eq!(set.images.size(), [10, 1, 32, 32]);
    assert_eq!(set.classes, ["background", "cerebellum", "thalamus", "basal-ganglia"]);
    let per_slice: Vec<i64> = Vec::try_from(&set.masks.amax([1, 2].as_slice(), false)).unwrap();
    assert_eq!(per_slice, [0, 1, 1, 0, 2, 2, 3, 3, 0, 0]);
    // The atlas on another grid.
    let other = Volume::new(aal.narrow(0, 0, 9), affine, "aal".as_ref()).unwrap();
    write_nifti(&other, &dir.join("aal.nii.gz"), VoxelType::Int16).unwrap();
    let err = colin27_slices(&dir, 1.0, 16).unwrap_err().to_string();
    assert!(err.contains("aal.nii.gz is on another grid"), "{err}");
}

/// Slices of volumes from files: resampled to one spacing, intensities mapped, label values to
/// classes in the order given, volumes of different sizes padded to one size; mismatched
/// inputs are errors.
#[test]
fn volume_slices_bring_volumes_of_different_sizes_to_one_footing() {
    use ssl_medical::bt_unet::{pad_to, unpad, volume_slices};
    use ssl_medical::preprocess::Intensity;
    use ssl_medical::sampling::SliceFilter;
    use ssl_medical::volume::{Affine, Volume};
    let vol = |shape: [i64; 3], value: f64| {
        Volume::new(Tensor::full(shape, value, (Kind::Float, Device::Cpu)), Affine::scaling([1.0, 1.0, 1.0]), "v".as_ref()).unwrap()
    };
    let (a, b) = (vol([4, 10, 12], 240.0), vol([6, 20, 8], -160.0));
    let (la, lb) = (vol([4, 10, 12], 0.0), vol([6, 20, 8], 0.0));
    let _ = la.data.narrow(0, 0, 2).fill_(7.0);
    let _ = lb.data.narrow(0, 0, 2).fill_(3.0);
    let window = Intensity::parse("40,400").unwrap();
    let set = volume_slices(&[a, b], Some(&[la, lb]), &[3, 7], window, 2.0, SliceFilter::All, 16).unwrap();
    // 2 + 3 slices at 2 mm; the largest slice (10 x 6, and 4 x 10 for the other) padded to 16 x 16.
    assert_eq!(set.images.size(), [5, 1, 16, 16]);
    assert_eq!(set.volumes, [0, 0, 1, 1, 1]);
    assert_eq!(set.classes, ["background", "label 3", "label 7"]);
    let per_slice: Vec<i64> = Vec::try_from(&set.masks.amax([1, 2].as_slice(), false)).unwrap();
    assert_eq!(per_slice, [2, 0, 1, 0, 0]);
    let brightest: Vec<f32> = Vec::try_from(&set.images.amax([1, 2, 3].as_slice(), false)).unwrap();
    let expected = [1.0, 1.0, 0.0, 0.0, 0.0];
    assert!(brightest.iter().zip(expected).all(|(b, e)| (b - e).abs() < 1e-6), "{brightest:?}");
    // pad_to and unpad are inverses.
    let t = Tensor::arange(2 * 5 * 7, (Kind::Float, Device::Cpu)).view([2, 5, 7]);
    assert!(unpad(&pad_to(&t, [16, 16], 0.0).unwrap(), [5, 7]).unwrap().equal(&t));
    assert!(pad_to(&t, [4, 16], 0.0).is_err());
    // A label map short; a label map on another grid; an unknown intensity.
    let err = volume_slices(&[vol([4, 4, 4], 0.0), vol([4, 4, 4], 0.0)], Some(&[vol([4, 4, 4], 0.0)]), &[1], window, 1.0, SliceFilter::All, 16).unwrap_err();
    assert!(err.to_string().contains("1 label maps for 2 images"), "{err}");
    let err = volume_slices(&[vol([4, 4, 4], 0.0)], Some(&[vol([4, 4, 5], 0.0)]), &[1], window, 1.0, SliceFilter::All, 16).unwrap_err();
    assert!(err.to_string().contains("on another grid"), "{err}");
    assert!(Intensity::parse("soft").is_err() && Intensity::parse("40,-1").is_err());
    assert_eq!(Intensity::parse("mr").unwrap(), Intensity::Percentiles);
}
