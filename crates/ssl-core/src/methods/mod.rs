//! The methods, one file each, and the registry that finds them by name.

mod barlow_twins;
mod byol;
mod common;
mod moco;
mod nac;
mod simclr;
mod simsiam;
mod unigrad;
mod vicreg;

pub use common::{MethodConfig, Online};

use crate::method::Method;
use anyhow::{bail, Result};
use tch::nn;

/// A registered method: its name, a one-line summary and its constructor.
pub struct MethodSpec {
    pub name: &'static str,
    pub summary: &'static str,
    /// Whether its loss decomposes per view (so UOTA can reweight it).
    pub per_view: bool,
    pub build: fn(&nn::VarStore, &MethodConfig) -> Result<Box<dyn Method>>,
}

/// Every method the toolkit knows, in the order of the objectives table.
pub const METHODS: &[MethodSpec] = &[
    MethodSpec { name: "simclr", summary: "SimCLR: NT-Xent between two views", per_view: true, build: simclr::build },
    MethodSpec { name: "moco-v2", summary: "MoCo v2: InfoNCE against a queue, momentum key encoder", per_view: true, build: moco::build_v2 },
    MethodSpec { name: "moco-v3", summary: "MoCo v3: in-batch InfoNCE, predictor, momentum encoder", per_view: true, build: moco::build_v3 },
    MethodSpec { name: "byol", summary: "BYOL: predict the momentum target's projection", per_view: true, build: byol::build },
    MethodSpec { name: "simsiam", summary: "SimSiam: predictor and stop-gradient, no momentum", per_view: true, build: simsiam::build },
    MethodSpec { name: "barlow-twins", summary: "Barlow Twins: cross-correlation to identity", per_view: false, build: barlow_twins::build },
    MethodSpec { name: "vicreg", summary: "VICReg: variance, invariance, covariance", per_view: false, build: vicreg::build },
    MethodSpec { name: "unigrad", summary: "UniGrad: unified Siamese gradient with a correlation matrix", per_view: true, build: unigrad::build },
    MethodSpec { name: "nac", summary: "NAC: neural activation coding through a noisy channel", per_view: true, build: nac::build },
];

/// The registered method called `name`.
pub fn find_method(name: &str) -> Result<&'static MethodSpec> {
    match METHODS.iter().find(|m| m.name == name) {
        Some(m) => Ok(m),
        None => {
            let known: Vec<_> = METHODS.iter().map(|m| m.name).collect();
            bail!("unknown method '{name}'; available: {}", known.join(", "))
        }
    }
}

/// Builds the method called `name` with its networks in `vs`.
pub fn build_method(name: &str, vs: &nn::VarStore, cfg: &MethodConfig) -> Result<Box<dyn Method>> {
    (find_method(name)?.build)(vs, cfg)
}
