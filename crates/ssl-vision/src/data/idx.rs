//! The IDX format of MNIST and Fashion-MNIST (optionally gzip-compressed).
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::Path;

/// An unsigned-byte IDX array.
#[derive(Debug, Clone)]
pub struct IdxArray {
    /// Length of each dimension, outermost first.
    pub dims: Vec<usize>,
    /// The values, row-major (last dimension fastest).
    pub data: Vec<u8>,
}

/// Reads an IDX file of unsigned bytes (type code 0x08), gzip-compressed or not.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice()).read_to_end(&mut out).with_context(|| format!("{}: corrupt or truncated gzip data", path.display()))?;
        out
    } else {
        raw
    };
    parse_idx(&bytes).with_context(|| format!("{}: not a valid IDX file", path.display()))
}

fn parse_idx(bytes: &[u8]) -> Result<IdxArray> {
    if bytes.len() < 4 {
        bail!("file is {} bytes, too short for an IDX header", bytes.len());
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        bail!("bad magic number {:02x}{:02x}{:02x}{:02x}", bytes[0], bytes[1], bytes[2], bytes[3]);
    }
    if bytes[2] != 0x08 {
        bail!("element type 0x{:02x} is not supported (only unsigned bytes, 0x08)", bytes[2]);
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 {
        bail!("zero dimensions");
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        bail!("truncated header: {ndim} dimensions need {header} bytes, file has {}", bytes.len());
    }
    let dims: Vec<usize> = (0..ndim).map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap_or([0; 4])) as usize).collect();
    let count = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).context("dimensions overflow")?;
    let body = &bytes[header..];
    if body.len() < count {
        bail!("truncated: dimensions {dims:?} need {count} bytes of data, found {}", body.len());
    }
    if body.len() > count {
        bail!("{} unexpected bytes after the data of dimensions {dims:?}", body.len() - count);
    }
    Ok(IdxArray { dims, data: body.to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn parses_and_rejects() {
        let ok = parse_idx(&idx(&[2, 2], &[1, 2, 3, 4])).unwrap();
        assert_eq!(ok.dims, vec![2, 2]);
        assert_eq!(ok.data, vec![1, 2, 3, 4]);
        assert!(parse_idx(&idx(&[2, 2], &[1, 2, 3])).unwrap_err().to_string().contains("truncated"));
        assert!(parse_idx(&[0, 0, 8]).is_err());
        assert!(parse_idx(&[1, 2, 3, 4, 5]).unwrap_err().to_string().contains("magic"));
        assert!(parse_idx(&[0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap_err().to_string().contains("not supported"));
    }
}
