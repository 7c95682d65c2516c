//! The larger configurations for a GPU under experiments/configs/ parse, validate and build.
use ssl_audio::mulap::pipeline::MulapPretrainConfig;
use ssl_audio::speaker::SpeakerPretrainConfig;
use std::path::Path;

fn config(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/configs").join(name)
}

#[test]
fn the_gpu_configurations_are_valid_and_larger_than_the_defaults() {
    let m: MulapPretrainConfig = ssl_core::config::read_toml(&config("mulap-gpu.toml")).unwrap();
    m.validate().unwrap();
    assert_eq!((m.model.bins, m.model.d_model, m.model.audio_layers, m.device.as_str()), (96, 256, 6, "cuda"));
    assert!(m.train.steps > MulapPretrainConfig::default().train.steps);
    // The model builds at that size (on the CPU here).
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    ssl_audio::mulap::Mulap::new(&vs.root(), &m.model, 2000).unwrap();

    let s: SpeakerPretrainConfig = ssl_core::config::read_toml(&config("speaker-gpu.toml")).unwrap();
    s.validate().unwrap();
    assert_eq!((s.model.backbone.width, s.segments.num_bins, s.sample_rate), (512, 80, 16000));
    assert!(s.train.batch_size > SpeakerPretrainConfig::default().train.batch_size);
}
