//! Verification trials: pairs of recordings, each marked target (same speaker) or
//! non-target, in the VoxCeleb text format (`1 spk/a.wav spk/b.wav`, paths relative to
//! the data folder).
use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::HashSet;
use std::path::Path;

/// One trial: are `enroll` and `test` the same speaker?
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Trial {
    /// Whether the two recordings are of one speaker.
    pub target: bool,
    /// The first recording, relative to the data folder.
    pub enroll: String,
    /// The second recording, relative to the data folder.
    pub test: String,
}

/// A list of trials.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrialList {
    /// The trials, in file order.
    pub trials: Vec<Trial>,
}

impl TrialList {
    /// Reads a trial file; an error names the file and line of a malformed row, and a
    /// list without targets or without non-targets is refused (no EER can be computed).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the trial list {}", path.display()))?;
        let mut trials = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [label, enroll, test] = fields.as_slice() else {
                bail!("{}:{}: a trial is `<1|0> <recording> <recording>`, got {} fields", path.display(), i + 1, fields.len());
            };
            let target = match *label {
                "1" | "target" => true,
                "0" | "nontarget" => false,
                other => bail!("{}:{}: the label must be 1 (target) or 0 (non-target), got '{other}'", path.display(), i + 1),
            };
            trials.push(Trial { target, enroll: enroll.to_string(), test: test.to_string() });
        }
        let list = Self { trials };
        list.check().with_context(|| path.display().to_string())?;
        Ok(list)
    }

    /// Writes the list in the VoxCeleb format (atomically).
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut text = String::new();
        for t in &self.trials {
            text += &format!("{} {} {}\n", u8::from(t.target), t.enroll, t.test);
        }
        ssl_core::config::write_atomically(path, text.as_bytes())
    }

    /// Target and non-target counts.
    pub fn counts(&self) -> (usize, usize) {
        let targets = self.trials.iter().filter(|t| t.target).count();
        (targets, self.trials.len() - targets)
    }

    /// Every recording the trials name, sorted, once each.
    pub fn recordings(&self) -> Vec<String> {
        let mut all: Vec<String> = self.trials.iter().flat_map(|t| [t.enroll.clone(), t.test.clone()]).collect();
        all.sort();
        all.dedup();
        all
    }

    fn check(&self) -> Result<()> {
        let (t, n) = self.counts();
        if t == 0 || n == 0 {
            bail!("the trial list has {t} target and {n} non-target trials; an EER needs both");
        }
        Ok(())
    }

    /// Trials among recordings `names` with speaker `labels`: up to `targets` target
    /// pairs (all of them when there are fewer, else a random choice) and as many
    /// non-target pairs drawn at random, never a recording with itself and never a pair
    /// twice. An error when no target or no non-target pair exists.
    pub fn generate(names: &[String], labels: &[i64], targets: usize, rng: &mut impl Rng) -> Result<Self> {
        if names.len() != labels.len() {
            bail!("trials: {} recordings but {} labels", names.len(), labels.len());
        }
        let mut same: Vec<(usize, usize)> = Vec::new();
        for i in 0..names.len() {
            for j in i + 1..names.len() {
                if labels[i] == labels[j] {
                    same.push((i, j));
                }
            }
        }
        let total_pairs = names.len() * names.len().saturating_sub(1) / 2;
        let different = total_pairs - same.len();
        if same.is_empty() || different == 0 {
            bail!("trials: {} recordings give {} same-speaker and {different} different-speaker pairs; both are needed", names.len(), same.len());
        }
        same.shuffle(rng);
        same.truncate(targets.max(1));
        let wanted = same.len().min(different);
        let mut chosen: HashSet<(usize, usize)> = HashSet::new();
        while chosen.len() < wanted {
            let (a, b) = (rng.random_range(0..names.len()), rng.random_range(0..names.len()));
            if labels[a] != labels[b] {
                chosen.insert((a.min(b), a.max(b)));
            }
        }
        let mut others: Vec<(usize, usize)> = chosen.into_iter().collect();
        others.sort_unstable();
        others.shuffle(rng);
        let mut trials: Vec<Trial> = same.iter().map(|&(a, b)| Trial { target: true, enroll: names[a].clone(), test: names[b].clone() }).collect();
        trials.extend(others.iter().map(|&(a, b)| Trial { target: false, enroll: names[a].clone(), test: names[b].clone() }));
        trials.shuffle(rng);
        Ok(Self { trials })
    }
}

/// The name of `file` in trial lists: its path under `root` with `/` separators.
pub fn recording_name(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap_or(file);
    rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn generated_trials_pair_speakers_correctly_and_round_trip() {
        let names: Vec<String> = (0..9).map(|i| format!("s{}/u{i}.wav", i % 3)).collect();
        let labels: Vec<i64> = (0..9).map(|i| i % 3).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let list = TrialList::generate(&names, &labels, 100, &mut rng).unwrap();
        // 3 speakers x C(3, 2) target pairs, as many non-target ones.
        assert_eq!(list.counts(), (9, 9));
        for t in &list.trials {
            assert_ne!(t.enroll, t.test);
            assert_eq!(t.target, t.enroll[..2] == t.test[..2], "{t:?}");
        }
        let dir = std::env::temp_dir().join(format!("ssl-audio-trials-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("trials.txt");
        list.write(&path).unwrap();
        assert_eq!(TrialList::read(&path).unwrap(), list);
        let capped = TrialList::generate(&names, &labels, 4, &mut rng).unwrap();
        assert_eq!(capped.counts(), (4, 4));
        assert!(TrialList::generate(&names[..3], &[0, 1, 2], 10, &mut rng).is_err(), "no target pair");
        std::fs::remove_dir_all(&dir).ok();
    }
}
