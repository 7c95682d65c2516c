//! A walk over a DICOM file's element headers that checks declared lengths against the
//! bytes that remain, before the file is parsed. The parser reserves what an element
//! declares before reading it, so one corrupt length field (up to 4 GiB) costs gigabytes
//! and seconds before the read fails (found by fuzzing); the walk turns a large one into
//! an error at once. It is deliberately shallow: where it loses its way (a short length that
//! overruns, an encoding it does not follow) it stops and leaves the verdict to the parser,
//! so that it never refuses a file the parser reads.
use anyhow::{bail, Result};

const UNDEFINED: u32 = 0xFFFF_FFFF;
const ITEM: (u16, u16) = (0xFFFE, 0xE000);
const ITEM_END: (u16, u16) = (0xFFFE, 0xE00D);
const SEQUENCE_END: (u16, u16) = (0xFFFE, 0xE0DD);
const PIXEL_DATA: (u16, u16) = (0x7FE0, 0x0010);
/// Overruns up to this many bytes are left to the parser (its reservation is harmless).
const LARGE: u32 = 16 << 20;

/// How the data set after the meta group is encoded.
#[derive(Clone, Copy)]
struct Encoding {
    explicit: bool,
    little: bool,
}

/// Errors when an element of `bytes` (a whole file, preamble included) declares more bytes
/// than remain after it. Files this walk cannot follow (no preamble, deflated data sets)
/// are left to the parser.
pub(crate) fn check_lengths(bytes: &[u8]) -> Result<()> {
    if bytes.len() < 132 || &bytes[128..132] != b"DICM" {
        return Ok(());
    }
    // The meta group is explicit VR little endian; it names the data set's encoding.
    let meta = Encoding { explicit: true, little: true };
    let mut pos = 132;
    let mut syntax = String::new();
    while pos + 8 <= bytes.len() && u16::from_le_bytes([bytes[pos], bytes[pos + 1]]) == 0x0002 {
        let Some((tag, len, start)) = header(bytes, pos, meta) else { return Ok(()) };
        if !fits(tag, len, start, bytes.len())? {
            return Ok(());
        }
        if tag == (0x0002, 0x0010) {
            syntax = String::from_utf8_lossy(&bytes[start..start + len as usize]).trim_end_matches(['\0', ' ']).to_string();
        }
        pos = start + len as usize;
    }
    let encoding = match syntax.as_str() {
        "1.2.840.10008.1.2" => Encoding { explicit: false, little: true },
        "1.2.840.10008.1.2.2" => Encoding { explicit: true, little: false },
        // Deflated data sets cannot be walked without inflating them.
        "1.2.840.10008.1.2.1.99" => return Ok(()),
        _ => Encoding { explicit: true, little: true },
    };
    walk(bytes, pos, encoding)
}

/// [`check_lengths`] for a bare data set (no preamble, no meta group) in implicit VR little
/// endian, as older files are written.
pub(crate) fn check_bare_lengths(bytes: &[u8]) -> Result<()> {
    walk(bytes, 0, Encoding { explicit: false, little: true })
}

/// Walks the elements of the data set that starts at `pos`.
fn walk(bytes: &[u8], mut pos: usize, encoding: Encoding) -> Result<()> {
    let mut in_fragments = false;
    while pos + 8 <= bytes.len() {
        let Some((tag, len, start)) = header(bytes, pos, encoding) else { return Ok(()) };
        if len == UNDEFINED {
            // Sequences, items and encapsulated pixel data of undefined length: walk on into
            // them; inside pixel data the items are fragments, whose bytes are skipped.
            if tag == PIXEL_DATA {
                in_fragments = true;
            }
            pos = start;
            continue;
        }
        if !fits(tag, len, start, bytes.len())? {
            return Ok(());
        }
        if tag == SEQUENCE_END {
            in_fragments = false;
        }
        let opaque = tag != ITEM || in_fragments;
        pos = if opaque && tag != ITEM_END { start + len as usize } else { start };
    }
    Ok(())
}

/// Whether the element's value fits in the file; an error when it overruns by a large length.
fn fits(tag: (u16, u16), len: u32, start: usize, total: usize) -> Result<bool> {
    let remaining = total - start.min(total);
    if len == UNDEFINED || len as usize <= remaining {
        return Ok(true);
    }
    if len > LARGE {
        bail!("element ({:04X},{:04X}) declares {len} bytes but only {remaining} remain (corrupt or truncated)", tag.0, tag.1);
    }
    Ok(false)
}

/// The tag, the declared length and where the value starts, of the element at `pos` (at
/// least 8 bytes remain); none when the header itself is cut short.
fn header(b: &[u8], pos: usize, e: Encoding) -> Option<((u16, u16), u32, usize)> {
    let u16_at = |i: usize| if e.little { u16::from_le_bytes([b[i], b[i + 1]]) } else { u16::from_be_bytes([b[i], b[i + 1]]) };
    let u32_at =
        |i: usize| if e.little { u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) } else { u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) };
    let tag = (u16_at(pos), u16_at(pos + 2));
    // Items and delimiters carry no VR in any encoding.
    if tag.0 == 0xFFFE || !e.explicit {
        return Some((tag, u32_at(pos + 4), pos + 8));
    }
    let vr = [b[pos + 4], b[pos + 5]];
    // The VRs with a 2-byte length; any other code, unknown ones included, has a 4-byte
    // length after two reserved bytes (as the parser reads it).
    let short = matches!(
        &vr,
        b"AE"
            | b"AS"
            | b"AT"
            | b"CS"
            | b"DA"
            | b"DS"
            | b"DT"
            | b"FL"
            | b"FD"
            | b"IS"
            | b"LO"
            | b"LT"
            | b"PN"
            | b"SH"
            | b"SL"
            | b"SS"
            | b"ST"
            | b"TM"
            | b"UI"
            | b"UL"
            | b"US"
    );
    if !short {
        (pos + 12 <= b.len()).then(|| (tag, u32_at(pos + 8), pos + 12))
    } else {
        Some((tag, u32::from(u16_at(pos + 6)), pos + 8))
    }
}
