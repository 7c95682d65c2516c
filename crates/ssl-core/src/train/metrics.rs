//! Training metrics as JSON lines, one object per logged step.
use anyhow::{Context, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A JSON-lines metrics file, one record appended per logged step.
pub struct MetricsLog {
    path: PathBuf,
    file: fs::File,
}

impl MetricsLog {
    /// Opens `path` for appending. When resuming from `resume_step`, lines of later steps
    /// (written by the interrupted run after its last checkpoint) are dropped first, so
    /// the log reads as one uninterrupted run.
    pub fn open(path: &Path, resume_step: Option<usize>) -> Result<Self> {
        match resume_step {
            Some(step) if path.exists() => {
                let text = fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
                let kept: String = text
                    .lines()
                    .filter(|l| {
                        serde_json::from_str::<serde_json::Value>(l)
                            .ok()
                            .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
                            .is_some_and(|s| s as usize <= step)
                    })
                    .map(|l| format!("{l}\n"))
                    .collect();
                let tmp = path.with_extension("jsonl.tmp");
                fs::write(&tmp, kept).and_then(|_| fs::rename(&tmp, path)).with_context(|| format!("cannot rewrite {}", path.display()))?;
            }
            Some(_) => {}
            None => {
                if path.exists() {
                    fs::remove_file(path).with_context(|| format!("cannot replace {}", path.display()))?;
                }
            }
        }
        let file = fs::OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Self { path: path.to_path_buf(), file })
    }

    /// Appends `record` as one line.
    pub fn log(&mut self, record: &serde_json::Value) -> Result<()> {
        writeln!(self.file, "{record}").with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// Reads the `(step, loss)` pairs of a metrics file (for loss curves).
    pub fn read_losses(path: &Path) -> Result<Vec<(usize, f64)>> {
        let text = fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| Some((v.get("step")?.as_u64()? as usize, v.get("loss")?.as_f64()?)))
            .collect())
    }
}

/// Adds `value` to the running sum named `name` (kept in first-seen order), for metrics
/// summed over micro-batches or validation batches before they are logged.
pub(crate) fn add_named(sums: &mut Vec<(String, f64)>, name: &str, value: f64) {
    match sums.iter_mut().find(|(n, _)| n == name) {
        Some((_, s)) => *s += value,
        None => sums.push((name.to_string(), value)),
    }
}
