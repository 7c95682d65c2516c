//! Writes the generated motion benchmark ([`ssl_vision::video::benchmark`]): Fashion-MNIST
//! items (real images) moving over the frames of real clips, eight motion classes, plain,
//! static-bias and cross-view splits.
use anyhow::{bail, Context, Result};
use clap::Parser;
use ssl_vision::data::open_images;
use ssl_vision::video::{standard_parts, write_benchmark, MotionConfig, VideoFolder};
use std::path::PathBuf;
use tch::{Kind, Tensor};

#[derive(Parser, Debug)]
pub struct Args {
    /// The objects: an image dataset with train and test splits (Fashion-MNIST's IDX files).
    #[arg(long, default_value = "datasets/cache/fashion-mnist")]
    pub objects: PathBuf,
    /// The backgrounds: a folder of videos as frame folders (`datasets/fetch-video.sh`).
    #[arg(long, default_value = "datasets/cache/video/frames")]
    pub backgrounds: PathBuf,
    /// Where the benchmark goes (replaced once the new one is whole).
    #[arg(long, default_value = "datasets/generated/motion")]
    pub out: PathBuf,
    /// Training clips per class in each split.
    #[arg(long, default_value_t = 32)]
    pub train_per_class: usize,
    /// Test clips per class in each split.
    #[arg(long, default_value_t = 16)]
    pub test_per_class: usize,
    #[arg(long, default_value_t = MotionConfig::default().frames)]
    pub frames: usize,
    /// Side of the frames, pixels.
    #[arg(long, default_value_t = MotionConfig::default().size)]
    pub size: i64,
    /// Background frames read per video (its first ones), at half resolution.
    #[arg(long, default_value_t = 160)]
    pub background_frames: usize,
    /// Objects drawn from each split of the object dataset.
    #[arg(long, default_value_t = 2000)]
    pub objects_per_split: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Up to `n` images of `split` as `[h, w]` grey tensors in `[0, 1]`.
fn objects(a: &Args, split: &str) -> Result<Vec<Tensor>> {
    let set = open_images(&a.objects, None, Some(split), false)?.take(a.objects_per_split);
    if set.channels != 1 {
        bail!("{}: the objects must be grey-scale images (bright on dark), got {} channels", a.objects.display(), set.channels);
    }
    Ok((0..set.n).map(|i| Tensor::from_slice(set.image(i)).view([set.height as i64, set.width as i64]).to_kind(Kind::Float) / 255.0).collect())
}

pub fn run(a: Args) -> Result<()> {
    let cfg = MotionConfig { frames: a.frames, size: a.size, ..MotionConfig::default() };
    cfg.validate()?;
    if a.train_per_class == 0 || a.test_per_class == 0 || a.background_frames < a.frames {
        bail!("needs training and test clips, and at least --frames background frames per video");
    }
    let (train_objects, test_objects) = (objects(&a, "train")?, objects(&a, "test")?);
    let mut videos = VideoFolder::open(&a.backgrounds, false)?;
    videos.require_frames(a.frames, false)?;
    let mut backgrounds = Vec::new();
    for v in 0..videos.len() {
        let n = videos.videos[v].length.min(a.background_frames);
        let frames = (0..n)
            .map(|f| {
                let img = videos.frame(v, f)?;
                Ok(Tensor::from_slice(&img.data).view([img.channels as i64, img.height as i64, img.width as i64]))
            })
            .collect::<Result<Vec<_>>>()?;
        let clip = Tensor::stack(&frames, 0);
        let (h, w) = (clip.size()[2], clip.size()[3]);
        // Half resolution: the frames are cropped and shrunk to the clip size anyway.
        let clip = if grey(&clip) { clip } else { clip.mean_dim([1].as_slice(), true, Kind::Float) };
        backgrounds.push(clip.f_upsample_bilinear2d([(h / 2).max(a.size), (w / 2).max(a.size)], false, None, None)?);
    }
    let sources = serde_json::json!({
        "objects": format!("{} (train split for training clips, test split for test clips; {} of each)", a.objects.display(), a.objects_per_split),
        "backgrounds": videos.videos.iter().map(|v| v.dir.display().to_string()).collect::<Vec<_>>(),
    });
    let parts = standard_parts(a.train_per_class, a.test_per_class);
    let t0 = std::time::Instant::now();
    let n = write_benchmark(&a.out, &train_objects, &test_objects, &backgrounds, &parts, &cfg, a.seed, sources)
        .with_context(|| format!("writing {}", a.out.display()))?;
    println!("wrote {n} generated clips of {} frames ({} x {}) to {} in {:.1} s", cfg.frames, cfg.size, cfg.size, a.out.display(), t0.elapsed().as_secs_f64());
    for p in &parts {
        println!("  {}: {} clips per class, cameras {:?} degrees, backgrounds {:?}", p.folder, p.per_class, p.cameras, p.backgrounds);
    }
    Ok(())
}

/// Whether the clip has one channel.
fn grey(clip: &Tensor) -> bool {
    clip.size()[1] == 1
}
