//! Seeded augmentations of recordings and their features: SpecAugment masks, additive
//! noise or music at a chosen SNR, and reverberation by simulated room responses.
//! Each takes its randomness from the caller's RNG, so a seed fixes every view.
pub mod noise;
pub mod reverb;
pub mod spec_augment;

pub use noise::{add_at_snr, snr_db};
pub use reverb::{reverberate, Room, RoomConfig};
pub use spec_augment::{spec_augment, SpecAugmentConfig};
