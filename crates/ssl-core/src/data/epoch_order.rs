//! The pure map `(seed, batch index) -> sample indices` shared by every loader: epoch `e`
//! is a permutation seeded by `(seed, EPOCH, e)`, batch `g` takes its slice of epoch
//! `g / batches_per_epoch`. The last incomplete batch of an epoch is dropped.
use anyhow::{bail, Result};
use rand::seq::SliceRandom;

/// The sample indices of every global batch index of a loader (see the module doc).
#[derive(Debug, Clone)]
pub struct EpochOrder {
    n: usize,
    batch: usize,
    seed: u64,
    /// The permutation of the epoch asked for last (loaders go through epochs in order).
    cached: Option<(u64, Vec<usize>)>,
}

impl EpochOrder {
    /// An order over `n` samples in batches of `batch`; needs `1 <= batch <= n`.
    pub fn new(n: usize, batch: usize, seed: u64) -> Result<Self> {
        if batch == 0 || batch > n {
            bail!("batch size {batch} does not fit {n} samples (need 1 <= batch <= samples)");
        }
        Ok(Self { n, batch, seed, cached: None })
    }

    /// Complete batches per epoch, `n / batch` (the remainder is dropped).
    pub fn batches_per_epoch(&self) -> u64 {
        (self.n / self.batch) as u64
    }

    /// The shuffled sample ids of `epoch`.
    pub fn epoch(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut crate::seed::rng(&[seed, crate::seed::tag::EPOCH, epoch]));
        order
    }

    /// The sample ids of global batch `index`.
    pub fn batch(&mut self, index: u64) -> &[usize] {
        let epoch = index / self.batches_per_epoch();
        let start = (index % self.batches_per_epoch()) as usize * self.batch;
        let end = start + self.batch;
        if self.cached.as_ref().is_some_and(|c| c.0 != epoch) {
            self.cached = None;
        }
        let (n, seed) = (self.n, self.seed);
        let (_, order) = self.cached.get_or_insert_with(|| (epoch, Self::epoch(n, seed, epoch)));
        &order[start..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_a_function_of_their_index_and_cover_each_epoch_once() {
        let mut a = EpochOrder::new(10, 3, 5).unwrap();
        let mut seen: Vec<usize> = (0..3).flat_map(|g| a.batch(g).to_vec()).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 9, "three batches of one epoch hold nine distinct samples");
        let late = a.batch(7).to_vec();
        let mut b = EpochOrder::new(10, 3, 5).unwrap();
        assert_eq!(b.batch(7), &late[..], "batch 7 does not depend on the batches asked for before");
        assert_ne!(EpochOrder::epoch(10, 5, 0), EpochOrder::epoch(10, 5, 1));
        assert!(EpochOrder::new(3, 4, 0).is_err());
    }
}
