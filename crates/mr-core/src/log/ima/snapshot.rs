//! Snapshot and trim proposals (docs/formats.md#ima-snapshots): the RFC's `snapshot_aggregate` entry, and lists whose
//! head was trimmed or staged away.
//!
//! None of these formats is merged in mainline; the grammar here follows the 2023 RFC
//! ("IMA Log Snapshotting Design Proposal", v2): an entry named `snapshot_aggregate` whose
//! buffer (template `ima-buf`, field `buf`) reads `Snapshot_Attempt_Count=<n>;` followed by
//! `<alg>:PCR<N>:<hex>` items separated by `,` or `;`, the PCR values at the snapshot. Its
//! punctuation was loosely specified; this parser accepts either separator and whitespace.
//!
//! The security rule: the values a `snapshot_aggregate` states are only claimed. Anyone who can
//! write a list can write one that "starts" wherever a quote ends up. A replay starts from them
//! only when a root vouches for exactly those values: a trusted [`Checkpoint`] at the snapshot
//! point, or a quote taken there ([`SnapshotVouch`]); otherwise the list is refused
//! ([`HistoryError::UnanchoredStart`]). The `snapshot_aggregate` entry itself is extended, like
//! any other entry (the kernel measures it).
//!
//! Trimmed lists (Chen's `T:N` trim, Sassu's staged lists) need no parser: the kept entries are
//! the tail of the list after a checkpoint, verified with [`resume`] and [`ResumeFrom::Tail`]
//! from the checkpoint taken at the trim point (its register values and entry count are the
//! start).

use crate::alg::{Digest, HashAlg};
use crate::error::{Error, ParseError, ParseErrorKind};
use crate::register::{MrId, RegisterValue, VerifiedRegisters};
use crate::trust::Reference;

use super::checkpoint::{resume, Anchor, Checkpoint, HistoryError, ResumeFrom, Verification};
use super::reader::{ImaReader, ImaReaderOptions};
use super::template::FieldId;
use super::verify::{ImaInput, ImaOptions};
use super::{DigestMode, ImaEntry, ListFormat};

/// Event name of the RFC's snapshot entry.
pub const SNAPSHOT_AGGREGATE: &str = "snapshot_aggregate";

/// Most register values in one `snapshot_aggregate` (24 PCRs in 5 banks).
pub const MAX_SNAPSHOT_VALUES: usize = 24 * 5;

/// A decoded `snapshot_aggregate` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotAggregate {
    /// The entry (0-based).
    pub entry: u64,
    /// `Snapshot_Attempt_Count`, if present.
    pub attempt: Option<u64>,
    /// The PCR values it claims.
    pub registers: Vec<RegisterValue>,
}

/// Parse the buffer of a `snapshot_aggregate` entry.
pub fn parse_snapshot_buffer(
    buf: &[u8],
) -> Result<(Option<u64>, Vec<RegisterValue>), ParseErrorKind> {
    let text = std::str::from_utf8(buf).map_err(|_| ParseErrorKind::InvalidUtf8)?;
    let text = text.trim_end_matches('\0');
    let mut attempt = None;
    let mut values: Vec<RegisterValue> = Vec::new();
    for item in text
        .split([';', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if let Some(n) = item.strip_prefix("Snapshot_Attempt_Count=") {
            attempt =
                Some(n.parse().map_err(|_| {
                    ParseErrorKind::Invalid(format!("Snapshot_Attempt_Count {n:?}"))
                })?);
            continue;
        }
        let mut parts = item.splitn(3, ':');
        let (Some(alg), Some(pcr), Some(hex)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ParseErrorKind::Invalid(format!(
                "snapshot item {:?} is not <alg>:PCR<N>:<hex>",
                item.chars().take(64).collect::<String>()
            )));
        };
        let alg = HashAlg::from_name(alg)
            .ok_or_else(|| ParseErrorKind::UnknownAlgorithm(alg.chars().take(16).collect()))?;
        let index: u32 = pcr
            .strip_prefix("PCR")
            .and_then(|n| n.parse().ok())
            .filter(|n| *n < 24)
            .ok_or_else(|| ParseErrorKind::Invalid(format!("snapshot register {pcr:?}")))?;
        let value = Digest::from_hex(alg, hex)
            .map_err(|e| ParseErrorKind::Invalid(format!("snapshot value: {e}")))?;
        if values.len() >= MAX_SNAPSHOT_VALUES {
            return Err(ParseErrorKind::LengthTooLarge {
                len: values.len() as u64 + 1,
                max: MAX_SNAPSHOT_VALUES as u64,
            });
        }
        let id = MrId::Pcr(index);
        if let Some(old) = values.iter().find(|v| v.id == id && v.value.alg() == alg) {
            if old.value != value {
                return Err(ParseErrorKind::Invalid(format!(
                    "snapshot gives PCR{index} {alg} twice"
                )));
            }
            continue;
        }
        values.push(RegisterValue { id, value });
    }
    if values.is_empty() {
        return Err(ParseErrorKind::Invalid(
            "snapshot_aggregate without PCR values".into(),
        ));
    }
    Ok((attempt, values))
}

/// The snapshot of `e`, if it is a `snapshot_aggregate` entry (`Ok(None)` otherwise).
pub fn snapshot_aggregate(e: &ImaEntry) -> Result<Option<SnapshotAggregate>, Error> {
    if e.event_name() != Some(SNAPSHOT_AGGREGATE) {
        return Ok(None);
    }
    let err = |kind| {
        Error::Parse(ParseError {
            format: "ima snapshot_aggregate log",
            structure: "buf",
            offset: e.offset(),
            entry: Some(e.index()),
            kind,
        })
    };
    let buf = e
        .field(FieldId::Buf)
        .ok_or_else(|| err(ParseErrorKind::Invalid("no buf field".into())))?;
    let (attempt, registers) = parse_snapshot_buffer(buf.data).map_err(err)?;
    Ok(Some(SnapshotAggregate {
        entry: e.index(),
        attempt,
        registers,
    }))
}

/// What vouches for a `snapshot_aggregate`'s values.
#[derive(Clone, Copy, Debug)]
pub enum SnapshotVouch<'a, R = VerifiedRegisters> {
    /// A trusted checkpoint taken at the snapshot point.
    Checkpoint(&'a Checkpoint),
    /// A quote taken at the snapshot point (verified values with their boot identity).
    Quote(&'a Anchor<R>),
}

/// Verify a list that starts with a `snapshot_aggregate` entry against `end`, starting from the
/// snapshot's values only if `vouch` vouches for every one of them (see the module
/// documentation). `format` and `digest_mode` fix how the list is read when the vouch is a
/// quote (a checkpoint carries its own).
pub fn verify_snapshot_list<R: Reference>(
    list: &[u8],
    vouch: Option<SnapshotVouch<'_, R>>,
    config: &ImaOptions,
    end: &Anchor<R>,
) -> Result<R::Outcome<Verification>, Error> {
    let mut reader = ImaReader::new(list, config.replay.reader.clone());
    let first = reader.next_entry()?.ok_or_else(|| {
        Error::from(HistoryError::UnanchoredStart {
            what: "empty list".into(),
        })
    })?;
    let snapshot = snapshot_aggregate(first)?.ok_or_else(|| {
        Error::from(HistoryError::UnanchoredStart {
            what: format!(
                "the list starts with {:?}, not a snapshot_aggregate",
                first.event_name().unwrap_or("")
            ),
        })
    })?;
    let format = reader.format();
    let what = format!("snapshot_aggregate (entry {})", snapshot.entry);
    let Some(vouch) = vouch else {
        return Err(HistoryError::UnanchoredStart { what }.into());
    };
    let vouched = |id: &MrId, alg: HashAlg| -> Option<Digest> {
        match vouch {
            SnapshotVouch::Checkpoint(cp) => cp.value(id, alg),
            SnapshotVouch::Quote(a) => a.values().get(id, alg).copied(),
        }
    };
    for rv in &snapshot.registers {
        match vouched(&rv.id, rv.value.alg()) {
            Some(v) if v == rv.value => {}
            Some(v) => {
                return Err(HistoryError::StartMismatch {
                    what,
                    register: rv.id.clone(),
                    alg: rv.value.alg(),
                    claimed: rv.value,
                    vouched: v.to_hex(),
                }
                .into())
            }
            None => {
                return Err(HistoryError::StartMismatch {
                    what,
                    register: rv.id.clone(),
                    alg: rv.value.alg(),
                    claimed: rv.value,
                    vouched: "nothing".into(),
                }
                .into())
            }
        }
    }
    match vouch {
        SnapshotVouch::Checkpoint(cp) => resume(
            ImaInput::from_bytes(list),
            ResumeFrom::Tail(cp),
            end,
            config,
        ),
        SnapshotVouch::Quote(anchor) => {
            let format = format.unwrap_or(ListFormat {
                kind: super::ListKind::Binary,
                endian: super::Endian::Little,
                column: HashAlg::Sha1,
            });
            let digest_mode = match config.replay.digest_mode {
                DigestMode::PaddedSha1 => DigestMode::PaddedSha1,
                _ => DigestMode::PerBank,
            };
            let cp =
                Checkpoint::vouched_start(snapshot.registers.clone(), anchor, format, digest_mode);
            resume(
                ImaInput::from_bytes(list),
                ResumeFrom::Tail(&cp),
                end,
                config,
            )
        }
    }
}

/// Reader options that read a list like `format` (for callers that keep formats apart).
pub fn reader_options_for(format: ListFormat) -> ImaReaderOptions {
    ImaReaderOptions::default()
        .with_kind(format.kind)
        .with_endian(format.endian)
        .with_column(format.column)
}
