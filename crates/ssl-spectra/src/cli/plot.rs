use anyhow::{Context, Result};
use clap::Parser;
use ssl_spectra::pipeline::{load_map, load_prepared, read_nodes};
use ssl_spectra::plots::{grid_heatmap, prototype_spectra, u_matrix};
use std::path::PathBuf;
use tch::Tensor;

#[derive(Parser, Debug)]
pub struct Args {
    #[arg(long)]
    pub run: PathBuf,
    /// Spectra for the hit map (e.g. the training data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Folder for the PNGs (default: the run folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub device: Option<String>,
    /// Leave out unreadable files and spectra with too many bad pixels of `--data` (each
    /// reported) instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
}

fn rows(t: &Tensor) -> Result<Vec<Vec<f32>>> {
    let t = t.to_device(tch::Device::Cpu).to_kind(tch::Kind::Float);
    let n = t.size()[0];
    (0..n).map(|i| Vec::<f32>::try_from(t.get(i)).context("prototype row")).collect()
}

pub fn run(a: Args) -> Result<()> {
    let map = load_map(&a.run, a.device.as_deref())?;
    let out = a.out.clone().unwrap_or_else(|| a.run.clone());
    std::fs::create_dir_all(&out)?;
    let protos = rows(&map.prototypes)?;
    grid_heatmap(&out.join("u-matrix.png"), "U-matrix (mean distance to neighbours)", map.shape, &u_matrix(map.shape, &protos))?;
    let spectra = match &map.desom {
        Some((_, d)) => rows(&d.decoded_prototypes())?,
        None => protos,
    };
    prototype_spectra(&out.join("prototypes.png"), "Prototype spectra per node", map.shape, &map.wave, &spectra)?;
    if let Some(data) = &a.data {
        let mut pre = map.config.preprocess.clone();
        pre.skip_bad = a.skip_bad;
        let set = load_prepared(data, &pre)?;
        let (bmus, _, _) = map.place(&set)?;
        let mut hits = vec![0f64; map.shape.nodes()];
        bmus.iter().for_each(|b| hits[*b] += 1.0);
        grid_heatmap(&out.join("hits.png"), &format!("Hit map ({} spectra)", set.len()), map.shape, &hits)?;
    }
    if a.run.join("nodes.json").exists() {
        let nodes = read_nodes(&a.run)?;
        for (q, plane) in nodes.quantities.iter().zip(nodes.planes()) {
            grid_heatmap(&out.join(format!("component-{q}.png")), &format!("Component plane: median {q}"), map.shape, &plane)?;
        }
    }
    println!("plots written to {}", out.display());
    Ok(())
}
