//! Speaker encoders on frame features `[N, T, F]` (frames, bins): a thin ResNet-34 and a
//! small ECAPA-TDNN, each ending in a pooled speaker embedding. Both are registered
//! backbones (see [`crate::registry`]), so every method of the registry trains them.
mod ecapa;
mod pooling;
mod thin_resnet;

pub use ecapa::{EcapaTdnn, ECAPA_EMBEDDING};
pub use pooling::{attentive_statistics, statistics};
pub use thin_resnet::{ThinResNet, THIN_RESNET_EMBEDDING};
