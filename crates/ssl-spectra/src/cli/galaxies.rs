//! DESOM-2 on generated galaxies: spaxels of galaxies of four kinds (mixtures of real SSP
//! model spectra) are mapped by DESOM-1; each galaxy's fingerprint (histogram over the
//! nodes) is mapped by a second map; galaxies of the same kind should land together.
use anyhow::{Context, Result};
use clap::Parser;
use ssl_spectra::fingerprint::{fingerprints, second_map, GroupingReport};
use ssl_spectra::generate::{generate_galaxies, load_ssps, GalaxyConfig, KINDS};
use ssl_spectra::pipeline::{fit_set, FitConfig, MapKind};
use ssl_spectra::preprocess::prepare;
use ssl_spectra::som::MapShape;
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Parser, Debug)]
pub struct Args {
    #[arg(long, default_value = "datasets/cache/spectra/ssp")]
    pub ssp: PathBuf,
    #[arg(long, default_value = "runs/spectra-galaxies")]
    pub out: PathBuf,
    #[arg(long, default_value = "docs/spectra-galaxies.md")]
    pub doc: PathBuf,
    #[arg(long, default_value_t = 8)]
    pub galaxies_per_kind: usize,
    #[arg(long, default_value_t = 60)]
    pub spaxels: usize,
    #[arg(long, default_value_t = 1500)]
    pub steps: usize,
    #[arg(long, default_value_t = 400)]
    pub pretrain_steps: usize,
    #[arg(long, default_value_t = 10)]
    pub map_size: usize,
    #[arg(long, default_value_t = 4)]
    pub second_map_size: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value = "auto")]
    pub device: String,
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(a: Args) -> Result<()> {
    let (wave, ssps) = load_ssps(&a.ssp)?;
    let mut gcfg = GalaxyConfig::default();
    (gcfg.galaxies_per_kind, gcfg.spaxels, gcfg.seed) = (a.galaxies_per_kind, a.spaxels, a.seed);
    let (raw, labels) = generate_galaxies(&wave, &ssps, &gcfg)?;
    let mut cfg = FitConfig::default();
    cfg.device = a.device.clone();
    cfg.preprocess.grid = vec![3600.0, 7400.0, 5.0];
    cfg.shape = MapShape { rows: a.map_size, cols: a.map_size };
    cfg.train.steps = a.steps;
    cfg.train.seed = a.seed;
    cfg.train.progress = !a.quiet;
    cfg.desom.pretrain_steps = a.pretrain_steps;
    cfg.som.seed = a.seed;
    let set = prepare(&raw, &cfg.preprocess)?;
    let galaxy: Vec<usize> = labels.iter().map(|l| l.0).collect();
    let mut kind_of = vec![0; labels.iter().map(|l| l.0).max().unwrap_or(0) + 1];
    labels.iter().for_each(|(g, k)| kind_of[*g] = *k);
    let shape2 = MapShape { rows: a.second_map_size, cols: a.second_map_size };
    let mut rows: Vec<(String, GroupingReport)> = Vec::new();
    for (label, kind) in [("DESOM-1 -> fingerprints -> map-2", MapKind::Desom), ("classic SOM-1 -> fingerprints -> map-2", MapKind::Som)] {
        let mut c = cfg.clone();
        c.map = kind;
        c.out = a.out.join(if kind == MapKind::Desom { "desom1" } else { "som1" });
        if c.out.exists() {
            std::fs::remove_dir_all(&c.out).with_context(|| format!("cannot clear {}", c.out.display()))?;
        }
        let map = fit_set(&c, &set, ssl_core::device::parse_device(&c.device)?, false)?;
        let (nodes, _, _) = map.place(&set)?;
        let (fp, ids) = fingerprints(&nodes, &galaxy, map.shape.nodes())?;
        let kinds: Vec<usize> = ids.iter().map(|g| kind_of[*g]).collect();
        rows.push((label.to_string(), second_map(&fp, &kinds, shape2, a.seed)?));
    }
    let mut md = String::new();
    writeln!(md, "# DESOM-2: grouping generated galaxies by their fingerprints\n")?;
    writeln!(md, "Generated data: {} galaxies ({} per kind: {}) of {} spaxels each. Every spaxel mixes three real MIUSCAT single-stellar-population model spectra (sdss-mangadap 4.5.0) drawn from its kind's age / [M/H] range (outer spaxels weight the youngest more), with power-law dust, Gaussian velocity dispersion (1-4 px) and noise (S/N 10-40); rebinned to 3600-7400 Å in 5 Å steps and median-normalised. Map-1 is {}x{} ({} steps, {} autoencoder-only, for DESOM); a galaxy's fingerprint is the normalised histogram of its spaxels over map-1's nodes; map-2 is a {}x{} SOM over fingerprints.\n",
        kind_of.len(), a.galaxies_per_kind, KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", "), a.spaxels, a.map_size, a.map_size, a.steps, a.pretrain_steps, a.second_map_size, a.second_map_size)?;
    writeln!(md, "Command: `cargo run --release -p ssl-spectra -- experiment-galaxies --steps {} --pretrain-steps {}`\n", a.steps, a.pretrain_steps)?;
    writeln!(md, "| pipeline | kind purity of map-2 nodes | NMI(map-2 node, kind) | nearest-fingerprint same kind |\n|---|---|---|---|")?;
    for (label, r) in &rows {
        writeln!(md, "| {label} | {:.3} | {:.3} | {:.3} |", r.purity, r.nmi, r.nearest_neighbour_agreement)?;
    }
    writeln!(md, "\nChance level for four equally frequent kinds: purity and nearest-neighbour agreement 0.25, NMI 0.")?;
    if let Some(dir) = a.doc.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&a.doc, &md).with_context(|| format!("cannot write {}", a.doc.display()))?;
    println!("{md}");
    Ok(())
}
