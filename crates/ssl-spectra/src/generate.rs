//! Generated galaxy "spaxel" spectra: mixtures of real single-stellar-population model
//! spectra (MIUSCAT, from the sdss-mangadap package) with dust, velocity dispersion and
//! noise, grouped into galaxies of known kinds. These are generated data, for the
//! fingerprint experiment, where no labelled galaxy sample exists offline.
use crate::io::load_spectra;
use crate::spectra::SpectraSet;
use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use std::path::Path;

/// One SSP: age (Gyr), metallicity [M/H], flux on the common grid.
#[derive(Debug, Clone)]
pub struct Ssp {
    /// Age of the population, in Gyr.
    pub age: f64,
    /// Metallicity [M/H], in dex.
    pub metallicity: f64,
    /// Flux on the grid's wavelengths, one value per pixel.
    pub flux: Vec<f32>,
}

/// Parses MIUSCAT names `Iun1.30Z[m|p]<MH>T<age>.fits`.
fn parse_name(name: &str) -> Option<(f64, f64)> {
    let rest = name.strip_prefix("Iun1.30Z")?.strip_suffix(".fits")?;
    let (mh, age) = rest.split_once('T')?;
    let sign = if mh.starts_with('m') { -1.0 } else { 1.0 };
    Some((age.parse().ok()?, sign * mh.get(1..)?.parse::<f64>().ok()?))
}

/// Loads the SSP grid of a folder (all on one wavelength grid).
pub fn load_ssps(dir: &Path) -> Result<(Vec<f64>, Vec<Ssp>)> {
    let set = load_spectra(dir, None)?;
    let mut ssps = Vec::new();
    for i in 0..set.len() {
        let (age, metallicity) =
            parse_name(&set.names[i]).with_context(|| format!("{}: '{}' is not a MIUSCAT SSP name (Iun1.30Z<MH>T<age>.fits)", dir.display(), set.names[i]))?;
        ssps.push(Ssp { age, metallicity, flux: set.flux_of(i).to_vec() });
    }
    Ok((set.wave, ssps))
}

/// A kind of galaxy: which SSPs its spaxels mix.
#[derive(Debug, Clone, Copy)]
pub struct GalaxyKind {
    /// Name of the kind, e.g. `star-forming`.
    pub name: &'static str,
    /// Ages `(min, max)` of the SSPs it mixes, in Gyr (inclusive).
    pub ages: (f64, f64),
    /// Metallicities `(min, max)` [M/H] of the SSPs it mixes (inclusive).
    pub metallicities: (f64, f64),
    /// Range of a galaxy's dust `A_V`; spaxels scatter by 0.1 around it and are reddened by `(λ / 5500 Å)^(-0.7 A_V)`.
    pub dust: (f64, f64),
}

/// Four kinds with different star-formation histories.
pub const KINDS: [GalaxyKind; 4] = [
    GalaxyKind { name: "star-forming", ages: (0.06, 1.0), metallicities: (-0.41, 0.23), dust: (0.3, 1.0) },
    GalaxyKind { name: "post-starburst", ages: (0.8, 3.0), metallicities: (-0.41, 0.23), dust: (0.0, 0.4) },
    GalaxyKind { name: "old metal-rich", ages: (8.0, 18.0), metallicities: (-0.01, 0.23), dust: (0.0, 0.2) },
    GalaxyKind { name: "old metal-poor", ages: (8.0, 18.0), metallicities: (-0.72, -0.39), dust: (0.0, 0.2) },
];

/// Settings of the generator.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GalaxyConfig {
    /// Galaxies generated of each kind (default 8).
    pub galaxies_per_kind: usize,
    /// Spaxels (spectra) per galaxy (default 60).
    pub spaxels: usize,
    /// Range of each spaxel's signal-to-noise ratio, mean flux over the noise sigma (default `(10, 40)`).
    pub snr: (f64, f64),
    /// Range of each galaxy's velocity dispersion, as a Gaussian smoothing sigma in pixels (default `(1, 4)`).
    pub sigma_pixels: (f64, f64),
    /// Seed of the random draws; the same seed gives the same spectra.
    pub seed: u64,
}

impl Default for GalaxyConfig {
    fn default() -> Self {
        Self { galaxies_per_kind: 8, spaxels: 60, snr: (10.0, 40.0), sigma_pixels: (1.0, 4.0), seed: 0 }
    }
}

fn smooth(flux: &[f32], sigma: f64) -> Vec<f32> {
    let r = (3.0 * sigma).ceil() as isize;
    let k: Vec<f64> = (-r..=r).map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let n = flux.len() as isize;
    (0..n)
        .map(|p| {
            let (mut s, mut w) = (0.0, 0.0);
            for (j, kv) in k.iter().enumerate() {
                let q = p + j as isize - r;
                if (0..n).contains(&q) {
                    s += kv * flux[q as usize] as f64;
                    w += kv;
                }
            }
            (s / w) as f32
        })
        .collect()
}

/// Spaxels of `galaxies_per_kind` galaxies of each kind; returns the spectra (named
/// `g<galaxy>_s<spaxel>`) and, per spaxel, (galaxy, kind).
pub fn generate_galaxies(wave: &[f64], ssps: &[Ssp], cfg: &GalaxyConfig) -> Result<(SpectraSet, Vec<(usize, usize)>)> {
    if ssps.is_empty() || cfg.spaxels == 0 || cfg.galaxies_per_kind == 0 {
        bail!("the generator needs SSPs, spaxels and galaxies");
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let (mut flux, mut names, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    let mut galaxy = 0;
    for (k, kind) in KINDS.iter().enumerate() {
        let pool: Vec<&Ssp> = ssps
            .iter()
            .filter(|s| (kind.ages.0..=kind.ages.1).contains(&s.age) && (kind.metallicities.0..=kind.metallicities.1).contains(&s.metallicity))
            .collect();
        if pool.is_empty() {
            bail!("no SSP matches kind '{}' (ages {:?}, [M/H] {:?})", kind.name, kind.ages, kind.metallicities);
        }
        for _ in 0..cfg.galaxies_per_kind {
            let sigma = rng.random_range(cfg.sigma_pixels.0..=cfg.sigma_pixels.1);
            let dust_centre = rng.random_range(kind.dust.0..=kind.dust.1);
            for s in 0..cfg.spaxels {
                // Three populations per spaxel; outer spaxels (larger s) weight the youngest more.
                let radius = s as f64 / cfg.spaxels as f64;
                let picks: Vec<&Ssp> = (0..3).map(|_| pool[rng.random_range(0..pool.len())]).collect();
                let youngest = picks.iter().enumerate().min_by(|a, b| a.1.age.total_cmp(&b.1.age)).map(|(i, _)| i).unwrap_or(0);
                let mut w: Vec<f64> = (0..3).map(|i| rng.random::<f64>() + if i == youngest { radius } else { 0.0 }).collect();
                let total: f64 = w.iter().sum();
                w.iter_mut().for_each(|x| *x /= total);
                let mix: Vec<f32> = (0..wave.len()).map(|p| picks.iter().zip(&w).map(|(sp, wi)| sp.flux[p] as f64 * wi).sum::<f64>() as f32).collect();
                let av = (dust_centre + rng.random_range(-0.1..=0.1)).max(0.0);
                let reddened: Vec<f32> = mix.iter().zip(wave).map(|(f, l)| f * (l / 5500.0).powf(-0.7 * av) as f32).collect();
                let smoothed = smooth(&reddened, sigma);
                let mean = smoothed.iter().map(|v| *v as f64).sum::<f64>() / smoothed.len() as f64;
                let noise = mean / rng.random_range(cfg.snr.0..=cfg.snr.1);
                flux.extend(smoothed.iter().map(|v| {
                    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
                    (*v as f64 + noise * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
                }));
                names.push(format!("g{galaxy:03}_s{s:03}"));
                labels.push((galaxy, k));
            }
            galaxy += 1;
        }
    }
    let n = flux.len();
    let set = SpectraSet::new("generated galaxies".into(), wave.to_vec(), flux, vec![1.0; n], names)?;
    Ok((set, labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_mixtures_are_positive() {
        assert_eq!(parse_name("Iun1.30Zm0.40T00.0631.fits"), Some((0.0631, -0.40)));
        assert_eq!(parse_name("Iun1.30Zp0.22T17.7828.fits"), Some((17.7828, 0.22)));
        assert_eq!(parse_name("other.fits"), None);
        let wave: Vec<f64> = (0..50).map(|i| 4000.0 + 10.0 * i as f64).collect();
        let ssps: Vec<Ssp> = [(0.1, 0.0), (2.0, 0.0), (10.0, 0.1), (10.0, -0.5)]
            .iter()
            .map(|&(age, metallicity)| Ssp { age, metallicity, flux: (0..50).map(|p| 1.0 + (p as f32) * age as f32 * 0.01).collect() })
            .collect();
        let (set, labels) = generate_galaxies(&wave, &ssps, &GalaxyConfig { galaxies_per_kind: 2, spaxels: 5, ..Default::default() }).unwrap();
        assert_eq!(set.len(), 4 * 2 * 5);
        assert_eq!(labels[11], (2, 1));
        assert!(set.flux.iter().all(|f| f.is_finite()));
    }
}
