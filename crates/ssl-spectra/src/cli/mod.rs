pub mod bench;
pub mod fingerprint;
pub mod fit;
pub mod galaxies;
pub mod map;
pub mod miles;
pub mod plot;
