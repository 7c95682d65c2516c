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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_read_back_bit_exact() {
        // 130.65331632653061 parses one unit in the last place low with serde_json's default
        // float parser: a resumed run would report another final loss than the run itself.
        let dir = std::env::temp_dir().join(format!("ssl-core-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("metrics.jsonl");
        let values = [130.65331632653061, 0.1 + 0.2, 2.0612498074769974, f64::MIN_POSITIVE, 1e300 / 3.0];
        let mut log = MetricsLog::open(&path, None).unwrap();
        for (step, v) in values.iter().enumerate() {
            log.log(&serde_json::json!({"step": step + 1, "loss": v})).unwrap();
        }
        let back = MetricsLog::read_losses(&path).unwrap();
        assert_eq!(back.len(), values.len());
        for ((step, b), v) in back.iter().zip(values) {
            assert_eq!(b.to_bits(), v.to_bits(), "step {step}: wrote {v:?}, read {b:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
