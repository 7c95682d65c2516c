//! Kaldi's triangular mel filterbank.
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// The mel bands (Kaldi's `--num-mel-bins`, `--low-freq`, `--high-freq`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MelOptions {
    /// Number of triangular bands (23).
    pub num_bins: i64,
    /// Lower edge of the lowest band in Hz (20).
    pub low_freq: f64,
    /// Upper edge of the highest band in Hz; 0 or negative counts down from Nyquist (0).
    pub high_freq: f64,
}

impl Default for MelOptions {
    fn default() -> Self {
        Self { num_bins: 23, low_freq: 20.0, high_freq: 0.0 }
    }
}

impl MelOptions {
    /// `num_bins` bands between Kaldi's default edges.
    pub fn with_bins(num_bins: i64) -> Self {
        Self { num_bins, ..Self::default() }
    }
}

/// Kaldi's mel scale: `1127 ln(1 + f / 700)`.
pub fn mel_scale(hz: f64) -> f64 {
    1127.0 * (1.0 + hz / 700.0).ln()
}

/// The filterbank as a matrix `[padded / 2 + 1, num_bins]` that maps a power spectrum
/// to band energies. Like Kaldi, the Nyquist bin has no weight and a band is a triangle
/// on the mel scale, evaluated at each FFT bin's centre frequency.
pub fn mel_banks(opts: &MelOptions, sample_rate: f64, padded: i64) -> Result<Tensor> {
    let nyquist = 0.5 * sample_rate;
    let high = if opts.high_freq <= 0.0 { nyquist + opts.high_freq } else { opts.high_freq };
    if opts.num_bins < 3 {
        bail!("num_bins must be at least 3, not {}", opts.num_bins);
    }
    if !(opts.low_freq >= 0.0 && opts.low_freq < high && high <= nyquist) {
        bail!("the mel bands need 0 <= low_freq < high_freq <= Nyquist: low {} Hz, high {high} Hz, Nyquist {nyquist} Hz", opts.low_freq);
    }
    let fft_bins = padded / 2;
    let bin_width = sample_rate / padded as f64;
    let (mel_low, mel_high) = (mel_scale(opts.low_freq), mel_scale(high));
    let delta = (mel_high - mel_low) / (opts.num_bins + 1) as f64;
    let mut weights = vec![0.0f32; ((fft_bins + 1) * opts.num_bins) as usize];
    for b in 0..opts.num_bins {
        let left = mel_low + b as f64 * delta;
        let (center, right) = (left + delta, left + 2.0 * delta);
        let mut any = false;
        for i in 0..fft_bins {
            let mel = mel_scale(bin_width * i as f64);
            if mel > left && mel < right {
                let w = if mel <= center { (mel - left) / (center - left) } else { (right - mel) / (right - center) };
                weights[(i * opts.num_bins + b) as usize] = w as f32;
                any = true;
            }
        }
        if !any {
            bail!("mel band {b} covers no FFT bin: {} bands are too many for a {padded}-point FFT at {sample_rate} Hz", opts.num_bins);
        }
    }
    Ok(Tensor::from_slice(&weights).view([fft_bins + 1, opts.num_bins]).to_kind(Kind::Float))
}
