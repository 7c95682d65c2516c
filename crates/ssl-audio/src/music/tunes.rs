//! The music data set's catalogue (`datasets/fetch-music.sh`): one row per tune with its
//! weak caption and the attributes left out of the captions (rhythm, mode, instrument
//! family), and the rendered recordings listed beside it.
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One tune: what `tunes.csv` holds, and after rendering (`audio/music.csv`) its recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tune {
    /// A stable name (`oneills-0001`).
    pub id: String,
    /// The MIDI file, relative to the data folder.
    pub midi: String,
    /// The title as transcribed.
    pub title: String,
    /// The ABC meter (`6/8`, `C|`, ...).
    pub meter: String,
    /// The key's tonic (`G`, `Bb`), without its mode.
    pub tonic: String,
    /// Left out of the caption: major, minor, dorian, mixolydian, ...
    pub mode: String,
    /// Left out of the caption: reel, hornpipe, jig, slip jig, or empty when the book gives
    /// none of these.
    pub rhythm: String,
    /// Left out of the caption: the instrument family of the rendering.
    pub family: String,
    /// The General MIDI program it was rendered with.
    pub program: u8,
    /// The weak caption made from the headers (title, meter, tonic, notes, collection).
    pub caption: String,
    /// The recording, relative to the data folder (empty before rendering).
    #[serde(default)]
    pub audio: String,
}

/// Reads a catalogue CSV (`tunes.csv` or `audio/music.csv`); a missing column, a malformed
/// row, a duplicate id or an empty catalogue is an error naming the file (and the row).
pub fn read_tunes(path: &Path) -> Result<Vec<Tune>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("cannot read the tune catalogue {}", path.display()))?;
    let mut tunes: Vec<Tune> = Vec::new();
    for (i, row) in reader.deserialize().enumerate() {
        let tune: Tune = row.with_context(|| {
            format!("{}: row {} is not a tune (id, midi, title, meter, tonic, mode, rhythm, family, program, caption)", path.display(), i + 1)
        })?;
        if tune.id.is_empty() || tune.caption.trim().is_empty() {
            bail!("{}: row {} has an empty id or caption", path.display(), i + 1);
        }
        tunes.push(tune);
    }
    if tunes.is_empty() {
        bail!("{}: the catalogue lists no tunes", path.display());
    }
    let mut ids: Vec<&str> = tunes.iter().map(|t| t.id.as_str()).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        bail!("{}: the id {} appears twice", path.display(), w[0]);
    }
    Ok(tunes)
}

/// Writes a catalogue CSV whole or not at all.
pub fn write_tunes(path: &Path, tunes: &[Tune]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for t in tunes {
        w.serialize(t)?;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    ssl_core::config::write_atomically(path, &bytes)
}
