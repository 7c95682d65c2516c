//! Segmentation: the loss BT-Unet fine-tunes with (cross entropy and soft Dice, 0.4 / 0.6 as
//! in the official code), the scores it reports (Dice, IoU, the 95th percentile Hausdorff
//! distance), and the U-Net as a model of the shared fine-tuning loop.
use crate::unet::Unet;
use anyhow::{bail, Context, Result};
use ssl_core::data::Batch;
use ssl_core::method::{Export, MethodLoss, StepContext};
use ssl_core::train::SupervisedModel;
use tch::{Kind, Tensor};

/// The batch part holding the label maps (`[N, H, W]`, int64 class ids).
pub const MASKS: &str = "masks";

/// Weights of cross entropy and soft Dice in the fine-tuning loss (official code: 0.4, 0.6).
pub const CE_WEIGHT: f64 = 0.4;
/// See [`CE_WEIGHT`].
pub const DICE_WEIGHT: f64 = 0.6;

/// Soft Dice loss: one minus the mean over the foreground classes (1..C) of
/// `2 sum(p y) / (sum p + sum y)`, sums over the whole batch, `p` the softmax of `logits`
/// (`[N, C, ...]`) and `y` the one-hot `target` (`[N, ...]`). A class absent from both the
/// target and the prediction counts as perfect (smoothing 1).
pub fn dice_loss(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    let (probs, onehot) = probs_and_onehot(logits, target)?;
    let dims: Vec<i64> = std::iter::once(0).chain(2..logits.dim() as i64).collect();
    let kind = probs.kind();
    let inter = (&probs * &onehot).sum_dim_intlist(dims.as_slice(), false, kind);
    let total = probs.sum_dim_intlist(dims.as_slice(), false, kind) + onehot.sum_dim_intlist(dims.as_slice(), false, kind);
    let dice = (inter * 2.0 + 1.0) / (total + 1.0);
    Ok(1.0 - dice.narrow(0, 1, logits.size()[1] - 1).mean(kind))
}

/// `CE_WEIGHT` x cross entropy + `DICE_WEIGHT` x soft Dice.
pub fn segmentation_loss(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    let ce = logits.f_cross_entropy_loss::<Tensor>(target, None, tch::Reduction::Mean, -100, 0.0)?;
    Ok(ce * CE_WEIGHT + dice_loss(logits, target)? * DICE_WEIGHT)
}

fn probs_and_onehot(logits: &Tensor, target: &Tensor) -> Result<(Tensor, Tensor)> {
    let (ls, ts) = (logits.size(), target.size());
    if ls.len() < 3 || ts.len() + 1 != ls.len() || ts[0] != ls[0] || ts[1..] != ls[2..] {
        bail!("segmentation: logits {ls:?} ([N, C, ...]) and target {ts:?} ([N, ...]) do not match");
    }
    let classes = ls[1];
    let max = target.max().int64_value(&[]);
    let min = target.min().int64_value(&[]);
    if min < 0 || max >= classes {
        bail!("segmentation: target labels {min}..={max} lie outside the {classes} classes");
    }
    // Double logits (gradient checks) stay double; anything else is computed in float.
    let kind = if logits.kind() == Kind::Double { Kind::Double } else { Kind::Float };
    let probs = logits.softmax(1, kind);
    let onehot = target.to_kind(Kind::Int64).one_hot(classes).movedim(-1, 1).to_kind(kind);
    Ok((probs, onehot))
}

/// Scores of one predicted mask against the true one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaskScores {
    /// `2 |A n B| / (|A| + |B|)` (1 when both are empty).
    pub dice: f64,
    /// `|A n B| / |A u B|` (1 when both are empty).
    pub iou: f64,
    /// The larger of the two directed 95th percentiles of surface distances, in the units of
    /// `spacing` (as MONAI computes it); 0 when both masks are empty, NaN when exactly one is.
    pub hd95: f64,
}

/// Dice, IoU and HD95 of `pred` against `truth` (boolean or 0/1 masks `[H, W]` or
/// `[D, H, W]`); `spacing` gives the size of a pixel along each axis, in order.
pub fn mask_scores(pred: &Tensor, truth: &Tensor, spacing: &[f64]) -> Result<MaskScores> {
    if pred.size() != truth.size() || !(2..=3).contains(&pred.dim()) || spacing.len() != pred.dim() {
        bail!("mask scores: masks {:?} and {:?} must be the same 2-D or 3-D grid, with a spacing per axis ({spacing:?})", pred.size(), truth.size());
    }
    let (a, b) = (pred.ne(0), truth.ne(0));
    let count = |t: &Tensor| t.sum(Kind::Int64).int64_value(&[]) as f64;
    let (na, nb, inter) = (count(&a), count(&b), count(&a.logical_and(&b)));
    if na + nb == 0.0 {
        return Ok(MaskScores { dice: 1.0, iou: 1.0, hd95: 0.0 });
    }
    let dice = 2.0 * inter / (na + nb);
    let iou = inter / (na + nb - inter);
    let hd95 = if na == 0.0 || nb == 0.0 {
        f64::NAN
    } else {
        let (sa, sb) = (surface_points(&a, spacing), surface_points(&b, spacing));
        let d = Tensor::cdist(&sa, &sb, 2.0, None::<i64>);
        let p95 = |t: Tensor| t.quantile_scalar(0.95, None, false, "linear").double_value(&[]);
        p95(d.min_dim(1, false).0).max(p95(d.min_dim(0, false).0))
    };
    Ok(MaskScores { dice, iou, hd95 })
}

/// The coordinates (scaled by `spacing`) of the mask's pixels that touch a pixel outside it
/// (face neighbours; the image's border counts as outside), `[P, dims]`.
fn surface_points(mask: &Tensor, spacing: &[f64]) -> Tensor {
    let m = mask.to_kind(Kind::Float);
    let outside: Tensor = m.ones_like() - &m;
    let dims = mask.dim() as i64;
    // A pixel is interior when no face neighbour is outside: max-pool the outside with a
    // cross-shaped neighbourhood, one axis at a time, padding with "outside".
    let mut near_outside = outside.shallow_clone();
    for axis in 0..dims {
        let mut pad = vec![0i64; 2 * dims as usize];
        let k = 2 * (dims - 1 - axis) as usize;
        pad[k] = 1;
        pad[k + 1] = 1;
        let padded = outside.unsqueeze(0).pad(pad.as_slice(), "constant", Some(1.0)).squeeze_dim(0);
        let n = mask.size()[axis as usize];
        let before = padded.narrow(axis, 0, n);
        let after = padded.narrow(axis, 2, n);
        near_outside = near_outside.maximum(&before).maximum(&after);
    }
    let surface = m.gt(0.5).logical_and(&near_outside.gt(0.5));
    let scale = Tensor::from_slice(spacing).to_kind(Kind::Float);
    surface.nonzero().to_kind(Kind::Float) * scale
}

/// The U-Net trained on batches whose first view holds images `[N, C, H, W]` and whose
/// [`MASKS`] part holds the class of every pixel, with [`segmentation_loss`].
#[derive(Debug)]
pub struct Segmenter {
    /// The network.
    pub unet: Unet,
}

/// The exports of a fine-tuned U-Net, each the variables under its name.
pub const SEGMENTER_PARTS: [&str; 3] = ["backbone", "decoder", "head"];

impl Segmenter {
    /// The U-Net of the newest checkpoint of the fine-tuning run `run` (built with the
    /// shape it was trained with).
    pub fn load(run: &std::path::Path, vs: &tch::nn::VarStore, width: i64, levels: i64, classes: i64) -> Result<Self> {
        let unet = Unet::new(vs, 1, width, levels, classes)?;
        for part in SEGMENTER_PARTS {
            ssl_core::train::load_encoder(run, part, vs, &format!("{part}.")).with_context(|| format!("loading the U-Net's {part} from {}", run.display()))?;
        }
        Ok(Self { unet })
    }

    fn logits_and_target(&self, batch: &Batch, train: bool) -> Result<(Tensor, Tensor)> {
        let Some(x) = batch.views().first() else { bail!("segmentation needs an image view") };
        let y = batch.part(MASKS)?.to_kind(Kind::Int64);
        Ok((self.unet.forward_t(x, train)?, y))
    }
}

impl SupervisedModel for Segmenter {
    fn name(&self) -> &'static str {
        "unet"
    }

    fn loss(&mut self, batch: &Batch, _ctx: &StepContext) -> Result<MethodLoss> {
        let (logits, y) = self.logits_and_target(batch, true)?;
        let ce = logits.f_cross_entropy_loss::<Tensor>(&y, None, tch::Reduction::Mean, -100, 0.0)?;
        let dice = dice_loss(&logits, &y)?;
        // The Dice part is a named term: added to the weighted cross entropy and logged apart.
        Ok(MethodLoss::batch(ce * CE_WEIGHT).with_term("dice", dice * DICE_WEIGHT))
    }

    fn metrics(&self, batch: &Batch) -> Result<Vec<(String, f64)>> {
        let (logits, y) = self.logits_and_target(batch, false)?;
        let dice = 1.0 - dice_loss(&logits, &y)?.double_value(&[]);
        Ok(vec![("soft_dice".into(), dice), ("loss".into(), segmentation_loss(&logits, &y)?.double_value(&[]))])
    }

    /// The encoder alone (for transfer), and the decoder and head: the three together are the
    /// whole U-Net, which [`Segmenter::load`] reads back.
    fn exports(&self) -> Vec<Export> {
        SEGMENTER_PARTS.iter().map(|p| Export::new(p, p)).collect()
    }
}
