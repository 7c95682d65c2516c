//! Objectives: analytic cases, finite-difference gradients, and a cross-check of value
//! and gradient against an independent PyTorch computation (fixtures written by
//! `tests/reference/objectives_reference.py`).
use serde_json::Value;
use ssl_core::objectives::*;
use ssl_core::uota::uota_weights;
use tch::{Kind, Tensor};

fn fixture() -> Vec<Value> {
    let text = include_str!("fixtures/objectives.json");
    let v: Value = serde_json::from_str(text).expect("fixture is valid JSON");
    v["cases"].as_array().expect("cases").clone()
}

fn tensor(v: &Value) -> Tensor {
    let shape: Vec<i64> = v["shape"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
    let data: Vec<f64> = v["data"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    Tensor::from_slice(&data).view(shape.as_slice())
}

fn flat(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn to_vec(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{what}[{i}]: got {g}, want {w}");
    }
}

/// Evaluates one fixture case with our implementation; returns (loss, inputs by name).
fn evaluate(case: &Value) -> (Tensor, Vec<(String, Tensor)>) {
    let inputs: Vec<(String, Tensor)> = case["inputs"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), tensor(v).set_requires_grad(true))).collect();
    let get = |n: &str| inputs.iter().find(|(k, _)| k == n).unwrap().1.shallow_clone();
    let p = |n: &str| case["params"][n].as_f64().unwrap();
    let loss = match case["objective"].as_str().unwrap() {
        "nt_xent" => nt_xent(&get("z1"), &get("z2"), p("temperature")),
        "moco_infonce" => moco_infonce(&get("q"), &get("k"), &get("queue"), p("temperature")),
        "moco_v3" => moco_v3(&get("q"), &get("k"), p("temperature")),
        "byol" => byol(&get("p"), &get("z")),
        "simsiam" => simsiam(&get("p1"), &get("p2"), &get("z1"), &get("z2")),
        "barlow_twins" => barlow_twins(&get("z1"), &get("z2"), p("lambda")),
        "vicreg" => vicreg(&get("z1"), &get("z2"), VicRegWeights { sim: p("sim_coeff"), std: p("std_coeff"), cov: p("cov_coeff") }),
        "unigrad" => unigrad(&get("z1"), &get("z2m"), &get("F"), p("lambda")),
        "nac" => nac(&get("u1"), &get("u2"), &get("l1"), &get("l2"), &get("flip"), p("p")),
        "swav" => {
            let views = p("n_views") as i64;
            let scores = get("scores");
            let n = scores.size()[0] / views;
            let per_view: Vec<Tensor> = (0..views).map(|v| scores.narrow(0, v * n, n)).collect();
            let queues: Vec<Tensor> =
                (0..p("n_global") as usize).filter_map(|i| inputs.iter().find(|(k, _)| *k == format!("queue{i}")).map(|(_, t)| t.shallow_clone())).collect();
            swav(&per_view, p("n_global") as usize, p("temperature"), p("epsilon"), p("iterations") as usize, &queues)
        }
        "uota_weights" => {
            let w = uota_weights(&get("z"), p("n_global") as i64, p("tau"), p("eps")).unwrap();
            Ok((w * get("per_view_loss")).mean(None))
        }
        other => panic!("unknown objective {other}"),
    }
    .unwrap();
    (loss, inputs)
}

#[test]
fn every_objective_matches_pytorch_in_value_and_gradient() {
    let cases = fixture();
    assert!(cases.len() >= 25, "fixture lost cases");
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let (loss, inputs) = evaluate(case);
        assert_close(&format!("{name} loss"), &[loss.double_value(&[])], &[case["loss"].as_f64().unwrap()], 1e-9);
        loss.backward();
        for (input, want) in case["grads"].as_object().unwrap() {
            let t = &inputs.iter().find(|(k, _)| k == input).unwrap().1;
            let g = t.grad();
            let got = if g.defined() { to_vec(&g) } else { vec![0.0; t.numel()] };
            assert_close(&format!("{name} d/d{input}"), &got, &flat(want), 1e-8);
        }
    }
}

#[test]
fn sinkhorn_codes_match_pytorch_and_spread_the_batch_over_the_prototypes() {
    let cases: Vec<Value> = fixture().into_iter().filter(|c| c["objective"] == "swav").collect();
    assert_eq!(cases.len(), 3);
    for case in &cases {
        let scores = tensor(&case["inputs"]["scores"]);
        let n = scores.size()[0] / case["params"]["n_views"].as_f64().unwrap() as i64;
        let q = sinkhorn_knopp(&scores.narrow(0, 0, n), 0.05, 3).unwrap();
        assert_close("sinkhorn codes", &to_vec(&q), &flat(&case["codes"]), 1e-9);
    }
    // Each sample's codes sum to 1; with enough iterations every prototype gets B/K.
    let scores = randn(&[12, 4], 5) * 0.3;
    let q = sinkhorn_knopp(&scores, 0.05, 50).unwrap();
    assert_close("rows", &to_vec(&q.sum_dim_intlist([1i64].as_slice(), false, Kind::Double)), &[1.0; 12], 1e-9);
    assert_close("prototype use", &to_vec(&q.sum_dim_intlist([0i64].as_slice(), false, Kind::Double)), &[3.0; 4], 1e-6);
    assert!(sinkhorn_knopp(&scores, 0.0, 3).is_err() && sinkhorn_knopp(&scores.view([48]), 0.05, 3).is_err());
    // Two views: each view's column is the cross entropy of the other's codes.
    let (a, b) = (randn(&[6, 5], 1), randn(&[6, 5], 2));
    let pv = swav_per_view(&[a.shallow_clone(), b.shallow_clone()], 2, 0.1, 0.05, 3, &[]).unwrap();
    let qa = sinkhorn_knopp(&a, 0.05, 3).unwrap();
    let ce = -(qa * (&b / 0.1).log_softmax(1, Kind::Double)).sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
    assert_close("column of view 2", &to_vec(&pv.select(1, 1)), &to_vec(&ce), 1e-9);
    assert!(swav_per_view(&[a.shallow_clone()], 1, 0.1, 0.05, 3, &[]).is_err(), "one view is an error");
}

#[test]
fn uota_weights_match_pytorch() {
    for case in fixture().iter().filter(|c| c["objective"] == "uota_weights") {
        let z = tensor(&case["inputs"]["z"]);
        let p = |n: &str| case["params"][n].as_f64().unwrap();
        let w = uota_weights(&z, p("n_global") as i64, p("tau"), p("eps")).unwrap();
        assert_close(case["name"].as_str().unwrap(), &to_vec(&w), &flat(&case["weights"]), 1e-9);
        // Weights are a rescaled softmax: they sum to N*M.
        assert!((w.sum(Kind::Double).double_value(&[]) - z.size()[0] as f64 * z.size()[1] as f64).abs() < 1e-9);
    }
}

#[test]
fn unigrad_correlation_update_matches_pytorch() {
    for case in fixture().iter().filter(|c| c["objective"] == "unigrad") {
        let f = tensor(&case["inputs"]["F"]);
        let rho = case["params"]["rho"].as_f64().unwrap();
        let mut corr = UniGradCorrelation { f, rho, initialised: true };
        corr.update(&tensor(&case["extra_inputs"]["z1m"]), &tensor(&case["inputs"]["z2m"])).unwrap();
        assert_close("F_next", &to_vec(&corr.f), &flat(&case["F_next"]), 1e-10);
    }
}

#[test]
fn unigrad_symmetric_loss_matches_pytorch() {
    for case in fixture().iter().filter(|c| c["objective"] == "unigrad") {
        let get = |n: &str| tensor(&case["inputs"].get(n).or(case["extra_inputs"].get(n)).unwrap().clone());
        let (z1, z2) = (get("z1").set_requires_grad(true), get("z2").set_requires_grad(true));
        let f = get("F");
        let lambda = case["params"]["lambda"].as_f64().unwrap();
        let loss = (unigrad(&z1, &get("z2m"), &f, lambda).unwrap() + unigrad(&z2, &get("z1m"), &f, lambda).unwrap()) * 0.5;
        assert_close("loss_symmetric", &[loss.double_value(&[])], &[case["loss_symmetric"].as_f64().unwrap()], 1e-9);
        loss.backward();
        assert_close("grad z1", &to_vec(&z1.grad()), &flat(&case["grads_symmetric"]["z1"]), 1e-8);
        assert_close("grad z2", &to_vec(&z2.grad()), &flat(&case["grads_symmetric"]["z2"]), 1e-8);
    }
}

fn randn(shape: &[i64], seed: i64) -> Tensor {
    tch::manual_seed(seed);
    Tensor::randn(shape, (Kind::Double, tch::Device::Cpu))
}

#[test]
fn nt_xent_of_identical_embeddings_is_log_2n_minus_1() {
    for n in [2i64, 5, 16] {
        // All 2N embeddings equal: every logit is the same, whatever the temperature.
        let z = Tensor::ones([n, 8], (Kind::Double, tch::Device::Cpu));
        for t in [0.1, 0.5] {
            let loss = nt_xent(&z, &z, t).unwrap().double_value(&[]);
            assert!((loss - ((2 * n - 1) as f64).ln()).abs() < 1e-9, "n={n} t={t}: {loss}");
        }
    }
}

#[test]
fn nt_xent_rewards_aligned_views() {
    let z1 = randn(&[32, 16], 3);
    let noise = randn(&[32, 16], 4) * 0.05;
    let aligned = nt_xent(&z1, &(&z1 + &noise), 0.1).unwrap().double_value(&[]);
    let shuffled = nt_xent(&z1, &randn(&[32, 16], 5), 0.1).unwrap().double_value(&[]);
    assert!(aligned < 0.5 && shuffled > 2.0, "aligned {aligned}, shuffled {shuffled}");
}

#[test]
fn negative_cosine_objectives_on_identical_views() {
    let z = randn(&[10, 6], 7);
    assert!(byol(&z, &z).unwrap().double_value(&[]).abs() < 1e-12);
    assert!((byol(&z, &(-&z)).unwrap().double_value(&[]) - 4.0).abs() < 1e-12);
    assert!((simsiam(&z, &z, &z, &z).unwrap().double_value(&[]) + 1.0).abs() < 1e-12);
}

#[test]
fn barlow_twins_of_identical_decorrelated_inputs_is_zero() {
    // Columns of a scaled orthogonal matrix: zero mean, unit variance, uncorrelated.
    let n = 8;
    let h = Tensor::from_slice(&[
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0,
        1.0, -1.0, -1.0, 1.0,
    ])
    .view([4, n])
    .transpose(0, 1)
    .narrow(1, 1, 3);
    let loss = barlow_twins(&h, &h, BARLOW_TWINS_LAMBDA).unwrap().double_value(&[]);
    // Only BatchNorm's eps (1e-5) keeps the diagonal from being exactly 1.
    assert!(loss < 1e-8, "{loss}");
    let swapped = barlow_twins(&h, &(-&h), BARLOW_TWINS_LAMBDA).unwrap().double_value(&[]);
    assert!((swapped - 12.0).abs() < 1e-3, "anti-correlated: (1-(-1))^2 * 3 = 12, got {swapped}");
}

#[test]
fn vicreg_terms_separately() {
    let z = randn(&[64, 4], 9) * 3.0;
    // Identical, spread, nearly uncorrelated: only the covariance term is left, and it is small.
    let w = VicRegWeights { sim: 25.0, std: 25.0, cov: 0.0 };
    assert!(vicreg(&z, &z, w).unwrap().double_value(&[]).abs() < 1e-12);
    // Collapsed to a constant: std term is 25 * (0.5 + 0.5) * (1 - 0.01) = 24.75.
    let c = Tensor::ones([16, 4], (Kind::Double, tch::Device::Cpu));
    let collapsed = vicreg(&c, &c, VicRegWeights::default()).unwrap().double_value(&[]);
    assert!((collapsed - 24.75).abs() < 1e-9, "{collapsed}");
}

#[test]
fn moco_prefers_the_positive_key() {
    let q = randn(&[8, 16], 11);
    let queue = l2_normalize(&randn(&[64, 16], 12));
    let good = moco_infonce(&q, &q, &queue, 0.1).unwrap().double_value(&[]);
    let bad = moco_infonce(&q, &randn(&[8, 16], 13), &queue, 0.1).unwrap().double_value(&[]);
    assert!(good < bad);
    assert!(moco_infonce(&q, &q, &randn(&[64, 3], 1), 0.1).is_err(), "queue width mismatch must be an error");
}

#[test]
fn wrong_shapes_are_errors_not_panics() {
    let a = randn(&[4, 3], 1);
    let b = randn(&[5, 3], 2);
    assert!(nt_xent(&a, &b, 0.1).is_err());
    assert!(barlow_twins(&a, &b, 0.1).is_err());
    assert!(vicreg(&a, &randn(&[4], 3), VicRegWeights::default()).is_err());
    assert!(byol(&a, &b).is_err());
    assert!(unigrad(&a, &a, &randn(&[2, 2], 1), 1.0).is_err());
    assert!(uota_weights(&a, 1, 1.0, 1e-8).is_err());
    let err = barlow_twins(&randn(&[1, 3], 1), &randn(&[1, 3], 2), 0.1).unwrap_err().to_string();
    assert!(err.contains("at least 2"), "{err}");
}

/// Central finite differences of `f` w.r.t. input `i` of `xs`.
fn numeric_grad(xs: &[Tensor], i: usize, f: &impl Fn(&[Tensor]) -> Tensor) -> Vec<f64> {
    let h = 1e-6;
    let base = to_vec(&xs[i]);
    (0..base.len())
        .map(|j| {
            let eval = |delta: f64| {
                let mut v = base.clone();
                v[j] += delta;
                let mut args: Vec<Tensor> = xs.iter().map(|t| t.detach()).collect();
                args[i] = Tensor::from_slice(&v).view(xs[i].size().as_slice());
                f(&args).double_value(&[])
            };
            (eval(h) - eval(-h)) / (2.0 * h)
        })
        .collect()
}

/// Autograd against central finite differences, on every coordinate of every input.
fn gradcheck(name: &str, inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Tensor) {
    let xs: Vec<Tensor> = inputs.iter().map(|t| t.to_kind(Kind::Double).set_requires_grad(true)).collect();
    f(&xs).backward();
    for (i, x) in xs.iter().enumerate() {
        assert_close(&format!("{name} input {i}"), &to_vec(&x.grad()), &numeric_grad(&xs, i, &f), 1e-5);
    }
}

#[test]
fn gradients_match_finite_differences() {
    let (a, b, c) = (randn(&[5, 4], 21), randn(&[5, 4], 22), randn(&[5, 4], 23));
    let queue = l2_normalize(&randn(&[6, 4], 24));
    gradcheck("nt_xent", &[a.copy(), b.copy()], |x| nt_xent(&x[0], &x[1], 0.3).unwrap());
    gradcheck("barlow_twins", &[a.copy(), b.copy()], |x| barlow_twins(&x[0], &x[1], 0.0051).unwrap());
    gradcheck("vicreg", &[a.copy(), b.copy()], |x| vicreg(&x[0], &x[1], VicRegWeights::default()).unwrap());
    // Objectives with stop-gradient: differentiate only the inputs that carry gradient.
    gradcheck("moco_infonce", &[a.copy()], |x| moco_infonce(&x[0], &b, &queue, 0.2).unwrap());
    gradcheck("moco_v3", &[a.copy()], |x| moco_v3(&x[0], &b, 0.2).unwrap());
    gradcheck("byol", &[a.copy()], |x| byol(&x[0], &b).unwrap());
    gradcheck("simsiam", &[a.copy(), b.copy()], |x| simsiam(&x[0], &x[1], &c, &a).unwrap());
    let (u1, u2) = (randn(&[4, 3], 31), randn(&[4, 3], 32));
    let (l1, l2) = (randn(&[4, 3], 33), randn(&[4, 3], 34));
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(35);
    let flip = nac_flip_mask([8, 3], 0.3, &mut rng, tch::Device::Cpu).to_kind(Kind::Double);
    gradcheck("nac", &[u1, u2, l1, l2], |x| nac(&x[0], &x[1], &x[2], &x[3], &flip, 0.1).unwrap());
}

#[test]
fn unigrad_gradient_is_its_target_through_the_normalisation() {
    // The surrogate detaches its target T = -ẑ2m + λ ẑ1 F, so its gradient is that of the
    // linear function <T, normalize(z1)>/N with T frozen at the current point.
    let (a, b, c) = (randn(&[5, 4], 41), randn(&[5, 4], 42), randn(&[5, 4], 43));
    let f = {
        let m = l2_normalize(&c);
        m.transpose(0, 1).matmul(&m) / 5.0
    };
    let z1 = a.copy().set_requires_grad(true);
    unigrad(&z1, &b, &f, 10.0).unwrap().backward();
    let target = -l2_normalize(&b) + l2_normalize(&a).matmul(&f) * 10.0;
    let linear = |x: &[Tensor]| (&target * l2_normalize(&x[0])).sum(Kind::Double) / 5.0;
    assert_close("unigrad", &to_vec(&z1.grad()), &numeric_grad(&[a], 0, &linear), 1e-5);
}
