//! A Glow-style normalizing flow on frames: an invertible map `z = f(x)` of a frame to a
//! latent of the same size with a tractable log-determinant, trained by maximum likelihood
//! under `z ~ N(0, I)`. SSVC reads a clip's static content off the latent (dimensions that do
//! not change over time) and inverts the flow after suppressing it, so `decode(encode(x))`
//! must give `x` back exactly; the tests check that and the log-determinant.
//!
//! Layout: `levels` times [squeeze (2 x 2 space-to-depth), then `steps` of actnorm,
//! invertible 1 x 1 convolution and affine coupling]; no factor-out (every dimension stays
//! to the end, which keeps the latent one flat vector per frame).
use super::frames::VideoFolder;
use crate::augment::{augment, AugmentConfig};
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// The flow's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowConfig {
    /// Side of the (square) frames the flow models; divisible by `2^levels`.
    pub size: usize,
    /// Squeeze levels.
    pub levels: usize,
    /// Flow steps (actnorm, 1 x 1 convolution, coupling) per level.
    pub steps: usize,
    /// Channels of the coupling networks.
    pub hidden: i64,
    /// Bound of the couplings' log-scales (`clamp * tanh(s / clamp)`; 1.5 in SSVC's code).
    pub clamp: f64,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self { size: 32, levels: 2, steps: 4, hidden: 64, clamp: 1.5 }
    }
}

impl FlowConfig {
    /// Checks the shape.
    pub fn validate(&self) -> Result<()> {
        if self.levels == 0 || self.steps == 0 || self.hidden <= 0 || self.clamp.is_nan() || self.clamp <= 0.0 {
            bail!("a flow needs at least one level, one step, positive hidden channels and a positive clamp");
        }
        if self.size == 0 || !self.size.is_multiple_of(1 << self.levels) {
            bail!("the flow's frame size {} must be a positive multiple of 2^levels = {}", self.size, 1 << self.levels);
        }
        Ok(())
    }
}

/// One flow step: actnorm, invertible 1 x 1 convolution, affine coupling.
#[derive(Debug)]
struct FlowStep {
    bias: Tensor,
    logs: Tensor,
    weight: Tensor,
    net: nn::Sequential,
    clamp: f64,
}

impl FlowStep {
    fn new(p: &nn::Path, channels: i64, hidden: i64, clamp: f64) -> Self {
        let bias = p.var("actnorm_bias", &[1, channels, 1, 1], nn::Init::Const(0.0));
        let logs = p.var("actnorm_logs", &[1, channels, 1, 1], nn::Init::Const(0.0));
        // A random rotation: invertible, log-determinant 0 at the start.
        let (q, _) = Tensor::linalg_qr(&Tensor::randn([channels, channels], (Kind::Float, p.device())), "reduced");
        let weight = p.var_copy("invconv", &q);
        let half = channels / 2;
        let conv = |name: &str, i: i64, o: i64, k: i64, zero: bool| {
            let mut c = nn::ConvConfig { padding: k / 2, ..Default::default() };
            if zero {
                c.ws_init = nn::Init::Const(0.0);
                c.bs_init = nn::Init::Const(0.0);
            }
            nn::conv2d(p / name, i, o, k, c)
        };
        // Zero-initialised last layer: every coupling starts as the identity.
        let net = nn::seq()
            .add(conv("coupling_in", half, hidden, 3, false))
            .add_fn(|x| x.relu())
            .add(conv("coupling_mid", hidden, hidden, 1, false))
            .add_fn(|x| x.relu())
            .add(conv("coupling_out", hidden, 2 * (channels - half), 3, true));
        Self { bias, logs, weight, net, clamp }
    }

    fn scale_shift(&self, a: &Tensor) -> (Tensor, Tensor) {
        let h = self.net.forward(a);
        let parts = h.chunk(2, 1);
        let log_s = (&parts[0] / self.clamp).tanh() * self.clamp;
        (log_s, parts[1].shallow_clone())
    }

    /// `x -> y` and the log-determinant per sample.
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        let (c, hw) = (x.size()[1], x.size()[2] * x.size()[3]);
        let y = (x + &self.bias) * self.logs.exp();
        let mut logdet = self.logs.sum(Kind::Float) * hw as f64;
        let y = y.conv2d(&self.weight.view([c, c, 1, 1]), None::<Tensor>, [1, 1], [0, 0], [1, 1], 1);
        logdet += Tensor::linalg_slogdet(&self.weight).1 * hw as f64;
        let parts = y.split_with_sizes([c / 2, c - c / 2], 1);
        let (log_s, t) = self.scale_shift(&parts[0]);
        let b = &parts[1] * log_s.exp() + t;
        let per_sample = log_s.sum_dim_intlist([1, 2, 3].as_slice(), false, Kind::Float) + logdet;
        (Tensor::cat(&[&parts[0], &b], 1), per_sample)
    }

    /// `y -> x`, the exact inverse of [`FlowStep::forward`].
    fn inverse(&self, y: &Tensor) -> Tensor {
        let c = y.size()[1];
        let parts = y.split_with_sizes([c / 2, c - c / 2], 1);
        let (log_s, t) = self.scale_shift(&parts[0]);
        let b = (&parts[1] - t) * (-log_s).exp();
        let x = Tensor::cat(&[&parts[0], &b], 1);
        let x = x.conv2d(&self.weight.inverse().view([c, c, 1, 1]), None::<Tensor>, [1, 1], [0, 0], [1, 1], 1);
        x * (-&self.logs).exp() - &self.bias
    }

    /// Actnorm's data-dependent start: zero mean, unit variance per channel on `x`.
    fn initialize(&self, x: &Tensor) {
        tch::no_grad(|| {
            let mean = x.mean_dim([0, 2, 3].as_slice(), true, Kind::Float);
            let std = x.std_dim([0, 2, 3].as_slice(), false, true);
            self.bias.shallow_clone().copy_(&(-mean));
            self.logs.shallow_clone().copy_(&(std + 1e-6).reciprocal().log());
        });
    }
}

/// Space-to-depth: `[B, C, H, W] -> [B, 4C, H/2, W/2]`.
fn squeeze(x: &Tensor) -> Tensor {
    let s = x.size();
    x.view([s[0], s[1], s[2] / 2, 2, s[3] / 2, 2]).permute([0, 1, 3, 5, 2, 4]).reshape([s[0], s[1] * 4, s[2] / 2, s[3] / 2])
}

/// Depth-to-space, the inverse of [`squeeze`].
fn unsqueeze(x: &Tensor) -> Tensor {
    let s = x.size();
    x.view([s[0], s[1] / 4, 2, 2, s[2], s[3]]).permute([0, 1, 4, 2, 5, 3]).reshape([s[0], s[1] / 4, s[2] * 2, s[3] * 2])
}

/// The flow on frames of `channels` x `size` x `size`.
#[derive(Debug)]
pub struct FrameFlow {
    cfg: FlowConfig,
    channels: i64,
    levels: Vec<Vec<FlowStep>>,
}

impl FrameFlow {
    /// A flow under `p` (random 1 x 1 rotations, identity couplings, actnorm unset until
    /// [`FrameFlow::initialize`]).
    pub fn new(p: &nn::Path, channels: i64, cfg: &FlowConfig) -> Result<Self> {
        cfg.validate()?;
        if channels <= 0 {
            bail!("a flow needs at least one channel");
        }
        let mut levels = Vec::with_capacity(cfg.levels);
        let mut c = channels;
        for l in 0..cfg.levels {
            c *= 4;
            let lp = p / format!("level{l}");
            levels.push((0..cfg.steps).map(|s| FlowStep::new(&(&lp / format!("step{s}")), c, cfg.hidden, cfg.clamp)).collect());
        }
        Ok(Self { cfg: cfg.clone(), channels, levels })
    }

    /// The shape.
    pub fn config(&self) -> &FlowConfig {
        &self.cfg
    }

    /// Dimensions of a frame (= of its latent).
    pub fn dims(&self) -> i64 {
        self.channels * (self.cfg.size * self.cfg.size) as i64
    }

    fn check(&self, x: &Tensor) -> Result<()> {
        let s = x.size();
        let side = self.cfg.size as i64;
        if s.len() != 4 || s[1] != self.channels || s[2] != side || s[3] != side {
            bail!("the flow takes frames [N, {}, {side}, {side}], got {s:?}", self.channels);
        }
        Ok(())
    }

    /// Latents `[N, D]` of frames `[N, C, size, size]` and the log-determinant per frame.
    pub fn encode(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        self.check(x)?;
        let mut h = x.shallow_clone();
        let mut logdet = Tensor::zeros([x.size()[0]], (Kind::Float, x.device()));
        for level in &self.levels {
            h = squeeze(&h);
            for step in level {
                let (y, ld) = step.forward(&h);
                h = y;
                logdet += ld;
            }
        }
        Ok((h.flatten(1, -1), logdet))
    }

    /// Frames `[N, C, size, size]` of latents `[N, D]`: the exact inverse of `encode`.
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        let s = z.size();
        if s.len() != 2 || s[1] != self.dims() {
            bail!("the flow's latents are [N, {}], got {s:?}", self.dims());
        }
        let scale = 1i64 << self.cfg.levels;
        let side = self.cfg.size as i64 / scale;
        let mut h = z.view([s[0], self.channels * scale * scale, side, side]);
        for level in self.levels.iter().rev() {
            for step in level.iter().rev() {
                h = step.inverse(&h);
            }
            h = unsqueeze(&h);
        }
        Ok(h)
    }

    /// Negative log-likelihood in nats per dimension, averaged over the frames.
    pub fn nll(&self, x: &Tensor) -> Result<Tensor> {
        let (z, logdet) = self.encode(x)?;
        let d = self.dims() as f64;
        let log_pz = z.square().sum_dim_intlist([1].as_slice(), false, Kind::Float) * -0.5 - 0.5 * d * (2.0 * std::f64::consts::PI).ln();
        Ok((-(log_pz + logdet)).mean(Kind::Float) / d)
    }

    /// Sets every actnorm from the statistics of `x` as it arrives at that step.
    pub fn initialize(&self, x: &Tensor) -> Result<()> {
        self.check(x)?;
        tch::no_grad(|| {
            let mut h = x.shallow_clone();
            for level in &self.levels {
                h = squeeze(&h);
                for step in level {
                    step.initialize(&h);
                    h = step.forward(&h).0;
                }
            }
        });
        Ok(())
    }
}

/// How the flow is fitted to frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowTrainConfig {
    /// The flow's shape.
    pub flow: FlowConfig,
    /// Adam steps.
    pub steps: usize,
    /// Frames per step.
    pub batch: usize,
    /// Learning rate.
    pub lr: f64,
}

impl Default for FlowTrainConfig {
    fn default() -> Self {
        Self { flow: FlowConfig::default(), steps: 400, batch: 32, lr: 1e-3 }
    }
}

/// A fitted flow: its variables (kept alive with it), the flow, and the NLL per step.
pub struct FittedFlow {
    /// The variables of the flow.
    pub vs: nn::VarStore,
    /// The flow.
    pub flow: FrameFlow,
    /// Nats per dimension at each step.
    pub losses: Vec<f64>,
}

/// Fits a flow by maximum likelihood on random frames of `set` (random crops of 50-100 % of
/// the frame with flips, normalised as the clips are, dequantised with uniform noise of one
/// grey level), seeded.
pub fn train_flow(set: &VideoFolder, cfg: &FlowTrainConfig, normalize: &AugmentConfig, seed: u64, device: Device) -> Result<FittedFlow> {
    cfg.flow.validate()?;
    if cfg.steps == 0 || cfg.batch == 0 || !(cfg.lr.is_finite() && cfg.lr > 0.0) {
        bail!("fitting a flow needs steps, a batch and a positive learning rate");
    }
    if set.is_empty() {
        bail!("{}: no videos to fit the flow on", set.root.display());
    }
    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(device);
    let flow = FrameFlow::new(&(vs.root() / "flow"), set.channels as i64, &cfg.flow)?;
    let aug = AugmentConfig { size: cfg.flow.size, crop_scale: (0.5, 1.0), jitter_p: 0.0, grayscale_p: 0.0, blur_p: 0.0, ..normalize.clone() };
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_f10e);
    let side = cfg.flow.size as i64;
    // One grey level of [0, 1] in normalised units, per channel.
    let grey: Vec<f32> = (0..set.channels).map(|c| (1.0 / 256.0 / aug.std.get(c).or(aug.std.first()).copied().unwrap_or(1.0)) as f32).collect();
    let grey = Tensor::from_slice(&grey).view([1, set.channels as i64, 1, 1]).to_device(device);
    let draw = |rng: &mut ChaCha8Rng| -> Result<Tensor> {
        let mut frames = Vec::with_capacity(cfg.batch);
        for _ in 0..cfg.batch {
            let v = rng.random_range(0..set.len());
            let f = rng.random_range(0..set.videos[v].length);
            let img = augment(&set.frame(v, f)?, &aug, rng);
            frames.push(Tensor::from_slice(&img.data).view([set.channels as i64, side, side]));
        }
        let x = Tensor::stack(&frames, 0).to_device(device);
        Ok(&x + Tensor::rand_like(&x) * &grey)
    };
    flow.initialize(&draw(&mut rng)?)?;
    let mut opt = nn::Adam::default().build(&vs, cfg.lr)?;
    let mut losses = Vec::with_capacity(cfg.steps);
    for step in 0..cfg.steps {
        let loss = flow.nll(&draw(&mut rng)?)?;
        let value = loss.double_value(&[]);
        if !value.is_finite() {
            bail!("the flow's likelihood diverged at step {step} (nll {value}); lower the learning rate");
        }
        opt.backward_step_clip_norm(&loss, 1.0);
        losses.push(value);
    }
    Ok(FittedFlow { vs, flow, losses })
}
