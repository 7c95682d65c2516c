//! Multi-organ localisation by reinforcement learning (arXiv 2112.03276): an agent moves a
//! 3-D box through a CT by discrete actions ([`env`]), learns by deep Q-learning with a
//! replay buffer and a target network, bootstrapped by imitating an expert that knows the
//! organ's box ([`dqn`]); several agents started apart are fused by the median of their
//! boxes.
pub mod dqn;
pub mod env;
pub mod qnet;
pub mod replay;
pub mod run;

pub use dqn::{large_margin, localise, start_box, AgentConfig, BoxAgent, Localisation, Task};
pub use env::{fuse_median, observe, BoxF, ACTIONS, STAY};
pub use run::{
    box_scores, colin27_cases, colin27_poses, localise_cases, mean_box, mean_scores, phantom_cases, train_agent, volume_case, BoxScores, Case, Schedule,
};
