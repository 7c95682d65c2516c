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
