//! Clips: `frames` frames `stride` apart from a start drawn at random, and the image
//! augmentations applied to a clip as one: every frame gets the same crop, flip, colour
//! jitter, grey-scale and blur, so the motion between frames is left as it was.
use crate::augment::{augment, AugmentConfig, Image};
use anyhow::{bail, Result};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Which frames make a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClipSpec {
    /// Frames per clip (T).
    pub frames: usize,
    /// Frames between consecutive clip frames (1: consecutive).
    pub stride: usize,
}

impl ClipSpec {
    /// Checks that a clip has at least one frame and a stride of at least 1.
    pub fn validate(&self) -> Result<()> {
        if self.frames == 0 || self.stride == 0 {
            bail!("a clip needs at least one frame and a stride of at least 1, got {} frames at stride {}", self.frames, self.stride);
        }
        Ok(())
    }

    /// Frames a video must have for one clip: `(frames - 1) * stride + 1`.
    pub fn span(&self) -> usize {
        (self.frames - 1) * self.stride + 1
    }

    /// The frame indices of a clip of a video of `length` frames, from a start drawn from
    /// `rng`; an error when the video is too short.
    pub fn sample(&self, length: usize, rng: &mut impl Rng) -> Result<Vec<usize>> {
        if length < self.span() {
            bail!("a video of {length} frames is shorter than a clip ({} frames at stride {} span {})", self.frames, self.stride, self.span());
        }
        let start = rng.random_range(0..=length - self.span());
        Ok((0..self.frames).map(|k| start + k * self.stride).collect())
    }
}

/// Augments every frame of `frames` with the same draws: the generator's state is copied
/// for each frame (so each replays the draws of the first), then left where the first
/// frame's augmentation left it. The pipeline's draws do not depend on the pixels, so the
/// frames share one crop box, flip, jitter, grey-scale and blur.
pub fn augment_clip(frames: &[Image], cfg: &AugmentConfig, rng: &mut ChaCha8Rng) -> Vec<Image> {
    let start = rng.clone();
    let mut out = Vec::with_capacity(frames.len());
    for (i, frame) in frames.iter().enumerate() {
        let mut r = start.clone();
        out.push(augment(frame, cfg, &mut r));
        if i == 0 {
            *rng = r;
        }
    }
    out
}
