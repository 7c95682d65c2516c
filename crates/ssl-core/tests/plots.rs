//! The shared charts: written whole as SVG (the format every crate can draw without an image
//! codec), bad input refused before anything is written.
#![cfg(feature = "plots")]
use ssl_core::eval::det_curve;
use ssl_core::plots::{det_plot, embedding_scatter, line_chart, probit};
use std::path::PathBuf;

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ssl-core-plots-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn probit_is_the_normal_quantile() {
    assert!(probit(0.5).abs() < 1e-12);
    assert!((probit(0.975) - 1.959964).abs() < 1e-5);
    assert!((probit(0.001) + 3.090232).abs() < 1e-5);
}

#[test]
fn det_scatter_and_lines_are_written_as_svg_with_one_path_per_series() {
    let d = tmp("svg");
    let target: Vec<f64> = (0..200).map(|i| 1.0 + (i as f64 * 0.618).sin()).collect();
    let non: Vec<f64> = (0..300).map(|i| (i as f64 * 0.377).cos()).collect();
    let curves = vec![("system a".to_string(), det_curve(&target, &non).unwrap()), ("system b".to_string(), det_curve(&non, &target).unwrap())];
    let det = d.join("det.svg");
    det_plot(&det, "DET", &curves).unwrap();
    let svg = std::fs::read_to_string(&det).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "not an SVG document");
    // The equal-error diagonal and one line per system.
    assert!(svg.matches("<polyline").count() >= 3, "{}", svg.matches("<polyline").count());

    let scatter = d.join("emb.svg");
    let points = vec![(0.0f32, 0.0f32), (1.0, 1.0), (2.0, 0.5)];
    embedding_scatter(&scatter, "embeddings", &points, &[0, 1, 1], &["a".into(), "b".into()]).unwrap();
    assert!(std::fs::read_to_string(&scatter).unwrap().matches("<circle").count() >= 3);

    let lines = d.join("lines.svg");
    line_chart(&lines, "loss", ("step", "loss"), &[("x".into(), vec![(0.0, 1.0), (1.0, f64::NAN), (2.0, 0.5)])]).unwrap();
    assert!(std::fs::read_to_string(&lines).unwrap().contains("<polyline"));
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn bad_rates_mismatched_labels_and_unknown_formats_are_errors_that_keep_the_old_file() {
    let d = tmp("bad");
    let det = d.join("det.svg");
    std::fs::write(&det, "old").unwrap();
    let e = det_plot(&det, "DET", &[("x".into(), vec![(0.0, 1.5)])]).unwrap_err().to_string();
    assert!(e.contains("det.svg") && e.contains("[0, 1]"), "{e}");
    assert_eq!(std::fs::read_to_string(&det).unwrap(), "old");
    let e = embedding_scatter(&d.join("e.svg"), "t", &[(0.0, 0.0)], &[0, 1], &[]).unwrap_err().to_string();
    assert!(e.contains("1 points but 2 labels"), "{e}");
    let e = line_chart(&d.join("plot.bmp"), "t", ("x", "y"), &[]).unwrap_err().to_string();
    assert!(e.contains("plot.bmp") && e.contains(".svg"), "{e}");
    std::fs::remove_dir_all(d).ok();
}
