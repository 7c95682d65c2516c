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
