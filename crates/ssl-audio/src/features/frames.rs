//! Kaldi's framing: overlapping windows cut from the waveform, each dithered, centred,
//! pre-emphasised and tapered, with its log energy, and their power spectra.
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// The smallest energy Kaldi takes the log of (`FLT_EPSILON`).
pub(crate) const LOG_FLOOR: f64 = f32::EPSILON as f64;

/// The taper applied to each frame (Kaldi's `--window-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum WindowKind {
    /// Kaldi's default: a Hann window raised to the power 0.85 (non-zero at the ends).
    Povey,
    /// `0.54 - 0.46 cos(2 pi n / (N - 1))`.
    Hamming,
    /// `0.5 - 0.5 cos(2 pi n / (N - 1))`.
    Hanning,
    /// No taper.
    Rectangular,
    /// `c - 0.5 cos(a n) + (0.5 - c) cos(2 a n)`, `c` = `blackman_coeff`.
    Blackman,
    /// `sin(pi n / (N - 1))`.
    Sine,
}

/// How frames are cut and conditioned; the defaults are Kaldi's command-line defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct FrameOptions {
    /// Sample rate of the input in Hz (Kaldi `--sample-frequency`, default 16000).
    pub sample_rate: f64,
    /// Frame length in milliseconds (25).
    pub frame_length_ms: f64,
    /// Frame shift in milliseconds (10).
    pub frame_shift_ms: f64,
    /// Standard deviation of the Gaussian noise added to every sample, in the input's
    /// units (Kaldi's 1.0 is for 16-bit integer samples; 0 turns it off).
    pub dither: f64,
    /// Pre-emphasis coefficient (0.97; 0 turns it off).
    pub preemph_coeff: f64,
    /// Subtract each frame's mean before pre-emphasis (true).
    pub remove_dc_offset: bool,
    /// The window (Povey).
    pub window: WindowKind,
    /// Zero-pad each frame to a power of two before the FFT (true).
    pub round_to_power_of_two: bool,
    /// The constant of the Blackman window (0.42).
    pub blackman_coeff: f64,
    /// Only frames that fit completely inside the signal (true); otherwise frames are
    /// centred every shift and the signal is mirrored at both ends.
    pub snip_edges: bool,
}

impl Default for FrameOptions {
    fn default() -> Self {
        Self {
            sample_rate: 16000.0,
            frame_length_ms: 25.0,
            frame_shift_ms: 10.0,
            dither: 1.0,
            preemph_coeff: 0.97,
            remove_dc_offset: true,
            window: WindowKind::Povey,
            round_to_power_of_two: true,
            blackman_coeff: 0.42,
            snip_edges: true,
        }
    }
}

impl FrameOptions {
    /// Kaldi's defaults at `sample_rate` Hz with dither off (deterministic features).
    pub fn at_rate(sample_rate: f64) -> Self {
        Self { sample_rate, dither: 0.0, ..Self::default() }
    }

    /// Samples per frame.
    pub fn window_size(&self) -> i64 {
        (self.sample_rate * 0.001 * self.frame_length_ms) as i64
    }

    /// Samples between frame starts.
    pub fn window_shift(&self) -> i64 {
        (self.sample_rate * 0.001 * self.frame_shift_ms) as i64
    }

    /// FFT length: the window size, rounded up to a power of two when asked.
    pub fn padded_window_size(&self) -> i64 {
        let w = self.window_size();
        if self.round_to_power_of_two {
            (w.max(1) as u64).next_power_of_two() as i64
        } else {
            w
        }
    }

    /// How many frames a signal of `num_samples` gives (Kaldi's `NumFrames`).
    pub fn num_frames(&self, num_samples: i64) -> i64 {
        let (size, shift) = (self.window_size(), self.window_shift());
        if self.snip_edges {
            if num_samples < size {
                0
            } else {
                1 + (num_samples - size) / shift
            }
        } else {
            (num_samples + shift / 2) / shift
        }
    }

    /// An error naming the option when the options cannot describe frames.
    pub fn validate(&self) -> Result<()> {
        if self.sample_rate.is_nan() || self.sample_rate <= 0.0 {
            bail!("sample_rate must be positive, not {}", self.sample_rate);
        }
        if self.window_size() < 2 {
            bail!("frame_length_ms {} at {} Hz gives a frame of {} samples (at least 2)", self.frame_length_ms, self.sample_rate, self.window_size());
        }
        if self.window_shift() < 1 {
            bail!("frame_shift_ms {} at {} Hz gives a shift of {} samples (at least 1)", self.frame_shift_ms, self.sample_rate, self.window_shift());
        }
        if !(0.0..=1.0).contains(&self.preemph_coeff) {
            bail!("preemph_coeff must be in [0, 1], not {}", self.preemph_coeff);
        }
        if self.dither.is_nan() || self.dither < 0.0 {
            bail!("dither must be 0 or more, not {}", self.dither);
        }
        Ok(())
    }

    /// The window as a float tensor `[window_size]`.
    pub fn window_tensor(&self) -> Tensor {
        let n = self.window_size();
        let a = 2.0 * std::f64::consts::PI / (n - 1) as f64;
        let values: Vec<f64> = (0..n)
            .map(|i| {
                let i = i as f64;
                match self.window {
                    WindowKind::Povey => (0.5 - 0.5 * (a * i).cos()).powf(0.85),
                    WindowKind::Hamming => 0.54 - 0.46 * (a * i).cos(),
                    WindowKind::Hanning => 0.5 - 0.5 * (a * i).cos(),
                    WindowKind::Rectangular => 1.0,
                    WindowKind::Blackman => self.blackman_coeff - 0.5 * (a * i).cos() + (0.5 - self.blackman_coeff) * (2.0 * a * i).cos(),
                    WindowKind::Sine => (0.5 * a * i).sin(),
                }
            })
            .collect();
        Tensor::from_slice(&values).to_kind(Kind::Float)
    }

    /// The sample index behind every frame position, `[frames, window_size]`: consecutive
    /// windows, or with `snip_edges` off, centred windows mirrored at the ends as Kaldi
    /// does (`-1 -> 0`, `n -> n - 1`).
    fn frame_indices(&self, num_samples: i64, frames: i64) -> Tensor {
        let (size, shift) = (self.window_size(), self.window_shift());
        let offset = if self.snip_edges { 0 } else { shift / 2 - size / 2 };
        let mut idx = Vec::with_capacity((frames * size) as usize);
        for f in 0..frames {
            let start = f * shift + offset;
            for j in 0..size {
                let mut s = start + j;
                // Mirror until inside (one reflection suffices unless the signal is shorter
                // than half a window).
                while s < 0 || s >= num_samples {
                    s = if s < 0 { -s - 1 } else { 2 * num_samples - 1 - s };
                }
                idx.push(s);
            }
        }
        Tensor::from_slice(&idx).view([frames, size])
    }
}

/// Frames ready for the FFT and their log energies.
pub(crate) struct Framed {
    /// `[..., T, window_size]`, windowed.
    pub frames: Tensor,
    /// `[..., T]`: log energy, of the raw frame or the windowed one as asked.
    pub log_energy: Tensor,
}

/// The raw frames `[B, T, window_size]` of samples `[B, N]`: a strided view when the
/// edges are snipped, gathered with mirroring otherwise.
pub(crate) fn cut_frames(opts: &FrameOptions, samples: &Tensor) -> Result<Tensor> {
    let (batch, n) = match samples.size().as_slice() {
        [b, n] => (*b, *n),
        other => bail!("expected samples [batch, samples], got a tensor of shape {other:?}"),
    };
    let frames = opts.num_frames(n);
    if frames == 0 {
        return Err(too_short(opts, n));
    }
    let samples = samples.to_kind(Kind::Float);
    let size = opts.window_size();
    if opts.snip_edges {
        return Ok(samples.f_unfold(1, size, opts.window_shift())?.narrow(1, 0, frames));
    }
    let idx = opts.frame_indices(n, frames).to_device(samples.device());
    Ok(samples.f_index_select(1, &idx.view([-1]))?.view([batch, frames, size]))
}

/// Kaldi's per-frame conditioning of raw frames `[..., window_size]`: dither, DC
/// removal, log energy (raw: before pre-emphasis and window), pre-emphasis, window.
pub(crate) fn condition(opts: &FrameOptions, window: &Tensor, frames: &Tensor, raw_energy: bool) -> Framed {
    let size = opts.window_size();
    // A fresh tensor from here on: the caller's samples are never written to.
    let mut x = if opts.dither > 0.0 { frames + frames.randn_like() * opts.dither } else { frames.copy() };
    if opts.remove_dc_offset {
        x -= x.mean_dim(-1, true, Kind::Float);
    }
    let energy_of = |x: &Tensor| x.square().sum_dim_intlist(-1, false, Kind::Float).clamp_min_(LOG_FLOOR).log_();
    let raw = raw_energy.then(|| energy_of(&x));
    if opts.preemph_coeff != 0.0 {
        // x[i] -= c x[i-1] (from the values before this step), and x[0] -= c x[0].
        let c = opts.preemph_coeff;
        let previous = x.narrow(-1, 0, size - 1) * c;
        let _ = x.narrow(-1, 1, size - 1).g_sub_(&previous);
        let _ = x.narrow(-1, 0, 1).g_mul_scalar_(1.0 - c);
    }
    x *= window;
    let log_energy = raw.unwrap_or_else(|| energy_of(&x));
    Framed { frames: x, log_energy }
}

/// Raw frames of every signal of `signals` (each `[N_i]`), one after the other
/// `[sum T_i, window_size]`, and the frame count of each: one pass of the spectral
/// pipeline then serves all of them.
pub(crate) fn cut_many(opts: &FrameOptions, signals: &[Tensor]) -> Result<(Tensor, Vec<i64>)> {
    let mut all = Vec::with_capacity(signals.len());
    for (i, s) in signals.iter().enumerate() {
        if s.dim() != 1 {
            bail!("signal {i}: expected samples [N], got a tensor of shape {:?}", s.size());
        }
        all.push(cut_frames(opts, &s.unsqueeze(0)).map_err(|e| e.context(format!("signal {i}")))?.squeeze_dim(0));
    }
    if all.is_empty() {
        bail!("no signals given");
    }
    let counts = all.iter().map(|f| f.size()[0]).collect();
    Ok((Tensor::cat(&all, 0), counts))
}

/// Power (or magnitude) spectra `[B, T, padded / 2 + 1]` of windowed frames, zero-padded
/// to `padded` samples.
pub(crate) fn spectrum(frames: &Tensor, padded: i64, power: bool) -> Tensor {
    let spec = frames.fft_rfft(Some(padded), -1, "backward");
    let mut power_spec = spec.view_as_real().square().sum_dim_intlist(-1, false, Kind::Float);
    if power {
        power_spec
    } else {
        power_spec.sqrt_()
    }
}

/// Features of samples `[N]` (giving `[T, D]`) or `[B, N]` (giving `[B, T, D]`):
/// `of_frames` applied to their raw frames.
pub(crate) fn per_frame(opts: &FrameOptions, samples: &Tensor, of_frames: impl Fn(&Tensor) -> Tensor) -> Result<Tensor> {
    let (x, single) = as_batch(samples)?;
    let out = of_frames(&cut_frames(opts, &x)?);
    Ok(if single { out.squeeze_dim(0) } else { out })
}

/// Features of signals of any lengths: `of_frames` applied once to all their raw
/// frames, split back per signal.
pub(crate) fn per_frame_many(opts: &FrameOptions, signals: &[Tensor], of_frames: impl Fn(&Tensor) -> Tensor) -> Result<Vec<Tensor>> {
    let (frames, counts) = cut_many(opts, signals)?;
    Ok(of_frames(&frames).split_with_sizes(&counts, 0))
}

/// Kaldi's energy floor: a log energy below `ln(floor)` becomes `ln(floor)` (0: none).
pub(crate) fn floored(log_energy: Tensor, floor: f64) -> Tensor {
    if floor > 0.0 {
        log_energy.clamp_min(floor.ln())
    } else {
        log_energy
    }
}

/// The error for a signal of `n` samples that holds no whole frame.
pub(crate) fn too_short(opts: &FrameOptions, n: i64) -> anyhow::Error {
    anyhow::anyhow!("{n} samples are too few for one frame of {} samples ({} ms at {} Hz)", opts.window_size(), opts.frame_length_ms, opts.sample_rate)
}

/// The samples as `[B, N]` float, and whether a batch dimension was added.
pub(crate) fn as_batch(samples: &Tensor) -> Result<(Tensor, bool)> {
    match samples.dim() {
        1 => Ok((samples.unsqueeze(0), true)),
        2 => Ok((samples.shallow_clone(), false)),
        _ => bail!("expected samples [samples] or [batch, samples], got a tensor of shape {:?}", samples.size()),
    }
}

/// Moves a precomputed constant to the device of `x` when it is elsewhere.
pub(crate) fn on_device_of(constant: &Tensor, x: &Tensor) -> Tensor {
    let device: Device = x.device();
    if constant.device() == device {
        constant.shallow_clone()
    } else {
        constant.to_device(device)
    }
}
