//! NIfTI-1 volumes (`.nii`, `.nii.gz`) through the `nifti` crate, placed in the world by
//! the header's rules: the sform when its code is set, else the qform (quaternion, offsets,
//! `pixdim` and `qfac`), else `pixdim` alone (NIfTI's "method 1", as nibabel does).
use crate::volume::{Affine, Volume};
use anyhow::{bail, Context, Result};
use nifti::{NiftiHeader, NiftiType};
use std::io::Read;
use std::path::Path;
use tch::Tensor;

/// Bytes before the voxels of a single-file NIfTI-1 without extensions (header + 4).
const MIN_VOX_OFFSET: usize = 352;

/// Reads a single-file NIfTI-1 volume (`.nii`, or gzipped `.nii.gz`) into `[Z, Y, X]`
/// floats with `scl_slope` / `scl_inter` applied (a slope of 0 or NaN means none, as the
/// standard says). A 4-D file is accepted when its extra dimensions have length 1. Errors
/// name the file: missing, truncated or corrupt, unsupported data type, a series of several
/// volumes, spacings that are zero, negative or not finite, NaN voxels.
///
/// A `vox_offset` below 352 is invalid in a single file; such files exist (some atlases
/// keep label names between header and voxels with `vox_offset` 0), and the voxels are then
/// taken as the file's last bytes, as nibabel does.
pub fn read_nifti(path: &Path) -> Result<Volume> {
    if !path.is_file() {
        bail!("{}: no such file", path.display());
    }
    let bytes = file_bytes(path)?;
    let mut header = NiftiHeader::from_reader(bytes.as_slice()).with_context(|| format!("{}: not a readable NIfTI-1 header", path.display()))?;
    if &header.magic != b"n+1\0" {
        bail!("{}: not a single-file NIfTI-1 (magic {:?}); header / image pairs are not read", path.display(), String::from_utf8_lossy(&header.magic));
    }
    let dims = grid_dims(&header).with_context(|| path.display().to_string())?;
    let affine = affine(&header).with_context(|| path.display().to_string())?;
    if !header.scl_slope.is_finite() || header.scl_slope == 0.0 {
        (header.scl_slope, header.scl_inter) = (0.0, 0.0);
    }
    let datatype = scalar_type(&header).with_context(|| path.display().to_string())?;
    let voxel_bytes = dims.iter().product::<i64>() as usize * datatype.size_of();
    let declared = header.vox_offset as usize;
    let offset = if declared >= MIN_VOX_OFFSET { declared } else { bytes.len().saturating_sub(voxel_bytes).max(MIN_VOX_OFFSET) };
    // A corrupt vox_offset can be near the largest usize: the end is checked, not assumed.
    let Some(end) = offset.checked_add(voxel_bytes).filter(|&end| end <= bytes.len()) else {
        bail!("{}: truncated: the voxels need {} bytes from byte {offset}, the file has {}", path.display(), voxel_bytes, bytes.len());
    };
    let n: usize = dims.iter().product::<i64>() as usize;
    let values = decode_voxels(&bytes[offset..end], datatype, header.endianness == nifti::Endianness::Little, header.scl_slope, header.scl_inter);
    if values.len() != n {
        bail!("{}: the header declares {n} voxels, the file holds {}", path.display(), values.len());
    }
    // The file is x-fastest: the row-major order of a [z, y, x] tensor.
    let data = Tensor::from_slice(&values).view([dims[2], dims[1], dims[0]]);
    Volume::new(data, affine, path)
}

/// The file's bytes, gunzipped when it is gzip.
fn file_bytes(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .with_context(|| format!("{}: corrupt or truncated gzip data", path.display()))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Voxels of type `t` from `raw` (whole voxels; the file's byte order), scaled by
/// `slope` and `inter` unless the slope is 0 (none), as floats. Decoded here rather than
/// through the `nifti` crate's arrays: one pass, no intermediate copies.
fn decode_voxels(raw: &[u8], t: NiftiType, little: bool, slope: f32, inter: f32) -> Vec<f32> {
    macro_rules! decode {
        ($ty:ty) => {{
            const N: usize = std::mem::size_of::<$ty>();
            raw.chunks_exact(N)
                .map(|c| {
                    let b: [u8; N] = c.try_into().unwrap_or([0; N]);
                    (if little { <$ty>::from_le_bytes(b) } else { <$ty>::from_be_bytes(b) }) as f64
                })
                .map(|v| if slope == 0.0 { v as f32 } else { (v * f64::from(slope) + f64::from(inter)) as f32 })
                .collect()
        }};
    }
    use NiftiType::*;
    match t {
        Uint8 => decode!(u8),
        Int8 => decode!(i8),
        Uint16 => decode!(u16),
        Int16 => decode!(i16),
        Uint32 => decode!(u32),
        Int32 => decode!(i32),
        Uint64 => decode!(u64),
        Int64 => decode!(i64),
        Float32 => decode!(f32),
        Float64 => decode!(f64),
        // scalar_type admits only the types above.
        _ => Vec::new(),
    }
}

/// The voxel type, when it is a real scalar whose size agrees with `bitpix` (the decoder
/// sizes its buffer by one and reads by the other).
fn scalar_type(h: &NiftiHeader) -> Result<NiftiType> {
    use NiftiType::*;
    let t = h.data_type().map_err(|_| anyhow::anyhow!("datatype {} is not a NIfTI-1 data type", h.datatype))?;
    if !matches!(t, Uint8 | Int8 | Uint16 | Int16 | Uint32 | Int32 | Uint64 | Int64 | Float32 | Float64) {
        bail!("datatype {t:?} is not a real scalar type (complex, RGB and 128-bit voxels are not read)");
    }
    if i64::from(h.bitpix) != 8 * t.size_of() as i64 {
        bail!("bitpix {} does not match datatype {t:?} ({} bits)", h.bitpix, 8 * t.size_of());
    }
    Ok(t)
}

/// (X, Y, Z) from `dim`, with any fourth and later dimensions of length 1.
fn grid_dims(h: &NiftiHeader) -> Result<[i64; 3]> {
    let rank = h.dim[0] as usize;
    if !(1..=7).contains(&rank) {
        bail!("dim[0] = {} is not a NIfTI rank (1 to 7)", h.dim[0]);
    }
    let d = |a: usize| if a <= rank { i64::from(h.dim[a]) } else { 1 };
    if let Some(a) = (4..=rank).find(|&a| h.dim[a] > 1) {
        bail!("a series of {} volumes along dimension {a}: only single volumes are read", h.dim[a]);
    }
    let dims = [d(1), d(2), d(3)];
    if dims.contains(&0) {
        bail!("an empty grid: dim = {:?}", &h.dim[..=rank]);
    }
    Ok(dims)
}

/// The voxel-to-world matrix by NIfTI's precedence (sform, qform, pixdim).
pub fn affine(h: &NiftiHeader) -> Result<Affine> {
    if h.sform_code > 0 {
        let rows = [h.srow_x, h.srow_y, h.srow_z];
        let mut m = [[0.0; 4]; 4];
        for (r, row) in rows.iter().enumerate() {
            for c in 0..4 {
                m[r][c] = f64::from(row[c]);
            }
        }
        m[3][3] = 1.0;
        return Ok(Affine(m));
    }
    let spacing = [h.pixdim[1], h.pixdim[2], h.pixdim[3]].map(f64::from);
    if spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        bail!("voxel spacing (pixdim[1..4]) must be positive, got {spacing:?}");
    }
    if h.qform_code <= 0 {
        return Ok(Affine::scaling(spacing));
    }
    // qfac flips the third axis; 0 is read as 1 (as the standard allows).
    let qfac = match h.pixdim[0] {
        -1.0 => -1.0,
        q if q == 0.0 || q == 1.0 => 1.0,
        q => bail!("qfac (pixdim[0]) must be 1 or -1, got {q}"),
    };
    let (b, c, d) = (f64::from(h.quatern_b), f64::from(h.quatern_c), f64::from(h.quatern_d));
    let a2 = 1.0 - (b * b + c * c + d * d);
    // Rounding can push a2 slightly below 0 for a 180-degree rotation: a = 0 then.
    let a = if a2 < 1e-7 { 0.0 } else { a2.sqrt() };
    let rot = [
        [a * a + b * b - c * c - d * d, 2.0 * (b * c - a * d), 2.0 * (b * d + a * c)],
        [2.0 * (b * c + a * d), a * a + c * c - b * b - d * d, 2.0 * (c * d - a * b)],
        [2.0 * (b * d - a * c), 2.0 * (c * d + a * b), a * a + d * d - c * c - b * b],
    ];
    let scale = [spacing[0], spacing[1], spacing[2] * qfac];
    let offset = [h.quatern_x, h.quatern_y, h.quatern_z].map(f64::from);
    let mut m = [[0.0; 4]; 4];
    for r in 0..3 {
        for col in 0..3 {
            m[r][col] = rot[r][col] * scale[col];
        }
        m[r][3] = offset[r];
    }
    m[3][3] = 1.0;
    Ok(Affine(m))
}

/// How voxels are stored by [`write_nifti`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoxelType {
    /// 32-bit floats (intensities).
    Float32,
    /// 16-bit signed integers, values rounded (label maps, Hounsfield units).
    Int16,
}

/// Writes `volume` as a single-file NIfTI-1 (`.nii`, or gzipped when the name ends in
/// `.gz`), placed by an sform (code 1, scanner) holding its affine, with `pixdim` set to its
/// spacing and units of millimetres. The file appears only when complete (written beside
/// it, then renamed), so an existing file is never left half overwritten. `Int16` refuses
/// values outside its range rather than clipping them.
pub fn write_nifti(volume: &Volume, path: &Path, voxels: VoxelType) -> Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let gz = name.ends_with(".nii.gz");
    if !(gz || name.ends_with(".nii")) {
        bail!("{}: a NIfTI file name ends in .nii or .nii.gz", path.display());
    }
    let [z, y, x] = volume.shape();
    let m = &volume.affine.0;
    let spacing = volume.spacing();
    let row = |r: usize| [m[r][0], m[r][1], m[r][2], m[r][3]].map(|v| v as f32);
    let header = NiftiHeader {
        pixdim: [1.0, spacing[0] as f32, spacing[1] as f32, spacing[2] as f32, 1.0, 1.0, 1.0, 1.0],
        xyzt_units: 2,
        sform_code: 1,
        qform_code: 0,
        srow_x: row(0),
        srow_y: row(1),
        srow_z: row(2),
        ..NiftiHeader::default()
    };
    let flat = volume.data.to_device(tch::Device::Cpu).to_kind(tch::Kind::Float).contiguous().view([-1]);
    let values = Vec::<f32>::try_from(&flat).with_context(|| format!("{}: cannot copy the voxels", path.display()))?;
    let shape = [z as usize, y as usize, x as usize];
    // The writer rebuilds the name from the part before the last extension, so the partial
    // file's stem must hold no other dot.
    let extension = if gz { ".nii.gz" } else { ".nii" };
    let stem = name.trim_end_matches(extension).replace('.', "_");
    let partial = path.with_file_name(format!("partial-{stem}{extension}"));
    let written = (|| -> Result<()> {
        let options = nifti::writer::WriterOptions::new(&partial).reference_header(&header);
        // The writer stores the array's first axis fastest: hand it [X, Y, Z].
        match voxels {
            VoxelType::Float32 => {
                let array = ndarray::Array3::from_shape_vec(shape, values)?.reversed_axes();
                options.write_nifti(&array)?;
            }
            VoxelType::Int16 => {
                if let Some(v) = values.iter().find(|v| !(f32::from(i16::MIN)..=f32::from(i16::MAX)).contains(&v.round())) {
                    bail!("a value ({v}) lies outside the 16-bit range");
                }
                let ints: Vec<i16> = values.iter().map(|v| v.round() as i16).collect();
                let array = ndarray::Array3::from_shape_vec(shape, ints)?.reversed_axes();
                options.write_nifti(&array)?;
            }
        }
        std::fs::rename(&partial, path)?;
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written.with_context(|| format!("cannot write {}", path.display()))
}
