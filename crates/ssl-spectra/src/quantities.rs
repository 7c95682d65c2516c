//! Physical quantities read off a map: every node keeps the values of the training
//! spectra that land on it; a new spectrum gets its node's median and percentile interval.
use crate::som::MapShape;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

/// Known quantities per spectrum name, from a CSV `file,<quantity>,...` (e.g. `file,teff,logg,feh`).
#[derive(Debug, Clone)]
pub struct Catalogue {
    /// Names of the quantities: the header's columns after the first.
    pub quantities: Vec<String>,
    /// Values per spectrum name, in the order of `quantities`.
    pub values: HashMap<String, Vec<f64>>,
}

impl Catalogue {
    /// Reads the CSV: a header, then a name and finite numbers per row; a name repeated with
    /// the same values is noted and kept once, with different values it is an error.
    pub fn read_csv(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<String> = lines.next().with_context(|| format!("{}: empty file", path.display()))?.split(',').map(|s| s.trim().to_string()).collect();
        if header.len() < 2 {
            bail!("{}: the header needs a name column and at least one quantity", path.display());
        }
        let mut values: HashMap<String, Vec<f64>> = HashMap::new();
        let mut first_row: HashMap<String, usize> = HashMap::new();
        for (row, line) in lines.enumerate() {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if cells.len() != header.len() {
                bail!("{}: row {} has {} cells, the header {}", path.display(), row + 2, cells.len(), header.len());
            }
            let v: Vec<f64> = cells[1..]
                .iter()
                .map(|c| match c.parse::<f64>() {
                    Ok(x) if x.is_finite() => Ok(x),
                    _ => Err(anyhow::anyhow!("{}: row {}: '{c}' is not a finite number", path.display(), row + 2)),
                })
                .collect::<Result<_>>()?;
            let name = cells[0].to_string();
            if let Some(old) = values.get(&name) {
                let first = first_row[&name];
                if old != &v {
                    bail!("{}: '{name}' appears in rows {first} and {} with different values; keep one", path.display(), row + 2);
                }
                eprintln!("note: {}: '{name}' appears twice (rows {first} and {}) with the same values", path.display(), row + 2);
                continue;
            }
            first_row.insert(name.clone(), row + 2);
            values.insert(name, v);
        }
        Ok(Self { quantities: header[1..].to_vec(), values })
    }

    /// Checks before any training that the catalogue `path` names the spectra: none matched
    /// is an error; fewer than half matched is reported.
    pub fn check_coverage(&self, names: &[String], path: &Path) -> Result<usize> {
        let matched = self.lookup(names).iter().filter(|v| v.is_some()).count();
        if matched == 0 {
            let example = names.first().map(String::as_str).unwrap_or("");
            bail!("{}: none of the {} spectra has an entry (names such as '{example}' must match the catalogue's first column)", path.display(), names.len());
        }
        if matched * 2 < names.len() {
            eprintln!(
                "warning: {}: only {matched} of {} spectra ({:.0}%) have catalogue entries",
                path.display(),
                names.len(),
                100.0 * matched as f64 / names.len() as f64
            );
        }
        Ok(matched)
    }

    /// Values for spectrum names (None where the catalogue has no entry).
    pub fn lookup(&self, names: &[String]) -> Vec<Option<Vec<f64>>> {
        names.iter().map(|n| self.values.get(n).or_else(|| self.values.get(n.trim_end_matches(".gz"))).cloned()).collect()
    }
}

/// A quantity read off a node: median and the 16th / 84th percentiles.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
#[non_exhaustive]
pub struct Estimate {
    /// Median of the values.
    pub median: f64,
    /// 16th percentile of the values.
    pub low: f64,
    /// 84th percentile of the values.
    pub high: f64,
    /// Training spectra behind the estimate.
    pub count: usize,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl Estimate {
    /// Median and 16-84% interval of a sample (NaN when empty).
    pub fn of(values: &[f64]) -> Self {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return Self { median: f64::NAN, low: f64::NAN, high: f64::NAN, count: 0 };
        }
        Self { median: percentile(&v, 0.5), low: percentile(&v, 0.16), high: percentile(&v, 0.84), count: v.len() }
    }
}

/// Per-node distributions of each quantity.
#[derive(Debug, Clone)]
pub struct NodeQuantities {
    /// Grid of the map.
    pub shape: MapShape,
    /// Names of the quantities, in the order of each node's values.
    pub quantities: Vec<String>,
    /// `values[node][quantity]`, sorted.
    pub values: Vec<Vec<Vec<f64>>>,
}

impl NodeQuantities {
    /// `bmus[i]` is the node of training spectrum `i`, `values[i]` its quantities.
    pub fn build(shape: MapShape, quantities: Vec<String>, bmus: &[usize], values: &[Vec<f64>]) -> Self {
        let q = quantities.len();
        let mut per = vec![vec![Vec::new(); q]; shape.nodes()];
        for (b, v) in bmus.iter().zip(values) {
            for (j, x) in v.iter().enumerate() {
                per[*b][j].push(*x);
            }
        }
        for node in &mut per {
            for v in node.iter_mut() {
                v.sort_by(f64::total_cmp);
            }
        }
        Self { shape, quantities, values: per }
    }

    /// The estimate of every quantity at `node`; an empty node borrows from the nearest
    /// non-empty nodes on the grid.
    pub fn estimate(&self, node: usize) -> Vec<Estimate> {
        let mut candidates: Vec<usize> = (0..self.shape.nodes()).filter(|&k| !self.values[k][0].is_empty()).collect();
        candidates.sort_by_key(|&k| self.shape.manhattan(node, k));
        let nearest = candidates.first().map(|&k| self.shape.manhattan(node, k)).unwrap_or(0);
        (0..self.quantities.len())
            .map(|j| {
                let pool: Vec<f64> =
                    candidates.iter().take_while(|&&k| self.shape.manhattan(node, k) == nearest).flat_map(|&k| self.values[k][j].iter().copied()).collect();
                Estimate::of(&pool)
            })
            .collect()
    }

    /// Median of each quantity per node (NaN for empty nodes), `[quantity][node]`, for
    /// component planes.
    pub fn planes(&self) -> Vec<Vec<f64>> {
        (0..self.quantities.len()).map(|j| self.values.iter().map(|n| if n[j].is_empty() { f64::NAN } else { percentile(&n[j], 0.5) }).collect()).collect()
    }
}

/// Errors of point estimates against the truth, and how often the truth falls inside
/// the estimated interval.
#[derive(Debug, Clone, Copy, Serialize)]
#[non_exhaustive]
pub struct ErrorSummary {
    /// Mean absolute error of the medians.
    pub mae: f64,
    /// Root-mean-square error of the medians.
    pub rmse: f64,
    /// Median absolute error of the medians (NaN with no estimates).
    pub median_abs: f64,
    /// Fraction of true values inside `[low, high]`; `None` unless intervals were asked for.
    pub coverage: Option<f64>,
}

/// Errors of the estimates' medians against `truth` (pairwise); with `with_interval`, also
/// how often the truth falls inside the 16-84% interval.
pub fn summarise(estimates: &[Estimate], truth: &[f64], with_interval: bool) -> ErrorSummary {
    let errs: Vec<f64> = estimates.iter().zip(truth).map(|(e, t)| (e.median - t).abs()).collect();
    let n = errs.len().max(1) as f64;
    let mut sorted = errs.clone();
    sorted.sort_by(f64::total_cmp);
    let inside = estimates.iter().zip(truth).filter(|(e, t)| **t >= e.low && **t <= e.high).count();
    ErrorSummary {
        mae: errs.iter().sum::<f64>() / n,
        rmse: (errs.iter().map(|e| e * e).sum::<f64>() / n).sqrt(),
        median_abs: if sorted.is_empty() { f64::NAN } else { percentile(&sorted, 0.5) },
        coverage: with_interval.then(|| inside as f64 / n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_give_medians_and_intervals_and_borrow_when_empty() {
        let shape = MapShape { rows: 1, cols: 3 };
        let bmus = [0, 0, 0, 0, 0, 2];
        let vals: Vec<Vec<f64>> = [1.0, 2.0, 3.0, 4.0, 5.0, 10.0].iter().map(|v| vec![*v]).collect();
        let nq = NodeQuantities::build(shape, vec!["teff".into()], &bmus, &vals);
        let e = nq.estimate(0)[0];
        assert_eq!((e.median, e.count), (3.0, 5));
        assert!((e.low - 1.64).abs() < 1e-9 && (e.high - 4.36).abs() < 1e-9);
        // Node 1 is empty: its two neighbours are equally near and are pooled.
        assert_eq!(nq.estimate(1)[0].count, 6);
        let s = summarise(&[e], &[3.5], true);
        assert!((s.mae - 0.5).abs() < 1e-12 && s.coverage == Some(1.0));
    }
}
