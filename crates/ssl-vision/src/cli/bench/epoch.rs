//! One whole epoch from PNG files: decoding, augmentation and SimCLR training steps of the
//! main job's model, against the pipeline a PyTorch user would write (torchvision's
//! ImageFolder, lightly's transforms and loss, a DataLoader with as many worker processes
//! as we use loader threads). Ours runs `pretrain` twice: with the folder decoded into
//! memory first (the default for small sets) and streamed (decoded batch by batch).
use super::{num, python, Args};
use anyhow::{bail, Context, Result};
use ssl_vision::config::PretrainConfig;
use ssl_vision::pipeline::{load_images, pretrain};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Writes the first `n` Fashion-MNIST training images (a seeded subset, every class) as
/// `root/<label>/<index>.png`, unless a complete folder is already there.
fn png_folder(a: &Args, n: usize) -> Result<(PathBuf, usize)> {
    let root = a.work.join(format!("fashion-mnist-png-{n}"));
    let done = root.join(".complete");
    if let Ok(count) = std::fs::read_to_string(&done) {
        if let Ok(count) = count.trim().parse() {
            return Ok((root, count));
        }
    }
    let set = load_images(Some(&a.fashion_mnist), Some("train"), Some(n), false)
        .with_context(|| format!("{}: run datasets/fetch-fashion-mnist.sh first", a.fashion_mnist.display()))?;
    let labels = set.labels.as_ref().context("the epoch benchmark needs Fashion-MNIST's labels for the class folders")?;
    let _ = std::fs::remove_dir_all(&root);
    for (i, label) in labels.iter().enumerate() {
        let dir = root.join(label.to_string());
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let img = image::GrayImage::from_raw(set.width as u32, set.height as u32, set.image(i).to_vec()).context("image buffer of the wrong size")?;
        let path = dir.join(format!("{i:05}.png"));
        img.save(&path).with_context(|| format!("cannot write {}", path.display()))?;
    }
    std::fs::write(&done, set.n.to_string()).with_context(|| format!("cannot write {}", done.display()))?;
    Ok((root, set.n))
}

/// Seconds of one `pretrain` epoch over `folder` (a fresh run each time).
fn ours(a: &Args, folder: &Path, images: usize, stream: bool) -> Result<(f64, f64)> {
    let batch = a.epoch_batch;
    let mut cfg = PretrainConfig::default().with_data(folder).with_out(a.work.join(if stream { "run-streamed" } else { "run" }));
    cfg.stream = stream;
    cfg.threads = a.threads.max(0) as usize;
    cfg.device = a.device.clone();
    cfg.train.batch_size = batch;
    cfg.train.steps = images / batch;
    cfg.train.warmup_steps = cfg.train.warmup_steps.min(cfg.train.steps / 2);
    cfg.train.checkpoint_every = cfg.train.steps;
    let _ = std::fs::remove_dir_all(&cfg.out);
    let t0 = Instant::now();
    let summary = pretrain(&cfg, false)?;
    Ok((t0.elapsed().as_secs_f64(), summary.final_loss))
}

pub fn run(a: &Args) -> Result<serde_json::Value> {
    let (folder, images) = png_folder(a, a.epoch_images)?;
    if a.epoch_batch < 2 || images < a.epoch_batch {
        bail!("the epoch benchmark needs --epoch-batch >= 2 and at least one batch of images ({images} images, batch {})", a.epoch_batch);
    }
    let (in_memory, loss) = ours(a, &folder, images, false)?;
    let (streamed, loss_streamed) = ours(a, &folder, images, true)?;
    let workers = if a.threads > 0 { a.threads as usize } else { ssl_core::device::usable_cores() };
    let reference = python(
        a,
        "epoch_lightly.py",
        &[
            "--root".into(),
            folder.display().to_string(),
            "--batch".into(),
            a.epoch_batch.to_string(),
            "--workers".into(),
            workers.to_string(),
            "--threads".into(),
            workers.to_string(),
        ],
    )?;
    let theirs = num(&reference, "seconds");
    let r = serde_json::json!({
        "benchmark": "one SimCLR epoch from PNG files (Fashion-MNIST 28x28 grey), small ConvNet",
        "images": images, "batch": a.epoch_batch, "workers": workers,
        "ours_seconds_in_memory": in_memory, "ours_seconds_streamed": streamed, "reference_seconds": theirs,
        "ratio_in_memory": theirs / in_memory, "ratio_streamed": theirs / streamed,
        "ours_final_loss": loss, "ours_streamed_final_loss": loss_streamed, "reference": reference,
    });
    println!(
        "epoch of {images} PNG files: ours {in_memory:.1} s (decoded first), {streamed:.1} s (streamed); lightly + DataLoader ({workers} workers) {theirs:.1} s; \
         ratio {:.2} / {:.2}",
        theirs / in_memory,
        theirs / streamed
    );
    Ok(r)
}
