//! SimCLR (arXiv 2002.05709): backbone + projector, NT-Xent between every pair of views
//! that holds a global view.
use super::common::{positive, sides};
use crate::blocks::{Backbone, MlpConfig, Online};
use crate::data::Batch;
use crate::method::{Method, MethodLoss, StepContext};
use crate::objectives::nt_xent_per_view;
use crate::registry::{BuildContext, MethodOptions};
use crate::views::{per_view_from_pairs, view_embeddings};
use anyhow::Result;
use serde::{Deserialize, Serialize};

/// The `[model.options]` of `simclr`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct SimClrOptions {
    /// Softmax temperature of NT-Xent.
    pub temperature: f64,
}

impl Default for SimClrOptions {
    fn default() -> Self {
        Self { temperature: 0.2 }
    }
}

impl MethodOptions for SimClrOptions {
    fn validate(&self) -> Result<()> {
        positive("simclr", "temperature", self.temperature)
    }
}

pub struct SimClr {
    online: Online,
    temperature: f64,
}

pub fn build(ctx: &BuildContext, o: SimClrOptions) -> Result<Box<dyn Method>> {
    let online = ctx.online(MlpConfig::projector2(ctx.model.projector_hidden, ctx.model.projector_dim))?;
    Ok(Box::new(SimClr { online, temperature: o.temperature }))
}

impl Method for SimClr {
    fn name(&self) -> &'static str {
        "simclr"
    }

    fn loss(&mut self, batch: &Batch, _ctx: &StepContext) -> Result<MethodLoss> {
        let views = batch.views_at_least("simclr", 2)?;
        let z = self.online.project_views(views)?;
        let losses = per_view_from_pairs(views.len(), batch.global_views(), |a, b| Ok(sides(nt_xent_per_view(&z[a], &z[b], self.temperature)?)))?;
        Ok(MethodLoss::per_view(losses, view_embeddings(&z)))
    }

    fn backbone(&self) -> &dyn Backbone {
        self.online.backbone.as_ref()
    }
}
