//! Self-organising map machinery shared by the classic SOM and DESOM: a rectangular grid
//! with Manhattan distances, the Gaussian neighbourhood, best-matching units, the
//! exponential temperature schedule, and quality measures.
use anyhow::{bail, Result};
use rand::seq::index::sample;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// A `rows x cols` map; node `k` sits at `(k / cols, k % cols)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapShape {
    /// Rows of the grid.
    pub rows: usize,
    /// Columns of the grid.
    pub cols: usize,
}

impl MapShape {
    /// Checks that the map has between 2 and 10000 nodes.
    pub fn validate(&self) -> Result<()> {
        let nodes = self.rows.saturating_mul(self.cols);
        if !(2..=10_000).contains(&nodes) {
            bail!("the map needs between 2 and 10000 nodes, got {}x{}", self.rows, self.cols);
        }
        Ok(())
    }

    /// Number of nodes, `rows * cols`.
    pub fn nodes(&self) -> usize {
        self.rows * self.cols
    }

    /// Grid position `(row, col)` of node `k`.
    pub fn position(&self, k: usize) -> (usize, usize) {
        (k / self.cols, k % self.cols)
    }

    /// Manhattan distance between nodes `a` and `b` on the grid, in grid steps.
    pub fn manhattan(&self, a: usize, b: usize) -> usize {
        let ((ra, ca), (rb, cb)) = (self.position(a), self.position(b));
        ra.abs_diff(rb) + ca.abs_diff(cb)
    }

    /// Manhattan grid distances between all nodes, `[K, K]`.
    pub fn distances(&self, device: Device) -> Tensor {
        let k = self.nodes();
        let d: Vec<f32> = (0..k * k).map(|i| self.manhattan(i / k, i % k) as f32).collect();
        Tensor::from_slice(&d).view([k as i64, k as i64]).to_device(device)
    }
}

/// `T(p) = t_max (t_min / t_max)^p` for training progress `p` in `[0, 1]`.
pub fn temperature(progress: f64, t_max: f64, t_min: f64) -> f64 {
    t_max * (t_min / t_max).powf(progress.clamp(0.0, 1.0))
}

/// Gaussian neighbourhood weights `exp(-d^2 / T^2)` of grid distances `d`.
pub fn neighbourhood(distances: &Tensor, t: f64) -> Tensor {
    (-(distances.square()) / (t * t)).exp()
}

/// Squared Euclidean distances `[N, K]` between rows of `x` `[N, D]` and prototypes `[K, D]`.
pub fn squared_distances(x: &Tensor, prototypes: &Tensor) -> Tensor {
    let x2 = x.square().sum_dim_intlist([1i64].as_slice(), true, x.kind());
    let m2 = prototypes.square().sum_dim_intlist([1i64].as_slice(), false, x.kind()).unsqueeze(0);
    (x2 + m2 - x.matmul(&prototypes.transpose(0, 1)) * 2.0).clamp_min(0.0)
}

/// Best-matching unit of each row.
pub fn best_matching_units(x: &Tensor, prototypes: &Tensor) -> Tensor {
    squared_distances(x, prototypes).argmin(1, false)
}

/// Map quality: mean distance to the best-matching unit, and the fraction of samples whose
/// two best units are not grid neighbours (Manhattan distance > 1).
#[derive(Debug, Clone, Copy, Serialize)]
#[non_exhaustive]
pub struct MapQuality {
    /// Mean Euclidean distance of the samples to their best-matching prototype.
    pub quantization_error: f64,
    /// Fraction of samples whose two best units are not grid neighbours, in `[0, 1]`.
    pub topographic_error: f64,
}

/// Quality of the map `prototypes` `[K, D]` of `shape` for the samples `x` `[N, D]`.
pub fn map_quality(x: &Tensor, prototypes: &Tensor, shape: MapShape) -> MapQuality {
    tch::no_grad(|| {
        let d2 = squared_distances(x, prototypes);
        let (best, idx) = d2.topk(2, 1, false, true);
        let qe = best.select(1, 0).sqrt().mean(Kind::Double).double_value(&[]);
        let idx = Vec::<i64>::try_from(idx.flatten(0, -1)).unwrap_or_default();
        let far = idx.chunks(2).filter(|p| shape.manhattan(p[0] as usize, p[1] as usize) > 1).count();
        MapQuality { quantization_error: qe, topographic_error: far as f64 / (idx.len() / 2).max(1) as f64 }
    })
}

/// `K` distinct random rows of `x` (with repetition when `x` has fewer rows).
pub fn sample_rows(x: &Tensor, k: usize, seed: u64) -> Tensor {
    let n = (x.size()[0] as usize).max(1);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let idx: Vec<i64> = if n >= k { sample(&mut rng, n, k).into_iter().map(|i| i as i64).collect() } else { (0..k).map(|i| (i % n) as i64).collect() };
    x.index_select(0, &Tensor::from_slice(&idx).to_device(x.device()))
}

/// Settings of the classic (batch) SOM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct SomConfig {
    /// Grid of the map (default 15 x 15).
    pub shape: MapShape,
    /// Batch updates of all prototypes (default 30).
    pub iterations: usize,
    /// Neighbourhood temperature of the first iteration, in grid steps (default 10).
    pub t_max: f64,
    /// Neighbourhood temperature of the last iteration, in grid steps (default 0.1).
    pub t_min: f64,
    /// Seed of the choice of samples the prototypes start at (default 0).
    pub seed: u64,
}

impl Default for SomConfig {
    fn default() -> Self {
        Self { shape: MapShape { rows: 15, cols: 15 }, iterations: 30, t_max: 10.0, t_min: 0.1, seed: 0 }
    }
}

/// The classic batch SOM on raw vectors: prototypes start at random samples; each
/// iteration sets every prototype to the neighbourhood-weighted mean of the data,
/// `m_k = sum_i h(b_i, k) x_i / sum_i h(b_i, k)`, with the temperature annealed from
/// `t_max` to `t_min`. Deterministic for a seed.
pub fn train_som(x: &Tensor, cfg: &SomConfig) -> Result<Tensor> {
    cfg.shape.validate()?;
    if !(cfg.t_max >= cfg.t_min && cfg.t_min > 0.0 && cfg.t_max.is_finite()) {
        bail!("som: need finite t_max >= t_min > 0, got {} and {}", cfg.t_max, cfg.t_min);
    }
    if x.dim() != 2 || x.size()[0] == 0 {
        bail!("SOM input must be a non-empty [N, D] matrix, got {:?}", x.size());
    }
    let dist = cfg.shape.distances(x.device());
    let x = x.to_kind(Kind::Float);
    let mut m = sample_rows(&x, cfg.shape.nodes(), cfg.seed);
    tch::no_grad(|| {
        for it in 0..cfg.iterations {
            let p = if cfg.iterations > 1 { it as f64 / (cfg.iterations - 1) as f64 } else { 1.0 };
            let h = neighbourhood(&dist, temperature(p, cfg.t_max, cfg.t_min));
            let b = best_matching_units(&x, &m);
            let weights = h.index_select(0, &b); // [N, K]
            let num = weights.transpose(0, 1).matmul(&x);
            let den = weights.sum_dim_intlist([0i64].as_slice(), false, Kind::Float).unsqueeze(1);
            m = num / den.clamp_min(1e-12);
        }
    });
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_distances_and_schedule() {
        let s = MapShape { rows: 3, cols: 4 };
        assert_eq!(s.manhattan(0, 11), 5);
        assert_eq!(s.distances(Device::Cpu).double_value(&[1, 6]), 2.0);
        assert!((temperature(0.0, 10.0, 0.1) - 10.0).abs() < 1e-12);
        assert!((temperature(1.0, 10.0, 0.1) - 0.1).abs() < 1e-12);
        assert!((temperature(0.5, 10.0, 0.1) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn som_orders_a_line_and_measures_errors() {
        // Points on a line: a 1x8 map must place prototypes in order (topology kept).
        let x = Tensor::linspace(0.0, 1.0, 200, (Kind::Float, Device::Cpu)).unsqueeze(1);
        let shape = MapShape { rows: 1, cols: 8 };
        let m = train_som(&x, &SomConfig { shape, iterations: 40, t_max: 4.0, t_min: 0.3, seed: 1 }).unwrap();
        let v = Vec::<f32>::try_from(m.flatten(0, -1)).unwrap();
        let increasing = v.windows(2).all(|w| w[1] > w[0]);
        let decreasing = v.windows(2).all(|w| w[1] < w[0]);
        assert!(increasing || decreasing, "{v:?}");
        let q = map_quality(&x, &m, shape);
        assert!(q.quantization_error < 0.05 && q.topographic_error < 0.05, "{q:?}");
        assert!(train_som(&x, &SomConfig { shape: MapShape { rows: 1, cols: 1 }, ..Default::default() }).is_err());
    }
}
