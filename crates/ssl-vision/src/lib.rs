//! # ssl-vision
//!
//! Image self-supervised learning on `ssl-core`: decoding (PNG / JPEG, IDX, ImageFolder,
//! in memory or streamed), the seeded augmentation pipeline run in parallel off the
//! training thread, and the `ssl-vision` command line (pre-train, evaluate, the
//! Fashion-MNIST main job, benchmarks, the objectives table, the UOTA experiment).
//!
//! A view is a pure function of the image and a seed, so a run's batches can be
//! replayed exactly on resume:
//!
//! ```
//! use rand::SeedableRng;
//! use ssl_vision::augment::{augment, AugmentConfig, Image};
//!
//! let pixels: Vec<u8> = (0..3 * 32 * 32).map(|i| (i % 251) as u8).collect();
//! let photo = Image::from_u8(3, 32, 32, &pixels);
//! let mut cfg = AugmentConfig::default(); // SimCLR's crop, flip, jitter, grey-scale
//! cfg.size = 24;
//! let view = |seed| augment(&photo, &cfg, &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
//! assert_eq!((view(1).channels, view(1).height, view(1).width), (3, 24, 24));
//! assert_eq!(view(1), view(1));
//! assert_ne!(view(1), view(2));
//! ```
//!
//! Whole runs go through [`pipeline::pretrain`] and [`pipeline::evaluate`] with a
//! [`config::PretrainConfig`]; the methods are those of [`registry`] (ssl-core's, each
//! linked to its paper in ssl-core's documentation). The augmentations follow SimCLR
//! (Chen et al. 2020, [arXiv 2002.05709](https://arxiv.org/abs/2002.05709)) and BYOL
//! (blur, solarize; [arXiv 2006.07733](https://arxiv.org/abs/2006.07733)); multi-crop
//! follows SwAV ([arXiv 2006.09882](https://arxiv.org/abs/2006.09882)).
//!
//! No cargo features: PNG and JPEG decoding are always built in.
//! Executables find libtorch through the `ssl-link` crate (see its documentation).
#![warn(missing_docs)]

pub mod augment;
pub mod config;
pub mod data;
pub mod loader;
pub mod pipeline;
pub mod video;
/// The charts (ssl-core's, drawn as PNG here).
pub use ssl_core::plots;

/// The methods and backbones `ssl-vision` can train: ssl-core's, and the 3-D ResNets for
/// clips ([`video::video_backbones`]).
pub fn registry() -> ssl_core::Registry {
    let mut r = ssl_core::Registry::core();
    for b in video::video_backbones() {
        r.register_backbone(b).expect("video backbone names are new");
    }
    r.register_method(video::stc_mix::stc_mix_spec()).expect("stc-mix is a new method name");
    r
}
