//! Batches of augmented views, produced in parallel on a background thread.
//!
//! The batch at global index `g` is a pure function of (seed, g): the epoch's shuffle is
//! seeded by (seed, epoch) and every view by (seed, g, position, view). Resuming at any
//! index therefore reproduces the uninterrupted stream exactly, whatever the thread count.
use crate::augment::{augment, AugmentConfig, Image};
use crate::data::ImageSet;
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use ssl_core::train::BatchSource;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use tch::Tensor;

/// Splits a 64-bit seed stream into independent seeds (SplitMix64 finaliser).
pub fn mix_seed(parts: &[u64]) -> u64 {
    parts.iter().fold(0x243F_6A88_85A3_08D3u64, |acc, &p| {
        let mut z = acc ^ p.wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_add(acc << 6);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// Produces `[views][N, C, H, W]` batches from an image set.
pub struct ViewLoader {
    set: Arc<ImageSet>,
    augment: Arc<AugmentConfig>,
    views: usize,
    batch: usize,
    seed: u64,
    prefetch: usize,
    rx: Option<Receiver<Result<Vec<Tensor>>>>,
    stop: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
}

impl ViewLoader {
    pub fn new(set: Arc<ImageSet>, augment: AugmentConfig, views: usize, batch: usize, seed: u64) -> Result<Self> {
        augment.validate()?;
        if views == 0 {
            bail!("the loader needs at least one view");
        }
        if batch == 0 || batch > set.n {
            bail!("batch size {batch} does not fit {} images in {}", set.n, set.source.display());
        }
        Ok(Self { set, augment: Arc::new(augment), views, batch, seed, prefetch: 3, rx: None, stop: Arc::new(AtomicBool::new(false)), worker: None })
    }

    pub fn batches_per_epoch(&self) -> u64 {
        (self.set.n / self.batch) as u64
    }

    /// Builds batch `index` on the calling thread (the worker calls this).
    pub fn make_batch(set: &ImageSet, cfg: &AugmentConfig, views: usize, batch: usize, seed: u64, order: &[usize], index: u64) -> Vec<Tensor> {
        let per_epoch = (set.n / batch) as u64;
        let start = ((index % per_epoch) as usize) * batch;
        let ids = &order[start..start + batch];
        let per_sample: Vec<Vec<Image>> = ids
            .par_iter()
            .enumerate()
            .map(|(pos, &id)| {
                let img = Image::from_u8(set.channels, set.height, set.width, set.image(id));
                (0..views).map(|v| augment(&img, cfg, &mut ChaCha8Rng::seed_from_u64(mix_seed(&[seed, index, pos as u64, v as u64])))).collect()
            })
            .collect();
        (0..views)
            .map(|v| {
                let first = &per_sample[0][v];
                let mut data = Vec::with_capacity(batch * first.data.len());
                for s in &per_sample {
                    data.extend_from_slice(&s[v].data);
                }
                Tensor::from_slice(&data).view([batch as i64, first.channels as i64, first.height as i64, first.width as i64])
            })
            .collect()
    }

    /// The shuffled order of image ids in `epoch`.
    pub fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix_seed(&[seed, 0xE90C, epoch])));
        order
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.rx = None; // unblocks a worker waiting to send
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
        self.stop = Arc::new(AtomicBool::new(false));
    }
}

impl BatchSource for ViewLoader {
    fn start(&mut self, index: u64) -> Result<()> {
        self.shutdown();
        let (tx, rx) = sync_channel(self.prefetch);
        let (set, aug, stop) = (self.set.clone(), self.augment.clone(), self.stop.clone());
        let (views, batch, seed) = (self.views, self.batch, self.seed);
        let per_epoch = self.batches_per_epoch();
        self.worker = Some(std::thread::spawn(move || {
            let mut epoch = u64::MAX;
            let mut order = Vec::new();
            let mut g = index;
            while !stop.load(Ordering::SeqCst) {
                if g / per_epoch != epoch {
                    epoch = g / per_epoch;
                    order = ViewLoader::epoch_order(set.n, seed, epoch);
                }
                let b = ViewLoader::make_batch(&set, &aug, views, batch, seed, &order, g);
                if tx.send(Ok(b)).is_err() {
                    break;
                }
                g += 1;
            }
        }));
        self.rx = Some(rx);
        Ok(())
    }

    fn next_batch(&mut self) -> Result<Vec<Tensor>> {
        let Some(rx) = &self.rx else { bail!("loader not started") };
        match rx.recv() {
            Ok(b) => b,
            Err(_) => bail!("the data loader thread stopped unexpectedly"),
        }
    }
}

impl Drop for ViewLoader {
    fn drop(&mut self) {
        self.shutdown();
    }
}
