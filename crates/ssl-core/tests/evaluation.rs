//! kNN, linear probe and PCA on data whose answers are known.
use ssl_core::eval::{knn_accuracy, linear_probe, pca_2d, KnnConfig, LinearProbeConfig};
use tch::{Device, Kind, Tensor};

/// Train and test samples of `classes` well-separated Gaussian clusters in `dim`
/// dimensions (a local generator: tests running in parallel share libtorch's).
fn clusters(n_train: i64, n_test: i64, classes: i64, dim: i64, spread: f64, seed: u64) -> (Tensor, Tensor, Tensor, Tensor) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    // Box-Muller transform of two uniforms.
    let mut normal = |n: i64| -> Vec<f32> {
        (0..n).map(|_| ((-2.0 * (1.0 - rng.random::<f64>()).ln()).sqrt() * (std::f64::consts::TAU * rng.random::<f64>()).cos()) as f32).collect()
    };
    let centres = Tensor::from_slice(&normal(classes * dim)).view([classes, dim]) * 5.0;
    let mut split = |per: i64| {
        let labels = Tensor::arange(classes, (Kind::Int64, Device::Cpu)).repeat_interleave_self_int(per, 0, None);
        let noise = Tensor::from_slice(&normal(classes * per * dim)).view([classes * per, dim]);
        (centres.index_select(0, &labels) + noise * spread, labels)
    };
    let (xtr, ytr) = split(n_train);
    let (xte, yte) = split(n_test);
    (xtr, ytr, xte, yte)
}

/// The default probe settings with `change` applied.
fn probe(change: impl FnOnce(&mut LinearProbeConfig)) -> LinearProbeConfig {
    let mut cfg = LinearProbeConfig::default();
    change(&mut cfg);
    cfg
}
#[test]
fn knn_separates_clusters_and_fails_on_noise() {
    let (xtr, ytr, xte, yte) = clusters(50, 20, 4, 16, 0.5, 1);
    let cfg = KnnConfig::new(20, 0.1);
    assert!(knn_accuracy(&xtr, &ytr, &xte, &yte, cfg).unwrap() > 0.99);
    // Random labels on the test side: near chance (0.25).
    let shuffled = yte.index_select(0, &Tensor::randperm(80, (Kind::Int64, Device::Cpu)));
    assert!(knn_accuracy(&xtr, &ytr, &xte, &shuffled, cfg).unwrap() < 0.6);
    assert!(knn_accuracy(&xtr, &ytr, &xte.narrow(1, 0, 3), &yte, cfg).is_err(), "dimension mismatch is an error");
}

#[test]
fn knn_weighted_vote_by_hand() {
    // Two training points of class 0 near the query, one of class 1 exactly on it.
    let xtr = Tensor::from_slice(&[1.0f32, 0.0, 0.9, 0.1, 0.9, -0.1]).view([3, 2]);
    let ytr = Tensor::from_slice(&[1i64, 0, 0]);
    let q = Tensor::from_slice(&[1.0f32, 0.0]).view([1, 2]);
    // k = 1: the nearest is class 1.
    assert_eq!(knn_accuracy(&xtr, &ytr, &q, &Tensor::from_slice(&[1i64]), KnnConfig::new(1, 0.1).with_chunk(8)).unwrap(), 1.0);
    // k = 3, mild temperature: the two near ones outvote the exact match.
    let two_near = knn_accuracy(&xtr, &ytr, &q, &Tensor::from_slice(&[0i64]), KnnConfig::new(3, 1.0).with_chunk(8)).unwrap();
    assert_eq!(two_near, 1.0);
    // Very low temperature: the exact match dominates the vote.
    let sharp = knn_accuracy(&xtr, &ytr, &q, &Tensor::from_slice(&[1i64]), KnnConfig::new(3, 0.001).with_chunk(8)).unwrap();
    assert_eq!(sharp, 1.0);
}

#[test]
fn linear_probe_learns_a_linear_rule() {
    let (xtr, ytr, xte, yte) = clusters(100, 30, 3, 8, 0.5, 3);
    let r = linear_probe(&xtr, &ytr, &xte, &yte, &probe(|c| (c.epochs, c.batch_size) = (20, 32))).unwrap();
    assert!(r.test_accuracy > 0.95 && r.train_accuracy > 0.95, "{r:?}");
    assert!(linear_probe(&xtr, &ytr.narrow(0, 0, 5), &xte, &yte, &Default::default()).is_err());
}

#[test]
fn linear_probe_chooses_on_a_validation_split_never_on_the_test_set() {
    // Overlapping clusters: the probes differ by seed, and the test set is noisy.
    let (xtr, ytr, xte, yte) = clusters(200, 100, 4, 16, 3.0, 7);
    let cfg = probe(|c| (c.epochs, c.weight_decays, c.seeds) = (8, vec![0.0, 0.5], 3));
    let r = linear_probe(&xtr, &ytr, &xte, &yte, &cfg).unwrap();
    assert_eq!(r.runs.iter().map(|p| p.seed).collect::<Vec<_>>(), [0, 1, 2]);
    let tests: Vec<f64> = r.runs.iter().map(|p| p.test_accuracy).collect();
    let (mean, std) = ssl_core::eval::mean_std(&tests);
    assert!((r.test_accuracy - mean).abs() < 1e-12 && (r.test_accuracy_std - std).abs() < 1e-12, "{r:?}");
    assert!(r.runs.iter().all(|p| (1..=8).contains(&p.epochs) && cfg.weight_decays.contains(&p.weight_decay)), "{r:?}");
    // Scrambled test labels change the test scores but not a single choice.
    let scrambled = yte.index_select(0, &Tensor::randperm(400, (Kind::Int64, Device::Cpu)));
    let s = linear_probe(&xtr, &ytr, &xte, &scrambled, &cfg).unwrap();
    for (a, b) in r.runs.iter().zip(&s.runs) {
        assert_eq!((a.weight_decay, a.epochs, a.val_accuracy, a.train_accuracy), (b.weight_decay, b.epochs, b.val_accuracy, b.train_accuracy));
    }
    assert!(s.test_accuracy < 0.5 && r.test_accuracy > 0.6, "{} vs {}", s.test_accuracy, r.test_accuracy);
    // Bad settings are named.
    for bad in [probe(|c| c.val_fraction = 0.0), probe(|c| c.seeds = 0), probe(|c| c.weight_decays = vec![]), probe(|c| c.weight_decays = vec![f64::NAN])] {
        let err = linear_probe(&xtr, &ytr, &xte, &yte, &bad).unwrap_err().to_string();
        assert!(err.contains("linear probe"), "{err}");
    }
}

/// Points uniform in the square `[-1, 1]^2`, labelled by the XOR of their signs: no
/// linear rule beats chance, one ReLU layer separates them.
fn xor(n: i64, seed: u64) -> (Tensor, Tensor) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<f32> = (0..2 * n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let y: Vec<i64> = x.chunks(2).map(|p| i64::from((p[0] > 0.0) != (p[1] > 0.0))).collect();
    (Tensor::from_slice(&x).view([n, 2]), Tensor::from_slice(&y))
}

#[test]
fn mlp_probe_learns_what_a_linear_probe_cannot() {
    let ((xtr, ytr), (xte, yte)) = (xor(800, 11), xor(400, 12));
    let cfg = probe(|c| (c.epochs, c.batch_size, c.seeds) = (30, 64, 2));
    let linear = linear_probe(&xtr, &ytr, &xte, &yte, &cfg).unwrap();
    assert!(linear.test_accuracy < 0.7, "a linear rule cannot separate XOR: {linear:?}");
    let mlp = linear_probe(&xtr, &ytr, &xte, &yte, &cfg.clone().with_hidden(32)).unwrap();
    assert!(mlp.test_accuracy > 0.9 && mlp.train_accuracy > 0.9, "{mlp:?}");
    assert_eq!(mlp.runs.len(), 2);
    // Hidden units change nothing about the protocol: the choice stays on the validation split.
    let scrambled = yte.index_select(0, &Tensor::randperm(400, (Kind::Int64, Device::Cpu)));
    let s = linear_probe(&xtr, &ytr, &xte, &scrambled, &cfg.with_hidden(32)).unwrap();
    for (a, b) in mlp.runs.iter().zip(&s.runs) {
        assert_eq!((a.weight_decay, a.epochs, a.val_accuracy), (b.weight_decay, b.epochs, b.val_accuracy));
    }
}

#[test]
fn mean_and_sample_spread() {
    assert_eq!(ssl_core::eval::mean_std(&[1.0, 2.0, 3.0]), (2.0, 1.0));
    assert_eq!(ssl_core::eval::mean_std(&[4.0]), (4.0, 0.0));
    assert!(ssl_core::eval::mean_std(&[]).0.is_nan());
}

#[test]
fn pca_finds_the_dominant_direction() {
    tch::manual_seed(5);
    let t = Tensor::randn([200, 1], (Kind::Double, Device::Cpu));
    let x = Tensor::cat(&[&t * 10.0, Tensor::randn([200, 3], (Kind::Double, Device::Cpu)) * 0.1], 1);
    let p = pca_2d(&x).unwrap();
    assert_eq!(p.size(), [200, 2]);
    let first_var = p.select(1, 0).var(true).double_value(&[]);
    let second_var = p.select(1, 1).var(true).double_value(&[]);
    assert!(first_var > 50.0 && second_var < 0.1, "{first_var} {second_var}");
}

mod verification {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use ssl_core::eval::{det_curve, equal_error_rate, min_dcf, verification_report, DcfParams};

    fn gaussian(n: usize, mean: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
        (0..n).map(|_| mean + (-2.0 * (1.0 - rng.random::<f64>()).ln()).sqrt() * (std::f64::consts::TAU * rng.random::<f64>()).cos()).collect()
    }

    /// Miss and false-alarm rates straight from the definition, at every candidate threshold.
    fn brute_force(target: &[f64], non: &[f64]) -> Vec<(f64, f64)> {
        let mut thresholds: Vec<f64> = target.iter().chain(non).copied().collect();
        thresholds.push(f64::INFINITY);
        thresholds
            .iter()
            .map(|&th| {
                let miss = target.iter().filter(|&&s| s < th).count() as f64 / target.len() as f64;
                let fa = non.iter().filter(|&&s| s >= th).count() as f64 / non.len() as f64;
                (miss, fa)
            })
            .collect()
    }

    #[test]
    fn separated_scores_have_no_errors_and_identical_ones_are_chance() {
        assert_eq!(equal_error_rate(&[3.0, 4.0], &[1.0, 2.0]).unwrap(), 0.0);
        assert_eq!(min_dcf(&[3.0, 4.0], &[1.0, 2.0], DcfParams::default()).unwrap(), 0.0);
        // Reversed: every decision is wrong until all are rejected or accepted.
        assert_eq!(equal_error_rate(&[1.0, 2.0], &[3.0, 4.0]).unwrap(), 1.0);
        // Same scores for both: EER 0.5, and minDCF 1 (no threshold beats deciding without scores).
        assert!((equal_error_rate(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]).unwrap() - 0.5).abs() < 1e-12);
        assert!((min_dcf(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0], DcfParams::default()).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn gaussian_scores_give_the_analytic_eer_and_min_dcf_matches_brute_force() {
        // Targets N(2, 1), non-targets N(0, 1): EER = Phi(-1) = 0.158655.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (t, n) = (gaussian(20000, 2.0, &mut rng), gaussian(20000, 0.0, &mut rng));
        let eer = equal_error_rate(&t, &n).unwrap();
        assert!((eer - 0.158655).abs() < 0.006, "EER {eer}");
        let p = DcfParams::with_p_target(0.05);
        let brute = brute_force(&t[..500], &n[..700])
            .into_iter()
            .map(|(m, f)| p.c_miss * p.p_target * m + p.c_fa * (1.0 - p.p_target) * f)
            .fold(f64::INFINITY, f64::min)
            / (p.c_miss * p.p_target).min(p.c_fa * (1.0 - p.p_target));
        let ours = min_dcf(&t[..500], &n[..700], p).unwrap();
        assert!((ours - brute).abs() < 1e-12, "{ours} vs {brute}");
        // The EER lies between the miss and false-alarm rates at the crossing.
        let curve = brute_force(&t[..500], &n[..700]);
        let below = curve.iter().filter(|(m, f)| m <= f).map(|(m, _)| *m).fold(0.0, f64::max);
        let above = curve.iter().filter(|(m, f)| m >= f).map(|(m, _)| *m).fold(1.0, f64::min);
        let e = equal_error_rate(&t[..500], &n[..700]).unwrap();
        assert!(below <= e && e <= above, "{below} <= {e} <= {above}");
    }

    #[test]
    fn the_det_curve_is_the_brute_force_trade_off_from_accept_all_to_reject_all() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // Ties between and within the classes (rounded scores).
        let t: Vec<f64> = gaussian(300, 1.0, &mut rng).iter().map(|s| (s * 4.0).round() / 4.0).collect();
        let n: Vec<f64> = gaussian(400, 0.0, &mut rng).iter().map(|s| (s * 4.0).round() / 4.0).collect();
        let det = det_curve(&t, &n).unwrap();
        assert_eq!(det.first(), Some(&(0.0, 1.0)));
        assert_eq!(det.last(), Some(&(1.0, 0.0)));
        for w in det.windows(2) {
            assert!(w[1].0 >= w[0].0 && w[1].1 <= w[0].1 && w[1] != w[0], "{w:?}");
        }
        let brute = brute_force(&t, &n);
        for &(m, f) in &det {
            assert!(brute.iter().any(|&(bm, bf)| (bm - m).abs() < 1e-12 && (bf - f).abs() < 1e-12), "({m}, {f}) is no threshold's error pair");
        }
        // One point per distinct score, plus accepting everything.
        let mut distinct: Vec<f64> = t.iter().chain(&n).copied().collect();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        assert_eq!(det.len(), distinct.len() + 1);
        assert!(det_curve(&t, &[]).is_err());
    }

    #[test]
    fn bootstrap_intervals_hold_the_estimate_shrink_with_trials_and_repeat_with_the_seed() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (t, n) = (gaussian(4000, 2.0, &mut rng), gaussian(4000, 0.0, &mut rng));
        let small = verification_report(&t[..200], &n[..200], DcfParams::default(), 200, 0.95, &mut ChaCha8Rng::seed_from_u64(2)).unwrap();
        let large = verification_report(&t, &n, DcfParams::default(), 200, 0.95, &mut ChaCha8Rng::seed_from_u64(2)).unwrap();
        for r in [&small, &large] {
            assert!(r.eer.low <= r.eer.value && r.eer.value <= r.eer.high, "{r:?}");
            assert!(r.min_dcf.low <= r.min_dcf.value && r.min_dcf.value <= r.min_dcf.high, "{r:?}");
        }
        assert!(large.eer.high - large.eer.low < 0.6 * (small.eer.high - small.eer.low), "{small:?} {large:?}");
        assert_eq!(large.trials, (4000, 4000));
        let again = verification_report(&t[..200], &n[..200], DcfParams::default(), 200, 0.95, &mut ChaCha8Rng::seed_from_u64(2)).unwrap();
        assert_eq!(small, again);
    }

    #[test]
    fn empty_or_non_finite_trials_and_bad_parameters_are_errors() {
        assert!(equal_error_rate(&[], &[1.0]).unwrap_err().to_string().contains("target and non-target"));
        assert!(equal_error_rate(&[f64::NAN], &[1.0]).unwrap_err().to_string().contains("finite"));
        assert!(min_dcf(&[1.0], &[0.0], DcfParams::with_p_target(1.5)).unwrap_err().to_string().contains("p_target"));
        assert!(verification_report(&[1.0], &[0.0], DcfParams::default(), 1, 0.95, &mut ChaCha8Rng::seed_from_u64(0)).is_err());
    }
}
