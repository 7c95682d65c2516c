//! The seam between data and the training loops.
use super::Batch;
use anyhow::Result;

/// A deterministic stream of batches.
pub trait BatchSource {
    /// (Re)starts the stream at global batch `index`; the batch at an index never depends
    /// on where the stream was started, which makes resumed runs exact.
    fn start(&mut self, index: u64) -> Result<()>;
    /// The next batch.
    fn next_batch(&mut self) -> Result<Batch>;
}
