//! `ssl-audio ssreg-experiment`: contrastive alone vs contrastive + SSReg vs SSReg alone
//! on real speech, over seeds, beside the no-learning baselines (filterbank statistics
//! and a random encoder); EER and minDCF on held-out recordings, written to `docs/`.
use anyhow::{bail, Context, Result};
use clap::Parser;
use serde::Serialize;
use ssl_audio::data::{read_audio_set, AudioSet};
use ssl_audio::speaker::{
    build_untrained, centred, embed, encoder_input, load_trained, pretrain_on, recording_features, recording_name, score_trials, statistics_embedding,
    SpeakerPretrainConfig, TrialList,
};
use ssl_audio::waveform::Waveform;
use ssl_core::eval::{det_curve, mean_std, verification_report, DcfParams, VerificationReport};
use ssl_core::train::Resume;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tch::Tensor;

/// Seed tag of the train / test split (fixed across training seeds).
const SPLIT: u64 = 0x5B_117;
/// Training recordings whose mean embedding centres the trial embeddings.
const CENTRING_RECORDINGS: usize = 500;

#[derive(Parser, Debug)]
pub struct Args {
    /// One sub-folder per speaker (datasets/fetch-speech.sh puts the Asterisk voices here).
    #[arg(long, default_value = "datasets/cache/speech")]
    pub data: PathBuf,
    /// Base pre-training config (TOML); `--steps` overrides its steps.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Scratch folder of the runs (each run folder is replaced).
    #[arg(long, default_value = "runs/ssreg-experiment")]
    pub runs: PathBuf,
    /// The report (Markdown; a .json beside it holds every number).
    #[arg(long, default_value = "docs/ssreg.md")]
    pub doc: PathBuf,
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Share of each speaker's recordings held out for the trials.
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Speaker folders kept out of the trials (default: es_MX_f_Allison, the same person
    /// as en_US_f_Allison); they still train, unlabelled.
    #[arg(long, default_values_t = ["es_MX_f_Allison".to_string()])]
    pub exclude: Vec<String>,
    /// At most this many target trials (and as many non-target ones).
    #[arg(long, default_value_t = 3000)]
    pub targets: usize,
    /// Use only the first N recordings of each speaker (quick runs).
    #[arg(long)]
    pub per_speaker: Option<usize>,
    /// Bootstrap resamples for the intervals.
    #[arg(long, default_value_t = 200)]
    pub bootstrap: usize,
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// One row of the table at one seed.
#[derive(Debug, Clone, Serialize)]
struct Outcome {
    encoder: String,
    seed: Option<u64>,
    report: VerificationReport,
    train_seconds: f64,
    final_loss: Option<f64>,
}

/// The variants of the claim: (row name, run folder, contrastive weight, SSReg weight).
const VARIANTS: [(&str, &str, f64, f64); 3] =
    [("contrastive (NT-Xent)", "contrastive", 1.0, 0.0), ("contrastive + SSReg", "contrastive-ssreg", 1.0, 1.0), ("SSReg alone", "ssreg", 0.0, 1.0)];

/// Recordings split per speaker into (train, test) indices; the split is fixed by [`SPLIT`].
fn split(set: &AudioSet, fraction: f64) -> Result<(Vec<usize>, Vec<usize>)> {
    use rand::seq::SliceRandom;
    let labels = set.listing.labels.as_ref().context("the data have no speaker folders")?;
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for label in 0..set.listing.class_names.len() as i64 {
        let mut ids: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == label).collect();
        if ids.len() < 2 {
            // One recording cannot be on both sides: it trains.
            train.extend_from_slice(&ids);
            continue;
        }
        ids.shuffle(&mut ssl_core::seed::rng(&[SPLIT, label as u64]));
        let n_test = ((ids.len() as f64 * fraction).round() as usize).clamp(1, ids.len() - 1);
        test.extend_from_slice(&ids[..n_test]);
        train.extend_from_slice(&ids[n_test..]);
    }
    if train.is_empty() {
        bail!("no recordings left to train on after holding out {fraction} of each speaker");
    }
    train.sort_unstable();
    test.sort_unstable();
    Ok((train, test))
}

fn report(scores: &ssl_audio::speaker::Scored, resamples: usize) -> Result<VerificationReport> {
    verification_report(&scores.target, &scores.nontarget, DcfParams::default(), resamples, 0.95, &mut ssl_core::seed::rng(&[1]))
}

pub fn run(a: Args) -> Result<()> {
    if !(a.test_fraction > 0.0 && a.test_fraction < 1.0) || a.seeds == 0 {
        bail!("--test-fraction must be in (0, 1) and --seeds at least 1");
    }
    let mut base: SpeakerPretrainConfig = match &a.config {
        Some(p) => ssl_core::config::read_toml(p)?,
        None => SpeakerPretrainConfig::default(),
    };
    base.device = a.device.clone();
    if let Some(s) = a.steps {
        base.train.steps = s;
    }
    if let Some(b) = a.batch_size {
        base.train.batch_size = b;
    }
    if a.quiet {
        base.train.progress = false;
    }
    // One thread count for every run: libtorch's sums (and so the trained encoders) depend
    // on it, and a count re-read before each run would follow whatever else the machine
    // is doing.
    if base.threads == 0 {
        base.threads = ssl_core::device::free_cores();
    }
    base.validate()?;
    let device = ssl_core::device::setup_runtime(&base.device, base.threads)?;
    let mut set = read_audio_set(&a.data, base.sample_rate, false)?;
    if let Some(n) = a.per_speaker {
        let labels = set.listing.labels.clone().context("the data have no speaker folders")?;
        let mut seen = vec![0usize; set.listing.class_names.len()];
        let keep: Vec<usize> = (0..labels.len())
            .filter(|&i| {
                seen[labels[i] as usize] += 1;
                seen[labels[i] as usize] <= n
            })
            .collect();
        set.listing.keep(&keep);
        set.waves = keep.iter().map(|&i| set.waves[i].clone()).collect();
    }
    for name in &a.exclude {
        if !set.listing.class_names.contains(name) {
            bail!("--exclude {name}: no such speaker in {} (speakers: {})", a.data.display(), set.listing.class_names.join(", "));
        }
    }
    let (train_ids, test_ids) = split(&set, a.test_fraction)?;
    let labels = set.listing.labels.clone().expect("checked by split");
    let in_trials: Vec<usize> = test_ids.iter().copied().filter(|&i| !a.exclude.contains(&set.listing.class_names[labels[i] as usize])).collect();
    let names: Vec<String> = in_trials.iter().map(|&i| recording_name(&set.listing.root, &set.listing.files[i])).collect();
    let trial_labels: Vec<i64> = in_trials.iter().map(|&i| labels[i]).collect();
    let trials = TrialList::generate(&names, &trial_labels, a.targets, &mut ssl_core::seed::rng(&[SPLIT, 1]))?;
    std::fs::create_dir_all(&a.runs).with_context(|| format!("cannot create {}", a.runs.display()))?;
    trials.write(&a.runs.join("trials.txt"))?;
    let train_waves: Arc<Vec<Waveform>> = Arc::new(train_ids.iter().map(|&i| set.waves[i].clone()).collect());
    let fbank = base.fbank()?;
    let what = |i: usize| set.listing.files[i].display().to_string();
    let raw: Vec<Tensor> = in_trials.iter().map(|&i| recording_features(&fbank, &set.waves[i], &what(i))).collect::<Result<_>>()?;
    let inputs: Vec<Tensor> = in_trials.iter().map(|&i| encoder_input(&fbank, &set.waves[i], &what(i))).collect::<Result<_>>()?;
    // A fixed subset of the training recordings gives the centring mean of every encoder.
    let reference_ids: Vec<usize> = {
        use rand::seq::IndexedRandom;
        let mut ids: Vec<usize> = train_ids.choose_multiple(&mut ssl_core::seed::rng(&[SPLIT, 2]), CENTRING_RECORDINGS).copied().collect();
        ids.sort_unstable();
        ids
    };
    let reference_raw: Vec<Tensor> = reference_ids.iter().map(|&i| recording_features(&fbank, &set.waves[i], &what(i))).collect::<Result<_>>()?;
    let reference_inputs: Vec<Tensor> = reference_ids.iter().map(|&i| encoder_input(&fbank, &set.waves[i], &what(i))).collect::<Result<_>>()?;
    let embed_centred = |backbone: &dyn ssl_core::blocks::Backbone| -> Result<Tensor> {
        centred(&embed(backbone, &inputs, device), &embed(backbone, &reference_inputs, device))
    };
    let (t, n) = trials.counts();
    eprintln!("ssreg-experiment: {} training recordings, {} trial recordings, {t} target / {n} non-target trials", train_waves.len(), names.len());

    let mut outcomes = Vec::new();
    // The first seed of every row for the DET plot; the embeddings of the claim's encoder.
    let mut det_curves: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let mut add_curve = |row: &str, scored: &ssl_audio::speaker::Scored| -> Result<()> {
        if !det_curves.iter().any(|(r, _)| r == row) {
            det_curves.push((row.to_string(), det_curve(&scored.target, &scored.nontarget)?));
        }
        Ok(())
    };
    let mut shown_embeddings = None;
    let scored = score_trials(&trials, &names, &centred(&statistics_embedding(&raw), &statistics_embedding(&reference_raw))?)?;
    add_curve("filterbank statistics (no learning)", &scored)?;
    outcomes.push(Outcome {
        encoder: "filterbank statistics (no learning)".into(),
        seed: None,
        report: report(&scored, a.bootstrap)?,
        train_seconds: 0.0,
        final_loss: None,
    });
    for seed in 0..a.seeds {
        let mut cfg = base.clone();
        cfg.train.seed = seed;
        let (_vs, method) = build_untrained(&cfg, device)?;
        let scored = score_trials(&trials, &names, &embed_centred(method.backbone())?)?;
        add_curve("random encoder (no learning)", &scored)?;
        outcomes.push(Outcome {
            encoder: "random encoder (no learning)".into(),
            seed: Some(seed),
            report: report(&scored, a.bootstrap)?,
            train_seconds: 0.0,
            final_loss: None,
        });
        for (row, folder, wc, ws) in VARIANTS {
            let mut cfg = cfg.clone();
            cfg.model = cfg.model.with_option("contrastive_weight", wc).with_option("ssreg_weight", ws);
            cfg.method = "ssreg".into();
            cfg.out = a.runs.join(format!("{folder}-seed{seed}"));
            if cfg.out.exists() {
                std::fs::remove_dir_all(&cfg.out).with_context(|| format!("cannot clear {}", cfg.out.display()))?;
            }
            let started = Instant::now();
            let summary = pretrain_on(&cfg, train_waves.clone(), Resume::from_flags(false, false))?;
            let seconds = started.elapsed().as_secs_f64();
            let enc = load_trained(&cfg.out, device)?;
            let embeddings = embed_centred(enc.method.backbone())?;
            let scored = score_trials(&trials, &names, &embeddings)?;
            add_curve(row, &scored)?;
            if row == VARIANTS[1].0 && shown_embeddings.is_none() {
                shown_embeddings = Some(embeddings);
            }
            let r = report(&scored, a.bootstrap)?;
            eprintln!("  {row}, seed {seed}: EER {:.2}%, minDCF {:.3} ({seconds:.0} s)", 100.0 * r.eer.value, r.min_dcf.value);
            outcomes.push(Outcome { encoder: row.into(), seed: Some(seed), report: r, train_seconds: seconds, final_loss: Some(summary.final_loss) });
        }
    }
    let plot_path = |what: &str| {
        let stem = a.doc.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "ssreg".into());
        a.doc.with_file_name(format!("{stem}-{what}.svg"))
    };
    let (det_svg, embeddings_svg) = (plot_path("det"), plot_path("embeddings"));
    ssl_core::plots::det_plot(&det_svg, "Held-out trials (first seed of each row)", &det_curves)?;
    if let Some(e) = &shown_embeddings {
        // Labels renumbered over the speakers in the trials (the excluded ones are not).
        let mut present: Vec<i64> = trial_labels.clone();
        present.sort_unstable();
        present.dedup();
        let labels: Vec<i64> = trial_labels.iter().map(|l| present.binary_search(l).expect("present") as i64).collect();
        let speakers: Vec<String> = present.iter().map(|&l| set.listing.class_names[l as usize].clone()).collect();
        ssl_core::plots::pca_scatter(&embeddings_svg, &format!("{} (seed 0), held-out recordings", VARIANTS[1].0), e, &labels, &speakers)?;
    }
    let file_name = |p: &std::path::Path| p.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
    let doc = markdown(&a, &base, &set, train_waves.len(), names.len(), &trials, &outcomes, (&file_name(&det_svg), &file_name(&embeddings_svg)));
    ssl_core::config::write_atomically(&a.doc, doc.as_bytes())?;
    let json = serde_json::json!({ "config": base, "trials": {"target": t, "nontarget": n}, "outcomes": outcomes });
    ssl_core::config::write_atomically(&a.doc.with_extension("json"), serde_json::to_string_pretty(&json)?.as_bytes())?;
    print!("{}", table(&outcomes));
    println!("written: {} and {}", a.doc.display(), a.doc.with_extension("json").display());
    Ok(())
}

/// Rows in first-seen order with the EERs and minDCFs of their seeds.
fn rows(outcomes: &[Outcome]) -> Vec<(String, Vec<f64>, Vec<f64>)> {
    let mut rows: Vec<(String, Vec<f64>, Vec<f64>)> = Vec::new();
    for o in outcomes {
        match rows.iter_mut().find(|r| r.0 == o.encoder) {
            Some(r) => {
                r.1.push(100.0 * o.report.eer.value);
                r.2.push(o.report.min_dcf.value);
            }
            None => rows.push((o.encoder.clone(), vec![100.0 * o.report.eer.value], vec![o.report.min_dcf.value])),
        }
    }
    rows
}

fn table(outcomes: &[Outcome]) -> String {
    let mut s = String::from("| encoder | seeds | EER % (mean ± sd) | minDCF p=0.01 (mean ± sd) | EER % per seed |\n|---|---|---|---|---|\n");
    for (name, eers, dcfs) in rows(outcomes) {
        let (em, es) = mean_std(&eers);
        let (dm, ds) = mean_std(&dcfs);
        let per: Vec<String> = eers.iter().map(|e| format!("{e:.2}")).collect();
        s += &format!("| {name} | {} | {em:.2} ± {es:.2} | {dm:.3} ± {ds:.3} | {} |\n", eers.len(), per.join(", "));
    }
    s
}

/// Whether contrastive + SSReg beats contrastive by more than the seed-to-seed spread.
fn verdict(outcomes: &[Outcome]) -> String {
    let rows = rows(outcomes);
    let find = |n: &str| rows.iter().find(|r| r.0 == n).map(|r| mean_std(&r.1));
    let (Some((c, cs)), Some((r, rs))) = (find(VARIANTS[0].0), find(VARIANTS[1].0)) else { return String::new() };
    let relative = if c > 0.0 { 100.0 * (c - r) / c } else { 0.0 };
    let spread = cs.max(rs);
    let direction = if c - r > spread {
        "holds here: adding SSReg lowers the EER by more than the seed-to-seed spread"
    } else if r - c > spread {
        "is reversed here: adding SSReg raises the EER by more than the seed-to-seed spread"
    } else {
        "is not shown here: the difference is within the seed-to-seed spread"
    };
    format!(
        "Adding SSReg to the contrastive loss changes the EER from {c:.2}% to {r:.2}% ({relative:+.1}% relative; the paper reports 23.4% lower on VoxCeleb). The paper's direction {direction} (largest sd {spread:.2} points).\n"
    )
}

#[allow(clippy::too_many_arguments)]
fn markdown(
    a: &Args,
    base: &SpeakerPretrainConfig,
    set: &AudioSet,
    n_train: usize,
    n_trial: usize,
    trials: &TrialList,
    outcomes: &[Outcome],
    (det_svg, embeddings_svg): (&str, &str),
) -> String {
    let (t, n) = trials.counts();
    let m = &base.model;
    let tr = &base.train;
    let seconds: f64 = outcomes.iter().map(|o| o.train_seconds).sum();
    let mut s = String::from("# SSReg: self-supervised speaker embeddings on real speech\n\n");
    s += "Written by `ssl-audio ssreg-experiment`";
    s += &format!(
        " (this run: `--seeds {} --test-fraction {} --targets {}{}{}`).\n\n",
        a.seeds,
        a.test_fraction,
        a.targets,
        a.steps.map(|v| format!(" --steps {v}")).unwrap_or_default(),
        a.per_speaker.map(|v| format!(" --per-speaker {v}")).unwrap_or_default()
    );
    s += &format!(
        "**Data (real recordings).** {} ({} recordings, {:.2} h at {} Hz) from `datasets/fetch-speech.sh`: {} speaker folders, {} held out of the trials ({}). \
         {:.0}% of each speaker's recordings are held out (a fixed split); the encoders train on the other {n_train}, without labels. \
         Trials: {t} target and {n} non-target pairs among the {n_trial} held-out recordings of the other speakers, scored by the cosine of embeddings \
         centred on the mean embedding of (up to) {CENTRING_RECORDINGS} training recordings (every row, the baselines too).\n\n",
        a.data.display(),
        set.len(),
        set.seconds() / 3600.0,
        base.sample_rate,
        set.listing.class_names.len(),
        a.exclude.len(),
        a.exclude.join(", "),
        100.0 * a.test_fraction
    );
    s += &format!(
        "**Recipe.** {} of width {} on {} log-mel bins (Kaldi filterbanks, 25 ms / 10 ms, mean-normalised per segment), two {} s segments per utterance, \
         each augmented online in time (simulated rooms p={}, coloured noise p={} at {:?} dB, babble p={} at {:?} dB, gain {:?} dB) and frequency (SpecAugment p={}). \
         Projector {} -> {}, predictor {} -> {}; NT-Xent temperature 0.1; {} steps of {} utterances, {:?} lr {} (warm-up {} steps, cosine). \
         The same budget for every row; {} s of training in all, {} libtorch threads (results are reproducible at a fixed thread count).\n\n",
        m.backbone.kind,
        m.backbone.width,
        base.segments.num_bins,
        base.segments.seconds,
        base.segments.augment.reverb_probability,
        base.segments.augment.noise_probability,
        base.segments.augment.noise_snr_db,
        base.segments.augment.babble_probability,
        base.segments.augment.babble_snr_db,
        base.segments.augment.gain_db,
        base.segments.spec_augment_probability,
        m.projector_hidden,
        m.projector_dim,
        m.predictor_hidden,
        m.projector_dim,
        tr.steps,
        tr.batch_size,
        tr.optimizer.kind,
        tr.lr,
        tr.warmup_steps,
        seconds.round(),
        base.threads
    );
    s += &table(outcomes);
    s += "\n";
    s += &verdict(outcomes);
    s += &format!(
        "\n![DET curves of the first seed of each row]({det_svg})\n\n![First two principal components of the contrastive + SSReg embeddings (seed 0) of the held-out recordings, coloured by speaker]({embeddings_svg})\n"
    );
    s += "\n**Caveats.** Each voice comes with its own recording chain (studio, microphone, level, companding), so speaker and channel are confounded: \
          an encoder can separate these speakers by channel alone, which is also why the no-learning rows are far from chance. \
          The trials are closed-set: the held-out recordings are new, the speakers are not (they are in the unlabelled training data). \
          Five distinct voices give few speaker pairs, so the non-target scores come from only ten speaker pairings. \
          VoxCeleb, the paper's data, is not in the registries.\n";
    s
}
