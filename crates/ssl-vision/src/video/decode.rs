//! Video files (MP4, AVI, MKV, MOV, WebM, MPEG: H.264, MPEG-4 / XviD, VP9, ... whatever the
//! system's FFmpeg decodes) read through `ffmpeg-next`, behind the `video` feature. Opening
//! counts the video stream's packets (no decoding); a clip decodes from the start of the
//! file up to its last frame and keeps the frames it asks for.
use crate::augment::Image;
use anyhow::{bail, Context, Result};
use ffmpeg_next as ffmpeg;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Once;

fn init() -> Result<()> {
    static START: Once = Once::new();
    let mut result = Ok(());
    START.call_once(|| {
        result = ffmpeg::init();
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
    });
    result.context("FFmpeg failed to start")
}

/// What opening a video file finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoFileInfo {
    /// Frames (packets of the video stream).
    pub frames: usize,
    /// `(height, width)`.
    pub size: (usize, usize),
}

/// Opens `path` and counts its video frames.
pub fn probe(path: &Path) -> Result<VideoFileInfo> {
    init()?;
    let mut input = ffmpeg::format::input(path).with_context(|| format!("{}: not a video FFmpeg can open", path.display()))?;
    let stream = input.streams().best(ffmpeg::media::Type::Video).with_context(|| format!("{}: no video stream", path.display()))?;
    let index = stream.index();
    let decoder = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().video())
        .with_context(|| format!("{}: no decoder for its video stream", path.display()))?;
    let size = (decoder.height() as usize, decoder.width() as usize);
    if size.0 == 0 || size.1 == 0 {
        bail!("{}: the video stream has no frame size", path.display());
    }
    // Empty packets (dropped frames in some AVI files) hold no frame.
    let frames = input.packets().filter(|(s, p)| s.index() == index && p.size() > 0).count();
    if frames == 0 {
        bail!("{}: the video stream holds no frames", path.display());
    }
    Ok(VideoFileInfo { frames, size })
}

/// Frames `indices` (any order, repeats allowed) of the video at `path`, as images of
/// `channels` (1: grey, 3: RGB) with values in [0, 1]. Seeks to the last key frame at or
/// before the first frame asked for when every packet has a timestamp; otherwise, or when
/// that does not give every frame, decodes from the start.
pub fn decode_frames(path: &Path, indices: &[usize], channels: usize) -> Result<Vec<Image>> {
    init()?;
    let wanted: BTreeSet<usize> = indices.iter().copied().collect();
    let (Some(&first), Some(&last)) = (wanted.first(), wanted.last()) else { return Ok(Vec::new()) };
    let mut found = BTreeMap::new();
    if first > 0 {
        if let Some((pts, keys)) = timestamps(path)? {
            if let (Some(&target), true) = (pts.get(first), pts.len() > last) {
                let key = keys.iter().rev().find(|&&k| k <= target).copied().unwrap_or(pts[0]);
                let mut video = Opened::new(path, channels)?;
                if video.seek(key).is_ok() {
                    found = video.decode(path, &wanted, |frame, _| frame.timestamp().and_then(|t| pts.binary_search(&t).ok()))?;
                }
            }
        }
    }
    if found.len() < wanted.len() {
        return decode_frames_from_start(path, indices, channels);
    }
    Ok(indices.iter().map(|i| found[i].clone()).collect())
}

/// [`decode_frames`] without seeking: every frame decoded from the start of the file (the
/// reference the seeking path is checked against).
pub fn decode_frames_from_start(path: &Path, indices: &[usize], channels: usize) -> Result<Vec<Image>> {
    init()?;
    let wanted: BTreeSet<usize> = indices.iter().copied().collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let found = Opened::new(path, channels)?.decode(path, &wanted, |_, n| Some(n))?;
    indices
        .iter()
        .map(|i| found.get(i).cloned().with_context(|| format!("{}: frame {i} could not be decoded (the file holds fewer decodable frames)", path.display())))
        .collect()
}

/// The display-order timestamps of the video stream's frames and of its key frames (one
/// demuxing pass, no decoding); `None` when a packet has no timestamp or two share one.
fn timestamps(path: &Path) -> Result<Option<(Vec<i64>, Vec<i64>)>> {
    let mut input = ffmpeg::format::input(path).with_context(|| format!("{}: not a video FFmpeg can open", path.display()))?;
    let index = input.streams().best(ffmpeg::media::Type::Video).with_context(|| format!("{}: no video stream", path.display()))?.index();
    let (mut pts, mut keys) = (Vec::new(), Vec::new());
    for (s, packet) in input.packets() {
        if s.index() != index || packet.size() == 0 {
            continue;
        }
        let Some(t) = packet.pts() else { return Ok(None) };
        pts.push(t);
        if packet.is_key() {
            keys.push(t);
        }
    }
    pts.sort_unstable();
    keys.sort_unstable();
    let unique = pts.windows(2).all(|w| w[0] < w[1]);
    Ok((unique && !keys.is_empty()).then_some((pts, keys)))
}

/// An opened video stream with its decoder and colour conversion.
struct Opened {
    input: ffmpeg::format::context::Input,
    stream: usize,
    time_base: ffmpeg::Rational,
    decoder: ffmpeg::decoder::Video,
    scaler: ffmpeg::software::scaling::Context,
    channels: usize,
    size: (usize, usize),
}

impl Opened {
    fn new(path: &Path, channels: usize) -> Result<Self> {
        let input = ffmpeg::format::input(path).with_context(|| format!("{}: not a video FFmpeg can open", path.display()))?;
        let stream = input.streams().best(ffmpeg::media::Type::Video).with_context(|| format!("{}: no video stream", path.display()))?;
        let (index, time_base) = (stream.index(), stream.time_base());
        let decoder = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
            .and_then(|c| c.decoder().video())
            .with_context(|| format!("{}: no decoder for its video stream", path.display()))?;
        let format = if channels == 1 { ffmpeg::format::Pixel::GRAY8 } else { ffmpeg::format::Pixel::RGB24 };
        let (w, h) = (decoder.width(), decoder.height());
        let scaler = ffmpeg::software::scaling::Context::get(decoder.format(), w, h, format, w, h, ffmpeg::software::scaling::Flags::BILINEAR)
            .with_context(|| format!("{}: cannot convert its {:?} frames", path.display(), decoder.format()))?;
        Ok(Self { input, stream: index, time_base, decoder, scaler, channels, size: (h as usize, w as usize) })
    }

    /// Seeks to the key frame at stream timestamp `ts` (or the last one before it).
    fn seek(&mut self, ts: i64) -> Result<()> {
        let (num, den) = (self.time_base.numerator() as i128, self.time_base.denominator().max(1) as i128);
        // Seeking without a stream counts in AV_TIME_BASE (microseconds); rounding down stays
        // at or before the key frame.
        let us = (ts as i128 * num * 1_000_000).div_euclid(den) as i64;
        // `..us` is ffmpeg-next's maximum timestamp `us`, inclusive (avformat_seek_file's max_ts).
        self.input.seek(us, ..us).context("seek failed")?;
        Ok(())
    }

    /// Decodes until every frame of `wanted` is found or the stream ends; `position` gives a
    /// decoded frame's index (from the frame and the number decoded before it), `None` to
    /// skip it.
    fn decode(
        &mut self,
        path: &Path,
        wanted: &BTreeSet<usize>,
        position: impl Fn(&ffmpeg::util::frame::Video, usize) -> Option<usize>,
    ) -> Result<BTreeMap<usize, Image>> {
        let last = wanted.last().copied().unwrap_or(0);
        let mut found = BTreeMap::new();
        let (mut decoded, mut converted) = (ffmpeg::util::frame::Video::empty(), ffmpeg::util::frame::Video::empty());
        let mut count = 0usize;
        let mut drain = |this: &mut Self, found: &mut BTreeMap<usize, Image>| -> Result<bool> {
            while this.decoder.receive_frame(&mut decoded).is_ok() {
                let at = position(&decoded, count);
                count += 1;
                let Some(k) = at else { continue };
                if wanted.contains(&k) && !found.contains_key(&k) {
                    this.scaler.run(&decoded, &mut converted).with_context(|| format!("{}: frame {k} cannot be converted", path.display()))?;
                    found.insert(k, to_image(&converted, this.channels, this.size).with_context(|| format!("{}: frame {k}", path.display()))?);
                }
                if found.len() == wanted.len() || k > last {
                    return Ok(true);
                }
            }
            Ok(false)
        };
        let stream = self.stream;
        loop {
            let Some((s, packet)) = self.input.packets().next() else { break };
            if s.index() != stream {
                continue;
            }
            self.decoder.send_packet(&packet).with_context(|| format!("{}: a corrupt packet", path.display()))?;
            if drain(self, &mut found)? {
                return Ok(found);
            }
        }
        self.decoder.send_eof().ok();
        drain(self, &mut found)?;
        Ok(found)
    }
}

/// A converted frame (rows may be padded) as an image in [0, 1].
fn to_image(frame: &ffmpeg::util::frame::Video, channels: usize, (h, w): (usize, usize)) -> Result<Image> {
    let stride = frame.stride(0);
    let data = frame.data(0);
    let mut pixels = Vec::with_capacity(h * w * channels);
    for y in 0..h {
        let row = data.get(y * stride..y * stride + w * channels).context("the converted frame is shorter than its size")?;
        pixels.extend_from_slice(row);
    }
    let img = if channels == 1 {
        image::GrayImage::from_raw(w as u32, h as u32, pixels).map(image::DynamicImage::ImageLuma8)
    } else {
        image::RgbImage::from_raw(w as u32, h as u32, pixels).map(image::DynamicImage::ImageRgb8)
    };
    Ok(crate::data::to_image(&img.context("the converted frame does not fill its size")?, channels))
}
