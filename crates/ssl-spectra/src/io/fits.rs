//! FITS input through `fitsrs` (pure Rust): image HDUs with their header keywords,
//! gzip-compressed or not. A truncated or malformed file is an error naming the file.
use anyhow::{bail, Context, Result};
use fitsrs::card::Value;
use fitsrs::{Fits, Pixels, HDU};
use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::Path;

/// One image HDU: its axes (NAXIS1 first, varying fastest), its data scaled by
/// BSCALE / BZERO, and its header values.
#[derive(Debug, Clone)]
pub struct FitsImage {
    pub index: usize,
    pub name: Option<String>,
    pub axes: Vec<usize>,
    pub data: Vec<f64>,
    pub keys: BTreeMap<String, HeaderValue>,
}

/// A header value (numbers, strings, logicals).
#[derive(Debug, Clone, PartialEq)]
pub enum HeaderValue {
    Number(f64),
    Text(String),
    Flag(bool),
}

impl FitsImage {
    pub fn number(&self, key: &str) -> Option<f64> {
        match self.keys.get(key) {
            Some(HeaderValue::Number(v)) => Some(*v),
            Some(HeaderValue::Text(s)) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn text(&self, key: &str) -> Option<&str> {
        match self.keys.get(key) {
            Some(HeaderValue::Text(s)) => Some(s.trim()),
            _ => None,
        }
    }
}

/// Reads the file, undoing gzip compression when present.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice()).read_to_end(&mut out).with_context(|| format!("{}: corrupt or truncated gzip data", path.display()))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn to_f64<T: Into<f64>>(it: impl Iterator<Item = T>) -> Vec<f64> {
    it.map(Into::into).collect()
}

/// Every image HDU of a FITS file (empty primaries included, with no data).
pub fn read_fits_images(path: &Path) -> Result<Vec<FitsImage>> {
    let bytes = read_maybe_gz(path)?;
    if bytes.len() < 2880 || !bytes.starts_with(b"SIMPLE  =") {
        bail!("{}: not a FITS file (no SIMPLE card in a 2880-byte header)", path.display());
    }
    let mut fits = Fits::from_reader(Cursor::new(bytes.as_slice()));
    let mut out = Vec::new();
    let mut index = 0;
    while let Some(hdu) = fits.next() {
        let hdu = hdu.map_err(|e| anyhow::anyhow!("{}: HDU {index}: {e}", path.display()))?;
        if let HDU::Primary(h) | HDU::XImage(h) = hdu {
            let header = h.get_header();
            let axes: Vec<usize> = header.get_xtension().get_naxis().iter().map(|&n| n as usize).collect();
            let mut keys = BTreeMap::new();
            for (k, v) in header.iter() {
                let v = match v {
                    Value::Integer { value, .. } => HeaderValue::Number(*value as f64),
                    Value::Float { value, .. } => HeaderValue::Number(*value),
                    Value::Logical { value, .. } => HeaderValue::Flag(*value),
                    Value::String { value, .. } => HeaderValue::Text(value.clone()),
                    _ => continue,
                };
                keys.insert(k.to_string(), v);
            }
            let expected: usize = if axes.is_empty() { 0 } else { axes.iter().product() };
            let data = match fits.get_data(&h).pixels() {
                Pixels::U8(it) => to_f64(it),
                Pixels::I16(it) => to_f64(it),
                Pixels::I32(it) => to_f64(it),
                Pixels::I64(it) => it.map(|v| v as f64).collect(),
                Pixels::F32(it) => to_f64(it),
                Pixels::F64(it) => it.collect(),
            };
            if data.len() != expected {
                bail!("{}: HDU {index} is truncated: axes {axes:?} need {expected} values, the file holds {}", path.display(), data.len());
            }
            let mut img = FitsImage { index, name: None, axes, data, keys };
            img.name = img.text("EXTNAME").map(str::to_string);
            let (scale, zero) = (img.number("BSCALE").unwrap_or(1.0), img.number("BZERO").unwrap_or(0.0));
            if scale != 1.0 || zero != 0.0 {
                img.data.iter_mut().for_each(|v| *v = *v * scale + zero);
            }
            out.push(img);
        }
        index += 1;
    }
    if out.is_empty() {
        bail!("{}: no image HDU found", path.display());
    }
    Ok(out)
}
