//! Labelled recordings: folders of speakers or classes, or a CSV, decoded and resampled.
pub mod audio_set;

pub use audio_set::{read_audio_set, read_for_set, AudioSet, AUDIO};
