//! Checkpoints that survive a crash at any instant.
//!
//! A checkpoint is a folder `step-XXXXXXXX/` holding `tensors.safetensors` (model,
//! method state, optimiser state) and `meta.json` (step, seed, effective config). It is
//! written under a temporary name, synced, and renamed into place; the file `latest`
//! naming the newest one is replaced the same way. A kill at any point leaves either the
//! old or the new checkpoint, never a half-written one in its place.
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use tch::Tensor;

const TENSORS: &str = "tensors.safetensors";
const META: &str = "meta.json";
const LATEST: &str = "latest";

/// What a checkpoint says about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Optimiser steps completed.
    pub step: usize,
    /// The run's seed; with `step` it fixes every random draw still to come.
    pub seed: u64,
    pub method: String,
    /// The effective configuration of the run, to rerun or resume it.
    pub config: serde_json::Value,
}

/// A loaded checkpoint.
pub struct Checkpoint {
    pub dir: PathBuf,
    pub meta: CheckpointMeta,
    pub tensors: HashMap<String, Tensor>,
}

impl Checkpoint {
    /// Loads the checkpoint folder `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let meta_path = dir.join(META);
        let text = fs::read_to_string(&meta_path).with_context(|| format!("cannot read checkpoint metadata {}", meta_path.display()))?;
        let meta: CheckpointMeta = serde_json::from_str(&text).with_context(|| format!("corrupt checkpoint metadata {}", meta_path.display()))?;
        let tensor_path = dir.join(TENSORS);
        let tensors = Tensor::read_safetensors(&tensor_path)
            .with_context(|| format!("corrupt or unreadable checkpoint tensors {}", tensor_path.display()))?
            .into_iter()
            .collect();
        Ok(Self { dir: dir.to_path_buf(), meta, tensors })
    }

    /// The tensors under `prefix/`, with the prefix removed.
    pub fn section(&self, prefix: &str) -> HashMap<String, Tensor> {
        let p = format!("{prefix}/");
        self.tensors.iter().filter_map(|(k, v)| k.strip_prefix(&p).map(|k| (k.to_string(), v.shallow_clone()))).collect()
    }
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

impl CheckpointDir {
    /// `keep`: how many of the newest checkpoints to keep (at least 1).
    pub fn new(root: impl Into<PathBuf>, keep: usize) -> Self {
        Self { root: root.into(), keep: keep.max(1) }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes a checkpoint atomically and makes it the latest. `files` are extra
    /// safetensors files (e.g. an exported backbone) written into the same folder.
    pub fn save(&self, meta: &CheckpointMeta, tensors: &[(String, Tensor)], files: &[(&str, Vec<(String, Tensor)>)]) -> Result<PathBuf> {
        fs::create_dir_all(&self.root).with_context(|| format!("cannot create checkpoint folder {}", self.root.display()))?;
        let name = format!("step-{:08}", meta.step);
        let tmp = self.root.join(format!(".{name}.tmp-{}", std::process::id()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).with_context(|| format!("cannot clear {}", tmp.display()))?;
        }
        fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let contiguous: Vec<(String, Tensor)> = tensors.iter().map(|(k, t)| (k.clone(), t.detach().to_device(tch::Device::Cpu).contiguous())).collect();
        Tensor::write_safetensors(&contiguous, tmp.join(TENSORS)).with_context(|| format!("cannot write checkpoint tensors in {}", tmp.display()))?;
        fs::File::open(tmp.join(TENSORS)).and_then(|f| f.sync_all())?;
        for (file, list) in files {
            let list: Vec<(String, Tensor)> = list.iter().map(|(k, t)| (k.clone(), t.detach().to_device(tch::Device::Cpu).contiguous())).collect();
            Tensor::write_safetensors(&list, tmp.join(file)).with_context(|| format!("cannot write {file} in {}", tmp.display()))?;
            fs::File::open(tmp.join(file)).and_then(|f| f.sync_all())?;
        }
        write_synced(&tmp.join(META), serde_json::to_string_pretty(meta)?.as_bytes())?;
        sync_dir(&tmp)?;
        let final_dir = self.root.join(&name);
        if final_dir.exists() {
            // Same step written again (after a resume): move the old one aside first.
            let old = self.root.join(format!(".{name}.old-{}", std::process::id()));
            fs::rename(&final_dir, &old)?;
            fs::rename(&tmp, &final_dir)?;
            fs::remove_dir_all(&old).ok();
        } else {
            fs::rename(&tmp, &final_dir).with_context(|| format!("cannot move checkpoint into {}", final_dir.display()))?;
        }
        // The folder's rename must be durable before `latest` can name it.
        sync_dir(&self.root)?;
        let latest_tmp = self.root.join(format!(".{LATEST}.tmp-{}", std::process::id()));
        write_synced(&latest_tmp, name.as_bytes())?;
        fs::rename(&latest_tmp, self.root.join(LATEST))?;
        sync_dir(&self.root)?;
        self.prune(&name)?;
        Ok(final_dir)
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

    /// Path of the newest complete checkpoint, if any.
    pub fn latest_path(&self) -> Result<Option<PathBuf>> {
        let latest = self.root.join(LATEST);
        if !latest.exists() {
            return Ok(None);
        }
        let name = fs::read_to_string(&latest).with_context(|| format!("cannot read {}", latest.display()))?;
        let dir = self.root.join(name.trim());
        if !dir.join(META).exists() {
            bail!("{} names {}, which is missing", latest.display(), dir.display());
        }
        Ok(Some(dir))
    }

    /// The newest complete checkpoint, if any.
    pub fn latest(&self) -> Result<Option<Checkpoint>> {
        self.latest_path()?.map(|d| Checkpoint::load(&d)).transpose()
    }
}
