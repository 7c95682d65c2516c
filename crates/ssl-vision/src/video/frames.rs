//! Videos stored as folders of frames (one PNG, JPEG or PGM file per frame, in the order
//! of their names, numbers compared as numbers): the layout extracted frames usually have,
//! and the one `datasets/fetch-video.sh` writes; and, with the `video` feature, video files
//! (MP4, AVI, MKV, ...) in the same places as frame folders. Only headers are read when a
//! folder is opened; frames are decoded when a clip needs them.
use crate::augment::Image;
use crate::data::streamed_folder::header;
use crate::data::{decode_file, to_image};
use anyhow::{bail, Context, Result};
use std::cmp::Ordering;
use std::path::{Path, PathBuf};

/// Extensions of frame files.
pub const FRAME_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "pgm", "ppm"];

/// Extensions of video files (read with the `video` feature).
pub const VIDEO_EXTENSIONS: [&str; 9] = ["mp4", "m4v", "avi", "mkv", "mov", "webm", "mpg", "mpeg", "ogv"];

/// One video: its frame files, in order, all of one size.
#[derive(Debug, Clone)]
pub struct FrameVideo {
    /// The frame folder, or the video file.
    pub dir: PathBuf,
    /// Frame files in playing order (empty for a video file).
    pub frames: Vec<PathBuf>,
    /// The video file, when the video is one.
    pub file: Option<PathBuf>,
    /// Number of frames.
    pub length: usize,
    /// `(height, width)` of every frame.
    pub size: (usize, usize),
    /// Class index (the class folder it lies in), if the layout has classes.
    pub label: Option<i64>,
}

/// A collection of videos as frame folders: `root/<video>/<frames>` (no labels) or
/// `root/<class>/<video>/<frames>` (labels from the class folders, in sorted name order).
#[derive(Debug)]
pub struct VideoFolder {
    /// The folder opened.
    pub root: PathBuf,
    /// The videos, sorted by path.
    pub videos: Vec<FrameVideo>,
    /// Class names by label; empty without classes.
    pub class_names: Vec<String>,
    /// 1 when every frame is grey-scale, else 3.
    pub channels: usize,
    /// Videos left out (with `skip_bad`), each with the reason.
    pub skipped: Vec<String>,
}

/// Compares file names with runs of digits taken as numbers (`frame2` before `frame10`).
pub fn natural_order(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (x.peek().copied(), y.peek().copied()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                let run = |it: &mut std::iter::Peekable<std::str::Chars>| {
                    let mut s = String::new();
                    while let Some(c) = it.peek().copied().filter(char::is_ascii_digit) {
                        s.push(c);
                        it.next();
                    }
                    s
                };
                let (m, n) = (run(&mut x), run(&mut y));
                let (mt, nt) = (m.trim_start_matches('0'), n.trim_start_matches('0'));
                let order = mt.len().cmp(&nt.len()).then_with(|| mt.cmp(nt)).then_with(|| m.len().cmp(&n.len()));
                if order != Ordering::Equal {
                    return order;
                }
            }
            (Some(p), Some(q)) => {
                if p != q {
                    return p.cmp(&q);
                }
                x.next();
                y.next();
            }
        }
    }
}

/// The visible entries of `dir`, sorted in natural order.
fn entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list the folder", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    out.sort_by(|a, b| natural_order(&a.to_string_lossy(), &b.to_string_lossy()));
    Ok(out)
}

fn is_frame(p: &Path) -> bool {
    p.is_file() && p.extension().is_some_and(|e| FRAME_EXTENSIONS.contains(&e.to_string_lossy().to_ascii_lowercase().as_str()))
}

fn is_video_file(p: &Path) -> bool {
    p.is_file() && p.extension().is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_string_lossy().to_ascii_lowercase().as_str()))
}

/// Opens a video file: its frame count and size (RGB).
#[cfg(feature = "video")]
fn open_file(path: &Path, label: Option<i64>) -> Result<(FrameVideo, bool)> {
    let info = super::decode::probe(path)?;
    Ok((FrameVideo { dir: path.to_path_buf(), frames: Vec::new(), file: Some(path.to_path_buf()), length: info.frames, size: info.size, label }, false))
}

#[cfg(not(feature = "video"))]
fn open_file(path: &Path, _label: Option<i64>) -> Result<(FrameVideo, bool)> {
    bail!("{}: a video file; this build reads frame folders only (build with `--features video` to decode video files with FFmpeg)", path.display())
}

/// Reads a video folder's frame list and every frame's header: all frames must be readable
/// and of one size.
fn open_video(dir: &Path, label: Option<i64>) -> Result<(FrameVideo, bool)> {
    let frames: Vec<PathBuf> = entries(dir)?.into_iter().filter(|p| is_frame(p)).collect();
    if frames.is_empty() {
        bail!("{}: no frames (PNG, JPEG or PGM files) in the video folder", dir.display());
    }
    let ((w, h), mut grey) = {
        let (size, channels) = header(&frames[0])?;
        (size, channels < 3)
    };
    for f in &frames[1..] {
        let ((fw, fh), channels) = header(f)?;
        if (fw, fh) != (w, h) {
            bail!("{}: the frame is {fw}x{fh}, the video's first frame {}x{h} (frames of one video must share a size)", f.display(), w);
        }
        grey &= channels < 3;
    }
    let length = frames.len();
    Ok((FrameVideo { dir: dir.to_path_buf(), frames, file: None, length, size: (h as usize, w as usize), label }, grey))
}

impl VideoFolder {
    /// Opens `root`: each sub-folder holding frames is a video; sub-folders holding only
    /// folders are classes of videos. A video that cannot be read (no frames, an unreadable
    /// frame header, frames of mixed sizes) is an error naming the file, or with `skip_bad`
    /// is left out and listed in [`VideoFolder::skipped`].
    pub fn open(root: &Path, skip_bad: bool) -> Result<Self> {
        if !root.is_dir() {
            bail!("{}: no such folder", root.display());
        }
        let items = entries(root)?;
        let subdirs: Vec<PathBuf> = items.iter().filter(|p| p.is_dir()).cloned().collect();
        let files: Vec<PathBuf> = items.into_iter().filter(|p| is_video_file(p)).collect();
        if subdirs.is_empty() && files.is_empty() {
            bail!("{}: no videos (expected <video>/<frames>, <class>/<video>/<frames>, or video files in place of the frame folders)", root.display());
        }
        let holds_frames = |d: &Path| entries(d).map(|e| e.iter().any(|p| is_frame(p))).unwrap_or(false);
        // Class folders hold videos (frame folders or files), never frames themselves.
        let classes = files.is_empty() && !subdirs.iter().any(|d| holds_frames(d));
        let mut dirs: Vec<(PathBuf, Option<i64>)> = Vec::new();
        let mut class_names = Vec::new();
        if classes {
            for (c, class) in subdirs.iter().enumerate() {
                class_names.push(class.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
                dirs.extend(entries(class)?.into_iter().filter(|p| p.is_dir() || is_video_file(p)).map(|d| (d, Some(c as i64))));
            }
        } else {
            dirs = subdirs.into_iter().chain(files).map(|d| (d, None)).collect();
            dirs.sort_by(|a, b| natural_order(&a.0.to_string_lossy(), &b.0.to_string_lossy()));
        }
        let (mut videos, mut skipped, mut grey) = (Vec::new(), Vec::new(), true);
        for (dir, label) in dirs {
            let opened = if dir.is_dir() { open_video(&dir, label) } else { open_file(&dir, label) };
            match opened {
                Ok((v, g)) => {
                    grey &= g;
                    videos.push(v);
                }
                Err(e) if skip_bad => skipped.push(format!("{e:#}")),
                Err(e) => return Err(e.context("--skip-bad leaves such videos out and reports them")),
            }
        }
        if videos.is_empty() {
            bail!("{}: none of its video folders could be read{}", root.display(), skipped.first().map(|s| format!(" (first: {s})")).unwrap_or_default());
        }
        Ok(Self { root: root.to_path_buf(), videos, class_names, channels: if grey { 1 } else { 3 }, skipped })
    }

    /// Number of videos.
    pub fn len(&self) -> usize {
        self.videos.len()
    }

    /// Whether there are no videos (never, once opened).
    pub fn is_empty(&self) -> bool {
        self.videos.is_empty()
    }

    /// Frame `f` of video `v`, as floats in `[0, 1]` with the folder's channel count.
    pub fn frame(&self, v: usize, f: usize) -> Result<Image> {
        Ok(self.frames_of(v, &[f])?.remove(0))
    }

    /// Frames `indices` of video `v` (a video file is decoded once for all of them).
    pub fn frames_of(&self, v: usize, indices: &[usize]) -> Result<Vec<Image>> {
        let video = &self.videos[v];
        if let Some(f) = indices.iter().find(|&&f| f >= video.length) {
            bail!("{}: no frame {f} (it has {})", video.dir.display(), video.length);
        }
        match &video.file {
            Some(file) => self.decode_file_frames(file, indices),
            None => indices.iter().map(|&f| self.folder_frame(v, f)).collect(),
        }
    }

    #[cfg(feature = "video")]
    fn decode_file_frames(&self, file: &Path, indices: &[usize]) -> Result<Vec<Image>> {
        super::decode::decode_frames(file, indices, self.channels)
    }

    #[cfg(not(feature = "video"))]
    fn decode_file_frames(&self, file: &Path, _indices: &[usize]) -> Result<Vec<Image>> {
        bail!("{}: a video file; build with `--features video` to decode it", file.display())
    }

    fn folder_frame(&self, v: usize, f: usize) -> Result<Image> {
        let video = &self.videos[v];
        let path = video.frames.get(f).with_context(|| format!("{}: no frame {f} (it has {})", video.dir.display(), video.frames.len()))?;
        let img = decode_file(path)?;
        let (h, w) = (img.height() as usize, img.width() as usize);
        if (h, w) != video.size {
            bail!("{}: decodes to {w}x{h}, its header said {}x{} (the file changed?)", path.display(), video.size.1, video.size.0);
        }
        Ok(to_image(&img, self.channels))
    }

    /// Keeps only the videos with at least `frames` frames; the others are an error naming
    /// the first, or with `skip_bad` are left out and listed in [`VideoFolder::skipped`].
    pub fn require_frames(&mut self, frames: usize, skip_bad: bool) -> Result<()> {
        let short: Vec<usize> = (0..self.len()).filter(|&v| self.videos[v].length < frames).collect();
        if let Some(&first) = short.first() {
            let v = &self.videos[first];
            let why = format!("{}: {} frames, a clip needs {frames}", v.dir.display(), v.length);
            if !skip_bad {
                bail!("{why} ({} such videos; --skip-bad leaves them out)", short.len());
            }
            for &s in short.iter().rev() {
                let v = self.videos.remove(s);
                self.skipped.push(format!("{}: {} frames, a clip needs {frames}", v.dir.display(), v.length));
            }
            if self.videos.is_empty() {
                bail!("{}: no video has the {frames} frames a clip needs", self.root.display());
            }
        }
        Ok(())
    }

    /// A seeded share of the videos: `fraction` of each class (at least one), or of all
    /// videos without classes, in the folder's order; for pre-training on less data.
    pub fn subset(&self, fraction: f64, seed: u64) -> Result<VideoFolder> {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        if !(fraction > 0.0 && fraction <= 1.0) {
            bail!("a share of the videos must lie in (0, 1], got {fraction}");
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut keep = Vec::new();
        let mut groups: std::collections::BTreeMap<i64, Vec<usize>> = std::collections::BTreeMap::new();
        for (i, v) in self.videos.iter().enumerate() {
            groups.entry(v.label.unwrap_or(-1)).or_default().push(i);
        }
        for (_, mut members) in groups {
            members.shuffle(&mut rng);
            let n = ((members.len() as f64 * fraction).round() as usize).max(1);
            keep.extend_from_slice(&members[..n]);
        }
        keep.sort_unstable();
        Ok(VideoFolder {
            root: self.root.clone(),
            videos: keep.iter().map(|&i| self.videos[i].clone()).collect(),
            class_names: self.class_names.clone(),
            channels: self.channels,
            skipped: self.skipped.clone(),
        })
    }

    /// A digest of the videos (paths below the root, frame counts, sizes and byte lengths
    /// of the frames): a resumed run may read the same videos from elsewhere, not others.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"video-folder");
        h.update((self.channels as u64).to_le_bytes());
        for v in &self.videos {
            let rel = v.dir.strip_prefix(&self.root).unwrap_or(&v.dir);
            h.update(rel.to_string_lossy().as_bytes());
            h.update([0]);
            h.update((v.size.0 as u64).to_le_bytes());
            h.update((v.size.1 as u64).to_le_bytes());
            h.update(v.label.unwrap_or(-1).to_le_bytes());
            if v.file.is_some() {
                h.update((v.length as u64).to_le_bytes());
            }
            for f in v.frames.iter().chain(&v.file) {
                h.update(std::fs::metadata(f).map(|m| m.len()).unwrap_or(u64::MAX).to_le_bytes());
            }
        }
        ssl_core::train::hex(&h.finalize())
    }
}
