//! # ssl-core
//!
//! The modality-free core of the toolkit: self-supervised objectives, building blocks
//! (backbones, heads, momentum copies), the method seam and its registry, the trainer
//! (optimisers, schedules, crash-safe checkpoints, resume, NaN guard, metrics), outlier-
//! aware view weighting (UOTA) and evaluation (kNN, linear probe, embeddings).
//!
//! Data flows one way: batch of views -> [`method::Method::loss`] -> trainer.

pub mod blocks;
pub mod cli;
pub mod config;
pub mod device;
pub mod eval;
pub mod memory;
pub mod method;
pub mod methods;
pub mod objectives;
pub mod train;
pub mod uota;

pub use method::{Method, MethodLoss, StepContext};
pub use methods::{build_method, find_method, MethodConfig, METHODS};
