//! Audio files in and out of [`crate::waveform::Waveform`]s.
pub mod decode;
pub mod resample;

pub use decode::{read_audio, AUDIO_EXTENSIONS};
pub use resample::resample;
