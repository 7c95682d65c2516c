//! Device selection for `--device`.
use anyhow::{bail, Result};
use tch::Device;

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
