//! Pictures of slices for the experiments' reports: a grey slice scaled up, labels tinted
//! over it, boxes drawn as outlines, panels side by side. Axial slices are shown as
//! radiologists view them: anterior up, the patient's right on the left.
use anyhow::{bail, Context, Result};
use std::path::Path;
use tch::{Kind, Tensor};

/// Colours of classes 1.. (and of boxes).
pub const COLOURS: [[u8; 3]; 6] = [[230, 60, 60], [60, 200, 60], [70, 120, 240], [240, 200, 40], [200, 80, 220], [60, 210, 210]];

/// One picture of an axial slice, `scale` screen pixels per voxel.
pub struct Panel {
    image: image::RgbImage,
    /// Voxels across (x) and down (y) of the slice.
    size: (i64, i64),
    scale: i64,
}

impl Panel {
    /// The slice `[Y, X]` (rows posterior to anterior, columns the patient's right to left
    /// as RAS+ grids run), values in `[0, 1]`, flipped to the radiological view.
    pub fn axial(slice: &Tensor, scale: i64) -> Result<Self> {
        let s = slice.size();
        if s.len() != 2 || s.iter().any(|&d| d < 1) || scale < 1 {
            bail!("overlay: a slice must be [Y, X] and the scale at least 1, got {s:?} and {scale}");
        }
        let (h, w) = (s[0], s[1]);
        let grey = Vec::<f32>::try_from(&slice.flip([0, 1]).to_kind(Kind::Float).contiguous().view([-1]))?;
        let mut image = image::RgbImage::new((w * scale) as u32, (h * scale) as u32);
        for (k, g) in grey.iter().enumerate() {
            let v = (g.clamp(0.0, 1.0) * 255.0) as u8;
            let (x, y) = (k as i64 % w, k as i64 / w);
            for dy in 0..scale {
                for dx in 0..scale {
                    image.put_pixel((x * scale + dx) as u32, (y * scale + dy) as u32, image::Rgb([v; 3]));
                }
            }
        }
        Ok(Self { image, size: (w, h), scale })
    }

    /// Tints the voxels of each class (`labels` `[Y, X]` on the slice's grid, 0 none) with
    /// its colour, half and half with the grey.
    pub fn tint(&mut self, labels: &Tensor) -> Result<()> {
        let (w, h) = self.size;
        if labels.size() != [h, w] {
            bail!("overlay: labels {:?} are not on the slice's grid [{h}, {w}]", labels.size());
        }
        let labels = Vec::<i64>::try_from(&labels.flip([0, 1]).to_kind(Kind::Int64).contiguous().view([-1]))?;
        for (k, &l) in labels.iter().enumerate().filter(|(_, l)| **l > 0) {
            let c = COLOURS[(l as usize - 1) % COLOURS.len()];
            let (x, y) = (k as i64 % w, k as i64 / w);
            for dy in 0..self.scale {
                for dx in 0..self.scale {
                    let p = self.image.get_pixel_mut((x * self.scale + dx) as u32, (y * self.scale + dy) as u32);
                    p.0 = std::array::from_fn(|j| ((u16::from(p.0[j]) + u16::from(c[j])) / 2) as u8);
                }
            }
        }
        Ok(())
    }

    /// Outlines the rectangle `[x0, x1) x [y0, y1)` in voxel coordinates of the slice (as
    /// the grid runs, before the flip), two screen pixels wide.
    pub fn rectangle(&mut self, (x0, x1): (f64, f64), (y0, y1): (f64, f64), colour: [u8; 3]) {
        let (w, h) = self.size;
        // Flipped: screen column of voxel x is w - x.
        let to_screen = |v: f64, n: i64| ((n as f64 - v) * self.scale as f64).round() as i64;
        let (left, right) = (to_screen(x1, w), to_screen(x0, w));
        let (top, bottom) = (to_screen(y1, h), to_screen(y0, h));
        let (iw, ih) = (self.image.width() as i64, self.image.height() as i64);
        let mut put = |x: i64, y: i64| {
            if (0..iw).contains(&x) && (0..ih).contains(&y) {
                self.image.put_pixel(x as u32, y as u32, image::Rgb(colour));
            }
        };
        for t in 0..2 {
            for x in left..=right {
                put(x, top + t);
                put(x, bottom - t);
            }
            for y in top..=bottom {
                put(left + t, y);
                put(right - t, y);
            }
        }
    }
}

/// Saves `panels` side by side (top-aligned, on black) as a PNG, creating the folder.
pub fn save_row(path: &Path, panels: &[Panel]) -> Result<()> {
    if panels.is_empty() {
        bail!("overlay: nothing to draw for {}", path.display());
    }
    let width = panels.iter().map(|p| p.image.width()).sum();
    let height = panels.iter().map(|p| p.image.height()).max().unwrap_or(1);
    let mut row = image::RgbImage::new(width, height);
    let mut x = 0;
    for p in panels {
        image::imageops::replace(&mut row, &p.image, i64::from(x), 0);
        x += p.image.width();
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    row.save(path).with_context(|| format!("cannot write {}", path.display()))
}
