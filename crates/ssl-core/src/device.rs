//! Device selection for `--device`.
use anyhow::{bail, Result};
use tch::Device;

/// Applies a libtorch thread count (0 keeps libtorch's default) and parses the device.
pub fn setup_runtime(device: &str, threads: usize) -> Result<Device> {
    if threads > 1024 {
        bail!("threads must be at most 1024, got {threads}");
    }
    if threads > 0 {
        tch::set_num_threads(threads as i32);
    }
    parse_device(device)
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
