//! The training loop and everything it owns: optimisers, learning-rate schedule,
//! checkpoints that survive a crash, metrics, progress.

mod checkpoint;
mod metrics;
mod optim;
mod schedule;
mod trainer;

pub use checkpoint::{Checkpoint, CheckpointDir, CheckpointMeta};
pub use metrics::MetricsLog;
pub use optim::{Optimizer, OptimizerConfig, OptimizerKind};
pub use schedule::warmup_cosine;
pub use trainer::{config_differences, load_latest_weights, BatchSource, TrainConfig, TrainSummary, Trainer};
