//! Image sources: IDX files (MNIST family) and PNG / JPEG folders decoded into memory,
//! or folders streamed file by file.

mod idx;
mod image_folder;
mod image_set;
mod image_source;
pub(crate) mod streamed_folder;

pub use idx::{read_idx, IdxArray};
pub use image_folder::{decode_file, read_image_folder, to_chw, to_image, IMAGES};
pub use image_set::ImageSet;
pub use image_source::ImageSource;
pub use ssl_core::data::FolderListing;
pub use streamed_folder::StreamedFolder;

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// Fashion-MNIST's class names, by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// What a data path holds, once its split is resolved.
enum Located {
    Folder(PathBuf),
    Idx(PathBuf),
}

/// Resolves `path` and `split` to an image folder or an IDX file (see [`open_images`]).
fn locate(path: &Path, split: Option<&str>) -> Result<Located> {
    if !path.exists() {
        bail!("{}: no such file or folder", path.display());
    }
    if path.is_dir() {
        let Some(split) = split else { return Ok(Located::Folder(path.to_path_buf())) };
        if let Some(sub) = split_folder(path, split)? {
            return Ok(Located::Folder(sub));
        }
        if let Some(images) = idx_in_folder(path, split)? {
            return Ok(Located::Idx(images));
        }
        if split == "train" && !has_split_layout(path) {
            return Ok(Located::Folder(path.to_path_buf()));
        }
        bail!("{}: has no '{split}' split (expected {split}/ or IDX files of that split); give the training and test data separately", path.display());
    }
    if split == Some("test") {
        bail!("{}: a single file holds no separate test split; give the test data separately", path.display());
    }
    Ok(Located::Idx(path.to_path_buf()))
}

/// Opens the images at `path`:
/// - an IDX image file (`*-images-idx3-ubyte[.gz]`), with labels from the matching
///   `*-labels-idx1-ubyte[.gz]` beside it when present (or from `labels`);
/// - a folder of Fashion-MNIST/MNIST IDX files, taking the `split` (`train` or `test`);
/// - a folder with `train/` and `test/` (or `val/`) sub-folders, taking the `split`;
/// - an ImageFolder: a folder of class sub-folders of images (labels from folder names),
///   or a flat folder of images (no labels).
///
/// With `split` given, a path that holds no such split is an error (so that a test set is
/// never silently the training set); with `None` the whole path is read. With
/// `skip_bad`, images of a folder that cannot be decoded are left out and reported.
pub fn open_images(path: &Path, labels: Option<&Path>, split: Option<&str>, skip_bad: bool) -> Result<ImageSet> {
    let images = match locate(path, split)? {
        Located::Folder(dir) => return read_image_folder(&dir, skip_bad),
        Located::Idx(file) => file,
    };
    let label_path = labels.map(Path::to_path_buf).or_else(|| sibling_labels(&images));
    let labels = match label_path {
        Some(lp) => Some(read_idx(&lp)?),
        None => None,
    };
    let mut set = ImageSet::from_idx(&images, read_idx(&images)?, labels.as_ref())?;
    if path.is_dir() && path.to_string_lossy().to_ascii_lowercase().contains("fashion") {
        set.class_names = FASHION_MNIST_CLASSES.iter().map(|s| s.to_string()).collect();
    }
    Ok(set)
}

/// Opens the ImageFolder at `path` (its `split` resolved as by [`open_images`]) for
/// streaming: headers only, each image decoded when a batch needs it.
pub fn open_streamed(path: &Path, split: Option<&str>, skip_bad: bool) -> Result<StreamedFolder> {
    match locate(path, split)? {
        Located::Folder(dir) => StreamedFolder::open(&dir, skip_bad),
        Located::Idx(file) => {
            bail!("{}: an IDX file is read into memory, not streamed (streaming reads folders of PNG / JPEG images); drop --stream", file.display())
        }
    }
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
