//! Tunes as MuLaP sees them: log-mel frames of each recording (computed once, kept as
//! half floats) with its caption's word pieces, and seeded batches of clip windows.
use super::MulapConfig;
use crate::features::{Fbank, FbankOptions};
use crate::io::read_audio;
use crate::music::{read_tunes, CaptionVocabulary, Tune};
use crate::waveform::KALDI_SAMPLE_SCALE;
use anyhow::{bail, Context, Result};
use rand::Rng;
use rayon::prelude::*;
use ssl_core::data::BatchSource;
use ssl_core::Batch;
use std::path::Path;
use std::rc::Rc;
use tch::{Device, Kind, Tensor};

/// Sample rate of the features (Musicnn's 16 kHz).
pub const RATE: u32 = 16_000;

/// The log-mel analysis: 32 ms windows every 16 ms (Musicnn's 512 / 256 samples at 16 kHz).
pub fn fbank(bins: i64) -> Result<Fbank> {
    let mut o = FbankOptions::new(f64::from(RATE), bins);
    o.frame.frame_length_ms = 32.0;
    o.frame.frame_shift_ms = 16.0;
    o.frame.dither = 0.0;
    Fbank::new(o)
}

/// Tunes with their features and captions.
pub struct MusicClips {
    /// The catalogue rows, in order.
    pub tunes: Vec<Tune>,
    /// Log-mel frames `[T_i, bins]` of each tune, standardised per recording (one mean and
    /// one deviation over all its values, so the spectral shape stays), as `Half`.
    pub frames: Vec<Tensor>,
    /// Word pieces `[N, max_tokens]` of the captions.
    pub tokens: Tensor,
}

impl MusicClips {
    /// Reads `catalogue` (`audio/music.csv` of `render-music`): every recording (16 kHz,
    /// at least one clip long) and its caption through `vocabulary`.
    pub fn read(catalogue: &Path, vocabulary: &CaptionVocabulary, cfg: &MulapConfig) -> Result<Self> {
        let tunes = read_tunes(catalogue)?;
        let root = catalogue.parent().unwrap_or(Path::new("."));
        fbank(cfg.bins)?;
        let need = cfg.chunks * cfg.chunk_frames;
        let frames: Vec<Tensor> = tunes
            .par_iter()
            // An analysis per worker thread: its window and mel matrix are tensors.
            .map_init(
                || fbank(cfg.bins),
                |fbank, t| -> Result<Tensor> {
                    let fbank = fbank.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
                    if t.audio.is_empty() {
                        bail!("{}: tune {} has no recording (run render-music)", catalogue.display(), t.id);
                    }
                    let path = root.join(&t.audio);
                    let wave = read_audio(&path)?;
                    if wave.sample_rate != RATE {
                        bail!("{}: the recording is at {} Hz, MuLaP takes {RATE} Hz", path.display(), wave.sample_rate);
                    }
                    let feats = tch::no_grad(|| fbank.compute(&wave.to_tensor(KALDI_SAMPLE_SCALE, Device::Cpu)))?;
                    if feats.size()[0] < need {
                        bail!(
                            "{}: {:.2} s gives {} frames, fewer than one clip ({} chunks of {} frames)",
                            path.display(),
                            wave.seconds(),
                            feats.size()[0],
                            cfg.chunks,
                            cfg.chunk_frames
                        );
                    }
                    let std = f64::try_from(feats.std(true))?;
                    if !(std.is_finite() && std > 1e-6) {
                        bail!("{}: the features do not vary (a silent or constant recording)", path.display());
                    }
                    Ok(((&feats - feats.mean(Kind::Float)) / std).to_kind(Kind::Half))
                },
            )
            .collect::<Result<_>>()?;
        let ids: Vec<Vec<i64>> = tunes.iter().map(|t| vocabulary.encode(&t.caption, cfg.max_tokens as usize)).collect::<Result<_>>()?;
        let tokens = Tensor::from_slice(&ids.concat()).view([tunes.len() as i64, cfg.max_tokens]);
        Ok(Self { tunes, frames, tokens })
    }

    /// Tunes held.
    pub fn len(&self) -> usize {
        self.tunes.len()
    }

    /// Whether no tune is held.
    pub fn is_empty(&self) -> bool {
        self.tunes.is_empty()
    }

    /// The clip `[C, chunk_frames, bins]` of tune `i` starting at frame `start`.
    pub fn clip(&self, i: usize, start: i64, cfg: &MulapConfig) -> Tensor {
        self.frames[i].narrow(0, start, cfg.chunks * cfg.chunk_frames).to_kind(Kind::Float).view([cfg.chunks, cfg.chunk_frames, cfg.bins])
    }

    /// The first clip of each of `ids` `[N, C, frames, bins]` (what evaluation embeds).
    pub fn first_clips(&self, ids: &[usize], cfg: &MulapConfig) -> Tensor {
        Tensor::stack(&ids.iter().map(|&i| self.clip(i, 0, cfg)).collect::<Vec<_>>(), 0)
    }

    /// Frames a window can start at in tune `i`.
    fn starts(&self, i: usize, cfg: &MulapConfig) -> i64 {
        self.frames[i].size()[0] - cfg.chunks * cfg.chunk_frames + 1
    }
}

/// Seeded batches of `batch` tunes among `ids`: one window at a random start per tune (two
/// for the contrastive term), with its caption as part `tokens`. The batch at an index
/// depends only on the seed and the index, so a resumed run sees the same batches.
pub struct ClipLoader {
    clips: Rc<MusicClips>,
    ids: Vec<usize>,
    cfg: MulapConfig,
    batch: usize,
    seed: u64,
    index: u64,
}

impl ClipLoader {
    /// A loader over the tunes `ids` of `clips`.
    pub fn new(clips: Rc<MusicClips>, ids: Vec<usize>, cfg: &MulapConfig, batch: usize, seed: u64) -> Result<Self> {
        if batch < 2 || ids.len() < batch {
            bail!("MuLaP batches of {batch} need at least 2 and at most the {} training tunes", ids.len());
        }
        Ok(Self { clips, ids, cfg: cfg.clone(), batch, seed, index: 0 })
    }
}

impl BatchSource for ClipLoader {
    fn start(&mut self, index: u64) -> Result<()> {
        self.index = index;
        Ok(())
    }

    fn next_batch(&mut self) -> Result<Batch> {
        let mut rng = ssl_core::seed::rng(&[self.seed, 0x6d75_6c61, self.index]);
        self.index += 1;
        let chosen: Vec<usize> = rand::seq::index::sample(&mut rng, self.ids.len(), self.batch).into_iter().map(|k| self.ids[k]).collect();
        let views = if self.cfg.contrastive_weight > 0.0 { 2 } else { 1 };
        let mut out: Vec<Vec<Tensor>> = (0..views).map(|_| Vec::new()).collect();
        for &i in &chosen {
            for v in out.iter_mut() {
                let start = rng.random_range(0..self.clips.starts(i, &self.cfg));
                v.push(self.clips.clip(i, start, &self.cfg));
            }
        }
        let views: Vec<Tensor> = out.iter().map(|v| Tensor::stack(v, 0)).collect();
        let idx = Tensor::from_slice(&chosen.iter().map(|&i| i as i64).collect::<Vec<_>>());
        Batch::from_views(views)?.with("tokens", self.clips.tokens.index_select(0, &idx))
    }
}

/// Reads the catalogue and vocabulary beside it (`music.csv`, `tokenizer.json`).
pub fn read_music(catalogue: &Path, cfg: &MulapConfig) -> Result<(MusicClips, CaptionVocabulary)> {
    let vocab_path = catalogue.with_file_name("tokenizer.json");
    let vocabulary = CaptionVocabulary::load(&vocab_path).with_context(|| format!("the vocabulary beside {}", catalogue.display()))?;
    Ok((MusicClips::read(catalogue, &vocabulary, cfg)?, vocabulary))
}
