//! The `ssl-vision` command line end to end on tiny data the tests make: every command,
//! a run killed with SIGKILL and resumed, and bad input.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ssl-vision");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ssl-vision-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// 16x16 grayscale images of three classes (horizontal bar, vertical bar, ring) at
/// random positions, with a little noise; deterministic.
fn images(n: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut s = seed.wrapping_mul(2862933555777941757).wrapping_add(3037000493);
    let mut rnd = move |m: u64| {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 33) % m
    };
    let mut px = vec![0u8; n * 256];
    let mut labels = vec![0u8; n];
    for i in 0..n {
        let class = (i % 3) as u8;
        labels[i] = class;
        let (cy, cx) = (4 + rnd(8) as i64, 4 + rnd(8) as i64);
        for y in 0..16i64 {
            for x in 0..16i64 {
                let on = match class {
                    0 => (y - cy).abs() <= 1 && (x - cx).abs() <= 5,
                    1 => (x - cx).abs() <= 1 && (y - cy).abs() <= 5,
                    _ => {
                        let r2 = (y - cy).pow(2) + (x - cx).pow(2);
                        (6..=14).contains(&r2)
                    }
                };
                px[i * 256 + (y * 16 + x) as usize] = if on { 200 + rnd(55) as u8 } else { rnd(40) as u8 };
            }
        }
    }
    (px, labels)
}

fn write_idx_gz(path: &Path, dims: &[u32], data: &[u8]) {
    let mut raw = vec![0u8, 0, 8, dims.len() as u8];
    for d in dims {
        raw.extend_from_slice(&d.to_be_bytes());
    }
    raw.extend_from_slice(data);
    let f = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    gz.finish().unwrap();
}

/// A folder laid out like Fashion-MNIST's: train (96 images) and t10k (48) splits.
fn dataset(dir: &Path) {
    let (px, l) = images(96, 1);
    write_idx_gz(&dir.join("train-images-idx3-ubyte.gz"), &[96, 16, 16], &px);
    write_idx_gz(&dir.join("train-labels-idx1-ubyte.gz"), &[96], &l);
    let (px, l) = images(48, 2);
    write_idx_gz(&dir.join("t10k-images-idx3-ubyte.gz"), &[48, 16, 16], &px);
    write_idx_gz(&dir.join("t10k-labels-idx1-ubyte.gz"), &[48], &l);
}

fn small_config(dir: &Path) -> PathBuf {
    let p = dir.join("small.toml");
    std::fs::write(
        &p,
        "device = \"cpu\"\nthreads = 1\n[model]\nprojector_hidden = 32\nprojector_dim = 16\npredictor_hidden = 32\n\
         [model.backbone]\nkind = \"small-convnet\"\nwidth = 8\n[train]\nbatch_size = 32\nsteps = 4\nwarmup_steps = 1\ncheckpoint_every = 2\nlog_every = 1\nprogress = false\n",
    )
    .unwrap();
    p
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("the binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    let (so, se) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "ssl-vision {args:?} failed:\n{so}\n{se}");
    so.to_string()
}

/// Asserts a clean failure: non-zero exit, an `error:` line containing `needle`, no panic.
fn fails(args: &[&str], needle: &str) {
    let out = run(args);
    let se = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "ssl-vision {args:?} should fail");
    assert!(se.contains("error:") && se.contains(needle), "ssl-vision {args:?}: stderr lacks '{needle}':\n{se}");
    assert!(!se.contains("panicked"), "ssl-vision {args:?} panicked:\n{se}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn pretrain_then_eval_every_method_end_to_end() {
    let d = tmp("e2e");
    dataset(&d);
    let cfg = small_config(&d);
    for m in ["simclr", "moco-v2", "moco-v3", "byol", "simsiam", "barlow-twins", "vicreg", "unigrad", "nac", "swav"] {
        let out = d.join(m);
        // SwAV's 6 local crops of 3/7 of 16 px would be below the ConvNet's 8 px.
        let local: &[&str] = if m == "swav" { &["--set", "multi_crop.local_size=8"] } else { &[] };
        let msg = ok(&[&["pretrain", "--config", s(&cfg), "--method", m, "--data", s(&d), "--out", s(&out)], local].concat());
        assert!(msg.contains("4 steps"), "{msg}");
        assert!(out.join("checkpoints/step-00000004/backbone.safetensors").exists());
        assert!(out.join("config.toml").exists());
        assert_eq!(std::fs::read_to_string(out.join("metrics.jsonl")).unwrap().lines().count(), 4);
    }
    let run_dir = d.join("simclr");
    let report = ok(&["eval", "--run", s(&run_dir), "--data", s(&d), "--knn-k", "10", "--linear-epochs", "5", "--export", s(&d.join("emb"))]);
    assert!(report.contains("kNN top-1") && report.contains("96 train / 48 test"), "{report}");
    assert!(d.join("emb/test/features.npy").exists() && d.join("emb/train/labels.npy").exists());
    let eval: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run_dir.join("eval.json")).unwrap()).unwrap();
    assert!(eval["knn_top1"].as_f64().unwrap() > 0.33, "better than chance on easy shapes: {eval}");
    ok(&["eval", "--run", s(&run_dir), "--random-init", "--data", s(&d), "--knn-k", "10", "--linear-epochs", "2"]);
    assert!(run_dir.join("eval-random-init.json").exists());
    // UOTA as a flag, and resume of a finished run is a no-op that succeeds.
    ok(&["pretrain", "--config", s(&cfg), "--data", s(&d), "--out", s(&d.join("uota")), "--uota", "--uota-start", "0.5"]);
    ok(&["pretrain", "--config", s(&cfg), "--data", s(&d), "--out", s(&d.join("uota")), "--uota", "--resume"]);
    let listed = ok(&["methods"]);
    assert!(listed.contains("unigrad") && listed.contains("nac") && listed.contains("queue_size = 4096") && listed.contains("resnet18"), "{listed}");
    assert!(listed.contains("multi-crop: 6 local views by default"), "{listed}");
    // SwAV trains with its 6 local views unless told otherwise; outlier views need local ones.
    let swav_cfg = std::fs::read_to_string(d.join("swav/config.toml")).unwrap();
    assert!(!swav_cfg.contains("local_views"), "the method's default is not frozen into the config: {swav_cfg}");
    fails(&["pretrain", "--config", s(&cfg), "--data", s(&d), "--out", s(&d.join("no-local")), "--set", "multi_crop.outlier_fraction=0.5"], "has none");
    // Multi-crop: two 8 px local views beside the two global ones; a method's own option by --set.
    let mc = d.join("multi-crop");
    ok(&[
        "pretrain",
        "--config",
        s(&cfg),
        "--method",
        "moco-v2",
        "--data",
        s(&d),
        "--out",
        s(&mc),
        "--local-views",
        "2",
        "--set",
        "multi_crop.local_size=8",
        "--set",
        "model.options.queue_size=64",
    ]);
    let saved = std::fs::read_to_string(mc.join("config.toml")).unwrap();
    assert!(saved.contains("local_views = 2") && saved.contains("queue_size = 64"), "{saved}");
    // A setting the method does not use is an error, before anything is written.
    fails(
        &["pretrain", "--config", s(&cfg), "--method", "simclr", "--data", s(&d), "--out", s(&d.join("wrong-option")), "--set", "model.options.queue_size=64"],
        "queue_size",
    );
    assert!(!d.join("wrong-option").exists());
    fails(&["pretrain", "--config", s(&cfg), "--data", s(&d), "--out", s(&d.join("typo")), "--set", "train.stepz=3"], "stepz");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn demo_and_objectives_table_run_on_tiny_data() {
    let d = tmp("demo");
    dataset(&d);
    let cfg = small_config(&d);
    let out = ok(&["demo", "--data", s(&d), "--out", s(&d.join("demo")), "--config", s(&cfg), "--steps", "3", "--device", "cpu", "--random-seeds", "2"]);
    for row in ["| raw pixels |", "| raw pixels, centred |", "| simclr, 3 steps |", "| byol, 3 steps |"] {
        assert!(out.contains(row), "{row} missing from\n{out}");
    }
    // Two random encoders: their row shows the spread over seeds.
    let random_row = out.lines().find(|l| l.starts_with("| random init |")).unwrap_or_default();
    assert!(random_row.matches(" ± ").count() == 2 && random_row.contains("| 2 |"), "{out}");
    for f in ["loss.png", "embedding-simclr.png", "embedding-byol.png", "embedding-random.png", "report.md", "report.json"] {
        let p = d.join("demo").join(f);
        assert!(p.exists() && std::fs::metadata(&p).unwrap().len() > 0, "{f} missing");
    }
    image::open(d.join("demo/loss.png")).expect("loss plot is a valid PNG");
    let doc = d.join("table.md");
    let out = ok(&[
        "objectives-table",
        "--data",
        s(&d),
        "--out",
        s(&d.join("table")),
        "--doc",
        s(&doc),
        "--config",
        s(&cfg),
        "--steps",
        "2",
        "--methods",
        "simclr,vicreg",
        "--seeds",
        "2",
        "--method-set",
        "vicreg:model.options.std=10.0",
        "--device",
        "cpu",
    ]);
    let table = std::fs::read_to_string(&doc).unwrap();
    for row in ["| raw pixels |", "| simclr |", "| vicreg |", "| simclr + UOTA |", "| random init |"] {
        let line = table.lines().find(|l| l.starts_with(row)).unwrap_or_else(|| panic!("{row} missing from\n{table}\n{out}"));
        if row != "| raw pixels |" {
            assert!(line.contains(" ± ") && line.contains("| 2 |"), "{line}: not a mean over 2 seeds");
        }
    }
    assert!(d.join("table/vicreg/seed-1/checkpoints").exists() && table.contains("--method-set vicreg:model.options.std=10.0"), "{table}");
    let saved = std::fs::read_to_string(d.join("table/vicreg/seed-0/config.toml")).unwrap();
    assert!(saved.contains("std = 10.0"), "{saved}");
    // A method-specific setting for a method that does not exist is an error.
    fails(
        &["objectives-table", "--data", s(&d), "--config", s(&cfg), "--methods", "simclr", "--method-set", "simclr2:model.options.temperature=0.1"],
        "simclr2",
    );
    // Budget curve: one run per budget, a table and a plot.
    let budget_doc = d.join("budget.md");
    let plot = d.join("budget.png");
    let budget_out = d.join("budget");
    let budget_args = [
        "budget-curve",
        "--data",
        s(&d),
        "--out",
        s(&budget_out),
        "--doc",
        s(&budget_doc),
        "--plot",
        s(&plot),
        "--config",
        s(&cfg),
        "--budgets",
        "1,3",
        "--device",
        "cpu",
    ];
    ok(&budget_args);
    let budget = std::fs::read_to_string(&budget_doc).unwrap();
    assert!(budget.contains("| simclr |") && budget.lines().filter(|l| l.starts_with("| simclr |")).count() == 2, "{budget}");
    assert!(d.join("budget/simclr-3/checkpoints/step-00000003").exists());
    image::open(&plot).expect("budget plot is a valid PNG");
    // Run again: the finished runs are reused, and their time is not reported as zero.
    ok(&budget_args);
    let again = std::fs::read_to_string(&budget_doc).unwrap();
    assert_eq!(again.matches("(earlier run)").count(), 2, "{again}");
    // UOTA on SwAV multi-crop: plain and weighted, clean and with outlier local crops, 2 seeds.
    let (uota_doc, uota_out) = (d.join("uota.md"), d.join("uota"));
    let uota_args = ["uota-experiment", "--data", s(&d), "--out", s(&uota_out), "--doc", s(&uota_doc), "--config", s(&cfg), "--steps", "2"];
    ok(&[&uota_args[..], &["--seeds", "2", "--set", "multi_crop.local_size=8", "--set", "model.options.prototypes=16", "--device", "cpu"]].concat());
    let uota = std::fs::read_to_string(&uota_doc).unwrap();
    for row in [
        "| swav |",
        "| swav + UOTA |",
        "| swav, 25% outlier local crops |",
        "| swav + UOTA, 25% outlier local crops |",
        "| clean views |",
        "| outlier local crops |",
    ] {
        let line = uota.lines().find(|l| l.starts_with(row)).unwrap_or_else(|| panic!("{row} missing from\n{uota}"));
        assert!(line.contains(" ± ") && line.contains("| 2 |"), "{line}: not over 2 seeds");
    }
    assert!(uota.contains("2 global and 6 local views"), "{uota}");
    let saved = std::fs::read_to_string(d.join("uota/swav-uota-outliers/seed-1/config.toml")).unwrap();
    assert!(saved.contains("outlier_fraction = 0.25") && saved.contains("enabled = true"), "{saved}");
    fails(&[&uota_args[..], &["--outlier-fraction", "0"]].concat(), "--outlier-fraction");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn bench_reports_ratios_against_the_reference_scripts() {
    // Stand-in reference scripts (the real ones need Python's torch): they print the JSON
    // the real scripts print, so the command's measuring and ratio plumbing is exercised.
    let d = tmp("bench");
    std::fs::write(
        d.join("simclr_step.py"),
        "import json, os; print(json.dumps({'steps_per_second': 2.0, 'omp_wait_policy': os.environ.get('OMP_WAIT_POLICY')}))\n",
    )
    .unwrap();
    std::fs::write(d.join("augment_torchvision.py"), "import json; print(json.dumps({'images_per_second': 100.0}))\n").unwrap();
    std::fs::write(d.join("decode_augment.py"), "import json, sys; print(json.dumps({'images_per_second': 10.0, 'argv': sys.argv[1:]}))\n").unwrap();
    std::fs::write(d.join("epoch_lightly.py"), "import json, sys; print(json.dumps({'seconds': 50.0, 'argv': sys.argv[1:]}))\n").unwrap();
    std::fs::write(d.join("clips_torchvision.py"), "import json, sys; print(json.dumps({'videos_per_second': 5.0, 'argv': sys.argv[1:]}))\n").unwrap();
    // Two small grey videos of 16 frames for the clip benchmark (clips of 8 frames at stride 2 span 15).
    for v in 0..2u32 {
        let folder = d.join("frames").join(format!("v{v}"));
        std::fs::create_dir_all(&folder).unwrap();
        for f in 0..16u32 {
            image::GrayImage::from_fn(24, 20, |x, y| image::Luma([((x * 5 + y * 3 + f * 7 + v * 50) % 250) as u8]))
                .save(folder.join(format!("{f}.png")))
                .unwrap();
        }
    }
    // Three small photographs (PNG and JPEG) and a Fashion-MNIST-like folder.
    let photos = d.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for (i, ext) in ["png", "jpg", "png"].iter().enumerate() {
        let img = image::RgbImage::from_fn(40 + 8 * i as u32, 36, |x, y| image::Rgb([(x * 6) as u8, (y * 7) as u8, (40 * i) as u8]));
        img.save(photos.join(format!("photo{i}.{ext}"))).unwrap();
    }
    let fmnist = d.join("fmnist");
    std::fs::create_dir_all(&fmnist).unwrap();
    dataset(&fmnist);
    let json = d.join("bench.json");
    let out = ok(&[
        "bench",
        "--python",
        "python3",
        "--scripts",
        s(&d),
        "--batch",
        "4",
        "--steps",
        "1",
        "--warmup",
        "1",
        "--images",
        "64",
        "--threads",
        "1",
        "--photos",
        s(&photos),
        "--photo-count",
        "32",
        "--fashion-mnist",
        s(&fmnist),
        "--epoch-images",
        "64",
        "--epoch-batch",
        "32",
        "--work",
        s(&d.join("work")),
        "--frames",
        s(&d.join("frames")),
        "--clip-count",
        "4",
        "--video-batch",
        "2",
        "--json",
        s(&json),
    ]);
    assert!(out.contains("ratio"), "{out}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = |name: &str| -> Vec<serde_json::Value> {
        v.as_array().unwrap().iter().filter(|r| r["benchmark"].as_str().unwrap_or("").contains(name)).cloned().collect()
    };
    let aug = &rows("augmentation")[0];
    let expected = aug["ours_images_per_second"].as_f64().unwrap() / 100.0;
    assert!((aug["ratio"].as_f64().unwrap() - expected).abs() < 1e-9);
    // The training step in both layouts, with its FLOP rate against the measured matmul peak.
    let steps = rows("training step, ResNet-18");
    assert_eq!(steps.iter().map(|r| r["layout"].as_str().unwrap()).collect::<Vec<_>>(), ["Contiguous", "ChannelsLast"]);
    for r in &steps {
        assert!(r["ours_steps_per_second"].as_f64().unwrap() > 0.0 && r["matmul_peak_gflops"].as_f64().unwrap() > 0.0, "{r}");
    }
    // Decode + augment at 1, 2 and all threads, each against both references run with the
    // matching number of DataLoader workers (0 for one thread).
    let decode = rows("decode real photographs");
    assert!(decode.len() >= 2 && decode[0]["threads"] == 1 && decode[1]["threads"] == 2, "{decode:?}");
    for r in &decode {
        assert!(r["ours_images_per_second"].as_f64().unwrap() > 0.0);
        assert!((r["ratio_vs_tv"].as_f64().unwrap() - r["ours_images_per_second"].as_f64().unwrap() / 10.0).abs() < 1e-9);
        let workers = if r["threads"] == 1 { 0 } else { r["threads"].as_i64().unwrap() };
        let argv = r["pil"]["argv"].to_string();
        assert!(argv.contains(&format!("\"--workers\",\"{workers}\"")) && argv.contains("\"pil\""), "{argv}");
    }
    // Clips at 1, 2 (and all) threads against the reference with as many workers; the 3-D
    // steps of both networks against PyTorch.
    let clips = rows("frame folders");
    assert!(clips.len() >= 2 && clips[0]["threads"] == 1 && clips[1]["threads"] == 2, "{clips:?}");
    for r in &clips {
        assert!((r["ratio"].as_f64().unwrap() - r["ours_videos_per_second"].as_f64().unwrap() / 5.0).abs() < 1e-9, "{r}");
        let workers = if r["threads"] == 1 { 0 } else { r["threads"].as_i64().unwrap() };
        assert!(r["reference"]["argv"].to_string().contains(&format!("\"--workers\",\"{workers}\"")), "{r}");
    }
    let video_steps = rows("clips, SGD");
    assert_eq!(video_steps.len(), 2, "{video_steps:?}");
    for r in &video_steps {
        assert!((r["ratio"].as_f64().unwrap() - r["ours_steps_per_second"].as_f64().unwrap() / 2.0).abs() < 1e-9, "{r}");
    }
    // The epoch: both of ours trained the whole epoch (64 images, batch 32: 2 steps) from PNG files.
    let epoch = &rows("SimCLR epoch")[0];
    assert_eq!((epoch["images"].as_i64(), epoch["batch"].as_i64()), (Some(64), Some(32)), "{epoch}");
    assert_eq!(std::fs::read_dir(d.join("work/fashion-mnist-png-64")).unwrap().filter(|e| e.as_ref().unwrap().path().is_dir()).count(), 3);
    for run in ["run", "run-streamed"] {
        let log = std::fs::read_to_string(d.join("work").join(run).join("metrics.jsonl")).unwrap();
        assert!(log.contains("\"step\":2"), "{run}: {log}");
    }
    assert!((epoch["ratio_streamed"].as_f64().unwrap() - 50.0 / epoch["ours_seconds_streamed"].as_f64().unwrap()).abs() < 1e-9);
    fails(&["bench", "--python", "python3", "--scripts", s(&d.join("nowhere")), "--which", "augment", "--images", "8"], "failed");
    // Beside a busy process: both rows, ours with waiting threads that sleep (unless the
    // user chose a policy) and the reference run as the user would run it.
    let out = ok(&[
        "bench",
        "--python",
        "python3",
        "--scripts",
        s(&d),
        "--which",
        "contention",
        "--batch",
        "4",
        "--steps",
        "1",
        "--warmup",
        "1",
        "--threads",
        "0",
        "--json",
        s(&json),
    ]);
    assert!(out.contains("beside one busy process"), "{out}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!((v[0]["competing_process"].as_bool(), v[1]["competing_process"].as_bool()), (Some(false), Some(true)));
    assert!(v[1]["ours_threads"].as_i64().unwrap() >= 1);
    if std::env::var_os("OMP_WAIT_POLICY").is_none() {
        assert_eq!(v[1]["ours_omp_wait_policy"], "PASSIVE");
        assert!(v[1]["pytorch"]["omp_wait_policy"].is_null(), "{v}");
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_run_killed_with_sigkill_resumes_to_the_same_weights() {
    let d = tmp("kill");
    dataset(&d);
    let cfg = small_config(&d);
    let common = |out: &Path| -> Vec<String> {
        ["pretrain", "--config", s(&cfg), "--method", "byol", "--data", s(&d), "--out", s(out), "--steps", "24", "--checkpoint-every", "3", "--seed", "5"]
            .iter()
            .map(|x| x.to_string())
            .collect()
    };
    let straight = d.join("straight");
    ok(&common(&straight).iter().map(String::as_str).collect::<Vec<_>>());

    let killed = d.join("killed");
    let mut child = Command::new(BIN).args(common(&killed)).spawn().unwrap();
    let latest = killed.join("checkpoints/latest");
    let t0 = std::time::Instant::now();
    loop {
        let step = std::fs::read_to_string(&latest).ok().and_then(|s| s.trim().trim_start_matches("step-").parse::<usize>().ok());
        if step.is_some_and(|s| s >= 6) {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before it could be killed");
        }
        assert!(t0.elapsed().as_secs() < 120, "no checkpoint appeared");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let resumed_from = std::fs::read_to_string(&latest).unwrap();
    assert_ne!(resumed_from.trim(), "step-00000024", "the run finished before the kill; make it longer");
    let mut args = common(&killed);
    args.push("--resume".into());
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let a = tch::Tensor::read_safetensors(straight.join("checkpoints/step-00000024/tensors.safetensors")).unwrap();
    let b: std::collections::HashMap<String, tch::Tensor> =
        tch::Tensor::read_safetensors(killed.join("checkpoints/step-00000024/tensors.safetensors")).unwrap().into_iter().collect();
    assert!(a.len() > 10);
    for (name, t) in &a {
        assert!(t.equal(&b[name]), "{name} differs between the uninterrupted and the killed-and-resumed run");
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn bad_input_gives_clear_errors() {
    let d = tmp("bad");
    dataset(&d);
    let cfg = small_config(&d);
    let c = s(&cfg);
    let run_dir = d.join("run");
    let out = s(&run_dir);
    fails(&["pretrain", "--config", c, "--data", "/no/such/path", "--out", out], "no such file");
    // Truncated IDX: cut the gzip stream, and a raw file with a short body.
    let raw = std::fs::read(d.join("train-images-idx3-ubyte.gz")).unwrap();
    let trunc = d.join("trunc-images-idx3-ubyte.gz");
    std::fs::write(&trunc, &raw[..raw.len() / 2]).unwrap();
    fails(&["pretrain", "--config", c, "--data", s(&trunc), "--out", out], "trunc-images-idx3-ubyte.gz");
    let short = d.join("short-images-idx3-ubyte");
    let mut body = vec![0u8, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 16, 0, 0, 0, 16];
    body.extend(vec![0u8; 100]);
    std::fs::write(&short, body).unwrap();
    fails(&["pretrain", "--config", c, "--data", s(&short), "--out", out], "truncated");
    // ImageFolder: empty, truncated PNG, mixed sizes.
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    fails(&["pretrain", "--config", c, "--data", s(&empty), "--out", out], "no images found");
    let folder = d.join("folder/cats");
    std::fs::create_dir_all(&folder).unwrap();
    image::GrayImage::from_pixel(16, 16, image::Luma([9])).save(folder.join("a.png")).unwrap();
    image::GrayImage::from_pixel(16, 16, image::Luma([99])).save(folder.join("b.png")).unwrap();
    let png = std::fs::read(folder.join("b.png")).unwrap();
    std::fs::write(folder.join("c.png"), &png[..png.len() / 2]).unwrap();
    fails(&["pretrain", "--config", c, "--data", s(&d.join("folder")), "--out", out], "c.png");
    std::fs::remove_file(folder.join("c.png")).unwrap();
    image::GrayImage::from_pixel(20, 16, image::Luma([9])).save(folder.join("d.png")).unwrap();
    fails(&["pretrain", "--config", c, "--data", s(&d.join("folder")), "--out", out], "different sizes");
    // Unknown method, bad config key, NaN loss.
    fails(&["pretrain", "--config", c, "--data", s(&d), "--method", "simclr9", "--out", out], "unknown method 'simclr9'");
    let bad = d.join("bad.toml");
    std::fs::write(&bad, "[train]\nstepz = 3\n").unwrap();
    fails(&["pretrain", "--config", s(&bad), "--data", s(&d), "--out", out], "stepz");
    let nan = d.join("nan");
    fails(&["pretrain", "--config", c, "--data", s(&d), "--out", s(&nan), "--optimizer", "sgd", "--lr", "1e30", "--steps", "8"], "NaN");
    // Batch larger than the data, an existing run without --resume, eval without labels.
    fails(&["pretrain", "--config", c, "--data", s(&d), "--out", s(&d.join("b")), "--batch-size", "1000"], "does not fit");
    ok(&["pretrain", "--config", c, "--data", s(&d), "--out", s(&d.join("twice"))]);
    fails(&["pretrain", "--config", c, "--data", s(&d), "--out", s(&d.join("twice"))], "--resume");
    fails(&["pretrain", "--config", c, "--data", s(&d), "--out", s(&d.join("twice")), "--resume", "--lr", "0.5"], "/train/lr");
    fails(&["eval", "--run", s(&d.join("twice")), "--train-data", s(&d.join("folder")), "--test-data", s(&d.join("folder"))], "different sizes");
    std::fs::remove_file(folder.join("d.png")).unwrap();
    fails(&["eval", "--run", s(&d.join("twice")), "--data", s(&d.join("folder"))], "no 'test' split");
    let tiny = d.join("tiny.toml");
    std::fs::write(&tiny, std::fs::read_to_string(&cfg).unwrap() + "[augment]\nsize = 2\n").unwrap();
    fails(&["pretrain", "--config", s(&tiny), "--data", s(&d), "--out", s(&d.join("tiny"))], "too small");
    fails(&["eval", "--run", s(&d.join("nothing")), "--data", s(&d)], "no checkpoint");
    fails(&["pretrain", "--config", c, "--data", s(&d), "--out", out, "--device", "tpu"], "unknown device");
    std::fs::remove_dir_all(&d).ok();
}

/// An ImageFolder with the given classes: dark images for `a`, bright ones for `b`.
fn class_folder(root: &Path, classes: &[&str], per_class: u8) {
    for class in classes {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let base = if *class == "a" { 10 } else { 220 };
            image::GrayImage::from_fn(16, 16, |x, y| image::Luma([base + ((x + y + i as u32) % 7) as u8])).save(dir.join(format!("{i}.png"))).unwrap();
        }
    }
}

#[test]
fn test_classes_are_matched_by_name_not_folder_position() {
    let d = tmp("classes");
    dataset(&d);
    let cfg = small_config(&d);
    let run_dir = d.join("run");
    ok(&["pretrain", "--config", s(&cfg), "--data", s(&d), "--out", s(&run_dir)]);
    let (train, only_b, unknown) = (d.join("A"), d.join("B"), d.join("C"));
    class_folder(&train, &["a", "b"], 12);
    class_folder(&only_b, &["b"], 6);
    class_folder(&unknown, &["b", "zebra"], 3);
    let out = ok(&["eval", "--run", s(&run_dir), "--train-data", s(&train), "--test-data", s(&only_b), "--knn-k", "5", "--linear-epochs", "50"]);
    let eval: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run_dir.join("eval.json")).unwrap()).unwrap();
    assert_eq!(eval["knn_top1"].as_f64(), Some(1.0), "{out}\n{eval}");
    assert_eq!(eval["classes"], serde_json::json!(["a", "b"]));
    assert!(out.contains("classes by label: a, b"), "{out}");
    fails(&["eval", "--run", s(&run_dir), "--train-data", s(&train), "--test-data", s(&unknown)], "class 'zebra' is not one of the 2 classes");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_run_folder_is_locked_while_a_process_trains_in_it() {
    let d = tmp("lock");
    dataset(&d);
    let cfg = small_config(&d);
    let out = d.join("run");
    let args = ["pretrain", "--config", s(&cfg), "--data", s(&d), "--out", s(&out), "--steps", "100000", "--checkpoint-every", "50000"];
    let mut first = Command::new(BIN).args(args).stderr(std::process::Stdio::null()).spawn().unwrap();
    let t0 = std::time::Instant::now();
    while !out.join("metrics.jsonl").exists() {
        assert!(first.try_wait().unwrap().is_none(), "the first run ended early");
        assert!(t0.elapsed().as_secs() < 120, "the first run did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    fails(&args, "is in use by another process");
    first.kill().unwrap(); // SIGKILL: the lock dies with the process.
    first.wait().unwrap();
    // Killed before its first checkpoint, the folder holds no run: a new one may start.
    let short = ["pretrain", "--config", s(&cfg), "--data", s(&d), "--out", s(&out), "--steps", "2"];
    ok(&short);
    fails(&short, "--resume");
    std::fs::remove_dir_all(&d).ok();
}

/// Rewrites one tensor of a checkpoint and its recorded checksum, as a run whose
/// BatchNorm statistics blew up would have written it before the guard existed.
fn poison_checkpoint(step_dir: &Path) {
    let path = step_dir.join("tensors.safetensors");
    let mut tensors = tch::Tensor::read_safetensors(&path).unwrap();
    let (_, t) = tensors.iter_mut().find(|(k, _)| k.ends_with("running_var")).unwrap();
    *t = t.full_like(f64::INFINITY);
    tch::Tensor::write_safetensors(&tensors, &path).unwrap();
    let meta_path = step_dir.join("meta.json");
    let mut meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    meta["checksums"]["tensors.safetensors"] = ssl_core::train::file_sha256(&path).unwrap().into();
    std::fs::write(&meta_path, meta.to_string()).unwrap();
}

#[test]
fn checkpoints_are_verified_and_nonsense_settings_refused() {
    let d = tmp("verify");
    dataset(&d);
    let cfg = small_config(&d);
    let c = s(&cfg);
    let run_dir = d.join("run");
    let r = s(&run_dir);
    ok(&["pretrain", "--config", c, "--data", s(&d), "--out", r]);
    // Resuming with another thread count is refused and names the count to use.
    fails(&["pretrain", "--config", c, "--data", s(&d), "--out", r, "--resume", "--threads", "2"], "--threads 1");
    // The same images at another path resume; other images do not.
    let copy = d.join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for f in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"] {
        std::fs::copy(d.join(f), copy.join(f)).unwrap();
    }
    ok(&["pretrain", "--config", c, "--data", s(&copy.join("train-images-idx3-ubyte.gz")), "--out", r, "--resume"]);
    let (px, l) = images(96, 9);
    write_idx_gz(&copy.join("train-images-idx3-ubyte.gz"), &[96, 16, 16], &px);
    write_idx_gz(&copy.join("train-labels-idx1-ubyte.gz"), &[96], &l);
    fails(&["pretrain", "--config", c, "--data", s(&copy.join("train-images-idx3-ubyte.gz")), "--out", r, "--resume"], "differ in content");
    // A flipped byte in the newest checkpoint: eval and --resume refuse it, the latter
    // offering the intact one, which --resume-intact takes.
    let newest = run_dir.join("checkpoints/step-00000004/tensors.safetensors");
    let mut bytes = std::fs::read(&newest).unwrap();
    let i = bytes.len() - 64;
    bytes[i] ^= 1;
    std::fs::write(&newest, bytes).unwrap();
    fails(&["eval", "--run", r, "--data", s(&d)], "corrupt");
    fails(&["pretrain", "--config", c, "--data", s(&d), "--out", r, "--resume"], "--resume-intact");
    let msg = ok(&["pretrain", "--config", c, "--data", s(&d), "--out", r, "--resume-intact"]);
    assert!(msg.contains("4 steps"), "{msg}");
    assert!(run_dir.join("checkpoints/corrupt-step-00000004").is_dir());
    // A config read back from a checkpoint is checked like a config file.
    let meta_path = run_dir.join("checkpoints/step-00000004/meta.json");
    let original = std::fs::read_to_string(&meta_path).unwrap();
    let mut meta: serde_json::Value = serde_json::from_str(&original).unwrap();
    meta["config"]["train"]["min_lr_ratio"] = (-1.0).into();
    std::fs::write(&meta_path, meta.to_string()).unwrap();
    fails(&["eval", "--run", r, "--data", s(&d)], "min_lr_ratio");
    std::fs::write(&meta_path, original).unwrap();
    // A checkpoint holding infinite BatchNorm statistics is not evaluated.
    poison_checkpoint(&run_dir.join("checkpoints/step-00000004"));
    fails(&["eval", "--run", r, "--data", s(&d)], "NaN or infinity");
    // Settings out of range, and sizes that cannot be allocated, name the key.
    for (toml, key) in [
        ("min_lr_ratio = -0.5\n", "min_lr_ratio"),
        ("[train.optimizer]\nbeta1 = 1.0\n", "beta1"),
        ("[train.optimizer]\nweight_decay = -1.0\n", "weight_decay"),
        ("[train.uota]\nstart_fraction = -2.0\n", "start_fraction"),
        ("[augment]\nsize = 100000\n", "augment.size"),
        ("[augment]\nsize = 4000\n", "augment.size or train.batch_size"),
    ] {
        let p = d.join("bad-range.toml");
        // The small config ends in its [train] table.
        std::fs::write(&p, std::fs::read_to_string(&cfg).unwrap() + toml).unwrap();
        let out = d.join("never");
        fails(&["pretrain", "--config", s(&p), "--data", s(&d), "--out", s(&out)], key);
        assert!(!out.exists(), "{key}: a refused run wrote {}", out.display());
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn clips_reads_frame_folders_draws_batches_and_frame_strips() {
    let dir = tmp("clips");
    let videos = dir.join("videos");
    // Three RGB videos of moving squares (12, 9 and 4 frames of 20 x 24), frames named 0..n.
    for (v, n) in [12usize, 9, 4].iter().enumerate() {
        let folder = videos.join(format!("video-{v}"));
        std::fs::create_dir_all(&folder).unwrap();
        for f in 0..*n {
            let img = image::RgbImage::from_fn(24, 20, |x, y| {
                let inside = (x as usize).abs_diff(4 + f) < 3 && (y as usize).abs_diff(10) < 3;
                if inside {
                    image::Rgb([220, 40 * v as u8, 30])
                } else {
                    image::Rgb([20, 20, 60])
                }
            });
            img.save(folder.join(format!("{f}.png"))).unwrap();
        }
    }
    // A clip of 4 frames at stride 2 spans 7 frames: the 4-frame video is too short.
    fails(&["clips", "--data", s(&videos), "--frames", "4", "--stride", "2", "--batch", "2"], "video-2: 4 frames, a clip needs 7");
    let strip = dir.join("strip.png");
    let out = ok(&[
        "clips",
        "--data",
        s(&videos),
        "--frames",
        "4",
        "--stride",
        "2",
        "--batch",
        "2",
        "--batches",
        "2",
        "--size",
        "16",
        "--skip-bad",
        "--strip",
        s(&strip),
    ]);
    assert!(out.contains("2 videos, 21 frames, 3 channel(s), 1 left out") && out.contains("left out:") && out.contains("video-2"), "{out}");
    assert!(out.contains("batch 1: 2 views of [2, 3, 4, 16, 16]"), "{out}");
    // Rows: 2 videos x 2 views; columns: 4 frames, each 16 px and a 2 px gap.
    let png = image::open(&strip).unwrap();
    assert_eq!((png.width(), png.height()), (4 * 18, 4 * 18));
    fails(&["clips", "--data", s(&dir.join("none"))], "no such folder");
    fails(&["clips", "--data", s(&videos), "--frames", "0"], "at least one frame");
}

#[test]
fn motion_benchmark_writes_splits_that_clips_reads() {
    let dir = tmp("motion-bench");
    let objects = dir.join("objects");
    std::fs::create_dir_all(&objects).unwrap();
    dataset(&objects);
    // Two background videos of 20 grey frames with a moving gradient.
    for v in 0..2u32 {
        let folder = dir.join("backgrounds").join(format!("bg-{v}"));
        std::fs::create_dir_all(&folder).unwrap();
        for f in 0..20u32 {
            image::GrayImage::from_fn(40, 30, |x, y| image::Luma([((x * 3 + y * 2 + f * 5 + v * 60) % 200) as u8]))
                .save(folder.join(format!("{f}.png")))
                .unwrap();
        }
    }
    let (out, backgrounds) = (dir.join("motion"), dir.join("backgrounds"));
    let args = [
        "motion-benchmark",
        "--objects",
        s(&objects),
        "--backgrounds",
        s(&backgrounds),
        "--out",
        s(&out),
        "--train-per-class",
        "2",
        "--test-per-class",
        "1",
        "--frames",
        "8",
        "--size",
        "24",
        "--background-frames",
        "20",
    ];
    let text = ok(&args);
    assert!(text.contains("wrote 72 generated clips of 8 frames (24 x 24)") && text.contains("cross-view/test: 1 clips per class, cameras [55.0]"), "{text}");
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("benchmark.json")).unwrap()).unwrap();
    assert_eq!(manifest["generated"], true);
    let listing = ok(&[
        "clips",
        "--data",
        s(&out.join("static-bias/train")),
        "--frames",
        "8",
        "--stride",
        "1",
        "--batch",
        "4",
        "--batches",
        "1",
        "--size",
        "24",
        "--no-augment",
    ]);
    assert!(listing.contains("16 videos, 128 frames, 1 channel(s), classes [\"away\", \"down\", \"left\", \"right\", \"towards\", \"turn-anticlockwise\", \"turn-clockwise\", \"up\"]"), "{listing}");
    // Too few background frames for a clip; a missing object dataset.
    let mut short = args.to_vec();
    *short.last_mut().unwrap() = "4";
    fails(&short, "at least --frames background frames");
    fails(&["motion-benchmark", "--objects", s(&dir.join("none")), "--backgrounds", s(&dir.join("backgrounds")), "--out", s(&out)], "no such file or folder");
    assert!(out.join("benchmark.json").exists(), "a failed run keeps the benchmark already written");
}

/// Two classes (a dot moving right or down) of 6 training and 2 test videos, 8 frames each.
fn dot_videos(data: &Path) {
    for (part, n) in [("train", 6usize), ("test", 2)] {
        for (c, class) in ["right", "down"].iter().enumerate() {
            for v in 0..n {
                let folder = data.join(part).join(class).join(format!("v{v}"));
                std::fs::create_dir_all(&folder).unwrap();
                for f in 0..8u32 {
                    let (x0, y0) = if c == 0 { (2 + f, 5 + v as u32) } else { (5 + v as u32, 2 + f) };
                    image::GrayImage::from_fn(16, 16, |x, y| image::Luma([if x.abs_diff(x0) < 2 && y.abs_diff(y0) < 2 { 230 } else { 20 }]))
                        .save(folder.join(format!("{f}.png")))
                        .unwrap();
                }
            }
        }
    }
}

#[test]
fn video_experiments_run_each_method_against_its_baseline() {
    let dir = tmp("video-experiment");
    dot_videos(&dir.join("data"));
    let (data, runs) = (dir.join("data"), dir.join("runs"));
    let tiny = ["--width", "4", "--frames", "4", "--stride", "2", "--size", "16", "--batch", "4", "--steps", "2", "--seeds", "2", "--threads", "1"];
    for (method, extra, rows) in [
        ("ssvc", vec!["--flow-steps", "3"], vec!["| moco-v2 pre-trained |", "| moco-v2+ssvc pre-trained |"]),
        ("viewclr", vec![], vec!["| moco-v2 pre-trained |", "| moco-v2+viewclr pre-trained |"]),
        ("stc-mix", vec!["--fractions", "0.5,1"], vec!["| simclr pre-trained, 50 % of the videos (6) |", "| stc-mix pre-trained, 100 % of the videos (12) |"]),
    ] {
        let doc = dir.join(format!("{method}.md"));
        let mut args = vec!["video-experiment", "--method", method, "--data", s(&data), "--out", s(&runs), "--doc", s(&doc)];
        args.extend_from_slice(&tiny);
        args.extend(extra);
        let out = ok(&args);
        let md = std::fs::read_to_string(&doc).unwrap();
        for row in rows.iter().chain(&[
            "| raw pixels (centre clip, flattened) |",
            "| random r3d-18 (width 4) |",
            "| supervised r3d-18 on the labels (upper reference), 2 steps |",
        ]) {
            assert!(md.contains(row), "{method}: {row} missing:\n{md}\n{out}");
        }
        assert!(md.contains("Method minus baseline") && md.contains("Mean ± sd over 2 seeds per arm"), "{md}");
        assert!(md.contains("each clip augmented as one: crops of 50-100% of the frame, flips with p 0, SimCLR's"), "{md}");
        assert!(dir.join(format!("img/video-{method}-loss.png")).exists());
        assert!(md.contains(&format!("video-experiment --method {method}")), "{md}");
    }
    let md = std::fs::read_to_string(dir.join("ssvc.md")).unwrap();
    assert!(md.contains("temperature 0.07") && md.contains("of the latent dimensions static"), "{md}");
    assert!(dir.join("img/video-ssvc-suppression.png").exists());
    let md = std::fs::read_to_string(dir.join("stc-mix.md")).unwrap();
    assert!(md.contains("| 50 % |") && md.contains("| 100 % |") && md.contains("--motion flow"), "{md}");
    fails(&["video-experiment", "--method", "stc-mix", "--data", s(&dir.join("data")), "--fractions", "0,1", "--steps", "1"], "--fractions");
    fails(&["video-experiment", "--method", "ssvc", "--data", s(&dir.join("data")), "--size", "18", "--steps", "1"], "multiple of");
}

#[test]
fn video_pretrain_resumes_and_video_eval_scores_the_run() {
    let dir = tmp("video-pretrain");
    dot_videos(&dir.join("data"));
    let (train, run) = (dir.join("data/train"), dir.join("run"));
    let tiny = ["--width", "4", "--frames", "4", "--stride", "2", "--size", "16", "--batch", "4", "--threads", "1"];
    let mut args = vec!["video-pretrain", "--data", s(&train), "--out", s(&run), "--steps", "3", "--ssvc", "--flow-steps", "3"];
    args.extend_from_slice(&tiny);
    let out = ok(&args);
    assert!(out.contains("moco-v2+ssvc: 3 steps") && run.join("loss.png").exists() && run.join("flow.safetensors").exists(), "{out}");
    // Resuming the finished run finds it finished; other settings are refused, and so is a
    // fresh start on a folder that holds a run.
    let mut again = args.clone();
    again.push("--resume");
    let out = ok(&again);
    assert!(out.contains("moco-v2+ssvc: 3 steps"), "{out}");
    let mut longer = again.clone();
    longer[6] = "5";
    fails(&longer, "settings differ");
    fails(&args, "checkpoint");
    let strip = dir.join("strip.png");
    let out = ok(&["video-eval", "--run", s(&run), "--data", s(&dir.join("data")), "--threads", "1", "--strip", s(&strip)]);
    assert!(out.contains("moco-v2+ssvc (3 steps): kNN") && out.contains("12 train / 4 test videos, 2 classes"), "{out}");
    assert!(strip.exists() && run.join("eval.json").exists());
    let out = ok(&["video-eval", "--run", s(&run), "--data", s(&dir.join("data")), "--threads", "1", "--random-init"]);
    assert!(out.contains("random r3d-18"), "{out}");
    let out = ok(&["video-eval", "--run", s(&run), "--data", s(&dir.join("data")), "--threads", "1", "--raw-pixels"]);
    assert!(out.contains("raw pixels: kNN") && run.join("eval-raw-pixels.json").exists(), "{out}");
    fails(&["video-eval", "--run", s(&dir.join("data")), "--data", s(&dir.join("data"))], "no checkpoint found");
    fails(&["video-pretrain", "--data", s(&dir.join("nowhere")), "--out", s(&dir.join("run2"))], "no such folder");
}

#[test]
fn video_baseline_writes_its_table() {
    let dir = tmp("video-baseline");
    dot_videos(&dir.join("data"));
    let doc = dir.join("vb.md");
    let out = ok(&[
        "video-baseline",
        "--data",
        s(&dir.join("data")),
        "--width",
        "4",
        "--frames",
        "4",
        "--stride",
        "2",
        "--size",
        "16",
        "--batch",
        "4",
        "--steps",
        "2",
        "--seeds",
        "1",
        "--threads",
        "1",
        "--out",
        s(&dir.join("runs")),
        "--doc",
        s(&doc),
    ]);
    let md = std::fs::read_to_string(&doc).unwrap();
    for row in [
        "| raw pixels (centre clip, flattened) |",
        "| random r3d-18 (width 4) |",
        "| moco-v2 pre-trained, 2 steps |",
        "| supervised r3d-18 on the labels (upper reference), 2 steps |",
    ] {
        assert!(md.contains(row), "{row} missing:\n{md}\n{out}");
    }
    assert!(md.contains("12 training and 4 test videos, 2 classes") && md.contains("Chance is 50.0%"), "{md}");
    // Loss curves and retrieval strips beside the report: two query blocks (one per class) of
    // four rows (query, three neighbours) of 4 frames of 16 px.
    assert!(md.contains("img/video-baseline-data-loss.png") && md.contains("Block 2: query"), "{md}");
    assert!(dir.join("img/video-baseline-data-loss.png").exists());
    let strip = image::open(dir.join("img/video-baseline-data-retrieval.png")).unwrap();
    assert_eq!((strip.width(), strip.height()), (4 * 18, 2 * (4 * 18 + 6)));
    assert!(md.contains("queue 1024") && md.contains("--preset cpu"), "{md}");
    assert!(md.contains("each clip augmented as one: crops of 50-100% of the frame, flips with p 0, SimCLR's"), "{md}");
    // The GPU configuration with its sizes overridden to run here: its queue, its name.
    let gpu_doc = dir.join("vb-gpu.md");
    ok(&[
        "video-baseline",
        "--preset",
        "gpu",
        "--data",
        s(&dir.join("data")),
        "--width",
        "4",
        "--frames",
        "4",
        "--size",
        "16",
        "--batch",
        "4",
        "--steps",
        "1",
        "--seeds",
        "1",
        "--threads",
        "1",
        "--out",
        s(&dir.join("runs-gpu")),
        "--doc",
        s(&gpu_doc),
    ]);
    let md = std::fs::read_to_string(&gpu_doc).unwrap();
    assert!(md.contains("queue 4096") && md.contains("--preset gpu") && md.contains("1 steps of 4 videos"), "{md}");
    fails(&["video-baseline", "--data", s(&dir.join("none")), "--steps", "2"], "no such folder");
    fails(&["video-baseline", "--data", s(&dir.join("data")), "--frames", "8", "--stride", "2", "--steps", "2"], "a clip needs 15");
}
