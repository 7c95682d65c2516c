//! Sizing allocations that user input controls before making them, so that an absurd
//! setting is a clear error naming it instead of an abort inside the allocator.

use anyhow::{bail, Result};

/// Memory the system can still give this process (`MemAvailable` of `/proc/meminfo`), if
/// the platform says.
pub fn available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

fn gib(bytes: f64) -> String {
    format!("{:.1} GiB", bytes / (1u64 << 30) as f64)
}

/// Fails when `bytes` (an estimate of what `what` will allocate) exceed the memory
/// available, naming the `setting` that controls it. Sizes are `f64` so that products of
/// user-given sizes cannot overflow before they are checked.
pub fn check_fits(what: &str, setting: &str, bytes: f64) -> Result<()> {
    let available = available_bytes().map(|b| b as f64);
    if !bytes.is_finite() || available.is_some_and(|a| bytes > a) || bytes > 1e15 {
        let avail = available.map(gib).unwrap_or_else(|| "an unknown amount".into());
        bail!("{what} would need about {} of memory, more than the {avail} available; lower {setting}", gib(bytes));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_fits_and_absurd_names_the_setting() {
        check_fits("a batch", "train.batch_size", 1e6).unwrap();
        let err = check_fits("a batch of views", "augment.size", 4e13).unwrap_err().to_string();
        assert!(err.contains("augment.size") && err.contains("GiB"), "{err}");
        assert!(check_fits("x", "y", f64::INFINITY).is_err());
    }
}
