//! Reading audio files into mono [`Waveform`]s.
//!
//! PCM WAV (integer or float) goes through `hound`; everything else (companded mu-law /
//! A-law and ADPCM WAV, FLAC, OGG Vorbis, MP3) through `symphonia`. A file that cannot
//! be read completely is an error naming it: truncation is never a shorter waveform.
use crate::waveform::Waveform;
use anyhow::{anyhow, bail, Context, Result};
use std::fs::File;
use std::path::Path;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

/// File extensions [`read_audio`] understands (lower case).
pub const AUDIO_EXTENSIONS: &[&str] = &["wav", "flac", "ogg", "oga", "mp3"];

/// Reads `path` (any format of [`AUDIO_EXTENSIONS`]) and mixes it down to mono.
pub fn read_audio(path: &Path) -> Result<Waveform> {
    let len = std::fs::metadata(path).with_context(|| format!("{}: cannot open the audio file", path.display()))?.len();
    if len == 0 {
        bail!("{}: the file is empty (0 bytes)", path.display());
    }
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let (interleaved, channels, rate) = match ext.as_deref() {
        Some("wav") => match read_pcm_wav(path)? {
            Some(decoded) => decoded,
            // Not PCM (mu-law, A-law, ADPCM, ...): symphonia decodes those.
            None => read_with_symphonia(path, ext.as_deref())?,
        },
        Some(e) if AUDIO_EXTENSIONS.contains(&e) => read_with_symphonia(path, ext.as_deref())?,
        _ => bail!("{}: not an audio file this crate reads (extensions: {})", path.display(), AUDIO_EXTENSIONS.join(", ")),
    };
    if channels == 0 {
        bail!("{}: the stream has no channels", path.display());
    }
    if interleaved.is_empty() {
        bail!("{}: the file holds no samples (zero-length recording)", path.display());
    }
    Waveform::new(Waveform::mix_down(&interleaved, channels), rate, path)
}

/// Integer or float PCM WAV through hound; `None` when the WAV holds another encoding.
fn read_pcm_wav(path: &Path) -> Result<Option<(Vec<f32>, usize, u32)>> {
    let reader = match hound::WavReader::open(path) {
        Ok(r) => r,
        Err(hound::Error::Unsupported) => return Ok(None),
        Err(e) => return Err(anyhow!("{}: not a readable WAV file: {e}", path.display())),
    };
    let spec = reader.spec();
    let declared = reader.len() as usize;
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect::<Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader.into_samples::<i32>().map(|s| s.map(|v| v as f32 * scale)).collect::<Result<_, _>>()
        }
    }
    .map_err(|e| anyhow!("{}: the WAV data is truncated or corrupt ({e}); it declares {declared} samples", path.display()))?;
    if samples.len() != declared {
        bail!("{}: the WAV data is truncated: {} of the {declared} declared samples are there", path.display(), samples.len());
    }
    Ok(Some((samples, spec.channels as usize, spec.sample_rate)))
}

/// Any format symphonia knows, decoded completely (a decode error anywhere is an error).
fn read_with_symphonia(path: &Path, ext: Option<&str>) -> Result<(Vec<f32>, usize, u32)> {
    let file = File::open(path).with_context(|| format!("{}: cannot open the audio file", path.display()))?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = ext {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe()
        .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
        .map_err(|e| anyhow!("{}: not a readable audio file: {e}", path.display()))?;
    let track = format.default_track(TrackType::Audio).ok_or_else(|| anyhow!("{}: the file has no audio track", path.display()))?;
    let params =
        track.codec_params.as_ref().and_then(|p| p.audio()).ok_or_else(|| anyhow!("{}: the audio track has no codec parameters", path.display()))?.clone();
    let (track_id, declared_frames) = (track.id, track.num_frames);
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| anyhow!("{}: unsupported codec: {e}", path.display()))?;
    let (mut samples, mut buf) = (Vec::<f32>::new(), Vec::<f32>::new());
    let (mut channels, mut rate) = (params.channels.as_ref().map(|c| c.count()).unwrap_or(0), params.sample_rate.unwrap_or(0));
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            // Some readers report the end of the stream as an unexpected EOF; a short
            // stream is caught below by the declared frame count.
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => bail!("{}: the audio stream is corrupt: {e}", path.display()),
        };
        if packet.track_id != track_id {
            continue;
        }
        let decoded = decoder.decode(&packet).map_err(|e| anyhow!("{}: cannot decode the audio ({e})", path.display()))?;
        channels = decoded.spec().channels().count();
        rate = decoded.spec().rate();
        buf.resize(decoded.samples_interleaved(), 0.0);
        decoded.copy_to_slice_interleaved(&mut buf);
        samples.extend_from_slice(&buf);
    }
    if let Some(declared) = declared_frames.filter(|_| channels > 0) {
        let got = (samples.len() / channels) as u64;
        if got < declared {
            bail!("{}: the audio is truncated: {got} of the {declared} declared frames decode", path.display());
        }
        samples.truncate(declared as usize * channels);
    }
    if rate == 0 {
        bail!("{}: the file does not say its sample rate", path.display());
    }
    Ok((samples, channels, rate))
}
