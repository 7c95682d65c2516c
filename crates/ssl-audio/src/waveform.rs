//! A decoded recording: mono samples in `[-1, 1]` at a known rate.
use anyhow::{bail, Result};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Kaldi reads 16-bit PCM as integers, so its features are of samples in that range.
/// Multiply `[-1, 1]` samples by this before computing Kaldi-compatible features.
pub const KALDI_SAMPLE_SCALE: f32 = 32768.0;

/// Mono audio in `[-1, 1]` (float files may exceed it a little) at `sample_rate` Hz.
#[derive(Debug, Clone, PartialEq)]
pub struct Waveform {
    /// The samples, one per frame (channels already mixed down).
    pub samples: Vec<f32>,
    /// Frames per second.
    pub sample_rate: u32,
}

impl Waveform {
    /// A waveform of `samples` at `sample_rate`; an error when the rate is zero or a
    /// sample is NaN or infinite (`what` names the source in that error).
    pub fn new(samples: Vec<f32>, sample_rate: u32, what: &Path) -> Result<Self> {
        if sample_rate == 0 {
            bail!("{}: the sample rate is 0", what.display());
        }
        if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
            bail!("{}: sample {i} is {} (NaN or infinite samples cannot be used)", what.display(), samples[i]);
        }
        Ok(Self { samples, sample_rate })
    }

    /// Mixes `channels` interleaved channels down to one by averaging them.
    pub fn mix_down(interleaved: &[f32], channels: usize) -> Vec<f32> {
        if channels <= 1 {
            return interleaved.to_vec();
        }
        interleaved.chunks_exact(channels).map(|frame| frame.iter().sum::<f32>() / channels as f32).collect()
    }

    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / self.sample_rate as f64
    }

    /// The largest absolute sample (0 for digital silence).
    pub fn peak(&self) -> f32 {
        self.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()))
    }

    /// The samples as a float tensor `[n]` on `device`, multiplied by `scale`.
    pub fn to_tensor(&self, scale: f32, device: Device) -> Tensor {
        let t = Tensor::from_slice(&self.samples).to_kind(Kind::Float);
        let t = if scale == 1.0 { t } else { t * f64::from(scale) };
        t.to_device(device)
    }
}
