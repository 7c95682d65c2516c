//! Fingerprints of objects (e.g. galaxies) from the nodes of their spectra on a fitted
//! map, and a second map over the fingerprints (DESOM-2).
use anyhow::{bail, Context, Result};
use clap::Parser;
use ssl_spectra::fingerprint::{fingerprints, second_map};
use ssl_spectra::som::MapShape;
use std::collections::HashMap;
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Parser, Debug)]
pub struct Args {
    /// A map fitted on individual spectra (DESOM-1), and the spectra.
    #[command(flatten)]
    pub input: super::map::MapAndData,
    /// CSV `name,object[,kind]`: which object each spectrum belongs to (and its kind, if known).
    #[arg(long)]
    pub groups: PathBuf,
    /// CSV to write: object, kind, map-2 node, then the fingerprint.
    #[arg(long)]
    pub out: PathBuf,
    /// Side of the second (square) map.
    #[arg(long, default_value_t = 4)]
    pub map_size: usize,
}

pub fn run(a: Args) -> Result<()> {
    let (map, set) = a.input.load()?;
    let text = std::fs::read_to_string(&a.groups).with_context(|| format!("cannot read {}", a.groups.display()))?;
    let mut group: HashMap<String, (String, Option<String>)> = HashMap::new();
    for (i, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() < 2 {
            bail!("{}: row {} needs name,object[,kind]", a.groups.display(), i + 1);
        }
        group.insert(cells[0].to_string(), (cells[1].to_string(), cells.get(2).map(|s| s.to_string())));
    }
    let (nodes, _, _) = map.place(&set)?;
    let mut object_ids: Vec<String> = Vec::new();
    let (mut spectra_nodes, mut objects) = (Vec::new(), Vec::new());
    for (i, name) in set.names.iter().enumerate() {
        let Some((obj, _)) = group.get(name) else { bail!("{}: spectrum '{name}' has no row (name,object)", a.groups.display()) };
        let id = object_ids.iter().position(|o| o == obj).unwrap_or_else(|| {
            object_ids.push(obj.clone());
            object_ids.len() - 1
        });
        spectra_nodes.push(nodes[i]);
        objects.push(id);
    }
    let (fp, ids) = fingerprints(&spectra_nodes, &objects, map.shape.nodes())?;
    let kind_names: Vec<String> =
        ids.iter().map(|&o| group.values().find(|(g, _)| *g == object_ids[o]).and_then(|(_, k)| k.clone()).unwrap_or_default()).collect();
    let mut kinds_seen: Vec<String> = kind_names.clone();
    kinds_seen.sort();
    kinds_seen.dedup();
    let kinds: Vec<usize> = kind_names.iter().map(|k| kinds_seen.iter().position(|x| x == k).unwrap_or(0)).collect();
    let report = second_map(&fp, &kinds, MapShape { rows: a.map_size, cols: a.map_size }, 0)?;
    let rows = Vec::<f32>::try_from(fp.flatten(0, -1))?;
    let k = map.shape.nodes();
    let mut csv = String::from("object,kind,node2");
    (0..k).for_each(|j| csv.push_str(&format!(",n{j}")));
    csv.push('\n');
    for (r, &o) in ids.iter().enumerate() {
        write!(csv, "{},{},{}", object_ids[o], kind_names[r], report.nodes[r])?;
        rows[r * k..(r + 1) * k].iter().for_each(|v| csv.push_str(&format!(",{v:.5}")));
        csv.push('\n');
    }
    std::fs::write(&a.out, csv).with_context(|| format!("cannot write {}", a.out.display()))?;
    if kinds_seen.len() > 1 {
        println!(
            "{} objects: kind purity of map-2 nodes {:.3}, NMI {:.3}, nearest fingerprint of the same kind {:.3}",
            ids.len(),
            report.purity,
            report.nmi,
            report.nearest_neighbour_agreement
        );
    } else {
        println!("{} objects fingerprinted", ids.len());
    }
    Ok(())
}
