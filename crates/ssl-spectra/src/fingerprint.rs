//! Fingerprints of objects made of many spectra (a galaxy's spaxels): the normalised
//! histogram of its spectra over the nodes of a DESOM-1 map. A second map (DESOM-2)
//! over fingerprints groups objects by the make-up of their spectra.
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use tch::Tensor;

/// Fingerprint matrix `[objects, nodes]` and the object ids in row order, from the node of
/// every spectrum and the object it belongs to.
pub fn fingerprints(nodes: &[usize], objects: &[usize], n_nodes: usize) -> Result<(Tensor, Vec<usize>)> {
    if nodes.len() != objects.len() || nodes.is_empty() {
        bail!("fingerprints: {} node assignments for {} objects labels", nodes.len(), objects.len());
    }
    let mut hist: BTreeMap<usize, Vec<f32>> = BTreeMap::new();
    for (&n, &o) in nodes.iter().zip(objects) {
        if n >= n_nodes {
            bail!("fingerprints: node {n} outside a map of {n_nodes} nodes");
        }
        hist.entry(o).or_insert_with(|| vec![0.0; n_nodes])[n] += 1.0;
    }
    let ids: Vec<usize> = hist.keys().copied().collect();
    let rows: Vec<f32> = hist
        .values()
        .flat_map(|h| {
            let total: f32 = h.iter().sum();
            h.iter().map(move |v| v / total).collect::<Vec<_>>()
        })
        .collect();
    Ok((Tensor::from_slice(&rows).view([ids.len() as i64, n_nodes as i64]), ids))
}

/// Leave-one-out nearest-neighbour accuracy of `labels` from fingerprints (L1 distance):
/// how often an object's most similar other object is of its own kind.
pub fn nearest_neighbour_agreement(fp: &Tensor, labels: &[usize]) -> f64 {
    let n = fp.size()[0];
    let d = fp
        .unsqueeze(1)
        .f_sub(&fp.unsqueeze(0))
        .map(|t| t.abs().sum_dim_intlist([2i64].as_slice(), false, tch::Kind::Float))
        .unwrap_or_else(|_| Tensor::zeros([n, n], (tch::Kind::Float, tch::Device::Cpu)));
    let d = d + Tensor::eye(n, (tch::Kind::Float, fp.device())) * 1e9;
    let nn = Vec::<i64>::try_from(d.argmin(1, false)).unwrap_or_default();
    let hits = nn.iter().enumerate().filter(|(i, j)| labels[*i] == labels[**j as usize]).count();
    hits as f64 / labels.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_normalised_per_object() {
        let (fp, ids) = fingerprints(&[0, 0, 1, 2, 2, 2], &[7, 7, 7, 9, 9, 9], 3).unwrap();
        assert_eq!(ids, vec![7, 9]);
        let v = Vec::<f32>::try_from(fp.flatten(0, -1)).unwrap();
        assert_eq!(v, vec![2.0 / 3.0, 1.0 / 3.0, 0.0, 0.0, 0.0, 1.0]);
        // Two pairs of similar objects: each one's nearest fingerprint is its partner.
        let (fp4, _) = fingerprints(&[0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 1], &[0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3], 3).unwrap();
        assert_eq!(nearest_neighbour_agreement(&fp4, &[7, 7, 8, 8]), 1.0);
        assert_eq!(nearest_neighbour_agreement(&fp4, &[7, 8, 7, 8]), 0.0);
        assert!(fingerprints(&[5], &[0], 3).is_err());
    }
}

/// How well a second map over fingerprints groups objects of the same kind.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct GroupingReport {
    /// Number of objects (rows of the fingerprint matrix).
    pub objects: usize,
    /// DESOM-2 node of each object (row order of the fingerprints).
    pub nodes: Vec<usize>,
    /// Purity of the DESOM-2 nodes against the known kinds, in `[0, 1]`.
    pub purity: f64,
    /// Normalised mutual information between DESOM-2 nodes and kinds, in `[0, 1]`.
    pub nmi: f64,
    /// Leave-one-out nearest-neighbour accuracy of the kinds from the fingerprints (L1).
    pub nearest_neighbour_agreement: f64,
}

/// Fits the second map (a classic SOM of `shape` over fingerprints) and measures how the
/// known kinds of the objects group on it.
pub fn second_map(fp: &Tensor, kinds: &[usize], shape: crate::som::MapShape, seed: u64) -> Result<GroupingReport> {
    let cfg = crate::som::SomConfig { shape, iterations: 50, t_max: (shape.rows.max(shape.cols) as f64 / 2.0).max(1.0), t_min: 0.1, seed };
    let protos = crate::som::train_som(fp, &cfg)?;
    let nodes: Vec<usize> = Vec::<i64>::try_from(crate::som::best_matching_units(fp, &protos))?.into_iter().map(|x| x as usize).collect();
    Ok(GroupingReport {
        objects: kinds.len(),
        purity: crate::metrics::purity(&nodes, kinds),
        nmi: crate::metrics::nmi(&nodes, kinds),
        nearest_neighbour_agreement: nearest_neighbour_agreement(fp, kinds),
        nodes,
    })
}
