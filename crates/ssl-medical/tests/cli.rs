//! The `ssl-medical` command line, end to end on small real and written files.
use std::path::{Path, PathBuf};
use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ssl-medical")).args(args).env("OMP_NUM_THREADS", "1").output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
}

/// A single-file NIfTI-1 of uint8 values on a grid of (x, y, z) voxels of 1 mm.
fn nifti_u8(path: &Path, dims: [i16; 3], values: &[u8]) -> PathBuf {
    let mut b = vec![0u8; 352];
    b[0..4].copy_from_slice(&348i32.to_le_bytes());
    for (i, d) in [3i16, dims[0], dims[1], dims[2]].iter().enumerate() {
        b[40 + 2 * i..42 + 2 * i].copy_from_slice(&d.to_le_bytes());
    }
    b[70..72].copy_from_slice(&2i16.to_le_bytes());
    b[72..74].copy_from_slice(&8i16.to_le_bytes());
    for i in 0..4 {
        b[76 + 4 * i..80 + 4 * i].copy_from_slice(&1f32.to_le_bytes());
    }
    b[108..112].copy_from_slice(&352f32.to_le_bytes());
    b[344..348].copy_from_slice(b"n+1\0");
    b.extend_from_slice(values);
    std::fs::write(path, b).unwrap();
    path.to_path_buf()
}

#[test]
fn inspect_describes_a_dicom_slice_and_a_labelled_nifti_volume() {
    let ct = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dicom/CT_small.dcm");
    let (ok, out) = run(&["inspect", "--data", ct.to_str().unwrap(), "--spacing", "1,1,5"]);
    assert!(ok, "{out}");
    assert!(out.contains("128 x 128 x 1 voxels") && out.contains("LPS") && out.contains("-896.00 to 1167.00"), "{out}");
    assert!(out.contains("resampled") && out.contains("85 x 85 x 1 voxels"), "{out}");

    let dir = std::env::temp_dir().join(format!("ssl-medical-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let image = nifti_u8(&dir.join("image.nii"), [4, 3, 2], &(0..24).collect::<Vec<u8>>());
    let labels = nifti_u8(&dir.join("labels.nii"), [4, 3, 2], &[[0u8; 12], [2u8; 12]].concat());
    let (ok, out) = run(&["inspect", "--data", image.to_str().unwrap(), "--labels", labels.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(
        out.contains("4 x 3 x 2 voxels") && out.contains("RAS") && out.contains("1 labels besides 0") && out.contains("label     2:        12 voxels"),
        "{out}"
    );

    // Labels on another grid, a missing path, a bad spacing: errors that name the problem.
    let other = nifti_u8(&dir.join("other.nii"), [4, 3, 1], &[1u8; 12]);
    let (ok, out) = run(&["inspect", "--data", image.to_str().unwrap(), "--labels", other.to_str().unwrap()]);
    assert!(!ok && out.contains("other.nii is on another grid"), "{out}");
    let (ok, out) = run(&["inspect", "--data", dir.join("missing").to_str().unwrap()]);
    assert!(!ok && out.contains("no such file or folder"), "{out}");
    let (ok, out) = run(&["inspect", "--data", image.to_str().unwrap(), "--spacing", "1,1"]);
    assert!(!ok && out.contains("three values"), "{out}");
}

#[test]
fn inspect_fills_an_rt_structure_set_and_writes_its_label_map() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dicom");
    let (ct, rtss) = (fixtures.join("dicompyler_ct.dcm"), fixtures.join("dicompyler_rtss.dcm"));
    let dir = std::env::temp_dir().join(format!("ssl-medical-cli-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out_path = dir.join("body.nii.gz");
    let (ok, out) = run(&[
        "inspect",
        "--data",
        ct.to_str().unwrap(),
        "--rtstruct",
        rtss.to_str().unwrap(),
        "--structures",
        "BODY",
        "--labels-out",
        out_path.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("512 x 512 x 1 voxels") && out.contains("label     1 BODY:     40"), "{out}");
    // The written label map lies on the CT's grid.
    let (ok, out) = run(&["inspect", "--data", ct.to_str().unwrap(), "--labels", out_path.to_str().unwrap()]);
    assert!(ok && out.contains("1 labels besides 0"), "{out}");
    // Without an image: a grid around the structures.
    let (ok, out) = run(&["inspect", "--rtstruct", rtss.to_str().unwrap(), "--structures", "Heart,Tumor Bed", "--pixel", "2"]);
    assert!(ok, "{out}");
    assert!(out.contains("grid around the structures") && out.contains("label     1 Heart:") && out.contains("label     2 Tumor Bed:"), "{out}");
    let (ok, out) = run(&["inspect", "--data", ct.to_str().unwrap(), "--labels-out", out_path.to_str().unwrap()]);
    assert!(!ok && out.contains("--rtstruct, which is missing"), "{out}");
    let (ok, out) = run(&["inspect", "--rtstruct", rtss.to_str().unwrap(), "--structures", "Liver"]);
    assert!(!ok && out.contains("no structure \"Liver\""), "{out}");
}

#[test]
fn phantom_writes_volumes_labels_and_boxes_that_read_back() {
    let dir = std::env::temp_dir().join(format!("ssl-medical-phantom-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (ok, out) = run(&["phantom", "--out", dir.to_str().unwrap(), "--count", "2", "--seed", "3", "--shape", "16,24,32", "--spacing", "12,12,12"]);
    assert!(ok, "{out}");
    assert!(out.contains("phantom-3.nii.gz") && out.contains("phantom-4.nii.gz") && out.contains("8 structures"), "{out}");
    let image = dir.join("phantom-4.nii.gz");
    let labels = dir.join("phantom-4-labels.nii.gz");
    let (ok, out) = run(&["inspect", "--data", image.to_str().unwrap(), "--labels", labels.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("32 x 24 x 16 voxels") && out.contains("12.000 x 12.000 x 12.000 mm") && out.contains("8 labels besides 0"), "{out}");
    assert!(out.contains("values    -1024.00 to"), "{out}");
    let boxes: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("phantom-4.json")).unwrap()).unwrap();
    assert_eq!(boxes["generated"], true);
    let organs: Vec<&str> = boxes["boxes"].as_array().unwrap().iter().map(|b| b["organ"].as_str().unwrap()).collect();
    assert_eq!(organs, ["body", "spine", "liver", "spleen", "kidney-left", "kidney-right", "aorta", "stomach"]);

    let (ok, out) = run(&["phantom", "--out", dir.to_str().unwrap(), "--shape", "16,24"]);
    assert!(!ok && out.contains("three values"), "{out}");
    let (ok, out) = run(&["phantom", "--out", dir.to_str().unwrap(), "--shape", "4,24,32"]);
    assert!(!ok && out.contains("8 to 1024 voxels"), "{out}");
}

#[test]
fn bt_unet_experiment_writes_its_table_and_overlay() {
    let dir = std::env::temp_dir().join(format!("ssl-medical-btx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (doc, plot) = (dir.join("bt.md"), dir.join("img/bt.png"));
    let args = [
        "bt-unet-experiment",
        "--data",
        "phantom",
        "--phantoms",
        "2",
        "--seeds",
        "2",
        "--fractions",
        "50",
        "--pretrain-steps",
        "3",
        "--finetune-steps",
        "3",
        "--width",
        "4",
        "--threads",
        "1",
        "--label-pick",
        "showing",
    ];
    let (ok, out) = run(&[&args[..], &["--out", dir.to_str().unwrap(), "--doc", doc.to_str().unwrap(), "--plot", plot.to_str().unwrap()]].concat());
    assert!(ok, "{out}");
    let md = std::fs::read_to_string(&doc).unwrap();
    assert!(md.contains("generated abdominal CT phantoms") && md.contains("| 50% | random init |") && md.contains("| 50% | BT-Unet |"), "{md}");
    assert!(md.contains("over 2 seeds") && md.contains("Dice kidney-right") && md.contains("--label-pick showing"), "{md}");
    let png = image::open(&plot).unwrap();
    assert_eq!(png.width() % 3, 0);
    assert!(md.contains("16 slice pairs") && md.contains("--size cpu"), "{md}");
    // The GPU configuration: its batches (64 pairs, 32 slices), with the steps overridden.
    let gpu_doc = dir.join("bt-gpu.md");
    let (ok, out) = run(&[
        "bt-unet-experiment",
        "--size",
        "gpu",
        "--phantoms",
        "2",
        "--seeds",
        "1",
        "--fractions",
        "50",
        "--pretrain-steps",
        "2",
        "--finetune-steps",
        "2",
        "--width",
        "4",
        "--threads",
        "1",
        "--out",
        dir.join("gpu").to_str().unwrap(),
        "--doc",
        gpu_doc.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let md = std::fs::read_to_string(&gpu_doc).unwrap();
    assert!(md.contains("2 steps of 64 slice pairs") && md.contains("2 steps of 32 slices") && md.contains("--size gpu"), "{md}");

    let (ok, out) = run(&["bt-unet-experiment", "--fractions", "0", "--out", dir.to_str().unwrap()]);
    assert!(!ok && out.contains("percentages"), "{out}");
    let (ok, out) = run(&["bt-unet-experiment", "--data", "colin27", "--colin27", dir.join("none").to_str().unwrap(), "--out", dir.to_str().unwrap()]);
    assert!(!ok && out.contains("ch2.nii.gz: no such file"), "{out}");
}

#[test]
fn localise_experiment_writes_its_table() {
    let dir = std::env::temp_dir().join(format!("ssl-medical-loc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let doc = dir.join("loc.md");
    let args = [
        "localise-experiment",
        "--organs",
        "kidney-left",
        "--labelled",
        "2",
        "--unlabelled",
        "1",
        "--test",
        "1",
        "--seeds",
        "1",
        "--steps",
        "6",
        "--continue-steps",
        "3",
        "--mixes",
        "35",
        "--agents",
        "2",
        "--threads",
        "1",
    ];
    let plot = dir.join("img/loc.png");
    let (ok, out) = run(&[&args[..], &["--out", dir.to_str().unwrap(), "--doc", doc.to_str().unwrap(), "--plot", plot.to_str().unwrap()]].concat());
    assert!(ok, "{out}");
    let md = std::fs::read_to_string(&doc).unwrap();
    // One panel of boxes per structure, 4 screen pixels per voxel of the 96 x 72 phantom slice.
    let png = image::open(&plot).unwrap();
    assert_eq!((png.width(), png.height()), (4 * 96, 4 * 72));
    assert!(md.contains("![boxes on the first test volume](img/loc.png)"), "{md}");
    for row in [
        "| kidney-left | start box",
        "| kidney-left | supervised, 6 steps |",
        "| kidney-left | semi-supervised 35:65 (+3 steps) |",
        "| kidney-left | supervised + 3 steps on the labelled |",
    ] {
        assert!(md.contains(row), "{row} missing from\n{md}");
    }
    assert!(md.contains("Generated abdominal CT phantoms"), "{md}");
    let (ok, out) = run(&["localise-experiment", "--organs", "pancreas", "--out", dir.to_str().unwrap()]);
    assert!(!ok && out.contains("unknown organ 'pancreas'"), "{out}");
    let (ok, out) = run(&["localise-experiment", "--mixes", "100", "--out", dir.to_str().unwrap()]);
    assert!(!ok && out.contains("strictly between 0 and 100"), "{out}");
}

#[test]
fn bench_names_a_missing_reference_and_refuses_bad_sizes() {
    let (ok, out) = run(&[
        "bench",
        "--which",
        "step",
        "--python",
        "/nonexistent/python",
        "--steps",
        "1",
        "--warmup",
        "0",
        "--repeats",
        "1",
        "--threads",
        "1",
        "--size",
        "32",
        "--batch",
        "1",
    ]);
    assert!(!ok && out.contains("/nonexistent/python"), "{out}");
    let (ok, out) = run(&["bench", "--size", "100"]);
    assert!(!ok && out.contains("multiple of 16"), "{out}");
}

/// The value after `key` in `text` (e.g. "Dice 0.753" -> 0.753).
fn number_after(text: &str, key: &str) -> f64 {
    let at = text.find(key).unwrap_or_else(|| panic!("no '{key}' in {text}")) + key.len();
    text[at..].trim_start().split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-')).next().unwrap().parse().unwrap()
}

/// The user's path through BT-Unet and localisation on volumes on disk: generated phantoms
/// (8 mm) -> pretrain -> finetune (from the encoder, scored on a held-out phantom) -> segment
/// (the label map written on the image's grid scores what finetune reported) -> localise (boxes
/// as JSON, a resumed run restored from its checkpoint); bad arguments are errors naming the problem.
#[test]
fn pretrain_finetune_segment_and_localise_run_on_volumes() {
    let dir = std::env::temp_dir().join(format!("ssl-medical-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let p = |name: &str| dir.join("ph").join(name).to_str().unwrap().to_string();
    let d = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let (ok, out) = run(&["phantom", "--out", &d("ph"), "--count", "3", "--shape", "24,36,48", "--spacing", "8,8,8"]);
    assert!(ok, "{out}");
    let train_images = format!("{},{}", p("phantom-0.nii.gz"), p("phantom-1.nii.gz"));
    let train_labels = format!("{},{}", p("phantom-0-labels.nii.gz"), p("phantom-1-labels.nii.gz"));

    let (ok, out) = run(&["pretrain", "--images", &train_images, "--spacing", "8", "--out", &d("pre"), "--steps", "20", "--batch", "4", "--threads", "1"]);
    assert!(ok && out.contains("pre-training on 48 slices of 48 x 48 px") && out.contains("20 steps"), "{out}");

    let (ok, out) = run(&[
        "finetune",
        "--images",
        &train_images,
        "--labels",
        &train_labels,
        "--label-values",
        "3",
        "--spacing",
        "8",
        "--encoder",
        &d("pre"),
        "--out",
        &d("ft"),
        "--steps",
        "120",
        "--batch",
        "8",
        "--test-images",
        &p("phantom-2.nii.gz"),
        "--test-labels",
        &p("phantom-2-labels.nii.gz"),
        "--threads",
        "1",
    ]);
    assert!(ok, "{out}");
    let dice = number_after(&out, "label 3: Dice");
    assert!(dice > 0.5, "the liver is learnt in 120 steps: Dice {dice}\n{out}");

    let (ok, out) = run(&["segment", "--model", &d("ft"), "--image", &p("phantom-2.nii.gz"), "--out", &d("seg.nii.gz"), "--threads", "1"]);
    assert!(ok && out.contains("48 x 36 x 24 voxels segmented"), "{out}");
    // The written map lies on the image's grid and scores (over all voxels) near what finetune
    // reported over the test slices.
    let seg = ssl_medical::io::read_nifti(&dir.join("seg.nii.gz")).unwrap();
    let truth = ssl_medical::io::read_nifti(&dir.join("ph/phantom-2-labels.nii.gz")).unwrap();
    truth.check_mask(&seg).unwrap();
    let (s, t) = (seg.data.eq(3.0), truth.data.eq(3.0));
    let inter = s.logical_and(&t).sum(tch::Kind::Float).double_value(&[]);
    let written_dice = 2.0 * inter / (s.sum(tch::Kind::Float).double_value(&[]) + t.sum(tch::Kind::Float).double_value(&[]));
    assert!((written_dice - dice).abs() < 0.02, "segment's map: Dice {written_dice}, finetune reported {dice}");

    let localise = |steps: &str, resume: bool| {
        let mut args = vec![
            "localise",
            "--images",
            &train_images,
            "--labels",
            &train_labels,
            "--label",
            "5",
            "--spacing",
            "8",
            "--test-images",
            &p("phantom-2.nii.gz"),
            "--test-labels",
            &p("phantom-2-labels.nii.gz"),
            "--out",
            &d("loc"),
            "--steps",
            steps,
            "--threads",
            "1",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        if resume {
            args.push("--resume".into());
        }
        run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let (ok, out) = localise("40", false);
    assert!(ok && out.contains("IoU") && out.contains("resumed from None"), "{out}");
    let boxes: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("loc/boxes.json")).unwrap()).unwrap();
    let b = &boxes["boxes"][0];
    assert_eq!(b["label"], 5);
    let (lo, hi) = (b["min_mm"].as_array().unwrap(), b["max_mm"].as_array().unwrap());
    assert!((0..3).all(|a| lo[a].as_f64().unwrap() < hi[a].as_f64().unwrap()), "{b}");
    assert!((0.0..=1.0).contains(&b["iou"].as_f64().unwrap()), "{b}");
    // Resumed: the finished run is restored from its checkpoint, not retrained, and finds the same box.
    let (ok, out) = localise("40", true);
    assert!(ok && out.contains("resumed from Some(40)"), "{out}");
    let again: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("loc/boxes.json")).unwrap()).unwrap();
    assert_eq!(again["boxes"][0]["min_mm"], b["min_mm"]);
    assert_eq!(again["boxes"][0]["max_mm"], b["max_mm"]);

    // Bad input: a label map short, a run folder that is not a fine-tuning run, a label absent.
    let (ok, out) = run(&["finetune", "--images", &train_images, "--labels", &p("phantom-0-labels.nii.gz"), "--spacing", "8", "--out", &d("bad")]);
    assert!(!ok && out.contains("1 label maps for 2 images"), "{out}");
    let (ok, out) = run(&["segment", "--model", &d("pre"), "--image", &p("phantom-2.nii.gz"), "--out", &d("x.nii.gz")]);
    assert!(!ok && out.contains("segmenter.json") && out.contains("finetune run"), "{out}");
    let (ok, out) = run(&[
        "localise",
        "--images",
        &p("phantom-0.nii.gz"),
        "--labels",
        &p("phantom-0-labels.nii.gz"),
        "--label",
        "99",
        "--spacing",
        "8",
        "--test-images",
        &p("phantom-2.nii.gz"),
        "--out",
        &d("loc-bad"),
    ]);
    assert!(!ok && out.contains("phantom-0-labels.nii.gz: no voxel holds label 99"), "{out}");
    let (ok, out) = run(&["pretrain", "--images", &train_images, "--intensity", "soft", "--out", &d("bad2")]);
    assert!(!ok && out.contains("intensity"), "{out}");
}
