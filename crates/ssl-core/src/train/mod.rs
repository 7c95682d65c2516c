//! The training loop and everything it owns: optimisers, learning-rate schedule,
//! checkpoints that survive a crash, metrics, progress.

mod checkpoint;
mod metrics;
mod optim;
mod run_lock;
mod schedule;
mod trainer;

pub use checkpoint::{file_sha256, first_non_finite, hex, Checkpoint, CheckpointDir, CheckpointMeta, Unusable};
pub use metrics::MetricsLog;
pub use optim::{Optimizer, OptimizerConfig, OptimizerKind};
pub use run_lock::RunLock;
pub use schedule::warmup_cosine;
pub use trainer::{config_differences, load_latest_weights, BatchSource, Resume, TrainConfig, TrainSummary, Trainer};
