//! Preprocessing onto one comparable footing: redshift correction, flux-conserving
//! rebinning to a common grid, masking of bad pixels, normalisation.
use crate::spectra::SpectraSet;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// Bin edges for pixel centres: midpoints, with the end bins mirrored.
fn edges(centres: &[f64]) -> Vec<f64> {
    let n = centres.len();
    let mut e = Vec::with_capacity(n + 1);
    e.push(centres[0] - (centres[1] - centres[0]) / 2.0);
    for w in centres.windows(2) {
        e.push((w[0] + w[1]) / 2.0);
    }
    e.push(centres[n - 1] + (centres[n - 1] - centres[n - 2]) / 2.0);
    e
}

/// Rebins one spectrum (flux density) onto `grid`, conserving flux: each output pixel is
/// the overlap-weighted mean of the good input pixels it covers. An output pixel less
/// than half covered by good input is bad (`ivar = 0`).
pub fn rebin_one(wave: &[f64], flux: &[f32], ivar: &[f32], grid: &[f64]) -> (Vec<f32>, Vec<f32>) {
    let (ein, eout) = (edges(wave), edges(grid));
    let mut out_f = vec![0f32; grid.len()];
    let mut out_iv = vec![0f32; grid.len()];
    let mut start = 0;
    for j in 0..grid.len() {
        let (lo, hi) = (eout[j], eout[j + 1]);
        while start < wave.len() && ein[start + 1] <= lo {
            start += 1;
        }
        let (mut wsum, mut fsum, mut var) = (0.0f64, 0.0f64, 0.0f64);
        let mut i = start;
        while i < wave.len() && ein[i] < hi {
            let overlap = (hi.min(ein[i + 1]) - lo.max(ein[i])).max(0.0);
            if overlap > 0.0 && ivar[i] > 0.0 {
                wsum += overlap;
                fsum += overlap * flux[i] as f64;
                var += overlap * overlap / ivar[i] as f64;
            }
            i += 1;
        }
        if wsum >= 0.5 * (hi - lo) {
            out_f[j] = (fsum / wsum) as f32;
            out_iv[j] = (wsum * wsum / var) as f32;
        }
    }
    (out_f, out_iv)
}

/// Refuses a grid whose rebinned fluxes and inverse variances would not fit in memory.
fn check_rebinned_memory(spectra: usize, pixels: usize) -> Result<()> {
    ssl_core::memory::check_fits(
        &format!("{spectra} spectra rebinned to {pixels} pixels"),
        "preprocess.grid (a coarser step)",
        spectra as f64 * pixels as f64 * 8.0 * 2.0,
    )
}

/// Rebins every spectrum of `set` onto `grid`.
pub fn rebin(set: &SpectraSet, grid: &[f64]) -> Result<SpectraSet> {
    if grid.len() < 2 || grid.windows(2).any(|w| w[1] <= w[0]) {
        bail!("the target grid must have at least 2 strictly increasing wavelengths");
    }
    check_rebinned_memory(set.len(), grid.len())?;
    let (mut flux, mut ivar) = (Vec::with_capacity(set.len() * grid.len()), Vec::with_capacity(set.len() * grid.len()));
    for i in 0..set.len() {
        let (f, iv) = rebin_one(&set.wave, set.flux_of(i), set.ivar_of(i), grid);
        flux.extend(f);
        ivar.extend(iv);
    }
    SpectraSet::new(set.source.clone(), grid.to_vec(), flux, ivar, set.names.clone())
}

/// A linear grid from `start` to `end` (inclusive when it falls on a step) every `step`.
pub fn linear_grid(start: f64, end: f64, step: f64) -> Result<Vec<f64>> {
    if !(step > 0.0 && end > start && start.is_finite() && end.is_finite()) {
        bail!("grid: need finite start < end and step > 0 (got {start}, {end}, {step})");
    }
    let n = ((end - start) / step + 1e-9).floor() + 1.0;
    if n > 1e7 {
        bail!("grid: {start}..{end} every {step} would have {n:.0} pixels (at most 10 million)");
    }
    let n = n as usize;
    Ok((0..n).map(|i| start + i as f64 * step).collect())
}

/// How each spectrum is normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Normalisation {
    /// Divide by the median of the good pixels.
    Median,
    /// Divide by a running median continuum (window `continuum_window` pixels).
    Continuum,
    /// Leave the flux as it is.
    None,
}

/// Preprocessing settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct PreprocessConfig {
    /// Common rest-frame grid `[start, end, step]` in Å; empty keeps the input grid.
    pub grid: Vec<f64>,
    /// How each spectrum is normalised (default `median`).
    pub normalisation: Normalisation,
    /// Width of the running-median window of the `continuum` normalisation, in pixels (default 101).
    pub continuum_window: usize,
    /// Spectra with a larger fraction of bad pixels are an error (0.5 by default) ...
    pub max_bad_fraction: f64,
    /// ... or are left out with a note, when this is set.
    pub skip_bad: bool,
    /// Shift redshifted spectra to the rest frame (needs `grid`).
    pub rest_frame: bool,
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        Self { grid: Vec::new(), normalisation: Normalisation::Median, continuum_window: 101, max_bad_fraction: 0.5, skip_bad: false, rest_frame: true }
    }
}

fn median(v: &mut [f32]) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) { (v[mid - 1] + v[mid]) / 2.0 } else { v[mid] })
}

/// Shifts observed wavelengths to the rest frame: `λ_rest = λ_obs / (1 + z)`.
pub fn to_rest_frame(wave: &[f64], z: f64) -> Result<Vec<f64>> {
    if !(z > -1.0 && z.is_finite()) {
        bail!("redshift must be a finite number above -1, got {z}");
    }
    Ok(wave.iter().map(|w| w / (1.0 + z)).collect())
}

/// Rebins (when a grid is set), checks bad-pixel fractions and normalises.
pub fn prepare(set: &SpectraSet, cfg: &PreprocessConfig) -> Result<SpectraSet> {
    let grid = match cfg.grid.as_slice() {
        [] => None,
        [a, b, c] => Some(linear_grid(*a, *b, *c)?),
        g => bail!("preprocess.grid must be [start, end, step], got {g:?}"),
    };
    let shifted = cfg.rest_frame && set.redshift.iter().any(|z| *z != 0.0);
    let mut set = match (&grid, shifted) {
        (None, true) => bail!("{}: redshifted spectra need a common rest-frame grid (preprocess.grid) to be shifted onto", set.source.display()),
        (Some(g), true) => {
            check_rebinned_memory(set.len(), g.len())?;
            let (mut flux, mut ivar) = (Vec::new(), Vec::new());
            for i in 0..set.len() {
                // Flux density per unit wavelength scales by (1 + z) into the rest frame.
                let z1 = (1.0 + set.redshift[i]) as f32;
                let (f, iv) = rebin_one(&to_rest_frame(&set.wave, set.redshift[i])?, set.flux_of(i), set.ivar_of(i), g);
                flux.extend(f.iter().map(|v| v * z1));
                ivar.extend(iv.iter().map(|v| v / (z1 * z1)));
            }
            SpectraSet::new(set.source.clone(), g.clone(), flux, ivar, set.names.clone())?
        }
        (Some(g), false) => rebin(set, g)?,
        (None, false) => set.clone(),
    };
    let bad: Vec<usize> = (0..set.len()).filter(|&i| set.bad_fraction(i) > cfg.max_bad_fraction).collect();
    if cfg.skip_bad && !bad.is_empty() {
        for &i in &bad {
            eprintln!("note: leaving out '{}' ({:.0}% bad pixels)", set.names[i], 100.0 * set.bad_fraction(i));
        }
        let keep: Vec<usize> = (0..set.len()).filter(|i| !bad.contains(i)).collect();
        if keep.is_empty() {
            bail!("{}: every spectrum has more than {:.0}% bad pixels", set.source.display(), 100.0 * cfg.max_bad_fraction);
        }
        set = set.select(&keep);
    }
    for i in 0..set.len() {
        let bad = set.bad_fraction(i);
        if bad > cfg.max_bad_fraction {
            bail!(
                "{}: spectrum '{}' has {:.0}% bad pixels (NaN, masked or outside the grid), more than the allowed {:.0}% (preprocess.max_bad_fraction; --skip-bad leaves such spectra out)",
                set.source.display(),
                set.names[i],
                100.0 * bad,
                100.0 * cfg.max_bad_fraction
            );
        }
    }
    let l = set.pixels();
    for i in 0..set.len() {
        let good: Vec<f32> = set.flux_of(i).iter().zip(set.ivar_of(i)).filter(|(_, iv)| **iv > 0.0).map(|(f, _)| *f).collect();
        let row = i * l..(i + 1) * l;
        match cfg.normalisation {
            Normalisation::None => {}
            Normalisation::Median => {
                let m = median(&mut good.clone()).unwrap_or(0.0);
                if m == 0.0 || !m.is_finite() {
                    bail!("{}: spectrum '{}' has a zero median flux and cannot be median-normalised", set.source.display(), set.names[i]);
                }
                set.flux[row.clone()].iter_mut().for_each(|f| *f /= m);
                set.ivar[row].iter_mut().for_each(|iv| *iv *= m * m);
            }
            Normalisation::Continuum => {
                let half = cfg.continuum_window.max(3) / 2;
                let f = set.flux_of(i).to_vec();
                let iv = set.ivar_of(i).to_vec();
                let cont: Vec<f32> = (0..l)
                    .map(|p| {
                        let mut w: Vec<f32> = (p.saturating_sub(half)..(p + half + 1).min(l)).filter(|&q| iv[q] > 0.0).map(|q| f[q]).collect();
                        median(&mut w).unwrap_or(0.0)
                    })
                    .collect();
                for (p, c) in cont.iter().enumerate() {
                    let k = i * l + p;
                    if c.abs() > 0.0 && set.ivar[k] > 0.0 {
                        set.flux[k] /= c;
                        set.ivar[k] *= c * c;
                    } else {
                        set.flux[k] = 0.0;
                        set.ivar[k] = 0.0;
                    }
                }
            }
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebinning_conserves_flux_and_masks_gaps() {
        let wave: Vec<f64> = (0..100).map(|i| 4000.0 + i as f64).collect();
        let flux: Vec<f32> = (0..100).map(|i| 1.0 + (i % 7) as f32).collect();
        let ivar = vec![1.0f32; 100];
        let grid = linear_grid(4000.5, 4097.5, 2.0).unwrap();
        let (f, iv) = rebin_one(&wave, &flux, &ivar, &grid);
        // Total flux over the covered range is conserved: sum(f_out * 2) == sum(f_in * 1).
        // Output bins [4000, 4098] cover input pixels 0..97 (edges at +-0.5 Å).
        let total_in: f64 = flux[..98].iter().map(|&v| v as f64).sum();
        let total_out: f64 = f.iter().map(|&v| v as f64 * 2.0).sum();
        assert!((total_in - total_out).abs() < 1e-3, "{total_in} vs {total_out}");
        assert!(iv.iter().all(|&v| (v - 2.0).abs() < 1e-5), "two pixels of ivar 1 average to ivar 2");
        // A masked stretch becomes bad, outside the input range too.
        let mut ivar2 = ivar.clone();
        ivar2[40..50].iter_mut().for_each(|v| *v = 0.0);
        let (_, iv2) = rebin_one(&wave, &flux, &ivar2, &linear_grid(3990.0, 4110.0, 2.0).unwrap());
        assert_eq!(iv2[0], 0.0);
        assert!(iv2.iter().filter(|v| **v == 0.0).count() >= 10);
    }

    #[test]
    fn redshifted_spectra_land_on_the_rest_frame_grid_and_bad_ones_can_be_skipped() {
        // An absorption line at 5000 Å in the rest frame, observed at z = 0.1 (5500 Å).
        let wave: Vec<f64> = (0..400).map(|i| 5000.0 + 2.0 * i as f64).collect();
        let line = |w: f64| 1.0 - 0.8 * (-((w - 5500.0) / 4.0f64).powi(2)).exp();
        let flux: Vec<f32> = wave.iter().map(|w| line(*w) as f32).collect();
        let mut f2 = flux.clone();
        f2[..300].iter_mut().for_each(|v| *v = f32::NAN);
        let set = SpectraSet::new("t".into(), wave, [flux, f2].concat(), vec![1.0; 800], vec!["a".into(), "b".into()])
            .unwrap()
            .with_redshifts(vec![0.1, 0.1])
            .unwrap();
        let cfg = PreprocessConfig { grid: vec![4600.0, 5400.0, 2.0], normalisation: Normalisation::None, ..Default::default() };
        let err = prepare(&set, &cfg).unwrap_err().to_string();
        assert!(err.contains("'b'") && err.contains("--skip-bad"), "{err}");
        let out = prepare(&set, &PreprocessConfig { skip_bad: true, ..cfg.clone() }).unwrap();
        assert_eq!(out.names, vec!["a".to_string()]);
        let f = out.flux_of(0);
        let min = (0..f.len()).filter(|&i| out.ivar_of(0)[i] > 0.0).min_by(|&a, &b| f[a].total_cmp(&f[b])).unwrap();
        assert!((out.wave[min] - 5000.0).abs() <= 2.0, "line at {} Å", out.wave[min]);
        assert!(prepare(&set, &PreprocessConfig { grid: vec![], ..cfg }).is_err(), "a shift needs a grid");
    }

    #[test]
    fn identity_rebin_and_rest_frame() {
        let wave: Vec<f64> = (0..10).map(|i| 5000.0 + 2.0 * i as f64).collect();
        let flux: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let (f, _) = rebin_one(&wave, &flux, &[1.0; 10], &wave);
        assert_eq!(f, flux);
        let rest = to_rest_frame(&wave, 0.25).unwrap();
        assert!((rest[0] - 4000.0).abs() < 1e-9);
        assert!(to_rest_frame(&wave, f64::NAN).is_err());
    }
}
