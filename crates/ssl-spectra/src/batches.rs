//! Shuffled mini-batches of spectra and their pixel weights; batch `g` is a pure function
//! of (seed, g), so resumed runs see the same stream.
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use ssl_core::train::BatchSource;
use tch::{Kind, Tensor};

pub struct SpectraBatches {
    flux: Tensor,
    weight: Tensor,
    batch: usize,
    seed: u64,
    next: u64,
    epoch: Option<(u64, Tensor)>,
}

impl SpectraBatches {
    /// `flux` and `weight` are `[N, L]`.
    pub fn new(flux: Tensor, weight: Tensor, batch: usize, seed: u64) -> Result<Self> {
        let n = flux.size()[0] as usize;
        if batch < 2 || batch > n {
            bail!("batch size {batch} does not fit {n} spectra (need 2 <= batch <= N)");
        }
        Ok(Self { flux, weight, batch, seed, next: 0, epoch: None })
    }

    fn order(&mut self, epoch: u64) -> Tensor {
        if let Some((e, t)) = &self.epoch {
            if *e == epoch {
                return t.shallow_clone();
            }
        }
        let n = self.flux.size()[0] as usize;
        let mut order: Vec<i64> = (0..n as i64).collect();
        order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(self.seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        let t = Tensor::from_slice(&order).to_kind(Kind::Int64).to_device(self.flux.device());
        self.epoch = Some((epoch, t.shallow_clone()));
        t
    }
}

impl BatchSource for SpectraBatches {
    fn start(&mut self, index: u64) -> Result<()> {
        self.next = index;
        Ok(())
    }

    fn next_batch(&mut self) -> Result<Vec<Tensor>> {
        let per_epoch = (self.flux.size()[0] as usize / self.batch) as u64;
        let g = self.next;
        self.next += 1;
        let order = self.order(g / per_epoch);
        let idx = order.narrow(0, ((g % per_epoch) as usize * self.batch) as i64, self.batch as i64);
        Ok(vec![self.flux.index_select(0, &idx), self.weight.index_select(0, &idx)])
    }
}
