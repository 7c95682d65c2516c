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
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use ssl_core::data::{Batch, BatchSource, EpochOrder};
use ssl_core::seed::mix;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use tch::Tensor;

/// How the views of a sample are made.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewPlan {
    /// The augmentation of each view, in batch order: the global views, then the local ones.
    pub augments: Vec<AugmentConfig>,
    /// Views before this index are global.
    pub global: usize,
    /// Share of the local views cut from another image of the batch (outlier views, for
    /// robustness experiments); which ones is seeded apart from the augmentations, so the
    /// other views are those of the clean run.
    pub outlier_fraction: f64,
    /// Batches in NHWC strides (channels-last); the values are the same.
    pub channels_last: bool,
}

impl ViewPlan {
    /// `views` global views made with `augment`.
    pub fn new(augment: AugmentConfig, views: usize) -> Self {
        Self { augments: vec![augment; views], global: views, outlier_fraction: 0.0, channels_last: false }
    }

    /// The image view `v` of the sample at `pos` is cut from: its own, or (an outlier view)
    /// another of the batch's.
    fn source_of(&self, ids: &[usize], pos: usize, v: usize, seed: u64, index: u64) -> usize {
        if v < self.global || self.outlier_fraction <= 0.0 || ids.len() < 2 {
            return ids[pos];
        }
        let mut rng = ChaCha8Rng::seed_from_u64(mix(&[seed, index, pos as u64, v as u64, ssl_core::seed::tag::OUTLIER_VIEW]));
        if rng.random::<f64>() >= self.outlier_fraction {
            return ids[pos];
        }
        ids[(pos + rng.random_range(1..ids.len())) % ids.len()]
    }
}

/// Produces batches of `[N, C, H, W]` views from an image set: the global views, then
/// the local ones.
pub struct ViewLoader {
    set: Arc<dyn ImageSource>,
    plan: Arc<ViewPlan>,
    batch: usize,
    seed: u64,
    prefetch: Prefetcher,
}

/// Batches made on a background thread a few ahead of the trainer: batch g is `make(g)`,
/// from the start index on. Shared by the image and clip loaders; stopping (a restart, or
/// drop) unblocks and joins the thread.
pub struct Prefetcher {
    depth: usize,
    rx: Option<Receiver<Result<Batch>>>,
    stop: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
}

impl Prefetcher {
    /// Keeps up to `depth` batches ready.
    pub fn new(depth: usize) -> Self {
        Self { depth, rx: None, stop: Arc::new(AtomicBool::new(false)), worker: None }
    }

    /// Stops any running thread and starts one making batches `index`, `index + 1`, ...
    pub fn start(&mut self, index: u64, mut make: impl FnMut(u64) -> Result<Batch> + Send + 'static) {
        self.shutdown();
        let (tx, rx) = sync_channel(self.depth);
        let stop = self.stop.clone();
        self.worker = Some(std::thread::spawn(move || {
            let mut g = index;
            while !stop.load(Ordering::SeqCst) {
                if tx.send(make(g)).is_err() {
                    break;
                }
                g += 1;
            }
        }));
        self.rx = Some(rx);
    }

    /// The next batch (or the error that making it gave).
    pub fn next_batch(&mut self) -> Result<Batch> {
        let Some(rx) = &self.rx else { bail!("loader not started") };
        match rx.recv() {
            Ok(b) => b,
            Err(_) => bail!("the data loader thread stopped unexpectedly"),
        }
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

impl Drop for Prefetcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl ViewLoader {
    /// A loader of batches of `batch` images from `set`, each with `views` global views made
    /// with `augment`, seeded by `seed`; needs `1 <= batch <=` the number of images.
    pub fn new(set: Arc<dyn ImageSource>, augment: AugmentConfig, views: usize, batch: usize, seed: u64) -> Result<Self> {
        augment.validate()?;
        if views == 0 {
            bail!("the loader needs at least one view");
        }
        if batch == 0 || batch > set.len() {
            bail!("batch size {batch} does not fit {} images in {}", set.len(), set.source().display());
        }
        let plan = Arc::new(ViewPlan::new(augment, views));
        Ok(Self { set, plan, batch, seed, prefetch: Prefetcher::new(3) })
    }

    /// Adds `count` local views made with `local` (multi-crop) after the global views.
    pub fn with_local_views(mut self, local: AugmentConfig, count: usize) -> Result<Self> {
        local.validate()?;
        Arc::make_mut(&mut self.plan).augments.extend(std::iter::repeat_n(local, count));
        Ok(self)
    }

    /// Cuts the share `fraction` of the local views from another image of the batch.
    pub fn with_outlier_views(mut self, fraction: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&fraction) {
            bail!("the share of outlier views must be in [0, 1], got {fraction}");
        }
        Arc::make_mut(&mut self.plan).outlier_fraction = fraction;
        Ok(self)
    }

    /// Builds batches with NHWC strides (for channels-last convolutions).
    pub fn with_channels_last(mut self, on: bool) -> Self {
        Arc::make_mut(&mut self.plan).channels_last = on;
        self
    }

    /// Complete batches per epoch, images over batch size (the remainder is dropped).
    pub fn batches_per_epoch(&self) -> u64 {
        (self.set.len() / self.batch) as u64
    }

    /// Builds the batch of images `ids` at global index `index` on the calling thread (the
    /// worker calls this), loading (for a streamed set: decoding) the images in parallel.
    pub fn make_batch(set: &dyn ImageSource, plan: &ViewPlan, seed: u64, ids: &[usize], index: u64) -> Result<Batch> {
        let per_sample: Vec<Vec<Image>> = ids
            .par_iter()
            .enumerate()
            .map(|(pos, &id)| {
                let img = set.load(id)?;
                let mut other: Option<(usize, Image)> = None;
                let mut views = Vec::with_capacity(plan.augments.len());
                for (v, cfg) in plan.augments.iter().enumerate() {
                    let src = plan.source_of(ids, pos, v, seed, index);
                    let from = if src == id {
                        &img
                    } else {
                        if other.as_ref().is_none_or(|(o, _)| *o != src) {
                            other = Some((src, set.load(src)?));
                        }
                        &other.as_ref().expect("just loaded").1
                    };
                    views.push(augment(from, cfg, &mut ChaCha8Rng::seed_from_u64(mix(&[seed, index, pos as u64, v as u64]))));
                }
                Ok(views)
            })
            .collect::<Result<_>>()?;
        let views = (0..plan.augments.len())
            .map(|v| {
                let first = &per_sample[0][v];
                let (n, c, h, w) = (ids.len() as i64, first.channels, first.height as i64, first.width as i64);
                let mut data = Vec::with_capacity(ids.len() * first.data.len());
                if plan.channels_last {
                    // Each sample's planes interleaved, pixel by pixel: `[N, H, W, C]` in
                    // memory, seen as `[N, C, H, W]` with NHWC strides.
                    for s in &per_sample {
                        let img = &s[v].data;
                        let plane = img.len() / c;
                        data.extend((0..plane).flat_map(|i| (0..c).map(move |k| img[k * plane + i])));
                    }
                    Ok(Tensor::from_slice(&data).f_view([n, h, w, c as i64])?.f_permute([0, 3, 1, 2])?)
                } else {
                    for s in &per_sample {
                        data.extend_from_slice(&s[v].data);
                    }
                    Ok(Tensor::from_slice(&data).f_view([n, c as i64, h, w])?)
                }
            })
            .collect::<Result<_>>()?;
        Batch::from_views(views)
    }
}

impl BatchSource for ViewLoader {
    fn start(&mut self, index: u64) -> Result<()> {
        let (set, plan, seed) = (self.set.clone(), self.plan.clone(), self.seed);
        let mut order = EpochOrder::new(set.len(), self.batch, seed)?;
        self.prefetch.start(index, move |g| ViewLoader::make_batch(set.as_ref(), &plan, seed, order.batch(g), g));
        Ok(())
    }

    fn next_batch(&mut self) -> Result<Batch> {
        self.prefetch.next_batch()
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

    #[test]
    fn channels_last_batches_hold_the_same_views_in_nhwc_strides() {
        let pixels = (0..6 * 3 * 10 * 10).map(|i| (i * 13 % 251) as u8).collect();
        let set = Arc::new(ImageSet { source: "rgb".into(), n: 6, channels: 3, height: 10, width: 10, pixels, labels: None, class_names: Vec::new() });
        let cfg = AugmentConfig { size: 8, ..Default::default() };
        let plain = ViewLoader::new(set.clone(), cfg.clone(), 2, 3, 5).unwrap();
        let nhwc = ViewLoader::new(set.clone(), cfg, 2, 3, 5).unwrap().with_channels_last(true);
        let a = ViewLoader::make_batch(set.as_ref(), &plain.plan, 5, &[0, 2, 4], 1).unwrap();
        let b = ViewLoader::make_batch(set.as_ref(), &nhwc.plan, 5, &[0, 2, 4], 1).unwrap();
        for (x, y) in a.views().iter().zip(b.views()) {
            assert_eq!(x.size(), [3, 3, 8, 8]);
            assert!(x.equal(y), "the layout changed the values");
            assert!(ssl_core::data::is_channels_last(y) && !ssl_core::data::is_channels_last(x), "strides {:?}", y.stride());
        }
    }

    #[test]
    fn outlier_views_are_local_crops_of_another_image_of_the_batch() {
        // Image i is the constant i * 10: a crop's value says which image it came from.
        let n = 24;
        let pixels = (0..n).flat_map(|i| std::iter::repeat_n((i * 10) as u8, 64)).collect();
        let set = Arc::new(ImageSet { source: "constant".into(), n, channels: 1, height: 8, width: 8, pixels, labels: None, class_names: Vec::new() });
        let plain = AugmentConfig { size: 8, flip_p: 0.0, jitter_p: 0.0, grayscale_p: 0.0, mean: vec![0.0], std: vec![1.0], ..Default::default() };
        let local = AugmentConfig { size: 4, ..plain.clone() };
        let make = |fraction: f64| {
            let l = ViewLoader::new(set.clone(), plain.clone(), 2, 12, 3).unwrap().with_local_views(local.clone(), 6).unwrap();
            l.with_outlier_views(fraction).unwrap()
        };
        let ids: Vec<usize> = (0..12).map(|i| i * 2).collect();
        let clean = ViewLoader::make_batch(set.as_ref(), &make(0.0).plan, 3, &ids, 0).unwrap();
        let mixed = ViewLoader::make_batch(set.as_ref(), &make(0.5).plan, 3, &ids, 0).unwrap();
        let value = |b: &Batch, v: usize, pos: i64| (b.views()[v].get(pos).mean(tch::Kind::Float).double_value(&[]) * 255.0 / 10.0).round() as usize;
        let mut outliers = 0;
        for pos in 0..12 {
            for v in 0..8 {
                assert_eq!(value(&clean, v, pos as i64), ids[pos], "clean views are cut from their own image");
                let from = value(&mixed, v, pos as i64);
                if v < 2 {
                    assert_eq!(from, ids[pos], "global views are never outliers");
                    assert!(clean.views()[v].equal(&mixed.views()[v]));
                } else if from != ids[pos] {
                    assert!(ids.contains(&from), "an outlier view comes from another image of the batch, got image {from}");
                    outliers += 1;
                }
            }
        }
        // Half of the 72 local views, within a wide binomial margin.
        assert!((20..=52).contains(&outliers), "{outliers} of 72 local views are outliers at a share of 0.5");
        assert!(ViewLoader::new(set.clone(), plain.clone(), 2, 4, 0).unwrap().with_outlier_views(1.5).is_err());
    }
}
