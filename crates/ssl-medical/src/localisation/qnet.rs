//! The agent's Q-network: four 3-D convolutions (32, 32, 64, 64 channels, the first three
//! followed by 2x max-pooling) and fully connected layers of 512, 256 and 128, as in the
//! DQN landmark and box agents of rl-medical; with the dueling head (a state value plus
//! action advantages with their mean removed) or a plain one.
use super::env::ACTIONS;
use anyhow::{bail, Result};
use tch::{nn, nn::Module, Tensor};

/// Q-values of the [`ACTIONS`] actions from observations `[N, H, P, P, P]`.
#[derive(Debug)]
pub struct QNet {
    convs: Vec<nn::Conv3D>,
    fcs: Vec<nn::Linear>,
    value: Option<nn::Linear>,
    advantage: nn::Linear,
    side: i64,
    history: i64,
}

impl QNet {
    /// A network under `p` for `history` frames of `side`^3 voxels (`side` a multiple of 8).
    pub fn new(p: &nn::Path, history: i64, side: i64, dueling: bool) -> Result<Self> {
        if side < 8 || side % 8 != 0 || history < 1 {
            bail!("q-network: the observed cube's side must be a positive multiple of 8 and the history at least 1, got {side} and {history}");
        }
        let conv = nn::ConvConfig { padding: 1, ..Default::default() };
        let widths = [history, 32, 32, 64, 64];
        let convs = (0..4).map(|i| nn::conv3d(p / format!("conv{i}"), widths[i], widths[i + 1], 3, conv)).collect();
        let flat = 64 * (side / 8).pow(3);
        let dims = [flat, 512, 256, 128];
        let fcs = (0..3).map(|i| nn::linear(p / format!("fc{i}"), dims[i], dims[i + 1], Default::default())).collect();
        let value = dueling.then(|| nn::linear(p / "value", 128, 1, Default::default()));
        let advantage = nn::linear(p / "advantage", 128, ACTIONS, Default::default());
        Ok(Self { convs, fcs, value, advantage, side, history })
    }

    /// Q-values `[N, ACTIONS]`, on the network's device (observations made on the CPU are
    /// moved there).
    pub fn forward(&self, obs: &Tensor) -> Result<Tensor> {
        let s = obs.size();
        if s.len() != 5 || s[1] != self.history || s[2..] != [self.side; 3] {
            bail!("q-network: observations must be [N, {}, {s2}, {s2}, {s2}], got {s:?}", self.history, s2 = self.side);
        }
        let mut x = match self.convs.first() {
            Some(c) => obs.to_device(c.ws.device()),
            None => obs.shallow_clone(),
        };
        for (i, c) in self.convs.iter().enumerate() {
            x = c.forward(&x).relu();
            if i < 3 {
                x = x.max_pool3d([2, 2, 2], [2, 2, 2], [0, 0, 0], [1, 1, 1], false);
            }
        }
        let mut h = x.flatten(1, -1);
        for fc in &self.fcs {
            h = fc.forward(&h).relu();
        }
        let adv = self.advantage.forward(&h);
        Ok(match &self.value {
            Some(v) => v.forward(&h) + &adv - adv.mean_dim(-1, true, adv.kind()),
            None => adv,
        })
    }
}
