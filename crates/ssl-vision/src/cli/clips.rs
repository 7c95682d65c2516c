//! Video clips as the pre-training will see them: opens a folder of videos (frame
//! folders), draws a few batches of clip views, reports their shapes and the loader's
//! speed, and draws the first batch as frame strips.
use anyhow::{bail, Context, Result};
use clap::Parser;
use ssl_core::data::BatchSource;
use ssl_vision::augment::AugmentConfig;
use ssl_vision::video::{ClipLoader, ClipPlan, ClipSpec, VideoFolder};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tch::Tensor;

#[derive(Parser, Debug)]
pub struct Args {
    /// A folder of videos: `<video>/<frames>` or `<class>/<video>/<frames>` (PNG, JPEG, PGM).
    #[arg(long)]
    pub data: PathBuf,
    /// Frames per clip.
    #[arg(long, default_value_t = 8)]
    pub frames: usize,
    /// Frames between clip frames.
    #[arg(long, default_value_t = 2)]
    pub stride: usize,
    /// Clips per video (temporal views).
    #[arg(long, default_value_t = 2)]
    pub views: usize,
    /// Videos per batch.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Batches to draw.
    #[arg(long, default_value_t = 3)]
    pub batches: usize,
    /// Side of the square crops.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Leave out videos that cannot be read or are shorter than a clip, and report them.
    #[arg(long)]
    pub skip_bad: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Show the frames as they are: whole, no flip, no colour change (to look at the data).
    #[arg(long)]
    pub no_augment: bool,
    /// Draw the first batch's clips as frame strips (one row per clip) into this PNG.
    #[arg(long)]
    pub strip: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    if a.batches == 0 {
        bail!("--batches must be at least 1");
    }
    let mut set = VideoFolder::open(&a.data, a.skip_bad)?;
    let clip = ClipSpec { frames: a.frames, stride: a.stride };
    clip.validate()?;
    set.require_frames(clip.span(), a.skip_bad)?;
    let frames: usize = set.videos.iter().map(|v| v.length).sum();
    println!(
        "{}: {} videos, {frames} frames, {} channel(s){}{}",
        set.root.display(),
        set.len(),
        set.channels,
        if set.class_names.is_empty() { String::new() } else { format!(", classes {:?}", set.class_names) },
        if set.skipped.is_empty() { String::new() } else { format!(", {} left out", set.skipped.len()) }
    );
    for s in &set.skipped {
        println!("  left out: {s}");
    }
    let mut augment = AugmentConfig::default();
    augment.size = a.size;
    if a.no_augment {
        augment.crop_scale = (1.0, 1.0);
        augment.crop_ratio = (1.0, 1.0);
        augment.flip_p = 0.0;
        augment.jitter_p = 0.0;
        augment.grayscale_p = 0.0;
        augment.blur_p = 0.0;
    }
    let (mean, std) = (augment.mean.clone(), augment.std.clone());
    let plan = ClipPlan { clip, augment, views: a.views };
    let mut loader = ClipLoader::new(Arc::new(set), plan, a.batch, a.seed)?;
    loader.start(0)?;
    let t0 = Instant::now();
    let mut first = None;
    for b in 0..a.batches {
        let batch = loader.next_batch()?;
        println!("batch {b}: {} views of {:?}", batch.views().len(), batch.views()[0].size());
        if first.is_none() {
            first = Some(batch);
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!("{:.1} clips/s ({} clips of {} frames in {secs:.2} s)", (a.batches * a.batch * a.views) as f64 / secs, a.batches * a.batch * a.views, a.frames);
    if let (Some(path), Some(batch)) = (&a.strip, first) {
        write_strip(path, batch.views(), &mean, &std)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// One row per clip (video by video, its views in turn), its frames left to right, with the
/// normalisation undone.
fn write_strip(path: &std::path::Path, views: &[Tensor], mean: &[f64], std: &[f64]) -> Result<()> {
    let s = views[0].size();
    let (n, c, t, h, w) = (s[0], s[1], s[2], s[3], s[4]);
    let rows = n * views.len() as i64;
    let mut img = image::RgbImage::new((t * (w + 2)) as u32, (rows * (h + 2)) as u32);
    for i in 0..n {
        for (v, view) in views.iter().enumerate() {
            let row = i * views.len() as i64 + v as i64;
            let clip = view.get(i);
            for f in 0..t {
                for ch in 0..3 {
                    let k = if c == 1 { 0 } else { ch };
                    let (m, sd) = (mean.get(k as usize).or(mean.first()).copied().unwrap_or(0.0), std.get(k as usize).or(std.first()).copied().unwrap_or(1.0));
                    let plane = Vec::<f32>::try_from(&(clip.get(k).get(f) * sd + m).clamp(0.0, 1.0).contiguous().view([-1]))?;
                    for (p, value) in plane.iter().enumerate() {
                        let (y, x) = (p as i64 / w, p as i64 % w);
                        let px = img.get_pixel_mut((f * (w + 2) + x) as u32, (row * (h + 2) + y) as u32);
                        px.0[ch as usize] = (value * 255.0) as u8;
                    }
                }
            }
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    img.save(path).with_context(|| format!("cannot write {}", path.display()))
}
