//! Image sources decoded into memory: IDX files (MNIST family), PNG / JPEG folders.

mod idx;
mod image_folder;
mod image_set;

pub use idx::{read_idx, IdxArray};
pub use image_folder::read_image_folder;
pub use image_set::ImageSet;

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// Fashion-MNIST's class names, by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// Opens the images at `path`:
/// - an IDX image file (`*-images-idx3-ubyte[.gz]`), with labels from the matching
///   `*-labels-idx1-ubyte[.gz]` beside it when present (or from `labels`);
/// - a folder of Fashion-MNIST/MNIST IDX files with `split` = `train` or `test`;
/// - an ImageFolder: a folder of class sub-folders of images (labels from folder names),
///   or a flat folder of images (no labels).
pub fn open_images(path: &Path, labels: Option<&Path>, split: &str) -> Result<ImageSet> {
    if !path.exists() {
        bail!("{}: no such file or folder", path.display());
    }
    if path.is_dir() {
        if let Some(images) = idx_in_folder(path, split)? {
            let mut set = open_images(&images, labels, split)?;
            if path.to_string_lossy().to_ascii_lowercase().contains("fashion") {
                set.class_names = FASHION_MNIST_CLASSES.iter().map(|s| s.to_string()).collect();
            }
            return Ok(set);
        }
        return read_image_folder(path);
    }
    let images = read_idx(path)?;
    let label_path = labels.map(Path::to_path_buf).or_else(|| sibling_labels(path));
    let labels = match label_path {
        Some(lp) => Some(read_idx(&lp)?),
        None => None,
    };
    ImageSet::from_idx(path, images, labels.as_ref())
}

/// The IDX image file of `split` inside a folder such as Fashion-MNIST's, if any.
fn idx_in_folder(dir: &Path, split: &str) -> Result<Option<PathBuf>> {
    let prefix = match split {
        "train" => "train-images-idx3-ubyte",
        "test" | "t10k" => "t10k-images-idx3-ubyte",
        other => bail!("unknown split '{other}' (use train or test)"),
    };
    for name in [format!("{prefix}.gz"), prefix.to_string()] {
        let p = dir.join(&name);
        if p.exists() {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

fn sibling_labels(images: &Path) -> Option<PathBuf> {
    let name = images.file_name()?.to_str()?;
    let label_name = name.replace("images-idx3", "labels-idx1");
    let p = images.with_file_name(label_name);
    (p != images && p.exists()).then_some(p)
}
