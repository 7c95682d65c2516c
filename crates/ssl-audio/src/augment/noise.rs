//! Additive noise or music at a chosen signal-to-noise ratio.
use anyhow::{bail, Result};
use rand::Rng;

/// Mean power of `x`.
fn power(x: &[f32]) -> f64 {
    x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len().max(1) as f64
}

/// The SNR of `signal` against `noise` in dB (same length).
pub fn snr_db(signal: &[f32], noise: &[f32]) -> f64 {
    10.0 * (power(signal) / power(noise)).log10()
}

/// `signal + g * noise` with `g` chosen so that the SNR is `snr_db`. The noise is cut at
/// a random offset (drawn from `rng`) when longer than the signal and repeated when
/// shorter. An error when either is silent.
pub fn add_at_snr(signal: &[f32], noise: &[f32], snr_db: f64, rng: &mut impl Rng) -> Result<Vec<f32>> {
    if signal.is_empty() || noise.is_empty() {
        bail!("cannot mix an empty signal or noise");
    }
    let offset = if noise.len() > signal.len() { rng.random_range(0..=noise.len() - signal.len()) } else { 0 };
    let segment: Vec<f32> = (0..signal.len()).map(|i| noise[(offset + i) % noise.len()]).collect();
    let (ps, pn) = (power(signal), power(&segment));
    if ps == 0.0 || pn == 0.0 {
        bail!("cannot set an SNR: the {} is silent", if ps == 0.0 { "signal" } else { "noise" });
    }
    let gain = (ps / (pn * 10f64.powf(snr_db / 10.0))).sqrt() as f32;
    Ok(signal.iter().zip(&segment).map(|(s, n)| s + gain * n).collect())
}
