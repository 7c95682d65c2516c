//! Batches of augmented views, produced in parallel on a background thread.
//!
//! The batch at global index `g` is a pure function of (seed, g): the epoch's order comes
//! from [`EpochOrder`] and every view is seeded by (seed, g, position, view) through
//! [`ssl_core::seed::mix`]. Resuming at any index therefore reproduces the uninterrupted
//! stream exactly, whatever the thread count. With multi-crop, the local views follow
//! the global ones at their own (smaller) size.
use crate::augment::{augment, AugmentConfig, Image};
use crate::data::ImageSource;
use anyhow::{bail, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use ssl_core::data::{Batch, BatchSource, EpochOrder};
use ssl_core::seed::mix;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use tch::Tensor;

/// Produces batches of `[N, C, H, W]` views from an image set: the global views, then
/// the local ones.
pub struct ViewLoader {
    set: Arc<dyn ImageSource>,
    /// The augmentation of each view, in batch order.
    augments: Arc<Vec<AugmentConfig>>,
    batch: usize,
    seed: u64,
    prefetch: usize,
    rx: Option<Receiver<Result<Batch>>>,
    stop: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
}

impl ViewLoader {
    pub fn new(set: Arc<dyn ImageSource>, augment: AugmentConfig, views: usize, batch: usize, seed: u64) -> Result<Self> {
        augment.validate()?;
        if views == 0 {
            bail!("the loader needs at least one view");
        }
        if batch == 0 || batch > set.len() {
            bail!("batch size {batch} does not fit {} images in {}", set.len(), set.source().display());
        }
        let augments = Arc::new(vec![augment; views]);
        Ok(Self { set, augments, batch, seed, prefetch: 3, rx: None, stop: Arc::new(AtomicBool::new(false)), worker: None })
    }

    /// Adds `count` local views made with `local` (multi-crop) after the global views.
    pub fn with_local_views(mut self, local: AugmentConfig, count: usize) -> Result<Self> {
        local.validate()?;
        let mut augments = self.augments.as_ref().clone();
        augments.extend(std::iter::repeat_n(local, count));
        self.augments = Arc::new(augments);
        Ok(self)
    }

    pub fn batches_per_epoch(&self) -> u64 {
        (self.set.len() / self.batch) as u64
    }

    /// Builds the batch of images `ids` at global index `index` on the calling thread (the
    /// worker calls this), loading (for a streamed set: decoding) the images in parallel.
    pub fn make_batch(set: &dyn ImageSource, augments: &[AugmentConfig], seed: u64, ids: &[usize], index: u64) -> Result<Batch> {
        let per_sample: Vec<Vec<Image>> = ids
            .par_iter()
            .enumerate()
            .map(|(pos, &id)| {
                let img = set.load(id)?;
                Ok(augments
                    .iter()
                    .enumerate()
                    .map(|(v, cfg)| augment(&img, cfg, &mut ChaCha8Rng::seed_from_u64(mix(&[seed, index, pos as u64, v as u64]))))
                    .collect())
            })
            .collect::<Result<_>>()?;
        let views = (0..augments.len())
            .map(|v| {
                let first = &per_sample[0][v];
                let mut data = Vec::with_capacity(ids.len() * first.data.len());
                for s in &per_sample {
                    data.extend_from_slice(&s[v].data);
                }
                Tensor::from_slice(&data).view([ids.len() as i64, first.channels as i64, first.height as i64, first.width as i64])
            })
            .collect();
        Batch::from_views(views)
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
        let (set, augments, stop) = (self.set.clone(), self.augments.clone(), self.stop.clone());
        let seed = self.seed;
        let mut order = EpochOrder::new(set.len(), self.batch, seed)?;
        self.worker = Some(std::thread::spawn(move || {
            let mut g = index;
            while !stop.load(Ordering::SeqCst) {
                let b = ViewLoader::make_batch(set.as_ref(), &augments, seed, order.batch(g), g);
                if tx.send(b).is_err() {
                    break;
                }
                g += 1;
            }
        }));
        self.rx = Some(rx);
        Ok(())
    }

    fn next_batch(&mut self) -> Result<Batch> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ImageSet;

    fn images(n: usize) -> Arc<ImageSet> {
        let pixels = (0..n * 16 * 16).map(|i| (i * 7 % 251) as u8).collect();
        Arc::new(ImageSet { source: "generated".into(), n, channels: 1, height: 16, width: 16, pixels, labels: None, class_names: Vec::new() })
    }

    #[test]
    fn multi_crop_batches_put_global_views_first_and_repeat_from_any_start() {
        let global = AugmentConfig { size: 12, ..Default::default() };
        let local = AugmentConfig { size: 6, crop_scale: (0.1, 0.4), ..global.clone() };
        let make = || ViewLoader::new(images(20), global.clone(), 2, 4, 9).unwrap().with_local_views(local.clone(), 3).unwrap();
        let mut a = make();
        a.start(0).unwrap();
        let batches: Vec<Batch> = (0..7).map(|_| a.next_batch().unwrap()).collect();
        let b6 = &batches[6];
        let sizes: Vec<Vec<i64>> = b6.views().iter().map(|v| v.size()).collect();
        assert_eq!(sizes, vec![vec![4, 1, 12, 12], vec![4, 1, 12, 12], vec![4, 1, 6, 6], vec![4, 1, 6, 6], vec![4, 1, 6, 6]]);
        assert_eq!(b6.global_views(), 2);
        let mut b = make();
        b.start(6).unwrap();
        let again = b.next_batch().unwrap();
        for (x, y) in b6.views().iter().zip(again.views()) {
            assert!(x.equal(y), "batch 6 depends on where the stream started");
        }
        assert!(!batches[5].views()[2].equal(&b6.views()[2]));
    }
}
