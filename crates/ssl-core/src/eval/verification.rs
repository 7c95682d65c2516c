//! Verification metrics of scored trials (same speaker / object or not): the equal error
//! rate, the minimum normalised detection cost (NIST SRE), and bootstrap confidence
//! intervals of both.
use anyhow::{bail, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The detection cost's parameters; the default is the common speaker-verification one
/// (`p_target` 0.01, unit costs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DcfParams {
    /// Prior probability of a target trial.
    pub p_target: f64,
    /// Cost of a miss (a target rejected).
    pub c_miss: f64,
    /// Cost of a false alarm (a non-target accepted).
    pub c_fa: f64,
}

impl Default for DcfParams {
    fn default() -> Self {
        Self { p_target: 0.01, c_miss: 1.0, c_fa: 1.0 }
    }
}

impl DcfParams {
    /// Unit costs with prior `p_target`.
    pub fn with_p_target(p_target: f64) -> Self {
        Self { p_target, ..Self::default() }
    }
}

/// Miss and false-alarm rates at every threshold between distinct scores, lowest
/// threshold first (everything accepted: miss 0, false alarm 1).
fn error_curve(target: &[f64], nontarget: &[f64]) -> Vec<(f64, f64)> {
    let mut all: Vec<(f64, bool)> = target.iter().map(|&s| (s, true)).chain(nontarget.iter().map(|&s| (s, false))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (nt, nn) = (target.len() as f64, nontarget.len() as f64);
    let (mut misses, mut rejected_non) = (0usize, 0usize);
    let mut curve = vec![(0.0, 1.0)];
    let mut i = 0;
    while i < all.len() {
        // Trials with equal scores fall on the same side of any threshold.
        let score = all[i].0;
        while i < all.len() && all[i].0 == score {
            if all[i].1 {
                misses += 1;
            } else {
                rejected_non += 1;
            }
            i += 1;
        }
        curve.push((misses as f64 / nt, 1.0 - rejected_non as f64 / nn));
    }
    curve
}

/// The detection error trade-off: `(miss rate, false-alarm rate)` at every threshold between
/// distinct scores, lowest threshold first, from `(0, 1)` to `(1, 0)` (what a DET plot draws).
pub fn det_curve(target: &[f64], nontarget: &[f64]) -> Result<Vec<(f64, f64)>> {
    check(target, nontarget)?;
    Ok(error_curve(target, nontarget))
}

fn check(target: &[f64], nontarget: &[f64]) -> Result<()> {
    if target.is_empty() || nontarget.is_empty() {
        bail!("verification needs target and non-target trials, got {} and {}", target.len(), nontarget.len());
    }
    if let Some(s) = target.iter().chain(nontarget).find(|s| !s.is_finite()) {
        bail!("a trial score is {s}: scores must be finite");
    }
    Ok(())
}

/// The equal error rate: where the miss rate (targets below the threshold) meets the
/// false-alarm rate (non-targets at or above it), interpolated linearly between the two
/// thresholds around the crossing.
pub fn equal_error_rate(target: &[f64], nontarget: &[f64]) -> Result<f64> {
    check(target, nontarget)?;
    let curve = error_curve(target, nontarget);
    for w in curve.windows(2) {
        let ((m1, f1), (m2, f2)) = (w[0], w[1]);
        let (d1, d2) = (m1 - f1, m2 - f2);
        if d1 <= 0.0 && d2 >= 0.0 {
            if d2 == d1 {
                return Ok(m1);
            }
            let t = -d1 / (d2 - d1);
            return Ok(m1 + t * (m2 - m1));
        }
    }
    unreachable!("the miss rate goes from 0 to 1 and the false-alarm rate from 1 to 0")
}

/// The minimum over thresholds of the detection cost
/// `c_miss p_target P_miss + c_fa (1 - p_target) P_fa`, divided by the cost of the best
/// decision without scores, `min(c_miss p_target, c_fa (1 - p_target))`.
pub fn min_dcf(target: &[f64], nontarget: &[f64], params: DcfParams) -> Result<f64> {
    check(target, nontarget)?;
    let DcfParams { p_target, c_miss, c_fa } = params;
    if !(p_target > 0.0 && p_target < 1.0) {
        bail!("p_target must be in (0, 1), not {p_target}");
    }
    let norm = (c_miss * p_target).min(c_fa * (1.0 - p_target));
    let best = error_curve(target, nontarget).into_iter().map(|(m, f)| c_miss * p_target * m + c_fa * (1.0 - p_target) * f).fold(f64::INFINITY, f64::min);
    Ok(best / norm)
}

/// A metric with its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WithInterval {
    /// The value on all trials.
    pub value: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
}

/// EER and minDCF of a trial list with percentile bootstrap intervals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VerificationReport {
    /// Equal error rate (a fraction).
    pub eer: WithInterval,
    /// Minimum normalised detection cost.
    pub min_dcf: WithInterval,
    /// Target and non-target trials.
    pub trials: (usize, usize),
}

/// EER and minDCF with `level` (e.g. 0.95) intervals from `resamples` bootstrap
/// resamples of the trials (targets and non-targets resampled separately, so each draw
/// keeps both counts), drawn from `rng`.
pub fn verification_report(
    target: &[f64],
    nontarget: &[f64],
    params: DcfParams,
    resamples: usize,
    level: f64,
    rng: &mut impl Rng,
) -> Result<VerificationReport> {
    check(target, nontarget)?;
    if !(level > 0.0 && level < 1.0) || resamples < 2 {
        bail!("a bootstrap needs a level in (0, 1) and at least 2 resamples, got {level} and {resamples}");
    }
    let (eer, dcf) = (equal_error_rate(target, nontarget)?, min_dcf(target, nontarget, params)?);
    let draw = |scores: &[f64], rng: &mut dyn rand::RngCore| -> Vec<f64> { (0..scores.len()).map(|_| scores[rng.random_range(0..scores.len())]).collect() };
    let (mut eers, mut dcfs) = (Vec::with_capacity(resamples), Vec::with_capacity(resamples));
    for _ in 0..resamples {
        let (t, n) = (draw(target, rng), draw(nontarget, rng));
        eers.push(equal_error_rate(&t, &n)?);
        dcfs.push(min_dcf(&t, &n, params)?);
    }
    let interval = |mut v: Vec<f64>, value: f64| {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
        WithInterval { value, low: at((1.0 - level) / 2.0), high: at((1.0 + level) / 2.0) }
    };
    Ok(VerificationReport { eer: interval(eers, eer), min_dcf: interval(dcfs, dcf), trials: (target.len(), nontarget.len()) })
}
