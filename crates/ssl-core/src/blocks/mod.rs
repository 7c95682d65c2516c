//! Building blocks: backbones, projector / predictor heads, momentum (EMA) copies.
//!
//! Parameter names follow torchvision (`conv1.weight`, `layer1.0.bn1.running_mean`, ...)
//! so a backbone exported as safetensors loads into the PyTorch model directly.

mod backbone;
mod convnet;
mod heads;
mod momentum;
mod resnet;

pub use backbone::{build_backbone, Backbone, BackboneConfig, BackboneKind};
pub use convnet::SmallConvNet;
pub use heads::{Mlp, MlpConfig};
pub use momentum::{cosine_momentum, MomentumCopy};
pub use resnet::ResNet;
