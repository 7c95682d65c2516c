pub mod bench;
pub mod features;
pub mod inspect;
