//! `ssl-vision`: self-supervised pre-training and evaluation of image encoders.
mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "ssl-vision", version, about = "Self-supervised learning for images: pre-train, evaluate, benchmark")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pre-train an encoder on unlabelled images with a self-supervised method.
    Pretrain(cli::pretrain::Args),
    /// Evaluate a pre-trained (or randomly initialised) encoder: kNN and linear probe.
    Eval(cli::eval::Args),
    /// List the methods (with their options and defaults) and the backbones.
    Methods,
    /// The main job: pre-train SimCLR and BYOL on Fashion-MNIST, compare with raw pixels and random encoders.
    Demo(cli::demo::Args),
    /// Train every objective with one backbone and budget; write the comparison table.
    ObjectivesTable(cli::table::Args),
    /// Accuracy against pre-training budget: one run per budget, a table and a plot.
    BudgetCurve(cli::budget::Args),
    /// SwAV multi-crop with and without UOTA view weighting, on clean views and with outlier local crops.
    UotaExperiment(cli::uota::Args),
    /// Open a folder of videos (frame folders), draw batches of clip views, report them and
    /// draw the first as frame strips.
    Clips(cli::clips::Args),
    /// Write the generated motion benchmark: real objects moving over real clips, eight motion
    /// classes; plain, static-bias and cross-view splits.
    MotionBenchmark(cli::motion_benchmark::Args),
    /// Pre-train a video encoder on a folder of videos (any method on a 3-D backbone;
    /// --ssvc, --viewclr); resumable.
    VideoPretrain(cli::video_pretrain::Args),
    /// Evaluate a video run's encoder (or random weights, or raw pixels) on a labelled split:
    /// kNN, linear probe, retrieval recall@k.
    VideoEval(cli::video_eval::Args),
    /// Video pre-training (a method on a 3-D backbone) against raw pixels and random encoders
    /// on a labelled video folder: kNN, linear probe, retrieval recall@k.
    VideoBaseline(cli::video_baseline::Args),
    /// A video method against its baseline on the split that tests its claim, over seeds:
    /// ssvc (static-bias), viewclr (cross-view), stc-mix (25/50/100 % of the videos).
    VideoExperiment(cli::video_experiment::Args),
    /// Throughput against PyTorch / torchvision from the same virtual environment.
    Bench(cli::bench::Args),
}

fn main() -> ExitCode {
    ssl_core::cli::passive_openmp_waits();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Pretrain(a) => cli::pretrain::run(a),
        Command::Eval(a) => cli::eval::run(a),
        Command::Methods => {
            print!("{}", ssl_vision::registry().listing());
            Ok(())
        }
        Command::Demo(a) => cli::demo::run(a),
        Command::ObjectivesTable(a) => cli::table::run(a),
        Command::BudgetCurve(a) => cli::budget::run(a),
        Command::UotaExperiment(a) => cli::uota::run(a),
        Command::Clips(a) => cli::clips::run(a),
        Command::MotionBenchmark(a) => cli::motion_benchmark::run(a),
        Command::VideoPretrain(a) => cli::video_pretrain::run(a),
        Command::VideoEval(a) => cli::video_eval::run(a),
        Command::VideoBaseline(a) => cli::video_baseline::run(a),
        Command::VideoExperiment(a) => cli::video_experiment::run(a),
        Command::Bench(a) => cli::bench::run(a),
    };
    ssl_core::cli::exit_code(result)
}
