//! A set of spectra on one wavelength grid, with per-pixel inverse variances.
use anyhow::{bail, Result};
use std::path::PathBuf;

/// `n` spectra of `wave.len()` pixels, row-major. A pixel with `ivar == 0` is bad
/// (masked, missing, or not finite); its flux is 0.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SpectraSet {
    /// File or folder the spectra were read from (a label such as `generated galaxies` otherwise).
    pub source: PathBuf,
    /// Wavelength of each pixel, in Å, finite and strictly increasing.
    pub wave: Vec<f64>,
    /// Fluxes `[n, wave.len()]`, row-major.
    pub flux: Vec<f32>,
    /// Inverse variances `[n, wave.len()]`, row-major; 0 marks a bad pixel.
    pub ivar: Vec<f32>,
    /// Name of each spectrum (catalogue rows are matched by it).
    pub names: Vec<String>,
    /// Redshift of each spectrum (0 for rest-frame spectra).
    pub redshift: Vec<f64>,
}

impl SpectraSet {
    /// SHA-256 of the grid, names, fluxes and pixel weights: a resumed fit may read the
    /// same spectra from another path, but not other spectra.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        self.wave.iter().for_each(|w| h.update(w.to_le_bytes()));
        for n in &self.names {
            h.update((n.len() as u64).to_le_bytes());
            h.update(n.as_bytes());
        }
        self.flux.iter().chain(&self.ivar).for_each(|v| h.update(v.to_le_bytes()));
        ssl_core::train::hex(&h.finalize())
    }

    /// Builds a set, masking non-finite fluxes and checking shapes.
    pub fn new(source: PathBuf, wave: Vec<f64>, mut flux: Vec<f32>, mut ivar: Vec<f32>, names: Vec<String>) -> Result<Self> {
        let l = wave.len();
        if l < 2 {
            bail!("{}: a spectrum needs at least 2 pixels, got {l}", source.display());
        }
        if names.is_empty() {
            bail!("{}: holds no spectra", source.display());
        }
        if flux.len() != names.len() * l || ivar.len() != flux.len() {
            bail!(
                "{}: {} spectra of {l} pixels need {} values, got {} fluxes and {} inverse variances",
                source.display(),
                names.len(),
                names.len() * l,
                flux.len(),
                ivar.len()
            );
        }
        if wave.iter().any(|w| !w.is_finite()) || wave.windows(2).any(|w| w[1] <= w[0]) {
            bail!("{}: the wavelength grid must be finite and strictly increasing", source.display());
        }
        for (f, iv) in flux.iter_mut().zip(ivar.iter_mut()) {
            if !f.is_finite() || !iv.is_finite() || *iv < 0.0 {
                *f = 0.0;
                *iv = 0.0;
            }
            if *iv == 0.0 {
                *f = 0.0;
            }
        }
        let redshift = vec![0.0; names.len()];
        Ok(Self { source, wave, flux, ivar, names, redshift })
    }

    /// Sets the redshift of every spectrum.
    pub fn with_redshifts(mut self, z: Vec<f64>) -> Result<Self> {
        if z.len() != self.len() || z.iter().any(|z| !(z.is_finite() && *z > -1.0)) {
            bail!("{}: need one finite redshift above -1 per spectrum ({} spectra, {} redshifts)", self.source.display(), self.len(), z.len());
        }
        self.redshift = z;
        Ok(self)
    }

    /// Number of spectra.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the set holds no spectra.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Pixels per spectrum (the grid's length).
    pub fn pixels(&self) -> usize {
        self.wave.len()
    }

    /// Flux of spectrum `i`, one value per pixel.
    pub fn flux_of(&self, i: usize) -> &[f32] {
        let l = self.pixels();
        &self.flux[i * l..(i + 1) * l]
    }

    /// Inverse variances of spectrum `i`, one value per pixel.
    pub fn ivar_of(&self, i: usize) -> &[f32] {
        let l = self.pixels();
        &self.ivar[i * l..(i + 1) * l]
    }

    /// The spectra with indices `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Self {
        let l = self.pixels();
        let mut flux = Vec::with_capacity(idx.len() * l);
        let mut ivar = Vec::with_capacity(idx.len() * l);
        for &i in idx {
            flux.extend_from_slice(self.flux_of(i));
            ivar.extend_from_slice(self.ivar_of(i));
        }
        Self {
            source: self.source.clone(),
            wave: self.wave.clone(),
            flux,
            ivar,
            names: idx.iter().map(|&i| self.names[i].clone()).collect(),
            redshift: idx.iter().map(|&i| self.redshift[i]).collect(),
        }
    }

    /// Appends another set on the same grid.
    pub fn extend(&mut self, other: &SpectraSet) -> Result<()> {
        if other.wave != self.wave {
            bail!(
                "{} and {} have different wavelength grids ({} px from {:.2} and {} px from {:.2}); rebin them to one grid (--grid)",
                self.source.display(),
                other.source.display(),
                self.pixels(),
                self.wave[0],
                other.pixels(),
                other.wave[0]
            );
        }
        self.flux.extend_from_slice(&other.flux);
        self.ivar.extend_from_slice(&other.ivar);
        self.names.extend(other.names.iter().cloned());
        self.redshift.extend(other.redshift.iter().copied());
        Ok(())
    }

    /// Fraction of bad pixels of spectrum `i`.
    pub fn bad_fraction(&self, i: usize) -> f64 {
        let iv = self.ivar_of(i);
        iv.iter().filter(|v| **v == 0.0).count() as f64 / iv.len() as f64
    }
}
