//! Shuffled mini-batches of spectra with their pixel weights as a named part; batch `g`
//! is a pure function of (seed, g) through [`EpochOrder`], so resumed runs see the same
//! stream.
use anyhow::Result;
use ssl_core::data::{Batch, BatchSource, EpochOrder, WEIGHTS};
use tch::{Kind, Tensor};

/// The [`BatchSource`] of a DESOM fit: shuffled batches of spectra and their pixel weights.
pub struct SpectraBatches {
    flux: Tensor,
    weight: Tensor,
    order: EpochOrder,
    next: u64,
}

impl SpectraBatches {
    /// `flux` and `weight` are `[N, L]`.
    pub fn new(flux: Tensor, weight: Tensor, batch: usize, seed: u64) -> Result<Self> {
        let n = flux.size()[0] as usize;
        if batch < 2 {
            anyhow::bail!("batch size {batch} is too small (need at least 2 spectra)");
        }
        Ok(Self { order: EpochOrder::new(n, batch, seed)?, flux, weight, next: 0 })
    }
}

impl BatchSource for SpectraBatches {
    fn start(&mut self, index: u64) -> Result<()> {
        self.next = index;
        Ok(())
    }

    /// The spectra as the one view, their pixel weights (1 good, 0 bad) as [`WEIGHTS`].
    fn next_batch(&mut self) -> Result<Batch> {
        let g = self.next;
        self.next += 1;
        let ids: Vec<i64> = self.order.batch(g).iter().map(|&i| i as i64).collect();
        let idx = Tensor::from_slice(&ids).to_kind(Kind::Int64).to_device(self.flux.device());
        Batch::from_views(vec![self.flux.index_select(0, &idx)])?.with(WEIGHTS, self.weight.index_select(0, &idx))
    }
}
