//! `ssl-audio render-music`: the tune catalogue's MIDI files rendered to WAV with a
//! soundfont, in parallel, the catalogue written again beside them with each recording, and
//! a WordPiece vocabulary of the captions.
use anyhow::{bail, Context, Result};
use clap::Parser;
use rayon::prelude::*;
use ssl_audio::io::write_wav;
use ssl_audio::music::{read_tunes, write_tunes, CaptionVocabulary, MidiRenderer, Tune};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser, Debug)]
pub struct Args {
    /// The music folder of `datasets/fetch-music.sh` (tunes.csv, midi/, the soundfont).
    #[arg(long, default_value = "datasets/cache/music")]
    pub data: PathBuf,
    /// The SF2 soundfont (default: TimGM6mb.sf2 in the data folder).
    #[arg(long)]
    pub soundfont: Option<PathBuf>,
    /// Where the WAV files and their catalogue (music.csv) go (default: audio/ in the data folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value_t = 16000)]
    pub rate: u32,
    /// Seconds rendered from the start of each tune (shorter tunes end earlier).
    #[arg(long, default_value_t = 20.0)]
    pub seconds: f64,
    /// Only the first N tunes of the catalogue.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Leave out tunes that cannot be rendered (each reported) instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
    /// Tokens of the WordPiece vocabulary trained on the captions (tokenizer.json beside music.csv).
    #[arg(long, default_value_t = 2000)]
    pub vocab_size: usize,
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(a: Args) -> Result<()> {
    if a.seconds.is_nan() || a.seconds <= 0.0 {
        bail!("--seconds must be positive");
    }
    let catalogue = a.data.join("tunes.csv");
    let mut tunes = read_tunes(&catalogue)?;
    if let Some(n) = a.limit {
        tunes.truncate(n);
    }
    let soundfont = a.soundfont.clone().unwrap_or_else(|| a.data.join("TimGM6mb.sf2"));
    let renderer = MidiRenderer::new(&soundfont, a.rate)?;
    let out = a.out.clone().unwrap_or_else(|| a.data.join("audio"));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let started = Instant::now();
    let results: Vec<Result<(Tune, f64)>> = tunes
        .par_iter()
        .map(|t| {
            let wave = renderer.render(&a.data.join(&t.midi), a.seconds).with_context(|| format!("tune {} of {}", t.id, catalogue.display()))?;
            let name = format!("{}.wav", t.id);
            write_wav(&out.join(&name), &wave)?;
            Ok((Tune { audio: name, ..t.clone() }, wave.seconds()))
        })
        .collect();
    let (mut rendered, mut seconds, mut skipped) = (Vec::new(), 0.0, 0usize);
    for r in results {
        match r {
            Ok((t, s)) => {
                rendered.push(t);
                seconds += s;
            }
            Err(e) if a.skip_bad => {
                eprintln!("render-music: left out: {e:#}");
                skipped += 1;
            }
            Err(e) => return Err(e),
        }
    }
    if rendered.is_empty() {
        bail!("{}: no tune could be rendered", catalogue.display());
    }
    let captions: Vec<String> = rendered.iter().map(|t| t.caption.clone()).collect();
    let vocabulary = CaptionVocabulary::train(&captions, a.vocab_size, 2)?;
    let tokens: usize = captions.iter().map(|c| vocabulary.pieces(c).map(|p| p.len())).sum::<Result<usize>>()?;
    vocabulary.save(&out.join("tokenizer.json"))?;
    write_tunes(&out.join("music.csv"), &rendered)?;
    let wall = started.elapsed().as_secs_f64();
    if !a.quiet || skipped > 0 {
        println!(
            "render-music: {} tunes, {:.2} h of audio at {} Hz in {wall:.0} s ({:.0}x real time){} -> {}",
            rendered.len(),
            seconds / 3600.0,
            a.rate,
            seconds / wall.max(1e-9),
            if skipped > 0 { format!(", {skipped} left out") } else { String::new() },
            out.join("music.csv").display()
        );
        println!(
            "render-music: WordPiece vocabulary of {} tokens, {:.1} pieces per caption -> {}",
            vocabulary.size(),
            tokens as f64 / captions.len() as f64,
            out.join("tokenizer.json").display()
        );
    }
    Ok(())
}
