//! `ssl-audio verify`: EER and minDCF of a trained speaker encoder on a trial list, with
//! bootstrap intervals, and the embeddings exported.
use anyhow::{bail, Context, Result};
use clap::Parser;
use ssl_audio::io::{read_audio, resample};
use ssl_audio::speaker::{embed, encoder_input, load_trained, score_trials, TrialList};
use ssl_core::eval::{export_embeddings, verification_report, DcfParams};
use std::path::PathBuf;

#[derive(Parser, Debug)]
pub struct Args {
    /// A speaker pre-training run folder (`ssl-audio pretrain --out`).
    #[arg(long)]
    pub run: PathBuf,
    /// The folder the trial list's paths are relative to.
    #[arg(long)]
    pub data: PathBuf,
    /// The trial list (`ssl-audio trials`, or VoxCeleb's format).
    #[arg(long)]
    pub trials: PathBuf,
    /// Resample recordings at another rate than the encoder's (otherwise an error).
    #[arg(long)]
    pub resample: bool,
    /// Write features.npy (one embedding per recording) and names.txt into this folder.
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// Write `det.svg` (the detection error trade-off) and `embeddings.svg` (the first two
    /// principal components, coloured by the recordings' first folder) into this folder.
    #[arg(long)]
    pub plots: Option<PathBuf>,
    /// Write the report as JSON here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Bootstrap resamples of the trials for the 95% intervals.
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    /// Prior of a target trial in the detection cost.
    #[arg(long, default_value_t = 0.01)]
    pub p_target: f64,
    #[arg(long, default_value = "auto")]
    pub device: String,
}

pub fn run(a: Args) -> Result<()> {
    let device = ssl_core::device::setup_runtime(&a.device, 0)?;
    let trials = TrialList::read(&a.trials)?;
    let enc = load_trained(&a.run, device)?;
    let rate = enc.config.sample_rate;
    let fbank = enc.config.fbank()?;
    let names = trials.recordings();
    let mut inputs = Vec::with_capacity(names.len());
    for name in &names {
        let path = a.data.join(name);
        let wave = read_audio(&path).with_context(|| format!("a recording of the trial list {}", a.trials.display()))?;
        if wave.peak() == 0.0 {
            bail!("{}: the recording is silent (every sample is 0)", path.display());
        }
        let wave = if wave.sample_rate == rate {
            wave
        } else if a.resample {
            resample(&wave, rate).with_context(|| path.display().to_string())?
        } else {
            bail!("{}: the recording is at {} Hz but the encoder was trained at {rate} Hz (pass --resample to resample it)", path.display(), wave.sample_rate);
        };
        inputs.push(encoder_input(&fbank, &wave, &path.display().to_string())?);
    }
    let embeddings = embed(enc.method.backbone(), &inputs, device);
    let scored = score_trials(&trials, &names, &embeddings)?;
    let report =
        verification_report(&scored.target, &scored.nontarget, DcfParams::with_p_target(a.p_target), a.bootstrap, 0.95, &mut ssl_core::seed::rng(&[0]))?;
    println!(
        "{} ({} steps) on {} ({} target, {} non-target trials): EER {:.2}% [{:.2}, {:.2}], minDCF(p={}) {:.3} [{:.3}, {:.3}]",
        a.run.display(),
        enc.step,
        a.trials.display(),
        report.trials.0,
        report.trials.1,
        100.0 * report.eer.value,
        100.0 * report.eer.low,
        100.0 * report.eer.high,
        a.p_target,
        report.min_dcf.value,
        report.min_dcf.low,
        report.min_dcf.high
    );
    if let Some(dir) = &a.export {
        export_embeddings(dir, &embeddings, None)?;
        ssl_core::config::write_atomically(&dir.join("names.txt"), (names.join("\n") + "\n").as_bytes())?;
        println!("embeddings: {} ({} x {})", dir.display(), names.len(), embeddings.size()[1]);
    }
    if let Some(dir) = &a.plots {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let title = format!("{} on {}", a.run.display(), a.trials.display());
        let curve = ssl_core::eval::det_curve(&scored.target, &scored.nontarget)?;
        ssl_core::plots::det_plot(&dir.join("det.svg"), &title, &[(format!("EER {:.2}%", 100.0 * report.eer.value), curve)])?;
        let (labels, speakers) = speaker_labels(&names);
        ssl_core::plots::pca_scatter(&dir.join("embeddings.svg"), &title, &embeddings, &labels, &speakers)?;
        println!("plots: {} (det.svg, embeddings.svg)", dir.display());
    }
    if let Some(path) = &a.report {
        ssl_core::config::write_atomically(path, serde_json::to_string_pretty(&report)?.as_bytes())?;
    }
    Ok(())
}

/// A label per recording from the first folder of its trial-list path (the speaker in
/// VoxCeleb's layout and ours), in order of first appearance.
fn speaker_labels(names: &[String]) -> (Vec<i64>, Vec<String>) {
    let mut speakers: Vec<String> = Vec::new();
    let labels = names
        .iter()
        .map(|n| {
            let speaker = n.split('/').next().filter(|_| n.contains('/')).unwrap_or("").to_string();
            match speakers.iter().position(|s| *s == speaker) {
                Some(i) => i as i64,
                None => {
                    speakers.push(speaker);
                    speakers.len() as i64 - 1
                }
            }
        })
        .collect();
    (labels, speakers)
}
