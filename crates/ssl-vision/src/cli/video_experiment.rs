//! One experiment per video method, each against its baseline on the split of the generated
//! motion benchmark that tests the method's claim, over seeds, next to raw pixels and random
//! encoders; the table goes to `docs/video-<method>.md`.
//!
//! - `ssvc`: MoCo v2 with and without static cue suppression on the static-bias split
//!   (training backgrounds tied to the class, test backgrounds random).
//! - `viewclr`: MoCo v2 with and without the learnable view generator on the cross-view split
//!   (trained on cameras at 0 and 25 degrees, tested at 55).
//! - `stc-mix`: STC-mix + CMMC against SimCLR at 25, 50 and 100 % of the training videos.
use super::video_common::{clip_blocks_png, pretrain_and_score, scores_table, supervised_row, LabelledClips, Preset, RuntimeArgs, ScoredRun, SizeArgs};
use anyhow::{bail, Context, Result};
use clap::Parser;
use ssl_core::eval::mean_std;
use ssl_vision::video::{fitted_flow, suppress_static, FlowConfig, FlowTrainConfig, MotionInput, SsvcConfig, VideoPretrainConfig, VideoScores, ViewClrConfig};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The method under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    Ssvc,
    Viewclr,
    StcMix,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Ssvc => "ssvc",
            Which::Viewclr => "viewclr",
            Which::StcMix => "stc-mix",
        }
    }
}

#[derive(Parser, Debug)]
pub struct Args {
    /// The method: ssvc, viewclr or stc-mix.
    #[arg(long, value_enum)]
    pub method: Which,
    /// The split (default: static-bias for ssvc, cross-view for viewclr, plain for stc-mix,
    /// under datasets/generated/motion).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The baseline method (default moco-v2; simclr for stc-mix).
    #[arg(long)]
    pub baseline: Option<String>,
    #[command(flatten)]
    pub size: SizeArgs,
    /// Seeds per arm.
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    /// Seeds of the supervised reference (the backbone trained on the labels; 0: none).
    #[arg(long, default_value_t = 1)]
    pub supervised_seeds: u64,
    /// Softmax temperature of both arms (default: 0.07 for ssvc as in its official code, else
    /// the methods' own).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// SSVC: latent dimensions with a temporal sd below this are static.
    #[arg(long, default_value_t = 0.5)]
    pub alpha: f64,
    /// SSVC: steps of fitting the flow on training frames.
    #[arg(long, default_value_t = 400)]
    pub flow_steps: usize,
    /// ViewCLR: largest camera rotation per axis, degrees.
    #[arg(long, default_value_t = 30.0)]
    pub max_angle: f64,
    /// ViewCLR: weight of the pull towards the original camera.
    #[arg(long, default_value_t = 0.1)]
    pub pull: f64,
    /// STC-mix: the motion stream's input.
    #[arg(long, value_enum, default_value_t = MotionArg::Flow)]
    pub motion: MotionArg,
    /// Shares of the training videos pre-trained on (stc-mix: 0.25,0.5,1; others: 1).
    #[arg(long, value_delimiter = ',')]
    pub fractions: Option<Vec<f64>>,
    #[arg(long, default_value = "runs/video-experiment")]
    pub out: PathBuf,
    /// The report (default `docs/video-<method>.md`); pictures go to `img/` beside it.
    #[arg(long)]
    pub doc: Option<PathBuf>,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// The motion input as a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MotionArg {
    Flow,
    RgbDiff,
}

/// Pre-training steps of `--method stc-mix` with `--preset cpu` unless `--steps` is given.
pub const STC_MIX_CPU_STEPS: usize = 60;

/// The two arms of the experiment at one size.
fn arms(a: &Args) -> Result<(VideoPretrainConfig, VideoPretrainConfig)> {
    let baseline = a.baseline.clone().unwrap_or_else(|| if a.method == Which::StcMix { "simclr".into() } else { "moco-v2".into() });
    // STC-mix runs three data shares x two arms x three seeds, and its step costs about three
    // of SimCLR's (two encoders, a mixed and a cross-modal pass): 60 steps keep the CPU
    // default near 20 minutes on 2 cores.
    let mut size = a.size.clone();
    if a.method == Which::StcMix && a.size.preset == Preset::Cpu && a.size.steps.is_none() {
        size.steps = Some(STC_MIX_CPU_STEPS);
    }
    let mut base = size.config(&baseline)?;
    let temperature = a.temperature.or(if a.method == Which::Ssvc { Some(0.07) } else { None });
    if let Some(t) = temperature {
        base.method_options.insert("temperature".into(), t.into());
    }
    let method = match a.method {
        Which::Ssvc => {
            let flow = FlowTrainConfig { flow: FlowConfig { size: base.size, ..FlowConfig::default() }, steps: a.flow_steps, ..FlowTrainConfig::default() };
            VideoPretrainConfig { ssvc: Some(SsvcConfig { alpha: a.alpha, flow, ..SsvcConfig::default() }), ..base.clone() }
        }
        Which::Viewclr => {
            VideoPretrainConfig { viewclr: Some(ViewClrConfig { max_angle: a.max_angle, pull: a.pull, ..ViewClrConfig::default() }), ..base.clone() }
        }
        Which::StcMix => {
            let mut m = size.config("stc-mix")?;
            let motion = match a.motion {
                MotionArg::Flow => MotionInput::Flow,
                MotionArg::RgbDiff => MotionInput::RgbDiff,
            };
            m.method_options.insert("motion".into(), serde_json::to_value(motion)?);
            if let Some(t) = a.temperature {
                m.method_options.insert("temperature".into(), t.into());
            }
            m
        }
    };
    method.validate()?;
    Ok((base, method))
}

pub fn run(a: Args) -> Result<()> {
    if a.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let device = a.runtime.setup()?;
    let (base, method) = arms(&a)?;
    let fractions = a.fractions.clone().unwrap_or_else(|| if a.method == Which::StcMix { vec![0.25, 0.5, 1.0] } else { vec![1.0] });
    if fractions.iter().any(|f| !(*f > 0.0 && *f <= 1.0)) {
        bail!("--fractions must lie in (0, 1], got {fractions:?}");
    }
    let data = a.data.clone().unwrap_or_else(|| {
        PathBuf::from("datasets/generated/motion").join(match a.method {
            Which::Ssvc => "static-bias",
            Which::Viewclr => "cross-view",
            Which::StcMix => "plain",
        })
    });
    let clips = LabelledClips::open(&data, &base)?;
    let t0 = Instant::now();
    let mut rows: Vec<(String, Vec<VideoScores>)> = vec![("raw pixels (centre clip, flattened)".into(), vec![clips.raw_scores()?])];
    let random = (0..a.seeds).map(|seed| clips.random_scores(&VideoPretrainConfig { seed, ..base.clone() }, device)).collect::<Result<Vec<_>>>()?;
    rows.push((format!("random {} (width {})", base.backbone, base.width), random));
    rows.extend(supervised_row(&base, &clips, a.supervised_seeds, &a.out.join(a.method.name()), device)?);
    let mut curves = Vec::new();
    let mut comparisons = Vec::new();
    for &fraction in &fractions {
        let train = if fraction < 1.0 { Arc::new(clips.train.subset(fraction, 0)?) } else { clips.train.clone() };
        if train.len() < base.batch {
            bail!("{:.0} % of {} is {} videos, fewer than a batch of {}", 100.0 * fraction, data.display(), train.len(), base.batch);
        }
        let share = if fractions.len() > 1 { format!(", {:.0} % of the videos ({})", 100.0 * fraction, train.len()) } else { String::new() };
        let mut arm_scores = Vec::new();
        for cfg in [&base, &method] {
            let mut runs: Vec<ScoredRun> = Vec::new();
            for seed in 0..a.seeds {
                let c = VideoPretrainConfig { seed, ..cfg.clone() };
                let dir = a.out.join(a.method.name()).join(format!("{}-f{:.0}-s{seed}", c.label(), 100.0 * fraction));
                runs.push(pretrain_and_score(&c, train.clone(), &clips, &dir, device)?);
            }
            if fraction == *fractions.last().unwrap_or(&1.0) {
                curves.push((format!("{} seed 0", cfg.label()), runs[0].curve.clone()));
            }
            let scores: Vec<VideoScores> = runs.into_iter().map(|r| r.scores).collect();
            rows.push((format!("{} pre-trained{share}", cfg.label()), scores.clone()));
            arm_scores.push(scores);
        }
        comparisons.push((fraction, arm_scores.remove(0), arm_scores.remove(0)));
    }

    let (train, test) = (&clips.train, &clips.test);
    let mut md = format!(
        "Data: {} (generated: see docs/video.md), {} training and {} test videos, {} classes. Clips of {} frames at stride {}, {} x {} px; {} on {} (width {}, small-input stem), {} steps of {} videos x 2 clips (AdamW, lr {}); {}. Baseline `{}`{}; method `{}`. Evaluation on the centre clip of each test video, frozen features: kNN (k 20, t 0.07), linear probe, retrieval against the training clips (recall@k). Mean ± sd over {} seeds per arm (raw pixels: one, deterministic; the supervised reference: {} seed(s)).\n\n\
         Command: `cargo run --release -p ssl-vision -- video-experiment --method {} --data {} {} --seeds {}{}`\n\n",
        data.display(),
        train.len(),
        test.len(),
        clips.classes(),
        base.frames,
        base.stride,
        base.size,
        base.size,
        base.method,
        base.backbone,
        base.width,
        base.steps,
        base.batch,
        base.lr,
        SizeArgs::augmentation_note(&base),
        base.method,
        options_note(&base),
        method.label(),
        a.seeds,
        a.supervised_seeds,
        a.method.name(),
        data.display(),
        a.size.flags(&base),
        a.seeds,
        method_flags(&a, &fractions),
    );
    md += &scores_table(&rows);
    writeln!(
        md,
        "\nChance is {:.1}%. Total time {:.0} s on {} ({} threads).\n",
        100.0 / clips.classes() as f64,
        t0.elapsed().as_secs_f64(),
        a.runtime.device,
        tch::get_num_threads()
    )?;
    writeln!(md, "Method minus baseline (means; a difference within the larger of the two arms' seed sd is no difference):\n")?;
    writeln!(md, "| videos | kNN | linear | R@1 | verdict on kNN |\n|---|---|---|---|---|")?;
    for (fraction, b, m) in &comparisons {
        let diff = |f: &dyn Fn(&VideoScores) -> f64| {
            let (mb, sb) = mean_std(&b.iter().map(f).collect::<Vec<_>>());
            let (mm, sm) = mean_std(&m.iter().map(f).collect::<Vec<_>>());
            (100.0 * (mm - mb), 100.0 * sb.max(sm))
        };
        let (knn, spread) = diff(&|s| s.knn);
        let verdict = if knn.abs() <= spread {
            "within the spread".to_string()
        } else if knn > 0.0 {
            "method better".to_string()
        } else {
            "baseline better".to_string()
        };
        writeln!(
            md,
            "| {:.0} % | {:+.1} (spread {:.1}) | {:+.1} | {:+.1} | {verdict} |",
            100.0 * fraction,
            knn,
            spread,
            diff(&|s| s.linear).0,
            diff(&|s| s.recall[0]).0
        )?;
    }
    let doc = a.doc.clone().unwrap_or_else(|| PathBuf::from(format!("docs/video-{}.md", a.method.name())));
    let img = doc.parent().unwrap_or(Path::new(".")).join("img");
    std::fs::create_dir_all(&img).with_context(|| format!("cannot create {}", img.display()))?;
    let curve_png = img.join(format!("video-{}-loss.png", a.method.name()));
    ssl_core::plots::loss_curves(&curve_png, &format!("{} vs {} on {} clips", method.label(), base.label(), base.backbone), &curves)?;
    writeln!(md, "\n![pre-training loss, seed 0 of each arm](img/{})", file_name(&curve_png))?;
    if a.method == Which::Ssvc {
        md += &ssvc_illustration(&a, &method, &clips, &img, device)?;
    }
    std::fs::write(&doc, &md).with_context(|| format!("cannot write {}", doc.display()))?;
    println!("{md}");
    println!("written to {}", doc.display());
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
}

fn options_note(cfg: &VideoPretrainConfig) -> String {
    let mut parts: Vec<String> = cfg.method_options.iter().map(|(k, v)| format!("{k} {v}")).collect();
    if cfg.method == "moco-v2" {
        parts.push(format!("queue {}", cfg.queue));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

fn method_flags(a: &Args, fractions: &[f64]) -> String {
    let mut f = String::new();
    if a.supervised_seeds != 1 {
        f += &format!(" --supervised-seeds {}", a.supervised_seeds);
    }
    if let Some(b) = &a.baseline {
        f += &format!(" --baseline {b}");
    }
    if let Some(t) = a.temperature {
        f += &format!(" --temperature {t}");
    }
    match a.method {
        Which::Ssvc => f += &format!(" --alpha {} --flow-steps {}", a.alpha, a.flow_steps),
        Which::Viewclr => f += &format!(" --max-angle {} --pull {}", a.max_angle, a.pull),
        Which::StcMix => {
            f += &format!(" --motion {}", if a.motion == MotionArg::Flow { "flow" } else { "rgb-diff" });
            f += &format!(" --fractions {}", fractions.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","));
        }
    }
    f
}

/// What suppression does with the seed-0 flow: the share of latent dimensions found static
/// on the training centre clips, the flow's fit, and two clips before and after.
fn ssvc_illustration(a: &Args, method: &VideoPretrainConfig, clips: &LabelledClips, img: &Path, device: tch::Device) -> Result<String> {
    let Some(s) = &method.ssvc else { return Ok(String::new()) };
    let dir = a.out.join(a.method.name()).join(format!("{}-f100-s0", method.label()));
    let flow = fitted_flow(s, &clips.train, method, &dir, device)?;
    let n = clips.xtr.size()[0].min(64);
    let sample = clips.xtr.narrow(0, 0, n).to_device(device);
    let (suppressed, stats) = suppress_static(&flow, &sample, s.alpha)?;
    let nll: Vec<f64> = serde_json::from_str(
        &std::fs::read_to_string(dir.join("flow-nll.json")).with_context(|| format!("cannot read {}", dir.join("flow-nll.json").display()))?,
    )?;
    let png = img.join("video-ssvc-suppression.png");
    let rows: Vec<tch::Tensor> = (0..2).flat_map(|i| [sample.get(i * (n / 2)), suppressed.get(i * (n / 2))]).collect();
    clip_blocks_png(&png, &[rows])?;
    Ok(format!(
        "\nThe seed-0 flow ({} steps; NLL {:.3} -> {:.3} nats per dimension) finds {:.1} % of the latent dimensions static (temporal sd < {}) over {n} training centre clips. Two training clips (rows 1 and 3) and their motion-preserved versions (rows 2 and 4), first channel:\n\n![suppression](img/{})\n",
        nll.len(),
        nll.first().copied().unwrap_or(f64::NAN),
        nll.last().copied().unwrap_or(f64::NAN),
        100.0 * stats.suppressed,
        s.alpha,
        file_name(&png)
    ))
}
