pub mod fit;
pub mod map;
pub mod miles;
pub mod plot;
