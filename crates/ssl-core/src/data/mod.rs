//! What flows from data to methods: batches with named parts, the sources that produce
//! them, and the seeded epoch order that makes every batch a function of its index.

mod batch;
mod epoch_order;
mod layout;
mod listing;
mod source;

pub use batch::{Batch, LABELS, WEIGHTS};
pub use epoch_order::EpochOrder;
pub use layout::{channels_last, is_channels_last};
pub use listing::{FileKind, FolderListing};
pub use source::BatchSource;
