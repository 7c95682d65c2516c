//! Cluster agreement between map nodes and known labels: purity and normalised mutual
//! information.
use std::collections::HashMap;

/// Fraction of samples whose node's majority label is their own.
pub fn purity(nodes: &[usize], labels: &[usize]) -> f64 {
    let mut counts: HashMap<usize, HashMap<usize, usize>> = HashMap::new();
    for (n, l) in nodes.iter().zip(labels) {
        *counts.entry(*n).or_default().entry(*l).or_default() += 1;
    }
    let majority: usize = counts.values().map(|c| c.values().copied().max().unwrap_or(0)).sum();
    majority as f64 / nodes.len().max(1) as f64
}

/// Normalised mutual information `I(U;V) / sqrt(H(U) H(V))` (0 when either is constant).
pub fn nmi(a: &[usize], b: &[usize]) -> f64 {
    let n = a.len() as f64;
    let mut joint: HashMap<(usize, usize), f64> = HashMap::new();
    let (mut pa, mut pb): (HashMap<usize, f64>, HashMap<usize, f64>) = (HashMap::new(), HashMap::new());
    for (x, y) in a.iter().zip(b) {
        *joint.entry((*x, *y)).or_default() += 1.0;
        *pa.entry(*x).or_default() += 1.0;
        *pb.entry(*y).or_default() += 1.0;
    }
    let h = |p: &HashMap<usize, f64>| -p.values().map(|c| (c / n) * (c / n).ln()).sum::<f64>();
    let mi: f64 = joint.iter().map(|((x, y), c)| (c / n) * ((c / n) / ((pa[x] / n) * (pb[y] / n))).ln()).sum();
    let (ha, hb) = (h(&pa), h(&pb));
    if ha <= 0.0 || hb <= 0.0 {
        0.0
    } else {
        mi / (ha * hb).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purity_and_nmi_on_known_cases() {
        assert_eq!(purity(&[0, 0, 1, 1], &[5, 5, 6, 6]), 1.0);
        assert_eq!(purity(&[0, 0, 0, 0], &[5, 5, 6, 6]), 0.5);
        assert!((nmi(&[0, 0, 1, 1], &[1, 1, 0, 0]) - 1.0).abs() < 1e-12);
        assert!(nmi(&[0, 1, 0, 1], &[0, 0, 1, 1]).abs() < 1e-12);
    }
}
