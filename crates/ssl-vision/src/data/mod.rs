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
/// - a folder of Fashion-MNIST/MNIST IDX files, taking the `split` (`train` or `test`);
/// - a folder with `train/` and `test/` (or `val/`) sub-folders, taking the `split`;
/// - an ImageFolder: a folder of class sub-folders of images (labels from folder names),
///   or a flat folder of images (no labels).
///
/// With `split` given, a path that holds no such split is an error (so that a test set is
/// never silently the training set); with `None` the whole path is read.
pub fn open_images(path: &Path, labels: Option<&Path>, split: Option<&str>) -> Result<ImageSet> {
    if !path.exists() {
        bail!("{}: no such file or folder", path.display());
    }
    if path.is_dir() {
        let Some(split) = split else { return read_image_folder(path) };
        if let Some(sub) = split_folder(path, split)? {
            return read_image_folder(&sub);
        }
        if let Some(images) = idx_in_folder(path, split)? {
            let mut set = open_images(&images, labels, None)?;
            if path.to_string_lossy().to_ascii_lowercase().contains("fashion") {
                set.class_names = FASHION_MNIST_CLASSES.iter().map(|s| s.to_string()).collect();
            }
            return Ok(set);
        }
        if split == "train" && !has_split_layout(path) {
            return read_image_folder(path);
        }
        bail!("{}: has no '{split}' split (expected {split}/ or IDX files of that split); give the training and test data separately", path.display());
    }
    if split == Some("test") {
        bail!("{}: a single file holds no separate test split; give the test data separately", path.display());
    }
    let images = read_idx(path)?;
    let label_path = labels.map(Path::to_path_buf).or_else(|| sibling_labels(path));
    let labels = match label_path {
        Some(lp) => Some(read_idx(&lp)?),
        None => None,
    };
    ImageSet::from_idx(path, images, labels.as_ref())
}

/// `dir/<split>` (`test` also as `val`), when it is a folder.
fn split_folder(dir: &Path, split: &str) -> Result<Option<PathBuf>> {
    let names: &[&str] = match split {
        "train" => &["train"],
        "test" => &["test", "val"],
        other => bail!("unknown split '{other}' (use train or test)"),
    };
    Ok(names.iter().map(|n| dir.join(n)).find(|p| p.is_dir()))
}

fn has_split_layout(dir: &Path) -> bool {
    ["train", "test", "val"].iter().any(|n| dir.join(n).is_dir())
        || ["t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"].iter().any(|n| dir.join(n).exists())
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
