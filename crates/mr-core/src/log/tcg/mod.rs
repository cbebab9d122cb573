//! TCG PC-Client event logs (crypto-agile and legacy SHA-1) and the TDX CCEL log area.
//!
//! Formats (TCG PC Client Platform Firmware Profile; docs/formats.md#pc-client-log):
//! - **crypto-agile** (TPM 2.0): the first record is a legacy `TCG_PCR_EVENT` (EV_NO_ACTION,
//!   PCR 0, zero SHA-1 digest) carrying the [`SpecIdEvent`] with the algorithm / digest-size
//!   table; every later record is a `TCG_PCR_EVENT2` whose digests are read with the sizes of that
//!   table (`digestCount` must equal the table's length);
//! - **legacy SHA-1** (TCG 1.2): every record is a `TCG_PCR_EVENT` with one SHA-1 digest.
//!
//! [`parse`] gives an **unverified** [`TcgLog`]; [`replay`] turns its records into extend steps
//! for the one engine [`crate::replay::Replayer`] and compares with verified register values.
//! Log quirks live here, not in the engine: EV_NO_ACTION is never extended; a `StartupLocality`
//! event (or an H-CRTM event, see [`HcrtmStart`]) sets PCR 0's start value; CCEL log areas are
//! padded ([`Trailing`]).
//!
//! CCEL (docs/formats.md#ccel): the same crypto-agile format, `pcrIndex` = CC measurement-register index
//! (1..=4 ↦ RTMR 0..=3 via [`MrId::from_cc_mr_index`]), SHA-384; see [`ccel`].
//!
//! What the caller must ensure: that the [`VerifiedRegisters`](crate::VerifiedRegisters) passed to [`replay`] come from a
//! checked root of trust. Every length in the input is bounded by what remains and by a named
//! limit; malformed input is an [`Error::Parse`] with the byte offset and record number.

#![deny(clippy::indexing_slicing)]

pub mod ccel;
mod data;
mod event;
mod spec_id;

pub use data::{
    is_checkable, DataCheck, DataCheckPolicy, EventData, Hashed, ImageLoad, UefiVariable,
    MAX_VARIABLE_NAME_UNITS,
};
pub use event::{Event, EventType, STARTUP_LOCALITY_SIGNATURE};
pub use spec_id::{AlgorithmSize, SpecIdEvent, SPEC_ID_SIGNATURE};

use std::fmt;

use crate::alg::{Digest, HashAlg};
use crate::error::{EntryDigestMismatch, Error, ParseError, ParseErrorKind};
use crate::register::{ExpectedRegisters, MrId, RegisterValue};
use crate::replay::{PrefixPolicy, ReplayOptions, ReplayOutcome, Replayer};
use crate::trust::{ComputeOnly, Reference};

use crate::wire::Reader;

/// Largest `eventSize` accepted (16 MiB). Real events are at most tens of KiB (db/dbx variables,
/// GPT); the size must also fit in what is left of the input.
pub const MAX_EVENT_DATA_SIZE: u32 = 16 << 20;

/// Largest `numberOfAlgorithms` in a Spec ID event. The TCG algorithm registry has fewer hash
/// algorithms than this, and a TPM has a handful of banks.
pub const MAX_ALGORITHMS: u32 = 16;

/// Highest PCR index in a PC-Client log (a PC-Client TPM has PCRs 0-23).
pub const MAX_PCR_INDEX: u32 = 23;

/// `pcrIndex` of a padding "header": CCEL log areas are filled with 0xFF after the last record.
pub const PADDING_PCR_INDEX: u32 = 0xFFFF_FFFF;

/// Size of a legacy `TCG_PCR_EVENT` header (pcrIndex, eventType, SHA-1 digest, eventSize).
const LEGACY_HEADER_SIZE: usize = 4 + 4 + 20 + 4;

/// What may follow the last record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trailing {
    /// Nothing: the input must end exactly after a record (what Linux's
    /// `binary_bios_measurements` gives).
    #[default]
    Reject,
    /// A uniform fill after the last record: 0xFF (the unused part of a CCEL / TDVF log area,
    /// i.e. a header with `pcrIndex` 0xFFFFFFFF) or 0x00 (the kernel's end marker
    /// `eventType == 0 && eventSize == 0` followed by zeros). Bytes that are not a uniform fill
    /// are still refused.
    AllowPadding,
}

/// What to do with a Spec ID algorithm that mr does not know.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnknownAlgorithms {
    /// Refuse the log (as the Linux kernel does).
    #[default]
    Reject,
    /// Read its digests with the size the Spec ID event gives and leave the bank out.
    Skip,
}

/// How many digests a crypto-agile record must carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestCount {
    /// Exactly one per Spec ID algorithm (`digestCount == numberOfAlgorithms`, as the Linux
    /// kernel requires).
    #[default]
    MatchSpecId,
    /// Any non-empty subset of the Spec ID algorithms, each at most once (1 ≤ `digestCount` ≤
    /// `numberOfAlgorithms`, as go-attestation, tcglog-parser and the IBM TSS read logs):
    /// Windows logs, whose boot manager events (PCRs 11-14 and the Exit Boot Services pair in
    /// PCR 5) carry a SHA-256 digest only under a SHA-1 + SHA-256 Spec ID event, and hand-made
    /// logs such as the tpm2-tools fixtures (`event-uefiaction.bin`: 2 digests under a
    /// 4-algorithm header). A record extends only the banks it has a digest for; a replay says
    /// which register and bank pairs skipped records ([`TcgReplayReport::incomplete`]) and
    /// refuses to compare values of those pairs ([`NotVerifiable`]).
    SubsetOfSpecId,
}

/// What the digest of the Spec ID record (record 0, a legacy `TCG_PCR_EVENT`) may hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpecIdDigest {
    /// 20 zero bytes, as the PFP requires.
    #[default]
    Zero,
    /// Any value: OpenPOWER Hostboot logs carry a non-zero digest there. The record is
    /// EV_NO_ACTION and never extended, so its digest does not change any replayed value; only
    /// for reading such logs ([`TcgReplayConfig::replay_only`]).
    Any,
}

/// Parse options; `Default` is the strictest behaviour.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ParseOptions {
    /// What may follow the last record.
    pub trailing: Trailing,
    /// Spec ID algorithms mr does not know.
    pub unknown_algorithms: UnknownAlgorithms,
    /// Digests per crypto-agile record.
    pub digest_count: DigestCount,
    /// Largest `eventSize` accepted; values above [`MAX_EVENT_DATA_SIZE`] are capped to it.
    pub max_event_data: u32,
    /// The digest of the Spec ID record.
    pub spec_id_digest: SpecIdDigest,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            trailing: Trailing::Reject,
            unknown_algorithms: UnknownAlgorithms::Reject,
            digest_count: DigestCount::MatchSpecId,
            max_event_data: MAX_EVENT_DATA_SIZE,
            spec_id_digest: SpecIdDigest::Zero,
        }
    }
}

impl ParseOptions {
    /// Options for a CCEL log area: strict, except that the area's padding is allowed.
    pub fn ccel() -> Self {
        ParseOptions::default().with_trailing(Trailing::AllowPadding)
    }

    /// Set what may follow the last record.
    pub fn with_trailing(mut self, trailing: Trailing) -> Self {
        self.trailing = trailing;
        self
    }

    /// Set the handling of unknown Spec ID algorithms.
    pub fn with_unknown_algorithms(mut self, unknown: UnknownAlgorithms) -> Self {
        self.unknown_algorithms = unknown;
        self
    }

    /// Set how many digests a record must carry.
    pub fn with_digest_count(mut self, digest_count: DigestCount) -> Self {
        self.digest_count = digest_count;
        self
    }

    /// Set what the digest of the Spec ID record may hold.
    pub fn with_spec_id_digest(mut self, spec_id_digest: SpecIdDigest) -> Self {
        self.spec_id_digest = spec_id_digest;
        self
    }

    /// Tighten the largest accepted `eventSize` (never above [`MAX_EVENT_DATA_SIZE`]).
    pub fn with_max_event_data(mut self, max: u32) -> Self {
        self.max_event_data = max.min(MAX_EVENT_DATA_SIZE);
        self
    }
}

/// The record format of a log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// TPM 2.0 crypto-agile (Spec ID Event03 + `TCG_PCR_EVENT2` records).
    CryptoAgile,
    /// TCG 1.2 SHA-1 (`TCG_PCR_EVENT` records only).
    Sha1,
}

/// Where the records ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogEnd {
    /// At the end of the input.
    EndOfInput,
    /// At a uniform fill of `fill` bytes ([`Trailing::AllowPadding`]).
    Padding {
        /// Absolute offset of the first padding byte.
        offset: u64,
        /// Padding bytes.
        len: u64,
        /// The fill byte (0xFF or 0x00).
        fill: u8,
    },
}

/// A parsed, **unverified** TCG log borrowing from the caller's buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcgLog<'a> {
    /// Record format.
    pub format: LogFormat,
    /// The Spec ID event (crypto-agile logs only).
    pub spec_id: Option<SpecIdEvent<'a>>,
    /// Every record, including the Spec ID header record (record 0).
    pub events: Vec<Event<'a>>,
    /// Where the records ended.
    pub end: LogEnd,
}

impl TcgLog<'_> {
    /// The banks of the log that mr can replay (SHA-1 only for legacy logs).
    pub fn banks(&self) -> Vec<HashAlg> {
        match &self.spec_id {
            Some(s) => s.banks(),
            None => vec![HashAlg::Sha1],
        }
    }

    /// The locality of the `StartupLocality` event, if the log has one.
    pub fn startup_locality(&self) -> Option<u8> {
        self.events.iter().find_map(Event::startup_locality)
    }
}

pub(crate) fn perr(
    format: &'static str,
    structure: &'static str,
    offset: u64,
    entry: Option<u64>,
    kind: ParseErrorKind,
) -> Error {
    Error::Parse(ParseError {
        format,
        structure,
        offset,
        entry,
        kind,
    })
}

/// Parse a PC-Client log (crypto-agile or legacy SHA-1).
pub fn parse<'a>(log: &'a [u8], opts: &ParseOptions) -> Result<TcgLog<'a>, Error> {
    parse_as(log, opts, "tcg log")
}

/// Parse, naming `format` in errors ("tcg log" or "ccel log").
pub(crate) fn parse_as<'a>(
    log: &'a [u8],
    opts: &ParseOptions,
    format: &'static str,
) -> Result<TcgLog<'a>, Error> {
    let mut it = events_as(log, opts, format)?;
    let mut events: Vec<Event<'a>> = Vec::new();
    for e in it.by_ref() {
        events.push(e?);
    }
    Ok(TcgLog {
        format: it.format(),
        end: it.end().unwrap_or(LogEnd::EndOfInput),
        spec_id: it.spec_id,
        events,
    })
}

/// A streaming reader of a PC-Client log's records (see [`events`]): yields each record as it
/// is read, so memory does not grow with the log. After the last record (`None`), [`Events::end`]
/// says where the records ended. The first error ends the iteration.
#[derive(Debug)]
pub struct Events<'a> {
    r: Reader<'a>,
    spec_id: Option<SpecIdEvent<'a>>,
    first: Option<Event<'a>>,
    opts: ParseOptions,
    max_event: u32,
    fill: Option<(usize, u8)>,
    record: u64,
    end: Option<LogEnd>,
    failed: bool,
}

impl<'a> Events<'a> {
    /// The Spec ID event (crypto-agile logs).
    pub fn spec_id(&self) -> Option<&SpecIdEvent<'a>> {
        self.spec_id.as_ref()
    }

    /// The record format.
    pub fn format(&self) -> LogFormat {
        if self.spec_id.is_some() {
            LogFormat::CryptoAgile
        } else {
            LogFormat::Sha1
        }
    }

    /// Where the records ended, once the iterator returned `None` without an error.
    pub fn end(&self) -> Option<LogEnd> {
        self.end
    }

    fn read_next(&mut self) -> Result<Option<Event<'a>>, Error> {
        if let Some(first) = self.first.take() {
            return Ok(Some(first));
        }
        if self.end.is_some() {
            return Ok(None);
        }
        if self.r.is_empty() {
            self.end = Some(LogEnd::EndOfInput);
            return Ok(None);
        }
        if let Some(end) = padding_at(&self.r, self.fill, self.opts.trailing, self.record)? {
            self.end = Some(end);
            return Ok(None);
        }
        let event = match &self.spec_id {
            Some(spec) => read_agile(
                &mut self.r,
                spec,
                self.opts.digest_count,
                self.record,
                self.max_event,
            )?,
            None => read_legacy(&mut self.r, self.record, self.max_event)?,
        };
        self.record += 1;
        Ok(Some(event))
    }
}

impl<'a> Iterator for Events<'a> {
    type Item = Result<Event<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.read_next() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Stream the records of a PC-Client log (crypto-agile or legacy SHA-1): the first record (and
/// the Spec ID event) is read here, the others as the iterator advances. [`parse`] collects
/// the same records.
pub fn events<'a>(log: &'a [u8], opts: &ParseOptions) -> Result<Events<'a>, Error> {
    events_as(log, opts, "tcg log")
}

fn events_as<'a>(
    log: &'a [u8],
    opts: &ParseOptions,
    format: &'static str,
) -> Result<Events<'a>, Error> {
    if log.is_empty() {
        return Err(perr(format, "log", 0, None, ParseErrorKind::Empty));
    }
    let max_event = opts.max_event_data.min(MAX_EVENT_DATA_SIZE);
    let mut r = Reader::new(format, log);

    // Record 0: always a legacy TCG_PCR_EVENT.
    let first = read_legacy(&mut r, 0, max_event)?;
    // PC-Client logs put the header on PCR 0, TDVF's CCEL on CC MR index 1: the index is not
    // part of the test (the record is never extended).
    let crypto_agile =
        first.event_type == EventType::EV_NO_ACTION && first.data.starts_with(SPEC_ID_SIGNATURE);
    let spec_id = if crypto_agile {
        const S: &str = "spec id event";
        if opts.spec_id_digest == SpecIdDigest::Zero && first.digests.iter().any(|d| !d.is_zero()) {
            return Err(perr(
                format,
                S,
                first.offset + 8,
                Some(0),
                ParseErrorKind::Invalid(
                    "the Spec ID record's digest is not zero (OpenPOWER Hostboot logs: read them in the replay-only mode)".into(),
                ),
            ));
        }
        let data_offset = first.offset + LEGACY_HEADER_SIZE as u64;
        let mut sr = Reader::at(format, first.data, data_offset);
        sr.set_entry(Some(0));
        Some(SpecIdEvent::parse(&mut sr, opts.unknown_algorithms)?)
    } else {
        None
    };
    Ok(Events {
        r,
        spec_id,
        first: Some(first),
        opts: opts.clone(),
        max_event,
        fill: trailing_fill(log),
        record: 1,
        end: None,
        failed: false,
    })
}

/// The uniform fill (0x00 or 0xFF) that ends `log`: its first offset and byte.
fn trailing_fill(log: &[u8]) -> Option<(usize, u8)> {
    const BLOCK: usize = 64;
    let last = *log.last()?;
    if last != 0x00 && last != 0xFF {
        return None;
    }
    // Whole blocks first (compared with memcmp: CCEL areas carry hundreds of KiB of fill).
    let block = [last; BLOCK];
    let mut start = log.len();
    while start >= BLOCK && log.get(start - BLOCK..start) == Some(&block[..]) {
        start -= BLOCK;
    }
    while start > 0 && log.get(start - 1) == Some(&last) {
        start -= 1;
    }
    Some((start, last))
}

/// At the start of a record: is the rest of the input a uniform padding fill (or a padding
/// header that is not followed by a uniform fill)? `fill` is [`trailing_fill`] of the input.
fn padding_at(
    r: &Reader<'_>,
    fill: Option<(usize, u8)>,
    trailing: Trailing,
    record: u64,
) -> Result<Option<LogEnd>, Error> {
    let at = r.offset();
    let fill = fill
        .filter(|(start, _)| *start as u64 <= at)
        .map(|(_, b)| b);
    let len = r.remaining() as u64;
    match (fill, trailing) {
        (Some(fill), Trailing::AllowPadding) => Ok(Some(LogEnd::Padding {
            offset: at,
            len,
            fill,
        })),
        (Some(fill), Trailing::Reject) => {
            let mut r = r.clone();
            r.set_entry(Some(record));
            Err(r
                .error(
                    "log end",
                    ParseErrorKind::Invalid(format!(
                        "{len} bytes of {fill:#04x} padding after the last record (allowed only with trailing padding enabled)"
                    )),
                )
                .into())
        }
        // Not followed by a uniform fill, a pcrIndex of 0xFFFFFFFF is a record: Windows logs
        // EV_NO_ACTION events with PCR -1 (go-attestation `option_rom_eventlog`).
        (None, _) => Ok(None),
    }
}

/// Read an `eventSize` + event data, bounded by `max` and by what remains.
fn read_event_data<'a>(r: &mut Reader<'a>, max: u32) -> Result<&'a [u8], Error> {
    let at = r.offset();
    let size = r.u32_le("event size")?;
    if size > max {
        return Err(r
            .error_at(
                at,
                "event size",
                ParseErrorKind::LengthTooLarge {
                    len: u64::from(size),
                    max: u64::from(max),
                },
            )
            .into());
    }
    Ok(r.bytes(u64::from(size), u64::from(max), "event data")?)
}

/// A legacy `TCG_PCR_EVENT` (TCG 1.2; also the first record of a crypto-agile log).
fn read_legacy<'a>(r: &mut Reader<'a>, record: u64, max_event: u32) -> Result<Event<'a>, Error> {
    const S: &str = "event header";
    r.set_entry(Some(record));
    let offset = r.offset();
    let mut h = r.sub(LEGACY_HEADER_SIZE - 4, S)?;
    let index = h.u32_le(S)?;
    let event_type = EventType(h.u32_le(S)?);
    let sha1 = h.take(20, S)?;
    let digest = Digest::new(HashAlg::Sha1, sha1)?;
    let data_offset = r.offset().saturating_add(4);
    let data = read_event_data(r, max_event)?;
    Ok(Event {
        record,
        offset,
        index,
        event_type,
        digests: vec![digest],
        data,
        data_offset,
    })
}

/// A crypto-agile `TCG_PCR_EVENT2`, digests read with the Spec ID table's sizes.
fn read_agile<'a>(
    r: &mut Reader<'a>,
    spec: &SpecIdEvent<'_>,
    digest_count: DigestCount,
    record: u64,
    max_event: u32,
) -> Result<Event<'a>, Error> {
    const S: &str = "event header";
    r.set_entry(Some(record));
    let offset = r.offset();
    let index = r.u32_le(S)?;
    let event_type = EventType(r.u32_le(S)?);
    let at = r.offset();
    let count = r.u32_le(S)?;
    let n = spec.algorithms.len();
    let count_ok = match digest_count {
        DigestCount::MatchSpecId => count as usize == n,
        DigestCount::SubsetOfSpecId => count >= 1 && count as usize <= n,
    };
    if !count_ok {
        return Err(r
            .error_at(
                at,
                "digest count",
                ParseErrorKind::Invalid(format!(
                    "digestCount {count} does not match the Spec ID event's {} algorithms",
                    spec.algorithms.len()
                )),
            )
            .into());
    }
    // Bounded by MAX_ALGORITHMS through the Spec ID table.
    let mut digests: Vec<Digest> = Vec::with_capacity(spec.algorithms.len());
    let mut seen: Vec<u16> = Vec::with_capacity(spec.algorithms.len());
    for _ in 0..count {
        let at = r.offset();
        let alg_id = r.u16_le("digest")?;
        let Some(entry) = spec.entry(alg_id) else {
            return Err(r
                .error_at(
                    at,
                    "digest",
                    ParseErrorKind::UnknownAlgorithm(format!(
                        "{alg_id:#06x} (not in the Spec ID event)"
                    )),
                )
                .into());
        };
        if seen.contains(&alg_id) {
            return Err(r
                .error_at(
                    at,
                    "digest",
                    ParseErrorKind::Invalid(format!("two digests for algorithm {alg_id:#06x}")),
                )
                .into());
        }
        seen.push(alg_id);
        let bytes = r.take(usize::from(entry.digest_size), "digest")?;
        if let Some(alg) = entry.alg {
            digests.push(Digest::new(alg, bytes)?);
        }
    }
    let data_offset = r.offset().saturating_add(4);
    let data = read_event_data(r, max_event)?;
    Ok(Event {
        record,
        offset,
        index,
        event_type,
        digests,
        data,
        data_offset,
    })
}

/// How registers are named by a log's `pcrIndex` field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterSpace {
    /// PC-Client: `pcrIndex` is a PCR (0..=[`MAX_PCR_INDEX`]), `MrId::Pcr(n)`.
    #[default]
    Pcr,
    /// CCEL: `pcrIndex` is a CC measurement-register index; 1..=4 ↦ RTMR 0..=3
    /// ([`MrId::from_cc_mr_index`]); index 0 (MRTD) is never extended.
    CcMr,
}

/// Whether an `EV_EFI_HCRTM_EVENT` starts PCR 0 at locality 4.
///
/// With an H-CRTM, `_TPM_Hash_Start` resets PCR 0 to `00..04` (TPM 2.0 Part 1, "H-CRTM event
/// sequence") and the firmware logs the H-CRTM digest as `EV_EFI_HCRTM_EVENT` (data `"HCRTM"`)
/// as the first PCR 0 measurement; such logs carry no `StartupLocality` event (tpm2-tss
/// `binary_measurements_hcrtm.bin`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HcrtmStart {
    /// When the log has no `StartupLocality` event and its first measurement into PCR 0 is an
    /// `EV_EFI_HCRTM_EVENT`, PCR 0 starts at locality 4.
    #[default]
    FromEvent,
    /// Only a `StartupLocality` event changes PCR 0's start value.
    Ignore,
}

/// The firmware bug of a log without the two `Exit Boot Services` EV_EFI_ACTION events in
/// PCR 5 (go-attestation `ebs_event_missing_eventlog`: the firmware extended PCR 5 with them but
/// did not log them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MissingExitBootServices {
    /// Replay the log as it is (PCR 5 then does not match the TPM).
    #[default]
    AsLogged,
    /// When PCR 5 has no `"Exit Boot Services Invocation"` EV_EFI_ACTION, append one
    /// record extending PCR 5 with `"Exit Boot Services Invocation"` and then one with
    /// `"Exit Boot Services Returned with Success"` (digests = hash of the strings), as
    /// go-attestation's workaround does: against verified values only if PCR 5 does not match
    /// without them (a log read before ExitBootServices lacks them legitimately); without
    /// verified values always. The report says whether they were appended.
    AppendToPcr5,
}

/// EV_EFI_ACTION data of the first Exit Boot Services event.
pub const EBS_INVOCATION: &[u8] = b"Exit Boot Services Invocation";
/// EV_EFI_ACTION data of the second Exit Boot Services event (success).
pub const EBS_RETURNED_SUCCESS: &[u8] = b"Exit Boot Services Returned with Success";

/// Records kept in [`DataChecks::failures`] (later ones are only counted).
pub const MAX_REPORTED_DATA_FAILURES: usize = 64;

/// What the per-record data checks found ([`Event::data_check`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataChecks {
    /// Records whose data was checked against their digests and agreed.
    pub verified: u64,
    /// Extended records of types whose digest is not the hash of their data.
    pub not_checkable: u64,
    /// Records of checkable types that failed (the first [`MAX_REPORTED_DATA_FAILURES`]),
    /// with their record number (only with [`DataCheckPolicy::Report`]: otherwise the first
    /// one fails the replay).
    pub failures: Vec<(u64, DataCheck)>,
    /// All failures.
    pub failure_count: u64,
}

/// Configuration of [`replay`]; `Default` is a strict PC-Client replay.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TcgReplayConfig {
    /// Parse options.
    pub parse: ParseOptions,
    /// What `pcrIndex` names.
    pub registers: RegisterSpace,
    /// Banks to replay (empty: every bank of the log that mr knows).
    pub banks: Vec<HashAlg>,
    /// Engine options. An explicit start value for PCR 0 overrides the log's locality.
    pub replay: ReplayOptions,
    /// H-CRTM handling.
    pub hcrtm: HcrtmStart,
    /// Records whose checkable data disagrees with their digest (default: reject).
    pub data_check: DataCheckPolicy,
    /// The missing Exit Boot Services events (default: replay as logged).
    pub missing_ebs: MissingExitBootServices,
}

impl Default for TcgReplayConfig {
    fn default() -> Self {
        TcgReplayConfig::pc_client()
    }
}

impl TcgReplayConfig {
    /// PC-Client, the strict mode of a verifier: strict parsing except that a record may carry
    /// digests for a subset of the Spec ID banks ([`DigestCount::SubsetOfSpecId`], Windows
    /// logs; a register and bank pair that skipped records is [`NotVerifiable`]), PCRs, every
    /// bank, exact match (a firmware log is complete by the time an OS quotes it), checkable
    /// event data must match its digests.
    pub fn pc_client() -> Self {
        TcgReplayConfig {
            parse: ParseOptions::default().with_digest_count(DigestCount::SubsetOfSpecId),
            registers: RegisterSpace::Pcr,
            banks: Vec::new(),
            replay: ReplayOptions::default().with_prefix(PrefixPolicy::Exact),
            hcrtm: HcrtmStart::default(),
            data_check: DataCheckPolicy::Reject,
            missing_ebs: MissingExitBootServices::AsLogged,
        }
    }

    /// The replay-only mode, for reading logs of firmware with known deviations (never for a
    /// verifier): [`TcgReplayConfig::pc_client`], except that the Spec ID record's digest may be
    /// anything ([`SpecIdDigest::Any`], OpenPOWER Hostboot) and records whose checkable data
    /// disagrees with their digests are only reported ([`DataCheckPolicy::Report`]; e.g.
    /// firmware that hashes only the `VariableData` of Secure Boot variables,
    /// [`DataCheck::ValueOnly`]). The digests are still what is extended: the values computed
    /// are the ones the TPM holds, and nothing in the event data is vouched for.
    pub fn replay_only() -> Self {
        let pc = TcgReplayConfig::pc_client();
        TcgReplayConfig {
            parse: pc.parse.clone().with_spec_id_digest(SpecIdDigest::Any),
            data_check: DataCheckPolicy::Report,
            ..pc
        }
    }

    /// CCEL log area: padding allowed, CC MR indexes (RTMRs), the SHA-384 bank, exact match.
    pub fn ccel() -> Self {
        TcgReplayConfig {
            parse: ParseOptions::ccel(),
            registers: RegisterSpace::CcMr,
            banks: vec![HashAlg::Sha384],
            replay: ReplayOptions::default().with_prefix(PrefixPolicy::Exact),
            hcrtm: HcrtmStart::Ignore,
            data_check: DataCheckPolicy::Reject,
            missing_ebs: MissingExitBootServices::AsLogged,
        }
    }

    /// Set the parse options.
    pub fn with_parse(mut self, parse: ParseOptions) -> Self {
        self.parse = parse;
        self
    }

    /// Restrict the replay to `banks` (empty: all).
    pub fn with_banks(mut self, banks: Vec<HashAlg>) -> Self {
        self.banks = banks;
        self
    }

    /// Set the engine options.
    pub fn with_replay(mut self, replay: ReplayOptions) -> Self {
        self.replay = replay;
        self
    }

    /// Set the H-CRTM handling.
    pub fn with_hcrtm(mut self, hcrtm: HcrtmStart) -> Self {
        self.hcrtm = hcrtm;
        self
    }

    /// Set what a record whose checkable data disagrees with its digest does.
    pub fn with_data_check(mut self, policy: DataCheckPolicy) -> Self {
        self.data_check = policy;
        self
    }

    /// Set the handling of missing Exit Boot Services events.
    pub fn with_missing_ebs(mut self, ebs: MissingExitBootServices) -> Self {
        self.missing_ebs = ebs;
        self
    }
}

/// The result of a [`replay`] that verified (or, without verified values, simply ran).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcgReplayReport {
    /// The engine's outcome: final value of every register and bank, entries, matching prefix.
    /// Entries are records, the Spec ID header included.
    pub outcome: ReplayOutcome,
    /// Record format of the log.
    pub format: LogFormat,
    /// Banks replayed.
    pub banks: Vec<HashAlg>,
    /// PCR 0's start locality (from `StartupLocality` or an H-CRTM event), PC-Client only.
    pub startup_locality: Option<u8>,
    /// Where the records ended.
    pub end: LogEnd,
    /// Per-record data checks.
    pub data_checks: DataChecks,
    /// True when the two Exit Boot Services records were appended
    /// ([`MissingExitBootServices::AppendToPcr5`]); they count in `outcome.entries`.
    pub ebs_appended: bool,
    /// The register and bank pairs the log covers only partly: records that extend the
    /// register carry no digest for the bank ([`DigestCount::SubsetOfSpecId`]), so the value
    /// replayed for the pair is not the register's. Empty when every record carries every bank
    /// replayed. Ordered by register, then bank.
    pub incomplete: Vec<IncompleteBank>,
}

impl TcgReplayReport {
    /// Whether the log is complete for `register` in bank `alg`: the bank was replayed and
    /// every record extending the register carries a digest for it (a register the log never
    /// extends is complete: it keeps its start value).
    pub fn is_complete(&self, register: &MrId, alg: HashAlg) -> bool {
        self.banks.contains(&alg)
            && !self
                .incomplete
                .iter()
                .any(|p| p.register == *register && p.alg == alg)
    }
}

/// A register and bank pair that a log covers only partly: some records extending the register
/// carry no digest for the bank (Windows logs: the boot manager's events in PCRs 11-14 and 5
/// carry SHA-256 only). Its replayed value skipped those records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncompleteBank {
    /// The register.
    pub register: MrId,
    /// The bank.
    pub alg: HashAlg,
    /// Records that extend the register.
    pub records: u64,
    /// Records among them without a digest for the bank.
    pub missing: u64,
    /// The first record without the digest: its record number.
    pub first_record: u64,
    /// Its byte offset in the log.
    pub first_offset: u64,
    /// Its event type.
    pub first_type: EventType,
}

impl fmt::Display for IncompleteBank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {} of the {} records extending it carry no {} digest, the first record {} ({} at byte offset {})",
            self.register,
            self.alg,
            self.missing,
            self.records,
            self.alg,
            self.first_record,
            self.first_type,
            self.first_offset
        )
    }
}

/// Values given for register and bank pairs that the log covers only partly
/// ([`TcgReplayReport::incomplete`]): a replay skipped records there, so comparing would say
/// nothing about them. The replay is refused as not verifiable (never reported as verified);
/// compare another bank, or leave these pairs out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotVerifiable {
    /// Each pair with a value given that the log covers only partly.
    pub pairs: Vec<IncompleteBank>,
}

impl fmt::Display for NotVerifiable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not verifiable: the log is incomplete for")?;
        for (i, p) in self.pairs.iter().enumerate() {
            write!(f, "{} {p}", if i == 0 { "" } else { ";" })?;
        }
        f.write_str(" (compare another bank, or leave these values out)")
    }
}

impl std::error::Error for NotVerifiable {}

/// The register and bank pairs of `banks` that `log` covers only partly.
fn incomplete_banks(
    log: &TcgLog<'_>,
    space: RegisterSpace,
    banks: &[HashAlg],
    format: &'static str,
) -> Result<Vec<IncompleteBank>, Error> {
    // (register, records extending it); bounded by the register space (at most 24 PCRs or
    // 4 RTMRs: register_of refuses any other index).
    let mut extended: Vec<(MrId, u64)> = Vec::new();
    let mut out: Vec<IncompleteBank> = Vec::new();
    for e in log.events.iter().filter(|e| !e.is_no_action()) {
        let id = register_of(e, space, format)?;
        match extended.iter_mut().find(|(r, _)| *r == id) {
            Some((_, n)) => *n += 1,
            None => extended.push((id.clone(), 1)),
        }
        for alg in banks {
            if e.digest(*alg).is_some() {
                continue;
            }
            match out.iter_mut().find(|p| p.register == id && p.alg == *alg) {
                Some(p) => p.missing += 1,
                None => out.push(IncompleteBank {
                    register: id.clone(),
                    alg: *alg,
                    records: 0,
                    missing: 1,
                    first_record: e.record,
                    first_offset: e.offset,
                    first_type: e.event_type,
                }),
            }
        }
    }
    for p in &mut out {
        p.records = extended
            .iter()
            .find(|(r, _)| *r == p.register)
            .map_or(0, |(_, n)| *n);
    }
    out.sort_by(|a, b| (&a.register, a.alg).cmp(&(&b.register, b.alg)));
    Ok(out)
}

/// PCR 0's start value at `locality`: zeros with the last byte = locality.
pub(crate) fn locality_value(alg: HashAlg, locality: u8) -> Result<Digest, Error> {
    let mut bytes = [0u8; crate::alg::MAX_DIGEST_SIZE];
    let size = alg.size();
    if let Some(last) = bytes.get_mut(size - 1) {
        *last = locality;
    }
    Digest::new(alg, bytes.get(..size).unwrap_or(&[]))
}

/// The start locality of PCR 0 that `log` signals.
fn start_locality(
    log: &TcgLog<'_>,
    hcrtm: HcrtmStart,
    format: &'static str,
) -> Result<Option<u8>, Error> {
    let mut found: Option<u8> = None;
    for e in &log.events {
        if let Some(l) = e.startup_locality() {
            if l > 4 {
                return Err(perr(
                    format,
                    "startup locality event",
                    e.offset,
                    Some(e.record),
                    ParseErrorKind::Invalid(format!("locality {l} (must be 0..=4)")),
                ));
            }
            if found.is_some_and(|f| f != l) {
                return Err(perr(
                    format,
                    "startup locality event",
                    e.offset,
                    Some(e.record),
                    ParseErrorKind::Invalid(
                        "two StartupLocality events with different localities".into(),
                    ),
                ));
            }
            found = Some(l);
        }
    }
    if found.is_none() && hcrtm == HcrtmStart::FromEvent {
        let first_pcr0 = log
            .events
            .iter()
            .find(|e| e.index == 0 && !e.is_no_action());
        if first_pcr0.is_some_and(|e| e.event_type == EventType::EV_EFI_HCRTM_EVENT) {
            found = Some(4);
        }
    }
    Ok(found)
}

/// Parse `log` and replay it through [`Replayer`] against the values of `reference` (a
/// mismatch is [`Error::Replay`]; see [`crate::trust`] for the result's type).
pub fn replay<R: Reference>(
    log: &[u8],
    cfg: &TcgReplayConfig,
    reference: &R,
) -> Result<R::Outcome<TcgReplayReport>, Error> {
    replay_as(log, cfg, reference.expected(), "tcg log").map(|r| reference.outcome(r))
}

pub(crate) fn replay_as(
    log: &[u8],
    cfg: &TcgReplayConfig,
    expected: Option<&ExpectedRegisters>,
    format: &'static str,
) -> Result<TcgReplayReport, Error> {
    let parsed = parse_as(log, &cfg.parse, format)?;
    replay_log(&parsed, cfg, expected, format)
}

/// Replay an already parsed log (see [`replay`]).
pub fn replay_parsed<R: Reference>(
    log: &TcgLog<'_>,
    cfg: &TcgReplayConfig,
    reference: &R,
) -> Result<R::Outcome<TcgReplayReport>, Error> {
    replay_log(log, cfg, reference.expected(), "tcg log").map(|r| reference.outcome(r))
}

fn replay_log(
    log: &TcgLog<'_>,
    cfg: &TcgReplayConfig,
    expected: Option<&ExpectedRegisters>,
    format: &'static str,
) -> Result<TcgReplayReport, Error> {
    let log_banks = log.banks();
    let banks: Vec<HashAlg> = if cfg.banks.is_empty() {
        log_banks.clone()
    } else {
        for b in &cfg.banks {
            if !log_banks.contains(b) {
                return Err(perr(
                    format,
                    "spec id event",
                    0,
                    Some(0),
                    ParseErrorKind::Invalid(format!(
                        "the log has no {b} bank (it has {})",
                        names(&log_banks)
                    )),
                ));
            }
        }
        cfg.banks.clone()
    };

    let incomplete = incomplete_banks(log, cfg.registers, &banks, format)?;
    if let Some(expected) = expected {
        let pairs: Vec<IncompleteBank> = incomplete
            .iter()
            .filter(|p| expected.get(&p.register, p.alg).is_some())
            .cloned()
            .collect();
        if !pairs.is_empty() {
            return Err(Error::NotVerifiable(Box::new(NotVerifiable { pairs })));
        }
    }

    let mut opts = cfg.replay.clone();
    let mut locality = None;
    if cfg.registers == RegisterSpace::Pcr {
        locality = start_locality(log, cfg.hcrtm, format)?;
        if let Some(l) = locality {
            for alg in &banks {
                if !opts.start.contains_key(&(MrId::Pcr(0), *alg)) {
                    opts = opts.with_start(MrId::Pcr(0), locality_value(*alg, l)?);
                }
            }
        }
    }

    let has_ebs = log.events.iter().any(|e| {
        e.index == 5 && e.event_type == EventType::EV_EFI_ACTION && e.data == EBS_INVOCATION
    });
    let may_append = cfg.missing_ebs == MissingExitBootServices::AppendToPcr5
        && cfg.registers == RegisterSpace::Pcr
        && !has_ebs;
    // With verified values the events are appended only when PCR 5 does not match without
    // them (as go-attestation does): a log read before ExitBootServices lacks them legitimately.
    let first_try_appends = may_append && expected.is_none();
    let (outcome, checks, ebs_appended) =
        match replay_events(log, cfg, expected, &opts, &banks, first_try_appends, format) {
            Err(Error::Replay(r))
                if may_append
                    && !first_try_appends
                    && r.mismatches.iter().any(|m| m.register == MrId::Pcr(5)) =>
            {
                replay_events(log, cfg, expected, &opts, &banks, true, format)?
            }
            other => other?,
        };
    Ok(TcgReplayReport {
        outcome,
        format: log.format,
        banks,
        startup_locality: locality,
        end: log.end,
        data_checks: checks,
        ebs_appended,
        incomplete,
    })
}

/// One pass over the records (plus the two Exit Boot Services records when `append_ebs`).
fn replay_events(
    log: &TcgLog<'_>,
    cfg: &TcgReplayConfig,
    expected: Option<&ExpectedRegisters>,
    opts: &ReplayOptions,
    banks: &[HashAlg],
    append_ebs: bool,
    format: &'static str,
) -> Result<(ReplayOutcome, DataChecks, bool), Error> {
    let mut replayer = match expected {
        Some(v) => Replayer::verifying(v, opts.clone()),
        None => Replayer::new(opts.clone()),
    };
    let mut checks = DataChecks::default();
    for e in &log.events {
        if !e.is_no_action() {
            let id = register_of(e, cfg.registers, format)?;
            for d in &e.digests {
                if banks.contains(&d.alg()) {
                    replayer.extend(&id, d);
                }
            }
            match e.data_check() {
                DataCheck::Verified(_) => checks.verified += 1,
                DataCheck::NotCheckable => checks.not_checkable += 1,
                failure => {
                    if cfg.data_check == DataCheckPolicy::Reject {
                        match failure {
                            DataCheck::Mismatch {
                                alg,
                                recorded,
                                computed,
                            }
                            | DataCheck::ValueOnly {
                                alg,
                                recorded,
                                computed,
                            } => replayer.note_bad_entry(EntryDigestMismatch {
                                entry: e.record,
                                offset: e.offset,
                                register: id.clone(),
                                alg,
                                recorded,
                                computed,
                                violation: false,
                            }),
                            DataCheck::Malformed(p) => return Err(Error::Parse(p)),
                            DataCheck::Verified(_) | DataCheck::NotCheckable => {}
                        }
                    } else {
                        checks.failure_count += 1;
                        if checks.failures.len() < MAX_REPORTED_DATA_FAILURES {
                            checks.failures.push((e.record, failure));
                        }
                    }
                }
            }
        }
        replayer.end_entry();
    }
    if append_ebs {
        for action in [EBS_INVOCATION, EBS_RETURNED_SUCCESS] {
            for alg in banks {
                replayer.extend(&MrId::Pcr(5), &alg.hash(action));
            }
            replayer.end_entry();
        }
    }
    Ok((replayer.finish()?, checks, append_ebs))
}

fn names(banks: &[HashAlg]) -> String {
    if banks.is_empty() {
        return "none that mr knows".into();
    }
    banks
        .iter()
        .map(|b| b.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The register an extending record names.
fn register_of(e: &Event<'_>, space: RegisterSpace, format: &'static str) -> Result<MrId, Error> {
    let bad = |msg: String| {
        perr(
            format,
            "event header",
            e.offset,
            Some(e.record),
            ParseErrorKind::Invalid(msg),
        )
    };
    match space {
        RegisterSpace::Pcr => {
            if e.index > MAX_PCR_INDEX {
                return Err(bad(format!(
                    "{} event extends PCR {} (PC-Client PCRs are 0..={MAX_PCR_INDEX})",
                    e.event_type, e.index
                )));
            }
            Ok(MrId::Pcr(e.index))
        }
        RegisterSpace::CcMr => match MrId::from_cc_mr_index(e.index) {
            Some(MrId::Mrtd) | None => Err(bad(format!(
                "{} event extends CC MR index {} (only 1..=4, RTMR 0..=3, can be extended)",
                e.event_type, e.index
            ))),
            Some(id) => Ok(id),
        },
    }
}

/// Which PCRs an IMA `boot_aggregate` hashes (Linux `ima_calc_boot_aggregate`).
///
/// The SHA-1 aggregate has always covered PCR 0-7. For the other banks, kernels from 5.8 add
/// PCR 8 and 9 (where GRUB measures the kernel command line and files); Linux 5.7, the first
/// kernel with non-SHA-1 aggregates, hashed PCR 0-7 only, and lists from it exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BootAggregateRule {
    /// `H(PCR0 || .. || PCR7)`: every SHA-1 aggregate, and non-SHA-1 aggregates of Linux 5.7.
    Pcrs0To7,
    /// `H(PCR0 || .. || PCR9)`: non-SHA-1 aggregates of Linux 5.8 and later.
    Pcrs0To9,
}

impl BootAggregateRule {
    /// The rule of current kernels for bank `alg`: PCR 0-7 for SHA-1, PCR 0-9 otherwise.
    pub fn current(alg: HashAlg) -> BootAggregateRule {
        if alg == HashAlg::Sha1 {
            BootAggregateRule::Pcrs0To7
        } else {
            BootAggregateRule::Pcrs0To9
        }
    }

    /// The rules a verifier accepts for bank `alg`: for SHA-1 the one rule; for other banks the
    /// current one first, then Linux 5.7's.
    pub fn accepted(alg: HashAlg) -> &'static [BootAggregateRule] {
        if alg == HashAlg::Sha1 {
            &[BootAggregateRule::Pcrs0To7]
        } else {
            &[BootAggregateRule::Pcrs0To9, BootAggregateRule::Pcrs0To7]
        }
    }

    /// The last PCR hashed.
    pub fn last_pcr(self) -> u32 {
        match self {
            BootAggregateRule::Pcrs0To7 => 7,
            BootAggregateRule::Pcrs0To9 => 9,
        }
    }

    /// A short name for reports: `pcr0-7` or `pcr0-9`.
    pub fn name(self) -> &'static str {
        match self {
            BootAggregateRule::Pcrs0To7 => "pcr0-7",
            BootAggregateRule::Pcrs0To9 => "pcr0-9",
        }
    }

    /// Which kernels compute an aggregate of bank `alg` this way, for messages.
    pub fn kernels(self, alg: HashAlg) -> &'static str {
        match (self, alg) {
            (BootAggregateRule::Pcrs0To7, HashAlg::Sha1) => "every kernel",
            (BootAggregateRule::Pcrs0To7, _) => "Linux 5.7",
            (BootAggregateRule::Pcrs0To9, _) => "Linux 5.8 and later",
        }
    }
}

impl fmt::Display for BootAggregateRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The IMA `boot_aggregate` of current kernels over PCR values in bank `alg`
/// ([`BootAggregateRule::current`]): `H(PCR0 || .. || PCR7)`, and for banks other than SHA-1
/// also PCR 8 and 9. PCRs missing from `values` count as zero (their reset value).
pub fn boot_aggregate(values: &[RegisterValue], alg: HashAlg) -> Digest {
    boot_aggregate_by(values, alg, BootAggregateRule::current(alg))
}

/// The IMA `boot_aggregate` over PCR values in bank `alg` under `rule`. PCRs missing from
/// `values` count as zero (their reset value).
pub fn boot_aggregate_by(
    values: &[RegisterValue],
    alg: HashAlg,
    rule: BootAggregateRule,
) -> Digest {
    let mut h = alg.hasher();
    for n in 0..=rule.last_pcr() {
        let id = MrId::Pcr(n);
        let v = values
            .iter()
            .find(|v| v.id == id && v.value.alg() == alg)
            .map(|v| v.value)
            .unwrap_or_else(|| Digest::zero(alg));
        h.update(v.as_bytes());
    }
    h.finalize()
}

/// A `boot_aggregate` that the boot log reproduces, and the rule that reproduced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootAggregateMatch {
    /// The aggregate (equal to the IMA entry's).
    pub digest: Digest,
    /// Which PCRs it covers.
    pub rule: BootAggregateRule,
}

/// A `boot_aggregate` that no accepted rule reproduces from the boot log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootAggregateMismatch {
    /// The IMA entry's aggregate.
    pub recorded: Digest,
    /// What the boot log gives under each accepted rule, in the order tried.
    pub candidates: Vec<(BootAggregateRule, Digest)>,
    /// Events of the boot log replayed.
    pub events: u64,
}

impl BootAggregateMismatch {
    /// What the boot log gives, e.g. `sha256:A over pcr0-9 (Linux 5.8 and later) or sha256:B
    /// over pcr0-7 (Linux 5.7)`.
    pub fn candidates_text(&self) -> String {
        let alg = self.recorded.alg();
        let each: Vec<String> = self
            .candidates
            .iter()
            .map(|(rule, d)| format!("{alg}:{d} over {rule} ({})", rule.kernels(alg)))
            .collect();
        each.join(" or ")
    }
}

impl fmt::Display for BootAggregateMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "boot_aggregate is {}:{} but the boot log gives {}",
            self.recorded.alg(),
            self.recorded,
            self.candidates_text()
        )
    }
}

impl std::error::Error for BootAggregateMismatch {}

/// Check an IMA `boot_aggregate` against the PC-Client log of the same boot: replay `log` with
/// `cfg` (no verified values: the aggregate is what ties the two together), compute the
/// aggregate in the algorithm of `recorded` under each [`BootAggregateRule::accepted`] rule and
/// compare.
///
/// Returns the aggregate and the rule that reproduced it. When none does:
/// [`Error::BootAggregate`] with every candidate value, or [`Error::NotVerifiable`] when a rule
/// could not be computed because the log covers one of its PCRs only partly in this bank. An all-zero `recorded` (the kernel found
/// no TPM) never matches a log. A log without the bank of `recorded` is [`Error::Parse`].
pub fn verify_boot_aggregate(
    log: &[u8],
    cfg: &TcgReplayConfig,
    recorded: &Digest,
) -> Result<BootAggregateMatch, Error> {
    let alg = recorded.alg();
    let cfg = cfg.clone().with_banks(vec![alg]);
    let report = replay(log, &cfg, &ComputeOnly)?;
    let mut candidates = Vec::new();
    let mut incomplete = Vec::new();
    for rule in BootAggregateRule::accepted(alg) {
        // A PCR the log covers only partly in this bank gives no value to compare with.
        let gaps: Vec<&IncompleteBank> = report
            .incomplete
            .iter()
            .filter(|p| p.alg == alg && matches!(p.register, MrId::Pcr(n) if n <= rule.last_pcr()))
            .collect();
        if !gaps.is_empty() {
            incomplete.extend(gaps.into_iter().cloned());
            continue;
        }
        let computed = boot_aggregate_by(&report.outcome.registers, alg, *rule);
        if computed == *recorded {
            return Ok(BootAggregateMatch {
                digest: computed,
                rule: *rule,
            });
        }
        candidates.push((*rule, computed));
    }
    if !incomplete.is_empty() {
        incomplete.sort_by(|a, b| (&a.register, a.alg).cmp(&(&b.register, b.alg)));
        incomplete.dedup_by(|a, b| a.register == b.register && a.alg == b.alg);
        return Err(Error::NotVerifiable(Box::new(NotVerifiable {
            pairs: incomplete,
        })));
    }
    Err(Error::BootAggregate(Box::new(BootAggregateMismatch {
        recorded: *recorded,
        candidates,
        events: report.outcome.entries,
    })))
}
