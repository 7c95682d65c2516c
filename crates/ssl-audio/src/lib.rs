//! # ssl-audio
//!
//! Self-supervised learning on audio, on `ssl-core`'s seams: audio files in (PCM WAV
//! through `hound`; companded WAV, FLAC, OGG Vorbis and MP3 through `symphonia`), mono
//! mix-down and resampling (`rubato`), labelled folders or CSVs of recordings, and
//! speech features that match Kaldi on tensors (batched, CPU or GPU).
//!
//! ```
//! use ssl_audio::features::{Fbank, FbankOptions, Features};
//! use tch::Tensor;
//!
//! // One second of a 440 Hz tone at 16 kHz, in Kaldi's 16-bit sample scale.
//! let t = Tensor::arange(16000, (tch::Kind::Float, tch::Device::Cpu)) / 16000.0;
//! let tone = (t * (2.0 * std::f64::consts::PI * 440.0)).sin() * 10000.0;
//! let fbank = Fbank::new(FbankOptions::new(16000.0, 40))?;
//! let feats = fbank.compute(&tone)?;
//! assert_eq!(feats.size(), [98, 40]); // 25 ms frames every 10 ms, edges snipped
//! // The band holding 440 Hz is the loudest in every frame.
//! let loudest = feats.argmax(-1, false);
//! assert_eq!(loudest.min().int64_value(&[]), loudest.max().int64_value(&[]));
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! The feature definitions are Kaldi's (`compute-fbank-feats`, `compute-mfcc-feats`;
//! Povey et al., *The Kaldi Speech Recognition Toolkit*, ASRU 2011), checked against
//! `kaldi-native-fbank` in the tests.
//!
//! No cargo features: decoding is pure Rust. Executables find libtorch through the
//! `ssl-link` crate.
#![warn(missing_docs)]

pub mod augment;
pub mod data;
pub mod features;
pub mod io;
pub mod models;
pub mod mulap;
pub mod music;
pub mod registry;
pub mod speaker;
pub mod waveform;

pub use waveform::Waveform;
