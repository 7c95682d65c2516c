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
//!
//! ```
//! use ssl_core::objectives::{l2_normalize, nt_xent};
//! use tch::{Device, Kind, Tensor};
//!
//! // Two views of 4 samples whose projections are identical: every negative is as
//! // similar as the positive, so NT-Xent is exactly log(2N - 1).
//! let z = l2_normalize(&Tensor::ones([4, 8], (Kind::Float, Device::Cpu)));
//! let loss = nt_xent(&z, &z, 0.5)?.double_value(&[]);
//! assert!((loss - 7f64.ln()).abs() < 1e-5);
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! ## Methods and their papers
//!
//! | method | objective | paper |
//! |---|---|---|
//! | SimCLR (NT-Xent) | [`objectives::nt_xent`] | Chen et al. 2020, [arXiv 2002.05709](https://arxiv.org/abs/2002.05709) |
//! | MoCo v2 / v3 | [`objectives::moco_infonce`], [`objectives::moco_v3`] | [arXiv 2003.04297](https://arxiv.org/abs/2003.04297), [arXiv 2104.02057](https://arxiv.org/abs/2104.02057) |
//! | BYOL | [`objectives::byol`] | Grill et al. 2020, [arXiv 2006.07733](https://arxiv.org/abs/2006.07733) |
//! | SimSiam | [`objectives::simsiam`] | Chen & He 2021, [arXiv 2011.10566](https://arxiv.org/abs/2011.10566) |
//! | Barlow Twins | [`objectives::barlow_twins`] | Zbontar et al. 2021, [arXiv 2103.03230](https://arxiv.org/abs/2103.03230) |
//! | VICReg | [`objectives::vicreg`] | Bardes et al. 2022, [arXiv 2105.04906](https://arxiv.org/abs/2105.04906) |
//! | UniGrad | [`objectives::unigrad`] | Tao et al. 2022, [arXiv 2112.05141](https://arxiv.org/abs/2112.05141) |
//! | NAC | [`objectives::nac`] | Park et al. 2022, [arXiv 2112.04014](https://arxiv.org/abs/2112.04014) |
//! | SwAV (Sinkhorn-Knopp, multi-crop) | [`objectives::swav`] | Caron et al. 2020, [arXiv 2006.09882](https://arxiv.org/abs/2006.09882) |
//! | UOTA view weighting | [`uota`] | Ge et al. 2022, [arXiv 2112.08132](https://arxiv.org/abs/2112.08132) |
//! | weighted kNN evaluation | [`eval::knn_accuracy`] | Wu et al. 2018, [arXiv 1805.01978](https://arxiv.org/abs/1805.01978) |
//! | ResNet backbones | [`blocks`] | He et al. 2016, [arXiv 1512.03385](https://arxiv.org/abs/1512.03385) |
//! | LARS optimiser | [`train::OptimizerKind`] | You et al. 2017, [arXiv 1708.03888](https://arxiv.org/abs/1708.03888) |
//!
//! ## Cargo features
//!
//! - `plots` (off by default): the charts the modality crates' command lines draw (lines,
//!   2-D embeddings, DET curves, [`plots`]) as SVG, with a shared font and palette; pulls in
//!   `plotters` and `statrs`.
//! - `png` (off by default, implies `plots`): the same charts as PNG; adds `image`.
//!
//! ## Linking
//!
//! Executables that use this crate find libtorch at run time through an rpath set by
//! the `ssl-link` crate: call `ssl_link::libtorch()` from your `build.rs`.
#![warn(missing_docs)]

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
