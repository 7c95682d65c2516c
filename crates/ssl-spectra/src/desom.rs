//! DESOM, the Deep Embedded Self-Organising Map (Forest et al.; official code
//! FlorentF9/DESOM): an autoencoder whose latent codes are organised by a SOM layer.
//!
//! `loss = MSE(x, x^) + gamma (1/B) sum_i sum_k w(b_i, k) ||z_i - m_k||^2`, with `b_i` the
//! best-matching unit (fixed within the step), `w = exp(-d^2 / T^2)` on Manhattan grid
//! distances and `T` annealed exponentially from `t_max` to `t_min`. The autoencoder is
//! pre-trained alone first; then the prototypes start at encodings of random samples.
use crate::som::{best_matching_units, neighbourhood, squared_distances, temperature, MapShape};
use anyhow::{bail, Result};
use rand::seq::index::sample;
use serde::{Deserialize, Serialize};
use ssl_core::blocks::Backbone;
use ssl_core::data::{Batch, WEIGHTS};
use ssl_core::{Export, Method, MethodLoss, StepContext};
use std::collections::HashMap;
use tch::{nn, nn::Module, Kind, Tensor};

/// Encoder architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Architecture {
    /// Fully connected `[d, hidden..., latent]`, mirrored in the decoder (the paper's).
    Mlp,
    /// Three strided 1-D convolutions, then a linear layer; an MLP decoder.
    Conv,
}

/// Settings of DESOM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct DesomConfig {
    /// Grid of the SOM layer (default 15 x 15).
    pub shape: MapShape,
    /// Encoder architecture (default MLP).
    pub architecture: Architecture,
    /// Hidden widths, input side first (default 500, 500, 2000); mirrored by the decoder, unused by the conv encoder.
    pub hidden: Vec<i64>,
    /// Dimension of the latent codes (default 10).
    pub latent: i64,
    /// Weight of the SOM term in the loss (default 0.001).
    pub gamma: f64,
    /// Neighbourhood temperature when the SOM term starts, in grid steps (default 10).
    pub t_max: f64,
    /// Neighbourhood temperature at the last step, in grid steps (default 0.1).
    pub t_min: f64,
    /// Optimiser steps of autoencoder-only pre-training before the SOM term is added.
    pub pretrain_steps: usize,
}

impl Default for DesomConfig {
    fn default() -> Self {
        Self {
            shape: MapShape { rows: 15, cols: 15 },
            architecture: Architecture::Mlp,
            hidden: vec![500, 500, 2000],
            latent: 10,
            gamma: 0.001,
            t_max: 10.0,
            t_min: 0.1,
            pretrain_steps: 300,
        }
    }
}

/// The encoder: spectra `[N, L]` to latent codes `[N, latent]`.
#[derive(Debug)]
pub struct Encoder {
    convs: Vec<nn::Conv1D>,
    linears: Vec<nn::Linear>,
    latent: i64,
}

impl Encoder {
    fn new(p: &nn::Path, pixels: i64, cfg: &DesomConfig) -> Self {
        let mut convs = Vec::new();
        let mut d = pixels;
        let hidden: &[i64] = match cfg.architecture {
            Architecture::Mlp => &cfg.hidden,
            Architecture::Conv => {
                let mut c_in = 1;
                for (i, c) in [16i64, 32, 64].into_iter().enumerate() {
                    let conf = nn::ConvConfig { stride: 2, padding: 3, ..Default::default() };
                    convs.push(nn::conv1d(p / format!("conv{i}"), c_in, c, 7, conf));
                    c_in = c;
                    d = (d + 2 * 3 - 7) / 2 + 1;
                }
                d *= c_in;
                &[]
            }
        };
        let mut linears = Vec::new();
        for (i, &h) in hidden.iter().chain(std::iter::once(&cfg.latent)).enumerate() {
            linears.push(nn::linear(p / format!("linear{i}"), d, h, Default::default()));
            d = h;
        }
        Self { convs, linears, latent: cfg.latent }
    }
}

impl Backbone for Encoder {
    fn forward_t(&self, xs: &Tensor, _train: bool) -> Tensor {
        let mut x = xs.shallow_clone();
        if !self.convs.is_empty() {
            x = x.unsqueeze(1);
            for c in &self.convs {
                x = x.apply(c).relu();
            }
            x = x.flatten(1, -1);
        }
        let last = self.linears.len() - 1;
        for (i, l) in self.linears.iter().enumerate() {
            x = l.forward(&x);
            if i < last {
                x = x.relu();
            }
        }
        x
    }

    fn out_dim(&self) -> i64 {
        self.latent
    }
}

/// The MLP decoder: latent codes back to spectra.
#[derive(Debug)]
pub struct Decoder {
    linears: Vec<nn::Linear>,
}

impl Decoder {
    fn new(p: &nn::Path, pixels: i64, cfg: &DesomConfig) -> Self {
        let dims: Vec<i64> = std::iter::once(cfg.latent).chain(cfg.hidden.iter().rev().copied()).chain(std::iter::once(pixels)).collect();
        let linears = dims.windows(2).enumerate().map(|(i, w)| nn::linear(p / format!("linear{i}"), w[0], w[1], Default::default())).collect();
        Self { linears }
    }

    /// Spectra `[N, L]` decoded from latent codes `[N, latent]`.
    pub fn forward(&self, z: &Tensor) -> Tensor {
        let mut x = z.shallow_clone();
        let last = self.linears.len() - 1;
        for (i, l) in self.linears.iter().enumerate() {
            x = l.forward(&x);
            if i < last {
                x = x.relu();
            }
        }
        x
    }
}

/// The DESOM method: the autoencoder and the SOM prototypes of its latent space.
pub struct Desom {
    /// The encoder, exported as the backbone.
    pub encoder: Encoder,
    /// The decoder.
    pub decoder: Decoder,
    /// Prototypes of the map nodes in latent space, `[K, latent]` (trained).
    pub prototypes: Tensor,
    /// Grid of the SOM layer.
    pub shape: MapShape,
    cfg: DesomConfig,
    grid: Tensor,
    initialised: bool,
    /// Spectra whose encodings become the initial prototypes (one per node, drawn from the
    /// whole training set); without it, the current batch is used.
    init_pool: Option<Tensor>,
}

impl Desom {
    /// Builds the networks and zeroed prototypes in `vs` for spectra of `pixels`, after
    /// checking the sizes, the temperatures and the memory they need.
    pub fn new(vs: &nn::VarStore, pixels: i64, cfg: &DesomConfig) -> Result<Self> {
        cfg.shape.validate()?;
        if cfg.latent < 1 || cfg.hidden.iter().any(|h| !(1..=100_000).contains(h)) || cfg.latent > 100_000 || pixels < 16 {
            bail!("desom: latent and hidden sizes must be positive and spectra at least 16 pixels (got {pixels})");
        }
        if !(cfg.t_max >= cfg.t_min && cfg.t_min > 0.0 && cfg.gamma >= 0.0) {
            bail!("desom: need t_max >= t_min > 0 and gamma >= 0");
        }
        Self::check_memory(pixels, cfg)?;
        let root = vs.root();
        let encoder = Encoder::new(&(&root / "encoder"), pixels, cfg);
        let decoder = Decoder::new(&(&root / "decoder"), pixels, cfg);
        let prototypes = (&root / "som").zeros("prototypes", &[cfg.shape.nodes() as i64, cfg.latent]);
        Ok(Self {
            encoder,
            decoder,
            prototypes,
            shape: cfg.shape,
            cfg: cfg.clone(),
            grid: cfg.shape.distances(vs.device()),
            initialised: false,
            init_pool: None,
        })
    }

    /// Parameters of the encoder and decoder for spectra of `pixels` (as `f64`: computed
    /// before anything is allocated, from sizes the user chose).
    pub fn parameter_count(pixels: i64, cfg: &DesomConfig) -> f64 {
        let chain = |dims: &[f64]| dims.windows(2).map(|w| (w[0] + 1.0) * w[1]).sum::<f64>();
        let hidden: Vec<f64> = cfg.hidden.iter().map(|&h| h as f64).collect();
        let (p, latent) = (pixels as f64, cfg.latent as f64);
        let encoder = match cfg.architecture {
            Architecture::Mlp => chain(&[&[p][..], &hidden, &[latent]].concat()),
            Architecture::Conv => (p / 8.0 + 1.0) * 64.0 * latent + 7.0 * (16.0 + 16.0 * 32.0 + 32.0 * 64.0),
        };
        let decoder = chain(&[&[latent][..], &hidden.iter().rev().copied().collect::<Vec<_>>(), &[p]].concat());
        encoder + decoder
    }

    /// Refuses sizes whose networks, gradients and Adam moments would not fit in memory.
    pub fn check_memory(pixels: i64, cfg: &DesomConfig) -> Result<()> {
        ssl_core::memory::check_fits(
            "the DESOM networks and their optimiser state",
            "preprocess.grid (fewer pixels) or desom.hidden",
            Self::parameter_count(pixels, cfg) * 16.0,
        )
    }

    /// Latent codes of spectra `[N, L]` (no gradient), `batch` rows at a time.
    pub fn encode(&self, x: &Tensor, batch: i64) -> Tensor {
        tch::no_grad(|| {
            let n = x.size()[0];
            let chunks: Vec<Tensor> = (0..n).step_by(batch.max(1) as usize).map(|s| self.encoder.forward_t(&x.narrow(0, s, batch.min(n - s)), false)).collect();
            Tensor::cat(&chunks, 0)
        })
    }

    /// The prototypes decoded back to spectra, `[K, L]`.
    pub fn decoded_prototypes(&self) -> Tensor {
        tch::no_grad(|| self.decoder.forward(&self.prototypes))
    }

    /// Whether the prototypes have been set from encodings (done once pre-training ends).
    pub fn is_initialised(&self) -> bool {
        self.initialised
    }

    /// Sets the spectra `[K, L]` (one per node) whose encodings start the prototypes.
    pub fn set_init_pool(&mut self, pool: Tensor) {
        self.init_pool = Some(pool);
    }
}

impl Method for Desom {
    fn name(&self) -> &'static str {
        "desom"
    }

    /// The batch's view: spectra `[B, L]`; its [`WEIGHTS`]: pixel weights `[B, L]` (1 good,
    /// 0 bad). The loss is the weighted reconstruction, plus the SOM term (`som`, already
    /// multiplied by gamma) once the autoencoder is pre-trained.
    fn loss(&mut self, batch: &Batch, ctx: &StepContext) -> Result<MethodLoss> {
        let [x] = batch.views() else { bail!("desom takes one view (the spectra), got {}", batch.views().len()) };
        let w = batch.part(WEIGHTS)?;
        if w.size() != x.size() {
            bail!("desom: pixel weights {:?} do not match the spectra {:?}", w.size(), x.size());
        }
        let z = self.encoder.forward_t(x, true);
        let recon = self.decoder.forward(&z);
        let rec = ((recon - x).square() * w).sum(Kind::Float) / w.sum(Kind::Float).clamp_min(1.0);
        if ctx.step < self.cfg.pretrain_steps {
            return Ok(MethodLoss::batch(rec));
        }
        if !self.initialised {
            let init = match &self.init_pool {
                Some(pool) => tch::no_grad(|| self.encoder.forward_t(pool, false)),
                None => {
                    let k = self.shape.nodes();
                    let b = z.size()[0] as usize;
                    let idx: Vec<i64> =
                        if b >= k { sample(&mut ctx.rng(), b, k).into_iter().map(|i| i as i64).collect() } else { (0..k).map(|i| (i % b) as i64).collect() };
                    z.detach().index_select(0, &Tensor::from_slice(&idx).to_device(z.device()))
                }
            };
            tch::no_grad(|| self.prototypes.shallow_clone().copy_(&init));
            self.initialised = true;
        }
        let span = ctx.total_steps.saturating_sub(self.cfg.pretrain_steps).max(1);
        let t = temperature((ctx.step - self.cfg.pretrain_steps) as f64 / span as f64, self.cfg.t_max, self.cfg.t_min);
        let d2 = squared_distances(&z, &self.prototypes);
        let bmu = best_matching_units(&z.detach(), &self.prototypes.detach());
        let weights = neighbourhood(&self.grid.index_select(0, &bmu), t).detach();
        let som = (weights * d2).sum_dim_intlist([1i64].as_slice(), false, Kind::Float).mean(Kind::Float);
        Ok(MethodLoss::batch(rec).with_term("som", som * self.cfg.gamma))
    }

    fn backbone(&self) -> &dyn Backbone {
        &self.encoder
    }

    fn exports(&self) -> Vec<Export> {
        vec![Export::new("encoder", "encoder")]
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        vec![("initialised".into(), Tensor::from(self.initialised as i64))]
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        if let Some(t) = state.get("initialised") {
            self.initialised = t.f_int64_value(&[])? != 0;
        }
        Ok(())
    }
}
