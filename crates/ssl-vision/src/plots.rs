//! PNG plots: loss curves and 2-D embeddings.
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use ssl_core::plots::{have_font, save_png, PALETTE};
use std::path::Path;

/// Loss against step, one line per named series.
pub fn loss_curves(path: &Path, title: &str, series: &[(String, Vec<(usize, f64)>)]) -> Result<()> {
    line_chart(path, title, ("step", "loss"), series)
}

/// Lines of `(x, y)` points, one per named series, with the axes described by `axes`.
pub fn line_chart(path: &Path, title: &str, axes: (&str, &str), series: &[(String, Vec<(usize, f64)>)]) -> Result<()> {
    let size = (900u32, 540u32);
    let mut buf = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let points = series.iter().flat_map(|(_, s)| s.iter());
        let (mut xmax, mut ymin, mut ymax) = (1usize, f64::INFINITY, f64::NEG_INFINITY);
        for &(x, y) in points {
            xmax = xmax.max(x);
            if y.is_finite() {
                ymin = ymin.min(y);
                ymax = ymax.max(y);
            }
        }
        if !ymin.is_finite() {
            (ymin, ymax) = (0.0, 1.0);
        }
        let pad = ((ymax - ymin) * 0.05).max(1e-6);
        let text = have_font();
        let mut builder = ChartBuilder::on(&root);
        builder.margin(15).x_label_area_size(if text { 40 } else { 5 }).y_label_area_size(if text { 60 } else { 5 });
        if text {
            builder.caption(title, ("sans-serif", 22));
        }
        let mut chart = builder.build_cartesian_2d(0usize..xmax, (ymin - pad)..(ymax + pad)).map_err(|e| anyhow!("{e}"))?;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(axes.0).y_desc(axes.1);
        if !text {
            mesh.disable_x_axis().disable_y_axis();
        }
        mesh.draw().map_err(|e| anyhow!("{e}"))?;
        for (i, (name, s)) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let line = chart.draw_series(LineSeries::new(s.iter().copied(), color.stroke_width(2))).map_err(|e| anyhow!("{e}"))?;
            if text {
                line.label(name.clone()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            }
        }
        if text {
            chart.configure_series_labels().border_style(BLACK).background_style(WHITE.mix(0.8)).draw().map_err(|e| anyhow!("{e}"))?;
        }
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    save_png(path, buf, size)
}

/// A scatter of 2-D points coloured by label.
pub fn embedding_scatter(path: &Path, title: &str, points: &[(f32, f32)], labels: &[i64], class_names: &[String]) -> Result<()> {
    let size = (760u32, 700u32);
    let mut buf = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let (mut x0, mut x1, mut y0, mut y1) = (f32::INFINITY, f32::NEG_INFINITY, f32::INFINITY, f32::NEG_INFINITY);
        for &(x, y) in points {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        if !(x0.is_finite() && y0.is_finite()) {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        let text = have_font();
        let mut builder = ChartBuilder::on(&root);
        builder.margin(15);
        if text {
            builder.caption(title, ("sans-serif", 22));
        }
        let mut chart = builder.build_cartesian_2d(x0..x1.max(x0 + 1e-6), y0..y1.max(y0 + 1e-6)).map_err(|e| anyhow!("{e}"))?;
        for (&(x, y), &l) in points.iter().zip(labels) {
            let color = PALETTE[(l.max(0) as usize) % PALETTE.len()];
            chart.draw_series(std::iter::once(Circle::new((x, y), 2, color.mix(0.6).filled()))).map_err(|e| anyhow!("{e}"))?;
        }
        if text {
            let classes = labels.iter().copied().max().unwrap_or(-1) + 1;
            for c in 0..classes {
                let color = PALETTE[c as usize % PALETTE.len()];
                let name = class_names.get(c as usize).cloned().unwrap_or_else(|| format!("class {c}"));
                chart
                    .draw_series(std::iter::once(Circle::new((x0, y0), 0, color.filled())))
                    .map_err(|e| anyhow!("{e}"))?
                    .label(name)
                    .legend(move |(x, y)| Circle::new((x + 8, y), 5, color.filled()));
            }
            chart.configure_series_labels().border_style(BLACK).background_style(WHITE.mix(0.85)).draw().map_err(|e| anyhow!("{e}"))?;
        }
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    save_png(path, buf, size)
}
