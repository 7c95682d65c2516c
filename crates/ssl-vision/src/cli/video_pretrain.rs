//! Pre-trains a video encoder on a folder of videos (frame folders, or video files with the
//! `video` feature; labels unused): any registered method on clip views of a 3-D backbone,
//! optionally with SSVC's static cue suppression or ViewCLR's view generator; resumable.
use super::video_common::{RuntimeArgs, SizeArgs};
use anyhow::{Context, Result};
use clap::Parser;
use ssl_core::train::{MetricsLog, Resume};
use ssl_vision::video::{pretrain_video, FlowConfig, FlowTrainConfig, SsvcConfig, VideoFolder, VideoPretrainConfig, ViewClrConfig};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser, Debug)]
pub struct Args {
    /// Videos: `<video>/<frames>` or `<class>/<video>/<frames>` (or video files in their place).
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, default_value_t = VideoPretrainConfig::default().method)]
    pub method: String,
    #[command(flatten)]
    pub size: SizeArgs,
    /// SSVC: suppress static cues in the second clip (MoCo's key) with a flow fitted first.
    #[arg(long)]
    pub ssvc: bool,
    /// SSVC's threshold on the latent dimensions' temporal sd.
    #[arg(long, default_value_t = 0.5)]
    pub alpha: f64,
    /// SSVC: steps of fitting the flow.
    #[arg(long, default_value_t = 400)]
    pub flow_steps: usize,
    /// ViewCLR: re-render the first clip with the learnable virtual camera.
    #[arg(long)]
    pub viewclr: bool,
    /// The method's softmax temperature (its own default otherwise).
    #[arg(long)]
    pub temperature: Option<f64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Leave out videos that cannot be read or are shorter than a clip, and report them.
    #[arg(long)]
    pub skip_bad: bool,
    #[arg(long, default_value = "runs/video-pretrain")]
    pub out: PathBuf,
    /// Continue the run in --out from its newest checkpoint.
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

pub fn run(a: Args) -> Result<()> {
    let device = a.runtime.setup()?;
    let mut cfg = VideoPretrainConfig { seed: a.seed, ..a.size.config(&a.method)? };
    if let Some(t) = a.temperature {
        cfg.method_options.insert("temperature".into(), t.into());
    }
    if a.ssvc {
        let flow = FlowTrainConfig { flow: FlowConfig { size: cfg.size, ..FlowConfig::default() }, steps: a.flow_steps, ..FlowTrainConfig::default() };
        cfg.ssvc = Some(SsvcConfig { alpha: a.alpha, flow, ..SsvcConfig::default() });
    }
    if a.viewclr {
        cfg.viewclr = Some(ViewClrConfig::default());
    }
    cfg.validate()?;
    let mut set = VideoFolder::open(&a.data, a.skip_bad)?;
    set.require_frames(cfg.clip().span(), a.skip_bad)?;
    for s in &set.skipped {
        eprintln!("skipped {s}");
    }
    let resume = if a.resume { Resume::Latest } else { Resume::No };
    let (_, _, summary) = pretrain_video(&cfg, Arc::new(set), &a.out, device, resume)?;
    let curve = MetricsLog::read_losses(&a.out.join("metrics.jsonl"))?;
    let png = a.out.join("loss.png");
    ssl_core::plots::loss_curves(&png, &format!("{} on {} clips", cfg.label(), cfg.backbone), &[(cfg.label(), curve)])
        .with_context(|| format!("cannot draw {}", png.display()))?;
    println!(
        "{}: {} steps, loss {:.4} -> {:.4}, {:.1} videos/s; checkpoint {}; loss curve {}",
        cfg.label(),
        summary.steps,
        summary.first_loss.unwrap_or(f64::NAN),
        summary.final_loss,
        summary.samples_per_second,
        summary.checkpoint.display(),
        png.display()
    );
    Ok(())
}
