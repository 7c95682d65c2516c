//! `ssl-spectra` end to end on tiny spectra the tests make (FITS and CSV), and bad input.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ssl-spectra");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ssl-spectra-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn card(key: &str, value: &str) -> String {
    format!("{key:<8}= {value:>20}").chars().chain(std::iter::repeat(' ')).take(80).collect()
}

/// A minimal single-HDU FITS file with a 1-D float32 spectrum on a linear grid.
fn write_fits(path: &Path, crval: f64, cdelt: f64, flux: &[f32]) {
    let mut h = String::new();
    for (k, v) in [
        ("SIMPLE", "T".to_string()),
        ("BITPIX", "-32".into()),
        ("NAXIS", "1".into()),
        ("NAXIS1", flux.len().to_string()),
        ("CRVAL1", format!("{crval:.4}")),
        ("CDELT1", format!("{cdelt:.4}")),
        ("CRPIX1", "1.0".into()),
    ] {
        h.push_str(&card(k, &v));
    }
    h.push_str(&format!("{:<80}", "END"));
    while !h.len().is_multiple_of(2880) {
        h.push(' ');
    }
    let mut bytes = h.into_bytes();
    for f in flux {
        bytes.extend_from_slice(&f.to_be_bytes());
    }
    while !bytes.len().is_multiple_of(2880) {
        bytes.push(0);
    }
    std::fs::write(path, bytes).unwrap();
}

/// A "star" of temperature class `t` in 0..3: a sloped continuum with an absorption line
/// whose position depends on the class, plus a little deterministic ripple.
fn star(t: usize, i: usize, n: usize) -> Vec<f32> {
    (0..n)
        .map(|p| {
            let x = p as f32 / n as f32;
            let slope = 1.0 + (t as f32 - 1.0) * 0.5 * (x - 0.5);
            let centre = 0.25 + 0.25 * t as f32;
            let line = 1.0 - 0.6 * (-((x - centre) / 0.03).powi(2)).exp();
            slope * line * (1.0 + 0.01 * ((p * 7 + i * 13) % 11) as f32 / 11.0)
        })
        .collect()
}

/// 36 single-spectrum FITS files (3 classes) and their catalogue.
fn library(dir: &Path) -> PathBuf {
    let lib = dir.join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    let mut csv = String::from("file,teff,logg\n");
    for i in 0..36 {
        let t = i % 3;
        let name = format!("star{i:02}.fits");
        write_fits(&lib.join(&name), 4000.0, 2.0, &star(t, i, 200));
        csv.push_str(&format!("{name},{},{}\n", 4000 + 2000 * t + i, 4.5 - t as f64));
    }
    std::fs::write(lib.join("params.csv"), csv).unwrap();
    lib
}

fn config(dir: &Path) -> PathBuf {
    let p = dir.join("small.toml");
    std::fs::write(
        &p,
        "device = \"cpu\"\nthreads = 1\n[shape]\nrows = 3\ncols = 3\n[desom]\nhidden = [32, 16]\nlatent = 4\npretrain_steps = 150\nt_max = 1.5\n[som]\nt_max = 1.5\n\
         [train]\nsteps = 300\nlr = 0.005\nbatch_size = 12\nwarmup_steps = 5\ncheckpoint_every = 100\nlog_every = 1\nprogress = false\n",
    )
    .unwrap();
    p
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("binary runs")
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "ssl-spectra {args:?} failed:\n{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn fails(args: &[&str], needle: &str) {
    let o = run(args);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "ssl-spectra {args:?} should fail");
    assert!(e.contains("error:") && e.contains(needle) && !e.contains("panicked"), "ssl-spectra {args:?}: stderr lacks '{needle}':\n{e}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn fit_map_predict_and_plot_desom_and_som() {
    let d = tmp("e2e");
    let lib = library(&d);
    let cfg = config(&d);
    let cat = lib.join("params.csv");
    for map in ["desom", "som"] {
        let out = d.join(map);
        let msg = ok(&["fit", "--config", s(&cfg), "--data", s(&lib), "--catalogue", s(&cat), "--out", s(&out), "--map", map]);
        assert!(msg.contains("fitted on 36 spectra"), "{msg}");
        let placed = ok(&["map", "--run", s(&out), "--data", s(&lib)]);
        assert_eq!(placed.lines().count(), 37, "{placed}");
        let pred = ok(&["predict", "--run", s(&out), "--data", s(&lib), "--out", s(&d.join(format!("{map}.csv")))]);
        assert!(pred.is_empty());
        let csv = std::fs::read_to_string(d.join(format!("{map}.csv"))).unwrap();
        assert!(csv.starts_with("name,node,teff_median,teff_p16,teff_p84,teff_count,logg_median"), "{csv}");
        // On its own training stars a 3x3 map separates the three classes: logg is exact
        // for most of them.
        let rows: Vec<Vec<String>> = csv.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect();
        let right = rows.iter().filter(|r| {
            let i: usize = r[0][4..6].parse().unwrap();
            (r[6].parse::<f64>().unwrap() - (4.5 - (i % 3) as f64)).abs() < 0.5
        });
        assert!(right.count() >= 30, "{map}: logg read off the map is wrong too often:\n{csv}");
        ok(&["plot", "--run", s(&out), "--data", s(&lib)]);
        for f in ["u-matrix.png", "prototypes.png", "hits.png", "component-teff.png", "component-logg.png"] {
            image::open(out.join(f)).unwrap_or_else(|e| panic!("{map}: {f}: {e}"));
        }
    }
    // DESOM trained with the ssl-core trainer: its loss went down, and it resumes.
    let log = std::fs::read_to_string(d.join("desom/metrics.jsonl")).unwrap();
    let losses: Vec<f64> = log.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"].as_f64().unwrap()).collect();
    assert!(losses[losses.len() - 1] < losses[0], "{losses:?}");
    // After the autoencoder's pre-training the SOM term is logged beside the reconstruction.
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    let (total, rec, som) = (last["loss"].as_f64().unwrap(), last["loss/main"].as_f64().unwrap(), last["loss/som"].as_f64().unwrap());
    assert!(som > 0.0 && (total - rec - som).abs() < 1e-4, "{last}");
    // The encoder is exported by name (it was an empty file under the old fixed prefix).
    let enc = d.join("desom/checkpoints/step-00000300/encoder.safetensors");
    let names: Vec<String> = tch::Tensor::read_safetensors(&enc).unwrap().into_iter().map(|(k, _)| k).collect();
    assert!(names.contains(&"linear0.weight".to_string()) && names.len() == 6, "{names:?}");
    let listed = ok(&["methods"]);
    assert!(listed.contains("desom") && listed.contains("gamma = 0.001") && listed.contains("som"), "{listed}");
    fails(&["fit", "--config", s(&cfg), "--data", s(&lib), "--out", s(&d.join("typo")), "--set", "desom.gama=0.1"], "gama");
    ok(&["fit", "--config", s(&cfg), "--data", s(&lib), "--catalogue", s(&cat), "--out", s(&d.join("desom")), "--map", "desom", "--resume"]);
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn csv_input_and_the_conv_encoder() {
    let d = tmp("csv");
    let mut csv = String::from("name");
    for p in 0..64 {
        csv.push_str(&format!(",{}", 5000 + 3 * p));
    }
    csv.push('\n');
    for i in 0..24 {
        csv.push_str(&format!("s{i}"));
        for v in star(i % 3, i, 64) {
            csv.push_str(&format!(",{v}"));
        }
        csv.push('\n');
    }
    std::fs::write(d.join("spectra.csv"), csv).unwrap();
    let cfg = config(&d);
    ok(&["fit", "--config", s(&cfg), "--data", s(&d.join("spectra.csv")), "--out", s(&d.join("conv")), "--arch", "conv", "--batch-size", "8"]);
    let placed = ok(&["map", "--run", s(&d.join("conv")), "--data", s(&d.join("spectra.csv"))]);
    assert!(placed.contains("s23,"));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn bad_input_gives_clear_errors() {
    let d = tmp("bad");
    let lib = library(&d);
    let cfg = config(&d);
    let c = s(&cfg);
    let out = d.join("out");
    let o = s(&out);
    fails(&["fit", "--config", c, "--data", "/no/such/spectra", "--out", o], "no such file");
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    fails(&["fit", "--config", c, "--data", s(&empty), "--out", o], "no FITS files");
    // Truncated FITS.
    let bytes = std::fs::read(lib.join("star00.fits")).unwrap();
    let trunc = d.join("trunc.fits");
    std::fs::write(&trunc, &bytes[..2880 + 100]).unwrap();
    fails(&["fit", "--config", c, "--data", s(&trunc), "--out", o], "trunc.fits");
    std::fs::write(d.join("junk.fits"), b"not a fits file at all").unwrap();
    fails(&["fit", "--config", c, "--data", s(&d.join("junk.fits")), "--out", o], "not a FITS file");
    // Mismatched grids in one folder.
    let mixed = d.join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    write_fits(&mixed.join("a.fits"), 4000.0, 2.0, &star(0, 0, 200));
    write_fits(&mixed.join("b.fits"), 4100.0, 2.0, &star(1, 1, 200));
    fails(&["fit", "--config", c, "--data", s(&mixed), "--out", o], "different wavelength grids");
    // ... which a common grid resolves.
    ok(&["fit", "--config", c, "--data", s(&mixed), "--out", s(&d.join("regrid")), "--map", "som", "--grid", "4100,4390,2"]);
    // NaN-laden spectrum in a CSV.
    let mut csv = String::from("name,5000,5001,5002,5003\n");
    csv.push_str("good,1,2,3,4\nbad,nan,nan,nan,4\n");
    std::fs::write(d.join("nan.csv"), csv).unwrap();
    fails(&["fit", "--config", c, "--data", s(&d.join("nan.csv")), "--out", o], "'bad' has 75% bad pixels");
    std::fs::write(d.join("empty.csv"), "").unwrap();
    fails(&["fit", "--config", c, "--data", s(&d.join("empty.csv")), "--out", o], "empty file");
    std::fs::write(d.join("ragged.csv"), "name,1,2\na,1\n").unwrap();
    fails(&["fit", "--config", c, "--data", s(&d.join("ragged.csv")), "--out", o], "row 2 has 1 fluxes");
    // Bad config key, unknown map, map on a different grid, predict without a catalogue.
    std::fs::write(d.join("bad.toml"), "[desom]\nlatnet = 3\n").unwrap();
    fails(&["fit", "--config", s(&d.join("bad.toml")), "--data", s(&lib), "--out", o], "latnet");
    fails(&["fit", "--config", c, "--data", s(&lib), "--out", o, "--map", "kohonen"], "invalid value 'kohonen'");
    ok(&["fit", "--config", c, "--data", s(&lib), "--out", s(&d.join("som")), "--map", "som"]);
    fails(&["map", "--run", s(&d.join("som")), "--data", s(&mixed.join("b.fits"))], "different grid");
    fails(&["predict", "--run", s(&d.join("som")), "--data", s(&lib)], "nodes.json");
    fails(&["map", "--run", s(&d.join("nothing")), "--data", s(&lib)], "not a fitted map");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn experiments_fingerprints_and_bench_run_on_tiny_data() {
    let d = tmp("exp");
    let lib = library(&d);
    // The MILES experiment on the test library (its catalogue has teff and logg).
    let doc = d.join("miles.md");
    let out = ok(&[
        "experiment-miles",
        "--grid",
        "4000,4398,2",
        "--batch-size",
        "8",
        "--data",
        s(&lib),
        "--out",
        s(&d.join("miles")),
        "--doc",
        s(&doc),
        "--steps",
        "40",
        "--pretrain-steps",
        "20",
        "--rows",
        "3",
        "--cols",
        "3",
        "--device",
        "cpu",
        "--quiet",
    ]);
    let md = std::fs::read_to_string(&doc).unwrap();
    for row in ["| DESOM |", "| classic SOM |", "| kNN (k=5) on raw spectra |", "teff MAE", "logg 68% coverage"] {
        assert!(md.contains(row), "{row} missing:\n{md}\n{out}");
    }
    // Fingerprints: two objects per class, six spectra each.
    let cfg = config(&d);
    ok(&["fit", "--config", s(&cfg), "--data", s(&lib), "--out", s(&d.join("map1")), "--map", "som"]);
    let mut groups = String::from("name,object,kind\n");
    for i in 0..36 {
        groups.push_str(&format!("star{i:02}.fits,obj{},{}\n", (i % 3) * 2 + (i / 18), i % 3));
    }
    std::fs::write(d.join("groups.csv"), groups).unwrap();
    let msg = ok(&[
        "fingerprint",
        "--run",
        s(&d.join("map1")),
        "--data",
        s(&lib),
        "--groups",
        s(&d.join("groups.csv")),
        "--out",
        s(&d.join("fp.csv")),
        "--map-size",
        "2",
    ]);
    assert!(msg.contains("6 objects") && msg.contains("nearest fingerprint of the same kind 1.000"), "{msg}");
    assert_eq!(std::fs::read_to_string(d.join("fp.csv")).unwrap().lines().count(), 7);
    std::fs::write(d.join("partial.csv"), "name,object\nstar00.fits,a\n").unwrap();
    fails(&["fingerprint", "--run", s(&d.join("map1")), "--data", s(&lib), "--groups", s(&d.join("partial.csv")), "--out", s(&d.join("x.csv"))], "has no row");
    // The galaxies experiment on a tiny SSP grid named like MIUSCAT's.
    let ssp = d.join("ssp");
    std::fs::create_dir_all(&ssp).unwrap();
    for (i, (mh, age)) in [("p0.00", "00.5000"), ("p0.22", "02.0000"), ("p0.22", "10.0000"), ("m0.71", "12.0000"), ("p0.00", "00.1000")].iter().enumerate() {
        let flux: Vec<f32> = (0..200).map(|p| 1.0 + (i as f32 + 1.0) * 0.002 * p as f32).collect();
        write_fits(&ssp.join(format!("Iun1.30Z{mh}T{age}.fits")), 3500.0, 20.0, &flux);
    }
    let gdoc = d.join("galaxies.md");
    ok(&[
        "experiment-galaxies",
        "--ssp",
        s(&ssp),
        "--out",
        s(&d.join("gal")),
        "--doc",
        s(&gdoc),
        "--galaxies-per-kind",
        "2",
        "--spaxels",
        "20",
        "--steps",
        "30",
        "--pretrain-steps",
        "10",
        "--map-size",
        "3",
        "--second-map-size",
        "2",
        "--device",
        "cpu",
        "--quiet",
    ]);
    assert!(std::fs::read_to_string(&gdoc).unwrap().contains("| classic SOM-1 -> fingerprints -> map-2 |"));
    // The benchmark with a stand-in reference script (the real one needs MiniSom).
    let stub = d.join("stub.py");
    std::fs::write(&stub, "import json; print(json.dumps({'fit_spectra_per_second': 10.0, 'infer_spectra_per_second': 100.0, 'minisom_map': {}, 'our_map_scored_by_minisom': {}}))\n").unwrap();
    let json = d.join("bench.json");
    ok(&[
        "bench",
        "--grid",
        "4000,4398,2",
        "--data",
        s(&lib),
        "--python",
        "python3",
        "--script",
        s(&stub),
        "--rows",
        "3",
        "--cols",
        "3",
        "--iterations",
        "3",
        "--repeats",
        "1",
        "--threads",
        "1",
        "--json",
        s(&json),
    ]);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!((v["fit_ratio"].as_f64().unwrap() - v["ours_fit_spectra_per_second"].as_f64().unwrap() / 10.0).abs() < 1e-9);
    std::fs::remove_dir_all(&d).ok();
}

fn pad_block(mut b: Vec<u8>, fill: u8) -> Vec<u8> {
    while !b.len().is_multiple_of(2880) {
        b.push(fill);
    }
    b
}

/// A FITS file with an empty primary HDU and one binary table of float32 columns
/// `(name, repeat, values)` over `rows` rows.
fn write_table(path: &Path, rows: usize, columns: &[(&str, usize, Vec<f32>)]) {
    let mut h = String::new();
    for (k, v) in [("SIMPLE", "T"), ("BITPIX", "8"), ("NAXIS", "0"), ("EXTEND", "T")] {
        h.push_str(&card(k, v));
    }
    h.push_str(&format!("{:<80}", "END"));
    let mut bytes = pad_block(h.into_bytes(), b' ');
    let mut x = String::new();
    x.push_str(&format!("{:<80}", "XTENSION= 'BINTABLE'"));
    let width: usize = columns.iter().map(|c| c.1 * 4).sum();
    for (k, v) in [
        ("BITPIX", "8".to_string()),
        ("NAXIS", "2".into()),
        ("NAXIS1", width.to_string()),
        ("NAXIS2", rows.to_string()),
        ("PCOUNT", "0".into()),
        ("GCOUNT", "1".into()),
        ("TFIELDS", columns.len().to_string()),
    ] {
        x.push_str(&card(k, &v));
    }
    for (i, (name, repeat, _)) in columns.iter().enumerate() {
        x.push_str(&format!("{:<80}", format!("TTYPE{}  = '{name}'", i + 1)));
        x.push_str(&format!("{:<80}", format!("TFORM{}  = '{repeat}E'", i + 1)));
    }
    x.push_str(&format!("{:<80}", "END"));
    bytes.extend(pad_block(x.into_bytes(), b' '));
    let mut data = Vec::new();
    for r in 0..rows {
        for (_, repeat, values) in columns {
            for v in &values[r * repeat..(r + 1) * repeat] {
                data.extend_from_slice(&v.to_be_bytes());
            }
        }
    }
    bytes.extend(pad_block(data, 0));
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn binary_tables_in_both_layouts() {
    let d = tmp("tables");
    let cfg = config(&d);
    // One spectrum per row, array columns.
    let (rows, l) = (12, 50);
    let wave: Vec<f32> = (0..rows).flat_map(|_| (0..l).map(|p| 5000.0 + 2.0 * p as f32)).collect();
    let flux: Vec<f32> = (0..rows).flat_map(|i| star(i % 3, i, l)).collect();
    let ivar = vec![1.0f32; rows * l];
    write_table(&d.join("rows.fits"), rows, &[("WAVE", l, wave), ("FLUX", l, flux), ("IVAR", l, ivar)]);
    let msg = ok(&["fit", "--config", s(&cfg), "--data", s(&d.join("rows.fits")), "--out", s(&d.join("m1")), "--map", "som", "--batch-size", "4"]);
    assert!(msg.contains("fitted on 12 spectra"), "{msg}");
    // One spectrum per file, one pixel per row (SDSS coadd style, log10 wavelengths).
    let per_pixel = d.join("coadd");
    std::fs::create_dir_all(&per_pixel).unwrap();
    for i in 0..6 {
        let loglam: Vec<f32> = (0..l).map(|p| (3.6 + 1e-4 * p as f64) as f32).collect();
        write_table(&per_pixel.join(format!("spec{i}.fits")), l, &[("LOGLAM", 1, loglam), ("FLUX", 1, star(i % 3, i, l)), ("AND_MASK", 1, vec![0.0; l])]);
    }
    let placed = ok(&["fit", "--config", s(&cfg), "--data", s(&per_pixel), "--out", s(&d.join("m2")), "--map", "som", "--batch-size", "4"]);
    assert!(placed.contains("fitted on 6 spectra"), "{placed}");
    // A truncated table is an error naming the file.
    let bytes = std::fs::read(d.join("rows.fits")).unwrap();
    std::fs::write(d.join("cut.fits"), &bytes[..2 * 2880 + 700]).unwrap();
    fails(&["fit", "--config", s(&cfg), "--data", s(&d.join("cut.fits")), "--out", s(&d.join("m3")), "--map", "som"], "cut.fits");
    std::fs::remove_dir_all(&d).ok();
}

/// A little-endian float32 NPY file in C order.
fn write_npy(path: &Path, shape: &[usize], data: &[f32]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    data.iter().for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn hostile_input_is_refused_before_anything_is_written_or_lost() {
    let d = tmp("hostile");
    let lib = library(&d);
    let cfg = config(&d);
    let c = s(&cfg);
    let cat = lib.join("params.csv");
    // A truncated NPY is an error, not a read past its end.
    let npy = d.join("npy");
    std::fs::create_dir_all(&npy).unwrap();
    let flux: Vec<f32> = (0..12).flat_map(|i| star(i % 3, i, 64)).collect();
    write_npy(&npy.join("spectra.npy"), &[12, 64], &flux);
    write_npy(&npy.join("wave.npy"), &[64], &(0..64).map(|p| 5000.0 + 3.0 * p as f32).collect::<Vec<_>>());
    ok(&["fit", "--config", c, "--data", s(&npy.join("spectra.npy")), "--out", s(&d.join("npy-som")), "--map", "som"]);
    let bytes = std::fs::read(npy.join("spectra.npy")).unwrap();
    std::fs::write(npy.join("trunc.npy"), &bytes[..bytes.len() - 100]).unwrap();
    std::fs::copy(npy.join("wave.npy"), npy.join("trunc.wave.npy")).unwrap();
    fails(&["map", "--run", s(&d.join("npy-som")), "--data", s(&npy.join("trunc.npy"))], "truncated or padded");

    // A refused re-fit keeps the run as it was (nodes.json included), for DESOM and SOM.
    for map in ["desom", "som"] {
        let out = d.join(format!("refit-{map}"));
        ok(&["fit", "--config", c, "--data", s(&lib), "--catalogue", s(&cat), "--out", s(&out), "--map", map]);
        let before: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
        fails(&["fit", "--config", c, "--data", s(&lib), "--catalogue", s(&cat), "--out", s(&out), "--map", map], "already holds a map");
        let after: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(before.len(), after.len(), "{map}: {before:?} -> {after:?}");
        ok(&["predict", "--run", s(&out), "--data", s(&lib)]);
    }
    // A catalogue that cannot work is found before training, and nothing is written.
    let fresh = d.join("fresh");
    fails(&["fit", "--config", c, "--data", s(&lib), "--catalogue", s(&d.join("missing.csv")), "--out", s(&fresh)], "missing.csv");
    std::fs::write(d.join("dup.csv"), "file,teff\nstar00.fits,4000\nstar00.fits,5000\n").unwrap();
    fails(&["fit", "--config", c, "--data", s(&lib), "--catalogue", s(&d.join("dup.csv")), "--out", s(&fresh)], "rows 2 and 3");
    std::fs::write(d.join("other.csv"), "file,teff\nvega.fits,9600\n").unwrap();
    fails(&["fit", "--config", c, "--data", s(&lib), "--catalogue", s(&d.join("other.csv")), "--out", s(&fresh)], "none of the 36 spectra");
    assert!(!fresh.exists(), "a refused fit wrote {}", fresh.display());
    // A catalogue naming few of the spectra is reported, and the fit goes on.
    std::fs::write(d.join("few.csv"), "file,teff\nstar00.fits,4000\n").unwrap();
    let o = run(&["fit", "--config", c, "--data", s(&lib), "--catalogue", s(&d.join("few.csv")), "--out", s(&d.join("few")), "--map", "som"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && e.contains("only 1 of 36 spectra"), "{e}");
    // The same spectra at another path resume; other spectra do not.
    let moved = d.join("moved");
    std::fs::rename(&lib, &moved).unwrap();
    let out = d.join("refit-desom");
    ok(&["fit", "--config", c, "--data", s(&moved), "--catalogue", s(&moved.join("params.csv")), "--out", s(&out), "--map", "desom", "--resume"]);
    write_fits(&moved.join("star00.fits"), 4000.0, 2.0, &star(2, 0, 200));
    fails(&["fit", "--config", c, "--data", s(&moved), "--out", s(&out), "--map", "desom", "--resume"], "differ in content");
    // One unreadable file in a folder: map and predict name it, and --skip-bad leaves it out.
    std::fs::write(moved.join("broken.fits"), b"SIMPLE  = not really").unwrap();
    fails(&["predict", "--run", s(&out), "--data", s(&moved)], "broken.fits");
    let o = run(&["predict", "--run", s(&out), "--data", s(&moved), "--skip-bad"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("leaving out") && String::from_utf8_lossy(&o.stdout).lines().count() == 37);
    ok(&["map", "--run", s(&out), "--data", s(&moved), "--skip-bad"]);
    // Sizes that cannot be allocated name the setting instead of aborting.
    std::fs::write(d.join("two.csv"), "name,5000,5001,5002,5003\na,1,2,3,4\nb,4,3,2,1\n").unwrap();
    std::fs::write(d.join("big.toml"), "device = \"cpu\"\nthreads = 1\n[train]\nprogress = false\n").unwrap();
    fails(
        &["fit", "--config", s(&d.join("big.toml")), "--data", s(&d.join("two.csv")), "--out", s(&fresh), "--grid", "5000,5003,0.0000004"],
        "preprocess.grid",
    );
    // Nonsense settings.
    std::fs::write(d.join("neg.toml"), std::fs::read_to_string(&cfg).unwrap() + "min_lr_ratio = -1.0\n").unwrap();
    fails(&["fit", "--config", s(&d.join("neg.toml")), "--data", s(&moved), "--out", s(&fresh)], "min_lr_ratio");
    assert!(!fresh.exists());
    std::fs::remove_dir_all(&d).ok();
}
