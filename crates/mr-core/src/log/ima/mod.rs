//! Linux IMA measurement lists (binary and ASCII), their templates, per-bank template digests,
//! a list builder, and replay through the one [`crate::replay::Replayer`]. See docs/formats.md#ima.
//!
//! * [`ImaReader`] streams entries from any [`std::io::BufRead`] into one reused [`ImaEntry`]
//!   (memory does not grow with the list), auto-detecting binary vs ASCII, the byte order of
//!   binary lists and the width of the template-digest column (SHA-1 in
//!   `binary_runtime_measurements`, the bank's size in `..._<alg>` lists).
//! * [`verify()`], the one entry point, verifies a list from boot: its [`ImaInput`] (a file, a reader, bytes) is read
//!   once, on one thread or two (chunks of whole entries parsed and hashed on either thread, the
//!   extends applied in order; anything irregular decided by the one-thread replay from the
//!   bytes already read), chosen from the input and [`ImaOptions::threads`]. The kexec analysis
//!   and the never-extended search are made in the same pass, from covered entries only.
//!   The chunking and the two-thread scheduling are [`chunks`]'s, which `mr-policy`'s
//!   two-thread appraisal shares.
//!   [`resume`] continues from a checkpoint, [`shards::verify_manifest`] verifies shards; all
//!   take [`ImaOptions`].
//! * `builder::ImaListBuilder` writes valid lists and `sample` synthetic ones; `replay()` (one
//!   thread) and `replay_parallel_chunked()` (two, in chunks of a chosen size) are the replays
//!   [`verify()`] chooses between, called directly (test support, only with the non-default
//!   feature `testing`; tests, benchmarks and fuzz targets use them through `mr-testkit`).
//!
//! Trailing bytes: some real lists (tpm2-tss test data) end with a few stray bytes after the last
//! full entry. By default that is a truncation error (a list cut short must not verify silently);
//! with [`ImaReaderOptions::allow_trailing_bytes`] an incomplete final entry ends the list and its
//! size is reported ([`ImaReader::trailing_bytes`], [`ImaReplayReport::trailing_bytes`]).

mod ascii;
mod binary;
#[cfg(feature = "testing")]
pub mod builder;
pub mod checkpoint;
pub mod chunks;
pub mod extend;
pub mod kexec;
mod parallel;
mod reader;
mod replay;
#[cfg(feature = "testing")]
pub mod sample;
pub mod shards;
pub mod snapshot;
pub mod template;
mod text;
mod verify;

pub use checkpoint::{
    resume, Anchor, Checkpoint, CheckpointKey, HistoryError, ResumeFrom, RootIdentity, Verification,
};
pub use chunks::CHUNK_LEN;
#[cfg(feature = "testing")]
pub use parallel::replay_parallel_chunked;
pub use reader::{ImaReader, ImaReaderOptions};
#[cfg(feature = "testing")]
pub use replay::replay;
pub use replay::{
    BootAggregate, DigestMode, ImaRegisterStart, ImaReplayConfig, ImaReplayReport, ViolationPolicy,
    IMA_PCR, MAX_REPORTED_BOOT_AGGREGATES,
};
pub use template::{
    Endian, Field, FieldId, FieldValue, PrefixedDigest, TemplateFormat, XattrLengths,
};
pub use verify::{verify, ImaInput, ImaOptions};

use std::fmt;

use crate::alg::{Digest, HashAlg};
use crate::error::EntryDigestMismatch;
use crate::register::MrId;
use template::MAX_TEMPLATE_FIELDS;

/// Largest template data accepted for one entry (1 MiB). The kernel bounds measured buffers by
/// policy (kexec command lines, keys, critical data are a few KiB); this is a hard cap so that a
/// corrupt length cannot make the reader buffer without bound.
pub const MAX_TEMPLATE_DATA_LEN: u32 = 1 << 20;

/// Longest template name: 15 field ids of at most 16 characters with separators
/// (a custom format string logged as the name), rounded to 255.
pub const MAX_TEMPLATE_NAME_LEN: u32 = 255;

/// Longest legacy `ima` event name (kernel `IMA_EVENT_NAME_LEN_MAX`).
pub const MAX_LEGACY_NAME_LEN: u32 = 255;

/// Longest ASCII line: the hex of the largest template data plus room for the other columns.
pub const MAX_ASCII_LINE_LEN: usize = 2 * MAX_TEMPLATE_DATA_LEN as usize + 4096;

/// Size of the legacy `ima` template's name buffer that is hashed (`IMA_EVENT_NAME_LEN_MAX + 1`).
const LEGACY_NAME_HASH_LEN: usize = 256;
const ZERO_PAD: [u8; LEGACY_NAME_HASH_LEN] = [0; LEGACY_NAME_HASH_LEN];
/// Stack buffer for a legacy template digest: a digest of up to 64 bytes and the padded name.
const LEGACY_HASH_BUF_LEN: usize = crate::alg::MAX_DIGEST_SIZE + LEGACY_NAME_HASH_LEN;

/// Binary or ASCII.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListKind {
    /// `binary_runtime_measurements[_<alg>]`.
    Binary,
    /// `ascii_runtime_measurements[_<alg>]`.
    Ascii,
}

/// The detected (or forced) format of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListFormat {
    /// Binary or ASCII.
    pub kind: ListKind,
    /// Byte order of integers (binary lists; for ASCII lists the order assumed when rebuilding
    /// template data from text).
    pub endian: Endian,
    /// Algorithm of the template-digest column (SHA-1 in the legacy files, the bank's algorithm
    /// in per-bank files).
    pub column: HashAlg,
}

impl fmt::Display for ListFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ListKind::Binary => write!(
                f,
                "binary, {} endian, {} template digests",
                self.endian, self.column
            ),
            ListKind::Ascii => write!(f, "ascii, {} template digests", self.column),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct FieldSpan {
    pub(crate) id: FieldId,
    pub(crate) start: u32,
    pub(crate) len: u32,
}

const NO_SPAN: FieldSpan = FieldSpan {
    id: FieldId::D,
    start: 0,
    len: 0,
};

/// One measurement-list entry. The reader reuses one `ImaEntry` for all entries.
#[derive(Clone, Debug)]
pub struct ImaEntry {
    pub(crate) index: u64,
    pub(crate) offset: u64,
    pub(crate) pcr: u32,
    pub(crate) column: Digest,
    pub(crate) name: String,
    pub(crate) format: TemplateFormat,
    pub(crate) legacy: bool,
    pub(crate) data: Vec<u8>,
    pub(crate) spans: [FieldSpan; MAX_TEMPLATE_FIELDS],
    pub(crate) nspans: u8,
    pub(crate) endian: Endian,
}

impl ImaEntry {
    pub(crate) fn empty() -> ImaEntry {
        ImaEntry {
            index: 0,
            offset: 0,
            pcr: 0,
            column: Digest::zero(HashAlg::Sha1),
            name: String::new(),
            format: TemplateFormat::IMA_NG,
            legacy: false,
            data: Vec::new(),
            spans: [NO_SPAN; MAX_TEMPLATE_FIELDS],
            nspans: 0,
            endian: Endian::Little,
        }
    }

    /// Entry number, 0-based.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Byte offset of the entry in the input (start of its line for ASCII lists).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The PCR index the entry extends.
    pub fn pcr(&self) -> u32 {
        self.pcr
    }

    /// The register the entry extends (`MrId::Pcr`).
    pub fn register(&self) -> MrId {
        MrId::Pcr(self.pcr)
    }

    /// The template digest recorded in the list (column algorithm; all zero for a violation).
    pub fn header_digest(&self) -> &Digest {
        &self.column
    }

    /// The template name as logged (a built-in name or a custom format string).
    pub fn template_name(&self) -> &str {
        &self.name
    }

    /// The template's fields.
    pub fn template_format(&self) -> &TemplateFormat {
        &self.format
    }

    /// True for the legacy `ima` template (no length prefixes, name hashed padded to 256 bytes).
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }

    /// The template data: exactly the bytes the kernel hashes (`u32 len || field` for each field)
    /// for every template but the legacy `ima`, for which it is the 20-byte digest followed by
    /// the name (without NUL).
    pub fn template_data(&self) -> &[u8] {
        &self.data
    }

    /// True when the recorded template digest is all zero: a ToMToU / open-writers violation
    /// (docs/formats.md#ima-violations). Replay extends all-0xFF for it.
    pub fn is_violation(&self) -> bool {
        self.column.is_zero()
    }

    /// The fields with their stored bytes.
    pub fn fields(&self) -> impl Iterator<Item = Field<'_>> + '_ {
        self.spans[..usize::from(self.nspans)]
            .iter()
            .map(move |s| Field {
                id: s.id,
                data: self
                    .data
                    .get(s.start as usize..(s.start as usize + s.len as usize))
                    .unwrap_or(&[]),
                endian: self.endian,
            })
    }

    /// The first field with id `id`.
    pub fn field(&self, id: FieldId) -> Option<Field<'_>> {
        self.fields().find(|f| f.id == id)
    }

    /// The event name / path (`n` or `n-ng`).
    pub fn event_name(&self) -> Option<&str> {
        self.fields().find_map(|f| match (f.id, f.value()) {
            (FieldId::N | FieldId::NNg, FieldValue::Name(n)) => Some(n),
            _ => None,
        })
    }

    /// The file (or buffer) digest: `d` as SHA-1 (or MD5, alg `None`) or `d-ng`/`d-ngv2`.
    pub fn file_digest(&self) -> Option<(Option<HashAlg>, &[u8])> {
        self.fields().find_map(|f| match (f.id, f.value()) {
            (FieldId::D, FieldValue::RawDigest(d)) => {
                Some(((d.len() == 20).then_some(HashAlg::Sha1), d))
            }
            (FieldId::DNg | FieldId::DNgV2, FieldValue::Digest(p)) => Some((p.alg, p.digest)),
            _ => None,
        })
    }

    /// The template digest of this entry for bank `alg`, as the kernel computes it (docs/formats.md#ima-template-digest):
    /// `H(template data)`, or for the legacy `ima` template `H(d || name zero-padded to 256)`.
    /// For a violation this is still the digest of the data (the extend value is all-0xFF).
    #[inline]
    pub fn template_digest(&self, alg: HashAlg) -> Digest {
        if self.legacy {
            self.legacy_template_digest(alg)
        } else {
            // One-shot: whole blocks are compressed straight from the data.
            alg.hash(&self.data)
        }
    }

    /// `H(d || name zero-padded to 256)` for the legacy `ima` template: data and padding are laid
    /// out in one stack buffer and hashed in one call (the incremental hasher when they do not
    /// fit, which a parsed entry never needs).
    fn legacy_template_digest(&self, alg: HashAlg) -> Digest {
        let name_len = self.spans[1].len as usize;
        let pad = ZERO_PAD
            .get(..LEGACY_NAME_HASH_LEN.saturating_sub(name_len))
            .unwrap_or(&[]);
        let len = self.data.len() + pad.len();
        let mut buf = [0u8; LEGACY_HASH_BUF_LEN];
        match buf.get_mut(..self.data.len()) {
            Some(head) if len <= LEGACY_HASH_BUF_LEN => {
                // The rest of `buf` is already the zero padding.
                head.copy_from_slice(&self.data);
                alg.hash(&buf[..len])
            }
            _ => {
                let mut h = alg.hasher();
                h.update(&self.data);
                h.update(pad);
                h.finalize()
            }
        }
    }

    /// Check the recorded template digest against `computed` (the template digest in the
    /// column's algorithm). Violations (all-zero) pass.
    pub fn check_header(&self, computed: &Digest) -> Result<(), Box<EntryDigestMismatch>> {
        if self.is_violation() || *computed == self.column {
            return Ok(());
        }
        Err(Box::new(self.mismatch(*computed)))
    }

    /// Check the recorded template digest against the data (computes the column's hash).
    pub fn verify_header(&self) -> Result<(), Box<EntryDigestMismatch>> {
        self.check_header(&self.template_digest(self.column.alg()))
    }

    pub(crate) fn mismatch(&self, computed: Digest) -> EntryDigestMismatch {
        EntryDigestMismatch {
            entry: self.index,
            offset: self.offset,
            register: self.register(),
            alg: self.column.alg(),
            recorded: self.column,
            computed,
            violation: self.is_violation(),
        }
    }

    /// The entry as a line of an ASCII list (`ascii_runtime_measurements`, with this list's
    /// column), including the final `\n`: `%2d` PCR, hex template digest, template name, then
    /// each field's text (empty fields leave their separating space).
    pub fn to_ascii_line(&self) -> String {
        let mut line = format!("{:2} {} {}", self.pcr, self.column, self.name);
        for f in self.fields() {
            line.push(' ');
            ascii::write_field_text(f.id, f.data, self.endian, &mut line);
        }
        line.push('\n');
        line
    }

    /// The boot aggregate, if this is a `boot_aggregate` entry (docs/formats.md#ima-boot-aggregate).
    pub fn boot_aggregate(&self) -> Option<BootAggregate> {
        if self.event_name() != Some("boot_aggregate") {
            return None;
        }
        let (alg, bytes) = self.file_digest()?;
        let digest = Digest::new(alg?, bytes).ok()?;
        Some(BootAggregate {
            entry: self.index,
            offset: self.offset,
            pcr: self.pcr,
            digest,
            no_tpm: digest.is_zero(),
        })
    }
}
