//! # ssl-vision
//!
//! Image self-supervised learning on `ssl-core`: decoding (PNG / JPEG, IDX, ImageFolder),
//! the seeded augmentation pipeline run in parallel off the training thread, and the
//! `ssl-vision` command line (pre-train, evaluate, the Fashion-MNIST main job,
//! benchmarks, the objectives table).

pub mod augment;
pub mod config;
pub mod data;
pub mod loader;
pub mod pipeline;
pub mod plots;

/// The methods and backbones `ssl-vision` can train: ssl-core's (the image crate adds
/// its own here).
pub fn registry() -> ssl_core::Registry {
    ssl_core::Registry::core()
}
