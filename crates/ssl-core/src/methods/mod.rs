//! The methods of ssl-core, one file each, with their options tables.

mod barlow_twins;
mod byol;
mod common;
mod moco;
mod nac;
mod simclr;
mod simsiam;
mod swav;
mod unigrad;
mod vicreg;

pub use barlow_twins::BarlowTwinsOptions;
pub use byol::ByolOptions;
pub use moco::{MocoV2Options, MocoV3Options};
pub use simclr::SimClrOptions;
pub use swav::SwavOptions;
pub use unigrad::UniGradOptions;

use crate::registry::MethodSpec;

/// Every method of ssl-core, in the order of the objectives table.
pub fn core_methods() -> Vec<MethodSpec> {
    vec![
        MethodSpec::new("simclr", "SimCLR: NT-Xent between views", true, simclr::build),
        MethodSpec::new("moco-v2", "MoCo v2: InfoNCE against a memory bank, momentum key encoder", true, moco::build_v2),
        MethodSpec::new("moco-v3", "MoCo v3: in-batch InfoNCE, predictor, momentum encoder", true, moco::build_v3),
        MethodSpec::new("byol", "BYOL: predict the momentum target's projection", true, byol::build),
        MethodSpec::new("simsiam", "SimSiam: predictor and stop-gradient, no momentum", true, simsiam::build),
        MethodSpec::new("barlow-twins", "Barlow Twins: cross-correlation to identity", false, barlow_twins::build),
        MethodSpec::new("vicreg", "VICReg: variance, invariance, covariance", false, vicreg::build),
        MethodSpec::new("unigrad", "UniGrad: unified Siamese gradient with a correlation matrix", true, unigrad::build),
        MethodSpec::new("nac", "NAC: neural activation coding through a noisy channel", true, nac::build),
        MethodSpec::new("swav", "SwAV: swapped prediction of Sinkhorn-Knopp prototype codes", true, swav::build).with_default_local_views(6),
    ]
}
