use anyhow::{Context, Result};
use clap::Parser;
use ssl_spectra::pipeline::{load_map, load_prepared, read_nodes, FittedMap};
use ssl_spectra::spectra::SpectraSet;
use std::fmt::Write;
use std::path::PathBuf;

/// A fitted map and the spectra to put on it (flags shared by several commands).
#[derive(clap::Args, Debug)]
pub struct MapAndData {
    /// A folder written by `fit`.
    #[arg(long)]
    pub run: PathBuf,
    /// Spectra (preprocessed as the map's config says).
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long)]
    pub device: Option<String>,
    /// Leave out unreadable files and spectra with too many bad pixels (each reported)
    /// instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
}

impl MapAndData {
    pub fn load(&self) -> Result<(FittedMap, SpectraSet)> {
        let map = load_map(&self.run, self.device.as_deref())?;
        let mut pre = map.config.preprocess.clone();
        pre.skip_bad = self.skip_bad;
        let set = load_prepared(&self.data, &pre)?;
        Ok((map, set))
    }
}

#[derive(Parser, Debug)]
pub struct Args {
    #[command(flatten)]
    pub input: MapAndData,
    /// CSV to write (name,node,row,col,distance); printed when absent.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    let (map, set) = a.input.load()?;
    let (nodes, dist, q) = map.place(&set)?;
    let mut csv = String::from("name,node,row,col,distance\n");
    for (i, (n, d)) in nodes.iter().zip(&dist).enumerate() {
        let (r, c) = map.shape.position(*n);
        writeln!(csv, "{},{n},{r},{c},{d:.6}", set.names[i])?;
    }
    emit(&a.out, &csv)?;
    eprintln!("{} spectra: quantization error {:.4}, topographic error {:.4}", set.len(), q.quantization_error, q.topographic_error);
    Ok(())
}

fn emit(out: &Option<PathBuf>, text: &str) -> Result<()> {
    match out {
        Some(p) => std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

#[derive(Parser, Debug)]
pub struct PredictArgs {
    #[command(flatten)]
    pub input: MapAndData,
    /// CSV to write (name,node,<q>_median,<q>_p16,<q>_p84,...); printed when absent.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn predict(a: PredictArgs) -> Result<()> {
    let (map, set) = a.input.load()?;
    let nodes = read_nodes(&a.input.run)?;
    let (bmus, _, _) = map.place(&set)?;
    let mut csv = String::from("name,node");
    for q in &nodes.quantities {
        write!(csv, ",{q}_median,{q}_p16,{q}_p84,{q}_count")?;
    }
    csv.push('\n');
    for (i, b) in bmus.iter().enumerate() {
        write!(csv, "{},{b}", set.names[i])?;
        for e in nodes.estimate(*b) {
            write!(csv, ",{:.4},{:.4},{:.4},{}", e.median, e.low, e.high, e.count)?;
        }
        csv.push('\n');
    }
    emit(&a.out, &csv)
}
