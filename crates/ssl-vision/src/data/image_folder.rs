//! ImageFolder layout: `root/<class>/<image>.png|jpg`, or a flat folder of images.
use super::ImageSet;
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

const EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];

fn is_image(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot list {}", dir.display()))?;
    v.sort();
    Ok(v)
}

/// Decodes every image under `root` (in parallel). All images must share one size; RGB
/// and grayscale are kept as they are unless mixed, in which case all become RGB.
pub fn read_image_folder(root: &Path) -> Result<ImageSet> {
    let entries = sorted_entries(root)?;
    let class_dirs: Vec<PathBuf> = entries.iter().filter(|p| p.is_dir()).cloned().collect();
    let mut files: Vec<(PathBuf, Option<i64>)> = Vec::new();
    let mut class_names = Vec::new();
    if class_dirs.is_empty() {
        files.extend(entries.into_iter().filter(|p| is_image(p)).map(|p| (p, None)));
    } else {
        for (label, dir) in class_dirs.iter().enumerate() {
            class_names.push(dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default());
            files.extend(sorted_entries(dir)?.into_iter().filter(|p| is_image(p)).map(|p| (p, Some(label as i64))));
        }
    }
    if files.is_empty() {
        bail!("{}: no images found (expected .png / .jpg files, directly or in one folder per class)", root.display());
    }
    let decoded: Vec<image::DynamicImage> = files
        .par_iter()
        .map(|(p, _)| image::open(p).with_context(|| format!("{}: cannot decode image (corrupt, truncated or not an image)", p.display())))
        .collect::<Result<_>>()?;
    let (w, h) = (decoded[0].width(), decoded[0].height());
    if let Some((i, img)) = decoded.iter().enumerate().find(|(_, d)| (d.width(), d.height()) != (w, h)) {
        bail!(
            "{}: images have different sizes ({} is {}x{}, {} is {w}x{h}); resize them to one size first",
            root.display(),
            files[i].0.display(),
            img.width(),
            img.height(),
            files[0].0.display()
        );
    }
    let gray = decoded.iter().all(|d| d.color().channel_count() < 3);
    let channels = if gray { 1 } else { 3 };
    let mut pixels = Vec::with_capacity(decoded.len() * channels * (w * h) as usize);
    for img in &decoded {
        if gray {
            pixels.extend_from_slice(img.to_luma8().as_raw());
        } else {
            let rgb = img.to_rgb8();
            // HWC -> CHW
            for c in 0..3 {
                pixels.extend(rgb.as_raw().iter().skip(c).step_by(3));
            }
        }
    }
    let labels = files.iter().map(|(_, l)| *l).collect::<Option<Vec<i64>>>();
    Ok(ImageSet { source: root.to_path_buf(), n: decoded.len(), channels, height: h as usize, width: w as usize, pixels, labels, class_names })
}
