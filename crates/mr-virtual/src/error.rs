//! The one error type of mr-virtual. Variants carrying several digests box them (a
//! [`Digest`] is 72 bytes inline), so that `Result<_, Error>` stays small.

use std::path::PathBuf;

use mr_core::{Digest, ErrorClass, HashAlg, MrId};

use crate::record::RecordError;

/// Errors of mr-virtual: every journal error names its line (1-based) and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A line that is not a valid record.
    #[error("journal line {line}: {reason}")]
    Record {
        /// Line number (1-based).
        line: u64,
        /// Why the line is refused.
        reason: RecordError,
    },
    /// A well-formed journal that is inconsistent (for the attester: one it cannot continue).
    #[error("journal line {line}: {reason}")]
    Journal {
        /// Line number (1-based; 0 when it concerns the whole journal).
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// A SYNC record whose value is not what the replay reached at that point.
    #[error(transparent)]
    SyncMismatch(Box<SyncMismatch>),
    /// A journal whose first record is SYNC (its head was rotated away) and no trusted start.
    #[error("journal line {line}: rotated journal (starts with SYNC {value}) without a trusted start: the records before it cannot be verified")]
    RotatedWithoutTrustedStart {
        /// Line of the SYNC record.
        line: u64,
        /// The value it records.
        value: Digest,
    },
    /// A rotated journal whose SYNC head is not the trusted start.
    #[error(transparent)]
    TrustedStartMismatch(Box<TrustedStartMismatch>),
    /// The journal does not replay to the verified backing register value.
    #[error(transparent)]
    NotCovered(Box<NotCovered>),
    /// The verified registers have no value of the backing register (in the bank asked for).
    #[error("no verified value of the backing register {register}{}", .alg.map(|a| format!(" in bank {a}")).unwrap_or_default())]
    BackingNotVerified {
        /// The backing register.
        register: MrId,
        /// The bank asked for, if any.
        alg: Option<HashAlg>,
    },
    /// The attester's backing register is not where its journal says it must be.
    #[error(transparent)]
    Reconcile(Box<Reconcile>),
    /// The backing register is at its reset value but the journal has records it never saw.
    #[error("backing register {register} is at its reset value, but the journal has {records} records it never saw: a journal of an earlier boot (or of a crash before its first extend); move it away to start a new journal")]
    StaleJournal {
        /// The backing register.
        register: MrId,
        /// Records in the journal.
        records: u64,
    },
    /// An invalid virtual register name.
    #[error(
        "invalid virtual register name {0:?} (1 to 64 characters of A-Z a-z 0-9 _ . -, not SYNC)"
    )]
    InvalidName(String),
    /// A backing register name that is neither an RTMR (rtmr0..rtmr3) nor a PCR (0-23)
    /// ([`crate::agent::parse_backing`]).
    #[error("{0:?}: expected rtmr3 (rtmr0..rtmr3) or pcr:N")]
    InvalidBacking(String),
    /// A digest of the wrong bank.
    #[error("{register} is a {expected} register; cannot extend it with a {got} digest")]
    WrongAlgorithm {
        /// The register.
        register: MrId,
        /// Its bank.
        expected: HashAlg,
        /// The digest's algorithm.
        got: HashAlg,
    },
    /// Another writer extended the virtual register between a caller's read and its extend.
    #[error("{register} has {found} extends in the journal, expected {expected}: another writer extends it too")]
    ConcurrentWriter {
        /// The register.
        register: MrId,
        /// The count the caller expected.
        expected: u64,
        /// The count found.
        found: u64,
    },
    /// Too many distinct virtual registers in one journal.
    #[error("journal line {line}: more than {max} virtual registers")]
    TooManyRegisters {
        /// The line that names one too many.
        line: u64,
        /// The limit.
        max: usize,
    },
    /// An IMA list entry that is not the one the journal recorded at its position.
    #[error(transparent)]
    ListDiverges(Box<ListDiverges>),
    /// Within one process: the entry where the last sync stopped is no longer in the list (the
    /// list was replaced). The next sync re-checks the whole list against the journal.
    #[error("the IMA list changed under the agent: entry {entry} at byte offset {offset} is no longer the one processed ({reason})")]
    ListChanged {
        /// Entry number (0-based) of the last processed entry.
        entry: u64,
        /// Its byte offset in the list.
        offset: u64,
        /// What was found instead.
        reason: String,
    },
    /// An IMA list with fewer entries than the journal already records.
    #[error("the IMA list has {entries} entries but the journal already records {recorded}: the list does not continue the journal")]
    ListShorter {
        /// Entries in the list.
        entries: u64,
        /// Entries recorded in the journal.
        recorded: u64,
    },
    /// An I/O error, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What failed (names the file).
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Locking the journal failed.
    #[error("locking journal {path}: {source}", path = .path.display())]
    Lock {
        /// The journal.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// An error of mr-core (a register read or extend, an IMA list, a replay).
    #[error(transparent)]
    Core(#[from] mr_core::Error),
}

/// A SYNC record whose value is not what the replay reached at that point.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("journal line {line}: SYNC record says the backing register held {recorded}, but the replay reaches {replayed}")]
pub struct SyncMismatch {
    /// Line of the SYNC record.
    pub line: u64,
    /// The value it records.
    pub recorded: Digest,
    /// The value replayed up to it.
    pub replayed: Digest,
}

/// A rotated journal whose SYNC head is not the trusted start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "journal line {line}: rotated journal starts at {sync}, but the trusted start is {trusted}"
)]
pub struct TrustedStartMismatch {
    /// Line of the SYNC record.
    pub line: u64,
    /// The value the SYNC record gives.
    pub sync: Digest,
    /// The trusted start's backing value.
    pub trusted: Digest,
}

/// A journal that does not replay to the verified backing register value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("journal ({records} records, {lines} lines) does not replay to the verified {register} {alg} value: expected {expected}, computed {computed} (a journal of another register or TD, or records dropped, edited, reordered or inserted)")]
pub struct NotCovered {
    /// The backing register.
    pub register: MrId,
    /// Its bank.
    pub alg: HashAlg,
    /// The verified value.
    pub expected: Digest,
    /// The value the whole journal replays to.
    pub computed: Digest,
    /// Records in the journal.
    pub records: u64,
    /// Lines in the journal.
    pub lines: u64,
}

/// The attester's backing register is not where its journal says it must be.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("backing register {register} holds {actual}, but the journal ({records} records) replays to {expected}{}: someone extended the register without logging, or the journal belongs to another register or boot", .previous.map(|p| format!(" (and to {p} without its last record)")).unwrap_or_default())]
pub struct Reconcile {
    /// The backing register.
    pub register: MrId,
    /// The value the whole journal replays to.
    pub expected: Digest,
    /// The value the journal without its last record replays to.
    pub previous: Option<Digest>,
    /// The value the backing register holds.
    pub actual: Digest,
    /// Records in the journal.
    pub records: u64,
}

/// An IMA list entry that is not the one the journal recorded at its position: the list does
/// not continue the journal (e.g. a list of a new boot with an old journal).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("IMA list entry {entry} has template digest {computed}, but the journal recorded {recorded} for it (line {line}): the list does not continue the journal")]
pub struct ListDiverges {
    /// Entry number (0-based).
    pub entry: u64,
    /// Journal line of the recorded digest.
    pub line: u64,
    /// The digest recorded.
    pub recorded: Digest,
    /// The digest of the list's entry.
    pub computed: Digest,
}

impl Error {
    /// What this error means to a verifier (CLI exit code): malformed input, evidence that does
    /// not verify, or a device / I/O failure.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Record { .. }
            | Error::Journal { .. }
            | Error::InvalidName(_)
            | Error::InvalidBacking(_)
            | Error::WrongAlgorithm { .. }
            | Error::TooManyRegisters { .. }
            | Error::BackingNotVerified { .. } => ErrorClass::Malformed,
            Error::SyncMismatch(_)
            | Error::RotatedWithoutTrustedStart { .. }
            | Error::TrustedStartMismatch(_)
            | Error::NotCovered(_)
            | Error::Reconcile(_)
            | Error::StaleJournal { .. }
            | Error::ListDiverges(_)
            | Error::ListChanged { .. }
            | Error::ListShorter { .. } => ErrorClass::Rejected,
            Error::ConcurrentWriter { .. } | Error::Io { .. } | Error::Lock { .. } => {
                ErrorClass::Device
            }
            Error::Core(e) => e.class(),
        }
    }

    /// The journal line this error is about, if it is about one.
    pub fn line(&self) -> Option<u64> {
        match self {
            Error::Record { line, .. }
            | Error::Journal { line, .. }
            | Error::RotatedWithoutTrustedStart { line, .. }
            | Error::TooManyRegisters { line, .. } => Some(*line).filter(|l| *l > 0),
            Error::SyncMismatch(e) => Some(e.line),
            Error::TrustedStartMismatch(e) => Some(e.line),
            _ => None,
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }

    /// This error as an [`mr_core::Error`] (what [`MeasurementRegister`] methods return): an
    /// mr-core error as itself, anything else as a register failure of `register`.
    ///
    /// [`MeasurementRegister`]: mr_core::MeasurementRegister
    pub fn into_core(self, register: MrId) -> mr_core::Error {
        match self {
            Error::Core(e) => e,
            other => mr_core::Error::Register {
                register,
                reason: other.to_string(),
            },
        }
    }
}
