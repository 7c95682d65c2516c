//! NAC (arXiv 2112.04014): a code head gives `tanh`-relaxed activation codes, a noisy
//! binary channel flips their signs, and a factorised Bernoulli `q` from the other view
//! must recover them (contrastive bound on the mutual information).
use super::common::{two_views, view_embeddings, MethodConfig};
use crate::blocks::{build_backbone, Backbone, Mlp, MlpConfig};
use crate::method::{Method, MethodLoss, StepContext};
use crate::objectives::{nac_code, nac_flip_mask, nac_per_sample};
use anyhow::{bail, Result};
use tch::{nn, Tensor};

pub struct Nac {
    backbone: Box<dyn Backbone>,
    code: Mlp,
    q: Mlp,
    flip: f64,
}

pub fn build(vs: &nn::VarStore, cfg: &MethodConfig) -> Result<Box<dyn Method>> {
    cfg.validate()?;
    if cfg.nac.code_dim < 1 {
        bail!("nac: code_dim must be positive, got {}", cfg.nac.code_dim);
    }
    let root = vs.root();
    let backbone = build_backbone(&(&root / "backbone"), &cfg.backbone)?;
    let head = MlpConfig { hidden: cfg.projector_hidden, out: cfg.nac.code_dim, layers: 2, last_bn: false };
    let code = Mlp::new(&(&root / "code"), backbone.out_dim(), head);
    let q = Mlp::new(&(&root / "q"), backbone.out_dim(), head);
    Ok(Box::new(Nac { backbone, code, q, flip: cfg.nac.flip }))
}

impl Method for Nac {
    fn name(&self) -> &'static str {
        "nac"
    }

    fn loss(&mut self, views: &[Tensor], ctx: &StepContext) -> Result<MethodLoss> {
        let (x1, x2) = two_views("nac", views)?;
        let (h1, h2) = (self.backbone.forward_t(x1, true), self.backbone.forward_t(x2, true));
        let (u1, u2) = (nac_code(&self.code.forward_t(&h1, true)), nac_code(&self.code.forward_t(&h2, true)));
        let (l1, l2) = (nac_code(&self.q.forward_t(&h1, true)), nac_code(&self.q.forward_t(&h2, true)));
        let s = u1.size();
        let flip = nac_flip_mask([2 * s[0], s[1]], self.flip, &mut ctx.rng(), u1.device()).to_kind(u1.kind());
        let losses = nac_per_sample(&u1, &u2, &l1, &l2, &flip, self.flip)?;
        Ok(MethodLoss::PerView { losses, embeddings: view_embeddings(&u1, &u2) })
    }

    fn backbone(&self) -> &dyn Backbone {
        self.backbone.as_ref()
    }
}
