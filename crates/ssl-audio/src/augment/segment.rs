//! The online augmentation of one training segment for speaker SSL (the time-domain
//! chain of SSReg and of the contrastive speaker recipes): a simulated room, then
//! coloured noise or babble at a random SNR, then a random gain. The MUSAN noise and
//! RIR corpora of those recipes are not in the registries, so the noise is generated and
//! the babble is other recordings of the training set.
use super::noise::add_at_snr;
use super::reverb::{reverberate, Room, RoomConfig};
use anyhow::{bail, Result};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// Probabilities and ranges of the segment augmentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SegmentAugmentConfig {
    /// Chance of reverberation by a room drawn from `room` (0.3).
    pub reverb_probability: f64,
    /// The rooms.
    pub room: RoomConfig,
    /// Chance of coloured Gaussian noise (0.5): white noise through a one-pole low-pass
    /// whose pole is drawn in `[0, 0.95]`, from white to nearly brown.
    pub noise_probability: f64,
    /// SNR range of the noise in dB ((5, 20), MUSAN noise's 0-15 shifted for 8 kHz prompts).
    pub noise_snr_db: (f64, f64),
    /// Chance of babble (0.3) when no noise was added: `babble_voices` other recordings summed.
    pub babble_probability: f64,
    /// SNR range of the babble in dB ((13, 20), as MUSAN speech).
    pub babble_snr_db: (f64, f64),
    /// Recordings summed into the babble (3).
    pub babble_voices: usize,
    /// Gain range in dB ((-6, 6)).
    pub gain_db: (f64, f64),
}

impl Default for SegmentAugmentConfig {
    fn default() -> Self {
        Self {
            reverb_probability: 0.3,
            room: RoomConfig::default(),
            noise_probability: 0.5,
            noise_snr_db: (5.0, 20.0),
            babble_probability: 0.3,
            babble_snr_db: (13.0, 20.0),
            babble_voices: 3,
            gain_db: (-6.0, 6.0),
        }
    }
}

impl SegmentAugmentConfig {
    /// No augmentation at all (every probability 0, no gain).
    pub fn none() -> Self {
        Self { reverb_probability: 0.0, noise_probability: 0.0, babble_probability: 0.0, gain_db: (0.0, 0.0), ..Self::default() }
    }

    /// Checks probabilities (in `[0, 1]`) and ranges (ordered, finite), naming the key.
    pub fn validate(&self) -> Result<()> {
        for (key, p) in
            [("reverb_probability", self.reverb_probability), ("noise_probability", self.noise_probability), ("babble_probability", self.babble_probability)]
        {
            if !(0.0..=1.0).contains(&p) {
                bail!("augment.{key} must be in [0, 1], got {p}");
            }
        }
        for (key, (lo, hi)) in [("noise_snr_db", self.noise_snr_db), ("babble_snr_db", self.babble_snr_db), ("gain_db", self.gain_db)] {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                bail!("augment.{key} must be a finite range (low, high) with low <= high, got ({lo}, {hi})");
            }
        }
        if self.babble_probability > 0.0 && self.babble_voices == 0 {
            bail!("augment.babble_voices must be at least 1 when babble_probability is above 0");
        }
        Ok(())
    }
}

fn uniform(rng: &mut impl Rng, (lo, hi): (f64, f64)) -> f64 {
    if hi > lo {
        rng.random_range(lo..hi)
    } else {
        lo
    }
}

/// Gaussian noise of `len` samples through a one-pole low-pass with pole `pole`.
pub fn coloured_noise(len: usize, pole: f64, rng: &mut impl Rng) -> Vec<f32> {
    let mut state = 0.0f64;
    (0..len)
        .map(|_| {
            let w: f64 = StandardNormal.sample(rng);
            state = pole * state + (1.0 - pole) * w;
            state as f32
        })
        .collect()
}

/// `segment` (at `rate` Hz) augmented by the chain of `cfg` with draws from `rng`;
/// `babble(rng)` gives one other recording's segment of the same length when babble is
/// drawn.
pub fn augment_segment<R: Rng>(
    segment: &[f32],
    rate: u32,
    cfg: &SegmentAugmentConfig,
    rng: &mut R,
    mut babble: impl FnMut(&mut R) -> Vec<f32>,
) -> Result<Vec<f32>> {
    let mut x = segment.to_vec();
    // A silent stretch of an utterance gets no additive noise (its SNR is undefined).
    let silent = x.iter().all(|&s| s == 0.0);
    if rng.random_bool(cfg.reverb_probability) && !silent {
        let room = Room::random(&cfg.room, rng)?;
        x = reverberate(&x, rate, &room, &cfg.room, rng)?;
    }
    if !silent {
        if rng.random_bool(cfg.noise_probability) {
            let pole = rng.random_range(0.0..0.95);
            let noise = coloured_noise(x.len(), pole, rng);
            let snr = uniform(rng, cfg.noise_snr_db);
            x = add_at_snr(&x, &noise, snr, rng)?;
        } else if rng.random_bool(cfg.babble_probability) {
            let mut mix = vec![0f32; x.len()];
            for _ in 0..cfg.babble_voices {
                for (m, b) in mix.iter_mut().zip(babble(rng)) {
                    *m += b;
                }
            }
            if mix.iter().any(|&m| m != 0.0) {
                let snr = uniform(rng, cfg.babble_snr_db);
                x = add_at_snr(&x, &mix, snr, rng)?;
            }
        }
    }
    let gain = 10f64.powf(uniform(rng, cfg.gain_db) / 20.0) as f32;
    if gain != 1.0 {
        x.iter_mut().for_each(|s| *s *= gain);
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_chain_is_seeded_and_noise_lands_in_its_snr_range() {
        let tone: Vec<f32> = (0..8000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
        let cfg = SegmentAugmentConfig { reverb_probability: 0.0, noise_probability: 1.0, gain_db: (0.0, 0.0), ..Default::default() };
        let run = |seed| augment_segment(&tone, 8000, &cfg, &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed), |_| vec![0.0; 8000]).unwrap();
        let (a, b, c) = (run(1), run(1), run(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
        for noisy in [a, c] {
            let noise: Vec<f32> = noisy.iter().zip(&tone).map(|(n, t)| n - t).collect();
            let snr = crate::augment::snr_db(&tone, &noise);
            assert!((5.0 - 1e-6..20.0 + 1e-6).contains(&snr), "SNR {snr}");
        }
        let none = augment_segment(&tone, 8000, &SegmentAugmentConfig::none(), &mut rand_chacha::ChaCha8Rng::seed_from_u64(3), |_| unreachable!()).unwrap();
        assert_eq!(none, tone);
        assert!(SegmentAugmentConfig { noise_probability: 1.5, ..Default::default() }.validate().is_err());
        assert!(SegmentAugmentConfig { gain_db: (6.0, -6.0), ..Default::default() }.validate().is_err());
    }
}
