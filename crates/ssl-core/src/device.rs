//! Device selection for `--device`.
use anyhow::{bail, Result};
use tch::Device;

/// Applies a libtorch thread count and parses the device. `threads = 0` picks the cores
/// that are free now ([`free_cores`]): libtorch's default of one thread per core makes a run
/// many times slower when another process keeps a core busy, because its threads wait for
/// each other at every parallel region.
pub fn setup_runtime(device: &str, threads: usize) -> Result<Device> {
    if threads > 1024 {
        bail!("threads must be at most 1024, got {threads}");
    }
    let n = if threads > 0 { threads } else { free_cores() };
    tch::set_num_threads(n as i32);
    parse_device(device)
}

/// Cores this process may use (affinity and cgroup limits included).
pub fn usable_cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// One reading of `/proc/stat`: idle and total jiffies summed over all CPUs, and how
/// many CPUs are online.
fn cpu_times() -> Option<(u64, u64, usize)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = text.lines().next()?.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    let online = text.lines().filter(|l| l.starts_with("cpu") && !l.starts_with("cpu ")).count();
    Some((idle, fields.iter().sum(), online))
}

/// Cores not kept busy by other processes, measured over 100 ms (at least 1, at most the
/// usable cores); the usable cores where the system does not say.
pub fn free_cores() -> usize {
    let cores = usable_cores();
    let Some((idle0, total0, _)) = cpu_times() else { return cores };
    std::thread::sleep(std::time::Duration::from_millis(100));
    let Some((idle1, total1, online)) = cpu_times() else { return cores };
    let (idle, total) = (idle1.saturating_sub(idle0), total1.saturating_sub(total0));
    if total == 0 {
        return cores;
    }
    let free = (idle as f64 / total as f64 * online.max(1) as f64 + 0.25).floor() as usize;
    free.clamp(1, cores)
}

/// Parses `auto` (CUDA when available), `cpu`, `cuda` or `cuda:N`.
pub fn parse_device(s: &str) -> Result<Device> {
    let device = match s {
        "auto" => Device::cuda_if_available(),
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        other => match other.strip_prefix("cuda:").and_then(|i| i.parse::<usize>().ok()) {
            Some(i) => Device::Cuda(i),
            None => bail!("unknown device '{other}' (use auto, cpu, cuda or cuda:N)"),
        },
    };
    if let Device::Cuda(i) = device {
        let n = tch::Cuda::device_count() as usize;
        if i >= n {
            bail!("device '{s}' requested but {n} CUDA device(s) are available");
        }
    }
    Ok(device)
}
