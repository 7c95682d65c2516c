//! `ssl-audio`: audio data, Kaldi-compatible features and audio self-supervision.
mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "ssl-audio", version, about = "Audio data, Kaldi-compatible features, audio SSL")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a folder (one sub-folder per speaker or class) or CSV of recordings and summarise it.
    Inspect(cli::inspect::Args),
    /// Compute log mel filterbanks or MFCC of recordings into a safetensors file.
    Features(cli::features::Args),
    /// Feature throughput against kaldi-native-fbank and torchaudio on the same recordings.
    BenchFeatures(cli::bench::Args),
    /// The speaker training step (SSReg, ECAPA-TDNN) against the same step in PyTorch.
    BenchSpeakerStep(cli::bench_step::Args),
    /// Render the music catalogue's MIDI files to WAV with a soundfont (datasets/fetch-music.sh).
    RenderMusic(cli::render_music::Args),
    /// Pre-train MuLaP (or its audio-only contrastive baseline) on rendered tunes.
    MulapPretrain(cli::mulap_pretrain::Args),
    /// MuLaP vs audio-only contrastive vs no learning on held-out tune attributes (docs/mulap.md).
    MulapExperiment(cli::mulap_experiment::Args),
    /// List the registered methods (with their options) and backbones.
    Methods,
    /// Pre-train a speaker encoder on unlabelled recordings (SSReg by default).
    Pretrain(cli::pretrain::Args),
    /// Write a verification trial list (target / non-target pairs) over a folder of speakers.
    Trials(cli::trials::Args),
    /// EER and minDCF of a trained encoder on a trial list; exports the embeddings.
    Verify(cli::verify::Args),
    /// Contrastive vs contrastive + SSReg vs SSReg alone over seeds, with baselines, into docs/.
    SsregExperiment(cli::ssreg_experiment::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The benchmark runs its side and the Python references under the same (OpenMP's
    // default) wait policy; every other command lets idle threads sleep.
    if !matches!(cli.command, Command::BenchFeatures(_) | Command::BenchSpeakerStep(_)) {
        ssl_core::cli::passive_openmp_waits();
    }
    let result = match cli.command {
        Command::Inspect(a) => cli::inspect::run(a),
        Command::Features(a) => cli::features::run(a),
        Command::BenchFeatures(a) => cli::bench::run(a),
        Command::BenchSpeakerStep(a) => cli::bench_step::run(a),
        Command::RenderMusic(a) => cli::render_music::run(a),
        Command::MulapPretrain(a) => cli::mulap_pretrain::run(a),
        Command::MulapExperiment(a) => cli::mulap_experiment::run(a),
        Command::Methods => {
            print!("{}", ssl_audio::registry::registry().listing());
            Ok(())
        }
        Command::Pretrain(a) => cli::pretrain::run(a),
        Command::Trials(a) => cli::trials::run(a),
        Command::Verify(a) => cli::verify::run(a),
        Command::SsregExperiment(a) => cli::ssreg_experiment::run(a),
    };
    ssl_core::cli::exit_code(result)
}
