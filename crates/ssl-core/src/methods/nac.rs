//! NAC (arXiv 2112.04014): a code head gives `tanh`-relaxed activation codes, a noisy
//! binary channel flips their signs, and a factorised Bernoulli `q` from another view
//! must recover them (contrastive bound on the mutual information).
use super::common::sides;
use crate::blocks::{by_resolution, Backbone, Mlp, MlpConfig};
use crate::data::Batch;
use crate::method::{Method, MethodLoss, StepContext};
use crate::objectives::{nac_code, nac_flip_mask, nac_per_sample, NacConfig};
use crate::registry::{BuildContext, MethodOptions};
use crate::views::{per_view_from_pairs, view_embeddings};
use anyhow::{bail, Result};

impl MethodOptions for NacConfig {
    fn validate(&self) -> Result<()> {
        if !(1..=65_536).contains(&self.code_dim) {
            bail!("nac: code_dim must be between 1 and 65536, got {}", self.code_dim);
        }
        if !(0.0..0.5).contains(&self.flip) {
            bail!("nac: flip must be in [0, 0.5), got {}", self.flip);
        }
        Ok(())
    }
}

pub struct Nac {
    backbone: Box<dyn Backbone>,
    code: Mlp,
    q: Mlp,
    flip: f64,
}

pub fn build(ctx: &BuildContext, o: NacConfig) -> Result<Box<dyn Method>> {
    let backbone = ctx.backbone(&(ctx.root() / "backbone"))?;
    let head = MlpConfig::projector2(ctx.model.projector_hidden, o.code_dim);
    let code = ctx.mlp("code", backbone.out_dim(), head);
    let q = ctx.mlp("q", backbone.out_dim(), head);
    Ok(Box::new(Nac { backbone, code, q, flip: o.flip }))
}

impl Method for Nac {
    fn name(&self) -> &'static str {
        "nac"
    }

    fn loss(&mut self, batch: &Batch, ctx: &StepContext) -> Result<MethodLoss> {
        let views = batch.views_at_least("nac", 2)?;
        let h = by_resolution(views, |x| Ok(self.backbone.forward_t(x, true)))?;
        let u: Vec<_> = h.iter().map(|h| nac_code(&self.code.forward_t(h, true))).collect();
        let l: Vec<_> = h.iter().map(|h| nac_code(&self.q.forward_t(h, true))).collect();
        let mut rng = ctx.rng();
        let losses = per_view_from_pairs(views.len(), batch.global_views(), |a, b| {
            let s = u[a].size();
            let flip = nac_flip_mask([2 * s[0], s[1]], self.flip, &mut rng, u[a].device()).to_kind(u[a].kind());
            Ok(sides(nac_per_sample(&u[a], &u[b], &l[a], &l[b], &flip, self.flip)?))
        })?;
        Ok(MethodLoss::per_view(losses, view_embeddings(&u)))
    }

    fn backbone(&self) -> &dyn Backbone {
        self.backbone.as_ref()
    }
}
