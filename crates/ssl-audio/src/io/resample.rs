//! Changing a waveform's sample rate to the model's (band-limited FFT resampling, rubato).
use crate::waveform::Waveform;
use anyhow::{anyhow, Result};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

/// `wave` at `rate` Hz: unchanged when it is already there, otherwise resampled with
/// rubato's FFT resampler (anti-aliased, start-up delay trimmed, same duration).
pub fn resample(wave: &Waveform, rate: u32) -> Result<Waveform> {
    if rate == 0 {
        return Err(anyhow!("cannot resample to 0 Hz"));
    }
    if wave.sample_rate == rate {
        return Ok(wave.clone());
    }
    let mut resampler = Fft::<f32>::new(wave.sample_rate as usize, rate as usize, 1024, 1, FixedSync::Both)
        .map_err(|e| anyhow!("cannot resample {} Hz to {rate} Hz: {e}", wave.sample_rate))?;
    let input = InterleavedSlice::new(&wave.samples[..], 1, wave.samples.len()).map_err(|e| anyhow!("resampling: {e}"))?;
    let output = resampler.process_all(&input, wave.samples.len(), None).map_err(|e| anyhow!("resampling to {rate} Hz: {e}"))?;
    Ok(Waveform { samples: output.take_data(), sample_rate: rate })
}
