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
    // --- registers and reports through the kernel interfaces (rtmr.rs, tsm_report.rs, sim/) ---
    /// The kernel (or the simulated TD) refused a sysfs / configfs operation with an errno whose
    /// meaning for this file the ABI documents.
    #[error("{op} {path}: {meaning} ({errno})")]
    Kernel {
        /// The operation (read, write, extend, mkdir, rmdir).
        op: &'static str,
        /// The path, relative to the seam's root.
        path: String,
        /// The errno.
        errno: crate::fs::Errno,
        /// What the errno means for this file.
        meaning: &'static str,
    },
    /// A register or attribute file that holds a value of the wrong size.
    #[error("{path}: expected {expected} bytes, got {got}")]
    ValueLength {
        /// The path, relative to the seam's root.
        path: String,
        /// The size the ABI defines.
        expected: usize,
        /// The size read.
        got: usize,
    },
    /// A file larger than the bound for what it holds.
    #[error("{path}: more than {max} bytes")]
    TooLarge {
        /// The path, relative to the seam's root.
        path: String,
        /// The bound.
        max: usize,
    },
    /// An attribute whose text does not parse (e.g. a `generation` that is not a number).
    #[error("{path}: {reason}")]
    InvalidAttribute {
        /// The path, relative to the seam's root.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An RTMR index outside 0..=3.
    #[error("RTMR index {0} out of range (TDX has RTMR0..RTMR3)")]
    RtmrIndex(u32),
    /// A register that is not one of the TDX registers (MRTD, MRCONFIGID, MROWNER,
    /// MROWNERCONFIG, RTMR0..3).
    #[error("{0} is not a TDX measurement register")]
    NotTdxRegister(mr_core::MrId),
    /// Data to extend an RTMR with that is not exactly 48 bytes (the kernel would refuse it).
    #[error("RTMR extend data must be exactly 48 bytes, got {got}")]
    ExtendLength {
        /// The size given.
        got: usize,
    },
    /// An attempt to extend a static TDX register (MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG).
    #[error("{0} is read-only: only RTMR0..RTMR3 can be extended")]
    ReadOnlyRegister(mr_core::MrId),
    /// A configfs-tsm report instance whose `provider` is not the one expected.
    #[error("configfs-tsm report provider is {got:?}, expected {expected:?}")]
    TsmProviderMismatch {
        /// The provider expected (e.g. `tdx_guest`).
        expected: String,
        /// The provider the kernel reported.
        got: String,
    },
    /// The `generation` of a configfs-tsm report instance moved by more than our one write:
    /// another writer used the same instance, so the outblob may not be for our inblob.
    #[error(
        "configfs-tsm report generation went from {before} to {after} (expected {}): another \
         writer used the report instance concurrently; the outblob may not carry our inblob",
        .before.wrapping_add(1)
    )]
    TsmGenerationRace {
        /// `generation` read before writing the inblob.
        before: u64,
        /// `generation` read after reading the outblob.
        after: u64,
    },
    /// A simulated TD was asked for a quote but has no quote provider.
    #[cfg(feature = "sim")]
    #[error(
        "the simulated TD has no quote provider: build it with SimTdBuilder::quote_provider \
         (e.g. sim::quote::TestQuoteSigner) to read outblob"
    )]
    NoQuoteProvider,
    // --- TD quotes (quote/, sim/quote.rs) ---
    /// A TD quote that is malformed or does not verify ([`crate::quote::QuoteError::class`]
    /// tells which).
    #[error("TD quote: {0}")]
    Quote(#[from] crate::quote::QuoteError),
}
