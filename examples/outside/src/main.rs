//! Fits a small DESOM (ssl-spectra) on two kinds of generated spectra, then asks
//! ssl-core's weighted kNN how well the learned map coordinates separate the kinds.
use anyhow::{ensure, Result};
use ssl_core::eval::{knn_accuracy, KnnConfig};
use ssl_spectra::pipeline::{fit_set, tensors, FitConfig};
use ssl_spectra::som::MapShape;
use ssl_spectra::spectra::SpectraSet;
use tch::{Device, Tensor};

/// `n` spectra of 64 pixels: a continuum with an absorption line at 4200 Å (kind 0)
/// or 4600 Å (kind 1), plus noise.
fn spectra(n: usize) -> Result<(SpectraSet, Vec<i64>)> {
    let wave: Vec<f64> = (0..64).map(|i| 4000.0 + 10.0 * i as f64).collect();
    let (mut flux, mut kinds) = (Vec::new(), Vec::new());
    for i in 0..n {
        let (kind, line) = if i % 2 == 0 { (0, 4200.0) } else { (1, 4600.0) };
        let noise = |j: usize| 0.02 * (((i * 64 + j) as f64 * 12.9898).sin() * 43758.5453).fract();
        flux.extend(wave.iter().enumerate().map(|(j, w)| (1.0 - 0.5 * (-((w - line) / 40.0).powi(2)).exp() + noise(j)) as f32));
        kinds.push(kind);
    }
    let names = (0..n).map(|i| format!("s{i}")).collect();
    let set = SpectraSet::new("generated".into(), wave, flux, vec![1.0; n * 64], names)?;
    Ok((set, kinds))
}

fn main() -> Result<()> {
    let out = std::env::temp_dir().join(format!("outside-example-{}", std::process::id()));
    let mut cfg = FitConfig::default();
    cfg.out = out.clone();
    cfg.shape = MapShape { rows: 3, cols: 3 };
    cfg.desom.hidden = vec![32];
    cfg.desom.latent = 4;
    cfg.desom.pretrain_steps = 20;
    cfg.train.steps = 60;
    cfg.train.batch_size = 32;
    cfg.train.progress = false;
    let device = ssl_core::device::setup_runtime("cpu", 2)?;
    let (train, train_kinds) = spectra(128)?;
    let (test, test_kinds) = spectra(64)?;
    let map = fit_set(&cfg, &train, device, ssl_core::train::Resume::No)?;
    let embed = |set: &SpectraSet| map.embed(&tensors(set, Device::Cpu).0);
    let knn = KnnConfig::new(10, 0.1);
    let (train_y, test_y) = (Tensor::from_slice(&train_kinds), Tensor::from_slice(&test_kinds));
    let accuracy = knn_accuracy(&embed(&train), &train_y, &embed(&test), &test_y, knn)?;
    std::fs::remove_dir_all(&out)?;
    println!("kNN accuracy of the map coordinates: {:.1}%", 100.0 * accuracy);
    ensure!(accuracy > 0.9, "the map does not separate the two kinds of spectra ({accuracy})");
    Ok(())
}
