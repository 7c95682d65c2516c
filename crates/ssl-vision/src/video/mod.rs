//! Video: clips read from frame folders, sampled with a temporal stride, augmented
//! consistently across their frames, and batched as `[N, C, T, H, W]` in parallel.
pub mod clip;
pub mod frames;
pub mod loader;

pub use clip::{augment_clip, ClipSpec};
pub use frames::{natural_order, FrameVideo, VideoFolder, FRAME_EXTENSIONS};
pub use loader::{ClipLoader, ClipPlan};
