//! MIDI to audio with a General MIDI soundfont (`rustysynth`, pure Rust): the tunes of the
//! music data set are transcriptions, and this is how they become recordings.
use crate::waveform::Waveform;
use anyhow::{bail, Context, Result};
use rustysynth::{MidiFile, MidiFileSequencer, SoundFont, Synthesizer, SynthesizerSettings};
use std::path::Path;
use std::sync::Arc;

/// A soundfont loaded once, rendering MIDI files at one sample rate.
pub struct MidiRenderer {
    font: Arc<SoundFont>,
    settings: SynthesizerSettings,
}

impl MidiRenderer {
    /// Loads the SF2 soundfont at `soundfont`; `rate` must be 16-192 kHz (the synthesiser's range).
    pub fn new(soundfont: &Path, rate: u32) -> Result<Self> {
        let mut file = std::fs::File::open(soundfont).with_context(|| format!("cannot open the soundfont {}", soundfont.display()))?;
        let font = SoundFont::new(&mut file).map_err(|e| anyhow::anyhow!("{}: not a usable SF2 soundfont: {e}", soundfont.display()))?;
        if !(16_000..=192_000).contains(&rate) {
            bail!("the synthesiser renders at 16000-192000 Hz, not {rate}");
        }
        let mut settings = SynthesizerSettings::new(rate as i32);
        // The room is part of the recording: keep the soundfont's reverb and chorus.
        settings.enable_reverb_and_chorus = true;
        Ok(Self { font: Arc::new(font), settings })
    }

    /// The sample rate of the renderings.
    pub fn sample_rate(&self) -> u32 {
        self.settings.sample_rate as u32
    }

    /// Renders the MIDI file at `midi` from its start for at most `max_seconds` (the whole
    /// piece plus a second of release when shorter), mixed to mono and peak-normalised to
    /// 0.9. An unreadable MIDI file, an empty piece or a silent rendering is an error naming
    /// the file.
    pub fn render(&self, midi: &Path, max_seconds: f64) -> Result<Waveform> {
        let mut file = std::fs::File::open(midi).with_context(|| format!("cannot open {}", midi.display()))?;
        let piece = MidiFile::new(&mut file).map_err(|e| anyhow::anyhow!("{}: not a readable MIDI file: {e}", midi.display()))?;
        let length = piece.get_length();
        if length.is_nan() || length <= 0.0 {
            bail!("{}: the MIDI file holds no notes (length {length} s)", midi.display());
        }
        let synth = Synthesizer::new(&self.font, &self.settings).map_err(|e| anyhow::anyhow!("synthesiser: {e}"))?;
        let mut sequencer = MidiFileSequencer::new(synth);
        sequencer.play(&Arc::new(piece), false);
        let seconds = (length + 1.0).min(max_seconds);
        let n = (seconds * f64::from(self.sample_rate())).round() as usize;
        let (mut left, mut right) = (vec![0f32; n], vec![0f32; n]);
        sequencer.render(&mut left, &mut right);
        let mut mono: Vec<f32> = left.iter().zip(&right).map(|(l, r)| 0.5 * (l + r)).collect();
        let peak = mono.iter().fold(0f32, |m, s| m.max(s.abs()));
        if !peak.is_finite() || peak <= 1e-6 {
            bail!("{}: the rendering is silent (peak {peak})", midi.display());
        }
        let gain = 0.9 / peak;
        mono.iter_mut().for_each(|s| *s *= gain);
        Waveform::new(mono, self.sample_rate(), midi)
    }
}
