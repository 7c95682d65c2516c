//! ViewCLR: a learnable view generator. A small network reads a clip (and noise) and picks a
//! virtual camera rotation (yaw, pitch, roll, bounded); the clip is re-rendered as that camera
//! would see it (the homography `K R K^-1` of a rotating pinhole camera, through a grid
//! sampler, so the warp is differentiable in the angles). The generator is trained against
//! the encoder: its angles reach the warp through a gradient reversal, so one optimiser step
//! lowers the contrastive loss in the encoder and raises it in the generator, while a penalty
//! on the angles pulls the generated view back towards the original camera. Wrapped round
//! any registered method with [`super::view_transform::TransformedView`].
use super::view_transform::ViewTransform;
use anyhow::{bail, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};
use ssl_core::method::StepContext;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// The view generator's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ViewClrConfig {
    /// Largest rotation about each axis, degrees.
    pub max_angle: f64,
    /// Focal length of the virtual camera in half-image units (1.5: about 67 degrees of view).
    pub focal: f64,
    /// Noise inputs of the generator (different views of one clip).
    pub noise: i64,
    /// Hidden width of the generator.
    pub hidden: i64,
    /// Weight of the pull towards the original camera: `pull * mean((angle / max_angle)^2)`.
    pub pull: f64,
    /// The view that is re-rendered (0: the query of the first pair).
    pub view: usize,
}

impl Default for ViewClrConfig {
    fn default() -> Self {
        Self { max_angle: 30.0, focal: 1.5, noise: 8, hidden: 32, pull: 0.1, view: 0 }
    }
}

/// Identity forward, negated gradient backward: `-x + 2 sg(x)`.
pub fn gradient_reversal(x: &Tensor) -> Tensor {
    -x + (x * 2.0).detach()
}

/// Rotation matrices `[N, 3, 3]` of angles `[N, 3]` (yaw about y, pitch about x, roll about
/// z, radians): `R = Rz(roll) Ry(yaw) Rx(pitch)`.
pub fn rotation_matrices(angles: &Tensor) -> Tensor {
    let n = angles.size()[0];
    let (yaw, pitch, roll) = (angles.select(1, 0), angles.select(1, 1), angles.select(1, 2));
    let (one, zero) = (Tensor::ones_like(&yaw), Tensor::zeros_like(&yaw));
    let m = |e: [&Tensor; 9]| Tensor::stack(&e, 1).view([n, 3, 3]);
    let (ca, sa, cb, sb, cc, sc) = (yaw.cos(), yaw.sin(), pitch.cos(), pitch.sin(), roll.cos(), roll.sin());
    let rx = m([&one, &zero, &zero, &zero, &cb, &(-&sb), &zero, &sb, &cb]);
    let ry = m([&ca, &zero, &sa, &zero, &one, &zero, &(-&sa), &zero, &ca]);
    let rz = m([&cc, &(-&sc), &zero, &sc, &cc, &zero, &zero, &zero, &one]);
    rz.matmul(&ry).matmul(&rx)
}

/// The sampling grid `[N, H, W, 2]` (grid-sampler coordinates, pixel centres) of a pinhole
/// camera of focal length `focal` rotated by `angles` `[N, 3]`: output pixel `u` reads the
/// input at `K R K^-1 u`.
pub fn camera_rotation_grid(angles: &Tensor, height: i64, width: i64, focal: f64) -> Tensor {
    let opts = (Kind::Float, angles.device());
    let xs = (Tensor::arange(width, opts) * 2.0 + 1.0) / width as f64 - 1.0;
    let ys = (Tensor::arange(height, opts) * 2.0 + 1.0) / height as f64 - 1.0;
    let grid = Tensor::meshgrid_indexing(&[&ys, &xs], "ij");
    let base = Tensor::stack(&[grid[1].flatten(0, -1), grid[0].flatten(0, -1), Tensor::ones([height * width], opts)], 1);
    let k = Tensor::from_slice(&[focal as f32, 0.0, 0.0, 0.0, focal as f32, 0.0, 0.0, 0.0, 1.0]).view([3, 3]).to_device(angles.device());
    let k_inv = k.inverse();
    let m = k.matmul(&rotation_matrices(&angles.to_kind(Kind::Float))).matmul(&k_inv);
    // [N, HW, 3] = base [HW, 3] x M^T
    let src = base.matmul(&m.transpose(1, 2));
    let z = src.select(2, 2).clamp_min(1e-3);
    Tensor::stack(&[src.select(2, 0) / &z, src.select(2, 1) / &z], 2).view([-1, height, width, 2])
}

/// Re-renders clips `[N, C, T, H, W]` from cameras rotated by `angles` `[N, 3]` (radians);
/// every frame of a clip with the same camera; outside the frame is 0.
pub fn rotate_camera(clips: &Tensor, angles: &Tensor, focal: f64) -> Result<Tensor> {
    let s = clips.size();
    if s.len() != 5 {
        bail!("camera rotation takes clips [N, C, T, H, W], got {s:?}");
    }
    if angles.size() != [s[0], 3] {
        bail!("camera rotation needs angles [{}, 3], got {:?}", s[0], angles.size());
    }
    let grid = camera_rotation_grid(angles, s[3], s[4], focal);
    let flat = clips.reshape([s[0], s[1] * s[2], s[3], s[4]]);
    Ok(Tensor::f_grid_sampler(&flat, &grid, 0, 0, false)?.view([s[0], s[1], s[2], s[3], s[4]]))
}

/// The learnable view generator.
#[derive(Debug)]
pub struct ViewGenerator {
    features: nn::Sequential,
    head: nn::Sequential,
    cfg: ViewClrConfig,
}

impl ViewGenerator {
    /// A generator under `p` for clips of `channels`; it starts at the original camera
    /// (zero last layer).
    pub fn new(p: &nn::Path, channels: i64, cfg: &ViewClrConfig) -> Result<Self> {
        let in_range = cfg.max_angle > 0.0 && cfg.max_angle < 80.0 && cfg.focal > 0.0 && cfg.noise >= 0 && cfg.hidden > 0 && cfg.pull >= 0.0;
        if !in_range {
            bail!("the view generator needs 0 < max_angle < 80 degrees, a positive focal length and hidden width, and pull >= 0");
        }
        let conv = |name: &str, i, o| nn::conv2d(p / name, i, o, 3, nn::ConvConfig { stride: 2, padding: 1, ..Default::default() });
        let features = nn::seq().add(conv("conv1", channels, 16)).add_fn(|x| x.relu()).add(conv("conv2", 16, 32)).add_fn(|x| x.relu());
        let zero = nn::LinearConfig { ws_init: nn::Init::Const(0.0), bs_init: Some(nn::Init::Const(0.0)), bias: true };
        let head = nn::seq().add(nn::linear(p / "fc1", 32 + cfg.noise, cfg.hidden, Default::default())).add_fn(|x| x.relu()).add(nn::linear(
            p / "fc2",
            cfg.hidden,
            3,
            zero,
        ));
        Ok(Self { features, head, cfg: cfg.clone() })
    }

    /// Camera angles `[N, 3]` in radians, each within `max_angle`, for clips `[N, C, T, H, W]`
    /// and noise `[N, noise]`.
    pub fn angles(&self, clips: &Tensor, noise: &Tensor) -> Tensor {
        let h = self.features.forward(&clips.mean_dim([2].as_slice(), false, Kind::Float)).mean_dim([2, 3].as_slice(), false, Kind::Float);
        let raw = self.head.forward(&Tensor::cat(&[&h, noise], 1));
        raw.tanh() * self.cfg.max_angle.to_radians()
    }

    /// The generated view of `clips` and the pull term (weighted), with uniform noise from
    /// `rng`. The warp sees the angles through a gradient reversal.
    pub fn generate(&self, clips: &Tensor, rng: &mut impl Rng) -> Result<(Tensor, Tensor)> {
        let n = clips.size()[0];
        let noise: Vec<f32> = (0..n * self.cfg.noise).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let noise = Tensor::from_slice(&noise).view([n, self.cfg.noise]).to_device(clips.device());
        let angles = self.angles(clips, &noise);
        let view = rotate_camera(clips, &gradient_reversal(&angles), self.cfg.focal)?;
        let pull = (&angles / self.cfg.max_angle.to_radians()).square().mean(Kind::Float) * self.cfg.pull;
        Ok((view, pull))
    }
}

impl ViewTransform for ViewGenerator {
    fn name(&self) -> &'static str {
        "viewclr"
    }

    fn transform(&mut self, view: &Tensor, ctx: &StepContext) -> Result<(Tensor, Option<(String, Tensor)>)> {
        let (out, pull) = self.generate(view, &mut ctx.rng())?;
        Ok((out, Some(("view_pull".into(), pull))))
    }
}
