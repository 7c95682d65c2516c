//! The image augmentation pipeline of SimCLR / BYOL on `f32` CHW buffers in `[0, 1]`:
//! random resized crop, horizontal flip, colour jitter, grayscale, Gaussian blur,
//! solarize, then normalisation. Every draw comes from the generator passed in, so a
//! view is a pure function of (image, seed).
use anyhow::{bail, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// One view's augmentation settings (torchvision's defaults where they exist).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct AugmentConfig {
    /// Output side length, at most 4096; 0 keeps the input size.
    pub size: usize,
    /// Range of the crop's area as a fraction of the image, `0 < min <= max <= 1` (default `(0.2, 1)`).
    pub crop_scale: (f64, f64),
    /// Range of the crop's aspect ratio, width over height (default `(3/4, 4/3)`).
    pub crop_ratio: (f64, f64),
    /// Probability of a horizontal flip (default 0.5).
    pub flip_p: f64,
    /// Probability of colour jitter (default 0.8).
    pub jitter_p: f64,
    /// Brightness jitter: a factor drawn from `[1 - b, 1 + b]` (default 0.4).
    pub brightness: f64,
    /// Contrast jitter: a factor drawn from `[1 - c, 1 + c]` (default 0.4).
    pub contrast: f64,
    /// Saturation jitter: a factor drawn from `[1 - s, 1 + s]`, RGB only (default 0.4).
    pub saturation: f64,
    /// Hue jitter: a shift drawn from `[-hue, hue]` of the colour wheel, at most 0.5, RGB only (default 0.1).
    pub hue: f64,
    /// Probability of converting to grayscale (default 0.2).
    pub grayscale_p: f64,
    /// Probability of a Gaussian blur (default 0).
    pub blur_p: f64,
    /// Range the blur's sigma is drawn from, in pixels (default `(0.1, 2)`).
    pub blur_sigma: (f64, f64),
    /// Probability of solarizing, inverting values of at least 0.5 (default 0).
    pub solarize_p: f64,
    /// Per-channel normalisation (one value is broadcast to all channels).
    pub mean: Vec<f64>,
    /// Per-channel standard deviations the values are divided by, as many as `mean`.
    pub std: Vec<f64>,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            size: 0,
            crop_scale: (0.2, 1.0),
            crop_ratio: (3.0 / 4.0, 4.0 / 3.0),
            flip_p: 0.5,
            jitter_p: 0.8,
            brightness: 0.4,
            contrast: 0.4,
            saturation: 0.4,
            hue: 0.1,
            grayscale_p: 0.2,
            blur_p: 0.0,
            blur_sigma: (0.1, 2.0),
            solarize_p: 0.0,
            mean: vec![0.5],
            std: vec![0.5],
        }
    }
}

impl AugmentConfig {
    /// Checks every setting against its valid range, naming the key.
    pub fn validate(&self) -> Result<()> {
        if self.size > 4096 {
            bail!("augment.size must be at most 4096 px (0 keeps the input size), got {}", self.size);
        }
        let p = [self.flip_p, self.jitter_p, self.grayscale_p, self.blur_p, self.solarize_p];
        if p.iter().any(|p| !(0.0..=1.0).contains(p)) {
            bail!("augment: probabilities must be in [0, 1]");
        }
        if !(self.crop_scale.0 > 0.0 && self.crop_scale.0 <= self.crop_scale.1 && self.crop_scale.1 <= 1.0) {
            bail!("augment: crop_scale must satisfy 0 < min <= max <= 1, got {:?}", self.crop_scale);
        }
        if !(self.crop_ratio.0 > 0.0 && self.crop_ratio.0 <= self.crop_ratio.1) {
            bail!("augment: crop_ratio must satisfy 0 < min <= max, got {:?}", self.crop_ratio);
        }
        if self.hue < 0.0 || self.hue > 0.5 || self.brightness < 0.0 || self.contrast < 0.0 || self.saturation < 0.0 {
            bail!("augment: jitter strengths must be >= 0 (hue <= 0.5)");
        }
        let (s0, s1) = self.blur_sigma;
        if !(s0.is_finite() && s1.is_finite() && s0 > 0.0 && s0 <= s1) {
            bail!("augment: blur_sigma must satisfy 0 < min <= max, got {:?}", self.blur_sigma);
        }
        if self.mean.is_empty() || self.mean.len() != self.std.len() || self.std.iter().any(|s| *s <= 0.0) {
            bail!("augment: mean and std must have the same non-zero length and positive stds");
        }
        Ok(())
    }

    fn channel_stat(v: &[f64], c: usize) -> f32 {
        (if v.len() == 1 { v[0] } else { v[c.min(v.len() - 1)] }) as f32
    }
}

/// An image buffer, channels first.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Number of channels (1: grey-scale, 3: RGB).
    pub channels: usize,
    /// Height, in pixels.
    pub height: usize,
    /// Width, in pixels.
    pub width: usize,
    /// Pixel values `[C, H, W]`, row-major.
    pub data: Vec<f32>,
}

impl Image {
    /// An image of `u8` pixels `[C, H, W]`, scaled to `[0, 1]`.
    pub fn from_u8(channels: usize, height: usize, width: usize, pixels: &[u8]) -> Self {
        Self { channels, height, width, data: pixels.iter().map(|&p| p as f32 / 255.0).collect() }
    }

    fn plane(&self, c: usize) -> &[f32] {
        let n = self.height * self.width;
        &self.data[c * n..(c + 1) * n]
    }
}

/// Applies the whole pipeline to `img` and returns the normalised view.
pub fn augment(img: &Image, cfg: &AugmentConfig, rng: &mut impl Rng) -> Image {
    let size = if cfg.size == 0 { (img.height, img.width) } else { (cfg.size, cfg.size) };
    let (top, left, h, w) = random_crop_box(img.height, img.width, cfg.crop_scale, cfg.crop_ratio, rng);
    let mut out = resize_bilinear(img, top, left, h, w, size.0, size.1);
    if rng.random::<f64>() < cfg.flip_p {
        flip_horizontal(&mut out);
    }
    if rng.random::<f64>() < cfg.jitter_p {
        color_jitter(&mut out, cfg, rng);
    }
    if rng.random::<f64>() < cfg.grayscale_p {
        grayscale(&mut out);
    }
    if cfg.blur_p > 0.0 && rng.random::<f64>() < cfg.blur_p {
        let sigma = rng.random_range(cfg.blur_sigma.0..=cfg.blur_sigma.1);
        gaussian_blur(&mut out, sigma);
    }
    if cfg.solarize_p > 0.0 && rng.random::<f64>() < cfg.solarize_p {
        out.data.iter_mut().filter(|x| **x >= 0.5).for_each(|x| *x = 1.0 - *x);
    }
    normalize(&mut out, &cfg.mean, &cfg.std);
    out
}

/// Normalisation only (evaluation inputs).
pub fn normalize(img: &mut Image, mean: &[f64], std: &[f64]) {
    let n = img.height * img.width;
    for c in 0..img.channels {
        let (m, s) = (AugmentConfig::channel_stat(mean, c), AugmentConfig::channel_stat(std, c));
        img.data[c * n..(c + 1) * n].iter_mut().for_each(|x| *x = (*x - m) / s);
    }
}

/// torchvision's RandomResizedCrop box: 10 tries at a random area and aspect ratio,
/// then a central crop clamped to the ratio range.
pub fn random_crop_box(height: usize, width: usize, scale: (f64, f64), ratio: (f64, f64), rng: &mut impl Rng) -> (usize, usize, usize, usize) {
    let area = (height * width) as f64;
    let (lr0, lr1) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target = area * rng.random_range(scale.0..=scale.1);
        let aspect = if lr1 > lr0 { rng.random_range(lr0..lr1) } else { lr0 }.exp();
        let w = (target * aspect).sqrt().round() as usize;
        let h = (target / aspect).sqrt().round() as usize;
        if w > 0 && h > 0 && w <= width && h <= height {
            let top = rng.random_range(0..=height - h);
            let left = rng.random_range(0..=width - w);
            return (top, left, h, w);
        }
    }
    let in_ratio = width as f64 / height as f64;
    let (h, w) = if in_ratio < ratio.0 {
        ((width as f64 / ratio.0).round() as usize, width)
    } else if in_ratio > ratio.1 {
        (height, (height as f64 * ratio.1).round() as usize)
    } else {
        (height, width)
    };
    ((height - h) / 2, (width - w) / 2, h.max(1), w.max(1))
}

/// Bilinear resize of the box `(top, left, h, w)` to `out_h x out_w` (half-pixel centres).
pub fn resize_bilinear(img: &Image, top: usize, left: usize, h: usize, w: usize, out_h: usize, out_w: usize) -> Image {
    let mut data = vec![0f32; img.channels * out_h * out_w];
    let (sy, sx) = (h as f32 / out_h as f32, w as f32 / out_w as f32);
    let coords = |o: usize, scale: f32, len: usize, off: usize| {
        let src = ((o as f32 + 0.5) * scale - 0.5).clamp(0.0, (len - 1) as f32);
        let i0 = src.floor() as usize;
        let i1 = (i0 + 1).min(len - 1);
        (off + i0, off + i1, src - i0 as f32)
    };
    let xs: Vec<_> = (0..out_w).map(|x| coords(x, sx, w, left)).collect();
    for c in 0..img.channels {
        let plane = img.plane(c);
        for y in 0..out_h {
            let (y0, y1, fy) = coords(y, sy, h, top);
            let (r0, r1) = (&plane[y0 * img.width..], &plane[y1 * img.width..]);
            let row = &mut data[(c * out_h + y) * out_w..(c * out_h + y + 1) * out_w];
            for (o, &(x0, x1, fx)) in row.iter_mut().zip(&xs) {
                let top = r0[x0] + (r0[x1] - r0[x0]) * fx;
                let bottom = r1[x0] + (r1[x1] - r1[x0]) * fx;
                *o = top + (bottom - top) * fy;
            }
        }
    }
    Image { channels: img.channels, height: out_h, width: out_w, data }
}

/// Mirrors the image left to right, in place.
pub fn flip_horizontal(img: &mut Image) {
    let w = img.width;
    for row in img.data.chunks_mut(w) {
        row.reverse();
    }
}

fn luma(img: &Image) -> Vec<f32> {
    if img.channels < 3 {
        return img.plane(0).to_vec();
    }
    let (r, g, b) = (img.plane(0), img.plane(1), img.plane(2));
    r.iter().zip(g).zip(b).map(|((r, g), b)| 0.299 * r + 0.587 * g + 0.114 * b).collect()
}

/// Converts to grayscale, keeping the number of channels.
pub fn grayscale(img: &mut Image) {
    if img.channels < 3 {
        return;
    }
    let l = luma(img);
    let n = l.len();
    for c in 0..img.channels {
        img.data[c * n..(c + 1) * n].copy_from_slice(&l);
    }
}

/// torchvision's ColorJitter: brightness, contrast, saturation and hue in random order,
/// each with a factor drawn uniformly around 1 (hue: a shift in [-hue, hue]).
pub fn color_jitter(img: &mut Image, cfg: &AugmentConfig, rng: &mut impl Rng) {
    let mut order = [0usize, 1, 2, 3];
    for i in (1..4).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
    let factor = |s: f64, rng: &mut dyn rand::RngCore| if s > 0.0 { rng.random_range((1.0 - s).max(0.0)..=1.0 + s) as f32 } else { 1.0 };
    for op in order {
        match op {
            0 => {
                let f = factor(cfg.brightness, rng);
                img.data.iter_mut().for_each(|x| *x = (*x * f).clamp(0.0, 1.0));
            }
            1 => {
                let f = factor(cfg.contrast, rng);
                let l = luma(img);
                let mean = l.iter().sum::<f32>() / l.len() as f32;
                img.data.iter_mut().for_each(|x| *x = ((*x - mean) * f + mean).clamp(0.0, 1.0));
            }
            2 if img.channels >= 3 => {
                let f = factor(cfg.saturation, rng);
                let l = luma(img);
                let n = l.len();
                for c in 0..3 {
                    for (x, g) in img.data[c * n..(c + 1) * n].iter_mut().zip(&l) {
                        *x = ((*x - g) * f + g).clamp(0.0, 1.0);
                    }
                }
            }
            3 if img.channels >= 3 && cfg.hue > 0.0 => {
                let shift = rng.random_range(-cfg.hue..=cfg.hue) as f32;
                shift_hue(img, shift);
            }
            _ => {}
        }
    }
}

fn shift_hue(img: &mut Image, shift: f32) {
    let n = img.height * img.width;
    for i in 0..n {
        let (r, g, b) = (img.data[i], img.data[n + i], img.data[2 * n + i]);
        let max = r.max(g).max(b);
        let min = r.min(g).min(b);
        let delta = max - min;
        if delta <= 0.0 {
            continue;
        }
        let mut h = if max == r {
            ((g - b) / delta).rem_euclid(6.0)
        } else if max == g {
            (b - r) / delta + 2.0
        } else {
            (r - g) / delta + 4.0
        } / 6.0;
        h = (h + shift).rem_euclid(1.0);
        let (s, v) = (delta / max, max);
        let hh = h * 6.0;
        let sector = hh.floor();
        let f = hh - sector;
        let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
        let (r, g, b) = match sector as i32 % 6 {
            0 => (v, t, p),
            1 => (q, v, p),
            2 => (p, v, t),
            3 => (p, q, v),
            4 => (t, p, v),
            _ => (v, p, q),
        };
        img.data[i] = r;
        img.data[n + i] = g;
        img.data[2 * n + i] = b;
    }
}

/// Separable Gaussian blur with a kernel of about 10% of the image side (odd), reflect padding.
pub fn gaussian_blur(img: &mut Image, sigma: f64) {
    let side = img.height.min(img.width);
    let radius = ((side / 10).max(3) | 1) / 2;
    let kernel: Vec<f32> = {
        let k: Vec<f64> = (0..=2 * radius).map(|i| (-((i as f64 - radius as f64).powi(2)) / (2.0 * sigma * sigma)).exp()).collect();
        let s: f64 = k.iter().sum();
        k.iter().map(|v| (v / s) as f32).collect()
    };
    let reflect = |i: isize, n: usize| -> usize {
        let n = n as isize;
        let mut i = i;
        if i < 0 {
            i = -i;
        }
        if i >= n {
            i = 2 * n - 2 - i;
        }
        i.clamp(0, n - 1) as usize
    };
    let (h, w) = (img.height, img.width);
    let (r, taps) = (radius as isize, kernel.len());
    // Each pass adds tap by tap over whole rows, so the inner loops run over contiguous
    // memory (and vectorise); every output still sums its taps in kernel order.
    let mut tmp = vec![0f32; h * w];
    let mut padded = vec![0f32; w + taps - 1];
    let mut acc = vec![0f32; w];
    for c in 0..img.channels {
        let plane = &mut img.data[c * h * w..(c + 1) * h * w];
        for y in 0..h {
            let row = &plane[y * w..(y + 1) * w];
            for (j, p) in padded.iter_mut().enumerate() {
                *p = row[reflect(j as isize - r, w)];
            }
            acc.fill(0.0);
            for (k, &kv) in kernel.iter().enumerate() {
                for (a, &v) in acc.iter_mut().zip(&padded[k..k + w]) {
                    *a += kv * v;
                }
            }
            tmp[y * w..(y + 1) * w].copy_from_slice(&acc);
        }
        for y in 0..h {
            acc.fill(0.0);
            for (k, &kv) in kernel.iter().enumerate() {
                let src = reflect(y as isize + k as isize - r, h);
                for (a, &v) in acc.iter_mut().zip(&tmp[src * w..(src + 1) * w]) {
                    *a += kv * v;
                }
            }
            plane[y * w..(y + 1) * w].copy_from_slice(&acc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn ramp(c: usize, h: usize, w: usize) -> Image {
        Image { channels: c, height: h, width: w, data: (0..c * h * w).map(|i| (i % 17) as f32 / 16.0).collect() }
    }

    #[test]
    fn identity_resize_and_double_flip_are_exact() {
        let img = ramp(3, 8, 6);
        assert_eq!(resize_bilinear(&img, 0, 0, 8, 6, 8, 6), img);
        let mut f = img.clone();
        flip_horizontal(&mut f);
        assert_ne!(f, img);
        flip_horizontal(&mut f);
        assert_eq!(f, img);
    }

    #[test]
    fn crop_boxes_stay_inside_and_respect_the_scale() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..500 {
            let (t, l, h, w) = random_crop_box(28, 32, (0.2, 1.0), (0.75, 4.0 / 3.0), &mut rng);
            assert!(t + h <= 28 && l + w <= 32 && h > 0 && w > 0);
            let frac = (h * w) as f64 / (28.0 * 32.0);
            assert!(frac > 0.15 && frac <= 1.0, "{frac}");
        }
    }

    #[test]
    fn grayscale_and_hue_behave() {
        let mut img = ramp(3, 4, 4);
        grayscale(&mut img);
        assert_eq!(img.plane(0), img.plane(1));
        assert_eq!(img.plane(1), img.plane(2));
        // A full hue turn is the identity; a third of a turn maps red to green.
        let mut red = Image { channels: 3, height: 1, width: 1, data: vec![1.0, 0.0, 0.0] };
        shift_hue(&mut red, 1.0 / 3.0);
        assert!((red.data[0]).abs() < 1e-5 && (red.data[1] - 1.0).abs() < 1e-5 && red.data[2].abs() < 1e-5, "{:?}", red.data);
    }

    #[test]
    fn blur_equals_the_direct_reflect_padded_sum() {
        // The row-wise passes against a tap-by-tap sum per pixel, on a non-square image
        // whose kernel reaches past both borders.
        let img = Image { channels: 2, height: 31, width: 45, data: (0..2 * 31 * 45).map(|i| ((i * 7919) % 255) as f32 / 255.0).collect() };
        let mut fast = img.clone();
        gaussian_blur(&mut fast, 1.7);
        let (h, w) = (31usize, 45usize);
        let radius = ((h / 10).max(3) | 1) / 2;
        let k: Vec<f64> = (0..=2 * radius).map(|i| (-((i as f64 - radius as f64).powi(2)) / (2.0 * 1.7 * 1.7)).exp()).collect();
        let total: f64 = k.iter().sum();
        let reflect = |i: isize, n: usize| -> usize {
            let n = n as isize;
            let i = if i < 0 { -i } else { i };
            (if i >= n { 2 * n - 2 - i } else { i }) as usize
        };
        for c in 0..2 {
            let p = &img.data[c * h * w..(c + 1) * h * w];
            let rows: Vec<f64> = (0..h * w)
                .map(|i| (0..k.len()).map(|t| k[t] / total * p[(i / w) * w + reflect((i % w) as isize + t as isize - radius as isize, w)] as f64).sum())
                .collect();
            for i in 0..h * w {
                let want: f64 = (0..k.len()).map(|t| k[t] / total * rows[reflect((i / w) as isize + t as isize - radius as isize, h) * w + i % w]).sum();
                assert!((fast.data[c * h * w + i] as f64 - want).abs() < 1e-5, "pixel {i} of channel {c}");
            }
        }
    }

    #[test]
    fn blur_preserves_constants_and_smooths_edges() {
        let mut flat = Image { channels: 1, height: 9, width: 9, data: vec![0.3; 81] };
        gaussian_blur(&mut flat, 1.5);
        assert!(flat.data.iter().all(|x| (x - 0.3).abs() < 1e-5));
        let mut edge = Image { channels: 1, height: 9, width: 9, data: (0..81).map(|i| if i % 9 < 4 { 0.0 } else { 1.0 }).collect() };
        gaussian_blur(&mut edge, 1.5);
        assert!(edge.data[3] > 0.0 && edge.data[4] < 1.0);
    }

    #[test]
    fn views_are_a_pure_function_of_the_seed() {
        let img = ramp(3, 16, 16);
        let cfg = AugmentConfig { size: 12, blur_p: 0.5, solarize_p: 0.5, ..Default::default() };
        let a = augment(&img, &cfg, &mut ChaCha8Rng::seed_from_u64(9));
        let b = augment(&img, &cfg, &mut ChaCha8Rng::seed_from_u64(9));
        let c = augment(&img, &cfg, &mut ChaCha8Rng::seed_from_u64(10));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!((a.channels, a.height, a.width), (3, 12, 12));
        assert!(AugmentConfig { crop_scale: (0.5, 0.2), ..Default::default() }.validate().is_err());
        assert!(AugmentConfig { blur_sigma: (0.0, 1.0), ..Default::default() }.validate().is_err());
        assert!(AugmentConfig { blur_sigma: (2.0, f64::NAN), ..Default::default() }.validate().is_err());
    }
}
