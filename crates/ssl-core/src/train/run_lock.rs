//! One process per run folder: an OS file lock held for the life of the process.
//!
//! The lock is `flock`-style on `<folder>/.lock`: the kernel drops it when the process
//! ends, however it ends (a SIGKILL never leaves a stale lock behind).
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// Holds the lock of a run folder until dropped.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    _file: fs::File,
}

impl RunLock {
    /// Locks `dir` (creating it if needed), or fails naming the folder when another process
    /// holds it.
    pub fn acquire(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create output folder {}", dir.display()))?;
        let path = dir.join(".lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { path, _file: file }),
            Err(fs::TryLockError::WouldBlock) => {
                bail!(
                    "{} is in use by another process (its lock {} is held); wait for it to finish or choose another output folder",
                    dir.display(),
                    path.display()
                )
            }
            Err(fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = std::env::temp_dir().join(format!("ssl-core-lock-{}", std::process::id()));
        let first = RunLock::acquire(&dir).unwrap();
        let err = RunLock::acquire(&dir).unwrap_err().to_string();
        assert!(err.contains(&dir.display().to_string()) && err.contains("in use"), "{err}");
        drop(first);
        let again = RunLock::acquire(&dir).unwrap();
        assert!(again.path().exists());
        drop(again);
        fs::remove_dir_all(&dir).ok();
    }
}
