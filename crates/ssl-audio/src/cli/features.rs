//! Features of every recording of a folder / CSV (or of one file) into safetensors.
use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use ssl_audio::data::{read_audio_set, read_for_set};
use ssl_audio::features::{Fbank, FbankOptions, Features, Mfcc, MfccOptions};
use ssl_core::config::{write_atomically, write_atomically_with};
use ssl_core::data::FolderListing;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Kind {
    Fbank,
    Mfcc,
}

#[derive(Parser, Debug)]
pub struct Args {
    /// One audio file, a folder (one sub-folder per speaker or class, or flat), or a CSV
    /// with `path` and `label` columns.
    #[arg(long)]
    pub input: PathBuf,
    /// The safetensors file to write: one `[frames, dim]` tensor per recording, named by
    /// its path under the input; a `.json` beside it holds labels and options.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = Kind::Fbank)]
    pub kind: Kind,
    /// Sample rate of the features (recordings are resampled to it).
    #[arg(long, default_value_t = 16000)]
    pub rate: u32,
    /// Mel bands (Kaldi's default is 23; 80 is common for speaker models).
    #[arg(long)]
    pub num_bins: Option<i64>,
    /// Gaussian dither in 16-bit sample units (Kaldi's default 1.0; 0 is deterministic).
    #[arg(long, default_value_t = 0.0)]
    pub dither: f64,
    /// A TOML file of Kaldi options (the fields of `FbankOptions` / `MfccOptions`);
    /// the flags above override its rate, bands and dither.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// cpu, cuda, cuda:N (default: CUDA when present).
    #[arg(long)]
    pub device: Option<String>,
    /// Leave out recordings that cannot be used (each reported) instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
}

fn read_config<T: serde::de::DeserializeOwned + serde::Serialize + Default>(path: &Option<PathBuf>) -> Result<T> {
    path.as_deref().map_or_else(|| Ok(T::default()), ssl_core::config::read_toml)
}

/// The extractor the flags ask for, and its options as JSON for the sidecar.
fn extractor(a: &Args) -> Result<(Box<dyn Features>, serde_json::Value)> {
    let rate = f64::from(a.rate);
    Ok(match a.kind {
        Kind::Fbank => {
            let mut o: FbankOptions = read_config(&a.config)?;
            o.frame.sample_rate = rate;
            o.frame.dither = a.dither;
            if let Some(n) = a.num_bins {
                o.mel.num_bins = n;
            }
            let json = serde_json::to_value(&o)?;
            (Box::new(Fbank::new(o)?), json)
        }
        Kind::Mfcc => {
            let mut o: MfccOptions = read_config(&a.config)?;
            o.frame.sample_rate = rate;
            o.frame.dither = a.dither;
            if let Some(n) = a.num_bins {
                o.mel.num_bins = n;
            }
            let json = serde_json::to_value(&o)?;
            (Box::new(Mfcc::new(o)?), json)
        }
    })
}

pub fn run(a: Args) -> Result<()> {
    let device = ssl_core::device::setup_runtime(a.device.as_deref().unwrap_or("auto"), 0)?;
    let (features, options) = extractor(&a)?;
    if a.out.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        bail!("{}: the features cannot be a .json file (the labels and options go to a .json beside them)", a.out.display());
    }
    if !a.input.exists() {
        bail!("{}: no such file or folder", a.input.display());
    }
    let single = a.input.is_file() && !a.input.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let (names, waves, labels, class_names) = if single {
        let wave = read_for_set(&a.input, a.rate)?;
        let name = a.input.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        (vec![name], vec![wave], None, vec![])
    } else {
        let set = read_audio_set(&a.input, a.rate, a.skip_bad)?;
        let names = set.listing.files.iter().map(|p| relative_name(&set.listing, p)).collect();
        let FolderListing { labels, class_names, .. } = set.listing;
        (names, set.waves, labels, class_names)
    };
    let mut tensors = Vec::with_capacity(waves.len());
    let mut frames = 0;
    for (name, wave) in names.iter().zip(&waves) {
        let f = features.waveform(wave, device).with_context(|| name.clone())?.to_device(tch::Device::Cpu);
        frames += f.size()[0];
        tensors.push((name.clone(), f));
    }
    write_atomically_with(&a.out, |tmp| Ok(tch::Tensor::write_safetensors(&tensors, tmp)?))?;
    let sidecar = serde_json::json!({
        "kind": format!("{:?}", a.kind).to_lowercase(),
        "dim": features.dim(),
        "options": options,
        "names": names,
        "labels": labels,
        "class_names": class_names,
    });
    let json_path = a.out.with_extension("json");
    write_atomically(&json_path, serde_json::to_string_pretty(&sidecar)?.as_bytes())?;
    eprintln!("{} recordings, {frames} frames of {} values -> {} (+ {})", names.len(), features.dim(), a.out.display(), json_path.display());
    Ok(())
}

/// A recording's name in the output: its path under the listing's root, with `/`.
fn relative_name(listing: &FolderListing, path: &Path) -> String {
    let rel = path.strip_prefix(&listing.root).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}
