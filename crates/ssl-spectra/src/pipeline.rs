//! The commands' work as library functions: fit a map, load it back, map spectra onto
//! it, read quantities off it.
use crate::batches::SpectraBatches;
use crate::desom::{Desom, DesomConfig};
use crate::io::load_spectra_skipping;
use crate::preprocess::{prepare, PreprocessConfig};
use crate::quantities::{Catalogue, NodeQuantities};
use crate::som::{best_matching_units, map_quality, squared_distances, train_som, MapQuality, MapShape, SomConfig};
use crate::spectra::SpectraSet;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use ssl_core::train::{load_latest_weights, OptimizerConfig, OptimizerKind, Resume, RunLock, TrainConfig, Trainer};
use std::path::{Path, PathBuf};
use tch::{nn, Device, Kind, Tensor};

/// Which map to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum MapKind {
    /// DESOM: an autoencoder whose latent codes a SOM layer organises (the default).
    Desom,
    /// The classic SOM on the preprocessed spectra themselves (the baseline).
    Som,
}

/// Everything `fit` needs; saved as `config.toml` in the run folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct FitConfig {
    /// Spectra to fit: a FITS / CSV / NPY file or a folder of single-spectrum FITS files.
    pub data: Option<PathBuf>,
    /// CSV of known quantities per spectrum name (`file,teff,logg,feh`).
    pub catalogue: Option<PathBuf>,
    /// Run folder the map, its checkpoints and this config are written to (default `runs/spectra`).
    pub out: PathBuf,
    /// `auto` (CUDA when available; the default), `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// libtorch intra-op threads, at most 1024 (0: the cores free at start).
    pub threads: usize,
    /// Which map to fit (default DESOM).
    pub map: MapKind,
    /// Grid of the map (default 15 x 15); it replaces `desom.shape` and `som.shape`.
    pub shape: MapShape,
    /// How the spectra are preprocessed before fitting.
    pub preprocess: PreprocessConfig,
    /// Settings of the DESOM map.
    pub desom: DesomConfig,
    /// Settings of the classic SOM map.
    pub som: SomConfig,
    /// Training of the DESOM (default 1500 steps of 128, AdamW at lr 1e-3); unused by the classic SOM.
    pub train: TrainConfig,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            data: None,
            catalogue: None,
            out: PathBuf::from("runs/spectra"),
            device: "auto".into(),
            threads: 0,
            map: MapKind::Desom,
            shape: MapShape { rows: 15, cols: 15 },
            preprocess: PreprocessConfig::default(),
            desom: DesomConfig::default(),
            som: SomConfig::default(),
            train: {
                let mut train = TrainConfig::default()
                    .with_schedule(1500, 128, 1e-3, 50)
                    .with_optimizer(OptimizerConfig::new(OptimizerKind::Adamw).with_weight_decay(0.0))
                    .with_checkpoint_every(500);
                (train.min_lr_ratio, train.log_every) = (0.1, 50);
                train
            },
        }
    }
}

impl FitConfig {
    /// Checks every setting against its valid range (also for configs read back from a
    /// run folder), naming the key.
    pub fn validate(&self) -> Result<()> {
        self.shape.validate()?;
        if self.threads > 1024 {
            bail!("threads must be at most 1024, got {}", self.threads);
        }
        if !(self.preprocess.max_bad_fraction >= 0.0 && self.preprocess.max_bad_fraction <= 1.0) {
            bail!("preprocess.max_bad_fraction must be in [0, 1], got {}", self.preprocess.max_bad_fraction);
        }
        if self.map == MapKind::Desom && self.train.steps <= self.desom.pretrain_steps {
            bail!("desom: train.steps ({}) must exceed desom.pretrain_steps ({})", self.train.steps, self.desom.pretrain_steps);
        }
        let (d, s) = (&self.desom, &self.som);
        if !(d.gamma >= 0.0 && d.gamma.is_finite() && d.t_min > 0.0 && d.t_max >= d.t_min && d.t_max.is_finite()) {
            bail!("desom: need a finite gamma >= 0 and finite t_max >= t_min > 0 (got gamma {}, t_max {}, t_min {})", d.gamma, d.t_max, d.t_min);
        }
        if !(s.t_min > 0.0 && s.t_max >= s.t_min && s.t_max.is_finite()) || s.iterations == 0 || s.iterations > 1_000_000 {
            bail!("som: need finite t_max >= t_min > 0 and 1 to 1e6 iterations (got {}, {}, {})", s.t_max, s.t_min, s.iterations);
        }
        self.train.validate()
    }
}

/// The maps `fit` can train (`--map`), with the settings table of each and its defaults.
pub fn methods_listing() -> String {
    let d = FitConfig::default();
    use ssl_core::config::settings_line as line;
    format!(
        "maps:\n  {:<8} DESOM: an autoencoder whose latent codes a SOM layer organises (Forest et al.)\n  {:<8}   [desom] {}\n  {:<8} the classic SOM on the preprocessed spectra (the baseline)\n  {:<8}   [som] {}\n",
        "desom",
        "",
        line(&d.desom),
        "som",
        "",
        line(&d.som)
    )
}

/// Reads a fit config file over the defaults, key by key.
pub fn read_config(path: &Path) -> Result<FitConfig> {
    ssl_core::config::read_toml(path)
}

/// Loads and preprocesses spectra as the config says.
pub fn load_prepared(path: &Path, pre: &PreprocessConfig) -> Result<SpectraSet> {
    // With a common grid, files on different grids are rebinned as they are read.
    let grid = match pre.grid.as_slice() {
        [a, b, c] => Some(crate::preprocess::linear_grid(*a, *b, *c)?),
        _ => None,
    };
    prepare(&load_spectra_skipping(path, grid.as_deref(), pre.skip_bad)?, pre)
}

/// Flux and pixel-weight tensors `[N, L]` of a set.
pub fn tensors(set: &SpectraSet, device: Device) -> (Tensor, Tensor) {
    let (n, l) = (set.len() as i64, set.pixels() as i64);
    let flux = Tensor::from_slice(&set.flux).view([n, l]).to_device(device);
    let weight = Tensor::from_slice(&set.ivar).view([n, l]).gt(0.0).to_kind(Kind::Float).to_device(device);
    (flux, weight)
}

/// A fitted map, ready to place spectra.
pub struct FittedMap {
    /// The settings the map was fitted with (on load, the device may be overridden).
    pub config: FitConfig,
    /// The map's grid of nodes.
    pub shape: MapShape,
    /// Prototypes in the space spectra are compared in (latent for DESOM, flux for SOM).
    pub prototypes: Tensor,
    /// The DESOM networks and the variable store holding their weights; `None` for a classic SOM.
    pub desom: Option<(nn::VarStore, Desom)>,
    /// Wavelength grid of the spectra the map was fitted on; spectra placed on it must share it.
    pub wave: Vec<f64>,
    /// Device the prototypes and networks live on.
    pub device: Device,
}

impl FittedMap {
    /// Coordinates of spectra in the map's space.
    pub fn embed(&self, flux: &Tensor) -> Tensor {
        match &self.desom {
            Some((_, d)) => d.encode(flux, 512),
            None => flux.shallow_clone(),
        }
    }

    /// Best-matching node and distance of every spectrum.
    pub fn place(&self, set: &SpectraSet) -> Result<(Vec<usize>, Vec<f64>, MapQuality)> {
        if set.wave != self.wave {
            bail!(
                "{}: spectra are on a different grid ({} px from {:.1} Å) than the map ({} px from {:.1} Å); use the same preprocess.grid",
                set.source.display(),
                set.pixels(),
                set.wave[0],
                self.wave.len(),
                self.wave[0]
            );
        }
        let (flux, _) = tensors(set, self.device);
        let z = self.embed(&flux);
        let b = best_matching_units(&z, &self.prototypes);
        let d = squared_distances(&z, &self.prototypes).gather(1, &b.unsqueeze(1), false).sqrt().squeeze_dim(1);
        let q = map_quality(&z, &self.prototypes, self.shape);
        Ok((
            Vec::<i64>::try_from(b.to_device(Device::Cpu))?.into_iter().map(|x| x as usize).collect(),
            Vec::<f64>::try_from(d.to_kind(Kind::Double).to_device(Device::Cpu))?,
            q,
        ))
    }
}

/// Fits the configured map on the spectra of `cfg.data` and saves it under `cfg.out`;
/// returns the map and the prepared spectra it was fitted on.
pub fn fit(cfg: &FitConfig, resume: impl Into<Resume>) -> Result<(FittedMap, SpectraSet)> {
    cfg.validate()?;
    let device = setup(cfg)?;
    let data = cfg.data.as_deref().context("no data given: pass --data PATH (or set `data` in the config file)")?;
    let set = load_prepared(data, &cfg.preprocess)?;
    Ok((fit_set(cfg, &set, device, resume)?, set))
}

fn setup(cfg: &FitConfig) -> Result<Device> {
    ssl_core::device::setup_runtime(&cfg.device, cfg.threads)
}

/// Settings of a fit that may change on resume: where and how visibly it runs, and the
/// catalogue (read after training, it does not change the map).
fn resume_may_change() -> Vec<String> {
    ssl_core::config::RESUME_MAY_CHANGE.iter().map(|s| s.to_string()).chain(["/catalogue".to_string()]).collect()
}

/// Whether `dir` already holds a fitted map or a fit in progress.
fn holds_a_run(dir: &Path) -> bool {
    ["config.toml", "som.safetensors", "grid.json", "checkpoints"].iter().any(|f| dir.join(f).exists())
}

/// Fits on an already prepared set (used by the experiments too). Every input, the
/// catalogue included, is checked before anything is written; the run folder is locked
/// while the fit runs; a folder that already holds a map is refused unless a DESOM fit is
/// resumed.
pub fn fit_set(cfg: &FitConfig, set: &SpectraSet, device: Device, resume: impl Into<Resume>) -> Result<FittedMap> {
    let resume = resume.into();
    cfg.validate()?;
    let catalogue = match &cfg.catalogue {
        Some(path) => {
            let cat = Catalogue::read_csv(path)?;
            cat.check_coverage(&set.names, path)?;
            Some(cat)
        }
        None => None,
    };
    if cfg.map == MapKind::Desom {
        Desom::check_memory(set.pixels() as i64, &cfg.desom)?;
    }
    let refuse_existing = || -> Result<()> {
        if !resume.is_resume() && holds_a_run(&cfg.out) {
            bail!("{} already holds a map; pass --resume to continue a DESOM fit or choose another output folder", cfg.out.display());
        }
        if resume.is_resume() && cfg.map == MapKind::Som && holds_a_run(&cfg.out) {
            bail!("{}: a classic SOM fit has no checkpoints to resume; fit into another output folder", cfg.out.display());
        }
        Ok(())
    };
    // Before the lock, so that a refused fit creates nothing; again under it, in case
    // another process finished a fit in the folder in between.
    refuse_existing()?;
    let _lock = RunLock::acquire(&cfg.out)?;
    refuse_existing()?;
    let (flux, weight) = tensors(set, device);
    let map = match cfg.map {
        MapKind::Som => {
            let som_cfg = SomConfig { shape: cfg.shape, ..cfg.som.clone() };
            let prototypes = train_som(&flux, &som_cfg)?;
            let path = cfg.out.join("som.safetensors");
            let tmp = cfg.out.join("som.safetensors.tmp");
            Tensor::write_safetensors(&[("prototypes", prototypes.to_device(Device::Cpu))], &tmp)
                .and_then(|_| Ok(std::fs::rename(&tmp, &path)?))
                .with_context(|| format!("cannot write {}", path.display()))?;
            FittedMap { config: cfg.clone(), shape: cfg.shape, prototypes, desom: None, wave: set.wave.clone(), device }
        }
        MapKind::Desom => {
            let desom_cfg = DesomConfig { shape: cfg.shape, ..cfg.desom.clone() };
            tch::manual_seed(cfg.train.seed as i64);
            let vs = nn::VarStore::new(device);
            let mut desom = Desom::new(&vs, set.pixels() as i64, &desom_cfg)?;
            // Prototypes start at the encodings of random training spectra, one per node.
            desom.set_init_pool(crate::som::sample_rows(&flux, cfg.shape.nodes(), cfg.train.seed));
            let mut batches = SpectraBatches::new(flux, weight, cfg.train.batch_size, cfg.train.seed)?;
            let run_config = serde_json::to_value(cfg)?;
            let trainer = Trainer::new(cfg.train.clone(), cfg.out.clone(), run_config, resume_may_change(), device)
                .with_data_fingerprint(set.fingerprint())
                .with_auto_threads(cfg.threads == 0);
            trainer.fit(&vs, &mut desom, &mut batches, resume)?;
            let prototypes = desom.prototypes.detach().copy();
            FittedMap { config: cfg.clone(), shape: cfg.shape, prototypes, desom: Some((vs, desom)), wave: set.wave.clone(), device }
        }
    };
    ssl_core::config::write_atomically(&cfg.out.join("grid.json"), serde_json::to_string(&set.wave)?.as_bytes())?;
    ssl_core::config::write_atomically(&cfg.out.join("config.toml"), toml::to_string(cfg)?.as_bytes())?;
    // Node quantities always describe the map now in the folder.
    let nodes_path = cfg.out.join("nodes.json");
    match &catalogue {
        Some(cat) => {
            let nodes = node_quantities(&map, set, cat)?;
            ssl_core::config::write_atomically(&nodes_path, serde_json::to_string(&nodes_json(&nodes))?.as_bytes())?;
        }
        None if nodes_path.exists() => std::fs::remove_file(&nodes_path).with_context(|| format!("cannot remove the stale {}", nodes_path.display()))?,
        None => {}
    }
    Ok(map)
}

/// Loads a fitted map from its run folder.
pub fn load_map(run: &Path, device: Option<&str>) -> Result<FittedMap> {
    let cfg_path = run.join("config.toml");
    let mut cfg: FitConfig = read_config(&cfg_path).with_context(|| format!("{} is not a fitted map folder", run.display()))?;
    if let Some(d) = device {
        cfg.device = d.to_string();
    }
    cfg.validate().with_context(|| format!("{}: the run's config is not valid", cfg_path.display()))?;
    let device = setup(&cfg)?;
    let grid_path = run.join("grid.json");
    let wave: Vec<f64> = serde_json::from_str(&std::fs::read_to_string(&grid_path).with_context(|| format!("cannot read {}", grid_path.display()))?)
        .with_context(|| format!("{}: not a wavelength grid", grid_path.display()))?;
    if wave.len() < 16 || wave.windows(2).any(|w| w[1].partial_cmp(&w[0]) != Some(std::cmp::Ordering::Greater)) {
        bail!("{}: the grid must hold at least 16 increasing wavelengths", grid_path.display());
    }
    let map = match cfg.map {
        MapKind::Som => {
            let path = run.join("som.safetensors");
            let t = Tensor::read_safetensors(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let prototypes = t.into_iter().find(|(k, _)| k == "prototypes").map(|(_, v)| v.to_device(device)).context("som.safetensors has no prototypes")?;
            if prototypes.size() != [cfg.shape.nodes() as i64, wave.len() as i64] {
                bail!("{}: prototypes are {:?}, but the config and grid say [{}, {}]", path.display(), prototypes.size(), cfg.shape.nodes(), wave.len());
            }
            FittedMap { shape: cfg.shape, prototypes, desom: None, wave, device, config: cfg }
        }
        MapKind::Desom => {
            let vs = nn::VarStore::new(device);
            let mut desom = Desom::new(&vs, wave.len() as i64, &DesomConfig { shape: cfg.shape, ..cfg.desom.clone() })?;
            let ck = load_latest_weights(run, &vs)?;
            ssl_core::Method::load_state(&mut desom, &ck.section("method"))?;
            let prototypes = desom.prototypes.detach().copy();
            FittedMap { shape: cfg.shape, prototypes, desom: Some((vs, desom)), wave, device, config: cfg }
        }
    };
    Ok(map)
}

/// Node distributions of the catalogue quantities of the spectra in `set`.
pub fn node_quantities(map: &FittedMap, set: &SpectraSet, cat: &Catalogue) -> Result<NodeQuantities> {
    let (bmus, _, _) = map.place(set)?;
    let known = cat.lookup(&set.names);
    let (b, v): (Vec<usize>, Vec<Vec<f64>>) = bmus.iter().zip(known).filter_map(|(b, k)| k.map(|k| (*b, k))).unzip();
    if b.is_empty() {
        bail!("none of the {} spectra has an entry in the catalogue (names must match its first column)", set.len());
    }
    Ok(NodeQuantities::build(map.shape, cat.quantities.clone(), &b, &v))
}

fn nodes_json(n: &NodeQuantities) -> serde_json::Value {
    serde_json::json!({ "quantities": n.quantities, "values": n.values, "rows": n.shape.rows, "cols": n.shape.cols })
}

/// Reads the node distributions written by `fit`.
pub fn read_nodes(run: &Path) -> Result<NodeQuantities> {
    let path = run.join("nodes.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).with_context(|| format!("{}: no node quantities (fit with --catalogue)", path.display()))?)
            .with_context(|| format!("{}: not valid JSON", path.display()))?;
    let shape = MapShape { rows: v["rows"].as_u64().unwrap_or(0) as usize, cols: v["cols"].as_u64().unwrap_or(0) as usize };
    shape.validate().with_context(|| format!("{}: bad map shape", path.display()))?;
    let quantities: Vec<String> = serde_json::from_value(v["quantities"].clone()).with_context(|| format!("{}: bad quantities", path.display()))?;
    let values: Vec<Vec<Vec<f64>>> = serde_json::from_value(v["values"].clone()).with_context(|| format!("{}: bad values", path.display()))?;
    if quantities.is_empty() || values.len() != shape.nodes() || values.iter().any(|n| n.len() != quantities.len()) {
        bail!("{}: expected {} nodes with {} quantities each", path.display(), shape.nodes(), quantities.len());
    }
    Ok(NodeQuantities { shape, quantities, values })
}
