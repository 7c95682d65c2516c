//! Map pictures (PNG): U-matrix, hit map, component planes, decoded prototype spectra.
use crate::som::MapShape;
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use ssl_core::plots::{have_font, save_png};
use std::path::Path;

/// A perceptually ordered colour ramp (dark blue -> teal -> yellow).
fn ramp(t: f64) -> RGBColor {
    let stops = [(68.0, 1.0, 84.0), (59.0, 82.0, 139.0), (33.0, 145.0, 140.0), (94.0, 201.0, 98.0), (253.0, 231.0, 37.0)];
    let x = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let i = (x.floor() as usize).min(stops.len() - 2);
    let f = x - i as f64;
    let (a, b) = (stops[i], stops[i + 1]);
    RGBColor((a.0 + (b.0 - a.0) * f) as u8, (a.1 + (b.1 - a.1) * f) as u8, (a.2 + (b.2 - a.2) * f) as u8)
}

/// One value per node as coloured cells (grey where NaN), with the value range in the title.
pub fn grid_heatmap(path: &Path, title: &str, shape: MapShape, values: &[f64]) -> Result<()> {
    let size = (640u32, 680u32);
    let mut buf = vec![255u8; (size.0 * size.1 * 3) as usize];
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let (lo, hi) = finite.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let (top, area) = root.split_vertically(60);
        if have_font() {
            top.draw(&Text::new(format!("{title}  [{lo:.3} .. {hi:.3}]"), (15, 20), ("sans-serif", 20))).map_err(|e| anyhow!("{e}"))?;
        }
        let cell_w = (size.0 as i32 - 40) / shape.cols as i32;
        let cell_h = (size.1 as i32 - 100) / shape.rows as i32;
        for k in 0..shape.nodes() {
            let (r, c) = shape.position(k);
            let v = values.get(k).copied().unwrap_or(f64::NAN);
            let color = if v.is_finite() { ramp(if hi > lo { (v - lo) / (hi - lo) } else { 0.5 }) } else { RGBColor(200, 200, 200) };
            let (x0, y0) = (20 + c as i32 * cell_w, 10 + r as i32 * cell_h);
            area.draw(&Rectangle::new([(x0, y0), (x0 + cell_w - 1, y0 + cell_h - 1)], color.filled())).map_err(|e| anyhow!("{e}"))?;
        }
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    save_png(path, buf, size)
}

/// U-matrix: mean distance of each prototype to its grid neighbours (4-connected).
pub fn u_matrix(shape: MapShape, prototypes: &[Vec<f32>]) -> Vec<f64> {
    (0..shape.nodes())
        .map(|k| {
            let (r, c) = shape.position(k);
            let mut ds = Vec::new();
            for (dr, dc) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                let (rr, cc) = (r as i64 + dr, c as i64 + dc);
                if rr >= 0 && cc >= 0 && (rr as usize) < shape.rows && (cc as usize) < shape.cols {
                    let j = rr as usize * shape.cols + cc as usize;
                    ds.push(prototypes[k].iter().zip(&prototypes[j]).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>().sqrt());
                }
            }
            ds.iter().sum::<f64>() / ds.len().max(1) as f64
        })
        .collect()
}

/// Every node's (decoded) prototype spectrum in its grid cell.
pub fn prototype_spectra(path: &Path, title: &str, shape: MapShape, wave: &[f64], prototypes: &[Vec<f32>]) -> Result<()> {
    let size = (1200u32, 1240u32);
    let mut buf = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let (top, area) = root.split_vertically(40);
        if have_font() {
            top.draw(&Text::new(title.to_string(), (15, 12), ("sans-serif", 20))).map_err(|e| anyhow!("{e}"))?;
        }
        let cells = area.split_evenly((shape.rows, shape.cols));
        let (w0, w1) = (wave[0], wave[wave.len() - 1]);
        for (k, cell) in cells.iter().enumerate() {
            let Some(p) = prototypes.get(k) else { continue };
            let (lo, hi) = p.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
            let pad = ((hi - lo) * 0.05).max(1e-6);
            let mut chart = ChartBuilder::on(cell).margin(2).build_cartesian_2d(w0..w1, (lo - pad) as f64..(hi + pad) as f64).map_err(|e| anyhow!("{e}"))?;
            chart.draw_series(LineSeries::new(wave.iter().zip(p).map(|(w, v)| (*w, *v as f64)), BLUE.stroke_width(1))).map_err(|e| anyhow!("{e}"))?;
            cell.draw(&Rectangle::new([(0, 0), (cell.dim_in_pixel().0 as i32 - 1, cell.dim_in_pixel().1 as i32 - 1)], BLACK.mix(0.2)))
                .map_err(|e| anyhow!("{e}"))?;
        }
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    save_png(path, buf, size)
}
