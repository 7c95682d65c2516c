//! Decoded images in memory, `u8` in `[N, C, H, W]` order, with optional labels.
use super::IdxArray;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// `n` decoded images of one size, with their labels when known.
#[derive(Debug, Clone)]
pub struct ImageSet {
    /// The file or folder the images were read from.
    pub source: PathBuf,
    /// Number of images.
    pub n: usize,
    /// Channels per image (1: grey-scale, 3: RGB).
    pub channels: usize,
    /// Height of every image, in pixels.
    pub height: usize,
    /// Width of every image, in pixels.
    pub width: usize,
    /// All pixels, `[N, C, H, W]` row-major.
    pub pixels: Vec<u8>,
    /// Class index of each image, when known.
    pub labels: Option<Vec<i64>>,
    /// Name of each class, indexed by label; empty when the source names none.
    pub class_names: Vec<String>,
}

impl ImageSet {
    /// Builds a set from IDX arrays `[N, H, W]` (or `[N, C, H, W]`) and optional labels `[N]`.
    pub fn from_idx(source: &Path, images: IdxArray, labels: Option<&IdxArray>) -> Result<Self> {
        let (n, c, h, w) = match images.dims.as_slice() {
            [n, h, w] => (*n, 1, *h, *w),
            [n, c, h, w] => (*n, *c, *h, *w),
            d => bail!("{}: image IDX must have 3 or 4 dimensions, found {d:?}", source.display()),
        };
        if n == 0 || h == 0 || w == 0 {
            bail!("{}: holds no images", source.display());
        }
        let labels = match labels {
            Some(l) => {
                if l.dims != [n] {
                    bail!("{}: {n} images but the label file has dimensions {:?}", source.display(), l.dims);
                }
                Some(l.data.iter().map(|&x| x as i64).collect())
            }
            None => None,
        };
        Ok(Self { source: source.to_path_buf(), n, channels: c, height: h, width: w, pixels: images.data, labels, class_names: Vec::new() })
    }

    /// Values per image, `C * H * W`.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Pixels of image `i`, `[C, H, W]`.
    pub fn image(&self, i: usize) -> &[u8] {
        let len = self.image_len();
        &self.pixels[i * len..(i + 1) * len]
    }

    /// A subset of `n` images chosen at random with a fixed seed, in their original order
    /// (so that a folder stored class by class still gives every class).
    pub fn take(self, n: usize) -> Self {
        if n >= self.n {
            return self;
        }
        let keep = subset(self.n, n);
        let len = self.image_len();
        let pixels = keep.iter().flat_map(|&i| self.pixels[i * len..(i + 1) * len].iter().copied()).collect();
        let labels = self.labels.as_ref().map(|l| keep.iter().map(|&i| l[i]).collect());
        Self { n, pixels, labels, ..self }
    }

    /// All images as a float tensor `[N, C, H, W]` in `[0, 1]`, normalised by `mean` / `std`.
    pub fn to_tensor(&self, mean: &[f64], std: &[f64]) -> Result<Tensor> {
        let t = Tensor::from_slice(&self.pixels).view([self.n as i64, self.channels as i64, self.height as i64, self.width as i64]);
        let t = t.to_kind(Kind::Float) / 255.0;
        let c = self.channels;
        if mean.len() != c || std.len() != c {
            bail!("normalisation has {} means and {} stds for {c}-channel images", mean.len(), std.len());
        }
        let mean = Tensor::from_slice(mean).to_kind(Kind::Float).view([1, c as i64, 1, 1]);
        let std = Tensor::from_slice(std).to_kind(Kind::Float).view([1, c as i64, 1, 1]);
        Ok((t - mean) / std)
    }

    /// SHA-256 of the images' shape and pixels: a resumed run may read the same images
    /// from another path, but not other images.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for d in [self.n, self.channels, self.height, self.width] {
            h.update((d as u64).to_le_bytes());
        }
        h.update(&self.pixels);
        ssl_core::train::hex(&h.finalize())
    }

    /// This set with its labels renumbered to `reference`'s classes, matched by name (a
    /// test set may lack some training classes; a class the training set lacks is an
    /// error). Sets without class names keep their labels.
    pub fn relabelled_as(&self, reference: &ImageSet) -> Result<ImageSet> {
        if self.class_names.is_empty() || reference.class_names.is_empty() || self.class_names == reference.class_names {
            return Ok(self.clone());
        }
        let map: Vec<i64> = self
            .class_names
            .iter()
            .map(|name| match reference.class_names.iter().position(|r| r == name) {
                Some(i) => Ok(i as i64),
                None => bail!(
                    "{}: class '{name}' is not one of the {} classes of {} ({})",
                    self.source.display(),
                    reference.class_names.len(),
                    reference.source.display(),
                    reference.class_names.join(", ")
                ),
            })
            .collect::<Result<_>>()?;
        let labels = match &self.labels {
            Some(l) => Some(
                l.iter()
                    .map(|&x| map.get(x as usize).copied().with_context(|| format!("{}: label {x} has no class name", self.source.display())))
                    .collect::<Result<Vec<i64>>>()?,
            ),
            None => None,
        };
        Ok(ImageSet { labels, class_names: reference.class_names.clone(), ..self.clone() })
    }

    /// Labels as a tensor, or an error naming the source when it has none.
    pub fn label_tensor(&self) -> Result<Tensor> {
        match &self.labels {
            Some(l) => Ok(Tensor::from_slice(l)),
            None => bail!("{} has no labels (evaluation needs labelled train and test images)", self.source.display()),
        }
    }
}

/// `n` of `total` indices chosen at random with a fixed seed, in increasing order: the
/// `limit` of in-memory and streamed sets alike.
pub fn subset(total: usize, n: usize) -> Vec<usize> {
    use rand::seq::index::sample;
    use rand::SeedableRng;
    let mut keep = sample(&mut rand_chacha::ChaCha8Rng::seed_from_u64(0x5EED), total, n.min(total)).into_vec();
    keep.sort_unstable();
    keep
}
