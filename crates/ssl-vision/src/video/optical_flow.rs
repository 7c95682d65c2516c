//! The motion stream's inputs, computed on tensors inside the training step: the RGB
//! difference of consecutive frames, and dense optical flow by Horn and Schunck (brightness
//! constancy plus a smoothness term, solved by Jacobi iterations), batched over every frame
//! pair of every clip, on the device the clips are on.
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Smoothness weight of the motion stream's flow (frames normalised to about [-1, 1]).
pub const HS_ALPHA: f64 = 0.5;
/// Jacobi iterations of the motion stream's flow.
pub const HS_ITERATIONS: usize = 50;

/// Which motion input the second stream sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MotionInput {
    /// Frame differences `x_{t+1} - x_t`, as many channels as the clip.
    RgbDiff,
    /// Horn-Schunck optical flow `(u, v)`, two channels.
    Flow,
}

impl MotionInput {
    /// Channels of the motion clip for clips of `channels`.
    pub fn channels(self, channels: i64) -> i64 {
        match self {
            MotionInput::RgbDiff => channels,
            MotionInput::Flow => 2,
        }
    }

    /// The motion clip `[N, C', T, H, W]` of clips `[N, C, T, H, W]` (no gradient); the last
    /// frame repeats the last pair's motion so that the length stays T.
    pub fn compute(self, clips: &Tensor) -> Result<Tensor> {
        let s = clips.size();
        if s.len() != 5 || s[2] < 2 {
            bail!("motion inputs take clips [N, C, T, H, W] of at least 2 frames, got {s:?}");
        }
        let t = s[2];
        let motion = tch::no_grad(|| -> Result<Tensor> {
            let (a, b) = (clips.narrow(2, 0, t - 1), clips.narrow(2, 1, t - 1));
            Ok(match self {
                MotionInput::RgbDiff => &b - &a,
                MotionInput::Flow => {
                    let grey = |x: &Tensor| x.mean_dim([1].as_slice(), false, Kind::Float).reshape([-1, 1, s[3], s[4]]);
                    let (u, v) = horn_schunck(&grey(&a), &grey(&b), HS_ALPHA, HS_ITERATIONS)?;
                    // [N (T-1), 2, H, W] -> [N, 2, T-1, H, W]
                    Tensor::cat(&[u, v], 1).view([s[0], t - 1, 2, s[3], s[4]]).permute([0, 2, 1, 3, 4])
                }
            })
        })?;
        Ok(Tensor::cat(&[&motion, &motion.narrow(2, t - 2, 1)], 2))
    }
}

/// Horn-Schunck flow from frames `a` to `b` (`[M, 1, H, W]`), smoothness weight `alpha`,
/// `iterations` Jacobi steps; returns `(u, v)` in pixels per frame, each `[M, 1, H, W]`.
pub fn horn_schunck(a: &Tensor, b: &Tensor, alpha: f64, iterations: usize) -> Result<(Tensor, Tensor)> {
    if a.size() != b.size() || a.size().len() != 4 || a.size()[1] != 1 {
        bail!("Horn-Schunck takes two frame batches [M, 1, H, W] of one shape, got {:?} and {:?}", a.size(), b.size());
    }
    if alpha.is_nan() || alpha <= 0.0 {
        bail!("Horn-Schunck's smoothness weight must be positive, got {alpha}");
    }
    let opts = (Kind::Float, a.device());
    let kernel = |v: [f32; 9]| Tensor::from_slice(&v).view([1, 1, 3, 3]).to_device(a.device());
    let (a, b) = (a.to_kind(Kind::Float), b.to_kind(Kind::Float));
    // Central differences averaged over the two frames; the temporal difference smoothed.
    let dx = kernel([0.0, 0.0, 0.0, -0.5, 0.0, 0.5, 0.0, 0.0, 0.0]);
    let dy = kernel([0.0, -0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0]);
    let mean = (&a + &b) * 0.5;
    let pad = |x: &Tensor| x.pad([1, 1, 1, 1], "replicate", None);
    let valid = |x: &Tensor, k: &Tensor| x.conv2d(k, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1);
    let ix = valid(&pad(&mean), &dx);
    let iy = valid(&pad(&mean), &dy);
    let it = &b - &a;
    let avg = kernel([1.0 / 12.0, 1.0 / 6.0, 1.0 / 12.0, 1.0 / 6.0, 0.0, 1.0 / 6.0, 1.0 / 12.0, 1.0 / 6.0, 1.0 / 12.0]);
    let denom = ix.square() + iy.square() + alpha * alpha;
    let (mut u, mut v) = (Tensor::zeros(a.size(), opts), Tensor::zeros(a.size(), opts));
    for _ in 0..iterations {
        let (ub, vb) = (valid(&pad(&u), &avg), valid(&pad(&v), &avg));
        let common = (&ix * &ub + &iy * &vb + &it) / &denom;
        u = ub - &ix * &common;
        v = vb - &iy * &common;
    }
    Ok((u, v))
}
