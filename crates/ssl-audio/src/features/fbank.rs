//! Log mel filterbank energies exactly like Kaldi's `compute-fbank-feats`, on tensors.
use super::frame_loop::{applies_to, per_frame_loop, per_frame_loop_many, FrameLoop, LoopOutputs};
use super::frames::{condition, floored, on_device_of, per_frame, per_frame_many, spectrum, FrameOptions, LOG_FLOOR};
use super::mel::{mel_banks, MelOptions};
use super::Features;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Kaldi's fbank options; the defaults are `compute-fbank-feats`' own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct FbankOptions {
    /// Framing (sample rate, lengths, dither, pre-emphasis, window, ...).
    pub frame: FrameOptions,
    /// The mel bands.
    pub mel: MelOptions,
    /// Add the log energy as a first column (last with `htk_compat`) (false).
    pub use_energy: bool,
    /// Energy before pre-emphasis and windowing (true).
    pub raw_energy: bool,
    /// Floor of the energy (not its log); 0 means none (0).
    pub energy_floor: f64,
    /// The energy column last instead of first (false).
    pub htk_compat: bool,
    /// Log of the band energies (true); false gives the energies.
    pub use_log_fbank: bool,
    /// Power spectrum (true); false uses the magnitude.
    pub use_power: bool,
}

impl Default for FbankOptions {
    fn default() -> Self {
        Self {
            frame: FrameOptions::default(),
            mel: MelOptions::default(),
            use_energy: false,
            raw_energy: true,
            energy_floor: 0.0,
            htk_compat: false,
            use_log_fbank: true,
            use_power: true,
        }
    }
}

impl FbankOptions {
    /// Kaldi's defaults with `num_bins` bands at `sample_rate` Hz, dither off.
    pub fn new(sample_rate: f64, num_bins: i64) -> Self {
        Self { frame: FrameOptions::at_rate(sample_rate), mel: MelOptions::with_bins(num_bins), ..Self::default() }
    }
}

/// A filterbank extractor: the window and the mel matrix computed once, applied to
/// one signal `[N]` or a batch of equal-length signals `[B, N]` on any device.
///
/// CPU inputs that need no gradient take a per-frame loop (`realfft`, frames split over
/// libtorch's thread count), other inputs libtorch's operations (differentiable, on the
/// input's device); both give the same values to float rounding.
#[derive(Debug)]
pub struct Fbank {
    opts: FbankOptions,
    window: Tensor,
    banks: Tensor,
    frame_loop: FrameLoop,
    use_loop: bool,
}

impl Fbank {
    /// Checks `opts` and precomputes what every call shares.
    pub fn new(opts: FbankOptions) -> Result<Self> {
        opts.frame.validate()?;
        let banks = mel_banks(&opts.mel, opts.frame.sample_rate, opts.frame.padded_window_size())?;
        let window = opts.frame.window_tensor();
        let frame_loop = FrameLoop::new(&opts.frame, &window, &banks)?;
        Ok(Self { window, banks, frame_loop, use_loop: true, opts })
    }

    /// The same extractor with the CPU per-frame loop allowed (the default) or not
    /// (`false`: libtorch's operations for every input).
    pub fn with_frame_loop(self, allowed: bool) -> Self {
        Self { use_loop: allowed, ..self }
    }

    /// The options in use.
    pub fn options(&self) -> &FbankOptions {
        &self.opts
    }

    /// Features `[T, dim]` of samples `[N]`, or `[B, T, dim]` of `[B, N]`, in Kaldi's
    /// sample scale (16-bit integer range; see [`Features::waveform`]).
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
        LoopOutputs { power: self.opts.use_power, log_bands: self.opts.use_log_fbank, raw_energy: self.opts.raw_energy }
    }

    /// The features of raw frames `[..., T, window_size]` by libtorch's operations.
    fn of_frames(&self, raw: &Tensor) -> Tensor {
        let framed = condition(&self.opts.frame, &on_device_of(&self.window, raw), raw, self.opts.raw_energy);
        let spec = spectrum(&framed.frames, self.opts.frame.padded_window_size(), self.opts.use_power);
        let mut bands = spec.matmul(&on_device_of(&self.banks, &spec));
        if self.opts.use_log_fbank {
            bands = bands.clamp_min_(LOG_FLOOR).log_();
        }
        self.finish(bands, framed.log_energy)
    }

    /// The features from the (logged) band energies `[..., D]` and log energies `[...]`.
    fn finish(&self, bands: Tensor, log_energy: Tensor) -> Tensor {
        if self.opts.use_energy {
            let energy = floored(log_energy, self.opts.energy_floor).unsqueeze(-1);
            if self.opts.htk_compat {
                Tensor::cat(&[bands, energy], -1)
            } else {
                Tensor::cat(&[energy, bands], -1)
            }
        } else {
            bands
        }
    }
}

impl Features for Fbank {
    fn compute(&self, samples: &Tensor) -> Result<Tensor> {
        Fbank::compute(self, samples)
    }

    fn compute_many(&self, signals: &[Tensor]) -> Result<Vec<Tensor>> {
        Fbank::compute_many(self, signals)
    }

    fn sample_rate(&self) -> f64 {
        self.opts.frame.sample_rate
    }

    fn dim(&self) -> i64 {
        self.opts.mel.num_bins + i64::from(self.opts.use_energy)
    }
}
