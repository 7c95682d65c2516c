//! DICOM Segmentation objects (SEG, multi-frame): each frame is one segment's mask on one
//! plane, placed by the functional groups (orientation and pixel spacing shared or per
//! frame, a position per frame) and tied to its segment by number. Read into one label map
//! (the segment numbers) on the grid the frames span, in RAS+ like every other volume.
use super::dicom::{dot, floats, int_or, items, lps_affine, normal_of};
use crate::volume::Volume;
use anyhow::{bail, Context, Result};
use dicom_dictionary_std::tags;
use dicom_object::{open_file, InMemDicomObject, Tag};
use std::path::Path;
use tch::Tensor;

/// The SOP class of DICOM Segmentation Storage.
pub const SEGMENTATION_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.66.4";

/// The largest frame side and count read (corruption beyond).
const MAX_SIDE: i64 = 8192;
const MAX_FRAMES: i64 = 65_536;

/// A segmentation read from a SEG file.
#[derive(Debug)]
pub struct Segmentation {
    /// Segment numbers and labels, in the file's order.
    pub segments: Vec<(i64, String)>,
    /// The label map: each voxel holds the number of its segment (0 none; where segments
    /// overlap, the higher number).
    pub labels: Volume,
}

/// Reads a DICOM SEG file (BINARY or FRACTIONAL; fractional masks are thresholded at half
/// their maximum). Frames are stacked along the plane normal; planes the file skips (empty
/// frames may be left out) are empty, and frame positions must fall on one even spacing.
/// Errors name the file: not a SEG, missing functional groups, frames referencing unknown
/// segments, uneven positions, pixel data shorter than the frames need.
pub fn read_dicom_seg(path: &Path) -> Result<Segmentation> {
    let name = path.display();
    if !path.is_file() {
        bail!("{name}: no such file");
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
    super::dicom_lengths::check_lengths(&bytes).with_context(|| format!("{name}: not a readable DICOM file"))?;
    let obj = open_file(path).with_context(|| format!("{name}: not a readable DICOM file (truncated, corrupt or not DICOM)"))?;
    let sop = obj.element_opt(tags::SOP_CLASS_UID)?.map(|e| e.to_str().map(|s| s.trim_end_matches('\0').trim().to_string())).transpose()?.unwrap_or_default();
    if sop != SEGMENTATION_STORAGE {
        bail!("{name}: not a DICOM Segmentation (SOP class {sop:?})");
    }
    let rows = int_or(&obj, tags::ROWS, 0).with_context(|| name.to_string())?;
    let cols = int_or(&obj, tags::COLUMNS, 0).with_context(|| name.to_string())?;
    let frames = int_or(&obj, tags::NUMBER_OF_FRAMES, 1).with_context(|| name.to_string())?;
    if !(1..=MAX_SIDE).contains(&rows) || !(1..=MAX_SIDE).contains(&cols) || !(1..=MAX_FRAMES).contains(&frames) {
        bail!("{name}: {frames} frames of {rows} x {cols} pixels (sides of 1 to {MAX_SIDE}, up to {MAX_FRAMES} frames are read)");
    }
    let bits = int_or(&obj, tags::BITS_ALLOCATED, 0).with_context(|| name.to_string())?;
    let kind = obj.element_opt(tags::SEGMENTATION_TYPE)?.map(|e| e.to_str().map(|s| s.trim().to_string())).transpose()?.unwrap_or_default();
    let threshold = match (kind.as_str(), bits) {
        ("BINARY", 1) => 1.0,
        ("FRACTIONAL", 8) => (int_or(&obj, tags::MAXIMUM_FRACTIONAL_VALUE, 255).with_context(|| name.to_string())? as f64 / 2.0).max(1.0),
        _ => bail!("{name}: segmentation type {kind:?} with {bits} bits allocated (BINARY with 1 bit, FRACTIONAL with 8 are read)"),
    };

    let segments = items(&obj, tags::SEGMENT_SEQUENCE)
        .with_context(|| name.to_string())?
        .iter()
        .map(|s| {
            let number = int_or(s, tags::SEGMENT_NUMBER, 0)?;
            let label = s.element_opt(tags::SEGMENT_LABEL)?.map(|e| e.to_str().map(|v| v.trim().to_string())).transpose()?.unwrap_or_default();
            Ok((number, label))
        })
        .collect::<Result<Vec<_>>>()
        .with_context(|| format!("{name}: a segment without a number"))?;

    // Functional groups: shared ones, and one item per frame.
    let shared = items(&obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE).ok().and_then(|s| s.first().cloned());
    let per_frame = items(&obj, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE).with_context(|| name.to_string())?;
    if per_frame.len() as i64 != frames {
        bail!("{name}: {} per-frame functional groups for {frames} frames", per_frame.len());
    }
    // A macro from the frame's groups, else the shared ones.
    let group = |frame: &InMemDicomObject, seq: Tag| -> Result<InMemDicomObject> {
        let found = items(frame, seq).ok().and_then(|i| i.first().cloned());
        let found = found.or_else(|| shared.as_ref().and_then(|s| items(s, seq).ok().and_then(|i| i.first().cloned())));
        found.with_context(|| format!("{name}: functional group {seq} is missing"))
    };
    let first = &per_frame[0];
    let orientation: [f64; 6] = floats(&group(first, tags::PLANE_ORIENTATION_SEQUENCE)?, tags::IMAGE_ORIENTATION_PATIENT, &name)?;
    let measures = group(first, tags::PIXEL_MEASURES_SEQUENCE)?;
    let pixel_spacing: [f64; 2] = floats(&measures, tags::PIXEL_SPACING, &name)?;
    if pixel_spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        bail!("{name}: PixelSpacing must be positive, got {pixel_spacing:?}");
    }
    let declared_gap = measures.element_opt(tags::SPACING_BETWEEN_SLICES)?.and_then(|e| e.to_float64().ok()).filter(|g| g.is_finite() && *g > 0.0);
    let normal = normal_of(&orientation);
    let mut placed = Vec::with_capacity(per_frame.len());
    for (f, frame) in per_frame.iter().enumerate() {
        let position: [f64; 3] = floats(&group(frame, tags::PLANE_POSITION_SEQUENCE)?, tags::IMAGE_POSITION_PATIENT, &name)?;
        let segment = int_or(&group(frame, tags::SEGMENT_IDENTIFICATION_SEQUENCE)?, tags::REFERENCED_SEGMENT_NUMBER, 0)
            .with_context(|| format!("{name}: frame {}", f + 1))?;
        if !segments.iter().any(|s| s.0 == segment) {
            bail!("{name}: frame {} belongs to segment {segment}, which the segment sequence does not list", f + 1);
        }
        placed.push((dot(&position, &normal), position, segment));
    }

    // Planes: the distinct positions along the normal, on one even spacing.
    let mut along: Vec<f64> = placed.iter().map(|p| p.0).collect();
    along.sort_by(f64::total_cmp);
    along.dedup_by(|a, b| (*a - *b).abs() < 1e-3);
    let gap = declared_gap.or_else(|| along.windows(2).map(|w| w[1] - w[0]).min_by(f64::total_cmp)).unwrap_or(1.0);
    let plane_of = |d: f64| -> Result<i64> {
        let k = (d - along[0]) / gap;
        if (k - k.round()).abs() > 0.05 {
            bail!("{name}: a frame lies {:.3} mm along the normal, off the {gap:.3} mm spacing of the others", d - along[0]);
        }
        Ok(k.round() as i64)
    };
    let depth = plane_of(*along.last().unwrap_or(&along[0]))? + 1;
    if depth > MAX_FRAMES {
        bail!("{name}: the frames span {depth} planes");
    }

    // Pixel data: frames one after another; 1-bit data packed, least significant bit first.
    let Some(pixels) = obj.element_opt(tags::PIXEL_DATA)? else { bail!("{name}: no pixel data") };
    let data = pixels.to_bytes().with_context(|| format!("{name}: the pixel data is encapsulated (compressed); only native SEG pixel data is read"))?;
    let per_frame_pixels = (rows * cols) as usize;
    let need_bits = per_frame_pixels * frames as usize * bits as usize;
    if data.len() * 8 < need_bits {
        bail!(
            "{name}: the pixel data holds {} bytes, {frames} frames of {rows} x {cols} at {bits} bits need {} (cut short?)",
            data.len(),
            need_bits.div_ceil(8)
        );
    }
    let mut labels = vec![0f32; depth as usize * per_frame_pixels];
    let ((_, first_position, _), mut lowest) = (placed[0], placed[0].0);
    let mut origin = first_position;
    for (f, (d, position, segment)) in placed.iter().enumerate() {
        if *d < lowest {
            (lowest, origin) = (*d, *position);
        }
        let plane = plane_of(*d)? as usize;
        let out = &mut labels[plane * per_frame_pixels..(plane + 1) * per_frame_pixels];
        for (p, value) in out.iter_mut().enumerate() {
            let index = f * per_frame_pixels + p;
            let v = if bits == 1 { f64::from((data[index / 8] >> (index % 8)) & 1) } else { f64::from(data[index]) };
            if v >= threshold && (*value as i64) < *segment {
                *value = *segment as f32;
            }
        }
    }
    let affine = lps_affine(&orientation, pixel_spacing, gap, origin);
    let volume = Volume::new(Tensor::from_slice(&labels).view([depth, rows, cols]), affine, path)?;
    Ok(Segmentation { segments, labels: volume })
}
