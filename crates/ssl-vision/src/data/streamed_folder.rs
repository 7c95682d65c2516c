//! An ImageFolder read file by file: only the headers are read when it is opened, and
//! each image is decoded when a batch needs it, so the data may be larger than memory.
//! Batches are the same as from the decoded set (same order, same views).
use super::image_folder::{decode_file, to_image, IMAGES};
use super::ImageSource;
use crate::augment::Image;
use anyhow::{bail, Context, Result};
use image::ImageDecoder;
use ssl_core::data::FolderListing;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// An ImageFolder whose images are decoded one at a time, when a batch needs them.
pub struct StreamedFolder {
    listing: FolderListing,
    /// `(width, height)` of each file, from its header.
    sizes: Vec<(u32, u32)>,
    channels: usize,
    skip_bad: bool,
    /// Files that failed to decode while streaming (`skip_bad`), with the reason: each is
    /// replaced by the next file that decodes.
    replaced: Mutex<BTreeMap<usize, String>>,
}

/// Size and channel count from the header only (shared with the frame folders of videos).
pub(crate) fn header(path: &Path) -> Result<((u32, u32), usize)> {
    let reader = image::ImageReader::open(path)
        .with_context(|| format!("{}: cannot open the file", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("{}: cannot read the file", path.display()))?;
    let dec =
        reader.into_decoder().with_context(|| format!("{}: not a readable PNG / JPEG header (corrupt, truncated, empty or not an image)", path.display()))?;
    let (w, h) = dec.dimensions();
    if w == 0 || h == 0 {
        bail!("{}: the image is {w}x{h}", path.display());
    }
    Ok(((w, h), dec.color_type().channel_count() as usize))
}

impl StreamedFolder {
    /// Lists `root` and reads every file's header (in parallel). A file whose header
    /// cannot be read is an error naming it, or with `skip_bad` is left out and reported.
    pub fn open(root: &Path, skip_bad: bool) -> Result<Self> {
        let mut listing = FolderListing::of(root, IMAGES)?;
        let headers = listing.read_each(header, skip_bad, "read")?;
        let gray = headers.iter().all(|&(_, channels)| channels < 3);
        let sizes = headers.into_iter().map(|(size, _)| size).collect();
        Ok(Self { listing, sizes, channels: if gray { 1 } else { 3 }, skip_bad, replaced: Mutex::new(BTreeMap::new()) })
    }

    /// A subset of `n` files, chosen as [`super::ImageSet::take`] chooses images.
    pub fn take(mut self, n: usize) -> Self {
        if n < self.sizes.len() {
            let keep = super::image_set::subset(self.sizes.len(), n);
            self.sizes = keep.iter().map(|&i| self.sizes[i]).collect();
            self.listing.keep(&keep);
        }
        self
    }

    /// The image files, in the order of their indices.
    pub fn files(&self) -> &[PathBuf] {
        &self.listing.files
    }

    /// Class index of each file; `None` for a flat folder.
    pub fn labels(&self) -> Option<&[i64]> {
        self.listing.labels.as_deref()
    }

    /// Names of the class folders, indexed by label; empty for a flat folder.
    pub fn class_names(&self) -> &[String] {
        &self.listing.class_names
    }

    fn decode(&self, i: usize) -> Result<Image> {
        let path = &self.listing.files[i];
        let img = decode_file(path)?;
        let (w, h) = (img.width(), img.height());
        if (w, h) != self.sizes[i] {
            bail!("{}: decodes to {w}x{h} but its header said {}x{} (the file changed while streaming?)", path.display(), self.sizes[i].0, self.sizes[i].1);
        }
        Ok(to_image(&img, self.channels))
    }
}

impl ImageSource for StreamedFolder {
    fn source(&self) -> &Path {
        &self.listing.root
    }

    fn len(&self) -> usize {
        self.sizes.len()
    }

    fn channels(&self) -> usize {
        self.channels
    }

    fn common_size(&self) -> Option<(usize, usize)> {
        let (w, h) = self.sizes[0];
        self.sizes.iter().all(|&s| s == (w, h)).then_some((h as usize, w as usize))
    }

    /// Decodes file `i`. With `skip_bad` a file that fails is recorded and replaced by the
    /// next one that decodes, so a batch never has a hole and stays a function of its index.
    fn load(&self, i: usize) -> Result<Image> {
        let err = match self.decode(i) {
            Ok(img) => return Ok(img),
            Err(e) if !self.skip_bad => bail!("{e:#} (--skip-bad replaces images that fail to decode while streaming, and reports them)"),
            Err(e) => e,
        };
        let n = self.len();
        if let std::collections::btree_map::Entry::Vacant(e) = self.replaced.lock().unwrap_or_else(|p| p.into_inner()).entry(i) {
            eprintln!("warning: {err:#}; replaced by the next image that decodes");
            e.insert(format!("{err:#}"));
        }
        for k in 1..n {
            let j = (i + k) % n;
            if let Ok(img) = self.decode(j) {
                return Ok(img);
            }
        }
        bail!("{}: none of its {n} images decodes", self.listing.root.display())
    }

    /// SHA-256 of each file's path below the root, byte length and size: cheap for data
    /// larger than memory, and it changes when files are added, removed, renamed or rewritten
    /// to another length.
    fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"streamed-folder");
        h.update((self.channels as u64).to_le_bytes());
        for (p, (w, hh)) in self.listing.files.iter().zip(&self.sizes) {
            let rel = p.strip_prefix(&self.listing.root).unwrap_or(p);
            h.update(rel.to_string_lossy().as_bytes());
            h.update([0]);
            h.update(std::fs::metadata(p).map(|m| m.len()).unwrap_or(u64::MAX).to_le_bytes());
            h.update(w.to_le_bytes());
            h.update(hh.to_le_bytes());
        }
        ssl_core::train::hex(&h.finalize())
    }

    fn problems(&self) -> Vec<String> {
        let replaced = self.replaced.lock().unwrap_or_else(|p| p.into_inner());
        replaced.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::AugmentConfig;
    use crate::data::read_image_folder;
    use crate::loader::ViewLoader;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ssl-vision-stream-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// `per_class` RGB images of `side` px in each of two class folders, as PNG and JPEG.
    fn folder(name: &str, per_class: usize, side: u32) -> PathBuf {
        let root = tmp(name);
        for c in 0..2u32 {
            std::fs::create_dir_all(root.join(format!("class{c}"))).unwrap();
            for i in 0..per_class as u32 {
                let img = image::RgbImage::from_fn(side, side, |x, y| image::Rgb([(x * 9 + i * 13) as u8, (y * 7 + c * 90) as u8, ((x + y) * 5) as u8]));
                let ext = if i % 2 == 0 { "png" } else { "jpg" };
                img.save(root.join(format!("class{c}/{i:03}.{ext}"))).unwrap();
            }
        }
        root
    }

    fn truncate(path: &Path, keep: usize) {
        let bytes = std::fs::read(path).unwrap();
        std::fs::write(path, &bytes[..keep.min(bytes.len())]).unwrap();
    }

    #[test]
    fn streamed_batches_are_the_in_memory_batches_from_any_index() {
        let root = folder("same", 6, 20);
        let memory = read_image_folder(&root, false).unwrap();
        let streamed = StreamedFolder::open(&root, false).unwrap();
        assert_eq!((streamed.len(), streamed.channels(), streamed.common_size()), (12, 3, Some((20, 20))));
        assert_eq!(streamed.labels(), memory.labels.as_deref());
        assert_eq!(streamed.class_names(), memory.class_names.as_slice());
        let plan = crate::loader::ViewPlan::new(AugmentConfig { size: 16, ..Default::default() }, 2);
        let mut order = ssl_core::data::EpochOrder::new(12, 4, 5).unwrap();
        for index in [0u64, 1, 4, 7] {
            let ids = order.batch(index).to_vec();
            let a = ViewLoader::make_batch(&memory, &plan, 5, &ids, index).unwrap();
            let b = ViewLoader::make_batch(&streamed, &plan, 5, &ids, index).unwrap();
            for (x, y) in a.views().iter().zip(b.views()) {
                assert!(x.equal(y), "batch {index} differs between the decoded and the streamed folder");
            }
        }
        // The subset of a limit is the same images as the in-memory one's.
        let (m, s) = (memory.clone().take(5), StreamedFolder::open(&root, false).unwrap().take(5));
        for i in 0..5 {
            assert_eq!(s.load(i).unwrap(), m.load(i).unwrap());
        }
    }

    #[test]
    fn a_file_truncated_after_its_header_fails_naming_it_or_is_replaced_with_skip_bad() {
        for (name, bad) in [("png", "000.png"), ("jpeg", "001.jpg")] {
            let root = folder(&format!("truncated-{name}"), 3, 48);
            let path = root.join("class0").join(bad);
            let len = std::fs::metadata(&path).unwrap().len() as usize;
            truncate(&path, len * 2 / 3); // the header survives; the image data does not
            let i = if bad.starts_with("000") { 0 } else { 1 };
            let strict = StreamedFolder::open(&root, false).unwrap();
            let e = format!("{:#}", strict.load(i).err().unwrap_or_else(|| panic!("a truncated {name} must not decode")));
            assert!(e.contains(bad) && e.contains("--skip-bad"), "{e}");
            assert!(strict.load(2).is_ok());

            let lenient = StreamedFolder::open(&root, true).unwrap();
            assert_eq!(lenient.load(i).unwrap(), lenient.load(i + 1).unwrap(), "the next image that decodes stands in");
            lenient.load(i).unwrap();
            let problems = lenient.problems();
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].contains(bad), "{problems:?}");
        }
    }

    #[test]
    fn unreadable_headers_are_errors_naming_the_file_or_left_out_with_skip_bad() {
        let root = folder("headers", 3, 12);
        std::fs::write(root.join("class1/empty.png"), b"").unwrap();
        std::fs::write(root.join("class1/notes.jpg"), b"not an image at all").unwrap();
        let e = format!("{:#}", StreamedFolder::open(&root, false).err().expect("bad headers must fail"));
        assert!(e.contains("empty.png") || e.contains("notes.jpg"), "{e}");
        let s = StreamedFolder::open(&root, true).unwrap();
        assert_eq!(s.len(), 6);
        assert!(s.files().iter().all(|p| !p.ends_with("empty.png") && !p.ends_with("notes.jpg")));
        // A folder where nothing can be read is an error, also with skip_bad.
        let none = tmp("none");
        std::fs::write(none.join("a.png"), b"").unwrap();
        assert!(format!("{:#}", StreamedFolder::open(&none, true).err().unwrap()).contains("none of the 1 images"));
    }

    #[test]
    fn mixed_sizes_have_no_common_size_and_the_fingerprint_follows_the_files() {
        let root = folder("mixed", 2, 16);
        image::RgbImage::new(30, 18).save(root.join("class1/wide.png")).unwrap();
        let s = StreamedFolder::open(&root, false).unwrap();
        assert_eq!(s.common_size(), None);
        assert_eq!(s.load(s.len() - 1).unwrap().width, 30);
        let before = s.fingerprint();
        assert_eq!(before, StreamedFolder::open(&root, false).unwrap().fingerprint());
        std::fs::rename(root.join("class1/wide.png"), root.join("class1/wider.png")).unwrap();
        assert_ne!(before, StreamedFolder::open(&root, false).unwrap().fingerprint());
    }
}
