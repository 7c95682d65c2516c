//! Speaker self-supervision: the segment batches, SSReg, verification trials, and the
//! pre-training / verification pipeline of the `ssl-audio` commands.
pub mod pipeline;
pub mod segments;
pub mod ssreg;
pub mod trials;
pub mod verify;

pub use pipeline::{build_untrained, encoder_input, load_trained, pretrain, pretrain_on, recording_features, SpeakerPretrainConfig, TrainedEncoder};
pub use segments::{mean_normalised, normalised_fbank, SegmentConfig, SegmentLoader};
pub use ssreg::{SsReg, SsRegOptions};
pub use trials::{recording_name, Trial, TrialList};
pub use verify::{centred, cosine_scores, embed, score_trials, statistics_embedding, Scored};
