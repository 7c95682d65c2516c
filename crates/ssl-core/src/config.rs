//! Configuration files: TOML read over a command's defaults, key by key.
use anyhow::{Context, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::path::Path;

/// Reads a TOML file over the defaults of `T`: keys in the file replace the defaults one by
/// one, also inside tables (a `[train]` table with only `lr` keeps the command's other
/// training defaults). Unknown keys are errors naming the file and the key.
pub fn read_toml<T: DeserializeOwned + Serialize + Default>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    let user: toml::Table = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim()))?;
    let mut merged = toml::Table::try_from(T::default())?;
    merge(&mut merged, user);
    merged.try_into().map_err(|e: toml::de::Error| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim()))
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Writes `bytes` to `path` through a temporary file beside it and a rename, so that a
/// crash leaves the old file or the new one, never half of one; a failed write removes the
/// temporary file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    let written = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("cannot write {}", path.display()))
}

/// Settings of a run that may change when it is resumed (where and how visibly it runs,
/// not what it computes): JSON pointers into a command config with `out`, `device`,
/// `threads` and a `train` table.
pub const RESUME_MAY_CHANGE: &[&str] =
    &["/out", "/device", "/threads", "/train/progress", "/train/log_every", "/train/checkpoint_every", "/train/keep_checkpoints"];
