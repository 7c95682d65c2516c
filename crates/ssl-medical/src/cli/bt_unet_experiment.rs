//! BT-Unet against the same U-Net from scratch, at several shares of labelled slices and
//! several seeds: Dice, IoU and HD95 on held-out slices, a table in `docs/` and overlays.
use super::Size;
use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use ssl_core::train::Resume;
use ssl_medical::bt_unet::{colin27_slices, finetune, phantom_slices, predict, pretrain, score, BtUnetSettings, ClassScores, SliceSet};
use ssl_medical::overlay::{save_row, Panel};
use ssl_medical::phantom::PhantomConfig;
use ssl_medical::sampling::split_by_slab;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Data {
    /// Colin27's T1 with AAL structures (real; `datasets/fetch-medical.sh`).
    Colin27,
    /// Generated abdominal CT phantoms.
    Phantom,
}

/// How the labelled training slices are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LabelPick {
    /// Slabs of 4 neighbouring training slices, whatever they show.
    Slabs,
    /// Single slices among those showing at least one structure (as an annotator would pick
    /// them: with one volume, a slab of 4 may show nothing to learn from).
    Showing,
}

#[derive(Parser, Debug)]
pub struct Args {
    /// How the labelled slices are picked from the training slices.
    #[arg(long, value_enum, default_value_t = LabelPick::Slabs)]
    pub label_pick: LabelPick,
    /// Which slices.
    #[arg(long, value_enum, default_value_t = Data::Phantom)]
    pub data: Data,
    /// Folder of Colin27 (`ch2.nii.gz`, `aal.nii.gz`).
    #[arg(long, default_value = "datasets/cache/medical/colin27")]
    pub colin27: PathBuf,
    /// Colin27 is resampled to this isotropic spacing (mm).
    #[arg(long, default_value_t = 3.0)]
    pub spacing: f64,
    /// CPU-sized defaults, or the larger configuration for a GPU (`BtUnetSettings::gpu`, 40
    /// phantoms); flags given explicitly override either.
    #[arg(long, value_enum, default_value_t = Size::Cpu)]
    pub size: Size,
    /// Number of phantoms (a quarter of them, at least one, held out for testing; 12, or 40 on a GPU).
    #[arg(long)]
    pub phantoms: Option<u64>,
    /// Percentages of the training slices that keep their labels.
    #[arg(long, value_delimiter = ',', default_value = "5,10,25")]
    pub fractions: Vec<f64>,
    /// Seeds (each: its own pre-training, labelled subset and fine-tuning).
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    /// Pre-training steps (1000; 5000 on a GPU).
    #[arg(long)]
    pub pretrain_steps: Option<usize>,
    /// Fine-tuning steps (600; 2000 on a GPU).
    #[arg(long)]
    pub finetune_steps: Option<usize>,
    /// Peak learning rate of pre-training (AdamW; 1e-3).
    #[arg(long)]
    pub pretrain_lr: Option<f64>,
    /// Peak learning rate of fine-tuning (Adam; 3e-3).
    #[arg(long)]
    pub finetune_lr: Option<f64>,
    /// First encoder width (8; 16 on a GPU, as in the paper).
    #[arg(long)]
    pub width: Option<i64>,
    #[arg(long, default_value = "runs/bt-unet")]
    pub out: PathBuf,
    /// Markdown table (default `docs/bt-unet-<data>.md`).
    #[arg(long)]
    pub doc: Option<PathBuf>,
    /// Overlay image (default `docs/img/bt-unet-<data>.png`).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// Slices split into training and test parts: by phantom when there are several volumes,
/// else by slabs of 4 slices (neighbouring slices never on both sides).
fn split(set: &SliceSet) -> Result<(Vec<i64>, Vec<i64>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(2112);
    let all: Vec<i64> = (0..set.len() as i64).collect();
    let mut ids = set.volumes.clone();
    ids.dedup();
    if ids.len() > 1 {
        let test_volumes = (ids.len() / 4).max(1);
        let test: Vec<i64> = all.iter().copied().filter(|&i| ids[ids.len() - test_volumes..].contains(&set.volumes[i as usize])).collect();
        let train = all.iter().copied().filter(|i| !test.contains(i)).collect();
        return Ok((train, test));
    }
    let parts = split_by_slab(&all, 4, &[0.7, 0.3], &mut rng)?;
    Ok((parts[0].clone(), parts[1].clone()))
}

/// Mean and spread of the finite values (HD95 has none where a class was missed).
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    ssl_core::eval::mean_std(&finite)
}

pub fn run(a: Args) -> Result<()> {
    if a.fractions.is_empty() || a.fractions.iter().any(|f| !(*f > 0.0 && *f <= 100.0)) || a.seeds == 0 {
        bail!("--fractions must be percentages in (0, 100] and --seeds at least 1");
    }
    let device = ssl_core::device::setup_runtime(&a.device, a.threads)?;
    let preset = match a.size {
        Size::Cpu => BtUnetSettings::default(),
        Size::Gpu => BtUnetSettings::gpu(),
    };
    let settings = BtUnetSettings {
        width: a.width.unwrap_or(preset.width),
        pretrain: (a.pretrain_steps.unwrap_or(preset.pretrain.0), preset.pretrain.1, a.pretrain_lr.unwrap_or(preset.pretrain.2)),
        finetune: (a.finetune_steps.unwrap_or(preset.finetune.0), preset.finetune.1, a.finetune_lr.unwrap_or(preset.finetune.2)),
        ..preset
    };
    let size = match a.size {
        Size::Cpu => "cpu",
        Size::Gpu => "gpu",
    };
    let phantoms = a.phantoms.unwrap_or(match a.size {
        Size::Cpu => 12,
        Size::Gpu => 40,
    });
    let multiple = 1 << settings.levels;
    let (set, name) = match a.data {
        Data::Colin27 => (colin27_slices(&a.colin27, a.spacing, multiple)?, "colin27"),
        Data::Phantom => (phantom_slices(&PhantomConfig::default(), 0..phantoms.max(2), multiple)?, "phantom"),
    };
    let (train_idx, test_idx) = split(&set)?;
    let (train, test) = (set.subset(&train_idx), set.subset(&test_idx));
    eprintln!("{}: {} training slices, {} test slices of {:?}", set.source, train.len(), test.len(), set.images.size());
    let out = a.out.join(name);
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;

    // results[(init, fraction)] = per seed, per class scores.
    let mut results: Vec<(String, f64, Vec<Vec<ClassScores>>)> = Vec::new();
    let mut overlay: Option<(Tensor, Tensor)> = None;
    let t0 = Instant::now();
    for seed in 0..a.seeds {
        let pre = out.join(format!("pretrain-s{seed}"));
        let _ = std::fs::remove_dir_all(&pre);
        let summary = pretrain(&train, &settings, seed, &pre, device, Resume::No)?;
        eprintln!("seed {seed}: Barlow Twins {} steps, loss {:.1} -> {:.1}", summary.steps, summary.first_loss.unwrap_or(f64::NAN), summary.final_loss);
        for &fraction in &a.fractions {
            let mut rng = ChaCha8Rng::seed_from_u64(ssl_core::seed::mix(&[seed, fraction.to_bits()]));
            let all: Vec<i64> = (0..train.len() as i64).collect();
            let share = fraction / 100.0;
            let mut labelled_idx = match a.label_pick {
                LabelPick::Slabs => split_by_slab(&all, 4, &[share, 1.0 - share], &mut rng)?.swap_remove(0),
                LabelPick::Showing => {
                    let showing: Vec<i64> = all.iter().copied().filter(|&i| train.masks.get(i).gt(0).any().int64_value(&[]) == 1).collect();
                    let k = ((share * train.len() as f64).round() as usize).clamp(1, showing.len().max(1));
                    // Slabs of one slice dealt k : rest in a seeded order: k random slices.
                    split_by_slab(&showing, 1, &[k as f64, (showing.len() - k.min(showing.len())) as f64], &mut rng)?.swap_remove(0)
                }
            };
            if labelled_idx.is_empty() {
                labelled_idx = all[..4.min(all.len())].to_vec();
            }
            let labelled = train.subset(&labelled_idx);
            let mut preds = Vec::new();
            for (init, encoder) in [("random init", None), ("BT-Unet", Some(pre.as_path()))] {
                let dir = out.join(format!("finetune-s{seed}-{fraction}-{}", if encoder.is_some() { "bt" } else { "scratch" }));
                let _ = std::fs::remove_dir_all(&dir);
                let model = finetune(&labelled, encoder, &settings, seed, &dir, device, Resume::No)?;
                let pred = predict(&model, &test, device)?;
                let scores = score(&pred, &test)?;
                let dice = scores.iter().map(|s| s.dice).sum::<f64>() / scores.len() as f64;
                eprintln!("seed {seed}, {fraction}% ({} slices), {init}: mean Dice {dice:.3}  [{:.0} s]", labelled.len(), t0.elapsed().as_secs_f64());
                match results.iter_mut().find(|r| r.0 == init && r.1 == fraction) {
                    Some(r) => r.2.push(scores),
                    None => results.push((init.to_string(), fraction, vec![scores])),
                }
                preds.push(pred);
            }
            if seed == 0 && overlay.is_none() {
                overlay = Some((preds[0].shallow_clone(), preds[1].shallow_clone()));
            }
        }
    }

    let doc = a.doc.clone().unwrap_or_else(|| PathBuf::from(format!("docs/bt-unet-{name}.md")));
    let plot = a.plot.clone().unwrap_or_else(|| PathBuf::from(format!("docs/img/bt-unet-{name}.png")));
    let classes = &set.classes[1..];
    let mut md = format!(
        "Data: {} ({} training slices, {} test slices, {} x {} px; split {}). U-Net width {} ({} levels); Barlow Twins pre-training {} steps of {} slice pairs on the training slices without labels; fine-tuning {} steps of {} slices (CE 0.4 + Dice 0.6). Means ± sd over {} seeds (each: pre-training, labelled subset, fine-tuning). Dice and IoU over all test pixels of a class, averaged over the classes ({}); HD95 in mm, mean over the test slices where truth and prediction both show the class (and over the classes that have such slices).\n\n\
         Command: `cargo run --release -p ssl-medical -- bt-unet-experiment --data {name} --size {size} --label-pick {} --seeds {} --fractions {} --pretrain-steps {} --finetune-steps {} --pretrain-lr {} --finetune-lr {} --width {}`\n\n",
        set.source,
        train.len(),
        test.len(),
        set.images.size()[2],
        set.images.size()[3],
        if set.volumes.iter().any(|&v| v != set.volumes[0]) { "by phantom" } else { "by slabs of 4 slices" },
        settings.width,
        settings.levels,
        settings.pretrain.0,
        settings.pretrain.1,
        settings.finetune.0,
        settings.finetune.1,
        a.seeds,
        classes.join(", "),
        match a.label_pick {
            LabelPick::Slabs => "slabs",
            LabelPick::Showing => "showing",
        },
        a.seeds,
        a.fractions.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(","),
        settings.pretrain.0,
        settings.finetune.0,
        settings.pretrain.2,
        settings.finetune.2,
        settings.width,
    );
    md.push_str("| labelled | init | Dice | IoU | HD95 (mm) | missed slices |");
    for c in classes {
        write!(md, " Dice {c} |")?;
    }
    md.push_str("\n|---|---|---|---|---|---|");
    md.push_str(&"---|".repeat(classes.len()));
    md.push('\n');
    for (init, fraction, runs) in &results {
        // Each seed's mean over the classes that have a value (HD95 has none for a class
        // missed in every test slice).
        let per_seed = |f: &dyn Fn(&ClassScores) -> f64| -> Vec<f64> {
            runs.iter()
                .map(|s| {
                    let v: Vec<f64> = s.iter().map(f).filter(|x| x.is_finite()).collect();
                    if v.is_empty() {
                        f64::NAN
                    } else {
                        v.iter().sum::<f64>() / v.len() as f64
                    }
                })
                .collect()
        };
        let cell = |v: Vec<f64>, digits: usize| {
            let (m, sd) = mean_sd(&v);
            format!("{m:.digits$} ± {sd:.digits$}")
        };
        write!(
            md,
            "| {fraction}% | {init} | {} | {} | {} | {} |",
            cell(per_seed(&|s| s.dice), 3),
            cell(per_seed(&|s| s.iou), 3),
            cell(per_seed(&|s| s.hd95), 1),
            cell(per_seed(&|s| s.missed), 2)
        )?;
        for c in 0..classes.len() {
            write!(md, " {} |", cell(runs.iter().map(|s| s[c].dice).collect(), 3))?;
        }
        md.push('\n');
    }
    writeln!(md, "\nTotal time {:.0} s on {} ({} threads).", t0.elapsed().as_secs_f64(), a.device, tch::get_num_threads())?;
    if let Some((scratch, bt)) = overlay {
        write_overlay(&plot, &test, &scratch, &bt)?;
        writeln!(
            md,
            "\n![test slice: truth, from scratch, BT-Unet at {}% labels (seed 0)]({})",
            a.fractions[0],
            plot.file_name().map(|f| format!("img/{}", f.to_string_lossy())).unwrap_or_default()
        )?;
    }
    for p in [&doc, &plot] {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
    }
    std::fs::write(&doc, &md).with_context(|| format!("cannot write {}", doc.display()))?;
    println!("{md}");
    println!("written to {} and {}", doc.display(), plot.display());
    Ok(())
}

/// Three panels of the test slice with the most labelled pixels: the truth, the model from
/// scratch, BT-Unet; classes tinted over the image, each panel scaled up 3 times.
fn write_overlay(path: &Path, test: &SliceSet, scratch: &Tensor, bt: &Tensor) -> Result<()> {
    let fg = test.masks.gt(0).sum_dim_intlist([1, 2].as_slice(), false, Kind::Int64);
    let i = fg.argmax(0, false).int64_value(&[]);
    let image = test.images.get(i).get(0);
    let panels = [test.masks.get(i), scratch.get(i), bt.get(i)]
        .iter()
        .map(|labels| {
            let mut panel = Panel::axial(&image, 3)?;
            panel.tint(labels)?;
            Ok(panel)
        })
        .collect::<Result<Vec<_>>>()?;
    save_row(path, &panels)
}
