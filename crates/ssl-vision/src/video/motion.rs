//! A generated, labelled motion benchmark from real content: an object (a real image crop,
//! e.g. a Fashion-MNIST item) moves over a real background (frames of a real clip) with one
//! of eight motion classes. Motions are defined in 3-D and seen through a camera turned about
//! the vertical axis, so the same motion can be rendered from several camera angles (for
//! cross-view tests); backgrounds can be tied to the class (static bias) or drawn at random.
//! Every clip follows from the seed: results on it must be reported as generated.
use anyhow::{bail, Result};
use rand::Rng;
use tch::{Device, Kind, Tensor};

/// The motion classes: translations along the world axes, motion towards and away from
/// the camera, and in-plane rotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Motion {
    /// Along +x (to the right at camera angle 0).
    Right,
    /// Along -x.
    Left,
    /// Along +y (up).
    Up,
    /// Along -y.
    Down,
    /// Towards the camera at angle 0 (it grows).
    Towards,
    /// Away from it (it shrinks).
    Away,
    /// In-plane rotation, clockwise as the camera at angle 0 sees it.
    TurnClockwise,
    /// In-plane rotation, anticlockwise.
    TurnAnticlockwise,
}

impl Motion {
    /// Every class, in label order.
    pub const ALL: [Motion; 8] =
        [Motion::Right, Motion::Left, Motion::Up, Motion::Down, Motion::Towards, Motion::Away, Motion::TurnClockwise, Motion::TurnAnticlockwise];

    /// The class name (and folder name).
    pub fn name(self) -> &'static str {
        match self {
            Motion::Right => "right",
            Motion::Left => "left",
            Motion::Up => "up",
            Motion::Down => "down",
            Motion::Towards => "towards",
            Motion::Away => "away",
            Motion::TurnClockwise => "turn-clockwise",
            Motion::TurnAnticlockwise => "turn-anticlockwise",
        }
    }

    /// The class label (its index in [`Motion::ALL`]).
    pub fn label(self) -> i64 {
        Motion::ALL.iter().position(|&m| m == self).unwrap_or(0) as i64
    }
}

/// How clips are rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct MotionConfig {
    /// Frames per clip.
    pub frames: usize,
    /// Side of the square frames, pixels.
    pub size: i64,
    /// The object's half-size on screen at the start, as a share of the frame's half-width.
    pub object_scale: f64,
    /// Distance the object travels over a clip (translations), in frame half-widths.
    pub travel: (f64, f64),
    /// Angle it turns over a clip (rotations), radians.
    pub turn: (f64, f64),
    /// Share of its distance it comes closer or moves away over a clip.
    pub depth: (f64, f64),
    /// Random offset of the start position, frame half-widths.
    pub jitter: f64,
}

impl Default for MotionConfig {
    /// 16 frames of 64 x 64; the object a third of the frame; translations of 0.6-1.0 half
    /// widths, turns of 90-180 degrees, depth changes of 30-45%.
    fn default() -> Self {
        Self {
            frames: 16,
            size: 64,
            object_scale: 0.33,
            travel: (0.6, 1.0),
            turn: (std::f64::consts::FRAC_PI_2, std::f64::consts::PI),
            depth: (0.3, 0.45),
            jitter: 0.15,
        }
    }
}

impl MotionConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.frames < 2 || !(8..=1024).contains(&self.size) {
            bail!("motion clips need at least 2 frames and a side of 8 to 1024 pixels, got {} frames of {}", self.frames, self.size);
        }
        let ranges = [("travel", self.travel), ("turn", self.turn), ("depth", self.depth)];
        for (name, (lo, hi)) in ranges {
            if !(lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo <= hi) {
                bail!("motion: {name} must be a range 0 <= low <= high, got ({lo}, {hi})");
            }
        }
        if self.depth.1 >= 0.9 || !(self.object_scale > 0.0 && self.object_scale < 1.0) || !(self.jitter >= 0.0 && self.jitter < 1.0) {
            bail!("motion: depth below 0.9, object scale in (0, 1) and jitter in [0, 1) are required");
        }
        Ok(())
    }
}

/// The object's pose in each frame: centre in world units (x right, y up, z the distance from
/// the camera at angle 0, 1 at the start) and in-plane angle.
fn trajectory(motion: Motion, cfg: &MotionConfig, rng: &mut impl Rng) -> Vec<([f64; 3], f64)> {
    let n = cfg.frames;
    let mut draw = |(lo, hi): (f64, f64)| if hi > lo { rng.random_range(lo..=hi) } else { lo };
    let (travel, turn, depth) = (draw(cfg.travel), draw(cfg.turn), draw(cfg.depth));
    let j = cfg.jitter;
    let (jx, jy) = if j > 0.0 { (rng.random_range(-j..=j), rng.random_range(-j..=j)) } else { (0.0, 0.0) };
    let angle0 = rng.random_range(-std::f64::consts::PI..std::f64::consts::PI);
    (0..n)
        .map(|t| {
            // From -1/2 to +1/2 of the motion over the clip.
            let s = t as f64 / (n - 1) as f64 - 0.5;
            let (mut x, mut y, mut z, mut a) = (jx, jy, 1.0, angle0);
            match motion {
                Motion::Right => x += travel * s,
                Motion::Left => x -= travel * s,
                Motion::Up => y += travel * s,
                Motion::Down => y -= travel * s,
                Motion::Towards => z = 1.0 - depth * (s + 0.5),
                Motion::Away => z = 1.0 + depth * (s + 0.5),
                // The angle turns the sampling grid: seen on the screen (y down) a rising
                // angle turns the object clockwise.
                Motion::TurnClockwise => a += turn * s,
                Motion::TurnAnticlockwise => a -= turn * s,
            }
            ([x, y, z], a)
        })
        .collect()
}

/// Renders one clip `[T, C, size, size]` in `[0, 1]`: `object` (`[h, w]` grey in `[0, 1]`,
/// bright on dark: its brightness is its opacity) moving by `motion` as a camera turned by
/// `camera_deg` about the vertical axis sees it, over `background` (`[T', C, H, W]` frames
/// of a real clip, `T' >= T`; a random window of frames and one crop box for the clip).
pub fn render_clip(object: &Tensor, background: &Tensor, motion: Motion, camera_deg: f64, cfg: &MotionConfig, rng: &mut impl Rng) -> Result<Tensor> {
    cfg.validate()?;
    let (os, bs) = (object.size(), background.size());
    if os.len() != 2 || bs.len() != 4 || bs[0] < cfg.frames as i64 {
        bail!("render: the object must be [h, w] and the background [T, C, H, W] with T >= {}, got {os:?} and {bs:?}", cfg.frames);
    }
    if !camera_deg.is_finite() || camera_deg.abs() >= 80.0 {
        bail!("render: the camera angle must lie within +-80 degrees, got {camera_deg}");
    }
    let (t, c, size) = (cfg.frames as i64, bs[1], cfg.size);
    // The background: a window of frames, one square crop of 60-100% of the short side.
    let start = rng.random_range(0..=bs[0] - t);
    let side = ((bs[2].min(bs[3]) as f64) * rng.random_range(0.6..=1.0)).round().max(1.0) as i64;
    let (top, left) = (rng.random_range(0..=bs[2] - side), rng.random_range(0..=bs[3] - side));
    let bg = background.narrow(0, start, t).narrow(2, top, side).narrow(3, left, side).to_kind(Kind::Float);
    let bg = bg.f_upsample_bilinear2d([size, size], false, None, None)?;

    // The camera: turned by theta about y, at distance 1 from the origin, focal length 1 (so
    // the frame's half-width spans one world unit at the start).
    let theta = camera_deg.to_radians();
    let (ct, st) = (theta.cos(), theta.sin());
    let poses = trajectory(motion, cfg, rng);
    let mut thetas = Vec::with_capacity(6 * poses.len());
    for ([x, y, z], a) in poses {
        // World to camera: rotate about y, the object's depth measured from the camera.
        let (xc, zc) = (x * ct - (z - 1.0) * st, x * st + (z - 1.0) * ct + 1.0);
        let zc = zc.max(0.2);
        let (u, v) = (xc / zc, y / zc);
        // The object's plane faces the world camera: seen from theta it is narrower by cos.
        let (sx, sy) = (cfg.object_scale * ct / zc, cfg.object_scale / zc);
        // Output (canvas) coordinates to object coordinates: q = R(-a) S^-1 (p - c). Screen y
        // runs down, world y up.
        let (ca, sa) = (a.cos(), a.sin());
        let m = [[ca / sx, sa / sy], [-sa / sx, ca / sy]];
        let centre = [u, -v];
        thetas.extend([m[0][0], m[0][1], -(m[0][0] * centre[0] + m[0][1] * centre[1]), m[1][0], m[1][1], -(m[1][0] * centre[0] + m[1][1] * centre[1])]);
    }
    let theta_t = Tensor::from_slice(&thetas).view([t, 2, 3]).to_kind(Kind::Float);
    let grid = Tensor::f_affine_grid_generator(&theta_t, [t, 1, size, size], false)?;
    let obj = object.to_kind(Kind::Float).view([1, 1, os[0], os[1]]).expand([t, 1, os[0], os[1]], false);
    // Bilinear, zeros outside the object.
    let warped = Tensor::f_grid_sampler(&obj, &grid, 0, 0, false)?;
    let alpha = (&warped / 0.2).clamp(0.0, 1.0);
    let clip: Tensor = &bg * (1.0 - &alpha) + warped.expand([t, c, size, size], false) * &alpha;
    Ok(clip.clamp(0.0, 1.0).to_device(Device::Cpu))
}

/// Which background each clip of a split gets: the class's own (static bias) or any.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BackgroundRule {
    /// Any background, drawn at random.
    Random,
    /// With probability `p`, the background tied to the class (class % backgrounds); else random.
    TiedToClass(f64),
}

impl BackgroundRule {
    /// The background index for a clip of `label` among `count` backgrounds.
    pub fn pick(self, label: i64, count: usize, rng: &mut impl Rng) -> usize {
        match self {
            BackgroundRule::TiedToClass(p) if rng.random_bool(p.clamp(0.0, 1.0)) => label as usize % count,
            _ => rng.random_range(0..count),
        }
    }
}
