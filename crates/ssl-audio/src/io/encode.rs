//! Waveforms out: 16-bit PCM WAV through `hound`, written whole or not at all.
use crate::waveform::Waveform;
use anyhow::{Context, Result};
use std::path::Path;

/// Writes `wave` as mono 16-bit PCM WAV at its rate; samples beyond `[-1, 1]` are clipped.
/// The file appears only once complete (a temporary file renamed), so a failure leaves an
/// earlier file as it was.
pub fn write_wav(path: &Path, wave: &Waveform) -> Result<()> {
    ssl_core::config::write_atomically_with(path, |tmp| {
        let spec = hound::WavSpec { channels: 1, sample_rate: wave.sample_rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
        let mut w = hound::WavWriter::create(tmp, spec).with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut ints = w.get_i16_writer(wave.samples.len() as u32);
        for &s in &wave.samples {
            ints.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16);
        }
        ints.flush()?;
        w.finalize()?;
        Ok(())
    })
}
