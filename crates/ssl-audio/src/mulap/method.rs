//! The MuLaP objectives on one batch: masked language modelling on the caption, masked
//! audio modelling on the clip's chunks, audio-text matching with swapped captions, and
//! (for the audio-only baseline) NT-Xent between two windows of each tune.
use super::model::{CaptionEncoder, CoAttention, MusicEncoder};
use super::MulapConfig;
use crate::music::vocabulary::{CLS, MASK, PAD, SEP, SPECIAL};
use anyhow::{bail, Result};
use rand::Rng;
use ssl_core::blocks::{Backbone, Mlp, MlpConfig};
use ssl_core::{Batch, Method, MethodLoss, StepContext};
use tch::{nn, nn::Module, Device, Kind, Tensor};

/// MuLaP: the audio encoder (`encoder.*`, the exported backbone), the caption encoder
/// (`text.*`), co-attention layers (`co{i}.*`) and the three heads; plus a projector for the
/// contrastive baseline.
#[derive(Debug)]
pub struct Mulap {
    cfg: MulapConfig,
    encoder: MusicEncoder,
    text: CaptionEncoder,
    co: Vec<CoAttention>,
    mlm_head: nn::Linear,
    mam_head: nn::Linear,
    atm_head: nn::Linear,
    projector: Mlp,
    vocab: i64,
}

/// The loss terms of one batch, unweighted (for tests and logs).
#[derive(Debug)]
pub struct MulapTerms {
    /// Cross-entropy of the masked word pieces (0 when none was masked).
    pub mlm: Tensor,
    /// Mean squared error of the masked chunk vectors.
    pub mam: Tensor,
    /// Binary cross-entropy of matched / swapped captions.
    pub atm: Tensor,
    /// NT-Xent between two windows (0 without a second view).
    pub contrastive: Tensor,
}

impl Mulap {
    /// The networks of `cfg` for a vocabulary of `vocab` tokens, under `p`.
    pub fn new(p: &nn::Path, cfg: &MulapConfig, vocab: i64) -> Result<Self> {
        cfg.validate()?;
        if vocab <= SPECIAL.len() as i64 {
            bail!("a MuLaP vocabulary needs more than the {} special tokens, got {vocab}", SPECIAL.len());
        }
        let co = (0..cfg.co_layers).map(|i| CoAttention::new(&(p / format!("co{i}")), cfg)).collect::<Result<_>>()?;
        Ok(Self {
            cfg: cfg.clone(),
            encoder: MusicEncoder::new(&(p / "encoder"), cfg)?,
            text: CaptionEncoder::new(&(p / "text"), cfg, vocab)?,
            co,
            mlm_head: nn::linear(p / "mlm_head", cfg.d_model, vocab, Default::default()),
            mam_head: nn::linear(p / "mam_head", cfg.d_model, cfg.d_model, Default::default()),
            atm_head: nn::linear(p / "atm_head", cfg.d_model, 1, Default::default()),
            projector: Mlp::new(&(p / "projector"), cfg.d_model, MlpConfig::projector2(cfg.d_model * 2, cfg.d_model)),
            vocab,
        })
    }

    /// The audio encoder.
    pub fn encoder(&self) -> &MusicEncoder {
        &self.encoder
    }

    /// The configuration.
    pub fn config(&self) -> &MulapConfig {
        &self.cfg
    }

    /// Matching logits `[N]` of clips `[N, C, frames, bins]` with captions `[N, L]`
    /// (pairwise by row; evaluation mode).
    pub fn match_logits(&self, clips: &Tensor, ids: &Tensor) -> Result<Tensor> {
        let padding = ids.eq(PAD);
        let audio = self.encoder.encode(&self.encoder.chunk_vectors(clips, false)?, false)?;
        let text = self.text.encode(ids, &padding, false)?;
        self.joint_logits(text, audio, &padding, false)
    }

    /// Matching logits of encoded streams: co-attention, then the product of the `[CLS]` and
    /// `[AUD]` states through the matching head.
    pub fn joint_logits(&self, text: Tensor, audio: Tensor, padding: &Tensor, train: bool) -> Result<Tensor> {
        let (text, audio) = self.co_attend(text, audio, padding, train)?;
        Ok(self.matching(&text, &audio))
    }

    fn co_attend(&self, mut text: Tensor, mut audio: Tensor, padding: &Tensor, train: bool) -> Result<(Tensor, Tensor)> {
        for co in &self.co {
            (text, audio) = co.forward(&text, &audio, padding, train)?;
        }
        Ok((text, audio))
    }

    /// The matching head on the `[CLS]` and `[AUD]` states.
    fn matching(&self, text: &Tensor, audio: &Tensor) -> Tensor {
        self.atm_head.forward(&(text.select(1, 0) * audio.select(1, 0))).squeeze_dim(1)
    }

    /// Text and audio states of a clip's caption (before co-attention), evaluation mode.
    pub fn streams(&self, clips: &Tensor, ids: &Tensor) -> Result<(Tensor, Tensor)> {
        let padding = ids.eq(PAD);
        Ok((self.text.encode(ids, &padding, false)?, self.encoder.encode(&self.encoder.chunk_vectors(clips, false)?, false)?))
    }

    /// The unweighted loss terms of a batch: `views[0]` clips `[N, C, frames, bins]`, part
    /// `tokens` `[N, L]`; `views[1]` (another window of the same tunes) for the contrastive term.
    pub fn terms(&self, batch: &Batch, rng: &mut impl Rng) -> Result<MulapTerms> {
        let clips = &batch.views()[0];
        let device = clips.device();
        let n = clips.size()[0];
        if n < 2 {
            bail!("MuLaP needs at least 2 clips per batch (captions are swapped between them), got {n}");
        }
        let zero = || Tensor::zeros([], (Kind::Float, device));
        let vectors = self.encoder.chunk_vectors(clips, true)?;
        let contrastive = if self.cfg.contrastive_weight > 0.0 {
            let second = batch.views_at_least("mulap contrastive", 2)?[1].shallow_clone();
            let z1 = self.projector.forward_t(&self.encoder.encode(&vectors, true)?.select(1, 0), true);
            let z2 = self.projector.forward_t(&Backbone::forward_t(&self.encoder, &second, true), true);
            ssl_core::objectives::nt_xent(&z1, &z2, self.cfg.temperature)?
        } else {
            zero()
        };
        if !self.cfg.multimodal() {
            return Ok(MulapTerms { mlm: zero(), mam: zero(), atm: zero(), contrastive });
        }
        let ids = batch.part("tokens")?.to_kind(Kind::Int64);
        let s = ids.size();
        if s.len() != 2 || s[0] != n {
            bail!("MuLaP captions are {s:?}, not [{n}, L]");
        }
        let (l, c) = (s[1], self.cfg.chunks);
        // Audio-text matching: a clip's caption swapped for another clip's with p = swap_probability.
        let mut partner: Vec<i64> = (0..n).collect();
        let mut matched = vec![true; n as usize];
        for i in 0..n as usize {
            if rng.random::<f64>() < self.cfg.swap_probability {
                partner[i] = (i as i64 + rng.random_range(1..n)) % n;
                matched[i] = false;
            }
        }
        let ids = ids.index_select(0, &Tensor::from_slice(&partner).to_device(device));
        let matched_t = Tensor::from_slice(&matched).to_device(device);
        let host: Vec<i64> = Vec::<i64>::try_from(ids.to_device(Device::Cpu).flatten(0, -1))?;
        let (masked, selected) = mask_caption_tokens(&host, l as usize, &matched, self.cfg.mask_tokens, self.vocab, rng);
        let masked_ids = Tensor::from_slice(&masked).view([n, l]).to_device(device);
        let selected = Tensor::from_slice(&selected).view([n, l]).to_device(device);
        // Masked audio modelling: chunk vectors zeroed (in every clip, for the same reason);
        // the target is the unmasked, detached vector.
        let chunk_mask: Vec<bool> = (0..n * c).map(|_| rng.random::<f64>() < self.cfg.mask_chunks).collect();
        let chunk_mask = Tensor::from_slice(&chunk_mask).view([n, c]).to_device(device);
        let target = vectors.detach();
        let inputs = vectors.masked_fill(&chunk_mask.unsqueeze(-1), 0.0);
        let padding = masked_ids.eq(PAD);
        let text = self.text.encode(&masked_ids, &padding, true)?;
        let audio = self.encoder.encode(&inputs, true)?;
        let (text, audio) = self.co_attend(text, audio, &padding, true)?;
        let mlm = if selected.any().int64_value(&[]) != 0 {
            let logits = self.mlm_head.forward(&text.masked_select(&selected.unsqueeze(-1)).view([-1, self.cfg.d_model]));
            logits.cross_entropy_for_logits(&ids.masked_select(&selected))
        } else {
            zero()
        };
        let mam = if chunk_mask.any().int64_value(&[]) != 0 {
            let d = self.cfg.d_model;
            let predicted = self.mam_head.forward(&audio.narrow(1, 1, c).masked_select(&chunk_mask.unsqueeze(-1)).view([-1, d]));
            predicted.mse_loss(&target.masked_select(&chunk_mask.unsqueeze(-1)).view([-1, d]), tch::Reduction::Mean)
        } else {
            zero()
        };
        let atm = self.matching(&text, &audio).binary_cross_entropy_with_logits::<Tensor>(&matched_t.to_kind(Kind::Float), None, None, tch::Reduction::Mean);
        Ok(MulapTerms { mlm, mam, atm, contrastive })
    }
}

/// BERT's masking of captions `ids` (rows of `length`): each word piece (not `[PAD]`,
/// `[CLS]`, `[SEP]`) is chosen with probability `rate` and becomes `[MASK]` (80%), a random
/// piece (10%) or stays (10%). Every row is masked alike, matched or swapped, so a `[MASK]`
/// tells the matching head nothing; the chosen positions of matched rows are returned for
/// the loss.
pub fn mask_caption_tokens(ids: &[i64], length: usize, matched: &[bool], rate: f64, vocab: i64, rng: &mut impl Rng) -> (Vec<i64>, Vec<bool>) {
    let (mut masked, mut selected) = (ids.to_vec(), vec![false; ids.len()]);
    for (k, &id) in ids.iter().enumerate() {
        if id == PAD || id == CLS || id == SEP || rng.random::<f64>() >= rate {
            continue;
        }
        selected[k] = matched[k / length];
        let u = rng.random::<f64>();
        masked[k] = if u < 0.8 {
            MASK
        } else if u < 0.9 {
            rng.random_range(SPECIAL.len() as i64..vocab)
        } else {
            id
        };
    }
    (masked, selected)
}

impl Method for Mulap {
    fn name(&self) -> &'static str {
        "mulap"
    }

    fn loss(&mut self, batch: &Batch, ctx: &StepContext) -> Result<MethodLoss> {
        let t = self.terms(batch, &mut ctx.rng())?;
        let c = &self.cfg;
        // The core adds the terms to the main loss and logs each as `loss/<name>`.
        let mut loss = MethodLoss::batch(&t.contrastive * c.contrastive_weight);
        if c.multimodal() {
            loss = loss.with_term("mlm", &t.mlm * c.mlm_weight).with_term("mam", &t.mam * c.mam_weight).with_term("atm", &t.atm * c.atm_weight);
        }
        Ok(loss)
    }

    fn backbone(&self) -> &dyn Backbone {
        &self.encoder
    }

    fn exports(&self) -> Vec<ssl_core::Export> {
        vec![ssl_core::Export::new("backbone", "encoder")]
    }
}
