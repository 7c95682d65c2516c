//! Audio files in and out of [`crate::waveform::Waveform`]s.
pub mod decode;
pub mod encode;
pub mod resample;

pub use decode::{read_audio, AUDIO_EXTENSIONS};
pub use encode::write_wav;
pub use resample::resample;
