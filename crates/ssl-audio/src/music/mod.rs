//! Music with weak captions for music-language pre-training: the tune catalogue, the MIDI
//! renderer that turns its transcriptions into recordings, and the captions' vocabulary.
pub mod render;
pub mod tunes;
pub mod vocabulary;

pub use render::MidiRenderer;
pub use tunes::{read_tunes, write_tunes, Tune};
pub use vocabulary::CaptionVocabulary;
