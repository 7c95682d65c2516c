//! Video files (MP4, AVI, MKV, MOV, WebM, MPEG: H.264, MPEG-4 / XviD, VP9, ... whatever the
//! system's FFmpeg decodes) read through `ffmpeg-next`, behind the `video` feature. Opening
//! counts the video stream's packets (no decoding); a clip decodes from the start of the
//! file up to its last frame and keeps the frames it asks for.
use crate::augment::Image;
use anyhow::{bail, Context, Result};
use ffmpeg_next as ffmpeg;
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
/// `channels` (1: grey, 3: RGB) with values in [0, 1].
pub fn decode_frames(path: &Path, indices: &[usize], channels: usize) -> Result<Vec<Image>> {
    init()?;
    let Some(&last) = indices.iter().max() else { return Ok(Vec::new()) };
    let mut input = ffmpeg::format::input(path).with_context(|| format!("{}: not a video FFmpeg can open", path.display()))?;
    let stream = input.streams().best(ffmpeg::media::Type::Video).with_context(|| format!("{}: no video stream", path.display()))?;
    let index = stream.index();
    let mut decoder = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().video())
        .with_context(|| format!("{}: no decoder for its video stream", path.display()))?;
    let format = if channels == 1 { ffmpeg::format::Pixel::GRAY8 } else { ffmpeg::format::Pixel::RGB24 };
    let (w, h) = (decoder.width(), decoder.height());
    let mut scaler = ffmpeg::software::scaling::Context::get(decoder.format(), w, h, format, w, h, ffmpeg::software::scaling::Flags::BILINEAR)
        .with_context(|| format!("{}: cannot convert its {:?} frames", path.display(), decoder.format()))?;
    let mut found: Vec<Option<Image>> = vec![None; last + 1];
    let mut next = 0usize;
    let mut decoded = ffmpeg::util::frame::Video::empty();
    let mut converted = ffmpeg::util::frame::Video::empty();
    let mut take = |decoder: &mut ffmpeg::decoder::Video, next: &mut usize| -> Result<bool> {
        while decoder.receive_frame(&mut decoded).is_ok() {
            if *next <= last && indices.contains(next) {
                scaler.run(&decoded, &mut converted).with_context(|| format!("{}: frame {next} cannot be converted", path.display()))?;
                found[*next] = Some(to_image(&converted, channels, (h as usize, w as usize)).with_context(|| format!("{}: frame {next}", path.display()))?);
            }
            *next += 1;
            if *next > last {
                return Ok(true);
            }
        }
        Ok(false)
    };
    let mut done = false;
    for (s, packet) in input.packets() {
        if s.index() != index {
            continue;
        }
        decoder.send_packet(&packet).with_context(|| format!("{}: corrupt packet before frame {next}", path.display()))?;
        if take(&mut decoder, &mut next)? {
            done = true;
            break;
        }
    }
    if !done {
        decoder.send_eof().ok();
        take(&mut decoder, &mut next)?;
    }
    indices
        .iter()
        .map(|&i| {
            found.get(i).cloned().flatten().with_context(|| format!("{}: frame {i} could not be decoded (the file ends after {next} frames)", path.display()))
        })
        .collect()
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
