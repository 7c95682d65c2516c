pub mod bench;
pub mod bt_unet_experiment;
pub mod inspect;
pub mod localise_experiment;
pub mod phantom;
