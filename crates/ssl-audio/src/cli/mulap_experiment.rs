//! `ssl-audio mulap-experiment`: MuLaP against an audio-only contrastive encoder of the same
//! architecture and budget, a random encoder and log-mel statistics, on attributes of the
//! tunes that were left out of the captions (rhythm, mode, instrument family), over seeds;
//! and MuLaP's audio-to-caption retrieval. Writes Markdown and JSON.
use anyhow::{bail, Context, Result};
use clap::Parser;
use serde::Serialize;
use ssl_audio::mulap::clips::read_music;
use ssl_audio::mulap::pipeline::{build_untrained, embed_tunes, load_trained, pretrain_on, run_folder, MulapPretrainConfig};
use ssl_audio::mulap::{Mulap, MusicClips};
use ssl_core::eval::{linear_probe, mean_std, LinearProbeConfig};
use ssl_core::train::Resume;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

#[derive(Parser, Debug)]
pub struct Args {
    /// The rendered catalogue (render-music), with tokenizer.json beside it.
    #[arg(long, default_value = "datasets/cache/music/audio/music.csv")]
    pub data: PathBuf,
    /// Run folders of the pre-trained encoders.
    #[arg(long, default_value = "runs/mulap-experiment")]
    pub runs: PathBuf,
    /// The Markdown report (the JSON goes beside it).
    #[arg(long, default_value = "docs/mulap.md")]
    pub doc: PathBuf,
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Share of the tunes held out for the probes' test sets and retrieval.
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Hidden units of the downstream probe (the paper's small MLP); 0 gives a linear probe.
    #[arg(long, default_value_t = 128)]
    pub probe_hidden: usize,
    /// A TOML file of MulapPretrainConfig keys (model sizes, schedule).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long, default_value = "auto")]
    pub device: String,
    #[arg(long)]
    pub quiet: bool,
}

/// The downstream tasks: an attribute of the catalogue mapped to classes (None: unlabelled).
const TASKS: [(&str, &str); 3] = [("rhythm", "reel / hornpipe / jig / slip jig"), ("mode", "major-like / minor-like"), ("family", "5 instrument families")];

fn label(task: &str, t: &ssl_audio::music::Tune) -> Option<i64> {
    match task {
        "rhythm" => ["reel", "hornpipe", "jig", "slip jig"].iter().position(|r| *r == t.rhythm).map(|i| i as i64),
        "mode" => match t.mode.as_str() {
            "major" | "mixolydian" | "lydian" => Some(0),
            "minor" | "dorian" | "phrygian" | "aeolian" | "locrian" => Some(1),
            _ => None,
        },
        "family" => ["keyboard", "plucked", "bowed", "flute", "reed"].iter().position(|f| *f == t.family).map(|i| i as i64),
        _ => None,
    }
}

#[derive(Serialize)]
struct Outcome {
    encoder: String,
    seed: Option<u64>,
    /// Test accuracy per task, in TASKS order.
    accuracy: Vec<f64>,
    train_seconds: f64,
    final_loss: Option<f64>,
}

#[derive(Serialize)]
struct Retrieval {
    seed: u64,
    recall: [f64; 3],
}

/// Log-mel mean and deviation per band of each tune's first clip (no learning).
fn statistics(clips: &MusicClips, ids: &[usize], cfg: &ssl_audio::mulap::MulapConfig) -> Tensor {
    let x = clips.first_clips(ids, cfg).flatten(1, 2); // [N, C * frames, bins]
    Tensor::cat(&[x.mean_dim([1i64].as_slice(), false, Kind::Float), x.std_dim([1i64].as_slice(), false, false)], 1)
}

/// Per task: the test accuracy of always answering the training set's most frequent class.
fn majority(clips: &MusicClips, train: &[usize], test: &[usize]) -> Vec<f64> {
    TASKS
        .iter()
        .map(|(task, _)| {
            let labels = |ids: &[usize]| ids.iter().filter_map(|&i| label(task, &clips.tunes[i])).collect::<Vec<i64>>();
            let (tr, te) = (labels(train), labels(test));
            let top = (0..=tr.iter().copied().max().unwrap_or(0)).max_by_key(|c| (tr.iter().filter(|&&l| l == *c).count(), -c)).unwrap_or(0);
            te.iter().filter(|&&l| l == top).count() as f64 / te.len().max(1) as f64
        })
        .collect()
}

/// Test accuracy per task of a probe (an MLP with `hidden` units, or linear for 0) on
/// `features` (all tunes, catalogue order).
fn probe_all(features: &Tensor, clips: &MusicClips, train: &[usize], test: &[usize], seed: u64, hidden: usize) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    for (task, _) in TASKS {
        let pick = |ids: &[usize]| -> (Tensor, Tensor) {
            let (keep, labels): (Vec<i64>, Vec<i64>) = ids.iter().filter_map(|&i| label(task, &clips.tunes[i]).map(|l| (i as i64, l))).unzip();
            (features.index_select(0, &Tensor::from_slice(&keep)), Tensor::from_slice(&labels))
        };
        let ((xtr, ytr), (xte, yte)) = (pick(train), pick(test));
        let mut cfg = LinearProbeConfig::default().with_hidden(hidden);
        (cfg.seeds, cfg.seed) = (1, seed);
        out.push(linear_probe(&xtr, &ytr, &xte, &yte, &cfg).with_context(|| format!("the {task} probe"))?.test_accuracy);
    }
    Ok(out)
}

/// Audio-to-caption recall@1/5/10 among `ids`: every clip scored against every caption by
/// the matching head after co-attention.
fn retrieval(m: &Mulap, clips: &MusicClips, ids: &[usize], device: Device) -> Result<[f64; 3]> {
    let cfg = m.config();
    tch::no_grad(|| -> Result<[f64; 3]> {
        let idx = Tensor::from_slice(&ids.iter().map(|&i| i as i64).collect::<Vec<_>>());
        let tokens = clips.tokens.index_select(0, &idx).to_device(device);
        let (mut texts, mut audios) = (Vec::new(), Vec::new());
        for chunk in (0..ids.len()).collect::<Vec<_>>().chunks(64) {
            let sel: Vec<usize> = chunk.iter().map(|&k| ids[k]).collect();
            let (t, a) = m.streams(&clips.first_clips(&sel, cfg).to_device(device), &tokens.narrow(0, chunk[0] as i64, chunk.len() as i64))?;
            texts.push(t);
            audios.push(a);
        }
        let (text, audio) = (Tensor::cat(&texts, 0), Tensor::cat(&audios, 0));
        let padding = tokens.eq(ssl_audio::music::vocabulary::PAD);
        let n = ids.len() as i64;
        let mut hits = [0usize; 3];
        for i in 0..n {
            let a = audio.narrow(0, i, 1).expand([n, -1, -1], false).contiguous();
            let scores = m.joint_logits(text.shallow_clone(), a, &padding, false)?;
            let own = scores.double_value(&[i]);
            let rank = scores.gt(own).sum(Kind::Int64).int64_value(&[]) as usize;
            for (h, k) in hits.iter_mut().zip([1, 5, 10]) {
                *h += usize::from(rank < k);
            }
        }
        Ok(hits.map(|h| h as f64 / n as f64))
    })
}

pub fn run(a: Args) -> Result<()> {
    if !(a.test_fraction > 0.0 && a.test_fraction < 1.0) || a.seeds == 0 {
        bail!("--test-fraction must be in (0, 1) and --seeds at least 1");
    }
    let mut base: MulapPretrainConfig = match &a.config {
        Some(p) => ssl_core::config::read_toml(p)?,
        None => MulapPretrainConfig::default(),
    };
    base.data = a.data.clone();
    base.device = a.device.clone();
    if let Some(s) = a.steps {
        base.train.steps = s;
        base.train.warmup_steps = (s / 10).max(1);
    }
    if let Some(b) = a.batch_size {
        base.train.batch_size = b;
    }
    base.train.progress = !a.quiet;
    // One thread count for every run (libtorch's sums, and so the encoders, depend on it).
    if base.threads == 0 {
        base.threads = ssl_core::device::free_cores();
    }
    let device = ssl_core::device::setup_runtime(&base.device, base.threads)?;
    let started = Instant::now();
    let (clips, vocabulary) = read_music(&a.data, &base.model)?;
    base.vocab_size = vocabulary.size() as i64;
    base.validate()?;
    let clips = Rc::new(clips);
    // A fixed split of the tunes.
    let n = clips.len();
    let order = {
        use rand::seq::SliceRandom;
        let mut o: Vec<usize> = (0..n).collect();
        o.shuffle(&mut ssl_core::seed::rng(&[0x6d75, 0]));
        o
    };
    let n_test = ((n as f64 * a.test_fraction).round() as usize).clamp(1, n - 1);
    let (mut test, mut train) = (order[..n_test].to_vec(), order[n_test..].to_vec());
    test.sort_unstable();
    train.sort_unstable();
    let all: Vec<usize> = (0..n).collect();
    eprintln!(
        "mulap-experiment: {} tunes ({} for pre-training and the probes' training sets, {} held out), vocabulary {}",
        n,
        train.len(),
        test.len(),
        vocabulary.size()
    );

    let mut outcomes = Vec::new();
    let mut retrievals = Vec::new();
    outcomes.push(Outcome {
        encoder: "majority class (no learning)".into(),
        seed: None,
        accuracy: majority(&clips, &train, &test),
        train_seconds: 0.0,
        final_loss: None,
    });
    let stats = statistics(&clips, &all, &base.model);
    outcomes.push(Outcome {
        encoder: "log-mel statistics (no learning)".into(),
        seed: None,
        accuracy: probe_all(&stats, &clips, &train, &test, 0, a.probe_hidden)?,
        train_seconds: 0.0,
        final_loss: None,
    });
    std::fs::create_dir_all(&a.runs).with_context(|| format!("cannot create {}", a.runs.display()))?;
    for seed in 0..a.seeds {
        let mut cfg = base.clone();
        cfg.train.seed = seed;
        let (_vs, random) = build_untrained(&cfg, device)?;
        let feats = embed_tunes(&random, &clips, &all, device);
        let acc = probe_all(&feats, &clips, &train, &test, seed, a.probe_hidden)?;
        eprintln!("  random encoder, seed {seed}: {acc:.3?}");
        outcomes.push(Outcome { encoder: "random encoder (no learning)".into(), seed: Some(seed), accuracy: acc, train_seconds: 0.0, final_loss: None });
        for (row, folder) in [("audio-only contrastive", "contrastive"), ("MuLaP", "mulap")] {
            let mut cfg = cfg.clone();
            if folder == "contrastive" {
                cfg.model = cfg.model.audio_only_contrastive();
            }
            cfg.out = run_folder(&a.runs, folder, seed);
            if cfg.out.exists() {
                std::fs::remove_dir_all(&cfg.out).with_context(|| format!("cannot clear {}", cfg.out.display()))?;
            }
            let t0 = Instant::now();
            let summary = pretrain_on(&cfg, clips.clone(), train.clone(), Resume::from_flags(false, false))?;
            let seconds = t0.elapsed().as_secs_f64();
            let trained = load_trained(&cfg.out, device)?;
            let feats = embed_tunes(&trained.method, &clips, &all, device);
            let acc = probe_all(&feats, &clips, &train, &test, seed, a.probe_hidden)?;
            eprintln!("  {row}, seed {seed}: {acc:.3?} ({seconds:.0} s)");
            if folder == "mulap" {
                let recall = retrieval(&trained.method, &clips, &test, device)?;
                eprintln!("  MuLaP retrieval, seed {seed}: recall@1/5/10 {recall:.3?}");
                retrievals.push(Retrieval { seed, recall });
            }
            outcomes.push(Outcome { encoder: row.into(), seed: Some(seed), accuracy: acc, train_seconds: seconds, final_loss: Some(summary.final_loss) });
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let doc = markdown(&a, &base, &clips, train.len(), test.len(), &outcomes, &retrievals, wall);
    ssl_core::config::write_atomically(&a.doc, doc.as_bytes())?;
    let json = serde_json::json!({ "config": base, "tunes": n, "held_out": test.len(), "tasks": TASKS.map(|t| t.0), "outcomes": outcomes, "retrieval": retrievals, "wall_seconds": wall });
    ssl_core::config::write_atomically(&a.doc.with_extension("json"), serde_json::to_string_pretty(&json)?.as_bytes())?;
    print!("{}", table(&outcomes));
    println!("written: {} and {}", a.doc.display(), a.doc.with_extension("json").display());
    Ok(())
}

/// Rows in first-seen order with each task's accuracies over seeds.
fn rows(outcomes: &[Outcome]) -> Vec<(String, Vec<Vec<f64>>)> {
    let mut rows: Vec<(String, Vec<Vec<f64>>)> = Vec::new();
    for o in outcomes {
        let pos = rows.iter().position(|r| r.0 == o.encoder).unwrap_or_else(|| {
            rows.push((o.encoder.clone(), vec![Vec::new(); TASKS.len()]));
            rows.len() - 1
        });
        for (k, acc) in o.accuracy.iter().enumerate() {
            rows[pos].1[k].push(100.0 * acc);
        }
    }
    rows
}

fn table(outcomes: &[Outcome]) -> String {
    let mut s = String::from("| encoder | seeds |");
    for (t, classes) in TASKS {
        s += &format!(" {t} ({classes}) % |");
    }
    s += "\n|---|---|";
    s += &"---|".repeat(TASKS.len());
    s += "\n";
    for (name, accs) in rows(outcomes) {
        s += &format!("| {name} | {} |", accs[0].len());
        for a in &accs {
            let (m, sd) = mean_std(a);
            s += &format!(" {m:.1} ± {sd:.1} |");
        }
        s += "\n";
    }
    s
}

/// Per task: does MuLaP beat the contrastive encoder by more than the larger spread?
fn verdict(outcomes: &[Outcome]) -> String {
    let rows = rows(outcomes);
    let find = |n: &str| rows.iter().find(|r| r.0 == n);
    let (Some(c), Some(m), Some(r)) = (find("audio-only contrastive"), find("MuLaP"), find("random encoder (no learning)")) else { return String::new() };
    let mut s = String::new();
    for (k, (task, _)) in TASKS.iter().enumerate() {
        let ((cm, cs), (mm, ms), (rm, rs)) = (mean_std(&c.1[k]), mean_std(&m.1[k]), mean_std(&r.1[k]));
        let spread = cs.max(ms);
        let against = if mm - cm > spread {
            "above the contrastive encoder by more than the spread"
        } else if cm - mm > spread {
            "below the contrastive encoder by more than the spread"
        } else {
            "level with the contrastive encoder (within the spread)"
        };
        let random = if mm - rm > ms.max(rs) { "above" } else { "not above" };
        s += &format!("- {task}: MuLaP {mm:.1}% vs contrastive {cm:.1}% and random {rm:.1}%: {against}; {random} the random encoder.\n");
    }
    s
}

#[allow(clippy::too_many_arguments)]
fn markdown(
    a: &Args,
    base: &MulapPretrainConfig,
    clips: &MusicClips,
    n_train: usize,
    n_test: usize,
    outcomes: &[Outcome],
    retrievals: &[Retrieval],
    wall: f64,
) -> String {
    let m = &base.model;
    let t = &base.train;
    let mut s = String::from("# MuLaP: music-language pre-training on weakly captioned tunes\n\n");
    s += &format!(
        "Written by `ssl-audio mulap-experiment` (this run: `--seeds {} --test-fraction {} --probe-hidden {}{}`), {:.0} min on this machine ({} libtorch threads).\n\n",
        a.seeds,
        a.test_fraction,
        a.probe_hidden,
        a.steps.map(|v| format!(" --steps {v}")).unwrap_or_default(),
        wall / 60.0,
        base.threads
    );
    s += &format!(
        "**Data (real music, synthetic audio).** {} tunes of O'Neill's *Music of Ireland* from the music21 corpus (`datasets/fetch-music.sh`), \
         rendered from their ABC transcriptions with the TimGM6mb General MIDI soundfont (`render-music`, first 20 s, 16 kHz): the music and its \
         metadata are real, the recordings are generated. Captions come from the ABC headers (title, meter, key tonic, tempo and collector notes, \
         the collection); the rhythm, the mode and the instrument family the tune was rendered with are left out of them and are the downstream \
         tasks. {n_train} tunes pre-train every encoder (without labels) and train the probes; {n_test} are held out for the probes' test sets and \
         retrieval (a fixed split).\n\n",
        clips.len()
    );
    s += &format!(
        "**Model** (CPU-sized; the paper's is 96 bands, 3 s chunks and 6 + 6 layers of 256 / 768): {} log-mel bands (32 ms / 16 ms), clips of {} chunks \
         of {} frames; a Musicnn-style front end ({} + {} timbral filters over 70% / 40% of the bands, 3 x {} temporal filters of 129 / 65 / 33 frames, \
         a back end of 3 x {} channels with residuals, max + mean pooling) giving one vector per chunk; audio and caption transformers of {} layers \
         each at width {} ({} heads), {} co-attention layer(s). MuLaP's loss is {} MLM + {} MAM + {} ATM (the paper's weights): 15% of word pieces \
         masked (80 / 10 / 10), 15% of chunk vectors zeroed and regressed onto the unmasked, detached vectors (the official code's target is the \
         zeroed tensor itself), captions swapped with p 0.5 for matching. The audio-only contrastive encoder is the same audio stream trained with \
         NT-Xent (t = {}) between two random windows of each tune, nothing else. Both: {} steps of {} tunes, AdamW lr {} (betas 0.9 / 0.98, \
         weight decay 0.01, {} warm-up steps, cosine). The caption encoder starts from scratch (no pre-trained BERT can be downloaded). \
         The clip embedding is the audio transformer's `[AUD]` state of the tune's first window. Probes: {} on frozen, standardised \
         embeddings, trained with AdamW (epochs and weight decay chosen on 10% of the training tunes, never on the held-out ones).\n\n",
        m.bins,
        m.chunks,
        m.chunk_frames,
        m.timbre_filters,
        m.timbre_filters,
        m.temporal_filters,
        m.backend,
        m.audio_layers,
        m.d_model,
        m.heads,
        m.co_layers,
        m.mlm_weight,
        m.mam_weight,
        m.atm_weight,
        m.temperature,
        t.steps,
        t.batch_size,
        t.lr,
        t.warmup_steps,
        if a.probe_hidden > 0 {
            format!("a small MLP as in the paper (one ReLU layer of {} units, ssl-core's probe with `hidden`)", a.probe_hidden)
        } else {
            "ssl-core's linear probe".to_string()
        }
    );
    s += "Test accuracy of the probes (mean ± sd over seeds; the majority-class and statistics rows have one):\n\n";
    s += &table(outcomes);
    s += "\n";
    s += &verdict(outcomes);
    if !retrievals.is_empty() {
        let r: Vec<Vec<f64>> = (0..3).map(|k| retrievals.iter().map(|x| 100.0 * x.recall[k]).collect()).collect();
        let ms: Vec<(f64, f64)> = r.iter().map(|v| mean_std(v)).collect();
        s += &format!(
            "\n**Retrieval** (MuLaP's matching head, each held-out clip against all {n_test} held-out captions): recall@1 {:.1} ± {:.1}%, @5 {:.1} ± {:.1}%, \
             @10 {:.1} ± {:.1}% (chance {:.1}%, {:.1}%, {:.1}%).\n",
            ms[0].0,
            ms[0].1,
            ms[1].0,
            ms[1].1,
            ms[2].0,
            ms[2].1,
            100.0 / n_test as f64,
            500.0 / n_test as f64,
            1000.0 / n_test as f64
        );
    }
    s += "\n**Caveats.** The paper's claim is parity or better against the same backbone trained otherwise, on real recordings with real tags; \
          here the audio is a soundfont playing transcriptions, so timbre is one of ten General MIDI programs and there is no performance, \
          recording or mix. The captions name the meter, which goes far towards the rhythm (jigs are 6/8, slip jigs 9/8, reels and hornpipes 4/4 or 2/2), \
          so the rhythm task is partly told to MuLaP through its text; the mode and the instrument family are not.\n";
    s
}
