//! `ssl-spectra`: self-organising maps of spectra with physical quantities.
mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "ssl-spectra", version, about = "Maps of spectra (DESOM, classic SOM), physical quantities, plots")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fit a DESOM (or classic SOM) map to spectra.
    Fit(cli::fit::Args),
    /// Place spectra on a fitted map (node, grid position, distance).
    Map(cli::map::Args),
    /// Read physical quantities (median, 16-84% interval) off the map for new spectra.
    Predict(cli::map::PredictArgs),
    /// Fingerprint objects by the nodes of their spectra; map the fingerprints (DESOM-2).
    Fingerprint(cli::fingerprint::Args),
    /// Draw the U-matrix, hit map, component planes and prototype spectra of a map.
    Plot(cli::plot::Args),
    /// MILES stars: DESOM vs classic SOM vs kNN, held-out Teff / logg / [Fe/H].
    ExperimentMiles(cli::miles::Args),
    /// Generated galaxies: DESOM-1 fingerprints and a second map group galaxies by kind.
    ExperimentGalaxies(cli::galaxies::Args),
    /// SOM throughput (fit and inference) against MiniSom on the same spectra.
    Bench(cli::bench::Args),
    /// List the maps `fit` can train, with their settings and defaults.
    Methods,
}

fn main() -> ExitCode {
    ssl_core::cli::passive_openmp_waits();
    let result = match Cli::parse().command {
        Command::Fit(a) => cli::fit::run(a),
        Command::Map(a) => cli::map::run(a),
        Command::Predict(a) => cli::map::predict(a),
        Command::Fingerprint(a) => cli::fingerprint::run(a),
        Command::Plot(a) => cli::plot::run(a),
        Command::ExperimentMiles(a) => cli::miles::run(a),
        Command::ExperimentGalaxies(a) => cli::galaxies::run(a),
        Command::Bench(a) => cli::bench::run(a),
        Command::Methods => {
            print!("{}", ssl_spectra::pipeline::methods_listing());
            Ok(())
        }
    };
    ssl_core::cli::exit_code(result)
}
