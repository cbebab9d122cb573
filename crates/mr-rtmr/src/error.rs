//! The error type of mr-rtmr.

/// Errors of mr-rtmr. Variants are grouped by area; each names what failed and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from mr-core (register ids, digests, replay).
    #[error(transparent)]
    Core(#[from] mr_core::Error),
    /// A file-system operation on the sysfs / configfs seam failed.
    #[error("{op} {path}: {source}")]
    Fs {
        /// The operation (read, write, mkdir, rmdir).
        op: &'static str,
        /// The path, relative to the seam's root.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    // --- TD quotes (quote/, sim/quote.rs) ---
    /// A TD quote that is malformed or does not verify ([`crate::quote::QuoteError::class`]
    /// tells which).
    #[error("TD quote: {0}")]
    Quote(#[from] crate::quote::QuoteError),
}
