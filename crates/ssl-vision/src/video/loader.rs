//! Batches of clip views from a [`VideoFolder`], made in parallel on a background thread:
//! each video of the batch gives `views` clips (temporal views: other starts in the same
//! video), each augmented as one. View `v` of a batch is a tensor `[N, C, T, H, W]`, the
//! layout of 3-D convolutions. As for images, the batch at global index `g` is a function
//! of (seed, g) alone, so a resumed run repeats the uninterrupted stream exactly.
use super::clip::{augment_clip, ClipSpec};
use super::frames::VideoFolder;
use crate::augment::{AugmentConfig, Image};
use crate::loader::Prefetcher;
use anyhow::{bail, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use ssl_core::data::{Batch, BatchSource, EpochOrder};
use ssl_core::seed::mix;
use std::collections::HashMap;
use std::sync::Arc;
use tch::Tensor;

/// How the clip views of a video are made.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipPlan {
    /// Which frames make a clip.
    pub clip: ClipSpec,
    /// The augmentation of each clip (the same for every frame of it).
    pub augment: AugmentConfig,
    /// Clips per video (temporal views).
    pub views: usize,
}

/// Produces batches of clip views from a folder of frame folders.
pub struct ClipLoader {
    set: Arc<VideoFolder>,
    plan: Arc<ClipPlan>,
    batch: usize,
    seed: u64,
    prefetch: Prefetcher,
}

impl ClipLoader {
    /// Batches of `batch` videos of `set`, each giving `plan.views` clips; needs every video
    /// to hold a clip (see [`VideoFolder::require_frames`]) and `1 <= batch <=` the videos.
    pub fn new(set: Arc<VideoFolder>, plan: ClipPlan, batch: usize, seed: u64) -> Result<Self> {
        plan.clip.validate()?;
        plan.augment.validate()?;
        if plan.views == 0 {
            bail!("the clip loader needs at least one view");
        }
        if batch == 0 || batch > set.len() {
            bail!("batch size {batch} does not fit {} videos in {}", set.len(), set.root.display());
        }
        if let Some(v) = set.videos.iter().find(|v| v.length < plan.clip.span()) {
            bail!("{}: {} frames, a clip of {} frames at stride {} needs {}", v.dir.display(), v.length, plan.clip.frames, plan.clip.stride, plan.clip.span());
        }
        Ok(Self { set, plan: Arc::new(plan), batch, seed, prefetch: Prefetcher::new(2) })
    }

    /// Complete batches per epoch (videos over batch size; the remainder is dropped).
    pub fn batches_per_epoch(&self) -> u64 {
        (self.set.len() / self.batch) as u64
    }

    /// The clips of one video: for each view, its frame indices and augmented frames.
    fn clips_of(set: &VideoFolder, plan: &ClipPlan, video: usize, seeds: impl Fn(usize) -> u64) -> Result<Vec<Vec<Image>>> {
        let length = set.videos[video].length;
        // Each view's draws: its frames first, then its augmentation.
        let mut draws = Vec::with_capacity(plan.views);
        for v in 0..plan.views {
            let mut rng = ChaCha8Rng::seed_from_u64(seeds(v));
            let indices = plan.clip.sample(length, &mut rng).map_err(|e| e.context(set.videos[video].dir.display().to_string()))?;
            draws.push((rng, indices));
        }
        // Frames shared by two clips are decoded once (a video file in one pass).
        let mut wanted: Vec<usize> = draws.iter().flat_map(|(_, i)| i.iter().copied()).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let decoded: HashMap<usize, Image> = wanted.iter().copied().zip(set.frames_of(video, &wanted)?).collect();
        Ok(draws
            .into_iter()
            .map(|(mut rng, indices)| {
                let frames: Vec<Image> = indices.iter().map(|f| decoded[f].clone()).collect();
                augment_clip(&frames, &plan.augment, &mut rng)
            })
            .collect())
    }

    /// The batch of videos `ids` at global index `index` (the worker calls this), the
    /// videos' clips made in parallel.
    pub fn make_batch(set: &VideoFolder, plan: &ClipPlan, seed: u64, ids: &[usize], index: u64) -> Result<Batch> {
        let per_video: Vec<Vec<Vec<Image>>> =
            ids.par_iter().enumerate().map(|(pos, &id)| Self::clips_of(set, plan, id, |v| mix(&[seed, index, pos as u64, v as u64]))).collect::<Result<_>>()?;
        let views = (0..plan.views)
            .map(|v| {
                let first = &per_video[0][v][0];
                let (n, c, t, h, w) = (ids.len() as i64, first.channels as i64, plan.clip.frames as i64, first.height as i64, first.width as i64);
                let mut data = Vec::with_capacity((n * c * t * h * w) as usize);
                // [N, C, T, H, W]: for each video and channel, the frames' planes in time order.
                for clips in &per_video {
                    let clip = &clips[v];
                    let plane = (h * w) as usize;
                    for ch in 0..c as usize {
                        for frame in clip {
                            data.extend_from_slice(&frame.data[ch * plane..(ch + 1) * plane]);
                        }
                    }
                }
                Ok(Tensor::from_slice(&data).f_view([n, c, t, h, w])?)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut batch = Batch::from_views(views)?;
        if let Some(labels) = ids.iter().map(|&i| set.videos[i].label).collect::<Option<Vec<i64>>>() {
            batch = batch.with(ssl_core::data::LABELS, Tensor::from_slice(&labels))?;
        }
        Ok(batch)
    }
}

impl BatchSource for ClipLoader {
    fn start(&mut self, index: u64) -> Result<()> {
        let (set, plan, seed) = (self.set.clone(), self.plan.clone(), self.seed);
        let mut order = EpochOrder::new(set.len(), self.batch, seed)?;
        self.prefetch.start(index, move |g| ClipLoader::make_batch(set.as_ref(), &plan, seed, order.batch(g), g));
        Ok(())
    }

    fn next_batch(&mut self) -> Result<Batch> {
        self.prefetch.next_batch()
    }
}
