//! MFCC exactly like Kaldi's `compute-mfcc-feats`: log mel energies, an orthonormal
//! DCT-II, sinusoidal liftering, and the log energy in place of `c0`.
use super::frame_loop::{applies_to, per_frame_loop, per_frame_loop_many, FrameLoop, LoopOutputs};
use super::frames::{condition, floored, on_device_of, per_frame, per_frame_many, spectrum, FrameOptions, LOG_FLOOR};
use super::mel::{mel_banks, MelOptions};
use super::Features;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Kaldi's MFCC options; the defaults are `compute-mfcc-feats`' own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MfccOptions {
    /// Framing (sample rate, lengths, dither, pre-emphasis, window, ...).
    pub frame: FrameOptions,
    /// The mel bands (23).
    pub mel: MelOptions,
    /// Cepstra kept, `c0` included (13).
    pub num_ceps: i64,
    /// Liftering constant `Q` (22); 0 turns it off.
    pub cepstral_lifter: f64,
    /// Replace `c0` by the log energy (true).
    pub use_energy: bool,
    /// Energy before pre-emphasis and windowing (true).
    pub raw_energy: bool,
    /// Floor of the energy (not its log); 0 means none (0).
    pub energy_floor: f64,
    /// HTK's layout: the energy (or `c0 * sqrt 2`) last (false).
    pub htk_compat: bool,
}

impl Default for MfccOptions {
    fn default() -> Self {
        Self {
            frame: FrameOptions::default(),
            mel: MelOptions::default(),
            num_ceps: 13,
            cepstral_lifter: 22.0,
            use_energy: true,
            raw_energy: true,
            energy_floor: 0.0,
            htk_compat: false,
        }
    }
}

impl MfccOptions {
    /// Kaldi's defaults at `sample_rate` Hz, dither off.
    pub fn at_rate(sample_rate: f64) -> Self {
        Self { frame: FrameOptions::at_rate(sample_rate), ..Self::default() }
    }
}

/// An MFCC extractor for signals `[N]` or `[B, N]` on any device (CPU inputs that need
/// no gradient take the per-frame loop, as in [`super::Fbank`]).
#[derive(Debug)]
pub struct Mfcc {
    opts: MfccOptions,
    window: Tensor,
    banks: Tensor,
    /// `[num_bins, num_ceps]`: the DCT with the lifter folded in.
    dct: Tensor,
    frame_loop: FrameLoop,
    use_loop: bool,
}

/// Kaldi's DCT matrix `[num_ceps, num_bins]`: row 0 scaled by `sqrt(1/N)`, the others by
/// `sqrt(2/N)`, entries `cos(pi / N (n + 1/2) k)`.
fn dct_matrix(num_ceps: i64, num_bins: i64) -> Vec<f64> {
    let n = num_bins as f64;
    let mut m = Vec::with_capacity((num_ceps * num_bins) as usize);
    for k in 0..num_ceps {
        let scale = if k == 0 { (1.0 / n).sqrt() } else { (2.0 / n).sqrt() };
        for j in 0..num_bins {
            m.push(scale * (std::f64::consts::PI / n * (j as f64 + 0.5) * k as f64).cos());
        }
    }
    m
}

impl Mfcc {
    /// Checks `opts` and precomputes the window, filterbank and DCT.
    pub fn new(opts: MfccOptions) -> Result<Self> {
        opts.frame.validate()?;
        if !(1..=opts.mel.num_bins).contains(&opts.num_ceps) {
            bail!("num_ceps must be between 1 and num_bins ({}), not {}", opts.mel.num_bins, opts.num_ceps);
        }
        let banks = mel_banks(&opts.mel, opts.frame.sample_rate, opts.frame.padded_window_size())?;
        let q = opts.cepstral_lifter;
        let lifter: Vec<f64> = (0..opts.num_ceps).map(|i| if q != 0.0 { 1.0 + 0.5 * q * (std::f64::consts::PI * i as f64 / q).sin() } else { 1.0 }).collect();
        let dct = Tensor::from_slice(&dct_matrix(opts.num_ceps, opts.mel.num_bins)).view([opts.num_ceps, opts.mel.num_bins]);
        let dct = (dct * Tensor::from_slice(&lifter).unsqueeze(1)).transpose(0, 1).to_kind(Kind::Float).contiguous();
        let window = opts.frame.window_tensor();
        let frame_loop = FrameLoop::new(&opts.frame, &window, &banks)?;
        Ok(Self { window, banks, dct, frame_loop, use_loop: true, opts })
    }

    /// The same extractor with the CPU per-frame loop allowed (the default) or not
    /// (`false`: libtorch's operations for every input).
    pub fn with_frame_loop(self, allowed: bool) -> Self {
        Self { use_loop: allowed, ..self }
    }

    /// The options in use.
    pub fn options(&self) -> &MfccOptions {
        &self.opts
    }

    /// Cepstra `[T, num_ceps]` of samples `[N]`, or `[B, T, num_ceps]` of `[B, N]`, in
    /// Kaldi's sample scale.
    pub fn compute(&self, samples: &Tensor) -> Result<Tensor> {
        if self.use_loop && applies_to(std::iter::once(samples)) {
            return per_frame_loop(&self.frame_loop, samples, self.loop_outputs(), |bands, energy| self.finish(bands, energy));
        }
        per_frame(&self.opts.frame, samples, |raw| self.of_frames(raw))
    }

    /// Features of several signals of any lengths (each `[N_i]`), computed in one pass
    /// over all their frames: much faster than one call each for short utterances.
    pub fn compute_many(&self, signals: &[Tensor]) -> Result<Vec<Tensor>> {
        if self.use_loop && applies_to(signals.iter()) {
            return per_frame_loop_many(&self.frame_loop, signals, self.loop_outputs(), |bands, energy| self.finish(bands, energy));
        }
        per_frame_many(&self.opts.frame, signals, |raw| self.of_frames(raw))
    }

    fn loop_outputs(&self) -> LoopOutputs {
        LoopOutputs { power: true, log_bands: true, raw_energy: self.opts.raw_energy }
    }

    /// The features of raw frames `[..., T, window_size]` by libtorch's operations.
    fn of_frames(&self, raw: &Tensor) -> Tensor {
        let framed = condition(&self.opts.frame, &on_device_of(&self.window, raw), raw, self.opts.raw_energy);
        let spec = spectrum(&framed.frames, self.opts.frame.padded_window_size(), true);
        let log_bands = spec.matmul(&on_device_of(&self.banks, &spec)).clamp_min_(LOG_FLOOR).log_();
        self.finish(log_bands, framed.log_energy)
    }

    /// Cepstra from the log band energies `[..., bins]` and log energies `[...]`.
    fn finish(&self, log_bands: Tensor, log_energy: Tensor) -> Tensor {
        let mut ceps = log_bands.matmul(&on_device_of(&self.dct, &log_bands));
        if self.opts.use_energy {
            let energy = floored(log_energy, self.opts.energy_floor);
            ceps = Tensor::cat(&[energy.unsqueeze(-1), ceps.narrow(-1, 1, self.opts.num_ceps - 1)], -1);
        }
        if self.opts.htk_compat {
            let first = ceps.narrow(-1, 0, 1);
            let first = if self.opts.use_energy { first } else { first * std::f64::consts::SQRT_2 };
            ceps = Tensor::cat(&[ceps.narrow(-1, 1, self.opts.num_ceps - 1), first], -1);
        }
        ceps
    }
}

impl Features for Mfcc {
    fn compute(&self, samples: &Tensor) -> Result<Tensor> {
        Mfcc::compute(self, samples)
    }

    fn compute_many(&self, signals: &[Tensor]) -> Result<Vec<Tensor>> {
        Mfcc::compute_many(self, signals)
    }

    fn sample_rate(&self) -> f64 {
        self.opts.frame.sample_rate
    }

    fn dim(&self) -> i64 {
        self.opts.num_ceps
    }
}
