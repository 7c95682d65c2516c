//! One module per subcommand.
pub mod bench;
pub mod budget;
pub mod clips;
pub mod demo;
pub mod eval;
pub mod experiment;
pub mod motion_benchmark;
pub mod pretrain;
pub mod summary;
pub mod table;
pub mod uota;
pub mod video_baseline;
pub mod video_common;
pub mod video_eval;
pub mod video_experiment;
pub mod video_pretrain;
