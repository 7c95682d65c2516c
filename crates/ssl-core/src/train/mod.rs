//! Training: the shared run ([`Trainer::run`]) and its loops (SSL, fine-tuning),
//! optimisers with parameter groups, the learning-rate schedule, checkpoints that survive
//! a crash, metrics, progress, and encoder transfer between runs.

mod checkpoint;
mod finetune;
mod metrics;
mod optim;
mod run_lock;
mod schedule;
mod ssl_loop;
mod trainer;
mod transfer;

pub use checkpoint::{file_sha256, first_non_finite, hex, Checkpoint, CheckpointDir, CheckpointMeta, Unusable};
pub use finetune::{Classifier, FineTune, SupervisedModel};
pub use metrics::MetricsLog;
pub use optim::{Optimizer, OptimizerConfig, OptimizerKind, ParamGroup};
pub use run_lock::RunLock;
pub use schedule::warmup_cosine;
pub use ssl_loop::SslLoop;
pub use trainer::{config_differences, load_latest_weights, step_seed, Resume, StepLoop, StepLoss, TrainConfig, TrainSummary, Trainer};
pub use transfer::{export_tensors, load_encoder, load_prefixed};

pub use crate::data::BatchSource;
