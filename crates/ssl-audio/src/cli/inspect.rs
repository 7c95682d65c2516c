//! Summary of a data folder: classes, recordings, durations, sample rates on disk.
use anyhow::Result;
use clap::Parser;
use ssl_audio::data::read_audio_set;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Parser, Debug)]
pub struct Args {
    /// A folder with one sub-folder per speaker or class, a flat folder, or a CSV with
    /// `path` and `label` columns.
    #[arg(long)]
    pub data: PathBuf,
    /// The model's sample rate: every recording is resampled to it.
    #[arg(long, default_value_t = 16000)]
    pub rate: u32,
    /// Leave out recordings that cannot be used (each reported) instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
}

pub fn run(a: Args) -> Result<()> {
    let set = read_audio_set(&a.data, a.rate, a.skip_bad)?;
    let mut per_class: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for (i, wave) in set.waves.iter().enumerate() {
        let name = match &set.listing.labels {
            Some(l) => set.listing.class_names[l[i] as usize].clone(),
            None => "(no labels)".to_string(),
        };
        let e = per_class.entry(name).or_default();
        e.0 += 1;
        e.1 += wave.seconds();
    }
    println!("{:<28} {:>10} {:>12}", "class", "recordings", "minutes");
    for (name, (n, s)) in &per_class {
        println!("{name:<28} {n:>10} {:>12.1}", s / 60.0);
    }
    println!("{} recordings, {} classes, {:.2} hours at {} Hz", set.len(), per_class.len(), set.seconds() / 3600.0, set.sample_rate);
    Ok(())
}
