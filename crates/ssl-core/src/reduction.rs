//! How per-view losses `[N, V]` become one number: a plain mean, or a weighting such as
//! UOTA's. The SSL loop takes any [`ViewReduction`]; the run's `[train.uota]` table picks
//! UOTA.
use crate::method::StepContext;
use crate::uota::{uota_weighted_loss, UotaConfig};
use anyhow::Result;
use tch::Tensor;

/// How the SSL loop turns a method's per-view losses `[N, V]` into the loss of the step.
pub trait ViewReduction: Send {
    /// The loss of the step from per-view losses `[N, V]` and unit-norm projections
    /// `[N, V, D]`.
    fn reduce(&self, losses: &Tensor, embeddings: &Tensor, ctx: &StepContext) -> Result<Tensor>;

    /// Whether it weights views at this step (logged); `false` means a plain mean.
    fn weighting(&self, _ctx: &StepContext) -> bool {
        false
    }

    /// Whether it needs per-view losses (a batch-level loss is then an error).
    fn needs_per_view(&self) -> bool {
        false
    }
}

/// The mean over samples and views.
#[derive(Debug, Clone, Copy, Default)]
pub struct MeanOverViews;

impl ViewReduction for MeanOverViews {
    fn reduce(&self, losses: &Tensor, _embeddings: &Tensor, _ctx: &StepContext) -> Result<Tensor> {
        Ok(losses.mean(None))
    }
}

/// UOTA (arXiv 2112.08132): the mean until `start_fraction` of training, then views far
/// from their instance's centre are down-weighted.
#[derive(Debug, Clone, Copy)]
pub struct Uota(pub UotaConfig);

impl ViewReduction for Uota {
    fn reduce(&self, losses: &Tensor, embeddings: &Tensor, ctx: &StepContext) -> Result<Tensor> {
        if self.weighting(ctx) {
            uota_weighted_loss(losses, embeddings, &self.0)
        } else {
            Ok(losses.mean(None))
        }
    }

    fn weighting(&self, ctx: &StepContext) -> bool {
        ctx.step as f64 >= self.0.start_fraction * ctx.total_steps as f64
    }

    fn needs_per_view(&self) -> bool {
        true
    }
}

/// The reduction a `[train.uota]` table asks for.
pub fn from_config(uota: &UotaConfig) -> Box<dyn ViewReduction> {
    if uota.enabled {
        Box::new(Uota(*uota))
    } else {
        Box::new(MeanOverViews)
    }
}
