//! BT-Unet (arXiv 2112.03916): the U-Net's encoder pre-trained with Barlow Twins on
//! unlabelled 2-D slices, then the whole U-Net (decoder new) fine-tuned on the few labelled
//! ones with cross entropy + Dice; compared with the same U-Net trained from scratch.
//!
//! Slices come from real volumes (Colin27's T1 with atlas structures) or from generated CT
//! phantoms; both are [`SliceSet`]s. Pre-training runs ssl-core's Barlow Twins on the
//! registered `bt-unet-encoder`; fine-tuning runs the shared fine-tuning loop on a
//! [`Segmenter`], its encoder loaded by name from the pre-training run.
use crate::augment::Augment;
use crate::colin27::{Colin27, COLIN27_CLASSES};
use crate::phantom::{generate, Organ, PhantomConfig};
use crate::preprocess::{resample_to_spacing, Intensity, Interpolation, Window};
use crate::sampling::SliceFilter;
use crate::segmentation::{mask_scores, Segmenter, MASKS};
use crate::unet::Unet;
use crate::volume::Volume;
use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use ssl_core::blocks::BackboneConfig;
use ssl_core::data::{Batch, BatchSource};
use ssl_core::registry::MethodConfig;
use ssl_core::train::{load_encoder, FineTune, OptimizerConfig, OptimizerKind, Resume, TrainConfig, TrainSummary, Trainer};
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

/// Labelled 2-D slices: images in `[0, 1]` and the class of every pixel.
#[derive(Debug)]
pub struct SliceSet {
    /// `[S, 1, H, W]` floats.
    pub images: Tensor,
    /// `[S, H, W]` int64 class ids (0 background).
    pub masks: Tensor,
    /// The volume each slice comes from.
    pub volumes: Vec<i64>,
    /// Class names, background first.
    pub classes: Vec<String>,
    /// Pixel size (rows, columns) in millimetres.
    pub pixel_mm: [f64; 2],
    /// Where the slices come from, for reports.
    pub source: String,
}

impl SliceSet {
    /// Number of slices.
    pub fn len(&self) -> usize {
        self.volumes.len()
    }

    /// Whether there are no slices.
    pub fn is_empty(&self) -> bool {
        self.volumes.is_empty()
    }

    /// The slices at `indices`, in that order.
    pub fn subset(&self, indices: &[i64]) -> SliceSet {
        let idx = Tensor::from_slice(indices);
        SliceSet {
            images: self.images.index_select(0, &idx),
            masks: self.masks.index_select(0, &idx),
            volumes: indices.iter().map(|&i| self.volumes[i as usize]).collect(),
            classes: self.classes.clone(),
            pixel_mm: self.pixel_mm,
            source: self.source.clone(),
        }
    }
}

/// Pads `[S, H, W]` (centred, with `fill`) to sides that are multiples of `multiple`.
fn pad_to_multiple(t: &Tensor, multiple: i64, fill: f64) -> Result<Tensor> {
    let s = t.size();
    pad_to(t, [round_up(s[1], multiple), round_up(s[2], multiple)], fill)
}

fn round_up(n: i64, multiple: i64) -> i64 {
    (n + multiple - 1) / multiple * multiple
}

/// Pads `[S, H, W]` (centred, with `fill`) to `[S, h, w]` (each at least as large).
pub fn pad_to(t: &Tensor, [h, w]: [i64; 2], fill: f64) -> Result<Tensor> {
    let s = t.size();
    let (ph, pw) = (h - s[1], w - s[2]);
    if ph < 0 || pw < 0 {
        bail!("cannot pad slices of {} x {} to the smaller {h} x {w}", s[1], s[2]);
    }
    Ok(t.f_pad([pw / 2, pw - pw / 2, ph / 2, ph - ph / 2].as_slice(), "constant", Some(fill))?)
}

/// The inverse of [`pad_to`]: the centre `[S, h, w]` of padded slices `[S, H, W]`.
pub fn unpad(t: &Tensor, [h, w]: [i64; 2]) -> Result<Tensor> {
    let s = t.size();
    let (ph, pw) = (s[1] - h, s[2] - w);
    if ph < 0 || pw < 0 {
        bail!("cannot crop slices of {} x {} to the larger {h} x {w}", s[1], s[2]);
    }
    Ok(t.f_narrow(1, ph / 2, h)?.f_narrow(2, pw / 2, w)?)
}

/// Axial slices of volumes read from files: each image resampled to `spacing_mm` isotropic
/// and mapped into `[0, 1]` by `intensity`, with its label map when given (on the image's
/// grid: voxels holding `label_values[c]` become class `c + 1`, all others background).
/// Only the slices that pass `filter` are kept (on the resampled grid); slices of volumes
/// of different sizes are padded, centred, to one size, a multiple of `multiple`.
pub fn volume_slices(
    images: &[Volume],
    labels: Option<&[Volume]>,
    label_values: &[i64],
    intensity: Intensity,
    spacing_mm: f64,
    filter: SliceFilter,
    multiple: i64,
) -> Result<SliceSet> {
    if images.is_empty() {
        bail!("no volumes to take slices from");
    }
    if let Some(l) = labels {
        if l.len() != images.len() {
            bail!("{} label maps for {} images: give one per image, in the same order", l.len(), images.len());
        }
    }
    let mut stacks = Vec::new();
    for (v, image) in images.iter().enumerate() {
        let label = labels.map(|l| &l[v]);
        if let Some(label) = label {
            image.check_mask(label)?;
        }
        let resampled = resample_to_spacing(image, [spacing_mm; 3], Interpolation::Linear)?;
        let values = intensity.apply(&resampled).with_context(|| format!("{}: intensities", image.source.display()))?;
        let classes = match label {
            Some(label) => {
                let ids = resample_to_spacing(label, [spacing_mm; 3], Interpolation::Nearest)?.data.round().to_kind(Kind::Int64);
                let mut classes = ids.zeros_like();
                for (c, &value) in label_values.iter().enumerate() {
                    classes = classes.masked_fill(&ids.eq(value), c as i64 + 1);
                }
                classes
            }
            None => values.zeros_like().to_kind(Kind::Int64),
        };
        let keep = crate::sampling::axial_slices(&values, Some(&classes), filter).with_context(|| image.source.display().to_string())?;
        if keep.is_empty() {
            bail!("{}: no slice passes {filter:?}", image.source.display());
        }
        let idx = Tensor::from_slice(&keep);
        stacks.push((values.index_select(0, &idx), classes.index_select(0, &idx), v as i64));
    }
    let h = round_up(stacks.iter().map(|s| s.0.size()[1]).max().unwrap_or(1), multiple);
    let w = round_up(stacks.iter().map(|s| s.0.size()[2]).max().unwrap_or(1), multiple);
    let mut volumes = Vec::new();
    let (mut all_images, mut all_masks) = (Vec::new(), Vec::new());
    for (images, masks, v) in &stacks {
        volumes.extend(std::iter::repeat_n(*v, images.size()[0] as usize));
        all_images.push(pad_to(images, [h, w], 0.0)?);
        all_masks.push(pad_to(masks, [h, w], 0.0)?);
    }
    Ok(SliceSet {
        images: Tensor::cat(&all_images, 0).unsqueeze(1),
        masks: Tensor::cat(&all_masks, 0),
        volumes,
        classes: std::iter::once("background".to_string()).chain(label_values.iter().map(|v| format!("label {v}"))).collect(),
        pixel_mm: [spacing_mm, spacing_mm],
        source: format!("{} volume(s) from {}, {spacing_mm} mm", images.len(), images[0].source.display()),
    })
}

/// Axial slices of Colin27's T1 ([`Colin27::load`]: resampled to `spacing_mm` isotropic,
/// normalised) with [`COLIN27_CLASSES`] from the AAL atlas; slices showing less than 5% head
/// are left out. Sides padded to multiples of `multiple`.
pub fn colin27_slices(dir: &Path, spacing_mm: f64, multiple: i64) -> Result<SliceSet> {
    let Colin27 { image, classes, .. } = Colin27::load(dir, spacing_mm)?;
    let keep = crate::sampling::axial_slices(&image, None, crate::sampling::SliceFilter::Above(0.05, 0.05))?;
    let idx = Tensor::from_slice(&keep);
    let images = pad_to_multiple(&image.index_select(0, &idx), multiple, 0.0)?.unsqueeze(1);
    let masks = pad_to_multiple(&classes.index_select(0, &idx), multiple, 0.0)?;
    Ok(SliceSet {
        images,
        masks,
        // One volume: slices are told apart by slab when splitting.
        volumes: vec![0; keep.len()],
        classes: std::iter::once("background").chain(COLIN27_CLASSES.iter().map(|c| c.0)).map(String::from).collect(),
        pixel_mm: [spacing_mm, spacing_mm],
        source: format!("Colin27 T1 with AAL structures (real), {spacing_mm} mm"),
    })
}

/// The organs segmented in the phantoms.
pub const PHANTOM_CLASSES: [Organ; 4] = [Organ::Liver, Organ::Spleen, Organ::KidneyLeft, Organ::KidneyRight];

/// Axial slices of the generated CTs of `seeds` (abdomen window to `[0, 1]`) with liver,
/// spleen and kidneys as classes; slices showing less than 5% body are left out.
pub fn phantom_slices(cfg: &PhantomConfig, seeds: std::ops::Range<u64>, multiple: i64) -> Result<SliceSet> {
    let (mut images, mut masks, mut volumes) = (Vec::new(), Vec::new(), Vec::new());
    for seed in seeds {
        let p = generate(cfg, seed)?;
        let image = Window::ABDOMEN.apply(&p.image.data)?;
        let ids = p.labels.data.round().to_kind(Kind::Int64);
        let mut classes = ids.zeros_like();
        for (c, organ) in PHANTOM_CLASSES.iter().enumerate() {
            classes = classes.masked_fill(&ids.eq(organ.label()), c as i64 + 1);
        }
        let keep = crate::sampling::axial_slices(&ids, None, crate::sampling::SliceFilter::Above(0.5, 0.05))?;
        let idx = Tensor::from_slice(&keep);
        images.push(image.index_select(0, &idx));
        masks.push(classes.index_select(0, &idx));
        volumes.extend(std::iter::repeat_n(seed as i64, keep.len()));
    }
    if volumes.is_empty() {
        bail!("no phantom slices: give at least one seed");
    }
    Ok(SliceSet {
        images: pad_to_multiple(&Tensor::cat(&images, 0), multiple, 0.0)?.unsqueeze(1),
        masks: pad_to_multiple(&Tensor::cat(&masks, 0), multiple, 0.0)?,
        volumes,
        classes: std::iter::once("background").chain(PHANTOM_CLASSES.iter().map(|o| o.name())).map(String::from).collect(),
        pixel_mm: [cfg.spacing[1], cfg.spacing[0]],
        source: format!("generated abdominal CT phantoms, {} mm", cfg.spacing[0]),
    })
}

/// The generator of the batch at `index` (then advanced): a function of the seed and the
/// index alone, so a restarted stream repeats its batches.
fn batch_rng(seed: u64, index: &mut u64) -> ChaCha8Rng {
    let rng = ChaCha8Rng::seed_from_u64(ssl_core::seed::mix(&[seed, *index]));
    *index += 1;
    rng
}

/// Two augmented views of randomly drawn slices (labels unused): Barlow Twins' input.
pub struct PairViews {
    images: Tensor,
    augment: Augment,
    batch: usize,
    seed: u64,
    index: u64,
}

impl PairViews {
    /// Batches of `batch` slices of `images` (`[S, 1, H, W]`), each twice augmented.
    pub fn new(images: &Tensor, augment: Augment, batch: usize, seed: u64) -> Result<Self> {
        augment.validate()?;
        if images.size()[0] < 1 || batch == 0 {
            bail!("pair views: needs slices and a batch of at least one");
        }
        Ok(Self { images: images.shallow_clone(), augment, batch, seed, index: 0 })
    }
}

impl BatchSource for PairViews {
    fn start(&mut self, index: u64) -> Result<()> {
        self.index = index;
        Ok(())
    }

    fn next_batch(&mut self) -> Result<Batch> {
        let mut rng = batch_rng(self.seed, &mut self.index);
        let n = self.images.size()[0];
        let (mut a, mut b) = (Vec::with_capacity(self.batch), Vec::with_capacity(self.batch));
        for _ in 0..self.batch {
            // [1, H, W] as a one-voxel-deep volume [C, Z, Y, X].
            let slice = self.images.get(rng.random_range(0..n)).unsqueeze(1);
            a.push(self.augment.apply(&slice, None, &mut rng)?.0.squeeze_dim(1));
            b.push(self.augment.apply(&slice, None, &mut rng)?.0.squeeze_dim(1));
        }
        Batch::from_views(vec![Tensor::stack(&a, 0), Tensor::stack(&b, 0)])
    }
}

/// Randomly drawn labelled slices, image and mask augmented together.
pub struct LabelledSlices {
    images: Tensor,
    masks: Tensor,
    augment: Augment,
    batch: usize,
    seed: u64,
    index: u64,
}

impl LabelledSlices {
    /// Batches of `batch` slices of `set`.
    pub fn new(set: &SliceSet, augment: Augment, batch: usize, seed: u64) -> Result<Self> {
        augment.validate()?;
        if set.is_empty() || batch == 0 {
            bail!("labelled slices: needs slices and a batch of at least one");
        }
        Ok(Self { images: set.images.shallow_clone(), masks: set.masks.shallow_clone(), augment, batch, seed, index: 0 })
    }
}

impl BatchSource for LabelledSlices {
    fn start(&mut self, index: u64) -> Result<()> {
        self.index = index;
        Ok(())
    }

    fn next_batch(&mut self) -> Result<Batch> {
        let mut rng = batch_rng(self.seed, &mut self.index);
        let n = self.images.size()[0];
        let (mut xs, mut ys) = (Vec::with_capacity(self.batch), Vec::with_capacity(self.batch));
        for _ in 0..self.batch {
            let i = rng.random_range(0..n);
            let (x, y) = self.augment.apply(&self.images.get(i).unsqueeze(1), Some(&self.masks.get(i).unsqueeze(0)), &mut rng)?;
            xs.push(x.squeeze_dim(1));
            ys.push(y.context("the augmentation lost the mask")?.squeeze_dim(0));
        }
        Batch::from_views(vec![Tensor::stack(&xs, 0)])?.with(MASKS, Tensor::stack(&ys, 0))
    }
}

/// The network and its training: sizes, steps, learning rates.
#[derive(Debug, Clone, Serialize)]
pub struct BtUnetSettings {
    /// First encoder width (16 in the paper).
    pub width: i64,
    /// Pooled levels before the bottleneck (4 in the paper).
    pub levels: i64,
    /// Barlow Twins' off-diagonal weight (5e-3).
    pub lambda: f64,
    /// Projector widths (128 in the paper).
    pub projector: i64,
    /// Pre-training steps, batch and peak learning rate.
    pub pretrain: (usize, usize, f64),
    /// Fine-tuning steps, batch and peak learning rate.
    pub finetune: (usize, usize, f64),
}

impl Default for BtUnetSettings {
    /// CPU-sized: width 8, 4 levels; 1000 pre-training steps of 16 slice pairs (AdamW, lr
    /// 1e-3); 600 fine-tuning steps of 8 slices (Adam: AdamW without decay, lr 3e-3; 200
    /// steps at 1e-3 left the U-Net far from converged: Dice 0.21 against 0.76 on phantoms).
    fn default() -> Self {
        Self { width: 8, levels: 4, lambda: 5e-3, projector: 128, pretrain: (1000, 16, 1e-3), finetune: (600, 8, 3e-3) }
    }
}

impl BtUnetSettings {
    /// GPU-sized: the paper's width 16; 5000 pre-training steps of 64 slice pairs, 2000
    /// fine-tuning steps of 32 slices (learning rates as on the CPU).
    pub fn gpu() -> Self {
        Self { width: 16, pretrain: (5000, 64, 1e-3), finetune: (2000, 32, 3e-3), ..Self::default() }
    }

    fn train_config(&self, (steps, batch, lr): (usize, usize, f64), seed: u64, optimizer: OptimizerConfig) -> TrainConfig {
        let mut t = TrainConfig::default()
            .with_schedule(steps, batch, lr, (steps / 20).max(1))
            .with_seed(seed)
            .with_optimizer(optimizer)
            .with_checkpoint_every(steps.max(1));
        t.progress = false;
        t.log_every = (steps / 10).max(1);
        t
    }

    /// The Barlow Twins configuration of the encoder.
    pub fn method(&self) -> MethodConfig {
        MethodConfig::default()
            .with_backbone(BackboneConfig::new("bt-unet-encoder", 1).with_shape(self.width, self.levels))
            .with_heads(self.projector, self.projector, self.projector)
            .with_option("lambda", self.lambda)
    }
}

/// Pre-trains the encoder with Barlow Twins on the slices of `set` (labels unused); the
/// run (checkpoints with the exported `backbone`) goes to `out`.
pub fn pretrain(set: &SliceSet, s: &BtUnetSettings, seed: u64, out: &Path, device: Device, resume: Resume) -> Result<TrainSummary> {
    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(device);
    let mut method = crate::registry::registry().build_method("barlow-twins", &vs, &s.method())?;
    let cfg = s.train_config(s.pretrain, seed, OptimizerConfig::new(OptimizerKind::Adamw));
    let mut views = PairViews::new(&set.images, Augment::slices(), s.pretrain.1, seed)?;
    let run = serde_json::json!({ "bt_unet_pretrain": s, "slices": set.len(), "source": set.source, "seed": seed });
    Trainer::for_run(cfg, out.to_path_buf(), &run, device)?.fit(&vs, method.as_mut(), &mut views, resume)
}

/// A U-Net fine-tuned on `labelled`, its encoder from the pre-training run `encoder` (or
/// random when `None`); the run goes to `out`.
pub fn finetune(labelled: &SliceSet, encoder: Option<&Path>, s: &BtUnetSettings, seed: u64, out: &Path, device: Device, resume: Resume) -> Result<Segmenter> {
    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(device);
    let mut model = Segmenter { unet: Unet::new(&vs, 1, s.width, s.levels, labelled.classes.len() as i64)? };
    if let Some(run) = encoder {
        load_encoder(run, "backbone", &vs, "backbone.").with_context(|| format!("loading the pre-trained encoder of {}", run.display()))?;
    }
    let cfg = s.train_config(s.finetune, seed, OptimizerConfig::new(OptimizerKind::Adamw).with_weight_decay(0.0));
    // Flips and half turns only: the masks stay exact.
    let augment = Augment { flip: [0.5, 0.5, 0.0], rot90: 0.5, ..Augment::default() };
    let mut batches = LabelledSlices::new(labelled, augment, s.finetune.1, seed)?;
    let run = serde_json::json!({ "bt_unet_finetune": s, "labelled": labelled.len(), "pretrained": encoder, "seed": seed });
    Trainer::for_run(cfg, out.to_path_buf(), &run, device)?.fine_tune(&vs, &mut FineTune::new(&mut model, &mut batches), resume)?;
    Ok(model)
}

/// Test scores of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClassScores {
    /// Dice over all test pixels.
    pub dice: f64,
    /// IoU over all test pixels.
    pub iou: f64,
    /// Mean HD95 (mm) over the slices where both truth and prediction show the class.
    pub hd95: f64,
    /// Share of the slices showing the class where the prediction misses it entirely.
    pub missed: f64,
}

/// Class predictions `[S, H, W]` of `model` on `set` (evaluation mode, batches of 16).
pub fn predict(model: &Segmenter, set: &SliceSet, device: Device) -> Result<Tensor> {
    let mut out = Vec::new();
    let n = set.len() as i64;
    let mut start = 0;
    while start < n {
        let len = 16.min(n - start);
        let x = set.images.narrow(0, start, len).to_device(device);
        out.push(tch::no_grad(|| model.unet.forward_t(&x, false))?.argmax(1, false).to_device(Device::Cpu));
        start += len;
    }
    Ok(Tensor::cat(&out, 0))
}

/// Dice and IoU of each foreground class over all slices of `set`, and HD95 per slice.
pub fn score(pred: &Tensor, set: &SliceSet) -> Result<Vec<ClassScores>> {
    let mut scores = Vec::new();
    for c in 1..set.classes.len() as i64 {
        let (p, t) = (pred.eq(c), set.masks.eq(c));
        let all = mask_scores(&p.flatten(0, 1), &t.flatten(0, 1), &[1.0, 1.0])?;
        let (mut hd, mut shown, mut missed) = (Vec::new(), 0usize, 0usize);
        for i in 0..set.len() as i64 {
            let (pi, ti) = (p.get(i), t.get(i));
            if ti.any().int64_value(&[]) == 0 {
                continue;
            }
            shown += 1;
            if pi.any().int64_value(&[]) == 0 {
                missed += 1;
                continue;
            }
            hd.push(mask_scores(&pi, &ti, &set.pixel_mm)?.hd95);
        }
        let mean_hd = if hd.is_empty() { f64::NAN } else { hd.iter().sum::<f64>() / hd.len() as f64 };
        scores.push(ClassScores { dice: all.dice, iou: all.iou, hd95: mean_hd, missed: if shown == 0 { 0.0 } else { missed as f64 / shown as f64 } });
    }
    Ok(scores)
}
