//! Volumes in: NIfTI files written here byte by byte (so every header rule is exercised),
//! real DICOM slices (pydicom's test files, values checked against pydicom), series built
//! from them, broken files of every kind; resampling, windows and normalisation.
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use ssl_medical::io::{read_dicom_series, read_nifti, read_volume, write_nifti, VoxelType};
use ssl_medical::preprocess::{normalise_percentiles, resample_to_spacing, Interpolation, Window};
use ssl_medical::volume::{Affine, Volume};
use std::io::Write;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dicom").join(name)
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ssl-medical-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The header fields a test sets (all others zero).
#[derive(Clone)]
struct Header {
    dim: Vec<i16>,
    datatype: i16,
    bitpix: i16,
    pixdim: [f32; 8],
    vox_offset: f32,
    slope: f32,
    inter: f32,
    qform_code: i16,
    sform_code: i16,
    quatern: [f32; 6],
    srow: [[f32; 4]; 3],
}

impl Header {
    /// A float32 grid of (x, y, z) voxels of 1 mm, nothing else set.
    fn float(x: i16, y: i16, z: i16) -> Self {
        Header {
            dim: vec![x, y, z],
            datatype: 16,
            bitpix: 32,
            pixdim: [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0],
            vox_offset: 352.0,
            slope: 1.0,
            inter: 0.0,
            qform_code: 0,
            sform_code: 0,
            quatern: [0.0; 6],
            srow: [[0.0; 4]; 3],
        }
    }

    /// The 348-byte NIfTI-1 header (little endian), the 4 extension bytes and `extra`.
    fn bytes(&self, extra: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 352];
        let put = |b: &mut Vec<u8>, at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
        put(&mut b, 0, &348i32.to_le_bytes());
        let mut dim = [0i16; 8];
        dim[0] = self.dim.len() as i16;
        for (d, v) in dim[1..].iter_mut().zip(&self.dim) {
            *d = *v;
        }
        for (i, d) in dim.iter().enumerate() {
            put(&mut b, 40 + 2 * i, &d.to_le_bytes());
        }
        put(&mut b, 70, &self.datatype.to_le_bytes());
        put(&mut b, 72, &self.bitpix.to_le_bytes());
        for (i, p) in self.pixdim.iter().enumerate() {
            put(&mut b, 76 + 4 * i, &p.to_le_bytes());
        }
        put(&mut b, 108, &self.vox_offset.to_le_bytes());
        put(&mut b, 112, &self.slope.to_le_bytes());
        put(&mut b, 116, &self.inter.to_le_bytes());
        put(&mut b, 252, &self.qform_code.to_le_bytes());
        put(&mut b, 254, &self.sform_code.to_le_bytes());
        for (i, q) in self.quatern.iter().enumerate() {
            put(&mut b, 256 + 4 * i, &q.to_le_bytes());
        }
        for (r, row) in self.srow.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                put(&mut b, 280 + 16 * r + 4 * c, &v.to_le_bytes());
            }
        }
        put(&mut b, 344, b"n+1\0");
        b.extend_from_slice(extra);
        b
    }
}

fn floats_le(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn write(path: &Path, bytes: &[u8]) -> PathBuf {
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

fn gz(path: &Path, bytes: &[u8]) -> PathBuf {
    let mut e = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap();
    path.to_path_buf()
}

fn assert_affine(a: &Affine, expected: [[f64; 4]; 3]) {
    for (r, row) in expected.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            assert!((a.0[r][c] - v).abs() < 1e-5, "affine[{r}][{c}] = {} (expected {v}); {:?}", a.0[r][c], a.0);
        }
    }
}

fn error_of(r: anyhow::Result<Volume>) -> String {
    format!("{:#}", r.expect_err("an error was expected"))
}

#[test]
fn nifti_voxels_land_in_z_y_x_order_and_the_header_rules_place_them() {
    let dir = tmp("nifti-rules");
    // 4 x 3 x 2 voxels, value = x + 10 y + 100 z, stored x fastest as the standard says.
    let values: Vec<f32> = (0..2).flat_map(|z| (0..3).flat_map(move |y| (0..4).map(move |x| (x + 10 * y + 100 * z) as f32))).collect();
    let mut h = Header::float(4, 3, 2);
    h.pixdim[1..4].copy_from_slice(&[2.0, 3.0, 4.0]);
    // pixdim only (method 1): a scaling, no offset.
    let v = read_nifti(&write(&dir.join("plain.nii"), &h.bytes(&floats_le(&values)))).unwrap();
    assert_eq!(v.shape(), [2, 3, 4]);
    assert_eq!(v.data.double_value(&[1, 2, 3]), 123.0);
    assert_eq!(v.spacing(), [2.0, 3.0, 4.0]);
    assert_affine(&v.affine, [[2.0, 0.0, 0.0, 0.0], [0.0, 3.0, 0.0, 0.0], [0.0, 0.0, 4.0, 0.0]]);
    // qform: 90 degrees about z (b = c = 0, d = sin 45), qfac -1 flips k, offsets.
    let mut q = h.clone();
    q.qform_code = 1;
    q.pixdim[0] = -1.0;
    q.quatern = [0.0, 0.0, std::f32::consts::FRAC_1_SQRT_2, 10.0, 20.0, 30.0];
    let v = read_nifti(&write(&dir.join("qform.nii"), &q.bytes(&floats_le(&values)))).unwrap();
    assert_affine(&v.affine, [[0.0, -3.0, 0.0, 10.0], [2.0, 0.0, 0.0, 20.0], [0.0, 0.0, -4.0, 30.0]]);
    assert_eq!(v.affine.orientation(), "ALI");
    let p = v.affine.apply([1.0, 1.0, 1.0]);
    assert!(p.iter().zip([7.0, 22.0, 26.0]).all(|(a, b)| (a - b).abs() < 1e-5), "{p:?}");
    // sform wins over qform when both are set.
    let mut s = q.clone();
    s.sform_code = 2;
    s.srow = [[-1.0, 0.0, 0.0, 90.0], [0.0, 1.0, 0.0, -126.0], [0.0, 0.0, 1.0, -72.0]];
    let v = read_nifti(&write(&dir.join("sform.nii"), &s.bytes(&floats_le(&values)))).unwrap();
    assert_affine(&v.affine, [[-1.0, 0.0, 0.0, 90.0], [0.0, 1.0, 0.0, -126.0], [0.0, 0.0, 1.0, -72.0]]);
    assert_eq!(v.affine.orientation(), "LAS");
    // Gzipped, the same.
    let g = read_nifti(&gz(&dir.join("sform.nii.gz"), &s.bytes(&floats_le(&values)))).unwrap();
    assert!(g.data.equal(&v.data) && g.affine == v.affine);
    assert!(read_volume(&dir.join("sform.nii.gz")).unwrap().data.equal(&v.data));
    // A fourth dimension of length 1 is a single volume.
    let mut t1 = h.clone();
    t1.dim = vec![4, 3, 2, 1];
    assert_eq!(read_nifti(&write(&dir.join("t1.nii"), &t1.bytes(&floats_le(&values)))).unwrap().shape(), [2, 3, 4]);
}

#[test]
fn nifti_scaling_integer_types_and_an_offset_of_zero() {
    let dir = tmp("nifti-types");
    // int16 with slope 2 and intercept 10.
    let mut h = Header::float(2, 2, 1);
    (h.datatype, h.bitpix, h.slope, h.inter) = (4, 16, 2.0, 10.0);
    let raw: Vec<u8> = [-3i16, 0, 5, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
    let v = read_nifti(&write(&dir.join("i16.nii"), &h.bytes(&raw))).unwrap();
    assert_eq!(Vec::<f32>::try_from(v.data.flatten(0, -1)).unwrap(), [4.0, 10.0, 20.0, 24.0]);
    // A slope of NaN (or 0) means no scaling.
    h.slope = f32::NAN;
    let v = read_nifti(&write(&dir.join("nan-slope.nii"), &h.bytes(&raw))).unwrap();
    assert_eq!(Vec::<f32>::try_from(v.data.flatten(0, -1)).unwrap(), [-3.0, 0.0, 5.0, 7.0]);
    // uint8 labels behind label names and vox_offset 0 (as some atlases are stored): the
    // voxels are the file's last bytes.
    let mut u = Header::float(2, 2, 1);
    (u.datatype, u.bitpix, u.vox_offset) = (2, 8, 0.0);
    let mut extra = b"1\tFrontal Pole\n2\tInsula\n".to_vec();
    extra.extend_from_slice(&[0, 1, 2, 1]);
    let v = read_nifti(&gz(&dir.join("atlas.nii.gz"), &u.bytes(&extra))).unwrap();
    assert_eq!(Vec::<f32>::try_from(v.data.flatten(0, -1)).unwrap(), [0.0, 1.0, 2.0, 1.0]);
}

#[test]
fn broken_nifti_files_are_errors_naming_the_file() {
    let dir = tmp("nifti-broken");
    let values: Vec<f32> = (0..24).map(|v| v as f32).collect();
    let h = Header::float(4, 3, 2);
    let good = h.bytes(&floats_le(&values));
    let cases: Vec<(PathBuf, &str)> = vec![
        (write(&dir.join("cut.nii"), &good[..good.len() - 10]), "truncated"),
        (write(&dir.join("empty.nii"), &[]), "header"),
        (write(&dir.join("header-only.nii"), &good[..200]), "header"),
        (write(&dir.join("bad.nii.gz"), &[0x1f, 0x8b, 8, 0, 1, 2, 3]), "gzip"),
        (dir.join("missing.nii"), "no such file"),
        (
            write(&dir.join("series.nii"), &{
                let mut t = h.clone();
                t.dim = vec![4, 3, 2, 3];
                t.bytes(&floats_le(&[values.clone(), values.clone(), values.clone()].concat()))
            }),
            "series of 3 volumes",
        ),
        (write(&dir.join("nan.nii"), &h.bytes(&floats_le(&[&values[..23], &[f32::NAN]].concat()))), "NaN"),
        // A vox_offset near the largest usize (found by fuzzing: the end of the voxels overflowed).
        (
            write(&dir.join("far-offset.nii"), &{
                let mut f = h.clone();
                f.vox_offset = 1.0e30;
                f.bytes(&floats_le(&values))
            }),
            "truncated",
        ),
        (
            write(&dir.join("spacing.nii"), &{
                let mut n = h.clone();
                n.pixdim[2] = -1.0;
                n.bytes(&floats_le(&values))
            }),
            "spacing",
        ),
        (
            write(&dir.join("qfac.nii"), &{
                let mut n = h.clone();
                (n.qform_code, n.pixdim[0]) = (1, 0.5);
                n.bytes(&floats_le(&values))
            }),
            "qfac",
        ),
    ];
    for (path, words) in cases {
        let e = error_of(read_nifti(&path));
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(e.contains(&name) && e.contains(words), "{name}: expected '{words}' in: {e}");
    }
}

#[test]
fn dicom_ct_and_mr_slices_read_in_modality_units_as_pydicom_reads_them() {
    // CT_small: RescaleIntercept -1024, values checked against pydicom's apply_modality_lut.
    let ct = read_dicom_series(&fixture("CT_small.dcm")).unwrap();
    assert_eq!(ct.shape(), [1, 128, 128]);
    assert_eq!(ct.range(), (-896.0, 1167.0));
    assert!((ct.data.mean(Kind::Double).double_value(&[]) - (-119.0738525390625)).abs() < 1e-6);
    assert_eq!(ct.data.double_value(&[0, 10, 20]), -839.0);
    assert_eq!(ct.data.double_value(&[0, 64, 30]), 365.0);
    // ImagePositionPatient (-158.135803, -179.035797, -75.699997) LPS, rows along +x.
    assert_affine(&ct.affine, [[-0.661468, 0.0, 0.0, 158.135803], [0.0, -0.661468, 0.0, 179.035797], [0.0, 0.0, 5.0, -75.699997]]);
    assert_eq!(ct.affine.orientation(), "LPS");
    // MR_small: uncompressed, RLE and big endian give the same values.
    let mr = read_dicom_series(&fixture("MR_small.dcm")).unwrap();
    assert_eq!(mr.shape(), [1, 64, 64]);
    assert!((mr.data.mean(Kind::Double).double_value(&[]) - 518.88134765625).abs() < 1e-6);
    assert_eq!(mr.data.double_value(&[0, 10, 20]), 316.0);
    for other in ["MR_small_RLE.dcm", "MR_small_bigendian.dcm"] {
        assert!(read_volume(&fixture(other)).unwrap().data.equal(&mr.data), "{other}");
    }
}

/// A copy of CT_small at another position along z, with another intercept (so that the
/// slices tell apart) and optionally another series.
fn ct_slice(dir: &Path, name: &str, z: f64, intercept: f64, series: Option<&str>) {
    let mut obj = dicom_object::open_file(fixture("CT_small.dcm")).unwrap();
    let position = format!("-158.135803\\-179.035797\\{z}");
    obj.put(DataElement::new(tags::IMAGE_POSITION_PATIENT, VR::DS, PrimitiveValue::from(position.as_str())));
    obj.put(DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, PrimitiveValue::from(format!("{intercept}").as_str())));
    if let Some(uid) = series {
        obj.put(DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, PrimitiveValue::from(uid)));
    }
    obj.write_to_file(dir.join(name)).unwrap();
}

#[test]
fn a_dicom_series_is_ordered_by_position_whatever_the_file_names() {
    let dir = tmp("series");
    // File names in the reverse order of the positions.
    ct_slice(&dir, "a.dcm", -65.7, -1000.0, None);
    ct_slice(&dir, "b.dcm", -70.7, -1010.0, None);
    ct_slice(&dir, "c.dcm", -75.7, -1020.0, None);
    std::fs::write(dir.join(".hidden"), b"not dicom, not read").unwrap();
    let v = read_dicom_series(&dir).unwrap();
    assert_eq!(v.shape(), [3, 128, 128]);
    assert!((v.spacing()[2] - 5.0).abs() < 1e-6, "{:?}", v.spacing());
    assert!((v.affine.apply([0.0, 0.0, 0.0])[2] - (-75.7)).abs() < 1e-6);
    // Slice k holds the file at the k-th position: intercepts -1020, -1010, -1000.
    let single = read_dicom_series(&fixture("CT_small.dcm")).unwrap().data.get(0);
    for (k, shift) in [(0, 4.0), (1, 14.0), (2, 24.0)] {
        assert!(v.data.get(k).equal(&(&single + shift)), "slice {k}");
    }
}

#[test]
fn broken_dicom_input_is_an_error_naming_the_file() {
    let truncated = error_of(read_dicom_series(&fixture("MR_truncated.dcm")));
    assert!(truncated.contains("MR_truncated.dcm") && truncated.contains("not a readable DICOM"), "{truncated}");
    let jp2k = error_of(read_dicom_series(&fixture("MR_small_jp2klossless.dcm")));
    assert!(jp2k.contains("MR_small_jp2klossless.dcm") && jp2k.contains("cannot decode the pixel data"), "{jp2k}");
    let dir = tmp("dicom-broken");
    // An element after the pixel data that declares 3 GiB: refused at once (the parser would
    // reserve the 3 GiB before finding the file too short).
    let mut huge = std::fs::read(fixture("MR_small.dcm")).unwrap();
    huge.extend_from_slice(&[0x09, 0x00, 0x10, 0x00, b'O', b'B', 0, 0]);
    huge.extend_from_slice(&0xC000_0000u32.to_le_bytes());
    let started = std::time::Instant::now();
    let e = error_of(read_dicom_series(&write(&dir.join("huge.dcm"), &huge)));
    assert!(e.contains("huge.dcm") && e.contains("declares 3221225472 bytes"), "{e}");
    assert!(started.elapsed().as_secs_f64() < 1.0, "took {:?}", started.elapsed());
    let text = write(&dir.join("notes.txt"), b"not a DICOM file");
    assert!(error_of(read_dicom_series(&text)).contains("notes.txt"));
    let empty = tmp("dicom-empty");
    assert!(error_of(read_dicom_series(&empty)).contains("no files"));
    assert!(error_of(read_dicom_series(&dir.join("nowhere"))).contains("no such file or folder"));
    // Two series in one folder.
    let two = tmp("two-series");
    ct_slice(&two, "a.dcm", -75.7, -1024.0, Some("1.2.3.4"));
    ct_slice(&two, "b.dcm", -70.7, -1024.0, Some("1.2.3.5"));
    assert!(error_of(read_dicom_series(&two)).contains("2 series"));
    // Two slices at one position.
    let same = tmp("same-position");
    ct_slice(&same, "a.dcm", -75.7, -1024.0, None);
    ct_slice(&same, "b.dcm", -75.7, -1024.0, None);
    let e = error_of(read_dicom_series(&same));
    assert!(e.contains("same position") && e.contains("a.dcm") && e.contains("b.dcm"), "{e}");
    // A missing slice leaves a gap twice the others.
    let gap = tmp("gap");
    for (name, z) in [("a.dcm", -75.7), ("b.dcm", -70.7), ("d.dcm", -60.7)] {
        ct_slice(&gap, name, z, -1024.0, None);
    }
    let e = error_of(read_dicom_series(&gap));
    assert!(e.contains("uneven slice spacing") && e.contains("d.dcm"), "{e}");
}

#[test]
fn resampling_keeps_voxel_zero_and_interpolates_between_or_picks_the_nearest() {
    let data = Tensor::arange(4 * 6 * 8, (Kind::Float, tch::Device::Cpu)).view([4, 6, 8]);
    let coarse = Volume::new(data, Affine::scaling([2.0, 2.0, 2.0]), Path::new("grid")).unwrap();
    let fine = resample_to_spacing(&coarse, [1.0, 1.0, 1.0], Interpolation::Linear).unwrap();
    assert_eq!(fine.shape(), [8, 12, 16]);
    assert_eq!(fine.affine.apply([0.0, 0.0, 0.0]), [0.0, 0.0, 0.0]);
    // Even new voxels sit on old centres; odd ones halfway (linear in every axis).
    assert_eq!(fine.data.double_value(&[2, 4, 6]), coarse.data.double_value(&[1, 2, 3]));
    let halfway = (coarse.data.double_value(&[1, 2, 3]) + coarse.data.double_value(&[1, 2, 4])) / 2.0;
    assert!((fine.data.double_value(&[2, 4, 7]) - halfway).abs() < 1e-4);
    // Labels: nearest keeps the set of values.
    let labels = Volume::new((coarse.data.shallow_clone().remainder(3.0)).to_kind(Kind::Float), Affine::scaling([2.0, 2.0, 2.0]), Path::new("labels")).unwrap();
    let fine_labels = resample_to_spacing(&labels, [1.0, 1.5, 3.0], Interpolation::Nearest).unwrap();
    assert_eq!(fine_labels.shape(), [3, 8, 16]);
    let (values, _, _) = fine_labels.data.flatten(0, -1).unique_dim(0, true, false, false);
    assert_eq!(Vec::<f32>::try_from(values).unwrap(), [0.0, 1.0, 2.0]);
    assert!(fine_labels.spacing().iter().zip([1.0, 1.5, 3.0]).all(|(a, b)| (a - b).abs() < 1e-9));
    assert!(resample_to_spacing(&coarse, [1.0, 0.0, 1.0], Interpolation::Linear).is_err());
    // A mask on another grid is refused, naming both.
    let e = coarse.check_mask(&fine).unwrap_err().to_string();
    assert!(e.contains("grid") && e.contains("another grid"), "{e}");
}

#[test]
fn windows_and_percentiles_map_intensities_into_the_unit_range() {
    let hu = Tensor::from_slice(&[-1000.0f32, -160.0, 40.0, 240.0, 3000.0]);
    let w = Window::ABDOMEN.apply(&hu).unwrap();
    assert_eq!(Vec::<f32>::try_from(w).unwrap(), [0.0, 0.0, 0.5, 1.0, 1.0]);
    assert_eq!(Window::preset("brain").unwrap(), Window::BRAIN);
    assert!(Window::preset("liver").is_err());
    assert!(Window { centre: 0.0, width: 0.0 }.apply(&hu).is_err());
    let data = Tensor::arange(101, (Kind::Float, tch::Device::Cpu)).view([1, 1, 101]);
    let v = Volume::new(data, Affine::scaling([1.0, 1.0, 1.0]), Path::new("ramp")).unwrap();
    let n = normalise_percentiles(&v, 10.0, 90.0, None).unwrap();
    assert_eq!(n.double_value(&[0, 0, 10]), 0.0);
    assert_eq!(n.double_value(&[0, 0, 50]), 0.5);
    assert_eq!(n.double_value(&[0, 0, 95]), 1.0);
    // Background at or below the floor is left out of the percentiles.
    let m = normalise_percentiles(&v, 0.0, 100.0, Some(50.0)).unwrap();
    assert_eq!(m.double_value(&[0, 0, 51]), 0.0);
    let flat = Volume::new(Tensor::ones([2, 2, 2], (Kind::Float, tch::Device::Cpu)), Affine::scaling([1.0; 3]), Path::new("flat")).unwrap();
    assert!(normalise_percentiles(&flat, 1.0, 99.0, None).unwrap_err().to_string().contains("constant"));
}

#[test]
fn volumes_refuse_what_they_cannot_hold() {
    let cpu = (Kind::Float, tch::Device::Cpu);
    assert!(Volume::new(Tensor::zeros([4, 4], cpu), Affine::scaling([1.0; 3]), Path::new("flat")).is_err());
    let nan = Tensor::zeros([2, 2, 2], cpu).index_fill(0, &Tensor::from_slice(&[1i64]), f64::NAN);
    assert!(Volume::new(nan, Affine::scaling([1.0; 3]), Path::new("nan.nii")).unwrap_err().to_string().contains("nan.nii: 4 voxels are NaN"));
    assert!(Volume::new(Tensor::zeros([2, 2, 2], cpu), Affine::scaling([1.0, 0.0, 1.0]), Path::new("flat")).unwrap_err().to_string().contains("singular"));
}

#[test]
fn written_nifti_reads_back_with_its_values_and_placement() {
    let dir = tmp("write");
    // An oblique grid: turned about z, anisotropic, offset.
    let (c, s) = (0.3f64.cos(), 0.3f64.sin());
    let affine = Affine([[1.5 * c, -2.0 * s, 0.0, -40.0], [1.5 * s, 2.0 * c, 0.0, 12.5], [0.0, 0.0, 3.0, 7.0], [0.0, 0.0, 0.0, 1.0]]);
    let data = Tensor::arange(60, (Kind::Float, tch::Device::Cpu)).view([3, 4, 5]) * 0.5 - 7.25;
    let volume = Volume::new(data, affine, Path::new("written")).unwrap();
    for name in ["float.nii", "float.nii.gz"] {
        let path = dir.join(name);
        write_nifti(&volume, &path, VoxelType::Float32).map_err(|e| format!("{e:#}")).unwrap();
        let back = read_nifti(&path).unwrap();
        assert!(back.data.equal(&volume.data), "{name}");
        assert!(back.same_grid(&volume), "{name}: {:?}", back.affine);
    }
    // Integers: rounded; out of range refused, the existing file left as it was.
    let path = dir.join("labels.nii.gz");
    write_nifti(&volume, &path, VoxelType::Int16).unwrap();
    let back = read_nifti(&path).unwrap();
    assert!(back.data.equal(&volume.data.round()));
    let before = std::fs::read(&path).unwrap();
    let huge = Volume::new(Tensor::full([2, 2, 2], 1e6, (Kind::Float, tch::Device::Cpu)), affine, Path::new("huge")).unwrap();
    let err = write_nifti(&huge, &path, VoxelType::Int16).unwrap_err();
    assert!(format!("{err:#}").contains("16-bit range") && format!("{err:#}").contains("labels.nii.gz"), "{err:#}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3, "a partial file was left behind");
    let err = write_nifti(&volume, &dir.join("volume.img"), VoxelType::Float32).unwrap_err();
    assert!(err.to_string().contains(".nii or .nii.gz"), "{err}");
    let err = write_nifti(&volume, &dir.join("missing-folder/v.nii"), VoxelType::Float32).unwrap_err();
    assert!(format!("{err:#}").contains("missing-folder"), "{err:#}");
}

#[test]
fn a_dicom_seg_reads_as_a_label_map_placed_as_pydicom_places_its_frames() {
    let seg = ssl_medical::io::read_dicom_seg(&fixture("liver_seg.dcm")).unwrap();
    assert_eq!(seg.segments, [(1, "Liver".to_string())]);
    assert_eq!(seg.labels.shape(), [3, 512, 512]);
    // Voxels per frame as pydicom 3.0.2's pixel_array counts them.
    let per_plane: Vec<i64> = Vec::try_from(&seg.labels.data.gt(0.5).sum_dim_intlist([1, 2].as_slice(), false, Kind::Int64)).unwrap();
    assert_eq!(per_plane, [36233, 35645, 35220]);
    let spacing = seg.labels.spacing();
    assert!((spacing[0] - 0.810547).abs() < 1e-5 && (spacing[1] - 0.810547).abs() < 1e-5 && (spacing[2] - 1.0).abs() < 1e-6, "{spacing:?}");
    // First frame at (-235.2, -226.8, -128.69) LPS: (235.2, 226.8, -128.69) RAS.
    let origin = seg.labels.affine.apply([0.0, 0.0, 0.0]);
    assert!((origin[0] - 235.2).abs() < 1e-3 && (origin[1] - 226.8).abs() < 1e-3 && (origin[2] + 128.69).abs() < 1e-3, "{origin:?}");
    assert_eq!(seg.labels.affine.orientation(), "LPS");

    // Not a SEG, cut short: errors naming the file.
    let err = ssl_medical::io::read_dicom_seg(&fixture("CT_small.dcm")).unwrap_err().to_string();
    assert!(err.contains("CT_small.dcm: not a DICOM Segmentation"), "{err}");
    let dir = tmp("seg");
    let bytes = std::fs::read(fixture("liver_seg.dcm")).unwrap();
    for cut in [bytes.len() - 5000, bytes.len() / 3, 200] {
        let path = dir.join(format!("cut-{cut}.dcm"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = format!("{:#}", ssl_medical::io::read_dicom_seg(&path).unwrap_err());
        assert!(err.contains(&format!("cut-{cut}.dcm")), "{err}");
    }
    assert!(ssl_medical::io::read_dicom_seg(&dir.join("missing.dcm")).unwrap_err().to_string().contains("no such file"));
}

// ---- RT structure sets ----

use ssl_medical::io::read_rtstruct;

fn voxels_of(v: &Volume, label: f64) -> i64 {
    v.data.eq(label).sum(Kind::Int64).int64_value(&[])
}

#[test]
fn affine_inverse_undoes_the_affine() {
    let mut a = Affine::scaling([0.8, 1.2, 3.0]);
    a.0[0][1] = 0.3;
    a.0[2][0] = -0.2;
    a.0[0][3] = -100.0;
    a.0[1][3] = 42.0;
    a.0[2][3] = 7.5;
    let inv = a.inverse().unwrap();
    for p in [[0.0, 0.0, 0.0], [10.0, -3.0, 4.5], [-7.0, 2.0, 100.0]] {
        let back = inv.apply(a.apply(p));
        assert!(p.iter().zip(back).all(|(x, y)| (x - y).abs() < 1e-9), "{p:?} -> {back:?}");
    }
    assert!(Affine::scaling([1.0, 0.0, 1.0]).inverse().is_none());
}

/// dicompyler-core's example structure set: ten structures, contours with holes (the left
/// lung), filled on a grid built around them; the volumes equal the polygon areas (shoelace,
/// holes subtracted) times the 3 mm plane spacing: heart 439.70 ml, left lung 2005.11 ml.
#[test]
fn structure_set_volumes_match_the_contour_areas() {
    let set = read_rtstruct(&fixture("dicompyler_rtss.dcm")).unwrap();
    let names: Vec<&str> = set.structures.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["BODY", "Areola", "Borders", "Breast", "Heart", "Lt Lung", "Nodes", "Scar", "Tumor Bed", "Tumor Bed Block"]);
    assert_eq!(set.structure("body").unwrap().contours.len(), 141);
    assert_eq!(set.structure("Lt Lung").unwrap().contours.len(), 165);
    // LPS to RAS: the left lung lies on the patient's left, +x in LPS, -x in RAS.
    let lung = set.structure("Lt Lung").unwrap();
    let lung_x = lung.contours.iter().flatten().map(|p| p[0]).sum::<f64>() / lung.contours.iter().map(|c| c.len()).sum::<usize>() as f64;
    assert!(lung_x < -30.0, "the left lung's mean RAS x is {lung_x}");
    for (name, expected_ml) in [("Heart", 439.70), ("Lt Lung", 2005.11)] {
        let grid = set.grid_around(&[name], 1.0, 4.0).unwrap();
        assert!((grid.spacing()[2] - 3.0).abs() < 1e-6, "{:?}", grid.spacing());
        let labels = set.label_map(&grid, &[name]).unwrap();
        let ml = voxels_of(&labels, 1.0) as f64 * 3.0 / 1000.0;
        assert!((ml - expected_ml).abs() < 0.015 * expected_ml, "{name}: {ml:.2} ml, the contours enclose {expected_ml} ml");
    }
    // A label map of two structures: the later one wins where they overlap.
    let grid = set.grid_around(&["Breast", "Tumor Bed"], 2.0, 0.0).unwrap();
    let labels = set.label_map(&grid, &["Breast", "Tumor Bed"]).unwrap();
    let bed = set.label_map(&grid, &["Tumor Bed"]).unwrap();
    assert_eq!(voxels_of(&labels, 2.0), voxels_of(&bed, 1.0));
    assert!(voxels_of(&labels, 1.0) > 10 * voxels_of(&labels, 2.0));
}

/// The body contour filled on the CT slice it was drawn on (512 x 512, 1.07 mm): as many
/// voxels as the contours hold by the even-odd rule on voxel centres (40396, computed
/// independently from the contour points), tissue inside and air outside.
#[test]
fn body_contour_fills_its_ct_slice() {
    let ct = read_dicom_series(&fixture("dicompyler_ct.dcm")).unwrap();
    let set = read_rtstruct(&fixture("dicompyler_rtss.dcm")).unwrap();
    let body = set.label_map(&ct, &["BODY"]).unwrap();
    assert!(ct.same_grid(&body));
    let inside = voxels_of(&body, 1.0);
    assert!((inside - 40396).abs() <= 200, "{inside} voxels inside the body, expected 40396");
    let mask = body.data.eq(1.0);
    let mean_in = ct.data.masked_select(&mask).mean(Kind::Float).double_value(&[]);
    let mean_out = ct.data.masked_select(&mask.logical_not()).mean(Kind::Float).double_value(&[]);
    assert!(mean_in > -50.0 && mean_out < -900.0, "HU inside {mean_in}, outside {mean_out}");
    // The heart has no contour on this slice (its planes end 170 mm lower).
    let err = set.label_map(&ct, &["Heart"]).unwrap_err().to_string();
    assert!(err.contains("dicompyler_rtss.dcm") && err.contains("none of its 33 contour planes"), "{err}");
}

/// pydicom's structure set has no preamble or meta group (a bare implicit VR data set) and
/// point contours; both are read, points are not filled.
#[test]
fn bare_structure_set_with_points_reads() {
    let set = read_rtstruct(&fixture("rtstruct.dcm")).unwrap();
    let names: Vec<&str> = set.structures.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["patient", "Isocenter 1", "Isocenter 2"]);
    assert_eq!(set.structure("patient").unwrap().contours.len(), 3);
    assert_eq!(set.structure("Isocenter 1").unwrap().other_contours, 1);
    let grid = set.grid_around(&["patient"], 10.0, 0.0).unwrap();
    let err = set.label_map(&grid, &["Isocenter 1"]).unwrap_err().to_string();
    assert!(err.contains("rtstruct.dcm") && err.contains("no closed contours"), "{err}");
    let patient = set.label_map(&grid, &["patient"]).unwrap();
    assert!(voxels_of(&patient, 1.0) > 0);
}

#[test]
fn broken_structure_sets_are_errors_naming_the_file() {
    let dir = tmp("rtstruct");
    let set = read_rtstruct(&fixture("dicompyler_rtss.dcm")).unwrap();
    // Unknown structure: the error lists what there is.
    let grid = set.grid_around(&[], 4.0, 0.0).unwrap();
    let err = set.label_map(&grid, &["Liver"]).unwrap_err().to_string();
    assert!(err.contains("no structure \"Liver\"") && err.contains("Lt Lung"), "{err}");
    // A sagittal grid: contours are not parallel to its slices.
    let mut turned = Affine::scaling([4.0, 4.0, 4.0]);
    turned.0 = [[0.0, 0.0, 4.0, -200.0], [0.0, 4.0, 0.0, -200.0], [4.0, 0.0, 0.0, -150.0], [0.0, 0.0, 0.0, 1.0]];
    let sagittal = Volume::new(Tensor::zeros([100, 100, 100], (Kind::Float, tch::Device::Cpu)), turned, Path::new("sagittal")).unwrap();
    let err = set.label_map(&sagittal, &["Heart"]).unwrap_err().to_string();
    assert!(err.contains("not parallel to the grid's slices"), "{err}");
    // Not a structure set; cut short; missing.
    let err = read_rtstruct(&fixture("CT_small.dcm")).unwrap_err().to_string();
    assert!(err.contains("CT_small.dcm") && err.contains("not an RT Structure Set"), "{err}");
    let bytes = std::fs::read(fixture("dicompyler_rtss.dcm")).unwrap();
    let cut = dir.join("cut.dcm");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = format!("{:#}", read_rtstruct(&cut).unwrap_err());
    assert!(err.contains("cut.dcm"), "{err}");
    let err = read_rtstruct(&dir.join("absent.dcm")).unwrap_err().to_string();
    assert!(err.contains("absent.dcm") && err.contains("no such file"), "{err}");
    let bare = std::fs::read(fixture("rtstruct.dcm")).unwrap();
    let cut = dir.join("cut-bare.dcm");
    std::fs::write(&cut, &bare[..bare.len() - 40]).unwrap();
    let err = format!("{:#}", read_rtstruct(&cut).unwrap_err());
    assert!(err.contains("cut-bare.dcm"), "{err}");
}
