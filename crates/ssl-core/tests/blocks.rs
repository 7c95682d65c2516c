//! Backbones keep torchvision's parameter names and shapes; momentum copies follow the
//! EMA rule and the cosine schedule.
use ssl_core::blocks::{cosine_momentum, global_average_pool, BackboneConfig, MomentumCopy};
use ssl_core::Registry;
use std::collections::BTreeMap;
use tch::{nn, Device, Kind, Tensor};

#[test]
fn resnets_have_torchvision_names_and_shapes() {
    let fixture: serde_json::Value = serde_json::from_str(include_str!("fixtures/torchvision_resnet.json")).unwrap();
    for name in ["resnet18", "resnet34"] {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = BackboneConfig::new(name, 3).with_shape(1, 3).with_small_image_stem(false);
        let net = Registry::core().build_backbone(&vs.root(), &cfg).unwrap();
        let ours: BTreeMap<String, Vec<i64>> = vs.variables().into_iter().map(|(k, v)| (k, v.size())).collect();
        let theirs: BTreeMap<String, Vec<i64>> =
            fixture[name].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_array().unwrap().iter().map(|d| d.as_i64().unwrap()).collect())).collect();
        assert_eq!(ours, theirs, "{name}: names or shapes differ from torchvision");
        let y = net.forward_t(&Tensor::zeros([2, 3, 64, 64], (Kind::Float, Device::Cpu)), false);
        assert_eq!(y.size(), [2, 512]);
        // Multi-scale maps for decoders: stem, then each stage at half the resolution.
        let maps = net.feature_maps(&Tensor::zeros([2, 3, 64, 64], (Kind::Float, Device::Cpu)), false).unwrap();
        let shapes: Vec<Vec<i64>> = maps.iter().map(|m| m.size()).collect();
        assert_eq!(shapes, vec![vec![2, 64, 32, 32], vec![2, 64, 16, 16], vec![2, 128, 8, 8], vec![2, 256, 4, 4], vec![2, 512, 2, 2]]);
        assert_eq!(net.feature_channels(), vec![64, 64, 128, 256, 512]);
        assert!(global_average_pool(&maps[4]).allclose(&y, 1e-6, 1e-6, false), "the pooled vector is the mean of the last map");
    }
}

#[test]
fn pooling_takes_any_number_of_trailing_dimensions() {
    let clip = Tensor::arange(2 * 3 * 4 * 5 * 6, (Kind::Float, Device::Cpu)).view([2, 3, 4, 5, 6]);
    let pooled = global_average_pool(&clip);
    assert_eq!(pooled.size(), [2, 3]);
    assert!((pooled.double_value(&[0, 0]) - clip.get(0).get(0).mean(Kind::Float).double_value(&[])).abs() < 1e-4);
    let seq = Tensor::ones([2, 8, 100], (Kind::Float, Device::Cpu));
    assert_eq!(global_average_pool(&seq).size(), [2, 8]);
    assert_eq!(global_average_pool(&Tensor::ones([2, 8], (Kind::Float, Device::Cpu))).size(), [2, 8]);
}

#[test]
fn small_image_stem_keeps_resolution_and_takes_any_channels() {
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = BackboneConfig::new("resnet18", 1).with_shape(1, 3);
    let reg = Registry::core();
    let net = reg.build_backbone(&vs.root(), &cfg).unwrap();
    let conv1 = vs.variables()["conv1.weight"].size();
    assert_eq!(conv1, [64, 1, 3, 3]);
    assert_eq!(net.forward_t(&Tensor::rand([3, 1, 32, 32], (Kind::Float, Device::Cpu)), true).size(), [3, 512]);
    let vs = nn::VarStore::new(Device::Cpu);
    let small = reg.build_backbone(&vs.root(), &BackboneConfig::new("small-convnet", 3).with_shape(8, 3)).unwrap();
    assert_eq!(small.out_dim(), 32);
    assert_eq!(small.forward_t(&Tensor::rand([2, 3, 28, 28], (Kind::Float, Device::Cpu)), false).size(), [2, 32]);
    assert_eq!(small.feature_maps(&Tensor::rand([2, 3, 28, 28], (Kind::Float, Device::Cpu)), false).unwrap().last().unwrap().size(), [2, 32, 7, 7]);
    // Four stages: widths 8-16-32-64, the last at 3x3; maps of 1 px are not pooled further.
    let vs4 = nn::VarStore::new(Device::Cpu);
    let four = reg.build_backbone(&vs4.root(), &BackboneConfig::new("small-convnet", 1).with_shape(8, 4)).unwrap();
    assert_eq!((four.out_dim(), four.feature_channels()), (64, vec![8, 16, 32, 64]));
    let maps = four.feature_maps(&Tensor::rand([2, 1, 28, 28], (Kind::Float, Device::Cpu)), false).unwrap();
    assert_eq!(maps.iter().map(|m| m.size()[2]).collect::<Vec<_>>(), [28, 14, 7, 3]);
    assert_eq!(four.forward_t(&Tensor::rand([2, 1, 4, 4], (Kind::Float, Device::Cpu)), false).size(), [2, 64]);
    assert!(vs4.variables().contains_key("conv4.weight"));
    assert!(reg.build_backbone(&vs.root(), &BackboneConfig::new("small-convnet", 0)).is_err());
    assert!(reg.build_backbone(&vs.root(), &BackboneConfig::default().with_shape(32, 0)).is_err());
    assert!(reg.build_backbone(&vs.root(), &BackboneConfig::default().with_shape(32, 7)).is_err());
    let err = reg.build_backbone(&vs.root(), &BackboneConfig::new("resnet19", 3)).unwrap_err().to_string();
    assert!(err.contains("resnet19") && err.contains("small-convnet"), "{err}");
}

#[test]
fn momentum_copy_follows_the_ema_rule() {
    let online = nn::VarStore::new(Device::Cpu);
    let w = online.root().f_var_copy("w", &Tensor::from_slice(&[1.0f32, 2.0])).unwrap();
    let (copy, _) = MomentumCopy::new(&online, |p| p.f_zeros("w", &[2]).unwrap()).unwrap();
    tch::no_grad(|| w.shallow_clone().copy_(&Tensor::from_slice(&[3.0f32, 4.0])));
    copy.update(0.9);
    let t = &copy.state()[0].1;
    // t = 0.9 * [1, 2] + 0.1 * [3, 4]
    assert!((t.double_value(&[0]) - 1.2).abs() < 1e-6 && (t.double_value(&[1]) - 2.2).abs() < 1e-6);
    assert!(!t.requires_grad(), "the target is frozen");
    assert!((cosine_momentum(0.99, 0.0) - 0.99).abs() < 1e-12);
    assert!((cosine_momentum(0.99, 0.5) - 0.995).abs() < 1e-12);
    assert!((cosine_momentum(0.99, 1.0) - 1.0).abs() < 1e-12);
}

mod transformer {
    use ssl_core::blocks::{MultiHeadAttention, TransformerLayer};
    use tch::{nn, Device, Kind, Tensor};

    /// Sets every projection of the attention under `prefix` to the identity with no bias.
    fn identity_projections(vs: &nn::VarStore, prefix: &str) {
        tch::no_grad(|| {
            for (name, mut t) in vs.variables() {
                if !name.starts_with(prefix) {
                    continue;
                }
                if name.ends_with("weight") {
                    let d = t.size()[0];
                    t.copy_(&Tensor::eye(d, (Kind::Float, Device::Cpu)));
                } else {
                    let _ = t.zero_();
                }
            }
        });
    }

    #[test]
    fn attention_is_the_softmax_of_scaled_dot_products_and_ignores_padded_keys() {
        let vs = nn::VarStore::new(Device::Cpu);
        let att = MultiHeadAttention::new(&(vs.root() / "att"), 4, 2).unwrap();
        identity_projections(&vs, "att");
        let q = Tensor::randn([2, 3, 4], (Kind::Float, Device::Cpu));
        let c = Tensor::randn([2, 5, 4], (Kind::Float, Device::Cpu));
        let out = att.forward(&q, &c, None).unwrap();
        // By hand, head by head (channels 0-1 and 2-3), with identity projections.
        for (h, range) in [(0, 0..2), (1, 2..4)] {
            let (qh, ch) = (q.narrow(2, range.start, 2), c.narrow(2, range.start, 2));
            let w = (qh.matmul(&ch.transpose(1, 2)) / 2f64.sqrt()).softmax(-1, Kind::Float);
            let expected = w.matmul(&ch);
            let got = out.narrow(2, range.start, 2);
            assert!(f64::try_from((got - expected).abs().max()).unwrap() < 1e-5, "head {h}");
        }
        // Padded keys take no part: changing them changes nothing.
        let pad = Tensor::from_slice(&[false, false, true, false, true, false, false, false, false, true]).view([2, 5]);
        let a = att.forward(&q, &c, Some(&pad)).unwrap();
        let c2 = c.shallow_clone() + pad.unsqueeze(-1).to_kind(Kind::Float) * 100.0;
        let b = att.forward(&q, &c2, Some(&pad)).unwrap();
        assert!(f64::try_from((&a - &b).abs().max()).unwrap() < 1e-5);
        assert!(f64::try_from((&a - &out).abs().max()).unwrap() > 1e-3, "the mask changed nothing");
        // Bad shapes and an all-padding row are errors.
        assert!(att.forward(&q, &Tensor::zeros([2, 5, 3], (Kind::Float, Device::Cpu)), None).is_err());
        assert!(att.forward(&q, &c, Some(&Tensor::ones([2, 5], (Kind::Bool, Device::Cpu)))).is_err());
        assert!(att.forward(&q, &c, Some(&Tensor::zeros([2, 4], (Kind::Bool, Device::Cpu)))).is_err());
        assert!(MultiHeadAttention::new(&(vs.root() / "bad"), 6, 4).is_err());
    }

    #[test]
    fn a_transformer_layer_keeps_shapes_and_every_weight_gets_a_gradient() {
        let vs = nn::VarStore::new(Device::Cpu);
        let layer = TransformerLayer::new(&(vs.root() / "layer"), 8, 2, 16, 0.1).unwrap();
        let names: Vec<String> = vs.variables().into_keys().collect();
        for n in ["layer.attn.q_proj.weight", "layer.attn.out_proj.bias", "layer.norm1.weight", "layer.fc2.weight"] {
            assert!(names.iter().any(|m| m == n), "{n} missing from {names:?}");
        }
        let x = Tensor::randn([3, 4, 8], (Kind::Float, Device::Cpu));
        let ctx = Tensor::randn([3, 6, 8], (Kind::Float, Device::Cpu));
        let y = layer.forward(&x, None, None, true).unwrap();
        assert_eq!(y.size(), [3, 4, 8]);
        let z = layer.forward(&x, Some(&ctx), None, true).unwrap();
        assert_eq!(z.size(), [3, 4, 8]);
        (y.square().mean(Kind::Float) + z.square().mean(Kind::Float)).backward();
        for (name, t) in vs.variables() {
            let g = t.grad();
            assert!(g.defined() && f64::try_from(g.abs().sum(Kind::Float)).unwrap() > 0.0, "{name} has no gradient");
        }
        // Without dropout (evaluation) the output is deterministic.
        let e1 = layer.forward(&x, None, None, false).unwrap();
        let e2 = layer.forward(&x, None, None, false).unwrap();
        assert!(e1.equal(&e2));
        assert!(TransformerLayer::new(&(vs.root() / "bad"), 8, 2, 16, 1.0).is_err());
    }
}
