//! Labelled files on disk, in a fixed order: one folder per class (`root/<class>/<file>`),
//! a flat folder, or a CSV of `path,label` rows. Every modality lists its files this way
//! and decodes them in parallel with the same error and skip rules.
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What kind of file a listing holds: a plural noun for messages and the extensions
/// (lower case, without the dot) that count.
#[derive(Debug, Clone, Copy)]
pub struct FileKind {
    /// "images", "audio files", ...
    pub noun: &'static str,
    /// Extensions that belong to this kind.
    pub extensions: &'static [&'static str],
}

impl FileKind {
    /// Whether `path` has one of this kind's extensions (any case).
    pub fn matches(&self, path: &Path) -> bool {
        path.extension().and_then(|e| e.to_str()).is_some_and(|e| self.extensions.contains(&e.to_ascii_lowercase().as_str()))
    }
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot list {}", dir.display()))?;
    v.sort();
    Ok(v)
}

/// The files of a data folder in a fixed (sorted) order, with their labels (the index
/// of their class in sorted order) when the layout or a CSV gives them.
#[derive(Debug, Clone)]
pub struct FolderListing {
    /// The folder listed (for a CSV, the folder its relative paths start from).
    pub root: PathBuf,
    /// The files, class by class, each class sorted.
    pub files: Vec<PathBuf>,
    /// Class index of each file; `None` for a flat folder.
    pub labels: Option<Vec<i64>>,
    /// Names of the classes, indexed by label; empty for a flat folder.
    pub class_names: Vec<String>,
    /// What the files are, for messages.
    pub kind: FileKind,
}

impl FolderListing {
    /// Lists `root`: the files of `kind` in its class sub-folders, or, with none, its own.
    pub fn of(root: &Path, kind: FileKind) -> Result<Self> {
        let entries = sorted_entries(root)?;
        let class_dirs: Vec<PathBuf> = entries.iter().filter(|p| p.is_dir()).cloned().collect();
        let mut files: Vec<(PathBuf, Option<i64>)> = Vec::new();
        let mut class_names = Vec::new();
        if class_dirs.is_empty() {
            files.extend(entries.into_iter().filter(|p| kind.matches(p)).map(|p| (p, None)));
        } else {
            for (label, dir) in class_dirs.iter().enumerate() {
                class_names.push(dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default());
                files.extend(sorted_entries(dir)?.into_iter().filter(|p| kind.matches(p)).map(|p| (p, Some(label as i64))));
            }
        }
        if files.is_empty() {
            bail!("{}: no {} found (expected .{} files, directly or in one folder per class)", root.display(), kind.noun, kind.extensions.join(" / ."));
        }
        let labels = files.iter().map(|(_, l)| *l).collect::<Option<Vec<i64>>>();
        Ok(Self { root: root.to_path_buf(), files: files.into_iter().map(|(p, _)| p).collect(), labels, class_names, kind })
    }

    /// Reads a CSV with a header row naming a `path` and a `label` column (other columns
    /// are ignored). Relative paths start from the CSV's folder; labels are names, and
    /// classes are numbered in sorted name order. Files are kept in the CSV's order.
    pub fn from_csv(csv: &Path, kind: FileKind) -> Result<Self> {
        let mut reader = csv::Reader::from_path(csv).with_context(|| format!("{}: cannot open the CSV", csv.display()))?;
        let headers = reader.headers().with_context(|| format!("{}: cannot read the header row", csv.display()))?.clone();
        let column = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim() == name)
                .with_context(|| format!("{}: no '{name}' column (the header row is: {})", csv.display(), headers.iter().collect::<Vec<_>>().join(",")))
        };
        let (path_col, label_col) = (column("path")?, column("label")?);
        let root = csv.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut rows: Vec<(PathBuf, String)> = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let line = i + 2;
            let record = record.with_context(|| format!("{}: line {line} is not valid CSV", csv.display()))?;
            let (Some(path), Some(label)) = (record.get(path_col), record.get(label_col)) else {
                bail!("{}: line {line} has {} fields, fewer than the header's", csv.display(), record.len());
            };
            let (path, label) = (path.trim(), label.trim());
            if path.is_empty() || label.is_empty() {
                bail!("{}: line {line} has an empty path or label", csv.display());
            }
            let file = root.join(path);
            if !kind.matches(&file) {
                bail!("{}: line {line}: {} is not one of the {} (.{})", csv.display(), path, kind.noun, kind.extensions.join(" / ."));
            }
            if !file.is_file() {
                bail!("{}: line {line}: {} does not exist", csv.display(), file.display());
            }
            rows.push((file, label.to_string()));
        }
        if rows.is_empty() {
            bail!("{}: the CSV lists no files", csv.display());
        }
        let classes: BTreeMap<&str, i64> = {
            let mut names: Vec<&str> = rows.iter().map(|(_, l)| l.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            names.into_iter().enumerate().map(|(i, n)| (n, i as i64)).collect()
        };
        let labels = rows.iter().map(|(_, l)| classes[l.as_str()]).collect();
        let class_names = classes.keys().map(|s| s.to_string()).collect();
        Ok(Self { root, files: rows.into_iter().map(|(p, _)| p).collect(), labels: Some(labels), class_names, kind })
    }

    /// Keeps the files at `keep` (indices into `files`, in order).
    pub fn keep(&mut self, keep: &[usize]) {
        self.files = keep.iter().map(|&i| self.files[i].clone()).collect();
        self.labels = self.labels.as_ref().map(|l| keep.iter().map(|&i| l[i]).collect());
    }

    /// Applies `read` to every file in parallel. A failure is an error naming the file,
    /// or with `skip_bad` the file is left out (and reported); `verb` says what failed
    /// when nothing is left.
    pub fn read_each<T: Send>(&mut self, read: impl Fn(&Path) -> Result<T> + Sync, skip_bad: bool, verb: &str) -> Result<Vec<T>> {
        let results: Vec<Result<T>> = self.files.par_iter().map(|p| read(p)).collect();
        let (mut good, mut keep, mut bad) = (Vec::new(), Vec::new(), Vec::new());
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(v) => {
                    good.push(v);
                    keep.push(i);
                }
                Err(e) if skip_bad => bad.push(format!("{e:#}")),
                Err(e) => bail!("{e:#} (--skip-bad leaves unreadable {} out)", self.kind.noun),
            }
        }
        if good.is_empty() {
            bail!("{}: none of the {} {} can be {verb}", self.root.display(), self.files.len(), self.kind.noun);
        }
        self.keep(&keep);
        self.report_skipped(&bad);
        Ok(good)
    }

    /// Reports the files left out as unreadable (with `--skip-bad`) on stderr; `bad`
    /// holds one message per file left out, each naming its file.
    fn report_skipped(&self, bad: &[String]) {
        if bad.is_empty() {
            return;
        }
        eprintln!("warning: {}: left out {} of {} {} that cannot be read:", self.root.display(), bad.len(), self.files.len() + bad.len(), self.kind.noun);
        for why in bad.iter().take(20) {
            eprintln!("  {why}");
        }
        if bad.len() > 20 {
            eprintln!("  ... and {} more", bad.len() - 20);
        }
    }
}
