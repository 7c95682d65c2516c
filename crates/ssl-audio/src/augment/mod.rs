//! Seeded augmentations of recordings and their features: SpecAugment masks, additive
//! noise or music at a chosen SNR, reverberation by simulated room responses, and the
//! chain of all three that speaker SSL applies to each training segment.
//! Each takes its randomness from the caller's RNG, so a seed fixes every view.
pub mod noise;
pub mod reverb;
pub mod segment;
pub mod spec_augment;

pub use noise::{add_at_snr, snr_db};
pub use reverb::{reverberate, Room, RoomConfig};
pub use segment::{augment_segment, coloured_noise, SegmentAugmentConfig};
pub use spec_augment::{spec_augment, SpecAugmentConfig};
