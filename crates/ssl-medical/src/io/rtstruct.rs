//! DICOM RT Structure Sets: structures drawn as closed planar contours in patient
//! millimetres, turned into masks by filling the contours on a voxel grid (the grid of
//! the image they were drawn on, or one built around them). A voxel belongs to a
//! structure when its centre lies inside the contours of the nearest contour plane by the
//! even-odd rule, so a contour inside another (a hole) is cut out, as in the planning
//! systems that write these files.
use super::dicom::{int_or, items};
use crate::volume::{Affine, Volume};
use anyhow::{bail, Context, Result};
use dicom_dictionary_std::tags;
use dicom_object::{open_file, InMemDicomObject};
use std::path::{Path, PathBuf};
use tch::Tensor;

/// The SOP class of RT Structure Set Storage.
pub const RT_STRUCTURE_SET_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.481.3";

/// Contour planes closer than this (millimetres) are one plane.
const SAME_PLANE_MM: f64 = 0.01;
/// The most voxels a built grid may have.
const MAX_GRID_VOXELS: f64 = 2e8;

/// One structure (a region of interest) of a structure set.
#[derive(Debug, Clone)]
pub struct Structure {
    /// The ROI number the file gives it.
    pub number: i64,
    /// Its name (`ROIName`).
    pub name: String,
    /// Closed planar contours, each a polygon of points in RAS+ millimetres.
    pub contours: Vec<Vec<[f64; 3]>>,
    /// Contours of other kinds (points, open lines), which enclose nothing and are not filled.
    pub other_contours: usize,
}

/// An RT structure set read from one file.
#[derive(Debug, Clone)]
pub struct StructureSet {
    /// The structures, in the file's order.
    pub structures: Vec<Structure>,
    /// The file it was read from (for messages).
    pub source: PathBuf,
}

/// Reads an RT Structure Set file: the structures' names and their contours, converted
/// from DICOM's LPS to RAS+. Files without the 128-byte preamble and meta group (as some
/// older planning systems write them) are read as implicit VR little endian. Errors name the
/// file: not DICOM, not a structure set, contour data that is not whole points or not as
/// many as declared, non-finite coordinates.
pub fn read_rtstruct(path: &Path) -> Result<StructureSet> {
    let name = path.display();
    if !path.is_file() {
        bail!("{name}: no such file");
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
    let obj = read_object(path, &bytes)?;
    let sop = obj.element_opt(tags::SOP_CLASS_UID)?.map(|e| e.to_str().map(|s| s.trim_end_matches('\0').trim().to_string())).transpose()?.unwrap_or_default();
    let modality = obj.element_opt(tags::MODALITY)?.map(|e| e.to_str().map(|s| s.trim().to_string())).transpose()?.unwrap_or_default();
    if sop != RT_STRUCTURE_SET_STORAGE && modality != "RTSTRUCT" {
        bail!("{name}: not an RT Structure Set (SOP class {sop:?}, modality {modality:?})");
    }
    let mut structures = Vec::new();
    for roi in items(&obj, tags::STRUCTURE_SET_ROI_SEQUENCE).with_context(|| format!("{name}: no structure list"))? {
        let number = int_or(roi, tags::ROI_NUMBER, -1).with_context(|| name.to_string())?;
        let label = roi.element_opt(tags::ROI_NAME)?.map(|e| e.to_str().map(|s| s.trim().to_string())).transpose()?.unwrap_or_default();
        structures.push(Structure { number, name: label, contours: Vec::new(), other_contours: 0 });
    }
    for roi in items(&obj, tags::ROI_CONTOUR_SEQUENCE).unwrap_or_default() {
        let number = int_or(roi, tags::REFERENCED_ROI_NUMBER, -1).with_context(|| name.to_string())?;
        let Some(structure) = structures.iter_mut().find(|s| s.number == number) else {
            bail!("{name}: contours for ROI {number}, which the structure list does not name");
        };
        for (c, contour) in items(roi, tags::CONTOUR_SEQUENCE).unwrap_or_default().iter().enumerate() {
            let place = || format!("{name}: structure {:?}, contour {}", structure.name, c + 1);
            let kind = contour.element_opt(tags::CONTOUR_GEOMETRIC_TYPE)?.map(|e| e.to_str().map(|s| s.trim().to_string())).transpose()?.unwrap_or_default();
            let values = match contour.element_opt(tags::CONTOUR_DATA)? {
                Some(e) => e.to_multi_float64().with_context(|| format!("{}: contour data is not numbers", place()))?,
                None => Vec::new(),
            };
            if values.len() % 3 != 0 {
                bail!("{}: {} contour values are not whole (x, y, z) points", place(), values.len());
            }
            let declared = int_or(contour, tags::NUMBER_OF_CONTOUR_POINTS, (values.len() / 3) as i64).with_context(place)?;
            if declared != (values.len() / 3) as i64 {
                bail!("{}: {declared} points declared, {} given (cut short?)", place(), values.len() / 3);
            }
            if values.iter().any(|v| !v.is_finite()) {
                bail!("{}: a coordinate is NaN or infinite", place());
            }
            if kind != "CLOSED_PLANAR" || values.len() < 9 {
                structure.other_contours += 1;
                continue;
            }
            // LPS to RAS: x and y change sign.
            structure.contours.push(values.chunks_exact(3).map(|p| [-p[0], -p[1], p[2]]).collect());
        }
    }
    Ok(StructureSet { structures, source: path.to_path_buf() })
}

impl StructureSet {
    /// The structure called `name` (as the file spells it, case ignored).
    pub fn structure(&self, name: &str) -> Result<&Structure> {
        self.structures.iter().find(|s| s.name.eq_ignore_ascii_case(name)).with_context(|| {
            let names: Vec<&str> = self.structures.iter().map(|s| s.name.as_str()).collect();
            format!("{}: no structure {name:?} (it has {names:?})", self.source.display())
        })
    }

    /// A label map on `grid`'s voxels: voxels of `names[0]` hold 1, of `names[1]` 2, and
    /// so on; where structures overlap, the later name wins. Errors name the file: an
    /// unknown structure, contours not parallel to the grid's slices, a structure with no
    /// contour plane on the grid.
    pub fn label_map(&self, grid: &Volume, names: &[&str]) -> Result<Volume> {
        let [nz, ny, nx] = grid.shape();
        let mut labels = vec![0f32; (nz * ny * nx) as usize];
        for (l, name) in names.iter().enumerate() {
            let mask = self.fill(self.structure(name)?, &grid.affine, [nz, ny, nx])?;
            for (v, inside) in labels.iter_mut().zip(mask) {
                if inside {
                    *v = (l + 1) as f32;
                }
            }
        }
        Volume::new(Tensor::from_slice(&labels).view([nz, ny, nx]), grid.affine, &self.source)
    }

    /// An empty axial grid (RAS, `pixel` millimetres in plane) around the closed contours of
    /// `names` (all structures when empty) with `margin` millimetres each side, its slices on
    /// the contour planes (spacing the smallest gap between planes): the grid to fill when
    /// the image the contours were drawn on is not at hand.
    pub fn grid_around(&self, names: &[&str], pixel: f64, margin: f64) -> Result<Volume> {
        let source = self.source.display();
        if !(pixel.is_finite() && pixel > 0.0 && margin.is_finite() && margin >= 0.0) {
            bail!("{source}: a grid needs a positive pixel size and a margin of 0 or more, got {pixel} and {margin}");
        }
        let chosen: Vec<&Structure> =
            if names.is_empty() { self.structures.iter().collect() } else { names.iter().map(|n| self.structure(n)).collect::<Result<_>>()? };
        let points: Vec<[f64; 3]> = chosen.iter().flat_map(|s| s.contours.iter().flatten().copied()).collect();
        if points.is_empty() {
            bail!("{source}: the structures {:?} have no closed contours", chosen.iter().map(|s| &s.name).collect::<Vec<_>>());
        }
        let mut planes: Vec<f64> = chosen.iter().flat_map(|s| s.contours.iter().map(|c| c[0][2])).collect();
        planes.sort_by(f64::total_cmp);
        planes.dedup_by(|a, b| (*a - *b).abs() < SAME_PLANE_MM);
        let gap = planes.windows(2).map(|w| w[1] - w[0]).min_by(f64::total_cmp).unwrap_or(pixel);
        let low = |a: usize| points.iter().map(|p| p[a]).fold(f64::INFINITY, f64::min) - margin;
        let high = |a: usize| points.iter().map(|p| p[a]).fold(f64::NEG_INFINITY, f64::max) + margin;
        let nx = ((high(0) - low(0)) / pixel).floor() as i64 + 1;
        let ny = ((high(1) - low(1)) / pixel).floor() as i64 + 1;
        let nz = ((planes[planes.len() - 1] - planes[0]) / gap).round() as i64 + 1;
        if (nx * ny * nz) as f64 > MAX_GRID_VOXELS {
            bail!("{source}: a grid of {nx} x {ny} x {nz} voxels at {pixel} mm is too large; choose a larger pixel size");
        }
        let mut affine = Affine::scaling([pixel, pixel, gap]);
        affine.0[0][3] = low(0);
        affine.0[1][3] = low(1);
        affine.0[2][3] = planes[0];
        Volume::new(Tensor::zeros([nz, ny, nx], (tch::Kind::Float, tch::Device::Cpu)), affine, &self.source)
    }

    /// Which voxels of a grid (`affine`, shape `[Z, Y, X]`) lie inside `structure`.
    fn fill(&self, structure: &Structure, affine: &Affine, [nz, ny, nx]: [i64; 3]) -> Result<Vec<bool>> {
        let source = self.source.display();
        if structure.contours.is_empty() {
            bail!("{source}: structure {:?} has no closed contours ({} of other kinds), so no voxels to fill", structure.name, structure.other_contours);
        }
        let to_voxel = affine.inverse().with_context(|| format!("{source}: the grid's matrix is singular"))?;
        // Each contour in voxel coordinates, with the (fractional) slice it lies on.
        let mut by_plane: Vec<(f64, Vec<Vec<[f64; 2]>>)> = Vec::new();
        for (c, contour) in structure.contours.iter().enumerate() {
            let voxels: Vec<[f64; 3]> = contour.iter().map(|p| to_voxel.apply(*p)).collect();
            let (kmin, kmax) = voxels.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v[2]), b.max(v[2])));
            if kmax - kmin > 0.1 {
                bail!("{source}: structure {:?}, contour {}: not parallel to the grid's slices (it spans {:.2} slices)", structure.name, c + 1, kmax - kmin);
            }
            let k = (kmin + kmax) / 2.0;
            let polygon = voxels.iter().map(|v| [v[0], v[1]]).collect();
            match by_plane.iter_mut().find(|(pk, _)| (pk - k).abs() * affine.spacing()[2] < SAME_PLANE_MM) {
                Some((_, polygons)) => polygons.push(polygon),
                None => by_plane.push((k, vec![polygon])),
            }
        }
        let mut mask = vec![false; (nz * ny * nx) as usize];
        let mut filled_planes = 0;
        for z in 0..nz {
            // The contour plane nearest this slice, within half a slice.
            let nearest = by_plane.iter().filter(|(k, _)| (k - z as f64).abs() <= 0.5).min_by(|a, b| (a.0 - z as f64).abs().total_cmp(&(b.0 - z as f64).abs()));
            let Some((_, polygons)) = nearest else { continue };
            filled_planes += 1;
            let slice = &mut mask[(z * ny * nx) as usize..((z + 1) * ny * nx) as usize];
            fill_even_odd(polygons, slice, ny, nx);
        }
        if filled_planes == 0 {
            bail!("{source}: structure {:?}: none of its {} contour planes lies on the grid", structure.name, by_plane.len());
        }
        Ok(mask)
    }
}

/// Sets the pixels of one slice (`ny` rows of `nx`) whose centres lie inside `polygons`
/// (voxel coordinates i, j) by the even-odd rule: a scan line per row, crossings sorted,
/// pixels between the first and second crossing, the third and fourth, and so on.
fn fill_even_odd(polygons: &[Vec<[f64; 2]>], slice: &mut [bool], ny: i64, nx: i64) {
    let mut crossings = Vec::new();
    for j in 0..ny {
        let y = j as f64;
        crossings.clear();
        for polygon in polygons {
            for (a, b) in polygon.iter().zip(polygon.iter().cycle().skip(1)) {
                // Half-open in y, so a vertex on the line counts once.
                if (a[1] <= y) != (b[1] <= y) {
                    crossings.push(a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]));
                }
            }
        }
        crossings.sort_by(f64::total_cmp);
        for pair in crossings.chunks_exact(2) {
            let from = pair[0].ceil().max(0.0) as i64;
            let to = (pair[1].ceil() as i64).min(nx);
            for i in from..to {
                slice[(j * nx + i) as usize] = true;
            }
        }
    }
}

/// Reads the data set: a DICOM file with its meta group, or a bare implicit VR little endian
/// data set.
fn read_object(path: &Path, bytes: &[u8]) -> Result<InMemDicomObject> {
    let name = path.display();
    let has_meta = bytes.len() >= 132 && &bytes[128..132] == b"DICM";
    if has_meta {
        super::dicom_lengths::check_lengths(bytes).with_context(|| format!("{name}: not a readable DICOM file"))?;
        return Ok(open_file(path).with_context(|| format!("{name}: not a readable DICOM file (truncated, corrupt or not DICOM)"))?.into_inner());
    }
    super::dicom_lengths::check_bare_lengths(bytes).with_context(|| format!("{name}: not a readable DICOM file"))?;
    let implicit = dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased();
    InMemDicomObject::read_dataset_with_ts(bytes, &implicit)
        .with_context(|| format!("{name}: not a readable DICOM file (no DICOM header, and not a bare data set either)"))
}
