//! Building blocks: backbones, projector / predictor heads, transformer layers, the online
//! branch, momentum (EMA) targets and memory banks. All of them are modality-free.
//!
//! Parameter names follow torchvision (`conv1.weight`, `layer1.0.bn1.running_mean`, ...)
//! so a backbone exported as safetensors loads into the PyTorch model directly.

mod backbone;
mod convnet;
mod heads;
mod memory_bank;
mod momentum;
mod online;
mod resnet;
mod transformer;

pub use backbone::{batch_norm2d, global_average_pool, Backbone, BackboneConfig};
pub use convnet::SmallConvNet;
pub use heads::{Mlp, MlpConfig};
pub use memory_bank::MemoryBank;
pub use momentum::{cosine_momentum, MomentumCopy, MomentumSchedule, MomentumTarget, MomentumUpdate};
pub use online::{by_resolution, Online};
pub use resnet::ResNet;
pub use transformer::{MultiHeadAttention, TransformerLayer};
