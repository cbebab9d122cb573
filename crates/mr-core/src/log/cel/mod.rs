//! The TCG Canonical Event Log (CEL) in its three encodings — TLV, JSON and CBOR — read and
//! written; conversion of IMA lists and PC-Client logs to CEL; and CEL replay through the one
//! [`crate::replay::Replayer`] with per-record content checks.
//!
//! Sources (docs/formats.md#cel; the TCG CEL text itself was not read): google/go-tpm-tools
//! `cel/canonical_eventlog.go` and `cel/cos_tlv.go`, whooo/libcel `cel_types.h`, `tlv.c` and its
//! JSON test data. A record is: a record number, an index (a PCR, an NV index, or — go-tpm-tools'
//! non-standard type 108 — a CC measurement-register index, RTMR n = index n+1), the digests
//! that were extended (one per bank), and a typed content:
//!
//! | content type | value | [`Content`] |
//! |---|---|---|
//! | 4 `cel_mgt` (JSON `"cel"`) | management items: `cel_version`, `firmware_end`, `cel_timestamp`, `state_trans` | [`Content::Mgt`] |
//! | 5 `pcclient_std` | PC-Client event type and data | [`Content::PcClient`] |
//! | 7 `ima_template` | IMA template name and template data | [`Content::ImaTemplate`] |
//! | 8 `ima_tlv` | kept as bytes | [`Content::ImaTlv`] |
//! | 11 `systemd` (libcel) | systemd event type, timestamp, boot id, string | [`Content::Systemd`] |
//! | other (e.g. 80, Confidential Space / COS) | kept as bytes | [`Content::Other`] |
//!
//! Encodings: [`tlv`] (`u8 type || u32 BE length || value`), [`json`] (libcel's dialect) and
//! [`cbor`] (integer-keyed maps). Each has a strict streaming reader with bounded lengths whose
//! errors are [`Error::Parse`] naming the record's position and byte offset, and a writer.
//! [`read_records`] streams the records of any encoding from a [`BufRead`] to a callback,
//! holding one record at a time (at most [`MAX_CEL_RECORD_LEN`] bytes of it, whatever the input
//! size); [`CelWriter`] writes records one at a time; [`decode`] and [`encode`] are the
//! whole-log forms of the two, for callers that hold the log anyway. [`detect`] guesses the
//! encoding from the first bytes.
//!
//! Record numbers (`recnum`): every reader refuses a record whose number is not above the
//! previous record's (a duplicate or a decrease) as [`Error::Parse`] naming the position and
//! both numbers. The numbers must increase; gaps are allowed and the first need not be 0. The
//! TCG CEL text was not read (docs/formats.md#cel-recnum): the rule follows the issue that asks for it ("the CEL
//! spec numbers records in order") and the producers docs/formats.md#cel-tlv describes: go-tpm-tools numbers
//! the records of a log 0, 1, 2, ... (its COS vector does), libcel's test records are single
//! records with arbitrary numbers (9, 12, 20). Gaps are allowed because a converted log keeps
//! its source's numbers (an IMA list read from a checkpoint starts past 0) and because a record
//! number is not evidence: it is written by the attester and no register covers it, so
//! requiring `+1` would stop no attack. libcel numbers records *per register* (docs/formats.md#cel-recnum): a
//! libcel log of more than one register repeats numbers and is refused.
//!
//! [`replay()`] extends every record's digests (except `pcclient_std` EV_NO_ACTION records) into
//! its register and checks each digest against its content where the content type allows it:
//! `ima_template` (the template digest of the data; an all-zero digest is an IMA violation and
//! extends all-0xFF), `pcclient_std` (the PC-Client types whose digest is the hash of their data,
//! [`crate::log::tcg::is_checkable`]) and COS content type 80 (the hash of the whole content
//! TLV). A record whose digest disagrees with its checkable content fails the replay.

pub mod cbor;
mod convert;
pub mod json;
mod replay;
pub mod tlv;

pub use convert::{convert, from_ima, from_tcg, visit_ima, Source, DEFAULT_IMA_BANKS, DETECT_LEN};
pub use replay::{
    ima_template_digest, replay, replay_records, CelChecks, CelReplay, CelReplayConfig,
    CelReplayReport, MAX_CEL_REGISTERS,
};

use std::fmt;
use std::io::{BufRead, Write};

use crate::alg::{Digest, HashAlg};
use crate::error::{Error, ParseErrorKind};
use crate::log::tcg::perr;

/// Largest value of one TLV (and of one JSON / CBOR byte or text string) accepted: 16 MiB.
/// Real contents are IMA template data (≤ 1 MiB) and PC-Client event data (≤ 16 MiB).
pub const MAX_CEL_VALUE_LEN: u32 = 16 << 20;

/// Largest encoded record a reader holds: two values of [`MAX_CEL_VALUE_LEN`] (a content may
/// carry two, e.g. template name and data) and 64 KiB of framing, record number, index and
/// digests. CEL-JSON spells bytes in hex: its record text may be twice this.
pub const MAX_CEL_RECORD_LEN: u64 = 2 * MAX_CEL_VALUE_LEN as u64 + (64 << 10);

/// Largest IMA template name accepted (as the IMA reader).
pub const MAX_TEMPLATE_NAME_LEN: usize = 255;

/// Content type `cel_mgt`.
pub const CONTENT_CEL_MGT: u8 = 4;
/// Content type `pcclient_std`.
pub const CONTENT_PCCLIENT_STD: u8 = 5;
/// Content type `ima_template`.
pub const CONTENT_IMA_TEMPLATE: u8 = 7;
/// Content type `ima_tlv`.
pub const CONTENT_IMA_TLV: u8 = 8;
/// Content type `systemd` (libcel's value).
pub const CONTENT_SYSTEMD: u8 = 11;
/// Content type of Confidential Space (COS) launcher events (go-tpm-tools `CosEventType`).
pub const CONTENT_COS: u8 = 80;

/// The encoding of a CEL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// CEL-TLV.
    Tlv,
    /// CEL-JSON (a JSON array of records, one record, or a sequence of records).
    Json,
    /// CEL-CBOR (a CBOR array of records, or a CBOR sequence of records).
    Cbor,
}

impl Encoding {
    /// `tlv`, `json` or `cbor`.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Tlv => "tlv",
            Encoding::Json => "json",
            Encoding::Cbor => "cbor",
        }
    }

    pub(crate) fn format(self) -> &'static str {
        match self {
            Encoding::Tlv => "cel tlv log",
            Encoding::Json => "cel json log",
            Encoding::Cbor => "cel cbor log",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a record's index names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CelIndex {
    /// A TPM PCR (TLV type 1, JSON `pcr`).
    Pcr(u32),
    /// A TPM NV index (TLV type 2, JSON `nv_index`).
    NvIndex(u32),
    /// A CC measurement-register index, 1..=4 = RTMR 0..=3 (go-tpm-tools' TLV type 108,
    /// JSON `mr_index`, CBOR key 108).
    CcMr(u32),
}

impl std::fmt::Display for CelIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CelIndex::Pcr(n) => write!(f, "pcr {n}"),
            CelIndex::NvIndex(n) => write!(f, "nv_index 0x{n:08x}"),
            CelIndex::CcMr(n) => write!(f, "CC MR index {n}"),
        }
    }
}

/// TLV type / CBOR key of a PCR index.
pub const INDEX_PCR: u8 = 1;
/// TLV type / CBOR key of an NV index.
pub const INDEX_NV: u8 = 2;
/// TLV type / CBOR key of a CC measurement-register index (go-tpm-tools, non-standard).
pub const INDEX_CCMR: u8 = 108;

/// `state_trans` values (cel_mgt).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StateTrans {
    /// 0.
    Suspend,
    /// 1.
    Hibernate,
    /// 2.
    Kexec,
}

impl StateTrans {
    /// The numeric value.
    pub fn value(self) -> u8 {
        match self {
            StateTrans::Suspend => 0,
            StateTrans::Hibernate => 1,
            StateTrans::Kexec => 2,
        }
    }
    /// From the numeric value.
    pub fn from_value(v: u64) -> Option<StateTrans> {
        match v {
            0 => Some(StateTrans::Suspend),
            1 => Some(StateTrans::Hibernate),
            2 => Some(StateTrans::Kexec),
            _ => None,
        }
    }
    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            StateTrans::Suspend => "suspend",
            StateTrans::Hibernate => "hibernate",
            StateTrans::Kexec => "kexec",
        }
    }
    /// From the JSON name.
    pub fn from_name(n: &str) -> Option<StateTrans> {
        [
            StateTrans::Suspend,
            StateTrans::Hibernate,
            StateTrans::Kexec,
        ]
        .into_iter()
        .find(|s| s.name() == n)
    }
}

/// One `cel_mgt` item.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MgtItem {
    /// Type 1: the CEL version.
    CelVersion {
        /// Major.
        major: u16,
        /// Minor.
        minor: u16,
    },
    /// Type 2: end of the firmware's events.
    FirmwareEnd,
    /// Type 80: a timestamp.
    Timestamp(u64),
    /// Type 81: a state transition.
    StateTrans(StateTrans),
}

/// cel_mgt item types.
pub(crate) const MGT_CEL_VERSION: u8 = 1;
pub(crate) const MGT_FIRMWARE_END: u8 = 2;
pub(crate) const MGT_TIMESTAMP: u8 = 80;
pub(crate) const MGT_STATE_TRANS: u8 = 81;

impl MgtItem {
    /// The item's type number.
    pub fn type_number(&self) -> u8 {
        match self {
            MgtItem::CelVersion { .. } => MGT_CEL_VERSION,
            MgtItem::FirmwareEnd => MGT_FIRMWARE_END,
            MgtItem::Timestamp(_) => MGT_TIMESTAMP,
            MgtItem::StateTrans(_) => MGT_STATE_TRANS,
        }
    }
    /// The item's JSON name.
    pub fn type_name(&self) -> &'static str {
        match self {
            MgtItem::CelVersion { .. } => "cel_version",
            MgtItem::FirmwareEnd => "firmware_end",
            MgtItem::Timestamp(_) => "cel_timestamp",
            MgtItem::StateTrans(_) => "state_trans",
        }
    }
}

/// systemd event types (libcel): 0 phase, 1 filesystem, 2 volume-key, 3 machine-id.
pub const SYSTEMD_EVENT_TYPES: [&str; 4] = ["phase", "filesystem", "volume-key", "machine-id"];

/// A systemd content (libcel content type 11).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SystemdEvent {
    /// Event type, 0..=3 ([`SYSTEMD_EVENT_TYPES`]).
    pub event_type: u8,
    /// Timestamp.
    pub timestamp: u64,
    /// Boot id (128 bits).
    pub boot_id: [u8; 16],
    /// The measured string.
    pub string: String,
}

/// The content of a record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Content {
    /// `cel_mgt`: one or more management items.
    Mgt(Vec<MgtItem>),
    /// `pcclient_std`: a PC-Client event.
    PcClient {
        /// The PC-Client event type.
        event_type: u32,
        /// The event data.
        event_data: Vec<u8>,
    },
    /// `ima_template`: an IMA measurement-list entry.
    ImaTemplate {
        /// The template name (or format string).
        template_name: String,
        /// The template data (as in the binary list: `u32 len || field` per field; for the
        /// legacy `ima` template the 20-byte digest followed by the name without NUL).
        template_data: Vec<u8>,
    },
    /// `ima_tlv`: kept as bytes.
    ImaTlv(Vec<u8>),
    /// `systemd` (libcel).
    Systemd(SystemdEvent),
    /// Any other content type (e.g. 80, COS), kept as bytes.
    Other {
        /// The content type.
        content_type: u8,
        /// The value.
        data: Vec<u8>,
    },
}

impl Content {
    /// The content type number.
    pub fn content_type(&self) -> u8 {
        match self {
            Content::Mgt(_) => CONTENT_CEL_MGT,
            Content::PcClient { .. } => CONTENT_PCCLIENT_STD,
            Content::ImaTemplate { .. } => CONTENT_IMA_TEMPLATE,
            Content::ImaTlv(_) => CONTENT_IMA_TLV,
            Content::Systemd(_) => CONTENT_SYSTEMD,
            Content::Other { content_type, .. } => *content_type,
        }
    }
}

/// One CEL record. **Unverified** until replayed against verified register values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CelRecord {
    /// Record number.
    pub recnum: u64,
    /// The register the record extends.
    pub index: CelIndex,
    /// The digests extended, at most one per bank (in the order read).
    pub digests: Vec<Digest>,
    /// The content.
    pub content: Content,
}

/// Guess the encoding of `bytes`: JSON when the first non-blank byte is `{` or `[`, CBOR when
/// the first byte opens a CBOR array or map, TLV when the input starts with a well-formed
/// record-number TLV followed by an index TLV. `None` for anything else.
pub fn detect(bytes: &[u8]) -> Option<Encoding> {
    let first_text = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(first_text, Some(b'{') | Some(b'[')) {
        return Some(Encoding::Json);
    }
    let first = *bytes.first()?;
    if (0x80..=0xbf).contains(&first) {
        return Some(Encoding::Cbor);
    }
    tlv::looks_like_tlv(bytes).then_some(Encoding::Tlv)
}

/// Read the CEL `input` in `encoding` record by record, calling `visit` with each as soon as it
/// is read, and return the number of records. Memory is one record (at most
/// [`MAX_CEL_RECORD_LEN`] bytes of input, twice that for JSON text) whatever the input size;
/// the input is read once, front to back. An error of `visit` stops the reading and is
/// returned. Empty input is [`crate::error::ParseErrorKind::Empty`]; a record number that does
/// not increase is a parse error (see the module documentation).
pub fn read_records<R: BufRead>(
    input: R,
    encoding: Encoding,
    mut visit: impl FnMut(CelRecord) -> Result<(), Error>,
) -> Result<u64, Error> {
    let mut order = RecnumOrder {
        encoding,
        previous: Vec::new(),
        position: 0,
    };
    let mut each = |offset: u64, record: CelRecord| -> Result<(), Error> {
        order.check(offset, record.index, record.recnum)?;
        visit(record)
    };
    match encoding {
        Encoding::Tlv => tlv::read(input, &mut each)?,
        Encoding::Json => json::read(input, &mut each)?,
        Encoding::Cbor => cbor::read(input, &mut each)?,
    }
    Ok(order.position)
}

/// The record-number rule: the records of one register are numbered in increasing order.
///
/// Producers number differently — go-tpm-tools numbers the whole log 0, 1, 2, …; libcel numbers
/// the records of each PCR or NV index from 0 — and both give every register increasing
/// numbers, which is what is checked: a repeated or decreasing number within one register is
/// refused (a record duplicated or moved), gaps are allowed (a log converted from another keeps
/// its source's numbers). A record number is written by the attester and no register covers it:
/// this is a well-formedness rule, not evidence. At most [`MAX_CEL_REGISTERS`] registers are
/// tracked, the bound the replay applies too.
struct RecnumOrder {
    encoding: Encoding,
    /// Each register's last record number.
    previous: Vec<(CelIndex, u64)>,
    /// Position of the next record.
    position: u64,
}

impl RecnumOrder {
    fn check(&mut self, offset: u64, index: CelIndex, recnum: u64) -> Result<(), Error> {
        let (encoding, position) = (self.encoding, self.position);
        let fail = |why: String| {
            Err(cel_err(
                encoding,
                "recnum",
                offset,
                position,
                ParseErrorKind::Invalid(why),
            ))
        };
        let full = self.previous.len() >= MAX_CEL_REGISTERS;
        match self.previous.iter_mut().find(|(i, _)| *i == index) {
            Some((_, previous)) if recnum <= *previous => {
                let what = if recnum == *previous {
                    "repeats"
                } else {
                    "is below"
                };
                return fail(format!(
                        "recnum {recnum} {what} the recnum {previous} of the previous record of {index} (the records of a register are numbered in increasing order)"
                ));
            }
            Some((_, previous)) => *previous = recnum,
            None if full => {
                return fail(format!(
                    "{index}: a CEL may extend at most {MAX_CEL_REGISTERS} registers"
                ));
            }
            None => self.previous.push((index, recnum)),
        }
        self.position += 1;
        Ok(())
    }
}

/// Decode a whole CEL in `encoding` held in memory ([`read_records`] into a `Vec`).
pub fn decode(bytes: &[u8], encoding: Encoding) -> Result<Vec<CelRecord>, Error> {
    let mut records = Vec::new();
    read_records(bytes, encoding, |r| {
        records.push(r);
        Ok(())
    })?;
    Ok(records)
}

/// Encode records in `encoding` into memory (a [`CelWriter`] over a `Vec`).
pub fn encode(records: &[CelRecord], encoding: Encoding) -> Result<Vec<u8>, Error> {
    let mut w = CelWriter::new(Vec::new(), encoding);
    for r in records {
        w.write(r)?;
    }
    w.finish()
}

/// Writes a CEL record by record as it is given, holding one encoded record at a time.
///
/// TLV: the records one after the other. JSON: an array, one record per line. CBOR: a CBOR
/// sequence of record maps (RFC 8742; a definite-length array would need the count up front),
/// or an empty array for a log of no records (an empty sequence would be empty input).
pub struct CelWriter<W: Write> {
    out: W,
    encoding: Encoding,
    records: u64,
    /// One encoded record (TLV, CBOR).
    buf: Vec<u8>,
    /// One record's JSON text.
    text: String,
}

impl<W: Write> CelWriter<W> {
    /// A writer of `encoding` to `out`.
    pub fn new(out: W, encoding: Encoding) -> CelWriter<W> {
        CelWriter {
            out,
            encoding,
            records: 0,
            buf: Vec::new(),
            text: String::new(),
        }
    }

    /// Write one record.
    pub fn write(&mut self, r: &CelRecord) -> Result<(), Error> {
        self.buf.clear();
        match self.encoding {
            Encoding::Tlv => tlv::encode_record(r, &mut self.buf)?,
            Encoding::Cbor => cbor::encode_record(r, &mut self.buf),
            Encoding::Json => {
                self.text.clear();
                self.text
                    .push_str(if self.records == 0 { "[\n" } else { ",\n" });
                json::write_record(r, &mut self.text);
            }
        }
        self.out.write_all(match self.encoding {
            Encoding::Json => self.text.as_bytes(),
            _ => &self.buf,
        })?;
        self.records += 1;
        Ok(())
    }

    /// Close the log (JSON: the array; CBOR: an empty log) and return the output.
    pub fn finish(mut self) -> Result<W, Error> {
        match (self.encoding, self.records) {
            (Encoding::Json, 0) => self.out.write_all(b"[\n]\n")?,
            (Encoding::Json, _) => self.out.write_all(b"\n]\n")?,
            (Encoding::Cbor, 0) => self.out.write_all(&[0x80])?,
            _ => {}
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A parse error in `encoding`.
pub(crate) fn cel_err(
    encoding: Encoding,
    structure: &'static str,
    offset: u64,
    record: u64,
    kind: ParseErrorKind,
) -> Error {
    perr(encoding.format(), structure, offset, Some(record), kind)
}

/// Check the digests of a record being read: known banks only, each at most once.
pub(crate) fn push_digest(
    digests: &mut Vec<Digest>,
    alg_id: u64,
    bytes: &[u8],
) -> Result<(), ParseErrorKind> {
    let alg = u16::try_from(alg_id)
        .ok()
        .and_then(HashAlg::from_tcg_id)
        .ok_or_else(|| ParseErrorKind::UnknownAlgorithm(format!("{alg_id:#x}")))?;
    if digests.iter().any(|d| d.alg() == alg) {
        return Err(ParseErrorKind::Invalid(format!("two {alg} digests")));
    }
    if bytes.len() != alg.size() {
        return Err(ParseErrorKind::Invalid(format!(
            "{alg} digest of {} bytes (must be {})",
            bytes.len(),
            alg.size()
        )));
    }
    digests.push(Digest::new(alg, bytes).map_err(|e| ParseErrorKind::Invalid(e.to_string()))?);
    Ok(())
}

/// Validate a template name read from any encoding.
pub(crate) fn check_template_name(name: &str) -> Result<(), ParseErrorKind> {
    if name.is_empty() || name.len() > MAX_TEMPLATE_NAME_LEN {
        return Err(ParseErrorKind::Invalid(format!(
            "template name of {} bytes (must be 1..={MAX_TEMPLATE_NAME_LEN})",
            name.len()
        )));
    }
    Ok(())
}
