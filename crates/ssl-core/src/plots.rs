//! The charts every CLI draws (lines over steps, 2-D embeddings, DET curves), written as SVG,
//! or as PNG with the `png` feature, chosen by the file's extension; plus the label font and
//! palette the crates' own plots share. SVG needs no image codec, so a crate can plot without
//! pulling in `image`.
use anyhow::{anyhow, bail, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use statrs::distribution::{ContinuousCDF, Normal};
use std::path::Path;

/// Ten distinguishable colours (matplotlib's `tab10`).
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Registers a system sans-serif font for labels once; `false` when none was found (plots
/// are then drawn without text). The DejaVu fonts of most Linux systems are looked for.
pub fn have_font() -> bool {
    static FONT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FONT.get_or_init(|| {
        let candidates = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf", "/Library/Fonts/Arial.ttf"];
        for c in candidates {
            if let Ok(bytes) = std::fs::read(c) {
                let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, leaked).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

/// Writes an RGB buffer of `w x h` pixels as a PNG.
#[cfg(feature = "png")]
pub fn save_png(path: &Path, buf: Vec<u8>, (w, h): (u32, u32)) -> Result<()> {
    use anyhow::Context;
    let img = image::RgbImage::from_raw(w, h, buf).context("plot buffer has the wrong size")?;
    img.save(path).with_context(|| format!("cannot write {}", path.display()))
}

fn drawing<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e}")
}

/// A chart drawn on any plotters backend.
trait Chart {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

/// Draws `chart` into `path`: `.svg` always, `.png` with the `png` feature. The file is
/// written whole or not at all (an SVG through a temporary file and a rename).
fn save(path: &Path, chart: &impl Chart) -> Result<()> {
    let size = chart.size();
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("svg") => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
                root.fill(&WHITE).map_err(drawing)?;
                chart.draw(&root)?;
                root.present().map_err(drawing)?;
            }
            crate::config::write_atomically(path, svg.as_bytes())
        }
        #[cfg(feature = "png")]
        Some("png") => {
            let mut buf = vec![255u8; (size.0 * size.1 * 3) as usize];
            {
                let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
                root.fill(&WHITE).map_err(drawing)?;
                chart.draw(&root)?;
                root.present().map_err(drawing)?;
            }
            save_png(path, buf, size)
        }
        _ => bail!("{}: a plot is written as .svg{}", path.display(), if cfg!(feature = "png") { " or .png" } else { "" }),
    }
}

/// Named series of `(x, y)` points.
pub type Series = [(String, Vec<(f64, f64)>)];

struct Lines<'a> {
    title: &'a str,
    axes: (&'a str, &'a str),
    series: &'a Series,
}

impl Chart for Lines<'_> {
    fn size(&self) -> (u32, u32) {
        (900, 540)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let finite = self.series.iter().flat_map(|(_, s)| s.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
        for &(x, y) in finite {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        if !x0.is_finite() {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        let pad = ((y1 - y0) * 0.05).max(1e-6);
        let text = have_font();
        let mut builder = ChartBuilder::on(root);
        builder.margin(15).x_label_area_size(if text { 40 } else { 5 }).y_label_area_size(if text { 60 } else { 5 });
        if text {
            builder.caption(self.title, ("sans-serif", 22));
        }
        let mut chart = builder.build_cartesian_2d(x0..x1.max(x0 + 1e-9), (y0 - pad)..(y1 + pad)).map_err(drawing)?;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(self.axes.0).y_desc(self.axes.1);
        if !text {
            mesh.disable_x_axis().disable_y_axis();
        }
        mesh.draw().map_err(drawing)?;
        for (i, (name, s)) in self.series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let line = chart
                .draw_series(LineSeries::new(s.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()), color.stroke_width(2)))
                .map_err(drawing)?;
            if text {
                line.label(name.clone()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            }
        }
        if text {
            chart.configure_series_labels().border_style(BLACK).background_style(WHITE.mix(0.8)).draw().map_err(drawing)?;
        }
        Ok(())
    }
}

/// Lines of `(x, y)` points, one per named series, the axes named by `axes` (non-finite
/// points are left out).
pub fn line_chart(path: &Path, title: &str, axes: (&str, &str), series: &Series) -> Result<()> {
    save(path, &Lines { title, axes, series })
}

/// Loss against step, one line per named series.
pub fn loss_curves(path: &Path, title: &str, series: &[(String, Vec<(usize, f64)>)]) -> Result<()> {
    let series: Vec<(String, Vec<(f64, f64)>)> = series.iter().map(|(n, s)| (n.clone(), s.iter().map(|&(x, y)| (x as f64, y)).collect())).collect();
    line_chart(path, title, ("step", "loss"), &series)
}

struct Scatter<'a> {
    title: &'a str,
    points: &'a [(f32, f32)],
    labels: &'a [i64],
    class_names: &'a [String],
}

impl Chart for Scatter<'_> {
    fn size(&self) -> (u32, u32) {
        (760, 700)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let (mut x0, mut x1, mut y0, mut y1) = (f32::INFINITY, f32::NEG_INFINITY, f32::INFINITY, f32::NEG_INFINITY);
        for &(x, y) in self.points {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        if !(x0.is_finite() && y0.is_finite()) {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        let text = have_font();
        let mut builder = ChartBuilder::on(root);
        builder.margin(15);
        if text {
            builder.caption(self.title, ("sans-serif", 22));
        }
        let mut chart = builder.build_cartesian_2d(x0..x1.max(x0 + 1e-6), y0..y1.max(y0 + 1e-6)).map_err(drawing)?;
        for (&(x, y), &l) in self.points.iter().zip(self.labels) {
            let color = PALETTE[(l.max(0) as usize) % PALETTE.len()];
            chart.draw_series(std::iter::once(Circle::new((x, y), 2, color.mix(0.6).filled()))).map_err(drawing)?;
        }
        if text {
            let classes = self.labels.iter().copied().max().unwrap_or(-1) + 1;
            for c in 0..classes {
                let color = PALETTE[c as usize % PALETTE.len()];
                let name = self.class_names.get(c as usize).cloned().unwrap_or_else(|| format!("class {c}"));
                chart
                    .draw_series(std::iter::once(Circle::new((x0, y0), 0, color.filled())))
                    .map_err(drawing)?
                    .label(name)
                    .legend(move |(x, y)| Circle::new((x + 8, y), 5, color.filled()));
            }
            chart.configure_series_labels().border_style(BLACK).background_style(WHITE.mix(0.85)).draw().map_err(drawing)?;
        }
        Ok(())
    }
}

/// A scatter of 2-D points coloured by label (e.g. `eval::pca_2d` of embeddings).
pub fn embedding_scatter(path: &Path, title: &str, points: &[(f32, f32)], labels: &[i64], class_names: &[String]) -> Result<()> {
    if points.len() != labels.len() {
        bail!("{}: {} points but {} labels", path.display(), points.len(), labels.len());
    }
    save(path, &Scatter { title, points, labels, class_names })
}

/// The first two principal components of `features` (`[N, D]`) as a scatter coloured by label.
pub fn pca_scatter(path: &Path, title: &str, features: &tch::Tensor, labels: &[i64], class_names: &[String]) -> Result<()> {
    let p = crate::eval::pca_2d(features)?;
    let xy: Vec<f32> = Vec::<f32>::try_from(p.to_kind(tch::Kind::Float).to_device(tch::Device::Cpu).flatten(0, -1))?;
    let points: Vec<(f32, f32)> = xy.chunks(2).map(|c| (c[0], c[1])).collect();
    embedding_scatter(path, title, &points, labels, class_names)
}

/// The standard normal quantile, the DET plot's axis warp: Gaussian score distributions
/// give straight lines.
pub fn probit(p: f64) -> f64 {
    Normal::standard().inverse_cdf(p)
}

/// An axis of probabilities placed at their normal deviates, ticked at the usual DET rates.
#[derive(Clone, Copy)]
struct ProbitAxis {
    lo: f64,
    hi: f64,
}

impl Ranged for ProbitAxis {
    type ValueType = f64;
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }

    fn map(&self, p: &f64, limit: (i32, i32)) -> i32 {
        let (a, b) = (probit(self.lo), probit(self.hi));
        let t = (probit(p.clamp(self.lo, self.hi)) - a) / (b - a);
        limit.0 + (t * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: plotters::coord::ranged1d::KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            return Vec::new();
        }
        [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8].into_iter().filter(|&p| p >= self.lo && p <= self.hi).collect()
    }
}

struct Det<'a> {
    title: &'a str,
    curves: &'a Series,
}

impl Chart for Det<'_> {
    fn size(&self) -> (u32, u32) {
        (700, 700)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        // From the smallest non-zero error rate drawn (at least 0.1%) to 90%.
        let smallest = self.curves.iter().flat_map(|(_, c)| c.iter()).flat_map(|&(m, f)| [m, f]).filter(|&r| r > 0.0).fold(0.5, f64::min);
        let axis = ProbitAxis { lo: smallest.max(1e-3), hi: 0.9 };
        let (lo, hi) = (axis.lo, axis.hi);
        let text = have_font();
        let mut builder = ChartBuilder::on(root);
        builder.margin(15).x_label_area_size(if text { 45 } else { 5 }).y_label_area_size(if text { 60 } else { 5 });
        if text {
            builder.caption(self.title, ("sans-serif", 22));
        }
        let mut chart = builder.build_cartesian_2d(axis, axis).map_err(drawing)?;
        let percent = |p: &f64| {
            let p = 100.0 * p;
            if p < 1.0 {
                format!("{p:.1}")
            } else {
                format!("{p:.0}")
            }
        };
        let mut mesh = chart.configure_mesh();
        mesh.x_desc("false-alarm rate (%)").y_desc("miss rate (%)").x_label_formatter(&percent).y_label_formatter(&percent);
        if !text {
            mesh.disable_x_axis().disable_y_axis();
        }
        mesh.draw().map_err(drawing)?;
        // The equal-error line: each curve crosses it at its EER.
        chart.draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.mix(0.3).stroke_width(1))).map_err(drawing)?;
        for (i, (name, curve)) in self.curves.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            // Points with a rate of 0 or 1 lie at infinity on these axes; the rest is clipped.
            let points = curve.iter().filter(|&&(m, f)| m > 0.0 && m < 1.0 && f > 0.0 && f < 1.0).map(|&(m, f)| (f.clamp(lo, hi), m.clamp(lo, hi)));
            let line = chart.draw_series(LineSeries::new(points, color.stroke_width(2))).map_err(drawing)?;
            if text {
                line.label(name.clone()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            }
        }
        if text {
            chart.configure_series_labels().border_style(BLACK).background_style(WHITE.mix(0.8)).draw().map_err(drawing)?;
        }
        Ok(())
    }
}

/// Detection error trade-off curves (`eval::det_curve`: `(miss, false alarm)` pairs), one
/// per named system, on normal-deviate axes.
pub fn det_plot(path: &Path, title: &str, curves: &Series) -> Result<()> {
    if curves.iter().any(|(_, c)| c.iter().any(|&(m, f)| !(0.0..=1.0).contains(&m) || !(0.0..=1.0).contains(&f))) {
        bail!("{}: DET curves hold rates in [0, 1]", path.display());
    }
    save(path, &Det { title, curves })
}
