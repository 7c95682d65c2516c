//! What the view loader reads images from: decoded in memory ([`super::ImageSet`]) or
//! decoded file by file as batches are made ([`super::StreamedFolder`]).
use crate::augment::Image;
use anyhow::Result;
use std::path::Path;

/// A numbered collection of images the view loader draws from.
pub trait ImageSource: Send + Sync {
    /// The file or folder the images come from (for messages).
    fn source(&self) -> &Path;
    /// Number of images.
    fn len(&self) -> usize;
    /// Whether there are no images.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Channels of every image (1: grey-scale, 3: RGB).
    fn channels(&self) -> usize;
    /// `(height, width)` when every image has this size; `None` for mixed sizes.
    fn common_size(&self) -> Option<(usize, usize)>;
    /// Image `i` as floats in `[0, 1]`, channels first.
    fn load(&self, i: usize) -> Result<Image>;
    /// A digest that changes when the images do: a resumed run may read the same images
    /// from another path, but not other images.
    fn fingerprint(&self) -> String;
    /// What went wrong while reading so far and was worked around (`--skip-bad`), one
    /// line per problem.
    fn problems(&self) -> Vec<String> {
        Vec::new()
    }
}

impl ImageSource for super::ImageSet {
    fn source(&self) -> &Path {
        &self.source
    }
    fn len(&self) -> usize {
        self.n
    }
    fn channels(&self) -> usize {
        self.channels
    }
    fn common_size(&self) -> Option<(usize, usize)> {
        Some((self.height, self.width))
    }
    fn load(&self, i: usize) -> Result<Image> {
        Ok(Image::from_u8(self.channels, self.height, self.width, self.image(i)))
    }
    fn fingerprint(&self) -> String {
        super::ImageSet::fingerprint(self)
    }
}
