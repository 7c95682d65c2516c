pub mod inspect;
pub mod phantom;
