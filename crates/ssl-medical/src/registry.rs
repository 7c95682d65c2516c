//! The registry of `ssl-medical`: ssl-core's methods and backbones plus the U-Net encoder,
//! so any registered SSL method (Barlow Twins for BT-Unet) pre-trains it.
use crate::unet::UnetEncoder;
use ssl_core::registry::{BackboneSpec, Registry};

/// The U-Net encoder as a backbone: `width` is the first level's width (16 in the paper),
/// `stages` the pooled levels before the bottleneck (4 in the paper).
pub fn medical_backbones() -> Vec<BackboneSpec> {
    vec![BackboneSpec {
        name: "bt-unet-encoder",
        summary: "BT-Unet's U-Net encoder: residual blocks of separable convolutions, widths w..16w over `stages` poolings, pooled bottleneck features",
        min_input: 16,
        build: |p, c| Ok(Box::new(UnetEncoder::new(p, c.in_channels, c.width, c.stages)?)),
    }]
}

/// ssl-core's registry with the U-Net encoder.
pub fn registry() -> Registry {
    let mut r = Registry::core();
    for b in medical_backbones() {
        r.register_backbone(b).expect("medical backbone names are new");
    }
    r
}
