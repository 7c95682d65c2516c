//! Checkpoints that survive a crash at any instant and are verified when read.
//!
//! A checkpoint is a folder `step-XXXXXXXX/` holding `tensors.safetensors` (model,
//! method state, optimiser state), any extra safetensors files (an exported encoder) and
//! `meta.json` (step, seed, effective config, and the SHA-256 of every other file). It is
//! written under a temporary name, synced, and renamed into place; the file `latest`
//! naming the newest one is replaced the same way. A kill at any point leaves either the
//! old or the new checkpoint, never a half-written one in its place; a flipped byte is
//! found by the checksum when the checkpoint is loaded.
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use tch::Tensor;

const TENSORS: &str = "tensors.safetensors";
const META: &str = "meta.json";
const LATEST: &str = "latest";

/// What a checkpoint says about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckpointMeta {
    /// Optimiser steps completed.
    pub step: usize,
    /// The run's seed; with `step` it fixes every random draw still to come.
    pub seed: u64,
    /// Name of the step loop that wrote it (the method's, e.g. `simclr`); a resume must match it.
    pub method: String,
    /// The effective configuration of the run, to rerun or resume it.
    pub config: serde_json::Value,
    /// libtorch intra-op threads of the process that wrote it (0: not recorded). Results
    /// depend on it (the order of floating-point reductions), so resuming keeps it.
    #[serde(default)]
    pub threads: usize,
    /// SHA-256 of the training data's content, when the run recorded one: a resume may
    /// read the same data from another path, but not other data.
    #[serde(default)]
    pub data_fingerprint: Option<String>,
    /// SHA-256 (hex) of every tensor file of the checkpoint, by file name.
    #[serde(default)]
    pub checksums: BTreeMap<String, String>,
}

impl CheckpointMeta {
    /// The description of a checkpoint after `step` steps of the run seeded `seed`,
    /// written by the step loop `method` with settings `config` (no threads, data
    /// fingerprint or checksums recorded yet).
    pub fn new(step: usize, seed: u64, method: impl Into<String>, config: serde_json::Value) -> Self {
        Self { step, seed, method: method.into(), config, threads: 0, data_fingerprint: None, checksums: BTreeMap::new() }
    }
}

/// A loaded checkpoint.
pub struct Checkpoint {
    /// The checkpoint's folder.
    pub dir: PathBuf,
    /// Its `meta.json`.
    pub meta: CheckpointMeta,
    /// The tensors of `tensors.safetensors` by name (a run writes `model/`, `method/` and `optim/` ones).
    pub tensors: HashMap<String, Tensor>,
}

/// SHA-256 of a file's bytes, as lower-case hex.
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Checkpoint {
    /// Loads the checkpoint folder `dir`, verifying every file against its checksum.
    pub fn load(dir: &Path) -> Result<Self> {
        let meta = Self::verify(dir)?;
        let tensor_path = dir.join(TENSORS);
        let tensors = Tensor::read_safetensors(&tensor_path)
            .with_context(|| format!("corrupt or unreadable checkpoint tensors {}", tensor_path.display()))?
            .into_iter()
            .collect();
        Ok(Self { dir: dir.to_path_buf(), meta, tensors })
    }

    /// Reads `meta.json` of `dir` and checks the checksum of every file it lists.
    pub fn verify(dir: &Path) -> Result<CheckpointMeta> {
        let meta_path = dir.join(META);
        let text = fs::read_to_string(&meta_path).with_context(|| format!("cannot read checkpoint metadata {}", meta_path.display()))?;
        let meta: CheckpointMeta = serde_json::from_str(&text).with_context(|| format!("corrupt checkpoint metadata {}", meta_path.display()))?;
        if !meta.checksums.contains_key(TENSORS) {
            bail!("{}: records no checksum of {TENSORS}, so it cannot be verified (written by an older version?)", meta_path.display());
        }
        for (file, expected) in &meta.checksums {
            if file.contains('/') || file.contains("..") {
                bail!("{}: bad file name '{file}' in the checksums", meta_path.display());
            }
            let path = dir.join(file);
            let actual = file_sha256(&path)?;
            if &actual != expected {
                bail!("{} is corrupt: its SHA-256 is {actual}, the checkpoint recorded {expected}", path.display());
            }
        }
        Ok(meta)
    }

    /// The tensors under `prefix/`, with the prefix removed.
    pub fn section(&self, prefix: &str) -> HashMap<String, Tensor> {
        let p = format!("{prefix}/");
        self.tensors.iter().filter_map(|(k, v)| k.strip_prefix(&p).map(|k| (k.to_string(), v.shallow_clone()))).collect()
    }
}

/// The name of the first floating-point tensor holding a NaN or an infinity, if any.
pub fn first_non_finite<'a>(tensors: impl IntoIterator<Item = (&'a String, &'a Tensor)>) -> Option<String> {
    tensors.into_iter().find_map(|(name, t)| {
        let floating = t.is_floating_point();
        (floating && t.numel() > 0 && !bool::try_from(t.isfinite().all()).unwrap_or(false)).then(|| name.clone())
    })
}

/// The folder of a run's checkpoints.
#[derive(Debug, Clone)]
pub struct CheckpointDir {
    root: PathBuf,
    keep: usize,
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir).and_then(|f| f.sync_all()).with_context(|| format!("cannot sync folder {}", dir.display()))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).with_context(|| format!("cannot write {}", path.display()))
}

fn write_tensors(dir: &Path, file: &str, tensors: &[(String, Tensor)]) -> Result<String> {
    let contiguous: Vec<(String, Tensor)> = tensors.iter().map(|(k, t)| (k.clone(), t.detach().to_device(tch::Device::Cpu).contiguous())).collect();
    let path = dir.join(file);
    Tensor::write_safetensors(&contiguous, &path).with_context(|| format!("cannot write {}", path.display()))?;
    fs::File::open(&path).and_then(|f| f.sync_all()).with_context(|| format!("cannot sync {}", path.display()))?;
    file_sha256(&path)
}

/// Why a checkpoint folder could not be used.
#[derive(Debug, Clone)]
pub struct Unusable {
    /// The checkpoint folder.
    pub dir: PathBuf,
    /// Why it could not be loaded (the error with its causes).
    pub reason: String,
}

impl CheckpointDir {
    /// `keep`: how many of the newest checkpoints to keep (at least 1).
    pub fn new(root: impl Into<PathBuf>, keep: usize) -> Self {
        Self { root: root.into(), keep: keep.max(1) }
    }

    /// The folder holding the `step-XXXXXXXX/` checkpoints and `latest`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes a checkpoint atomically and makes it the latest. `files` are extra
    /// safetensors files (e.g. an exported backbone) written into the same folder. A
    /// failed write leaves no temporary folder behind.
    pub fn save(&self, meta: &CheckpointMeta, tensors: &[(String, Tensor)], files: &[(&str, Vec<(String, Tensor)>)]) -> Result<PathBuf> {
        fs::create_dir_all(&self.root).with_context(|| format!("cannot create checkpoint folder {}", self.root.display()))?;
        let name = format!("step-{:08}", meta.step);
        let tmp = self.root.join(format!(".{name}.tmp-{}", std::process::id()));
        let written = self.write_into(&tmp, meta, tensors, files);
        if written.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        written?;
        let final_dir = self.root.join(&name);
        if final_dir.exists() {
            // Same step written again (after a resume): move the old one aside first.
            let old = self.root.join(format!(".{name}.old-{}", std::process::id()));
            fs::rename(&final_dir, &old).with_context(|| format!("cannot move {} aside", final_dir.display()))?;
            fs::rename(&tmp, &final_dir).with_context(|| format!("cannot move checkpoint into {}", final_dir.display()))?;
            fs::remove_dir_all(&old).ok();
        } else {
            fs::rename(&tmp, &final_dir).with_context(|| format!("cannot move checkpoint into {}", final_dir.display()))?;
        }
        // The folder's rename must be durable before `latest` can name it.
        sync_dir(&self.root)?;
        let latest_tmp = self.root.join(format!(".{LATEST}.tmp-{}", std::process::id()));
        write_synced(&latest_tmp, name.as_bytes())?;
        fs::rename(&latest_tmp, self.root.join(LATEST)).with_context(|| format!("cannot update {}", self.root.join(LATEST).display()))?;
        sync_dir(&self.root)?;
        self.prune(&name)?;
        Ok(final_dir)
    }

    fn write_into(&self, tmp: &Path, meta: &CheckpointMeta, tensors: &[(String, Tensor)], files: &[(&str, Vec<(String, Tensor)>)]) -> Result<()> {
        if tmp.exists() {
            fs::remove_dir_all(tmp).with_context(|| format!("cannot clear {}", tmp.display()))?;
        }
        fs::create_dir_all(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut meta = meta.clone();
        meta.checksums.clear();
        meta.checksums.insert(TENSORS.to_string(), write_tensors(tmp, TENSORS, tensors)?);
        for (file, list) in files {
            meta.checksums.insert(file.to_string(), write_tensors(tmp, file, list)?);
        }
        write_synced(&tmp.join(META), serde_json::to_string_pretty(&meta)?.as_bytes())?;
        sync_dir(tmp)
    }

    /// Removes all but the newest `keep` checkpoints, and leftovers of interrupted writes.
    fn prune(&self, latest: &str) -> Result<()> {
        let mut steps = Vec::new();
        for entry in fs::read_dir(&self.root)? {
            let name = entry?.file_name().to_string_lossy().to_string();
            let leftover = name.starts_with('.') && (name.contains(".tmp-") || name.contains(".old-"));
            if leftover && !name.ends_with(&format!("-{}", std::process::id())) {
                let _ = fs::remove_dir_all(self.root.join(&name)).or_else(|_| fs::remove_file(self.root.join(&name)));
            } else if name.starts_with("step-") && name.as_str() <= latest {
                steps.push(name);
            }
        }
        steps.sort();
        let drop = steps.len().saturating_sub(self.keep);
        for name in &steps[..drop] {
            fs::remove_dir_all(self.root.join(name)).ok();
        }
        Ok(())
    }

    /// Every `step-*` folder, oldest first.
    pub fn step_dirs(&self) -> Result<Vec<PathBuf>> {
        if !self.root.is_dir() {
            return Ok(Vec::new());
        }
        let mut dirs: Vec<PathBuf> = fs::read_dir(&self.root)
            .with_context(|| format!("cannot list {}", self.root.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir() && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("step-")))
            .collect();
        dirs.sort();
        Ok(dirs)
    }

    /// Path of the newest checkpoint: the one `latest` names or, when `latest` is missing
    /// (lost in a crash or deleted), the newest `step-*` folder.
    pub fn latest_path(&self) -> Result<Option<PathBuf>> {
        let latest = self.root.join(LATEST);
        if !latest.exists() {
            return Ok(self.step_dirs()?.pop());
        }
        let name = fs::read_to_string(&latest).with_context(|| format!("cannot read {}", latest.display()))?;
        let name = name.trim();
        if !name.starts_with("step-") || name.contains('/') {
            bail!("{} is corrupt: it names '{name}', not a step folder", latest.display());
        }
        let dir = self.root.join(name);
        if !dir.join(META).exists() {
            bail!("{} names {}, which is missing", latest.display(), dir.display());
        }
        // A newer complete folder than `latest` names (a crash between the two renames).
        match self.step_dirs()?.pop() {
            Some(newest) if newest > dir && newest.join(META).exists() => Ok(Some(newest)),
            _ => Ok(Some(dir)),
        }
    }

    /// The newest checkpoint, verified, if any.
    pub fn latest(&self) -> Result<Option<Checkpoint>> {
        self.latest_path()?.map(|d| Checkpoint::load(&d)).transpose()
    }

    /// The newest checkpoint that passes verification, and the newer ones that did not.
    pub fn newest_intact(&self) -> Result<(Option<Checkpoint>, Vec<Unusable>)> {
        let mut bad = Vec::new();
        for dir in self.step_dirs()?.into_iter().rev() {
            match Checkpoint::load(&dir) {
                Ok(ck) => return Ok((Some(ck), bad)),
                Err(e) => bad.push(Unusable { dir, reason: format!("{e:#}") }),
            }
        }
        Ok((None, bad))
    }

    /// Moves a checkpoint that failed verification out of the way (renamed, not deleted,
    /// so nothing is lost), so that a run resumed from an older one can write its steps.
    pub fn set_aside(&self, dir: &Path) -> Result<PathBuf> {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("step");
        let target = self.root.join(format!("corrupt-{name}"));
        if target.exists() {
            fs::remove_dir_all(&target).with_context(|| format!("cannot replace {}", target.display()))?;
        }
        fs::rename(dir, &target).with_context(|| format!("cannot move {} aside", dir.display()))?;
        sync_dir(&self.root)?;
        Ok(target)
    }
}
