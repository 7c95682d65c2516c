//! SpecAugment's masks (Park et al. 2019, arXiv 1904.08779): bands of mel channels and
//! spans of frames set to the features' mean.
use anyhow::{bail, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// How many masks and how wide; the defaults are the paper's LibriSpeech-basic policy
/// without time warping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SpecAugmentConfig {
    /// Frequency masks per example (2).
    pub freq_masks: usize,
    /// Largest frequency mask, in channels (`F` = 27 for 80 channels).
    pub max_freq_width: i64,
    /// Time masks per example (2).
    pub time_masks: usize,
    /// Largest time mask, in frames (`T` = 100).
    pub max_time_width: i64,
    /// No time mask covers more than this fraction of the frames (`p` = 1.0).
    pub max_time_fraction: f64,
}

impl Default for SpecAugmentConfig {
    fn default() -> Self {
        Self { freq_masks: 2, max_freq_width: 27, time_masks: 2, max_time_width: 100, max_time_fraction: 1.0 }
    }
}

/// `features` `[T, F]` with masks drawn from `rng`; masked entries take the mean of
/// `features`, so the masks add no offset to normalised features.
pub fn spec_augment(features: &Tensor, cfg: &SpecAugmentConfig, rng: &mut impl Rng) -> Result<Tensor> {
    let (t, f) = match features.size().as_slice() {
        [t, f] => (*t, *f),
        other => bail!("SpecAugment expects features [frames, channels], got {other:?}"),
    };
    let mut keep_freq = vec![1.0f32; f as usize];
    for _ in 0..cfg.freq_masks {
        let width = rng.random_range(0..=cfg.max_freq_width.min(f));
        let start = rng.random_range(0..=f - width);
        keep_freq[start as usize..(start + width) as usize].fill(0.0);
    }
    let mut keep_time = vec![1.0f32; t as usize];
    let time_cap = cfg.max_time_width.min((cfg.max_time_fraction * t as f64).floor() as i64).min(t);
    for _ in 0..cfg.time_masks {
        let width = rng.random_range(0..=time_cap.max(0));
        let start = rng.random_range(0..=t - width);
        keep_time[start as usize..(start + width) as usize].fill(0.0);
    }
    let device = features.device();
    let keep = Tensor::from_slice(&keep_time).unsqueeze(1).to_device(device) * Tensor::from_slice(&keep_freq).unsqueeze(0).to_device(device);
    let fill = features.mean(Kind::Float);
    Ok(features * &keep + (1.0 - &keep) * fill)
}
