//! FITS input through `fitsrs` (pure Rust): image HDUs and binary tables with their header
//! keywords, gzip-compressed or not. A truncated or malformed file is an error naming the file.
use anyhow::{bail, Context, Result};
use fitsrs::card::Value;
use fitsrs::hdu::data::bintable::ColumnId;
use fitsrs::{DataValue, Fits, Pixels, HDU};
use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::Path;

/// One image HDU: its axes (NAXIS1 first, varying fastest), its data scaled by
/// BSCALE / BZERO, and its header values.
#[derive(Debug, Clone)]
pub struct FitsImage {
    /// Position of the HDU in the file (0 is the primary).
    pub index: usize,
    /// The `EXTNAME` keyword, trimmed, when present.
    pub name: Option<String>,
    /// Length of each axis, `NAXIS1` first; empty for an HDU with no data.
    pub axes: Vec<usize>,
    /// The pixel values, `NAXIS1` varying fastest, with BSCALE / BZERO applied.
    pub data: Vec<f64>,
    /// Header keywords with a number, string or logical value.
    pub keys: BTreeMap<String, HeaderValue>,
}

/// A header value (numbers, strings, logicals).
#[derive(Debug, Clone, PartialEq)]
pub enum HeaderValue {
    /// An integer or floating-point value.
    Number(f64),
    /// A string value.
    Text(String),
    /// A logical value (`T` / `F`).
    Flag(bool),
}

impl FitsImage {
    /// A numeric header value, parsing a string value when it holds a number.
    pub fn number(&self, key: &str) -> Option<f64> {
        match self.keys.get(key) {
            Some(HeaderValue::Number(v)) => Some(*v),
            Some(HeaderValue::Text(s)) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A string header value, trimmed of surrounding spaces.
    pub fn text(&self, key: &str) -> Option<&str> {
        match self.keys.get(key) {
            Some(HeaderValue::Text(s)) => Some(s.trim()),
            _ => None,
        }
    }
}

/// A binary-table HDU: numeric columns by name (`TTYPEn`), each `rows x repeat` values.
#[derive(Debug, Clone)]
pub struct FitsTable {
    /// Position of the HDU in the file (0 is the primary).
    pub index: usize,
    /// The `EXTNAME` keyword, trimmed, when present.
    pub name: Option<String>,
    /// Number of rows (`NAXIS2`).
    pub rows: usize,
    /// Numeric columns with their values, row after row; named by `TTYPEn`, else `COLn`.
    pub columns: Vec<(String, Vec<f64>)>,
}

impl FitsTable {
    /// A column by case-insensitive name, with its repeat count (values per row).
    pub fn column(&self, name: &str) -> Option<(&[f64], usize)> {
        self.columns.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| (v.as_slice(), v.len() / self.rows.max(1)))
    }
}

/// Everything readable in a FITS file.
#[derive(Debug, Clone, Default)]
pub struct FitsContents {
    /// The image HDUs, in file order (an empty primary included).
    pub images: Vec<FitsImage>,
    /// The binary-table HDUs, in file order.
    pub tables: Vec<FitsTable>,
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
    let c = read_fits(path)?;
    if c.images.is_empty() {
        bail!("{}: no image HDU found", path.display());
    }
    Ok(c.images)
}

fn value_f64(v: &DataValue) -> Option<(usize, f64)> {
    let (col, x) = match v {
        DataValue::Logical { value, column, .. } => (column, *value as u8 as f64),
        DataValue::UnsignedByte { value, column, .. } => (column, *value as f64),
        DataValue::Short { value, column, .. } => (column, *value as f64),
        DataValue::Integer { value, column, .. } => (column, *value as f64),
        DataValue::Long { value, column, .. } => (column, *value as f64),
        DataValue::Float { value, column, .. } => (column, *value as f64),
        DataValue::Double { value, column, .. } => (column, *value),
        _ => return None,
    };
    match col {
        ColumnId::Index(i) => Some((*i, x)),
        ColumnId::Name(_) => None,
    }
}

/// Walks the HDUs' headers and checks, with overflow-checked arithmetic, that every data
/// unit they declare is present in the bytes, before the FITS parser sees the file: a
/// header that lies about its sizes (truncated data, absurd axes) is an error here, never
/// an overflow or a read past the end further on.
pub fn check_layout(bytes: &[u8]) -> Result<()> {
    const BLOCK: usize = 2880;
    let mut at = 0;
    let mut hdu = 0;
    while at < bytes.len() {
        let mut keys: BTreeMap<String, String> = BTreeMap::new();
        let mut ended = false;
        let mut pos = at;
        while pos + 80 <= bytes.len() {
            let card = &bytes[pos..pos + 80];
            pos += 80;
            let key = String::from_utf8_lossy(&card[..8]).trim().to_string();
            if key == "END" {
                ended = true;
                break;
            }
            if &card[8..10] == b"= " {
                let value = String::from_utf8_lossy(&card[10..]);
                let value = value.split('/').next().unwrap_or("").trim().to_string();
                keys.entry(key).or_insert(value);
            }
        }
        if !ended {
            if hdu > 0 && keys.is_empty() {
                // Trailing padding after the last HDU.
                return Ok(());
            }
            bail!("HDU {hdu}: the header has no END card");
        }
        let header_end = pos.div_ceil(BLOCK) * BLOCK;
        let int = |k: &str| -> Result<i64> {
            let v = keys.get(k).with_context(|| format!("HDU {hdu}: no {k} keyword"))?;
            v.parse::<i64>().map_err(|_| anyhow::anyhow!("HDU {hdu}: {k} = '{v}' is not an integer"))
        };
        let bitpix = int("BITPIX")?;
        if ![8, 16, 32, 64, -32, -64].contains(&bitpix) {
            bail!("HDU {hdu}: BITPIX = {bitpix} is not one of 8, 16, 32, 64, -32, -64");
        }
        let naxis = int("NAXIS")?;
        if !(0..=999).contains(&naxis) {
            bail!("HDU {hdu}: NAXIS = {naxis} is out of range");
        }
        let mut count: u64 = if naxis == 0 { 0 } else { 1 };
        for i in 1..=naxis {
            let n = int(&format!("NAXIS{i}"))?;
            let n = u64::try_from(n).map_err(|_| anyhow::anyhow!("HDU {hdu}: NAXIS{i} = {n} is negative"))?;
            count = count.checked_mul(n).with_context(|| format!("HDU {hdu}: the axes overflow"))?;
        }
        let (pcount, gcount) = if hdu == 0 { (0, 1) } else { (int("PCOUNT").unwrap_or(0), int("GCOUNT").unwrap_or(1)) };
        let (pcount, gcount) = (u64::try_from(pcount).unwrap_or(u64::MAX), u64::try_from(gcount).unwrap_or(u64::MAX));
        let bits = count
            .checked_add(pcount)
            .and_then(|c| c.checked_mul(gcount))
            .and_then(|c| c.checked_mul(bitpix.unsigned_abs()))
            .with_context(|| format!("HDU {hdu}: the declared data size overflows"))?;
        let data = usize::try_from(bits / 8).map_err(|_| anyhow::anyhow!("HDU {hdu}: the declared data size is too large"))?;
        let have = bytes.len().saturating_sub(header_end);
        if data > have {
            bail!("HDU {hdu} is truncated: its header declares {data} bytes of data, the file holds {have}");
        }
        at = header_end.checked_add(data.div_ceil(BLOCK) * BLOCK).context("overflow")?;
        hdu += 1;
    }
    Ok(())
}

/// Every image HDU and binary table of a FITS file.
pub fn read_fits(path: &Path) -> Result<FitsContents> {
    let bytes = read_maybe_gz(path)?;
    if bytes.len() < 2880 || !bytes.starts_with(b"SIMPLE  =") {
        bail!("{}: not a FITS file (no SIMPLE card in a 2880-byte header)", path.display());
    }
    check_layout(&bytes).with_context(|| format!("{}: not a valid FITS file", path.display()))?;
    let mut fits = Fits::from_reader(Cursor::new(bytes.as_slice()));
    let mut out = Vec::new();
    let mut tables = Vec::new();
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
        } else if let HDU::XBinaryTable(h) = hdu {
            let header = h.get_header();
            let rows = header.get_xtension().get_num_rows();
            let ncols = header.get_xtension().get_num_cols();
            let names: Vec<String> = (1..=ncols)
                .map(|i| match header.get(&format!("TTYPE{i}")) {
                    Some(Value::String { value, .. }) => value.trim().to_string(),
                    _ => format!("COL{i}"),
                })
                .collect();
            let extname = match header.get("EXTNAME") {
                Some(Value::String { value, .. }) => Some(value.trim().to_string()),
                _ => None,
            };
            let mut columns: Vec<(String, Vec<f64>)> = names.into_iter().map(|n| (n, Vec::new())).collect();
            for v in fits.get_data(&h).table_data() {
                if let Some((c, x)) = value_f64(&v) {
                    if let Some(col) = columns.get_mut(c) {
                        col.1.push(x);
                    }
                }
            }
            for (name, values) in &columns {
                if rows > 0 && !values.is_empty() && values.len() % rows != 0 {
                    bail!("{}: table HDU {index} is truncated: column {name} holds {} values for {rows} rows", path.display(), values.len());
                }
            }
            columns.retain(|(_, v)| !v.is_empty());
            tables.push(FitsTable { index, name: extname, rows, columns });
        }
        index += 1;
    }
    if out.is_empty() && tables.is_empty() {
        bail!("{}: no image or table HDU found", path.display());
    }
    Ok(FitsContents { images: out, tables })
}
