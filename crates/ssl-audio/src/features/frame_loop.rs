//! The CPU route of the filterbanks: each frame is cut, conditioned, transformed by a real
//! FFT (`realfft`), reduced to mel bands and logged in one pass over buffers of its own,
//! with the frames split over libtorch's thread count.
//!
//! It does the arithmetic of the tensor route in `frames.rs` (to float rounding), and is
//! taken for CPU inputs that need no gradient: there the tensor route's dozen passes over
//! the frames, each a libtorch call over a `[T, window]` tensor, cost more than the FFT.
use super::frames::{as_batch, too_short, FrameOptions, LOG_FLOOR};
use anyhow::{bail, Result};
use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

/// Frames per thread below which splitting the work costs more than it saves.
const MIN_FRAMES_PER_THREAD: usize = 32;

/// What the loop makes of each frame (the options of fbank and MFCC that reach it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoopOutputs {
    /// Power spectrum (true) or magnitude.
    pub power: bool,
    /// Log of the band energies.
    pub log_bands: bool,
    /// Energy of the frame before pre-emphasis and window.
    pub raw_energy: bool,
}

/// The precomputed pieces: window, FFT plan and the mel bands as sparse rows.
pub(crate) struct FrameLoop {
    opts: FrameOptions,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    /// Per band: its first FFT bin and its weights from there on.
    bands: Vec<(usize, Vec<f32>)>,
}

impl std::fmt::Debug for FrameLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameLoop").field("fft_len", &self.fft.len()).field("bands", &self.bands.len()).finish()
    }
}

/// Band energies `[frames, bins]` and log energies `[frames]` of every frame of every signal.
pub(crate) struct LoopResult {
    pub bands: Tensor,
    pub log_energy: Tensor,
    /// Frames of each signal, in order.
    pub counts: Vec<i64>,
}

impl FrameLoop {
    /// The loop for `opts`, with the window `[window_size]` and the filterbank
    /// `[padded / 2 + 1, bins]` of the tensor route.
    pub(crate) fn new(opts: &FrameOptions, window: &Tensor, banks: &Tensor) -> Result<Self> {
        let window = Vec::<f32>::try_from(window.to_kind(Kind::Float))?;
        let (fft_bins, bins) = match banks.size().as_slice() {
            [f, b] => (*f as usize, *b as usize),
            other => bail!("the filterbank must be [fft bins, bands], got {other:?}"),
        };
        let dense = Vec::<f32>::try_from(banks.to_kind(Kind::Float).contiguous().view([-1]))?;
        let bands = (0..bins)
            .map(|b| {
                let column: Vec<f32> = (0..fft_bins).map(|i| dense[i * bins + b]).collect();
                let first = column.iter().position(|&w| w != 0.0).unwrap_or(0);
                let last = column.iter().rposition(|&w| w != 0.0).map_or(first, |l| l + 1);
                (first, column[first..last].to_vec())
            })
            .collect();
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(opts.padded_window_size() as usize);
        if fft.complex_len() != fft_bins {
            bail!("the filterbank has {fft_bins} FFT bins, the FFT gives {}", fft.complex_len());
        }
        Ok(Self { opts: opts.clone(), window, fft, bands })
    }

    /// Runs every frame of `signals` (float samples on the CPU) through the loop, with
    /// dither noise drawn from libtorch's generator as the tensor route draws it. An error
    /// names the signal (by its index) when `name_signals`.
    pub(crate) fn run(&self, signals: &[&[f32]], out: LoopOutputs, name_signals: bool) -> Result<LoopResult> {
        let counts: Vec<i64> = signals.iter().map(|s| self.opts.num_frames(s.len() as i64)).collect();
        if let Some(i) = counts.iter().position(|&c| c == 0) {
            let e = too_short(&self.opts, signals[i].len() as i64);
            return Err(if name_signals { e.context(format!("signal {i}")) } else { e });
        }
        let noise = dither_noise(&self.opts, counts.iter().sum())?;
        let noise = noise.as_deref();
        // Every frame as (signal, frame index), in output order.
        let jobs: Vec<(usize, i64)> = counts.iter().enumerate().flat_map(|(s, &c)| (0..c).map(move |f| (s, f))).collect();
        let (bins, size) = (self.bands.len(), self.opts.window_size() as usize);
        let n = jobs.len() as i64;
        // Written in place (libtorch's zero-filled tensors would start OpenMP threads that
        // then spin on the cores this loop uses).
        let bands_out = Tensor::empty([n, bins as i64], (Kind::Float, Device::Cpu));
        let energy_out = Tensor::empty([n], (Kind::Float, Device::Cpu));
        let bands = floats_mut(&bands_out);
        let energy = floats_mut(&energy_out);
        let threads = (tch::get_num_threads().max(1) as usize).min(jobs.len() / MIN_FRAMES_PER_THREAD).max(1);
        let per = jobs.len().div_ceil(threads);
        let work = |first: usize, bands: &mut [f32], energy: &mut [f32]| {
            let mut scratch = Scratch::new(self.fft.as_ref());
            for (k, (band_row, e)) in bands.chunks_mut(bins).zip(energy.iter_mut()).enumerate() {
                let (s, f) = jobs[first + k];
                let noise = noise.map(|n| &n[(first + k) * size..(first + k + 1) * size]);
                *e = self.frame(signals[s], f, noise, out, &mut scratch, band_row);
            }
        };
        if threads == 1 {
            work(0, bands, energy);
        } else {
            // The calling thread takes the first share, rayon's pool (whose threads outlive
            // the call) the others: spawning threads per call cost as much as it saved on
            // utterances of a few seconds.
            let mut shares = bands.chunks_mut(per * bins).zip(energy.chunks_mut(per));
            let (own_bands, own_energy) = shares.next().expect("at least one frame");
            rayon::in_place_scope(|scope| {
                for (t, (b, e)) in shares.enumerate() {
                    let work = &work;
                    scope.spawn(move |_| work((t + 1) * per, b, e));
                }
                work(0, own_bands, own_energy);
            });
        }
        Ok(LoopResult { bands: bands_out, log_energy: energy_out, counts })
    }

    /// One frame `f` of `signal`: its bands into `band_row`; returns its log energy.
    fn frame(&self, signal: &[f32], f: i64, noise: Option<&[f32]>, out: LoopOutputs, s: &mut Scratch, band_row: &mut [f32]) -> f32 {
        let o = &self.opts;
        let (size, shift, n) = (o.window_size(), o.window_shift(), signal.len() as i64);
        let x = &mut s.input[..size as usize];
        let start = f * shift + if o.snip_edges { 0 } else { shift / 2 - size / 2 };
        if start >= 0 && start + size <= n {
            x.copy_from_slice(&signal[start as usize..(start + size) as usize]);
        } else {
            // Mirrored at the ends as Kaldi does (-1 -> 0, n -> n - 1).
            for (j, v) in x.iter_mut().enumerate() {
                let mut i = start + j as i64;
                while i < 0 || i >= n {
                    i = if i < 0 { -i - 1 } else { 2 * n - 1 - i };
                }
                *v = signal[i as usize];
            }
        }
        if let (Some(noise), true) = (noise, o.dither > 0.0) {
            let d = o.dither as f32;
            x.iter_mut().zip(noise).for_each(|(v, z)| *v += z * d);
        }
        if o.remove_dc_offset {
            let mean = (x.iter().map(|&v| f64::from(v)).sum::<f64>() / size as f64) as f32;
            x.iter_mut().for_each(|v| *v -= mean);
        }
        let log_energy = |x: &[f32]| x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().max(LOG_FLOOR).ln() as f32;
        let raw = out.raw_energy.then(|| log_energy(x));
        if o.preemph_coeff != 0.0 {
            let c = o.preemph_coeff as f32;
            for i in (1..x.len()).rev() {
                x[i] -= c * x[i - 1];
            }
            x[0] -= c * x[0];
        }
        x.iter_mut().zip(&self.window).for_each(|(v, w)| *v *= w);
        let energy = raw.unwrap_or_else(|| log_energy(x));
        // Zero padding up to the FFT length (the FFT used the whole buffer as scratch).
        s.input[size as usize..].fill(0.0);
        self.fft.process_with_scratch(&mut s.input, &mut s.spectrum, &mut s.fft_scratch).expect("buffers sized by the plan");
        for (p, c) in s.power.iter_mut().zip(&s.spectrum) {
            let pw = c.re * c.re + c.im * c.im;
            *p = if out.power { pw } else { pw.sqrt() };
        }
        for (value, (first, weights)) in band_row.iter_mut().zip(&self.bands) {
            let e: f32 = s.power[*first..*first + weights.len()].iter().zip(weights).map(|(p, w)| p * w).sum();
            // A scalar log here, on the frame's own thread: libtorch's vectorised log
            // (MKL) runs threads of its own that then spin on the cores this loop uses.
            *value = if out.log_bands { e.max(LOG_FLOOR as f32).ln() } else { e };
        }
        energy
    }
}

/// One thread's buffers.
struct Scratch {
    input: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    fft_scratch: Vec<Complex<f32>>,
    power: Vec<f32>,
}

impl Scratch {
    fn new(fft: &dyn RealToComplex<f32>) -> Self {
        Self { input: fft.make_input_vec(), spectrum: fft.make_output_vec(), fft_scratch: fft.make_scratch_vec(), power: vec![0.0; fft.complex_len()] }
    }
}

/// Whether `samples` may take the loop: on the CPU and needing no gradient.
pub(crate) fn applies_to<'a>(mut samples: impl Iterator<Item = &'a Tensor>) -> bool {
    samples.all(|s| s.device() == Device::Cpu && !s.requires_grad())
}

/// Features through the loop of samples `[N]` (giving `[T, D]`) or `[B, N]` (giving
/// `[B, T, D]`): `finish` turns band energies `[F, bins]` and log energies `[F]` of all
/// frames into features `[F, D]`.
pub(crate) fn per_frame_loop(lp: &FrameLoop, samples: &Tensor, out: LoopOutputs, finish: impl Fn(Tensor, Tensor) -> Tensor) -> Result<Tensor> {
    let (x, single) = as_batch(samples)?;
    let x = x.to_kind(Kind::Float).contiguous();
    let (b, len) = (x.size()[0], x.size()[1]);
    let data = floats(&x);
    let rows: Vec<&[f32]> = (0..b as usize).map(|i| &data[i * len as usize..(i + 1) * len as usize]).collect();
    let r = lp.run(&rows, out, false)?;
    let feats = finish(r.bands, r.log_energy);
    let t = r.counts[0];
    let feats = feats.view([b, t, -1]);
    Ok(if single { feats.squeeze_dim(0) } else { feats })
}

/// Features through the loop of signals of any lengths (each `[N_i]`), split per signal.
pub(crate) fn per_frame_loop_many(lp: &FrameLoop, signals: &[Tensor], out: LoopOutputs, finish: impl Fn(Tensor, Tensor) -> Tensor) -> Result<Vec<Tensor>> {
    if signals.is_empty() {
        bail!("no signals given");
    }
    let mut held = Vec::with_capacity(signals.len());
    for (i, s) in signals.iter().enumerate() {
        if s.dim() != 1 {
            bail!("signal {i}: expected samples [N], got a tensor of shape {:?}", s.size());
        }
        held.push(s.to_kind(Kind::Float).contiguous());
    }
    let r = lp.run(&held.iter().map(floats).collect::<Vec<_>>(), out, true)?;
    Ok(finish(r.bands, r.log_energy).split_with_sizes(&r.counts, 0))
}

/// The values of a contiguous float tensor on the CPU, read in place.
fn floats(t: &Tensor) -> &[f32] {
    assert!(t.device() == Device::Cpu && t.kind() == Kind::Float && t.is_contiguous(), "floats() needs a contiguous float CPU tensor");
    let n = t.numel();
    if n == 0 {
        return &[];
    }
    // SAFETY: the tensor is contiguous float32 on the CPU, so its storage holds `n` f32 from
    // `data_ptr`; the slice borrows `t`, which keeps the storage alive, and nothing writes
    // to it meanwhile (the callers made their own contiguous copies or views).
    unsafe { std::slice::from_raw_parts(t.data_ptr() as *const f32, n) }
}

/// The values of a tensor this module just made with `Tensor::empty`, to be written.
#[allow(clippy::mut_from_ref)]
fn floats_mut(t: &Tensor) -> &mut [f32] {
    assert!(t.device() == Device::Cpu && t.kind() == Kind::Float && t.is_contiguous(), "floats_mut() needs a contiguous float CPU tensor");
    // SAFETY: as in `floats`; the tensor is fresh (no other handle shares its storage) and
    // only this slice touches it until the slice's last use, after which the tensor is
    // handed out.
    unsafe { std::slice::from_raw_parts_mut(t.data_ptr() as *mut f32, t.numel()) }
}

/// Gaussian dither noise for `frames` frames from libtorch's generator (the draw the
/// tensor route makes), or none when dither is off.
fn dither_noise(opts: &FrameOptions, frames: i64) -> Result<Option<Vec<f32>>> {
    if opts.dither <= 0.0 {
        return Ok(None);
    }
    let noise = Tensor::randn([frames, opts.window_size()], (Kind::Float, tch::Device::Cpu));
    Ok(Some(Vec::<f32>::try_from(noise.view([-1]))?))
}
