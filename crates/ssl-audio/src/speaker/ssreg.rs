//! SSReg (Sang et al. 2022, arXiv 2112.04459): a Siamese speaker encoder whose two
//! segments of one utterance are pulled together by a self-supervised regulariser on the
//! positive pair alone, `0.5 D(p1, sg z2) + 0.5 D(p2, sg z1)` with `D` the negative cosine
//! and `p` a predictor's output, added to a contrastive loss (NT-Xent on `z`) or on its own.
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use ssl_core::blocks::{Backbone, Mlp, MlpConfig, Online};
use ssl_core::objectives::{negative_cosine_per_sample, nt_xent_per_view};
use ssl_core::registry::{BuildContext, MethodOptions};
use ssl_core::views::view_embeddings;
use ssl_core::{Batch, Method, MethodLoss, StepContext};
use tch::Tensor;

/// One line for `methods` listings.
pub const SUMMARY: &str =
    "SSReg: NT-Xent between two segments of an utterance plus a stop-gradient predictor regulariser on the positive pair (either weight may be 0)";

/// The `[model.options]` of `ssreg`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct SsRegOptions {
    /// Weight of the contrastive loss (0: SSReg alone, a SimSiam-style Siamese network).
    pub contrastive_weight: f64,
    /// Weight of the regulariser (0: the contrastive baseline).
    pub ssreg_weight: f64,
    /// Temperature of NT-Xent.
    pub temperature: f64,
}

impl Default for SsRegOptions {
    fn default() -> Self {
        Self { contrastive_weight: 1.0, ssreg_weight: 1.0, temperature: 0.1 }
    }
}

impl SsRegOptions {
    /// Options with the two weights and the default temperature.
    pub fn weighted(contrastive_weight: f64, ssreg_weight: f64) -> Self {
        Self { contrastive_weight, ssreg_weight, ..Self::default() }
    }
}

impl MethodOptions for SsRegOptions {
    fn validate(&self) -> Result<()> {
        for (key, w) in [("contrastive_weight", self.contrastive_weight), ("ssreg_weight", self.ssreg_weight)] {
            if !(w >= 0.0 && w.is_finite()) {
                bail!("ssreg: {key} must be a finite number >= 0, got {w}");
            }
        }
        if self.contrastive_weight == 0.0 && self.ssreg_weight == 0.0 {
            bail!("ssreg: contrastive_weight and ssreg_weight are both 0, so there is nothing to train");
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            bail!("ssreg: temperature must be a positive finite number, got {}", self.temperature);
        }
        Ok(())
    }
}

/// The SSReg method: encoder + projector (`z`) + predictor (`p`).
pub struct SsReg {
    online: Online,
    predictor: Mlp,
    options: SsRegOptions,
}

/// Builds `ssreg` (projector of two layers to `projector_dim`, predictor of two layers).
pub fn build(ctx: &BuildContext, options: SsRegOptions) -> Result<Box<dyn Method>> {
    let d = ctx.model.projector_dim;
    let online = ctx.online(MlpConfig::projector2(ctx.model.projector_hidden, d))?;
    let predictor = ctx.mlp("predictor", d, MlpConfig::predictor(ctx.model.predictor_hidden, d));
    Ok(Box::new(SsReg { online, predictor, options }))
}

/// The regulariser per sample and view, `[N, 2]`: view `a`'s prediction against the
/// other view's projection with its gradient stopped.
pub fn ssreg_per_view(p1: &Tensor, p2: &Tensor, z1: &Tensor, z2: &Tensor) -> Result<Tensor> {
    Ok(Tensor::stack(&[negative_cosine_per_sample(p1, &z2.detach())?, negative_cosine_per_sample(p2, &z1.detach())?], 1))
}

impl Method for SsReg {
    fn name(&self) -> &'static str {
        "ssreg"
    }

    fn loss(&mut self, batch: &Batch, _ctx: &StepContext) -> Result<MethodLoss> {
        let views = batch.views();
        if views.len() != 2 {
            bail!("ssreg takes exactly 2 segments per utterance, got {}", views.len());
        }
        let z = self.online.project_views(views)?;
        let o = &self.options;
        let regulariser = if o.ssreg_weight > 0.0 {
            let p: Vec<Tensor> = z.iter().map(|z| self.predictor.forward_t(z, true)).collect();
            Some(ssreg_per_view(&p[0], &p[1], &z[0], &z[1])? * o.ssreg_weight)
        } else {
            None
        };
        let embeddings = view_embeddings(&z);
        if o.contrastive_weight == 0.0 {
            return Ok(MethodLoss::per_view(regulariser.expect("validated: one weight is positive"), embeddings));
        }
        let contrastive = nt_xent_per_view(&z[0], &z[1], o.temperature)? * o.contrastive_weight;
        let loss = MethodLoss::per_view(contrastive, embeddings);
        Ok(match regulariser {
            Some(r) => loss.with_term("ssreg", r.mean(None)),
            None => loss,
        })
    }

    fn backbone(&self) -> &dyn Backbone {
        self.online.backbone.as_ref()
    }
}
