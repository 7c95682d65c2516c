pub mod bench;
pub mod bench_step;
pub mod features;
pub mod inspect;
pub mod pretrain;
pub mod ssreg_experiment;
pub mod trials;
pub mod verify;
