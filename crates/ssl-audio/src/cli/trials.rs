//! `ssl-audio trials`: a verification trial list over a folder of speakers.
use anyhow::{bail, Result};
use clap::Parser;
use ssl_audio::data::AUDIO;
use ssl_audio::speaker::{recording_name, TrialList};
use ssl_core::data::FolderListing;
use std::path::PathBuf;

#[derive(Parser, Debug)]
pub struct Args {
    /// A folder with one sub-folder per speaker, or a `path,label` CSV.
    #[arg(long)]
    pub data: PathBuf,
    /// The trial list to write (`1 a.wav b.wav` lines, paths relative to the data).
    #[arg(long)]
    pub out: PathBuf,
    /// At most this many target trials (and as many non-target ones).
    #[arg(long, default_value_t = 5000)]
    pub targets: usize,
    /// Speaker folders to leave out (repeatable), e.g. a second folder of one person.
    #[arg(long)]
    pub exclude: Vec<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(a: Args) -> Result<()> {
    let is_csv = a.data.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let listing = if is_csv { FolderListing::from_csv(&a.data, AUDIO)? } else { FolderListing::of(&a.data, AUDIO)? };
    let Some(labels) = &listing.labels else {
        bail!("{}: the recordings have no speakers (put them in one sub-folder per speaker, or give a CSV with labels)", a.data.display());
    };
    for name in &a.exclude {
        if !listing.class_names.contains(name) {
            bail!("--exclude {name}: no such speaker in {} (speakers: {})", a.data.display(), listing.class_names.join(", "));
        }
    }
    let (mut names, mut kept) = (Vec::new(), Vec::new());
    for (file, &label) in listing.files.iter().zip(labels) {
        if !a.exclude.contains(&listing.class_names[label as usize]) {
            names.push(recording_name(&listing.root, file));
            kept.push(label);
        }
    }
    let list = TrialList::generate(&names, &kept, a.targets, &mut ssl_core::seed::rng(&[a.seed]))?;
    list.write(&a.out)?;
    let (t, n) = list.counts();
    println!("{}: {t} target and {n} non-target trials over {} recordings", a.out.display(), list.recordings().len());
    Ok(())
}
