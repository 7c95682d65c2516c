//! # ssl-spectra
//!
//! Maps of the diversity of 1-D spectra: FITS / CSV / NPY input, preprocessing
//! (rebinning, redshift, masking, normalisation), the classic SOM and DESOM (an
//! autoencoder organised by a SOM layer, trained by `ssl-core`'s trainer), physical
//! quantities with full distributions read off the map, fingerprints of objects with
//! many spectra, and map quality measures.
//!
//! ```
//! use ssl_spectra::som::{train_som, best_matching_units, MapShape, SomConfig};
//! use tch::Tensor;
//!
//! // Two well separated groups of 3-pixel "spectra" on a 1x2 map.
//! let x = Tensor::from_slice(&[0.0f32, 0.0, 0.0, 0.1, 0.0, 0.0, 5.0, 5.0, 5.0, 5.1, 5.0, 5.0]).view([4, 3]);
//! let mut cfg = SomConfig::default();
//! cfg.shape = MapShape { rows: 1, cols: 2 };
//! let prototypes = train_som(&x, &cfg)?;
//! let nodes = Vec::<i64>::try_from(best_matching_units(&x, &prototypes))?;
//! assert!(nodes[0] == nodes[1] && nodes[2] == nodes[3] && nodes[0] != nodes[2]);
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! The methods and their papers:
//! - the self-organising map: Kohonen 1982, *Self-organized formation of topologically
//!   correct feature maps*, Biological Cybernetics 43 ([doi:10.1007/BF00337288](https://doi.org/10.1007/BF00337288));
//! - DESOM: Forest, Lebbah, Azzag and Lacaille, *Deep embedded self-organizing maps for
//!   joint representation learning and self-organization*, Neural Computing and
//!   Applications (2021); official code <https://github.com/FlorentF9/DESOM>;
//! - DESOM applied to MaNGA galaxy spectra, with fingerprints and quantities read off the
//!   map: [arXiv 2112.03425](https://arxiv.org/abs/2112.03425).
//!
//! No cargo features. Executables find libtorch through the `ssl-link` crate.
#![warn(missing_docs)]

pub mod batches;
pub mod desom;
pub mod fingerprint;
pub mod generate;
pub mod io;
pub mod metrics;
pub mod pipeline;
pub mod plots;
pub mod preprocess;
pub mod quantities;
pub mod som;
pub mod spectra;
