//! DICOM series (CT, MR): one slice per file, decoded by `dicom-pixeldata` (native,
//! RLE, JPEG and deflated transfer syntaxes), rescaled to modality units (Hounsfield
//! units for CT) by each file's slope and intercept, ordered by position along the slice
//! normal, and placed in the world from the position and orientation of the first slice.
use crate::volume::{Affine, Volume};
use anyhow::{bail, Context, Result};
use dicom_core::value::Value;
use dicom_dictionary_std::tags;
use dicom_object::{open_file, InMemDicomObject};
use dicom_pixeldata::PixelDecoder;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// The largest slice side read: no CT or MR slice comes near it, and a larger value in a
/// header is corruption that would otherwise make the decoder allocate gigabytes.
const MAX_SIDE: i64 = 8192;

/// One decoded slice and what places it.
#[derive(Debug)]
struct Slice {
    path: PathBuf,
    series: String,
    rows: usize,
    cols: usize,
    /// Millimetres between rows and between columns (PixelSpacing).
    pixel_spacing: [f64; 2],
    /// Direction cosines of a row (along increasing column) and of a column, LPS.
    orientation: [f64; 6],
    /// Where the first voxel's centre lies, LPS millimetres.
    position: [f64; 3],
    /// Nominal thickness, for a series of one slice.
    thickness: Option<f64>,
    /// `rows * cols` values in modality units, row after row.
    values: Vec<f32>,
}

/// Reads a DICOM series: a folder of single-slice files (every file must be DICOM and
/// belong to one series), or one file. Errors name the file and the problem: not DICOM,
/// truncated, a compressed transfer syntax without a decoder, colour or multi-frame
/// images, several series, slices of another size, spacing or orientation, two slices at
/// one position, unevenly spaced slices.
pub fn read_dicom_series(path: &Path) -> Result<Volume> {
    let files = series_files(path)?;
    let mut slices = files.iter().map(|f| read_slice(f)).collect::<Result<Vec<_>>>()?;
    check_consistent(&slices)?;
    let normal = normal_of(&slices[0].orientation);
    let along = |s: &Slice| dot(&s.position, &normal);
    slices.sort_by(|a, b| along(a).total_cmp(&along(b)));
    let gap = slice_gap(&slices, &along)?;
    let first = &slices[0];
    let affine = lps_affine(&first.orientation, first.pixel_spacing, gap, first.position);
    let (rows, cols, depth) = (first.rows as i64, first.cols as i64, slices.len() as i64);
    let values: Vec<f32> = slices.iter().flat_map(|s| s.values.iter().copied()).collect();
    Volume::new(Tensor::from_slice(&values).view([depth, rows, cols]), affine, path)
}

/// The files of a series: `path` itself, or the visible files of the folder, in name order.
pub(super) fn series_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        bail!("{}: no such file or folder", path.display());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot list {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{}: the folder holds no files", path.display());
    }
    Ok(files)
}

fn read_slice(path: &Path) -> Result<Slice> {
    let name = path.display();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
    super::dicom_lengths::check_lengths(&bytes).with_context(|| format!("{name}: not a readable DICOM file"))?;
    let obj = open_file(path).with_context(|| format!("{name}: not a readable DICOM file (truncated, corrupt or not DICOM)"))?;
    let frames = int_or(&obj, tags::NUMBER_OF_FRAMES, 1).with_context(|| name.to_string())?;
    if frames != 1 {
        bail!("{name}: a multi-frame image ({frames} frames); only one slice per file is read");
    }
    let samples = int_or(&obj, tags::SAMPLES_PER_PIXEL, 1).with_context(|| name.to_string())?;
    if samples != 1 {
        bail!("{name}: {samples} samples per pixel (colour); only grey-scale CT / MR slices are read");
    }
    let rows = int_or(&obj, tags::ROWS, 0).with_context(|| name.to_string())?;
    let cols = int_or(&obj, tags::COLUMNS, 0).with_context(|| name.to_string())?;
    if !(1..=MAX_SIDE).contains(&rows) || !(1..=MAX_SIDE).contains(&cols) {
        bail!("{name}: a slice of {rows} x {cols} pixels (sides of 1 to {MAX_SIDE} are read)");
    }
    let bits = int_or(&obj, tags::BITS_ALLOCATED, 0).with_context(|| name.to_string())?;
    if ![8, 16, 32].contains(&bits) {
        bail!("{name}: BitsAllocated {bits} (8, 16 or 32 are read)");
    }
    let Some(pixels) = obj.element_opt(tags::PIXEL_DATA)? else { bail!("{name}: no pixel data") };
    // Native (not encapsulated) pixel data must hold every pixel the header declares.
    if let Value::Primitive(p) = pixels.value() {
        let need = (rows * cols * bits / 8) as usize;
        if p.calculate_byte_len() < need {
            bail!("{name}: the pixel data holds {} bytes, {rows} x {cols} pixels of {bits} bits need {need} (cut short?)", p.calculate_byte_len());
        }
    }
    let (rows, cols) = (rows as usize, cols as usize);
    let pixel_spacing: [f64; 2] = floats(&obj, tags::PIXEL_SPACING, &name)?;
    if pixel_spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        bail!("{name}: PixelSpacing must be positive, got {pixel_spacing:?}");
    }
    let orientation: [f64; 6] = floats(&obj, tags::IMAGE_ORIENTATION_PATIENT, &name)?;
    let position: [f64; 3] = floats(&obj, tags::IMAGE_POSITION_PATIENT, &name)?;
    let series =
        obj.element_opt(tags::SERIES_INSTANCE_UID)?.map(|e| e.to_str().map(|s| s.trim_end_matches('\0').trim().to_string())).transpose()?.unwrap_or_default();
    let thickness = obj.element_opt(tags::SLICE_THICKNESS)?.and_then(|e| e.to_float64().ok()).filter(|t| t.is_finite() && *t > 0.0);
    let decoded =
        obj.decode_pixel_data().with_context(|| format!("{name}: cannot decode the pixel data (compressed with a codec this build lacks, or cut short)"))?;
    // The modality LUT: stored values times RescaleSlope plus RescaleIntercept.
    let values: Vec<f32> = decoded.to_vec::<f32>().with_context(|| format!("{name}: cannot convert the pixel data"))?;
    if values.len() != rows * cols || rows == 0 || cols == 0 {
        bail!("{name}: {} pixel values for {rows} x {cols}", values.len());
    }
    Ok(Slice { path: path.to_path_buf(), series, rows, cols, pixel_spacing, orientation, position, thickness, values })
}

/// The items of a sequence; an error when it is missing or not a sequence.
pub(super) fn items(obj: &InMemDicomObject, tag: dicom_object::Tag) -> Result<&[InMemDicomObject]> {
    let e = obj.element_opt(tag)?.with_context(|| format!("sequence {tag} is missing"))?;
    e.items().with_context(|| format!("attribute {tag} is not a sequence"))
}

/// An integer attribute, or `default` when absent.
pub(super) fn int_or(obj: &InMemDicomObject, tag: dicom_object::Tag, default: i64) -> Result<i64> {
    match obj.element_opt(tag)? {
        Some(e) => e.to_int::<i64>().with_context(|| format!("attribute {tag} is not an integer")),
        None if default > 0 => Ok(default),
        None => bail!("attribute {tag} is missing"),
    }
}

/// A required multi-valued decimal attribute of exactly `N` values.
pub(super) fn floats<const N: usize>(obj: &InMemDicomObject, tag: dicom_object::Tag, name: &impl std::fmt::Display) -> Result<[f64; N]> {
    let Some(e) = obj.element_opt(tag)? else { bail!("{name}: attribute {tag} is missing (it places the slice in the world)") };
    let v = e.to_multi_float64().with_context(|| format!("{name}: attribute {tag} is not numeric"))?;
    v.clone().try_into().map_err(|_| anyhow::anyhow!("{name}: attribute {tag} has {} values, not {N}", v.len()))
}

/// Every slice must share the series, the size, the pixel spacing and the orientation.
fn check_consistent(slices: &[Slice]) -> Result<()> {
    let first = &slices[0];
    let series: std::collections::BTreeSet<&str> = slices.iter().map(|s| s.series.as_str()).collect();
    if series.len() > 1 {
        bail!("the files hold {} series ({:?}): put each series in a folder of its own", series.len(), series);
    }
    for s in &slices[1..] {
        let other = |what: &str| -> Result<()> { bail!("{}: {what} differs from {}'s", s.path.display(), first.path.display()) };
        if (s.rows, s.cols) != (first.rows, first.cols) {
            return other(&format!("the size ({} x {} against {} x {})", s.rows, s.cols, first.rows, first.cols));
        }
        if s.pixel_spacing.iter().zip(&first.pixel_spacing).any(|(a, b)| (a - b).abs() > 1e-4) {
            return other("the pixel spacing");
        }
        if s.orientation.iter().zip(&first.orientation).any(|(a, b)| (a - b).abs() > 1e-4) {
            return other("the orientation");
        }
    }
    Ok(())
}

/// Millimetres between consecutive slices (sorted along the normal): equal within 1% (or
/// 0.01 mm), never zero; for one slice its thickness (1 mm when unknown).
fn slice_gap(slices: &[Slice], along: &impl Fn(&Slice) -> f64) -> Result<f64> {
    if slices.len() == 1 {
        return Ok(slices[0].thickness.unwrap_or(1.0));
    }
    let gaps: Vec<f64> = slices.windows(2).map(|w| along(&w[1]) - along(&w[0])).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    for (w, g) in slices.windows(2).zip(&gaps) {
        if *g < 1e-3 {
            bail!("{} and {} lie at the same position along the slice normal", w[0].path.display(), w[1].path.display());
        }
    }
    let widest = (0..gaps.len()).max_by(|&a, &b| gaps[a].total_cmp(&gaps[b])).expect("two slices or more");
    let narrowest = (0..gaps.len()).min_by(|&a, &b| gaps[a].total_cmp(&gaps[b])).expect("two slices or more");
    if gaps[widest] - gaps[narrowest] > (0.01 * mean).max(0.01) {
        let pair = |i: usize| format!("{} and {}", slices[i].path.display(), slices[i + 1].path.display());
        bail!("uneven slice spacing: {} are {:.3} mm apart, {} {:.3} mm (a missing slice?)", pair(widest), gaps[widest], pair(narrowest), gaps[narrowest]);
    }
    Ok(mean)
}

/// The RAS+ affine of a stack of slices: `orientation` (row and column direction cosines,
/// LPS), `pixel_spacing` (between rows, between columns), `gap` between slices along the
/// normal, `position` of the first voxel (LPS).
pub(super) fn lps_affine(orientation: &[f64; 6], pixel_spacing: [f64; 2], gap: f64, position: [f64; 3]) -> Affine {
    let (row, col) = ([orientation[0], orientation[1], orientation[2]], [orientation[3], orientation[4], orientation[5]]);
    let normal = normal_of(orientation);
    // Columns: i runs along a row (column spacing), j down a column (row spacing), k along
    // the normal.
    let axes = [row.map(|v| v * pixel_spacing[1]), col.map(|v| v * pixel_spacing[0]), normal.map(|v| v * gap)];
    let mut m = [[0.0; 4]; 4];
    for r in 0..3 {
        // LPS to RAS: x and y change sign.
        let sign = if r < 2 { -1.0 } else { 1.0 };
        for (c, axis) in axes.iter().enumerate() {
            m[r][c] = sign * axis[r];
        }
        m[r][3] = sign * position[r];
    }
    m[3][3] = 1.0;
    Affine(m)
}

pub(super) fn normal_of(o: &[f64; 6]) -> [f64; 3] {
    let (r, c) = ([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
    [r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]]
}

pub(super) fn dot(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
