//! Every reader on hostile input: the broken corpus of `make_corpus.py` (each file must be
//! an error naming it) and property-based mutations of valid files (truncation, flipped
//! bits, overwritten and inserted bytes, absurd 32-bit fields), which must give an error
//! or a result, never a panic, an abort or a read past the end. The number of cases per
//! reader is bounded (`SSL_FUZZ_CASES`, 96 by default) so that CI stays fast.
use anyhow::Result;
use proptest::prelude::*;
use proptest::sample::Index;
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ssl-fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The readers, by the corpus folder whose files they read.
fn read_idx(p: &Path) -> Result<()> {
    ssl_vision::data::read_idx(p).map(drop)
}
fn read_images(dir: &Path) -> Result<()> {
    ssl_vision::data::read_image_folder(dir, false).map(drop)
}
fn read_spectra(p: &Path) -> Result<()> {
    ssl_spectra::io::load_spectra(p, None).map(drop)
}
fn read_vision_config(p: &Path) -> Result<()> {
    ssl_core::config::read_toml::<ssl_vision::config::PretrainConfig>(p)?.validate()
}
fn read_spectra_config(p: &Path) -> Result<()> {
    ssl_spectra::pipeline::read_config(p)?.validate()
}

/// A checkpoint folder holding `tensors` as its tensor file, with a `meta.json` whose
/// checksum matches (so that the safetensors parser itself is exercised).
fn checkpoint_with(dir: &Path, tensors: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("tensors.safetensors");
    std::fs::write(&path, tensors)?;
    let meta = serde_json::json!({
        "step": 1, "seed": 0, "method": "simclr", "config": {}, "threads": 1,
        "checksums": { "tensors.safetensors": ssl_core::train::file_sha256(&path)? },
    });
    std::fs::write(dir.join("meta.json"), meta.to_string())?;
    Ok(())
}
fn read_checkpoint(dir: &Path) -> Result<()> {
    ssl_core::train::Checkpoint::load(dir).map(drop)
}

#[test]
fn every_file_of_the_broken_corpus_is_an_error_naming_it() {
    let out = tmp("corpus");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/make_corpus.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let status = std::process::Command::new(&python).arg(&script).arg(&out).status().expect("python3 runs the corpus script");
    assert!(status.success(), "{} failed", script.display());
    let files = |sub: &str| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(out.join(sub)).unwrap().map(|e| e.unwrap().path()).collect();
        v.sort();
        assert!(!v.is_empty(), "no {sub} cases");
        v
    };
    let mut checked = 0;
    let mut expect_error = |what: &Path, named: &str, result: Result<()>| {
        let err = match result {
            Ok(()) => panic!("{}: broken input was accepted", what.display()),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains(named), "{}: the error does not name '{named}': {err}", what.display());
        checked += 1;
    };
    for f in files("idx") {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        expect_error(&f, &name, read_idx(&f));
    }
    for dir in files("png") {
        let file = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
        expect_error(&dir, &file.display().to_string(), read_images(&dir));
    }
    for sub in ["fits", "csv"] {
        for f in files(sub) {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            expect_error(&f, &name, read_spectra(&f));
        }
    }
    for dir in files("npy") {
        let f = dir.join("spectra.npy");
        expect_error(&f, "spectra.npy", read_spectra(&f));
    }
    for dir in files("safetensors") {
        let bytes = std::fs::read(dir.join("tensors.safetensors")).unwrap();
        checkpoint_with(&dir, &bytes).unwrap();
        expect_error(&dir, "tensors.safetensors", read_checkpoint(&dir));
    }
    for f in files("toml") {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        // Read errors name the file; range errors name the key.
        for result in [read_vision_config(&f), read_spectra_config(&f)] {
            let err = format!("{:#}", result.expect_err(&format!("{name}: accepted")));
            assert!(err.contains(&name) || err.contains("train."), "{name}: {err}");
        }
    }
    assert!(checked >= 45, "only {checked} corpus files (besides the configs) were checked");
    std::fs::remove_dir_all(&out).ok();
}

/// One edit of a file's bytes.
#[derive(Debug, Clone)]
enum Edit {
    Truncate(Index),
    FlipBit(Index, u8),
    Overwrite(Index, Vec<u8>),
    Insert(Index, Vec<u8>),
    /// An absurd or boundary 32-bit value over 4 bytes (sizes and counts in headers).
    Field(Index, u32, bool),
}

fn edit() -> impl Strategy<Value = Edit> {
    let field = prop_oneof![Just(0u32), Just(1), Just(u32::MAX), Just(i32::MAX as u32), Just(0x8000_0000), any::<u32>()];
    prop_oneof![
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Edit::FlipBit(i, b)),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, v)| Edit::Overwrite(i, v)),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..64)).prop_map(|(i, v)| Edit::Insert(i, v)),
        (any::<Index>(), field, any::<bool>()).prop_map(|(i, v, be)| Edit::Field(i, v, be)),
    ]
}

fn apply(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for e in edits {
        if b.is_empty() {
            break;
        }
        match e {
            Edit::Truncate(i) => b.truncate(i.index(b.len())),
            Edit::FlipBit(i, bit) => {
                let i = i.index(b.len());
                b[i] ^= 1 << bit;
            }
            Edit::Overwrite(i, v) => {
                let i = i.index(b.len());
                for (k, x) in v.iter().enumerate() {
                    if let Some(slot) = b.get_mut(i + k) {
                        *slot = *x;
                    }
                }
            }
            Edit::Insert(i, v) => {
                let i = i.index(b.len() + 1);
                b.splice(i..i, v.iter().copied());
            }
            Edit::Field(i, v, be) => {
                let i = i.index(b.len());
                let bytes = if *be { v.to_be_bytes() } else { v.to_le_bytes() };
                for (k, x) in bytes.iter().enumerate() {
                    if let Some(slot) = b.get_mut(i + k) {
                        *slot = *x;
                    }
                }
            }
        }
    }
    b
}

fn cases() -> u32 {
    std::env::var("SSL_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96)
}

/// Runs `read` on mutations of `seed` written to `file`, and checks that the cases ran and
/// that the mutations broke the file often enough to reach the error paths.
fn fuzz_file(tag: &str, file: &Path, seed: &[u8], read: &dyn Fn() -> Result<()>) {
    read().unwrap_or_else(|e| panic!("{tag}: the valid seed does not read: {e:#}"));
    let (ran, errors) = (std::cell::Cell::new(0u32), std::cell::Cell::new(0u32));
    let config = ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(edits in prop::collection::vec(edit(), 1..5))| {
        std::fs::write(file, apply(seed, &edits)).unwrap();
        ran.set(ran.get() + 1);
        if read().is_err() {
            errors.set(errors.get() + 1);
        }
    });
    assert!(ran.get() >= cases(), "{tag}: {} cases ran", ran.get());
    assert!(errors.get() * 10 >= ran.get(), "{tag}: only {} of {} mutations were errors", errors.get(), ran.get());
    std::fs::write(file, seed).unwrap();
}

/// [`fuzz_file`] for a reader of one file (or, with `reads_folder`, of its folder).
fn fuzz(tag: &str, name: &str, seed: Vec<u8>, read: fn(&Path) -> Result<()>, reads_folder: bool) {
    let dir = tmp(tag);
    let file = dir.join(name);
    std::fs::write(&file, &seed).unwrap();
    let target = if reads_folder { dir.clone() } else { file.clone() };
    fuzz_file(tag, &file, &seed, &|| read(&target));
    std::fs::remove_dir_all(&dir).ok();
}

fn idx_seed() -> Vec<u8> {
    let mut v = vec![0u8, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 4];
    v.extend((0..48).map(|i| i as u8));
    v
}

fn fits_seed() -> Vec<u8> {
    let card = |k: &str, v: &str| format!("{k:<8}= {v:>20}").chars().chain(std::iter::repeat(' ')).take(80).collect::<String>();
    let mut h = String::new();
    for (k, v) in [("SIMPLE", "T"), ("BITPIX", "-32"), ("NAXIS", "1"), ("NAXIS1", "32"), ("CRVAL1", "4000.0"), ("CDELT1", "2.0"), ("CRPIX1", "1.0")] {
        h.push_str(&card(k, v));
    }
    h.push_str(&format!("{:<80}", "END"));
    while !h.len().is_multiple_of(2880) {
        h.push(' ');
    }
    let mut bytes = h.into_bytes();
    (0..32).for_each(|i| bytes.extend_from_slice(&(1.0f32 + i as f32 / 32.0).to_be_bytes()));
    bytes.resize(2 * 2880, 0);
    bytes
}

fn npy_seed(rows: usize, cols: usize, first: f32) -> Vec<u8> {
    let shape = if rows == 0 { format!("({cols},)") } else { format!("({rows}, {cols})") };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    (0..rows.max(1) * cols).for_each(|i| b.extend_from_slice(&(first + i as f32).to_le_bytes()));
    b
}

fn encoded(format: image::ImageFormat) -> Vec<u8> {
    let img = image::GrayImage::from_fn(16, 16, |x, y| image::Luma([(x * 13 + y * 7) as u8]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

#[test]
fn mutated_idx_files() {
    fuzz("idx", "x-images-idx3-ubyte", idx_seed(), read_idx, false);
}

#[test]
fn mutated_png_and_jpeg_images() {
    fuzz("png", "a.png", encoded(image::ImageFormat::Png), read_images, true);
    fuzz("jpeg", "a.jpg", encoded(image::ImageFormat::Jpeg), read_images, true);
}

#[test]
fn mutated_fits_spectra() {
    fuzz("fits", "s.fits", fits_seed(), read_spectra, false);
}

#[test]
fn mutated_csv_spectra() {
    let mut csv = String::from("name");
    (0..8).for_each(|p| csv.push_str(&format!(",{}", 5000 + p)));
    csv.push('\n');
    for r in 0..3 {
        csv.push_str(&format!("s{r}"));
        (0..8).for_each(|p| csv.push_str(&format!(",{}", 1.0 + (r * p) as f32 / 10.0)));
        csv.push('\n');
    }
    fuzz("csv", "s.csv", csv.into_bytes(), read_spectra, false);
}

#[test]
fn mutated_npy_spectra() {
    // The flux file is mutated; its grid beside it stays valid.
    let dir = tmp("npy");
    std::fs::write(dir.join("wave.npy"), npy_seed(0, 8, 5000.0)).unwrap();
    let file = dir.join("s.npy");
    std::fs::write(&file, npy_seed(2, 8, 1.0)).unwrap();
    fuzz_file("npy", &file, &npy_seed(2, 8, 1.0), &|| read_spectra(&file));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn mutated_checkpoints() {
    let dir = tmp("ckpt");
    let ckpts = ssl_core::train::CheckpointDir::new(dir.join("checkpoints"), 1);
    let mut meta = ssl_core::train::CheckpointMeta::new(1, 0, "simclr", serde_json::json!({"train": {"steps": 3}}));
    meta.threads = 1;
    let tensors =
        vec![("model/w".to_string(), tch::Tensor::from_slice(&[1f32, 2.0, 3.0, 4.0]).view([2, 2])), ("optim/steps".to_string(), tch::Tensor::from(3i64))];
    let step = ckpts.save(&meta, &tensors, &[]).unwrap();
    let seed = std::fs::read(step.join("tensors.safetensors")).unwrap();
    let meta_seed = std::fs::read(step.join("meta.json")).unwrap();
    // Tensor files with a matching checksum exercise the safetensors parser itself ...
    let scratch = dir.join("scratch.safetensors");
    std::fs::write(&scratch, &seed).unwrap();
    fuzz_file("safetensors", &scratch, &seed, &|| {
        checkpoint_with(&step, &std::fs::read(&scratch)?)?;
        read_checkpoint(&step)
    });
    // ... and a mutated meta.json (with the original tensors) the metadata reader.
    checkpoint_with(&step, &seed).unwrap();
    std::fs::write(step.join("meta.json"), &meta_seed).unwrap();
    fuzz_file("meta.json", &step.join("meta.json"), &meta_seed, &|| read_checkpoint(&step));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn mutated_config_files() {
    let vision = b"method = \"byol\"\nthreads = 1\n[train]\nsteps = 7\nlr = 0.01\n[train.optimizer]\nkind = \"sgd\"\nmomentum = 0.9\n[augment]\nsize = 32\ncrop_scale = [0.2, 1.0]\n".to_vec();
    fuzz("toml-vision", "c.toml", vision, read_vision_config, false);
    let spectra = b"map = \"som\"\n[shape]\nrows = 3\ncols = 4\n[preprocess]\ngrid = [4000.0, 5000.0, 2.0]\n[train]\nsteps = 400\n".to_vec();
    fuzz("toml-spectra", "c.toml", spectra, read_spectra_config, false);
}

/// A single-file NIfTI-1 of 4 x 3 x 2 float voxels with a qform (the header fields the
/// reader interprets are all set).
fn nifti_seed() -> Vec<u8> {
    let mut b = vec![0u8; 352];
    let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    put(0, &348i32.to_le_bytes());
    for (i, d) in [3i16, 4, 3, 2, 1, 1, 1, 1].iter().enumerate() {
        put(40 + 2 * i, &d.to_le_bytes());
    }
    put(70, &16i16.to_le_bytes());
    put(72, &32i16.to_le_bytes());
    for (i, p) in [1f32, 2.0, 3.0, 4.0].iter().enumerate() {
        put(76 + 4 * i, &p.to_le_bytes());
    }
    put(108, &352f32.to_le_bytes());
    put(112, &1f32.to_le_bytes());
    put(252, &1i16.to_le_bytes());
    put(264, &0.5f32.to_le_bytes());
    put(344, b"n+1\0");
    b.extend((0..24).flat_map(|v| (v as f32).to_le_bytes()));
    b
}

fn read_nifti(p: &Path) -> Result<()> {
    ssl_medical::io::read_nifti(p).map(drop)
}
fn read_dicom(p: &Path) -> Result<()> {
    ssl_medical::io::read_dicom_series(p).map(drop)
}

#[test]
fn mutated_nifti_volumes() {
    fuzz("nifti", "volume.nii", nifti_seed(), read_nifti, false);
}

#[test]
fn mutated_dicom_slices() {
    let seed = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/ssl-medical/tests/fixtures/dicom/MR_small.dcm")).unwrap();
    fuzz("dicom", "slice.dcm", seed, read_dicom, true);
}

fn read_dicom_seg(p: &Path) -> Result<()> {
    ssl_medical::io::read_dicom_seg(p).map(drop)
}

#[test]
fn mutated_dicom_segmentations() {
    let seed = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/ssl-medical/tests/fixtures/dicom/liver_seg.dcm")).unwrap();
    fuzz("dicom-seg", "seg.dcm", seed, read_dicom_seg, false);
}

/// Reads a structure set and fills every structure with closed contours on a grid around it.
fn read_and_fill_rtstruct(p: &Path) -> Result<()> {
    let set = ssl_medical::io::read_rtstruct(p)?;
    let names: Vec<&str> = set.structures.iter().filter(|s| !s.contours.is_empty()).map(|s| s.name.as_str()).collect();
    let grid = set.grid_around(&names, 20.0, 0.0)?;
    set.label_map(&grid, &names).map(drop)
}

#[test]
fn mutated_rt_structure_sets() {
    // pydicom's bare data set (no preamble or meta group): the implicit VR path.
    let seed = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/ssl-medical/tests/fixtures/dicom/rtstruct.dcm")).unwrap();
    fuzz("rtstruct", "rtstruct.dcm", seed, read_and_fill_rtstruct, false);
}
