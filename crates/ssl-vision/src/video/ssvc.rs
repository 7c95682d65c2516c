//! SSVC, static cue suppression: every frame of a clip goes through a normalizing flow to
//! latents `z_t`; latent dimensions whose standard deviation over the clip's frames is below
//! `alpha` carry what does not move (background, appearance) and are set to 0, the mean of
//! the flow's prior; the flow is inverted and the change added back at the clip's resolution
//! (`x'_t = x_t + up(f^-1(z~_t) - down(x_t))`). The motion-preserved clip is MoCo's key view,
//! so the encoder cannot match query and key by their static cues alone.
use super::flow::{FlowTrainConfig, FrameFlow};
use super::view_transform::ViewTransform;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use ssl_core::method::StepContext;
use tch::{Kind, Tensor};

/// SSVC's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SsvcConfig {
    /// Latent dimensions with a temporal standard deviation below this are static (0.5).
    pub alpha: f64,
    /// How the flow is fitted to the training frames.
    pub flow: FlowTrainConfig,
    /// The view that is suppressed (1: the key of the first pair).
    pub view: usize,
}

impl Default for SsvcConfig {
    fn default() -> Self {
        Self { alpha: 0.5, flow: FlowTrainConfig::default(), view: 1 }
    }
}

/// What suppression did to a batch of clips.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SuppressionStats {
    /// Fraction of latent dimensions set to 0, over all clips.
    pub suppressed: f64,
}

/// The motion-preserved version of clips `[N, C, T, H, W]` (no gradient), and the fraction
/// of latent dimensions suppressed.
pub fn suppress_static(flow: &FrameFlow, clips: &Tensor, alpha: f64) -> Result<(Tensor, SuppressionStats)> {
    let s = clips.size();
    if s.len() != 5 || s[2] < 2 {
        bail!("static cue suppression takes clips [N, C, T, H, W] of at least 2 frames, got {s:?}");
    }
    if alpha.is_nan() || alpha < 0.0 {
        bail!("the suppression threshold alpha must be 0 or more, got {alpha}");
    }
    let (n, c, t, h, w) = (s[0], s[1], s[2], s[3], s[4]);
    let side = flow.config().size as i64;
    tch::no_grad(|| {
        let frames = clips.permute([0, 2, 1, 3, 4]).reshape([n * t, c, h, w]);
        let resized = (h, w) != (side, side);
        let small = if resized { frames.f_upsample_bilinear2d([side, side], false, None, None)? } else { frames.shallow_clone() };
        let (z, _) = flow.encode(&small)?;
        let z = z.view([n, t, -1]);
        let keep = z.std_dim([1].as_slice(), false, true).ge(alpha).to_kind(z.kind());
        let suppressed = 1.0 - keep.mean(Kind::Float).double_value(&[]);
        let back = flow.decode(&(z * keep).view([n * t, -1]))?;
        let out = if resized { &frames + (back - small).f_upsample_bilinear2d([h, w], false, None, None)? } else { back };
        Ok((out.view([n, t, c, h, w]).permute([0, 2, 1, 3, 4]).contiguous(), SuppressionStats { suppressed }))
    })
}

/// [`suppress_static`] as the view transform of a wrapped method (MoCo's key in SSVC).
pub struct StaticSuppression {
    flow: FrameFlow,
    alpha: f64,
    last: Option<SuppressionStats>,
}

impl StaticSuppression {
    /// Suppression by a fitted `flow` at threshold `alpha`.
    pub fn new(flow: FrameFlow, alpha: f64) -> Self {
        Self { flow, alpha, last: None }
    }

    /// What the last batch's suppression did.
    pub fn last(&self) -> Option<SuppressionStats> {
        self.last
    }
}

impl ViewTransform for StaticSuppression {
    fn name(&self) -> &'static str {
        "ssvc"
    }

    fn transform(&mut self, view: &Tensor, _ctx: &StepContext) -> Result<(Tensor, Option<(String, Tensor)>)> {
        let (out, stats) = suppress_static(&self.flow, view, self.alpha)?;
        self.last = Some(stats);
        Ok((out, None))
    }
}
