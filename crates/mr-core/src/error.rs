//! The one error type of mr-core, with structured parse and replay failures.

use std::fmt;

use crate::alg::{Digest, HashAlg};
use crate::register::MrId;

/// What a failure means to a verifier: malformed input, or evidence that does not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Input that cannot be parsed, or a usage error (CLI exit code 2).
    Malformed,
    /// Well-formed evidence that does not verify: mismatch, tampered entry, bad signature (exit code 1).
    Rejected,
    /// A device or I/O failure while reading or extending a register.
    Device,
}

/// Errors of mr-core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An algorithm name or id that mr does not support.
    #[error("unknown hash algorithm {0:?}")]
    UnknownAlgorithm(String),
    /// A digest whose length does not fit its algorithm.
    #[error("{alg} digest must be {expected} bytes, got {got}")]
    DigestLength {
        /// The algorithm.
        alg: HashAlg,
        /// Its digest size.
        expected: usize,
        /// The size given.
        got: usize,
    },
    /// Text that is not hex.
    #[error("invalid hex {0:?}")]
    InvalidHex(String),
    /// A register name that is not a PCR, RTMR, static TD register or valid virtual name.
    #[error("invalid register id {0:?} (expected e.g. 10, pcr10, rtmr0..rtmr3, mrtd, mr_ima)")]
    InvalidRegisterId(String),
    /// A `ID:ALG:HEX` register value that does not parse.
    #[error("invalid register value {text:?}: {reason}")]
    InvalidRegisterValue {
        /// The text given.
        text: String,
        /// Why it was refused.
        reason: String,
    },
    /// A line of register values (`ID:ALG:HEX` per line) that does not parse
    /// ([`crate::register::parse_register_lines`]).
    #[error("line {line}: {source}")]
    RegisterLine {
        /// The line number, from 1.
        line: usize,
        /// Why the line was refused.
        source: Box<Error>,
    },
    /// A register was given two different values (e.g. twice in `--expect`).
    #[error("register {register} {alg} given twice with different values")]
    ConflictingValue {
        /// Register.
        register: MrId,
        /// Bank.
        alg: HashAlg,
    },
    /// Malformed log or structure.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// An entry whose recorded digest disagrees with its own data (tampering or corruption).
    #[error(transparent)]
    EntryDigest(Box<EntryDigestMismatch>),
    /// A replay that does not reach the expected register values (asserted, or verified by a root of trust).
    #[error(transparent)]
    Replay(Box<ReplayError>),
    /// An entry that no verified value covers where every entry must be covered.
    #[error(transparent)]
    NotCovered(Box<NotCovered>),
    /// A log that extends more distinct registers (register and bank pairs) than a replay holds:
    /// a hostile log naming a new register in every entry must not make memory grow with it.
    #[error("entry {entry} extends {register} {alg}, one register more than the {max} (register, bank) pairs a replay holds")]
    TooManyRegisters {
        /// Entry number (from 0) of the first extend past the limit.
        entry: u64,
        /// The register it names.
        register: MrId,
        /// The bank.
        alg: HashAlg,
        /// The limit ([`crate::replay::MAX_REPLAY_REGISTERS`]).
        max: usize,
    },
    /// Reading or extending a register failed.
    #[error("register {register}: {reason}")]
    Register {
        /// The register.
        register: MrId,
        /// What failed.
        reason: String,
    },
    /// An I/O error while streaming a log.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// An IMA list history that is refused or a checkpoint that cannot be used: reboot since a
    /// checkpoint, a differing prefix, a broken shard chain, unanchored start values, an entry
    /// logged but never extended (see [`crate::log::ima::HistoryError`]).
    #[error(transparent)]
    History(Box<crate::log::ima::HistoryError>),
    /// An IMA `boot_aggregate` that the boot log does not reproduce under any accepted rule.
    #[error(transparent)]
    BootAggregate(Box<crate::log::tcg::BootAggregateMismatch>),
    /// Values given for register and bank pairs that a TCG log covers only partly (records
    /// without a digest for the bank): the comparison cannot verify them.
    #[error(transparent)]
    NotVerifiable(Box<crate::log::tcg::NotVerifiable>),
}

impl Error {
    /// The class of this error (what a CLI exit code or a verifier verdict should be).
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::EntryDigest(_)
            | Error::Replay(_)
            | Error::NotCovered(_)
            | Error::BootAggregate(_)
            | Error::NotVerifiable(_) => ErrorClass::Rejected,
            Error::Register { .. } | Error::Io(_) => ErrorClass::Device,
            Error::History(h) => h.class(),
            _ => ErrorClass::Malformed,
        }
    }
}

impl From<ReplayError> for Error {
    fn from(e: ReplayError) -> Self {
        Error::Replay(Box::new(e))
    }
}

impl From<crate::log::ima::HistoryError> for Error {
    fn from(e: crate::log::ima::HistoryError) -> Self {
        Error::History(Box::new(e))
    }
}

impl From<EntryDigestMismatch> for Error {
    fn from(e: EntryDigestMismatch) -> Self {
        Error::EntryDigest(Box::new(e))
    }
}

/// Malformed input: which format and structure, at which absolute byte offset, in which entry.
/// Every parser of mr reports it (binary ones through [`crate::wire::Reader`]); the crates'
/// error enums wrap it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {format}: {kind} in {structure} at byte offset {offset}{}", .entry.map(|e| format!(" (entry {e})")).unwrap_or_default())]
pub struct ParseError {
    /// Input format, e.g. `"ima binary log"`, `"tcg log"`, `"td quote"`, `"tpm"`.
    pub format: &'static str,
    /// The structure being read, e.g. `"template data"`.
    pub structure: &'static str,
    /// Absolute byte offset (or line number for text formats, see `kind`) where it went wrong.
    pub offset: u64,
    /// Entry number (0-based) when known.
    pub entry: Option<u64>,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

/// What is wrong with malformed input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The input ends inside a structure.
    Truncated {
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// A length field beyond a named limit or beyond the data left.
    LengthTooLarge {
        /// The length read.
        len: u64,
        /// The bound it broke.
        max: u64,
    },
    /// The input is empty.
    Empty,
    /// Bytes left after the end of a structure that must use all of its bytes.
    TrailingBytes(u64),
    /// Text that is not valid UTF-8 where text is required.
    InvalidUtf8,
    /// An algorithm that is not known or not allowed here.
    UnknownAlgorithm(String),
    /// A template name or field that is not known.
    UnknownTemplate(String),
    /// A value that breaks the format's rules.
    Invalid(String),
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::Truncated { needed, available } => {
                write!(f, "truncated: needs {needed} bytes, {available} left")
            }
            ParseErrorKind::LengthTooLarge { len, max } => {
                write!(f, "length {len} exceeds the limit of {max}")
            }
            ParseErrorKind::Empty => f.write_str("empty input"),
            ParseErrorKind::TrailingBytes(n) => write!(f, "{n} unused bytes at the end"),
            ParseErrorKind::InvalidUtf8 => f.write_str("invalid utf-8"),
            ParseErrorKind::UnknownAlgorithm(a) => write!(f, "unknown algorithm {a:?}"),
            ParseErrorKind::UnknownTemplate(t) => write!(f, "unknown template or field {t:?}"),
            ParseErrorKind::Invalid(s) => f.write_str(s),
        }
    }
}

/// A log entry whose recorded digest is not the digest of its own data, or an IMA violation
/// (all-zero template digest) where violations are rejected
/// ([`ViolationPolicy::Reject`](crate::log::ima::ViolationPolicy::Reject)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryDigestMismatch {
    /// Entry number (0-based).
    pub entry: u64,
    /// Byte offset of the entry (line number for text lists).
    pub offset: u64,
    /// Register the entry extends.
    pub register: MrId,
    /// Algorithm of the recorded digest.
    pub alg: HashAlg,
    /// The digest recorded in the log.
    pub recorded: Digest,
    /// The digest recomputed from the entry's data.
    pub computed: Digest,
    /// The entry is an IMA violation (its recorded template digest is all zero: a file measured
    /// while open for writing, or opened for writing while measured) refused because violations
    /// are rejected; its recorded digest was never meant to match its data.
    pub violation: bool,
}

impl fmt::Display for EntryDigestMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "entry {} (byte offset {}, register {})",
            self.entry, self.offset, self.register
        )?;
        if self.violation {
            f.write_str(" is a violation (all-zero template digest) and violations are rejected")
        } else {
            write!(
                f,
                ": recorded {} digest {} but its data hashes to {}",
                self.alg, self.recorded, self.computed
            )
        }
    }
}

impl std::error::Error for EntryDigestMismatch {}

/// An entry of a log that carries no digest a verified register value vouches for, refused
/// where the whole log must be verified (e.g. `mr cel replay --exact`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entry {entry} (record number {number}, register {register}) is not covered by a verified value: {reason}")]
pub struct NotCovered {
    /// Entry number (0-based position in the log).
    pub entry: u64,
    /// The number the log gives the entry (a CEL `recnum`).
    pub number: u64,
    /// Register the entry extends.
    pub register: MrId,
    /// Why no verified value covers it.
    pub reason: String,
}

/// One register and bank whose replayed value differs from the verified value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The register.
    pub register: MrId,
    /// The bank.
    pub alg: HashAlg,
    /// The verified (quoted) value.
    pub expected: Digest,
    /// The value the whole log replays to.
    pub computed: Digest,
    /// Events of the log that extended this register and bank.
    pub events: u64,
}

/// A failed replay: every mismatching register and bank, with context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayError {
    /// Each register and bank that no prefix of the log reproduces.
    pub mismatches: Vec<Mismatch>,
    /// Entries of the log replayed (all of them when no prefix matched).
    pub entries_replayed: u64,
    /// The first entry whose recorded digest disagrees with its data, if the format can tell.
    pub first_bad_entry: Option<EntryDigestMismatch>,
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "replay of {} entries does not reach the expected values:",
            self.entries_replayed
        )?;
        for m in &self.mismatches {
            write!(
                f,
                " {} {}: expected {}, computed {} ({} events);",
                m.register, m.alg, m.expected, m.computed, m.events
            )?;
        }
        if let Some(bad) = &self.first_bad_entry {
            write!(f, " first inconsistent entry: {bad}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ReplayError {}
