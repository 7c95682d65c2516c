//! `ssl-medical`: medical volumes in, and self-supervision on them.
mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "ssl-medical", version, about = "Medical volumes (NIfTI, DICOM) and their self-supervision")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read a NIfTI file or a DICOM series (folder or file) and describe it: grid, spacing,
    /// orientation, intensities; with --labels, the label map on the same grid.
    Inspect(cli::inspect::Args),
    /// Generate abdominal CT phantoms (HU), their label maps and organ boxes, as NIfTI + JSON.
    Phantom(cli::phantom::Args),
    /// Pre-train a U-Net encoder with Barlow Twins on the axial slices of volumes (no labels).
    Pretrain(cli::pretrain::Args),
    /// Fine-tune a U-Net for segmentation on labelled volumes, from a pre-trained encoder or
    /// from scratch; scores on test volumes.
    Finetune(cli::finetune::Args),
    /// Segment a volume with a fine-tuned U-Net; the label map written as NIfTI on its grid.
    Segment(cli::segment::Args),
    /// Train the box agent on labelled volumes and localise a structure in others; boxes as JSON.
    Localise(cli::localise::Args),
    /// BT-Unet against the same U-Net from scratch at few labels: Dice, IoU, HD95 over seeds,
    /// written to docs/ with an overlay.
    BtUnetExperiment(cli::bt_unet_experiment::Args),
    /// Organ boxes by a deep Q-learning agent bootstrapped by imitation: supervised against
    /// semi-supervised (pseudo-labelled phantoms mixed in), IoU / wall / centroid distances.
    LocaliseExperiment(cli::localise_experiment::Args),
    /// Benchmarks: the U-Net step against PyTorch, NIfTI reading + patches + augmentation
    /// against nibabel + MONAI (scripts/bench.sh installs the references).
    Bench(cli::bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The benchmark runs its side and the Python references under the same (OpenMP's
    // default) wait policy; every other command lets idle threads sleep.
    if !matches!(cli.command, Command::Bench(_)) {
        ssl_core::cli::passive_openmp_waits();
    }
    let result = match cli.command {
        Command::Inspect(a) => cli::inspect::run(a),
        Command::Phantom(a) => cli::phantom::run(a),
        Command::Pretrain(a) => cli::pretrain::run(a),
        Command::Finetune(a) => cli::finetune::run(a),
        Command::Segment(a) => cli::segment::run(a),
        Command::Localise(a) => cli::localise::run(a),
        Command::BtUnetExperiment(a) => cli::bt_unet_experiment::run(a),
        Command::LocaliseExperiment(a) => cli::localise_experiment::run(a),
        Command::Bench(a) => cli::bench::run(a),
    };
    ssl_core::cli::exit_code(result)
}
