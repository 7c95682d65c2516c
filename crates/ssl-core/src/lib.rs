//! # ssl-core
//!
//! The modality-free core of the toolkit: self-supervised objectives, building blocks
//! (backbones, heads, momentum targets, memory banks), the method seam and the open
//! registry of methods and backbones, the shared training run with its loops (SSL,
//! fine-tuning), outlier-aware view weighting (UOTA) and evaluation (kNN, linear probe,
//! embeddings).
//!
//! Data flows one way: [`data::BatchSource`] -> [`data::Batch`] -> [`Method::loss`] ->
//! [`reduction::ViewReduction`] -> [`train::Trainer::run`].

pub mod blocks;
pub mod cli;
pub mod config;
pub mod data;
pub mod device;
pub mod eval;
pub mod memory;
pub mod method;
pub mod methods;
pub mod objectives;
#[cfg(feature = "plots")]
pub mod plots;
pub mod reduction;
pub mod registry;
pub mod seed;
pub mod train;
pub mod uota;
pub mod views;

pub use data::{Batch, BatchSource};
pub use method::{Export, Method, MethodLoss, StepContext};
pub use registry::{BuildContext, MethodConfig, MethodOptions, MethodSpec, Registry};

/// Builds the ssl-core method called `name` (see [`Registry::core`]).
pub fn build_method(name: &str, vs: &tch::nn::VarStore, cfg: &MethodConfig) -> anyhow::Result<Box<dyn Method>> {
    Registry::core().build_method(name, vs, cfg)
}
