//! The batches of speaker SSL: for each utterance of a batch, two segments cut at random
//! (from disjoint stretches by default), each augmented in the time
//! domain, turned into mean-normalised filterbanks and masked by SpecAugment. Every
//! draw is seeded by (run seed, batch index, sample), so a batch is a pure function of
//! its index and a resumed run sees the batches it would have seen.
use crate::augment::{augment_segment, spec_augment, SegmentAugmentConfig, SpecAugmentConfig};
use crate::features::{Fbank, FbankOptions};
use crate::waveform::{Waveform, KALDI_SAMPLE_SCALE};
use anyhow::{bail, Result};
use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use ssl_core::data::EpochOrder;
use ssl_core::{Batch, BatchSource};
use std::sync::Arc;
use tch::{Kind, Tensor};

/// Seed tag of the segment draws.
const SEGMENT_DRAWS: u64 = 0x5E_6E27;

/// How training segments are cut, augmented and turned into features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SegmentConfig {
    /// Length of each segment in seconds (1.0: the Asterisk prompts average 2.4 s, so two
    /// disjoint segments fit in most); shorter utterances are repeated to fill it.
    pub seconds: f64,
    /// Mel bins of the filterbank (40, the usual choice at 8 kHz).
    pub num_bins: i64,
    /// Cut the two segments from disjoint stretches of the utterance where it is long
    /// enough (true), and as far apart as it allows otherwise: then only the speaker and
    /// the channel, not the words, are shared by a positive pair.
    pub disjoint: bool,
    /// The time-domain chain.
    pub augment: SegmentAugmentConfig,
    /// Chance that a segment's features are masked (0.6).
    pub spec_augment_probability: f64,
    /// The masks (one band of at most 8 bins, one span of at most 10 frames).
    pub spec_augment: SpecAugmentConfig,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        let masks = SpecAugmentConfig { freq_masks: 1, max_freq_width: 8, time_masks: 1, max_time_width: 10, max_time_fraction: 1.0 };
        Self { seconds: 1.0, num_bins: 40, disjoint: true, augment: SegmentAugmentConfig::default(), spec_augment_probability: 0.6, spec_augment: masks }
    }
}

impl SegmentConfig {
    /// Checks the length (0.1 to 60 s), the bins (1 to 512) and the augmentations.
    pub fn validate(&self) -> Result<()> {
        if !(0.1..=60.0).contains(&self.seconds) {
            bail!("segments.seconds must be between 0.1 and 60, got {}", self.seconds);
        }
        if !(1..=512).contains(&self.num_bins) {
            bail!("segments.num_bins must be between 1 and 512, got {}", self.num_bins);
        }
        if !(0.0..=1.0).contains(&self.spec_augment_probability) {
            bail!("segments.spec_augment_probability must be in [0, 1], got {}", self.spec_augment_probability);
        }
        self.augment.validate()
    }

    /// The filterbank of these segments at `rate` Hz (Kaldi's defaults, dither off).
    pub fn fbank(&self, rate: u32) -> Result<Fbank> {
        Fbank::new(FbankOptions::new(f64::from(rate), self.num_bins))
    }
}

/// Log filterbanks `[B, T, F]` of signals `[B, N]` (or `[T, F]` of `[N]`) in `[-1, 1]`,
/// with each signal's mean over its frames removed (cepstral mean normalisation: a gain
/// or a fixed channel colouring becomes an offset, which this takes away).
pub fn normalised_fbank(fbank: &Fbank, signals: &Tensor) -> Result<Tensor> {
    Ok(mean_normalised(&fbank.compute(&(signals * f64::from(KALDI_SAMPLE_SCALE)))?))
}

/// Features `[..., T, F]` with each bin's mean over the frames removed.
pub fn mean_normalised(features: &Tensor) -> Tensor {
    let time = features.dim() as i64 - 2;
    features - features.mean_dim([time].as_slice(), true, Kind::Float)
}

/// `len` samples of `wave` from a random offset; a shorter recording is repeated.
fn cut(wave: &[f32], len: usize, rng: &mut impl Rng) -> Vec<f32> {
    if wave.len() >= len {
        let start = rng.random_range(0..=wave.len() - len);
        wave[start..start + len].to_vec()
    } else {
        let start = rng.random_range(0..wave.len());
        (0..len).map(|i| wave[(start + i) % wave.len()]).collect()
    }
}

/// Two segments of `len` samples that share no sample when the recording holds `2 len`:
/// a split point drawn so that each side holds one, each segment drawn in its side, the
/// order of the pair drawn too. A shorter recording gives its first and last `len`
/// samples (overlapping as little as it allows), a recording shorter than `len` two cuts.
fn cut_disjoint(wave: &[f32], len: usize, rng: &mut impl Rng) -> [Vec<f32>; 2] {
    let n = wave.len();
    if n < len {
        return [cut(wave, len, rng), cut(wave, len, rng)];
    }
    let (a, b) = if n >= 2 * len {
        let split = rng.random_range(len..=n - len);
        (rng.random_range(0..=split - len), rng.random_range(split..=n - len))
    } else {
        (0, n - len)
    };
    let pair = [wave[a..a + len].to_vec(), wave[b..b + len].to_vec()];
    if rng.random_bool(0.5) {
        pair
    } else {
        let [x, y] = pair;
        [y, x]
    }
}

/// A [`BatchSource`] of two augmented segments per utterance.
pub struct SegmentLoader {
    waves: Arc<Vec<Waveform>>,
    rate: u32,
    cfg: SegmentConfig,
    fbank: Fbank,
    order: EpochOrder,
    seed: u64,
    next: u64,
}

impl SegmentLoader {
    /// Batches of `batch` utterances of `waves` (all at one rate), seeded by `seed`.
    pub fn new(waves: Arc<Vec<Waveform>>, cfg: SegmentConfig, batch: usize, seed: u64) -> Result<Self> {
        cfg.validate()?;
        let Some(first) = waves.first() else { bail!("no recordings to cut segments from") };
        let rate = first.sample_rate;
        if let Some(w) = waves.iter().find(|w| w.sample_rate != rate) {
            bail!("the recordings are at different rates ({rate} and {} Hz): resample them to one", w.sample_rate);
        }
        if let Some(i) = waves.iter().position(|w| w.samples.is_empty()) {
            bail!("recording {i} is empty");
        }
        let order = EpochOrder::new(waves.len(), batch, seed)?;
        let fbank = cfg.fbank(rate)?;
        Ok(Self { waves, rate, cfg, fbank, order, seed, next: 0 })
    }

    /// Samples per segment.
    pub fn segment_samples(&self) -> usize {
        (self.cfg.seconds * f64::from(self.rate)).round() as usize
    }

    /// The batch at global index `index`: views `[B, T, F]` twice.
    pub fn batch_at(&mut self, index: u64) -> Result<Batch> {
        let ids = self.order.batch(index).to_vec();
        let len = self.segment_samples();
        let (waves, cfg, rate, seed) = (&self.waves, &self.cfg, self.rate, self.seed);
        let pairs: Vec<[Vec<f32>; 2]> = ids
            .par_iter()
            .enumerate()
            .map(|(i, &u)| -> Result<[Vec<f32>; 2]> {
                let mut rng = ssl_core::seed::rng(&[seed, SEGMENT_DRAWS, index, i as u64]);
                let [a, b] = if cfg.disjoint {
                    cut_disjoint(&waves[u].samples, len, &mut rng)
                } else {
                    [cut(&waves[u].samples, len, &mut rng), cut(&waves[u].samples, len, &mut rng)]
                };
                let mut augment = |segment: Vec<f32>| -> Result<Vec<f32>> {
                    augment_segment(&segment, rate, &cfg.augment, &mut rng, |r| {
                        // Babble: another recording than this one (when there is another).
                        let other = if waves.len() > 1 { (u + r.random_range(1..waves.len())) % waves.len() } else { u };
                        cut(&waves[other].samples, len, r)
                    })
                };
                Ok([augment(a)?, augment(b)?])
            })
            .collect::<Result<_>>()?;
        let mut views = Vec::with_capacity(2);
        for v in 0..2 {
            let flat: Vec<f32> = pairs.iter().flat_map(|p| p[v].iter().copied()).collect();
            let signals = Tensor::from_slice(&flat).reshape([ids.len() as i64, len as i64]);
            let feats = normalised_fbank(&self.fbank, &signals)?;
            let mut rows = Vec::with_capacity(ids.len());
            for i in 0..ids.len() {
                let mut rng = ssl_core::seed::rng(&[seed, SEGMENT_DRAWS, index, i as u64, 1 + v as u64]);
                let row = feats.get(i as i64);
                rows.push(if rng.random_bool(cfg.spec_augment_probability) { spec_augment(&row, &cfg.spec_augment, &mut rng)? } else { row });
            }
            views.push(Tensor::stack(&rows, 0));
        }
        Batch::from_views(views)
    }
}

impl BatchSource for SegmentLoader {
    fn start(&mut self, index: u64) -> Result<()> {
        self.next = index;
        Ok(())
    }

    fn next_batch(&mut self) -> Result<Batch> {
        let b = self.batch_at(self.next)?;
        self.next += 1;
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn disjoint_segments_share_no_sample_when_the_recording_allows() {
        let wave: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut orders = [0; 2];
        for _ in 0..200 {
            let [a, b] = cut_disjoint(&wave, 30, &mut rng);
            assert_eq!((a.len(), b.len()), (30, 30));
            let (lo, hi) = if a[0] < b[0] { (&a, &b) } else { (&b, &a) };
            assert!(lo[29] < hi[0], "overlap: {} .. {} and {} ..", lo[0], lo[29], hi[0]);
            assert!(a.windows(2).all(|w| w[1] == w[0] + 1.0), "contiguous");
            orders[usize::from(a[0] < b[0])] += 1;
        }
        assert!(orders[0] > 50 && orders[1] > 50, "either order: {orders:?}");
        // 45 samples: first and last 30.
        let [a, b] = cut_disjoint(&wave[..45], 30, &mut rng);
        let mut starts = [a[0], b[0]];
        starts.sort_by(f32::total_cmp);
        assert_eq!(starts, [0.0, 15.0]);
        // Shorter than a segment: repeated cuts.
        let [a, _] = cut_disjoint(&wave[..10], 30, &mut rng);
        assert_eq!(a.len(), 30);
    }
}
