//! Across crates: a ResNet-18 pre-trained through `ssl-vision`'s pipeline exports a
//! backbone whose safetensors file rebuilds the same encoder from `ssl-core` alone (the
//! way a downstream user or PyTorch loads it by name), giving identical features.
use ssl_e2e_tests::{random_rgb_images, temp_dir};
use ssl_vision::config::PretrainConfig;
use ssl_vision::pipeline::{build, features};
use std::collections::HashMap;
use tch::{nn, Device, Tensor};

#[test]
fn exported_backbone_rebuilds_the_encoder_by_name() {
    let dir = temp_dir("export");
    let set = random_rgb_images(16, 3);
    let mut cfg = PretrainConfig::default().with_method("byol").with_out(dir.join("run"));
    cfg.device = "cpu".into();
    cfg.model.backbone.kind = "resnet18".into();
    cfg.model.projector_hidden = 32;
    cfg.model.projector_dim = 16;
    cfg.model.predictor_hidden = 32;
    cfg.train.steps = 2;
    cfg.train.batch_size = 8;
    cfg.train.progress = false;
    // The library entry point reads images from disk: write them as an ImageFolder.
    let imgs = dir.join("images");
    std::fs::create_dir_all(&imgs).unwrap();
    for i in 0..set.n {
        let chw = set.image(i);
        let hwc: Vec<u8> = (0..32 * 32).flat_map(|p| (0..3).map(move |c| chw[c * 1024 + p])).collect();
        image::RgbImage::from_raw(32, 32, hwc).unwrap().save(imgs.join(format!("{i:03}.png"))).unwrap();
    }
    cfg.data = Some(imgs.clone());
    let summary = ssl_vision::pipeline::pretrain(&cfg, false).unwrap();
    let exported: HashMap<String, Tensor> = Tensor::read_safetensors(summary.checkpoint.join("backbone.safetensors")).unwrap().into_iter().collect();
    assert!(exported.contains_key("layer4.1.bn2.running_var") && exported.contains_key("conv1.weight"));
    assert!(!exported.keys().any(|k| k.starts_with("projector") || k.starts_with("predictor")));

    // The encoder as the pipeline evaluates it ...
    let loaded = ssl_vision::data::read_image_folder(&imgs, false).unwrap();
    let (vs, method) = build(&cfg, &loaded, Device::Cpu).unwrap();
    ssl_core::train::load_latest_weights(&cfg.out, &vs).unwrap();
    let want = features(method.as_ref(), &loaded, &cfg, 8, Device::Cpu).unwrap();
    // ... and rebuilt from the exported file alone.
    let fresh = nn::VarStore::new(Device::Cpu);
    let mut bcfg = cfg.model.backbone.clone();
    bcfg.in_channels = 3;
    let backbone = ssl_core::Registry::core().build_backbone(&fresh.root(), &bcfg).unwrap();
    ssl_core::method::restore_named("exported backbone", &fresh.variables(), &exported).unwrap();
    let x = loaded.to_tensor(&[0.5, 0.5, 0.5], &[0.5, 0.5, 0.5]).unwrap();
    let got = tch::no_grad(|| backbone.forward_t(&x, false));
    assert!(got.allclose(&want, 1e-5, 1e-5, false), "rebuilt encoder gives different features");
    torchvision_loads_it(&summary.checkpoint.join("backbone.safetensors"), &x, &got, &dir);
    std::fs::remove_dir_all(&dir).ok();
}

/// Where Python's torch is importable (a venv set up with `SSL_PYTHON_TORCH=1`; the CPU-only
/// route of the test command cannot import it), PyTorch itself loads the file into
/// torchvision's ResNet-18 with `strict=True` and reproduces our features.
fn torchvision_loads_it(backbone: &std::path::Path, x: &Tensor, features: &Tensor, dir: &std::path::Path) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let python = root.join(".venv/bin/python");
    let importable = std::process::Command::new(&python).args(["-c", "import torch, torchvision, safetensors"]).output().is_ok_and(|o| o.status.success());
    if !importable {
        eprintln!("note: Python torch is not importable here; the torchvision cross-check is left to environments set up with SSL_PYTHON_TORCH=1");
        return;
    }
    x.write_npy(dir.join("x.npy")).unwrap();
    features.write_npy(dir.join("features.npy")).unwrap();
    let out = std::process::Command::new(&python)
        .arg(root.join("tests/reference/load_backbone_in_torchvision.py"))
        .args([backbone.to_str().unwrap(), "resnet18", "1", "3"])
        .arg(dir.join("x.npy"))
        .arg(dir.join("features.npy"))
        .output()
        .unwrap();
    assert!(out.status.success(), "torchvision could not load the export: {}", String::from_utf8_lossy(&out.stderr));
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
}
