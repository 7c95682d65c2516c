//! STC-mix with cross-modal manifold cutmix (CMMC): two 3-D encoders, one on the RGB clip
//! and one on its motion (optical flow or frame differences, computed in the step), trained
//! with in-batch contrastive losses whose positives are softened by mixing:
//!
//! - **cross-modal**: the motion of clip 1 is the positive of the RGB of clip 2 (same video),
//!   and the RGB of clip 1 of the motion of clip 2;
//! - **STC-mix**: a random space-time box ("tesseract") of another video is pasted into clip 1;
//!   the mixed clip's targets are its own key with the share `lambda` it kept and the other
//!   video's with `1 - lambda`;
//! - **CMMC**: the same paste between streams on intermediate feature maps: a box of the
//!   other video's motion features goes into the RGB features at stage `mix_stage`, then the
//!   RGB network continues; targets as above.
//!
//! The RGB encoder is the one evaluated (`backbone`); the motion encoder is exported too.
use super::optical_flow::MotionInput;
use super::resnet3d::{Resnet3dKind, VideoResNet};
use anyhow::{bail, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};
use ssl_core::blocks::{Backbone, Mlp, MlpConfig};
use ssl_core::data::Batch;
use ssl_core::method::{Export, Method, MethodLoss, StepContext};
use ssl_core::objectives::{mix_targets, soft_infonce};
use ssl_core::registry::{BuildContext, MethodOptions, MethodSpec};
use tch::{Kind, Tensor};

/// The `[model.options]` of `stc-mix`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StcMixOptions {
    /// Softmax temperature of the contrastive losses.
    pub temperature: f64,
    /// The motion stream's input.
    pub motion: MotionInput,
    /// Stage after which CMMC pastes motion features into RGB features (1-3).
    pub mix_stage: usize,
    /// Range of the pasted box's share of the clip (volume fraction).
    pub box_share: (f64, f64),
    /// Weight of the input-level STC-mix term.
    pub stc_weight: f64,
    /// Weight of the CMMC term.
    pub cmmc_weight: f64,
    /// Weight of the cross-modal term.
    pub cross_weight: f64,
}

impl Default for StcMixOptions {
    fn default() -> Self {
        Self { temperature: 0.1, motion: MotionInput::Flow, mix_stage: 2, box_share: (0.1, 0.6), stc_weight: 1.0, cmmc_weight: 1.0, cross_weight: 1.0 }
    }
}

impl MethodOptions for StcMixOptions {
    fn validate(&self) -> Result<()> {
        if self.temperature.is_nan() || self.temperature <= 0.0 {
            bail!("stc-mix: temperature must be positive, got {}", self.temperature);
        }
        if !(1..=3).contains(&self.mix_stage) {
            bail!("stc-mix: mix_stage must be 1, 2 or 3, got {}", self.mix_stage);
        }
        let (lo, hi) = self.box_share;
        if !(lo > 0.0 && lo <= hi && hi < 1.0) {
            bail!("stc-mix: box_share must satisfy 0 < min <= max < 1, got {:?}", self.box_share);
        }
        if [self.stc_weight, self.cmmc_weight, self.cross_weight].iter().any(|w| w.is_nan() || *w < 0.0) {
            bail!("stc-mix: weights must be 0 or more");
        }
        Ok(())
    }
}

/// The method's registry entry.
pub fn stc_mix_spec() -> MethodSpec {
    MethodSpec::new(
        "stc-mix",
        "STC-mix + CMMC: RGB and motion (optical flow / frame differences) 3-D encoders; space-time cutmix of clips and cross-modal cutmix of feature maps with soft contrastive targets (3-D backbones only)",
        false,
        build,
    )
}

/// A space-time box: `(start, length)` along T, H and W.
type Tesseract = [(i64, i64); 3];

/// A random box of about `share` of a `[T, H, W]` volume (equal fractions per side, each at
/// least one cell).
fn draw_box(shape: [i64; 3], share: f64, rng: &mut impl Rng) -> Tesseract {
    let side = share.cbrt();
    let mut b = [(0, 0); 3];
    for (d, &len) in shape.iter().enumerate() {
        let l = ((len as f64 * side).round() as i64).clamp(1, len);
        b[d] = (rng.random_range(0..=len - l), l);
    }
    b
}

/// `x` with the box taken from `other` (both `[N, C, T, H, W]`), and the share of `x` kept.
pub fn paste_box(x: &Tensor, other: &Tensor, b: Tesseract) -> (Tensor, f64) {
    let s = x.size();
    let mask = Tensor::zeros([1, 1, s[2], s[3], s[4]], (x.kind(), x.device()));
    let _ = mask.narrow(2, b[0].0, b[0].1).narrow(3, b[1].0, b[1].1).narrow(4, b[2].0, b[2].1).fill_(1.0);
    let pasted = (b[0].1 * b[1].1 * b[2].1) as f64 / (s[2] * s[3] * s[4]) as f64;
    (x * (1.0 - &mask) + other * &mask, 1.0 - pasted)
}

/// The STC-mix / CMMC method.
pub struct StcMix {
    rgb: VideoResNet,
    motion: VideoResNet,
    rgb_head: Mlp,
    motion_head: Mlp,
    o: StcMixOptions,
}

fn build(ctx: &BuildContext, o: StcMixOptions) -> Result<Box<dyn Method>> {
    let b = &ctx.model.backbone;
    let kind = match b.kind.as_str() {
        "r3d-18" => Resnet3dKind::R3d18,
        "r2plus1d-18" => Resnet3dKind::R2Plus1d18,
        other => bail!("stc-mix needs a 3-D backbone (r3d-18 or r2plus1d-18), got '{other}'"),
    };
    let root = ctx.root();
    let rgb = VideoResNet::new(&(&root / "backbone"), kind, b.in_channels, b.width, b.small_image_stem)?;
    let motion = VideoResNet::new(&(&root / "motion_backbone"), kind, o.motion.channels(b.in_channels), b.width, b.small_image_stem)?;
    let head = MlpConfig::projector2(ctx.model.projector_hidden, ctx.model.projector_dim);
    let rgb_head = ctx.mlp("projector", rgb.out_dim(), head);
    let motion_head = ctx.mlp("motion_projector", motion.out_dim(), head);
    Ok(Box::new(StcMix { rgb, motion, rgb_head, motion_head, o }))
}

impl Method for StcMix {
    fn name(&self) -> &'static str {
        "stc-mix"
    }

    fn loss(&mut self, batch: &Batch, ctx: &StepContext) -> Result<MethodLoss> {
        let views = batch.views_at_least("stc-mix", 2)?;
        let (x0, x1) = (&views[0], &views[1]);
        VideoResNet::check_input(x0, x0.size()[1])?;
        let n = x0.size()[0];
        if n < 2 {
            bail!("stc-mix mixes videos of a batch: it needs at least 2, got {n}");
        }
        let t = self.o.temperature;
        let mut rng = ctx.rng();
        // Each video's partner is another one of the batch.
        let shift = rng.random_range(1..n);
        let partner = (Tensor::arange(n, (Kind::Int64, x0.device())) + shift).remainder(n);
        let (m0, m1) = (self.o.motion.compute(x0)?, self.o.motion.compute(x1)?);
        let rgb_key = self.rgb_head.forward_t(&self.rgb.forward_t(x1, true), true);
        let stage = self.o.mix_stage;
        // Clip 1's motion runs once: its stage features serve CMMC and the cross-modal query.
        let h_m0 = self.motion.features_until(&m0, stage, true);
        let motion_query = self.motion_head.forward_t(&self.motion.features_from(&h_m0, stage, true), true);
        let motion_key = self.motion_head.forward_t(&self.motion.forward_t(&m1, true), true);
        let eye = Tensor::eye(n, (Kind::Float, x0.device()));
        // STC-mix: a tesseract of the partner's clip pasted into clip 1.
        let s = x0.size();
        let (lo, hi) = self.o.box_share;
        let b = draw_box([s[2], s[3], s[4]], rng.random_range(lo..=hi), &mut rng);
        let (mixed, keep) = paste_box(x0, &x0.index_select(0, &partner), b);
        let lambda = Tensor::full([n], keep, (Kind::Float, x0.device()));
        let mixed_query = self.rgb_head.forward_t(&self.rgb.forward_t(&mixed, true), true);
        let stc = soft_infonce(&mixed_query, &rgb_key, &mix_targets(&lambda, &partner, n), t)?;
        // CMMC: the partner's motion features pasted into the RGB features.
        let h_rgb = self.rgb.features_until(x0, stage, true);
        let h_motion = h_m0.index_select(0, &partner);
        let hs = h_rgb.size();
        let b = draw_box([hs[2], hs[3], hs[4]], rng.random_range(lo..=hi), &mut rng);
        let (h_mixed, keep) = paste_box(&h_rgb, &h_motion, b);
        let lambda = Tensor::full([n], keep, (Kind::Float, x0.device()));
        let cmmc_query = self.rgb_head.forward_t(&self.rgb.features_from(&h_mixed, stage, true), true);
        let cmmc = soft_infonce(&cmmc_query, &rgb_key, &mix_targets(&lambda, &partner, n), t)?;
        // Cross-modal, both ways: a clip's motion finds the same video's RGB and back (the
        // RGB query reuses the unmixed features of CMMC's first stages).
        let rgb_query = self.rgb_head.forward_t(&self.rgb.features_from(&h_rgb, stage, true), true);
        let cross = (soft_infonce(&motion_query, &rgb_key, &eye, t)? + soft_infonce(&rgb_query, &motion_key, &eye, t)?) * 0.5;
        Ok(MethodLoss::batch(stc * self.o.stc_weight).with_term("cmmc", cmmc * self.o.cmmc_weight).with_term("cross_modal", cross * self.o.cross_weight))
    }

    fn backbone(&self) -> &dyn Backbone {
        &self.rgb
    }

    fn exports(&self) -> Vec<Export> {
        vec![Export::new("backbone", "backbone"), Export::new("motion_backbone", "motion_backbone")]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn boxes_take_their_share_and_pastes_keep_the_rest() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        for share in [0.1, 0.3, 0.6] {
            let b = draw_box([8, 16, 16], share, &mut rng);
            let vol = (b[0].1 * b[1].1 * b[2].1) as f64 / (8 * 16 * 16) as f64;
            assert!((vol - share).abs() < 0.12, "share {share}: box {b:?} holds {vol}");
            for (d, len) in [8, 16, 16].iter().enumerate() {
                assert!(b[d].0 + b[d].1 <= *len);
            }
        }
        let x = Tensor::zeros([2, 1, 4, 4, 4], (Kind::Float, tch::Device::Cpu));
        let y = Tensor::ones([2, 1, 4, 4, 4], (Kind::Float, tch::Device::Cpu));
        let (m, keep) = paste_box(&x, &y, [(1, 2), (0, 4), (2, 2)]);
        assert_eq!(keep, 0.75);
        assert_eq!(m.sum(Kind::Float).double_value(&[]), 2.0 * 16.0);
        assert_eq!(m.double_value(&[0, 0, 1, 3, 2]), 1.0);
        assert_eq!(m.double_value(&[0, 0, 0, 3, 2]), 0.0);
    }
}
