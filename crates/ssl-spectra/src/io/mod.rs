//! Reading spectra: FITS (one spectrum per file as in MILES / STELIB / SSP grids, or
//! MaNGA-style row-stacked FLUX / IVAR / MASK / WAVE extensions), CSV and NPY.
pub mod fits;

use crate::preprocess::rebin;
use crate::spectra::SpectraSet;
use anyhow::{bail, Context, Result};
use fits::{read_fits, FitsImage, FitsTable};
use std::path::{Path, PathBuf};

fn is_fits(p: &Path) -> bool {
    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase();
    n.ends_with(".fits") || n.ends_with(".fit") || n.ends_with(".fits.gz") || n.ends_with(".fts")
}

/// Loads spectra from a FITS / CSV / NPY file or a folder of single-spectrum FITS files.
/// Files on different grids are an error unless `grid` is given, in which case every
/// spectrum is rebinned (flux-conserving) onto it.
pub fn load_spectra(path: &Path, grid: Option<&[f64]>) -> Result<SpectraSet> {
    load_spectra_skipping(path, grid, false)
}

/// [`load_spectra`]; with `skip_unreadable`, files of a folder that cannot be read are left
/// out with a note naming each and why, instead of failing the whole folder.
pub fn load_spectra_skipping(path: &Path, grid: Option<&[f64]>, skip_unreadable: bool) -> Result<SpectraSet> {
    if !path.exists() {
        bail!("{}: no such file or folder", path.display());
    }
    let set = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot list {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_fits(p))
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("{}: no FITS files (.fits, .fits.gz) found", path.display());
        }
        let mut all: Option<SpectraSet> = None;
        let mut skipped = 0;
        for f in &files {
            let added = load_file(f).and_then(|s| regrid(s, grid)).and_then(|s| match &mut all {
                Some(a) => a.extend(&s).with_context(|| format!("{}: does not match the other files", f.display())),
                None => {
                    all = Some(s);
                    Ok(())
                }
            });
            match added {
                Ok(()) => {}
                Err(e) if skip_unreadable => {
                    eprintln!("note: leaving out {}: {e:#}", f.display());
                    skipped += 1;
                }
                Err(e) => return Err(e.context("--skip-bad leaves unreadable files of a folder out")),
            }
        }
        let mut all = all.with_context(|| format!("{}: none of its {} FITS files could be read", path.display(), files.len()))?;
        if skipped > 0 {
            eprintln!("note: left out {skipped} of {} files of {}", files.len(), path.display());
        }
        all.source = path.to_path_buf();
        return Ok(all);
    } else {
        load_file(path)?
    };
    regrid(set, grid)
}

fn regrid(set: SpectraSet, grid: Option<&[f64]>) -> Result<SpectraSet> {
    match grid {
        // Redshifted spectra are rebinned after the rest-frame shift (in `prepare`).
        Some(g) if g != set.wave.as_slice() && set.redshift.iter().all(|z| *z == 0.0) => rebin(&set, g),
        _ => Ok(set),
    }
}

fn load_file(path: &Path) -> Result<SpectraSet> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase();
    if is_fits(path) {
        load_fits(path)
    } else if name.ends_with(".csv") {
        load_csv(path)
    } else if name.ends_with(".npy") {
        load_npy(path)
    } else {
        bail!("{}: unknown spectrum format (use .fits, .fits.gz, .csv or .npy)", path.display())
    }
}

/// A linear wavelength axis from CRVAL1 / CDELT1 (or CD1_1) / CRPIX1; logarithmic when
/// `DC-FLAG = 1` (MaNGA / SDSS convention: log10 wavelengths).
fn linear_axis(img: &FitsImage, n: usize, path: &Path) -> Result<Vec<f64>> {
    let crval = img.number("CRVAL1").with_context(|| format!("{}: no CRVAL1 keyword for the wavelength axis", path.display()))?;
    let cdelt = img.number("CDELT1").or_else(|| img.number("CD1_1")).with_context(|| format!("{}: no CDELT1 / CD1_1 keyword", path.display()))?;
    let crpix = img.number("CRPIX1").unwrap_or(1.0);
    let log = img.number("DC-FLAG") == Some(1.0);
    Ok((0..n)
        .map(|i| {
            let v = crval + (i as f64 + 1.0 - crpix) * cdelt;
            if log {
                10f64.powf(v)
            } else {
                v
            }
        })
        .collect())
}

fn load_fits(path: &Path) -> Result<SpectraSet> {
    let contents = read_fits(path)?;
    if let Some(table) = contents.tables.iter().find(|t| t.column("FLUX").is_some()) {
        if !contents.images.iter().any(|h| h.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case("FLUX"))) {
            return load_table(path, table);
        }
    }
    let hdus = contents.images;
    if hdus.is_empty() {
        bail!("{}: no image HDU and no binary table with a FLUX column", path.display());
    }
    let by_name = |n: &str| hdus.iter().find(|h| h.name.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(n)));
    if let Some(flux) = by_name("FLUX") {
        // Row-stacked spectra (MaNGA test files): FLUX [N, L] with WAVE [L].
        let wave = by_name("WAVE").with_context(|| format!("{}: has a FLUX extension but no WAVE extension", path.display()))?;
        let (l, n) = match flux.axes.as_slice() {
            [l] => (*l, 1),
            [l, n] => (*l, *n),
            a => bail!("{}: FLUX must be 1-D or 2-D, has axes {a:?}", path.display()),
        };
        if wave.data.len() != l {
            bail!("{}: WAVE has {} values but FLUX rows have {l} pixels", path.display(), wave.data.len());
        }
        let mut ivar: Vec<f32> = match by_name("IVAR") {
            Some(iv) if iv.data.len() == n * l => iv.data.iter().map(|&v| v as f32).collect(),
            Some(iv) => bail!("{}: IVAR has {} values, FLUX {}", path.display(), iv.data.len(), n * l),
            None => vec![1.0; n * l],
        };
        if let Some(mask) = by_name("MASK") {
            if mask.data.len() != n * l {
                bail!("{}: MASK has {} values, FLUX {}", path.display(), mask.data.len(), n * l);
            }
            ivar.iter_mut().zip(&mask.data).filter(|(_, m)| **m != 0.0).for_each(|(iv, _)| *iv = 0.0);
        }
        let stem = path.file_name().and_then(|s| s.to_str()).unwrap_or("spectrum");
        let names = (0..n).map(|i| format!("{stem}[{i}]")).collect();
        let set = SpectraSet::new(path.to_path_buf(), wave.data.clone(), flux.data.iter().map(|&v| v as f32).collect(), ivar, names)?;
        // MaNGA test files carry one redshift per spectrum in a Z extension.
        return match by_name("Z") {
            Some(z) if z.data.len() == n => set.with_redshifts(z.data.clone()),
            Some(z) => bail!("{}: Z has {} values for {n} spectra", path.display(), z.data.len()),
            None => Ok(set),
        };
    }
    // One spectrum in the first HDU with data.
    let img = hdus.iter().find(|h| !h.data.is_empty()).with_context(|| format!("{}: no HDU holds data", path.display()))?;
    let n = match img.axes.as_slice() {
        [n] => *n,
        [n, 1] => *n,
        a => bail!("{}: expected a 1-D spectrum in HDU {}, found axes {a:?} (row-stacked files need FLUX and WAVE extensions)", path.display(), img.index),
    };
    let wave = linear_axis(img, n, path)?;
    // Exact zeros mark pixels without data (STELIB's convention).
    let flux: Vec<f32> = img.data.iter().map(|&v| v as f32).collect();
    let ivar = flux.iter().map(|&f| if f == 0.0 { 0.0 } else { 1.0 }).collect();
    let name = path.file_name().and_then(|s| s.to_str()).unwrap_or("spectrum").to_string();
    SpectraSet::new(path.to_path_buf(), wave, flux, ivar, vec![name])
}

/// A binary table with a `FLUX` column: one spectrum per row when FLUX is an array column
/// (wavelengths in a `WAVE` / `LAMBDA` array column, the same for every row, or `LOGLAM` in
/// log10 Å), or one spectrum whose rows are pixels (SDSS `COADD` style: `LOGLAM` or `WAVE`
/// per row). `IVAR` and `MASK` / `AND_MASK` columns are used when present.
fn load_table(path: &Path, t: &FitsTable) -> Result<SpectraSet> {
    let (flux, repeat) = t.column("FLUX").context("no FLUX column")?;
    let wave_col = ["WAVE", "WAVELENGTH", "LAMBDA"].iter().find_map(|n| t.column(n)).map(|(v, r)| (v.to_vec(), r));
    let (wave_all, wave_repeat) = match (wave_col, t.column("LOGLAM")) {
        (Some(w), _) => w,
        (None, Some((v, r))) => (v.iter().map(|x| 10f64.powf(*x)).collect(), r),
        (None, None) => bail!("{}: table HDU {} has FLUX but no WAVE, LAMBDA or LOGLAM column", path.display(), t.index),
    };
    if wave_repeat != repeat {
        bail!("{}: FLUX has {repeat} values per row but the wavelength column {wave_repeat}", path.display());
    }
    let (n, l) = if repeat > 1 { (t.rows, repeat) } else { (1, t.rows) };
    let wave: Vec<f64> = wave_all[..l].to_vec();
    if repeat > 1 && wave_all.chunks(l).any(|w| w != wave.as_slice()) {
        bail!("{}: rows have different wavelength grids; store one spectrum per file or rebin first", path.display());
    }
    let mut ivar: Vec<f32> = match t.column("IVAR") {
        Some((v, r)) if r == repeat => v.iter().map(|&x| x as f32).collect(),
        Some(_) => bail!("{}: IVAR and FLUX columns differ in length", path.display()),
        None => vec![1.0; n * l],
    };
    if let Some((m, r)) = t.column("MASK").or_else(|| t.column("AND_MASK")) {
        if r != repeat {
            bail!("{}: MASK and FLUX columns differ in length", path.display());
        }
        ivar.iter_mut().zip(m).filter(|(_, m)| **m != 0.0).for_each(|(iv, _)| *iv = 0.0);
    }
    let stem = path.file_name().and_then(|s| s.to_str()).unwrap_or("spectrum");
    let names = if n == 1 { vec![stem.to_string()] } else { (0..n).map(|i| format!("{stem}[{i}]")).collect() };
    SpectraSet::new(path.to_path_buf(), wave, flux.iter().map(|&x| x as f32).collect(), ivar, names)
}

/// CSV: a header `name,<wavelength 1>,<wavelength 2>,...` and one row per spectrum
/// (`name,<flux 1>,...`); empty cells or `nan` are bad pixels.
fn load_csv(path: &Path) -> Result<SpectraSet> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().with_context(|| format!("{}: empty file", path.display()))?;
    let wave: Vec<f64> = header
        .split(',')
        .skip(1)
        .enumerate()
        .map(|(i, w)| w.trim().parse::<f64>().with_context(|| format!("{}: header column {} ('{w}') is not a wavelength", path.display(), i + 2)))
        .collect::<Result<_>>()?;
    let (mut flux, mut ivar, mut names) = (Vec::new(), Vec::new(), Vec::new());
    for (row, line) in lines.enumerate() {
        let mut cells = line.split(',');
        names.push(cells.next().unwrap_or("").trim().to_string());
        let values: Vec<&str> = cells.collect();
        if values.len() != wave.len() {
            bail!("{}: row {} has {} fluxes, the header {} wavelengths", path.display(), row + 2, values.len(), wave.len());
        }
        for (col, v) in values.iter().enumerate() {
            let v = v.trim();
            let f = if v.is_empty() || v.eq_ignore_ascii_case("nan") {
                f32::NAN
            } else {
                v.parse::<f32>().with_context(|| format!("{}: row {}, column {}: '{v}' is not a number", path.display(), row + 2, col + 2))?
            };
            flux.push(f);
            ivar.push(1.0);
        }
    }
    SpectraSet::new(path.to_path_buf(), wave, flux, ivar, names)
}

/// NPY: `<name>.npy` holds fluxes `[N, L]` (or `[L]`); the grid is `<name>.wave.npy`
/// beside it, or `wave.npy` in the same folder.
fn load_npy(path: &Path) -> Result<SpectraSet> {
    let stem = path.file_name().and_then(|n| n.to_str()).unwrap_or("").trim_end_matches(".npy").to_string();
    let candidates = [path.with_file_name(format!("{stem}.wave.npy")), path.with_file_name("wave.npy")];
    let wave_path = candidates
        .iter()
        .find(|p| p.exists() && p.as_path() != path)
        .with_context(|| format!("{}: no wavelength grid found ({} or wave.npy)", path.display(), candidates[0].display()))?;
    let read = |p: &Path| -> Result<tch::Tensor> {
        check_npy(p)?;
        tch::Tensor::read_npy(p).with_context(|| format!("{}: not a readable NPY array", p.display()))
    };
    let flux = read(path)?.to_kind(tch::Kind::Float);
    let wave = read(wave_path)?.to_kind(tch::Kind::Double).flatten(0, -1);
    let l = wave.size()[0];
    let flux = match flux.size().as_slice() {
        [n] if *n == l => flux.view([1, l]),
        [_, m] if *m == l => flux,
        s => bail!("{}: fluxes have shape {s:?}, the grid {} has {l} wavelengths", path.display(), wave_path.display()),
    };
    let n = flux.size()[0] as usize;
    let flux_v = Vec::<f32>::try_from(flux.flatten(0, -1))?;
    let names = (0..n).map(|i| format!("{stem}[{i}]")).collect();
    SpectraSet::new(path.to_path_buf(), Vec::<f64>::try_from(wave)?, flux_v.clone(), vec![1.0; flux_v.len()], names)
}

/// Checks an NPY file's header against the bytes present: a little-endian float array in
/// C order whose declared shape needs exactly the data the file holds (a truncated or
/// padded file is an error, never read past its end).
pub fn check_npy(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bad = |why: String| anyhow::anyhow!("{}: not a valid NPY file: {why}", path.display());
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("no NPY magic".into()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(bad(format!("unsupported version {v}"))),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| bad(format!("the header claims {header_len} bytes, the file has {}", bytes.len())))?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| bad("the header is not text".into()))?;
    let field = |key: &str| -> Option<&str> {
        let at = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest)
    };
    let descr = field("descr").and_then(|r| r.strip_prefix('\'')).and_then(|r| r.split('\'').next()).ok_or_else(|| bad("no descr".into()))?;
    let item = match descr {
        "<f4" => 4,
        "<f8" => 8,
        other => return Err(bad(format!("element type '{other}' (only little-endian float32 '<f4' and float64 '<f8')"))),
    };
    if field("fortran_order").is_some_and(|r| r.starts_with("True")) {
        return Err(bad("Fortran order is not supported (save with C order)".into()));
    }
    let shape = field("shape").and_then(|r| r.strip_prefix('(')).and_then(|r| r.split(')').next()).ok_or_else(|| bad("no shape".into()))?;
    let dims: Vec<u64> = shape
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse::<u64>().map_err(|_| bad(format!("shape entry '{d}' is not a size"))))
        .collect::<Result<_>>()?;
    let need = dims.iter().try_fold(item as u64, |acc, &d| acc.checked_mul(d)).ok_or_else(|| bad(format!("shape {dims:?} overflows")))?;
    let have = (bytes.len() - end) as u64;
    if need != have {
        return Err(bad(format!("shape {dims:?} of {descr} needs {need} data bytes, the file holds {have} (truncated or padded)")));
    }
    Ok(())
}
