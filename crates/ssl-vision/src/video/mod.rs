//! Video: clips read from frame folders, sampled with a temporal stride, augmented
//! consistently across their frames, and batched as `[N, C, T, H, W]` in parallel.
pub mod benchmark;
pub mod clip;
#[cfg(feature = "video")]
pub mod decode;
pub mod flow;
pub mod frames;
pub mod loader;
pub mod motion;
pub mod optical_flow;
pub mod pipeline;
pub mod resnet3d;
pub mod s3d;
pub mod ssvc;
pub mod stc_mix;
pub mod view_transform;
pub mod viewclr;

pub use benchmark::{standard_parts, write_benchmark, write_clip, Part};
pub use clip::{augment_clip, ClipSpec};
pub use flow::{train_flow, FlowConfig, FlowTrainConfig, FrameFlow};
pub use frames::{natural_order, FrameVideo, VideoFolder, FRAME_EXTENSIONS};
pub use loader::{ClipLoader, ClipPlan};
pub use motion::{render_clip, BackgroundRule, Motion, MotionConfig};
pub use optical_flow::{horn_schunck, MotionInput};
pub use pipeline::{centre_clips, clip_features, fitted_flow, pretrain_video, score_features, video_run_config, VideoPretrainConfig, VideoScores};
pub use resnet3d::{Resnet3dKind, VideoResNet};
pub use s3d::S3d;
pub use ssvc::{suppress_static, SsvcConfig, StaticSuppression};
pub use stc_mix::{StcMix, StcMixOptions};
pub use view_transform::{TransformedView, ViewTransform};
pub use viewclr::{rotate_camera, ViewClrConfig, ViewGenerator};

use ssl_core::registry::BackboneSpec;

/// The 3-D backbones for clips `[N, C, T, H, W]`, with torchvision's names: `width` is the
/// first stage's (64 for torchvision's shapes, smaller for CPU-sized runs);
/// `small_image_stem` keeps the spatial resolution in the stem, for 32-64 px clips.
pub fn video_backbones() -> Vec<BackboneSpec> {
    vec![
        BackboneSpec {
            name: "r3d-18",
            summary: "R3D-18 for clips [N, C, T, H, W]: 3x3x3 residual blocks, widths w-8w (torchvision.models.video.r3d_18's names; its shapes at width 64)",
            min_input: 16,
            build: |p, c| Ok(Box::new(VideoResNet::new(p, Resnet3dKind::R3d18, c.in_channels, c.width, c.small_image_stem)?)),
        },
        BackboneSpec {
            name: "r2plus1d-18",
            summary: "R(2+1)D-18 for clips [N, C, T, H, W]: 1x3x3 spatial then 3x1x1 temporal convolutions (torchvision.models.video.r2plus1d_18's names; its shapes at width 64)",
            min_input: 16,
            build: |p, c| Ok(Box::new(VideoResNet::new(p, Resnet3dKind::R2Plus1d18, c.in_channels, c.width, c.small_image_stem)?)),
        },
        BackboneSpec {
            name: "s3d",
            summary: "S3D for clips [N, C, T, H, W]: separable 3-D Inception, 1024 w / 64 features (torchvision.models.video.s3d's `features` names; its shapes at width 64)",
            min_input: 16,
            build: |p, c| Ok(Box::new(S3d::new(p, c.in_channels, c.width, c.small_image_stem)?)),
        },
    ]
}
