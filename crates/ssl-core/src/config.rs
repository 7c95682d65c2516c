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
    write_atomically_with(path, |tmp| Ok(std::fs::write(tmp, bytes)?))
}

/// [`write_atomically`] for writers that want a path (a safetensors or NPY writer):
/// `write` fills the temporary file, which is then renamed to `path`.
pub fn write_atomically_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    let written = write(&tmp).and_then(|_| Ok(std::fs::rename(&tmp, path)?));
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

/// A settings table as one line of `key = value` pairs (for `methods` listings).
pub fn settings_line(table: &impl Serialize) -> String {
    match serde_json::to_value(table) {
        Ok(serde_json::Value::Object(o)) if !o.is_empty() => o.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", "),
        _ => "none".to_string(),
    }
}

/// Overrides of a config's keys by dotted path (`train.lr`, `model.options.temperature`),
/// from typed CLI flags and from `--set key=value`. They are applied through the config's
/// serde form, so an unknown key or a wrong type is an error naming the key.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    sets: Vec<(String, toml::Value)>,
}

impl Overrides {
    /// No overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value` when the flag was given (`Some`).
    pub fn set<V: Serialize>(mut self, key: &str, value: Option<V>) -> Self {
        if let Some(v) = value {
            match toml::Value::try_from(v) {
                Ok(v) => self.sets.push((key.to_string(), v)),
                Err(e) => self.sets.push((key.to_string(), toml::Value::String(format!("<unrepresentable: {e}>")))),
            }
        }
        self
    }

    /// Adds `key=value` assignments; values are read as TOML (`0.1`, `true`, `[1, 2]`,
    /// `"text"`), and as a plain string when they are not TOML.
    pub fn assignments(mut self, assignments: &[String]) -> Result<Self> {
        for a in assignments {
            let Some((key, raw)) = a.split_once('=') else { anyhow::bail!("--set {a}: expected key=value (e.g. train.lr=0.1)") };
            let (key, raw) = (key.trim(), raw.trim());
            if key.is_empty() || key.split('.').any(str::is_empty) {
                anyhow::bail!("--set {a}: the key must be a dotted path such as train.lr");
            }
            let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(raw.to_string()));
            self.sets.push((key.to_string(), value));
        }
        Ok(self)
    }

    /// `cfg` with every override applied, in order.
    pub fn apply<T: Serialize + DeserializeOwned>(&self, cfg: &T) -> Result<T> {
        let mut table = toml::Table::try_from(cfg)?;
        for (key, value) in &self.sets {
            let mut parts: Vec<&str> = key.split('.').collect();
            let last = parts.pop().unwrap_or_default();
            let mut at = &mut table;
            for p in parts {
                let entry = at.entry(p.to_string()).or_insert_with(|| toml::Value::Table(Default::default()));
                at = match entry {
                    toml::Value::Table(t) => t,
                    _ => anyhow::bail!("cannot set {key}: '{p}' is a value, not a table"),
                };
            }
            at.insert(last.to_string(), value.clone());
        }
        let keys: Vec<&str> = self.sets.iter().map(|(k, _)| k.as_str()).collect();
        table.try_into().map_err(|e: toml::de::Error| anyhow::anyhow!("settings {}: {}", keys.join(", "), e.to_string().trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Inner {
        lr: f64,
        steps: usize,
    }

    #[derive(Debug, Default, PartialEq, Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Outer {
        name: String,
        train: Inner,
    }

    #[test]
    fn overrides_set_typed_values_and_refuse_unknown_keys() {
        let base = Outer { name: "a".into(), train: Inner { lr: 0.5, steps: 3 } };
        let o = Overrides::new().set("train.steps", Some(9usize)).set::<f64>("train.lr", None).assignments(&["name=b".into()]).unwrap();
        assert_eq!(o.apply(&base).unwrap(), Outer { name: "b".into(), train: Inner { lr: 0.5, steps: 9 } });
        let err = Overrides::new().assignments(&["train.lrr=1".into()]).unwrap().apply(&base).unwrap_err().to_string();
        assert!(err.contains("lrr"), "{err}");
        let err = Overrides::new().assignments(&["train.steps=fast".into()]).unwrap().apply(&base).unwrap_err().to_string();
        assert!(err.contains("train.steps"), "{err}");
        assert!(Overrides::new().assignments(&["novalue".into()]).is_err());
    }
}
