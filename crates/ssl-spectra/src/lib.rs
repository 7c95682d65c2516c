//! # ssl-spectra
//!
//! Maps of the diversity of 1-D spectra: FITS / CSV / NPY input, preprocessing
//! (rebinning, redshift, masking, normalisation), the classic SOM and DESOM (an
//! autoencoder organised by a SOM layer, trained by `ssl-core`'s trainer), physical
//! quantities with full distributions read off the map, and map quality measures.

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
