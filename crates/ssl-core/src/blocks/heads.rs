//! MLP projector and predictor heads.
use serde::{Deserialize, Serialize};
use tch::{nn, nn::Module, Tensor};

/// Shape of an MLP head: `in -> hidden (x layers-1) -> out`, Linear-BN-ReLU on hidden layers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MlpConfig {
    /// Width of the hidden layers.
    pub hidden: i64,
    /// Width of the output (the last linear layer).
    pub out: i64,
    /// Number of linear layers (2 for SimCLR / BYOL, 3 for Barlow Twins / VICReg / SimSiam).
    pub layers: usize,
    /// BatchNorm (without affine parameters) after the last linear layer, as SimSiam's projector.
    pub last_bn: bool,
}

impl MlpConfig {
    /// SimCLR / BYOL / MoCo v2 projector: two layers.
    pub fn projector2(hidden: i64, out: i64) -> Self {
        Self { hidden, out, layers: 2, last_bn: false }
    }

    /// Barlow Twins / VICReg / MoCo v3 / UniGrad projector: three layers.
    pub fn projector3(hidden: i64, out: i64) -> Self {
        Self { hidden, out, layers: 3, last_bn: false }
    }

    /// SimSiam projector: three layers and a BatchNorm on the output.
    pub fn simsiam_projector(hidden: i64, out: i64) -> Self {
        Self { hidden, out, layers: 3, last_bn: true }
    }

    /// BYOL / MoCo v3 predictor: two layers back to the projection width.
    pub fn predictor(hidden: i64, out: i64) -> Self {
        Self { hidden, out, layers: 2, last_bn: false }
    }

    /// SimSiam predictor: a bottleneck of a quarter of the projection width.
    pub fn bottleneck_predictor(out: i64) -> Self {
        Self { hidden: (out / 4).max(1), out, layers: 2, last_bn: false }
    }
}

/// A stack of linear layers with BatchNorm + ReLU between them.
#[derive(Debug)]
pub struct Mlp {
    linears: Vec<nn::Linear>,
    norms: Vec<nn::BatchNorm>,
    last_bn: Option<nn::BatchNorm>,
}

impl Mlp {
    /// The head under `p` for inputs of width `in_dim`: `linear{i}` and `bn{i}` layers, plus `bn_out`
    /// when `cfg.last_bn` is set.
    pub fn new(p: &nn::Path, in_dim: i64, cfg: MlpConfig) -> Self {
        let layers = cfg.layers.max(1);
        let mut linears = Vec::new();
        let mut norms = Vec::new();
        let mut d = in_dim;
        for i in 0..layers {
            let last = i + 1 == layers;
            let out = if last { cfg.out } else { cfg.hidden };
            // Hidden layers are followed by BN, which makes their bias redundant.
            let lin_cfg = nn::LinearConfig { bias: last, ..Default::default() };
            linears.push(nn::linear(p / format!("linear{i}"), d, out, lin_cfg));
            if !last {
                norms.push(nn::batch_norm1d(p / format!("bn{i}"), out, Default::default()));
            }
            d = out;
        }
        let last_bn = cfg.last_bn.then(|| {
            let bn_cfg = nn::BatchNormConfig { affine: false, ..Default::default() };
            nn::batch_norm1d(p / "bn_out", cfg.out, bn_cfg)
        });
        Self { linears, norms, last_bn }
    }

    /// Output `[N, out]` of inputs `[N, in_dim]`; `train` selects batch statistics in the BatchNorms.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut x = x.shallow_clone();
        for (i, lin) in self.linears.iter().enumerate() {
            x = lin.forward(&x);
            if let Some(bn) = self.norms.get(i) {
                x = x.apply_t(bn, train).relu();
            }
        }
        match &self.last_bn {
            Some(bn) => x.apply_t(bn, train),
            None => x,
        }
    }
}
