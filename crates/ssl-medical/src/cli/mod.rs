pub mod bench;
pub mod bt_unet_experiment;
pub mod finetune;
pub mod inspect;
pub mod localise;
pub mod localise_experiment;
pub mod phantom;
pub mod pretrain;
pub mod segment;
pub mod volumes;

/// How large the experiments run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Size {
    /// Each experiment under 30 minutes on 2 CPU cores.
    Cpu,
    /// The larger configuration for a GPU (hours on a CPU).
    Gpu,
}
