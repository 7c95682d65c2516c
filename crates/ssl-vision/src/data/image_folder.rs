//! ImageFolder layout: `root/<class>/<image>.png|jpg`, or a flat folder of images.
use super::ImageSet;
use crate::augment::Image;
use anyhow::{bail, Context, Result};
use ssl_core::data::{FileKind, FolderListing};
use std::path::Path;

/// The files an ImageFolder holds.
pub const IMAGES: FileKind = FileKind { noun: "images", extensions: &["png", "jpg", "jpeg"] };

/// Decodes one image file, naming it in the error.
pub fn decode_file(path: &Path) -> Result<image::DynamicImage> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read the file", path.display()))?;
    if bytes.is_empty() {
        bail!("{}: the file is empty", path.display());
    }
    if !jpeg_is_complete(&bytes) {
        bail!("{}: the JPEG is truncated (its image data ends without an end-of-image marker)", path.display());
    }
    image::load_from_memory(&bytes).with_context(|| format!("{}: cannot decode image (corrupt, truncated or not an image)", path.display()))
}

/// False for a JPEG cut short: the decoder fills a truncated scan with grey and reports
/// success, so completeness is checked first. Entropy-coded data never holds `FF D9`
/// (a data byte `FF` is stuffed with `00`), so a whole image has an end-of-image marker
/// after its last start-of-scan marker. Other formats pass.
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return true;
    }
    let Some(last_scan) = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]) else { return false };
    bytes[last_scan..].windows(2).any(|w| w == [0xFF, 0xD9])
}

/// `img` as `u8` pixels in `[C, H, W]` order with `channels` (1: luma, 3: RGB).
pub fn to_chw(img: &image::DynamicImage, channels: usize) -> Vec<u8> {
    if channels == 1 {
        img.to_luma8().into_raw()
    } else {
        let rgb = img.to_rgb8();
        let mut out = Vec::with_capacity(rgb.as_raw().len());
        for c in 0..3 {
            out.extend(rgb.as_raw().iter().skip(c).step_by(3));
        }
        out
    }
}

/// `img` as an [`Image`] (`f32` in `[0, 1]`, `[C, H, W]`) with `channels`, the same values as
/// `Image::from_u8` of [`to_chw`], in one pass for 8-bit RGB and grey-scale files (the
/// streamed loader converts every decoded photograph, so the copies count).
pub fn to_image(img: &image::DynamicImage, channels: usize) -> Image {
    let (h, w) = (img.height() as usize, img.width() as usize);
    let n = h * w;
    match (channels, img) {
        (3, image::DynamicImage::ImageRgb8(rgb)) => {
            let mut data = vec![0f32; 3 * n];
            let (r, gb) = data.split_at_mut(n);
            let (g, b) = gb.split_at_mut(n);
            for (i, px) in rgb.as_raw().chunks_exact(3).enumerate() {
                r[i] = px[0] as f32 / 255.0;
                g[i] = px[1] as f32 / 255.0;
                b[i] = px[2] as f32 / 255.0;
            }
            Image { channels: 3, height: h, width: w, data }
        }
        (1, image::DynamicImage::ImageLuma8(luma)) => Image::from_u8(1, h, w, luma.as_raw()),
        _ => Image::from_u8(channels, h, w, &to_chw(img, channels)),
    }
}

/// Decodes every image under `root` (in parallel). All images must share one size; RGB
/// and grayscale are kept as they are unless mixed, in which case all become RGB. With
/// `skip_bad`, files that cannot be decoded are left out and reported instead of failing.
pub fn read_image_folder(root: &Path, skip_bad: bool) -> Result<ImageSet> {
    let mut listing = FolderListing::of(root, IMAGES)?;
    let decoded = listing.read_each(decode_file, skip_bad, "decoded")?;
    let (w, h) = (decoded[0].width(), decoded[0].height());
    if let Some((i, img)) = decoded.iter().enumerate().find(|(_, d)| (d.width(), d.height()) != (w, h)) {
        bail!(
            "{}: images have different sizes ({} is {}x{}, {} is {w}x{h}); resize them to one size first, or stream the folder (--stream) with augment.size set",
            root.display(),
            listing.files[i].display(),
            img.width(),
            img.height(),
            listing.files[0].display()
        );
    }
    let gray = decoded.iter().all(|d| d.color().channel_count() < 3);
    let channels = if gray { 1 } else { 3 };
    let mut pixels = Vec::with_capacity(decoded.len() * channels * (w * h) as usize);
    for img in &decoded {
        pixels.extend(to_chw(img, channels));
    }
    let FolderListing { labels, class_names, .. } = listing;
    Ok(ImageSet { source: root.to_path_buf(), n: decoded.len(), channels, height: h as usize, width: w as usize, pixels, labels, class_names })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_image_equals_the_two_step_conversion() {
        let rgb = image::RgbImage::from_fn(7, 5, |x, y| image::Rgb([(x * 30) as u8, (y * 50) as u8, (x * y * 9) as u8]));
        let grey = image::GrayImage::from_fn(7, 5, |x, y| image::Luma([(x * 11 + y * 3) as u8]));
        let rgba = image::RgbaImage::from_fn(7, 5, |x, y| image::Rgba([(x * 30) as u8, 9, (y * 40) as u8, 200]));
        for img in [image::DynamicImage::ImageRgb8(rgb), image::DynamicImage::ImageLuma8(grey), image::DynamicImage::ImageRgba8(rgba)] {
            for channels in [1, 3] {
                let want = Image::from_u8(channels, 5, 7, &to_chw(&img, channels));
                assert_eq!(to_image(&img, channels), want, "{:?} as {channels} channels", img.color());
            }
        }
    }
}
