//! Reverberation by simulated rooms: a shoebox room with a source and a microphone
//! drawn at random, early reflections by the image-source method (Allen and Berkley
//! 1979) and a diffuse tail that decays with the room's RT60, at the level Sabine's
//! diffuse-field theory gives for that distance.
use anyhow::{bail, Result};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Ranges the rooms are drawn from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RoomConfig {
    /// Floor length and width in metres ([3, 10]).
    pub floor_m: (f64, f64),
    /// Height in metres ([2.5, 4]).
    pub height_m: (f64, f64),
    /// Reverberation time (60 dB decay) in seconds ([0.2, 0.8]).
    pub rt60_s: (f64, f64),
    /// Source and microphone stay this far from every wall (0.5 m).
    pub margin_m: f64,
    /// Image-source order of the early reflections (2).
    pub max_order: i64,
    /// Speed of sound in m/s (343).
    pub speed_of_sound: f64,
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self { floor_m: (3.0, 10.0), height_m: (2.5, 4.0), rt60_s: (0.2, 0.8), margin_m: 0.5, max_order: 2, speed_of_sound: 343.0 }
    }
}

/// One drawn room, with its source and microphone.
#[derive(Debug, Clone, PartialEq)]
pub struct Room {
    /// `[length, width, height]` in metres.
    pub size: [f64; 3],
    /// Source position in metres.
    pub source: [f64; 3],
    /// Microphone position in metres.
    pub mic: [f64; 3],
    /// Reverberation time in seconds.
    pub rt60: f64,
}

fn draw(rng: &mut impl Rng, (lo, hi): (f64, f64)) -> f64 {
    if hi > lo {
        rng.random_range(lo..hi)
    } else {
        lo
    }
}

impl Room {
    /// A room drawn from `cfg`.
    pub fn random(cfg: &RoomConfig, rng: &mut impl Rng) -> Result<Self> {
        let size = [draw(rng, cfg.floor_m), draw(rng, cfg.floor_m), draw(rng, cfg.height_m)];
        if size.iter().any(|&s| s <= 2.0 * cfg.margin_m) {
            bail!("a {size:?} m room leaves no space {} m from its walls", cfg.margin_m);
        }
        let mut point = || size.map(|s| rng.random_range(cfg.margin_m..s - cfg.margin_m));
        let (source, mic) = (point(), point());
        let rt60 = draw(rng, cfg.rt60_s);
        if rt60 <= 0.0 {
            bail!("rt60 must be positive, not {rt60}");
        }
        Ok(Self { size, source, mic, rt60 })
    }

    fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
        a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt()
    }

    /// Sabine's absorption coefficient for the room's RT60 (at most 1).
    pub fn absorption(&self) -> f64 {
        let [x, y, z] = self.size;
        let (volume, surface) = (x * y * z, 2.0 * (x * y + x * z + y * z));
        (0.161 * volume / (surface * self.rt60)).min(1.0)
    }

    /// The impulse response at `rate` Hz, `rt60` long, normalised so that the direct
    /// path is 1 at index 0 (the dry signal keeps its level and timing).
    pub fn impulse_response(&self, rate: u32, cfg: &RoomConfig, rng: &mut impl Rng) -> Vec<f32> {
        let fs = f64::from(rate);
        let len = ((self.rt60 * fs) as usize).max(1);
        let c = cfg.speed_of_sound;
        let direct = Self::distance(self.source, self.mic);
        let alpha = self.absorption();
        let beta = (1.0 - alpha).max(0.0).sqrt();
        let mut h = vec![0f64; len];
        // Early reflections: images of the source in the walls, amplitude beta^reflections / distance,
        // relative to the direct path.
        let n = cfg.max_order;
        for nx in -n..=n {
            for ny in -n..=n {
                for nz in -n..=n {
                    for parity in 0..8u8 {
                        let cells = [nx, ny, nz];
                        let mut image = [0.0; 3];
                        let mut reflections = 0;
                        for d in 0..3 {
                            let p = i64::from((parity >> d) & 1);
                            image[d] = if p == 1 { -self.source[d] } else { self.source[d] } + 2.0 * cells[d] as f64 * self.size[d];
                            reflections += (2 * cells[d] - p).abs();
                        }
                        if reflections > n {
                            continue;
                        }
                        let r = Self::distance(image, self.mic);
                        let delay = ((r - direct) / c * fs).round() as usize;
                        if delay < len {
                            h[delay] += beta.powi(reflections as i32) * direct / r;
                        }
                    }
                }
            }
        }
        // The diffuse tail: Gaussian noise under an exp(-6.91 t / RT60) envelope, with the
        // reverberant-to-direct energy ratio 16 pi d^2 (1 - alpha) / (S alpha).
        let [x, y, z] = self.size;
        let surface = 2.0 * (x * y + x * z + y * z);
        let ratio = 16.0 * std::f64::consts::PI * direct * direct * (1.0 - alpha) / (surface * alpha);
        let decay = 3.0 * std::f64::consts::LN_10 / (self.rt60 * fs);
        let tail: Vec<f64> = (0..len).map(|i| <StandardNormal as Distribution<f64>>::sample(&StandardNormal, rng) * (-decay * i as f64).exp()).collect();
        let tail_energy: f64 = tail.iter().skip(1).map(|v| v * v).sum();
        if tail_energy > 0.0 {
            let g = (ratio / tail_energy).sqrt();
            for (hi, ti) in h.iter_mut().zip(&tail).skip(1) {
                *hi += g * ti;
            }
        }
        h[0] = 1.0;
        h.into_iter().map(|v| v as f32).collect()
    }
}

/// `signal` heard in `room` at `rate` Hz: convolved with the room's response (by FFT),
/// cut to the signal's length.
pub fn reverberate(signal: &[f32], rate: u32, room: &Room, cfg: &RoomConfig, rng: &mut impl Rng) -> Result<Vec<f32>> {
    if signal.is_empty() {
        bail!("cannot reverberate an empty signal");
    }
    let h = room.impulse_response(rate, cfg, rng);
    let n = (signal.len() + h.len() - 1).next_power_of_two() as i64;
    let x = Tensor::from_slice(signal).to_kind(Kind::Double).fft_rfft(Some(n), -1, "backward");
    let hh = Tensor::from_slice(&h).to_kind(Kind::Double).fft_rfft(Some(n), -1, "backward");
    let y = (x * hh).fft_irfft(Some(n), -1, "backward").narrow(0, 0, signal.len() as i64).to_kind(Kind::Float);
    Ok(Vec::<f32>::try_from(y)?)
}
