//! Speech features computed on tensors, batched, on CPU or GPU, matching Kaldi.
pub mod fbank;
mod frame_loop;
pub mod frames;
pub mod mel;
pub mod mfcc;

pub use fbank::{Fbank, FbankOptions};
pub use frames::{FrameOptions, WindowKind};
pub use mel::MelOptions;
pub use mfcc::{Mfcc, MfccOptions};

use crate::waveform::{Waveform, KALDI_SAMPLE_SCALE};
use anyhow::{bail, Result};
use tch::{Device, Tensor};

/// A frame-level feature extractor (filterbanks, MFCC).
pub trait Features {
    /// Features `[T, dim]` of samples `[N]`, or `[B, T, dim]` of equal-length signals
    /// `[B, N]`, in Kaldi's sample scale (16-bit integer range).
    fn compute(&self, samples: &Tensor) -> Result<Tensor>;

    /// Features `[T_i, dim]` of signals of any lengths (each `[N_i]`), in one pass over
    /// all their frames; the same values as one [`Features::compute`] call each.
    fn compute_many(&self, signals: &[Tensor]) -> Result<Vec<Tensor>>;

    /// The sample rate the extractor is set up for, in Hz.
    fn sample_rate(&self) -> f64;

    /// Values per frame.
    fn dim(&self) -> i64;

    /// Features `[T, dim]` of a waveform in `[-1, 1]` (scaled to Kaldi's range); an
    /// error when its rate is not the extractor's.
    fn waveform(&self, wave: &Waveform, device: Device) -> Result<Tensor> {
        if f64::from(wave.sample_rate) != self.sample_rate() {
            bail!("the audio is at {} Hz but the features are set up for {} Hz: resample it first", wave.sample_rate, self.sample_rate());
        }
        self.compute(&wave.to_tensor(KALDI_SAMPLE_SCALE, device))
    }
}
