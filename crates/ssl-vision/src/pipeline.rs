//! The commands' work, as library functions: pre-train, evaluate, report.
use crate::config::{EvalConfig, PretrainConfig};
use crate::data::{open_images, open_streamed, ImageSet, ImageSource};
use crate::loader::ViewLoader;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use ssl_core::eval::{export_embeddings, extract_features, knn_accuracy, linear_probe, ProbeRun};
use ssl_core::train::{load_latest_weights, Resume, RunLock, TrainSummary, Trainer};
use ssl_core::Method;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::{nn, Device, Tensor};

fn data_path(path: Option<&Path>) -> Result<&Path> {
    path.context("no data given: pass --data PATH (or set `data` in the config file)")
}

/// Opens the images named by the config, keeping `limit` of them (see [`ImageSet::take`]);
/// `skip_bad` leaves out images of a folder that cannot be decoded.
pub fn load_images(path: Option<&Path>, split: Option<&str>, limit: Option<usize>, skip_bad: bool) -> Result<ImageSet> {
    let set = open_images(data_path(path)?, None, split, skip_bad)?;
    Ok(match limit {
        Some(n) if n < set.n => set.take(n),
        _ => set,
    })
}

/// The training images of a pre-training run: decoded into memory, or (`stream`) a
/// folder whose images are decoded as batches need them.
pub fn training_images(cfg: &PretrainConfig) -> Result<Arc<dyn ImageSource>> {
    if !cfg.stream {
        return Ok(Arc::new(load_images(cfg.data.as_deref(), Some("train"), cfg.limit, cfg.skip_bad)?));
    }
    let set = open_streamed(data_path(cfg.data.as_deref())?, Some("train"), cfg.skip_bad)?;
    Ok(Arc::new(match cfg.limit {
        Some(n) => set.take(n),
        None => set,
    }))
}

pub use ssl_core::device::setup_runtime;

/// The model configuration adapted to the data (input channels follow the images).
fn fit_model_to(cfg: &PretrainConfig, set: &dyn ImageSource) -> ssl_core::MethodConfig {
    let mut model = cfg.model.clone();
    model.backbone.in_channels = set.channels() as i64;
    model
}

/// Builds the configured method with fresh weights (seeded by `train.seed`).
pub fn build(cfg: &PretrainConfig, set: &dyn ImageSource, device: Device) -> Result<(nn::VarStore, Box<dyn Method>)> {
    tch::manual_seed(cfg.train.seed as i64);
    let vs = nn::VarStore::new(device);
    let method = crate::registry().build_method(&cfg.method, &vs, &fit_model_to(cfg, set))?;
    if cfg.channels_last {
        to_channels_last(&vs)?;
    }
    Ok((vs, method))
}

/// Gives every 4-D variable (convolution weights) NHWC strides, in place: libtorch then
/// runs the convolutions in channels-last layout. Checkpoints load into them by copying.
pub fn to_channels_last(vs: &nn::VarStore) -> Result<()> {
    for (_, mut w) in vs.variables() {
        if w.dim() == 4 {
            let nhwc = ssl_core::data::channels_last(&w)?;
            tch::no_grad(|| w.set_data(&nhwc));
        }
    }
    Ok(())
}

/// Pre-trains the configured method on unlabelled images; writes checkpoints, metrics
/// and the effective config (`config.toml`) under `cfg.out`, which is locked against
/// other processes while this one runs. Every input is checked before the folder is
/// touched.
pub fn pretrain(cfg: &PretrainConfig, resume: impl Into<Resume>) -> Result<TrainSummary> {
    cfg.validate()?;
    let device = setup_runtime(&cfg.device, cfg.threads)?;
    let set = training_images(cfg)?;
    check_input_size(cfg, set.as_ref())?;
    check_memory(cfg, set.as_ref())?;
    let (vs, mut method) = build(cfg, set.as_ref(), device)?;
    let mut loader = ViewLoader::new(set.clone(), cfg.augment.clone(), cfg.views, cfg.train.batch_size, cfg.train.seed)?.with_channels_last(cfg.channels_last);
    if cfg.local_views() > 0 {
        let local = cfg.multi_crop.local_augment(&cfg.augment, global_side(cfg, set.as_ref())?);
        loader = loader.with_local_views(local, cfg.local_views())?.with_outlier_views(cfg.multi_crop.outlier_fraction)?;
    }
    let _lock = RunLock::acquire(&cfg.out)?;
    let trainer =
        Trainer::for_run(cfg.train.clone(), cfg.out.clone(), cfg, device)?.with_data_fingerprint(set.fingerprint()).with_auto_threads(cfg.threads == 0);
    // The run's settings file is written only for a run this invocation owns.
    let existing = trainer.checkpoints().latest_path()?;
    if existing.is_none() {
        ssl_core::config::write_atomically(&cfg.out.join("config.toml"), toml::to_string(cfg)?.as_bytes())?;
    }
    let summary = trainer.fit(&vs, method.as_mut(), &mut loader, resume);
    let problems = set.problems();
    if !problems.is_empty() {
        eprintln!(
            "warning: {}: {} images failed to decode while streaming and were replaced by the next image that decodes:",
            set.source().display(),
            problems.len()
        );
        for p in &problems {
            eprintln!("  {p}");
        }
    }
    summary
}

/// The side of the global views: `augment.size`, or (0) the images' own smaller side.
fn global_side(cfg: &PretrainConfig, set: &dyn ImageSource) -> Result<usize> {
    native_size(cfg, set).map(|(h, w)| h.min(w))
}

/// `(augment.size, augment.size)`, or (0) the size every image shares.
fn native_size(cfg: &PretrainConfig, set: &dyn ImageSource) -> Result<(usize, usize)> {
    if cfg.augment.size != 0 {
        return Ok((cfg.augment.size, cfg.augment.size));
    }
    set.common_size()
        .with_context(|| format!("{}: the images have different sizes; set augment.size to the side of the training views", set.source().display()))
}

/// Refuses sizes whose batches (in flight in the loader and through the first layer)
/// would not fit in memory, naming the settings.
fn check_memory(cfg: &PretrainConfig, set: &dyn ImageSource) -> Result<()> {
    let (h, w) = native_size(cfg, set)?;
    let side = h.max(w) as f64;
    let local = cfg.multi_crop.local_augment(&cfg.augment, global_side(cfg, set)?).size as f64;
    // Pixels of one sample's views: the global ones and the local ones.
    let area = cfg.views as f64 * side * side + cfg.local_views() as f64 * local * local;
    let views = cfg.train.batch_size as f64;
    let inputs = views * set.channels() as f64 * area * 4.0;
    let first_layer = views * cfg.model.backbone.width.max(1) as f64 * area * 4.0 * 3.0;
    // The loader keeps a few batches in flight beside the one being trained on.
    ssl_core::memory::check_fits("a batch of augmented views", "augment.size or train.batch_size", inputs * 5.0 + first_layer)
}

/// The smallest input side the backbone accepts (after its downsampling), for the global
/// and the local views.
fn check_input_size(cfg: &PretrainConfig, set: &dyn ImageSource) -> Result<()> {
    let side = global_side(cfg, set)?;
    let kind = &cfg.model.backbone.kind;
    let min = crate::registry().backbone(kind)?.min_input;
    if side < min {
        bail!("{}: inputs of {side} px are too small for {kind} (needs at least {min} px; set augment.size)", set.source().display());
    }
    if cfg.local_views() > 0 {
        let local = cfg.multi_crop.local_augment(&cfg.augment, side).size;
        if local < min {
            bail!("local crops of {local} px are too small for {kind} (needs at least {min} px; set multi_crop.local_size)");
        }
    }
    Ok(())
}

/// The config a run was trained with (read from its newest checkpoint).
pub fn run_config(run: &Path) -> Result<PretrainConfig> {
    let ck = ssl_core::train::CheckpointDir::new(run.join("checkpoints"), 1)
        .latest()?
        .with_context(|| format!("{}: no checkpoint found (is this a pre-training output folder?)", run.display()))?;
    let cfg: PretrainConfig = serde_json::from_value(ck.meta.config.clone())
        .with_context(|| format!("{}: checkpoint config is not a vision pre-training config", ck.dir.display()))?;
    cfg.validate().with_context(|| format!("{}: the checkpoint's config is not valid", ck.dir.display()))?;
    Ok(cfg)
}

/// Frozen-feature evaluation results.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct EvalReport {
    /// What was evaluated, e.g. `simclr (2000 steps)`, `random init (simclr)` or `raw pixels`.
    pub encoder: String,
    /// Top-1 test accuracy of the weighted kNN vote, in `[0, 1]`.
    pub knn_top1: f64,
    /// Mean over the probe's seeds.
    pub linear_top1: f64,
    /// Standard deviation over the probe's seeds.
    pub linear_top1_std: f64,
    /// Linear-probe accuracy on the training features, mean over the probe's seeds.
    pub linear_train_top1: f64,
    /// Each probe seed's choice (on the validation split) and scores.
    pub linear_runs: Vec<ProbeRun>,
    /// Number of training images (the kNN's references and the probe's training set).
    pub train_images: usize,
    /// Number of test images scored.
    pub test_images: usize,
    /// Class names by label (empty where the data name none).
    pub classes: Vec<String>,
}

/// The evaluation inputs of a whole image set: normalised as for training, resized to
/// the training views' side.
fn eval_inputs(set: &ImageSet, cfg: &PretrainConfig) -> Result<Tensor> {
    let aug = &cfg.augment;
    let mean: Vec<f64> = (0..set.channels).map(|c| aug.mean[c.min(aug.mean.len() - 1)]).collect();
    let std: Vec<f64> = (0..set.channels).map(|c| aug.std[c.min(aug.std.len() - 1)]).collect();
    let mut x = set.to_tensor(&mean, &std)?;
    if aug.size != 0 && (aug.size != set.height || aug.size != set.width) {
        x = x.f_upsample_bilinear2d([aug.size as i64, aug.size as i64], false, None, None)?;
    }
    Ok(x)
}

/// Features of a whole image set with the method's backbone (evaluation mode).
pub fn features(method: &dyn Method, set: &ImageSet, cfg: &PretrainConfig, batch: i64, device: Device) -> Result<Tensor> {
    Ok(extract_features(method.backbone(), &eval_inputs(set, cfg)?, batch, device))
}

/// Checks that the test images match the training images' shape and returns the test set
/// relabelled by the training set's class names.
fn matching_test_set(train: &ImageSet, test: &ImageSet) -> Result<ImageSet> {
    let test = test.relabelled_as(train)?;
    if (test.channels, test.height, test.width) != (train.channels, train.height, train.width) {
        bail!(
            "train images ({}) are {}x{}x{} but test images ({}) are {}x{}x{}",
            train.source.display(),
            train.channels,
            train.height,
            train.width,
            test.source.display(),
            test.channels,
            test.height,
            test.width
        );
    }
    Ok(test)
}

/// Scores frozen train / test features with the weighted kNN and the linear probe.
fn score(encoder: String, ftr: &Tensor, fte: &Tensor, train: &ImageSet, test: &ImageSet, eval: &EvalConfig, export: Option<&Path>) -> Result<EvalReport> {
    let (ytr, yte) = (train.label_tensor()?, test.label_tensor()?);
    let knn = knn_accuracy(ftr, &ytr, fte, &yte, eval.knn)?;
    let lin = linear_probe(ftr, &ytr, fte, &yte, &eval.linear)?;
    if let Some(dir) = export {
        export_embeddings(&dir.join("train"), ftr, Some(&ytr))?;
        export_embeddings(&dir.join("test"), fte, Some(&yte))?;
    }
    Ok(EvalReport {
        encoder,
        knn_top1: knn,
        linear_top1: lin.test_accuracy,
        linear_top1_std: lin.test_accuracy_std,
        linear_train_top1: lin.train_accuracy,
        linear_runs: lin.runs,
        train_images: train.n,
        test_images: test.n,
        classes: train.class_names.clone(),
    })
}

/// kNN and linear-probe accuracy of an encoder: the trained one of `run`, or (without
/// one) the same architecture with fresh weights seeded by `train.seed`.
/// Test labels follow the training set's classes by name, not by folder position.
pub fn evaluate(
    cfg: &PretrainConfig,
    run: Option<&Path>,
    train: &ImageSet,
    test: &ImageSet,
    eval: &EvalConfig,
    device: Device,
    export: Option<&Path>,
) -> Result<EvalReport> {
    let test = &matching_test_set(train, test)?;
    let (vs, method) = build(cfg, train, device)?;
    let encoder = match run {
        Some(dir) => {
            let ck = load_latest_weights(dir, &vs)?;
            format!("{} ({} steps)", cfg.method, ck.meta.step)
        }
        None => format!("random init ({})", cfg.method),
    };
    let ftr = features(method.as_ref(), train, cfg, eval.batch, device)?;
    let fte = features(method.as_ref(), test, cfg, eval.batch, device)?;
    score(encoder, &ftr, &fte, train, test, eval, export)
}

/// The baselines without any encoder: the normalised pixels themselves, flattened, and
/// the same minus the training images' mean image (which changes the kNN's cosine, not the
/// linear probe: it standardises its inputs, so the centred row shares the probe).
pub fn evaluate_raw_pixels(cfg: &PretrainConfig, train: &ImageSet, test: &ImageSet, eval: &EvalConfig) -> Result<[EvalReport; 2]> {
    let test = &matching_test_set(train, test)?;
    let ftr = eval_inputs(train, cfg)?.flatten(1, -1);
    let fte = eval_inputs(test, cfg)?.flatten(1, -1);
    let raw = score("raw pixels".into(), &ftr, &fte, train, test, eval, None)?;
    let mean = ftr.mean_dim([0i64].as_slice(), true, tch::Kind::Float);
    let (ytr, yte) = (train.label_tensor()?, test.label_tensor()?);
    let knn = knn_accuracy(&(&ftr - &mean), &ytr, &(&fte - &mean), &yte, eval.knn)?;
    let centred = EvalReport { encoder: "raw pixels, centred".into(), knn_top1: knn, ..raw.clone() };
    Ok([raw, centred])
}

/// A 2-D PCA picture of the test-set features of an encoder.
pub fn embedding_plot(cfg: &PretrainConfig, run: Option<&Path>, set: &ImageSet, device: Device, path: &Path, title: &str) -> Result<PathBuf> {
    let (vs, method) = build(cfg, set, device)?;
    if let Some(dir) = run {
        load_latest_weights(dir, &vs)?;
    }
    let feats = features(method.as_ref(), set, cfg, 512, device)?;
    let labels = set.labels.clone().unwrap_or_else(|| vec![0; set.n]);
    ssl_core::plots::pca_scatter(path, title, &feats, &labels, &set.class_names)?;
    Ok(path.to_path_buf())
}
