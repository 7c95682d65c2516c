//! A labelled set of recordings, all at one sample rate.
use crate::io::{read_audio, resample};
use crate::waveform::Waveform;
use anyhow::{bail, Result};
use ssl_core::data::{FileKind, FolderListing};
use std::path::Path;

/// The files an audio folder holds.
pub const AUDIO: FileKind = FileKind { noun: "audio files", extensions: crate::io::AUDIO_EXTENSIONS };

/// Decoded recordings with their labels (speaker or class), in the listing's order.
#[derive(Debug, Clone)]
pub struct AudioSet {
    /// The files and labels behind `waves`, one to one.
    pub listing: FolderListing,
    /// The recordings, mono, at `sample_rate`.
    pub waves: Vec<Waveform>,
    /// Frames per second of every recording.
    pub sample_rate: u32,
}

impl AudioSet {
    /// Number of recordings.
    pub fn len(&self) -> usize {
        self.waves.len()
    }

    /// Whether the set is empty (it never is when read by [`read_audio_set`]).
    pub fn is_empty(&self) -> bool {
        self.waves.is_empty()
    }

    /// Total length in seconds.
    pub fn seconds(&self) -> f64 {
        self.waves.iter().map(Waveform::seconds).sum()
    }
}

/// Reads one file for a set: decoded, resampled to `rate`, and refused when it is
/// digital silence (nothing to learn from, and a zero-energy input to every feature).
pub fn read_for_set(path: &Path, rate: u32) -> Result<Waveform> {
    let wave = read_audio(path)?;
    if wave.peak() == 0.0 {
        bail!("{}: the recording is silent (every sample is 0)", path.display());
    }
    let wave = resample(&wave, rate).map_err(|e| e.context(path.display().to_string()))?;
    Ok(wave)
}

/// Reads every recording under `source` (a folder with one sub-folder per speaker or
/// class, a flat folder, or a CSV of `path,label` rows) in parallel at `rate` Hz. A file
/// that cannot be used is an error naming it, or with `skip_bad` is left out and counted.
pub fn read_audio_set(source: &Path, rate: u32, skip_bad: bool) -> Result<AudioSet> {
    let is_csv = source.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let mut listing = if is_csv { FolderListing::from_csv(source, AUDIO)? } else { FolderListing::of(source, AUDIO)? };
    let waves = listing.read_each(|p| read_for_set(p, rate), skip_bad, "decoded")?;
    Ok(AudioSet { listing, waves, sample_rate: rate })
}
