//! MuLaP, music-language pre-training (Manco et al. 2021, arXiv 2112.04214): an audio
//! encoder and a caption encoder joined by co-attention, trained with masked language
//! modelling, masked audio modelling and audio-text matching on weakly captioned music.
//! The same method with only its audio-only contrastive term is the baseline the
//! experiment compares it with.
pub mod clips;
pub mod method;
pub mod model;
pub mod pipeline;

pub use clips::{ClipLoader, MusicClips};
pub use method::Mulap;
pub use model::{CaptionEncoder, CoAttention, MusicEncoder, MusicnnFrontEnd};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// Sizes, masking rates and loss weights of MuLaP. The defaults are sized for a CPU; the
/// paper's model is 96 bands, 3 s chunks, 6 + 6 layers of 256 / 768 channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct MulapConfig {
    /// Log-mel bands of the input.
    pub bins: i64,
    /// Frames per chunk (16 ms frames: 125 is 2 s).
    pub chunk_frames: i64,
    /// Chunks per clip.
    pub chunks: i64,
    /// Filters of each of the two timbral (vertical) convolutions.
    pub timbre_filters: i64,
    /// Filters of each of the three temporal (horizontal) convolutions.
    pub temporal_filters: i64,
    /// Channels of the back end's 1-D convolutions.
    pub backend: i64,
    /// Width of both transformers.
    pub d_model: i64,
    /// Attention heads.
    pub heads: i64,
    /// Hidden units of the transformer MLPs.
    pub mlp: i64,
    /// Audio transformer layers.
    pub audio_layers: usize,
    /// Text transformer layers.
    pub text_layers: usize,
    /// Co-attention layers.
    pub co_layers: usize,
    /// Caption length in word pieces, `[CLS]` and `[SEP]` included.
    pub max_tokens: i64,
    /// Dropout in the transformers.
    pub dropout: f64,
    /// Share of caption tokens masked (of those: 80% `[MASK]`, 10% random, 10% kept).
    pub mask_tokens: f64,
    /// Share of chunks masked (their vectors zeroed).
    pub mask_chunks: f64,
    /// Probability that a clip's caption is swapped for another clip's (audio-text matching).
    pub swap_probability: f64,
    /// Weight of masked language modelling (paper 0.1).
    pub mlm_weight: f64,
    /// Weight of masked audio modelling (paper 4).
    pub mam_weight: f64,
    /// Weight of audio-text matching (paper 2).
    pub atm_weight: f64,
    /// Weight of the audio-only contrastive term (NT-Xent between two windows of a tune;
    /// 0 for MuLaP, the baseline sets only this one).
    pub contrastive_weight: f64,
    /// NT-Xent temperature of the contrastive term.
    pub temperature: f64,
}

impl Default for MulapConfig {
    fn default() -> Self {
        Self {
            bins: 48,
            chunk_frames: 125,
            chunks: 4,
            timbre_filters: 12,
            temporal_filters: 8,
            backend: 64,
            d_model: 64,
            heads: 4,
            mlp: 128,
            audio_layers: 2,
            text_layers: 2,
            co_layers: 1,
            max_tokens: 40,
            dropout: 0.1,
            mask_tokens: 0.15,
            mask_chunks: 0.15,
            swap_probability: 0.5,
            mlm_weight: 0.1,
            mam_weight: 4.0,
            atm_weight: 2.0,
            contrastive_weight: 0.0,
            temperature: 0.1,
        }
    }
}

impl MulapConfig {
    /// Whether the multimodal objectives are on (any of MLM, MAM, ATM).
    pub fn multimodal(&self) -> bool {
        self.mlm_weight > 0.0 || self.mam_weight > 0.0 || self.atm_weight > 0.0
    }

    /// The audio-only contrastive baseline: this config with every multimodal weight 0.
    pub fn audio_only_contrastive(&self) -> Self {
        Self { mlm_weight: 0.0, mam_weight: 0.0, atm_weight: 0.0, contrastive_weight: 1.0, ..self.clone() }
    }

    /// Refuses sizes and rates that cannot work, naming the field.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("bins", self.bins),
            ("chunk_frames", self.chunk_frames),
            ("chunks", self.chunks),
            ("timbre_filters", self.timbre_filters),
            ("temporal_filters", self.temporal_filters),
            ("backend", self.backend),
            ("d_model", self.d_model),
            ("heads", self.heads),
            ("mlp", self.mlp),
        ] {
            if v < 1 {
                bail!("mulap.{name} must be at least 1, not {v}");
            }
        }
        if self.bins < 4 || self.chunk_frames < 7 {
            bail!("mulap: the timbral filters need at least 4 bands and 7 frames per chunk (bins {}, chunk_frames {})", self.bins, self.chunk_frames);
        }
        if self.d_model % self.heads != 0 {
            bail!("mulap.d_model ({}) must be a multiple of mulap.heads ({})", self.d_model, self.heads);
        }
        if self.max_tokens < 3 {
            bail!("mulap.max_tokens must leave room for a word between [CLS] and [SEP], not {}", self.max_tokens);
        }
        for (name, v) in
            [("dropout", self.dropout), ("mask_tokens", self.mask_tokens), ("mask_chunks", self.mask_chunks), ("swap_probability", self.swap_probability)]
        {
            if !(0.0..1.0).contains(&v) {
                bail!("mulap.{name} must be in [0, 1), not {v}");
            }
        }
        for (name, v) in
            [("mlm_weight", self.mlm_weight), ("mam_weight", self.mam_weight), ("atm_weight", self.atm_weight), ("contrastive_weight", self.contrastive_weight)]
        {
            if !v.is_finite() || v < 0.0 {
                bail!("mulap.{name} must be a finite weight >= 0, not {v}");
            }
        }
        if !self.multimodal() && self.contrastive_weight == 0.0 {
            bail!("mulap: every loss weight is 0, nothing would be learned");
        }
        if !self.temperature.is_finite() || self.temperature <= 0.0 {
            bail!("mulap.temperature must be positive, not {}", self.temperature);
        }
        Ok(())
    }
}
