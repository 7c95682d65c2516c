//! The registry of the `ssl-audio` command line: ssl-core's methods and backbones plus
//! the speaker encoders and SSReg.
use crate::models::{EcapaTdnn, ThinResNet};
use crate::speaker::ssreg;
use ssl_core::registry::{BackboneSpec, MethodSpec, Registry};

/// The speaker encoders, for feature inputs `[N, T, F]` (`in_channels` = bins `F`).
pub fn audio_backbones() -> Vec<BackboneSpec> {
    vec![
        BackboneSpec {
            name: "thin-resnet34",
            summary: "thin ResNet-34 over (bins x frames), width w (32 is the usual thin width), statistics pooling, 256-d embedding",
            min_input: 8,
            build: |p, c| Ok(Box::new(ThinResNet::new(p, [3, 4, 6, 3], c.in_channels, c.width))),
        },
        BackboneSpec {
            name: "ecapa-tdnn",
            summary: "ECAPA-TDNN with `width` channels (paper: 512 or 1024; a multiple of 8), attentive statistics pooling, 192-d embedding",
            min_input: 1,
            build: |p, c| {
                if c.width % 8 != 0 {
                    anyhow::bail!("ecapa-tdnn: model.backbone.width (its channels) must be a multiple of 8 (Res2Net's 8 sub-bands), got {}", c.width);
                }
                Ok(Box::new(EcapaTdnn::new(p, c.in_channels, c.width)))
            },
        },
    ]
}

/// ssl-core's registry with the speaker encoders and SSReg.
pub fn registry() -> Registry {
    let mut r = Registry::core();
    for b in audio_backbones() {
        r.register_backbone(b).expect("audio backbone names are new");
    }
    r.register_method(MethodSpec::new("ssreg", ssreg::SUMMARY, true, ssreg::build)).expect("ssreg is a new name");
    r
}
