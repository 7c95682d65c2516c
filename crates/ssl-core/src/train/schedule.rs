//! Learning-rate schedule: linear warm-up, then cosine decay.

/// Learning rate at `step` (0-based) of `total`: linear warm-up from `base / warmup` to
/// `base` over `warmup` steps, then cosine decay to `base * min_ratio` at the last step.
pub fn warmup_cosine(base: f64, step: usize, total: usize, warmup: usize, min_ratio: f64) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let t = ((step - warmup) as f64 / span).min(1.0);
    base * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_linearly_then_decays_to_the_floor() {
        assert!((warmup_cosine(1.0, 0, 100, 10, 0.0) - 0.1).abs() < 1e-12);
        assert!((warmup_cosine(1.0, 9, 100, 10, 0.0) - 1.0).abs() < 1e-12);
        assert!((warmup_cosine(1.0, 10, 100, 10, 0.0) - 1.0).abs() < 1e-12);
        assert!((warmup_cosine(1.0, 55, 100, 10, 0.0) - 0.5).abs() < 1e-12);
        assert!((warmup_cosine(2.0, 100, 100, 10, 0.1) - 0.2).abs() < 1e-12);
        let mut prev = f64::INFINITY;
        for s in 10..100 {
            let lr = warmup_cosine(1.0, s, 100, 10, 0.0);
            assert!(lr <= prev);
            prev = lr;
        }
    }

    #[test]
    fn no_warmup_starts_at_base() {
        assert!((warmup_cosine(0.3, 0, 50, 0, 0.0) - 0.3).abs() < 1e-12);
    }
}
