//! IMA replay: turns entries into extend steps for the one [`Replayer`] (SPECS §1.7, §2, §3).

use std::io::BufRead;

use crate::alg::{Digest, HashAlg};
use crate::error::Error;
use crate::register::{MrId, VerifiedRegisters};
use crate::replay::{ReplayOptions, ReplayOutcome, Replayer};

use super::checkpoint::HistoryError;
use super::reader::{ImaReader, ImaReaderOptions};
use super::template::{Endian, FieldId};
use super::{ImaEntry, ListFormat, ListKind};

/// Boot aggregates kept in a report (later ones are only counted): a list with thousands of
/// kexec reboots must not make the report grow with it.
pub const MAX_REPORTED_BOOT_AGGREGATES: usize = 64;

/// Which digest extends a non-SHA-1 bank (SPECS §1.7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DigestMode {
    /// Each bank is extended with the template digest in that bank's hash (kernel 5.8+).
    #[default]
    PerBank,
    /// Every bank is extended with the SHA-1 template digest zero-padded to the bank size
    /// (TPM 2.0 kernels before 5.8).
    PaddedSha1,
    /// Try both in one pass and report which one reaches the verified values (per-bank first).
    /// Without verified values there is nothing to choose by: per-bank values are computed.
    Auto,
}

/// What a violation (all-zero template digest) does (SPECS §2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ViolationPolicy {
    /// Extend all-0xFF of the bank size, as the kernel does (20 × 0xFF zero-padded in
    /// [`DigestMode::PaddedSha1`]).
    #[default]
    ExtendOnes,
    /// Reject the list: the first violation is recorded as a bad entry (recorded digest zero,
    /// data digest computed), which fails the replay even when the values match.
    Reject,
}

/// Configuration of [`replay()`]; `Default` auto-detects the format and uses per-bank digests.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ImaReplayConfig {
    /// Banks to replay. Default (empty): the banks of the verified values, else SHA-1 and
    /// SHA-256. The banks of the verified values are always added.
    pub banks: Vec<HashAlg>,
    /// Digest extended into non-SHA-1 banks.
    pub digest_mode: DigestMode,
    /// What a violation does.
    pub violations: ViolationPolicy,
    /// Start values, prefix or exact match, unextended registers.
    pub replay: ReplayOptions,
    /// Format, byte order, column overrides and trailing-bytes tolerance.
    pub reader: ImaReaderOptions,
    /// The register every entry extends, whatever PCR it names: `None` (default) extends the
    /// entry's own PCR; a virtual register (`mr_ima`) or an RTMR (IMA over RTMR, "direct mode")
    /// takes all entries of the list, in order.
    pub target: Option<MrId>,
    /// Accept, when verifying against values in PCRs, a list with an all-zero `boot_aggregate`
    /// (the kernel found no TPM and extended nothing, so any value in the PCR was put there by
    /// someone else). Default false: such a list is refused ([`HistoryError::NoTpm`]). Lists
    /// replayed into a virtual register or an RTMR (`target`) are exempt: a TD has no TPM.
    pub allow_no_tpm: bool,
}

impl ImaReplayConfig {
    /// Replay these banks.
    pub fn with_banks(mut self, banks: impl IntoIterator<Item = HashAlg>) -> Self {
        self.banks = banks.into_iter().collect();
        self
    }
    /// Set the digest mode.
    pub fn with_digest_mode(mut self, mode: DigestMode) -> Self {
        self.digest_mode = mode;
        self
    }
    /// Set the violation policy.
    pub fn with_violations(mut self, policy: ViolationPolicy) -> Self {
        self.violations = policy;
        self
    }
    /// Set the replay options (start values, prefix policy).
    pub fn with_replay(mut self, replay: ReplayOptions) -> Self {
        self.replay = replay;
        self
    }
    /// Set all reader options.
    pub fn with_reader(mut self, reader: ImaReaderOptions) -> Self {
        self.reader = reader;
        self
    }
    /// Force binary or ASCII.
    pub fn with_kind(mut self, kind: ListKind) -> Self {
        self.reader.kind = Some(kind);
        self
    }
    /// Force the byte order.
    pub fn with_endian(mut self, endian: Endian) -> Self {
        self.reader.endian = Some(endian);
        self
    }
    /// Force the template-digest column algorithm.
    pub fn with_column(mut self, column: HashAlg) -> Self {
        self.reader.column = Some(column);
        self
    }
    /// Extend `target` with every entry instead of the PCR the entry names (see
    /// [`ImaReplayConfig::target`]).
    pub fn with_target(mut self, target: MrId) -> Self {
        self.target = Some(target);
        self
    }
    /// Accept (and report) an incomplete final entry.
    pub fn with_trailing_bytes_allowed(mut self, allow: bool) -> Self {
        self.reader.allow_trailing_bytes = allow;
        self
    }
    /// Accept lists booted without a TPM (see [`ImaReplayConfig::allow_no_tpm`]).
    pub fn with_no_tpm_allowed(mut self, allow: bool) -> Self {
        self.allow_no_tpm = allow;
        self
    }
}

/// A `boot_aggregate` entry (the first of a boot; later ones follow kexec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootAggregate {
    /// Entry number.
    pub entry: u64,
    /// Byte offset of the entry.
    pub offset: u64,
    /// PCR the entry extends.
    pub pcr: u32,
    /// The aggregate, with the algorithm the kernel used (from `d-ng`; SHA-1 for `d`).
    pub digest: Digest,
    /// All zero: the kernel found no TPM ("TPM-bypass"), so no PCR was extended.
    pub no_tpm: bool,
}

/// The result of [`replay()`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImaReplayReport {
    /// Final register values and prefix coverage.
    pub outcome: ReplayOutcome,
    /// Entries in the list.
    pub entries: u64,
    /// Violation entries (all-zero template digest).
    pub violations: u64,
    /// The first [`MAX_REPORTED_BOOT_AGGREGATES`] boot aggregates.
    pub boot_aggregates: Vec<BootAggregate>,
    /// All boot aggregates seen (more than one after kexec).
    pub boot_aggregate_count: u64,
    /// The digest mode used ([`DigestMode::PerBank`] or [`DigestMode::PaddedSha1`]; with
    /// [`DigestMode::Auto`], the one that matched).
    pub digest_mode: DigestMode,
    /// The list format.
    pub format: ListFormat,
    /// Bytes of an incomplete final entry accepted as trailing bytes.
    pub trailing_bytes: u64,
    /// The banks replayed.
    pub banks: Vec<HashAlg>,
}

/// Replay an IMA list (binary or ASCII, auto-detected) into every PCR it names, per bank, and
/// compare with `expected` when given.
///
/// Every entry's recorded template digest is checked against its data; an entry that disagrees
/// fails the replay ([`Error::EntryDigest`], or inside [`Error::Replay`] when values also
/// mismatch) even when the values match. Malformed input is [`Error::Parse`] with byte offset
/// and entry number.
pub fn replay<R: BufRead>(
    input: R,
    config: &ImaReplayConfig,
    expected: Option<&VerifiedRegisters>,
) -> Result<ImaReplayReport, Error> {
    let banks = replayed_banks(config, expected);

    let mode = config.digest_mode;
    let make = || match expected {
        Some(v) => Replayer::verifying(v, config.replay.clone()),
        None => Replayer::new(config.replay.clone()),
    };
    let mut per_bank = (mode != DigestMode::PaddedSha1).then(make);
    let mut padded = (mode != DigestMode::PerBank
        && (expected.is_some() || mode == DigestMode::PaddedSha1))
        .then(make);

    let mut reader = ImaReader::new(input, config.reader.clone());
    let mut violations = 0u64;
    let mut aggregates = BootAggregateTally::default();
    let mut digests = [Digest::zero(HashAlg::Sha1); HashAlg::ALL.len()];
    let ones20 = [0xFFu8; 20];
    while let Some(e) = reader.next_entry()? {
        let pcr_reg;
        let reg: &MrId = match &config.target {
            Some(t) => t,
            None => {
                pcr_reg = MrId::Pcr(e.pcr());
                &pcr_reg
            }
        };
        let violation = e.is_violation();
        let column = e.header_digest().alg();
        let mut sha1 = None;
        let mut col_digest = None;
        if !violation {
            if per_bank.is_some() {
                col_digest = bank_digests(e, &banks, &mut digests);
                sha1 = banks
                    .iter()
                    .zip(&digests)
                    .find_map(|(b, d)| (*b == HashAlg::Sha1).then_some(*d));
            }
            if padded.is_some() && sha1.is_none() {
                let d = e.template_digest(HashAlg::Sha1);
                sha1 = Some(d);
                if column == HashAlg::Sha1 {
                    col_digest = Some(d);
                }
            }
            let computed = col_digest.unwrap_or_else(|| e.template_digest(column));
            if computed != *e.header_digest() {
                note_bad(&mut per_bank, &mut padded, e, computed, reg);
            }
        } else {
            violations += 1;
            if config.violations == ViolationPolicy::Reject {
                note_bad(
                    &mut per_bank,
                    &mut padded,
                    e,
                    e.template_digest(column),
                    reg,
                );
            }
        }
        if let Some(r) = per_bank.as_mut() {
            for (d, b) in digests.iter().zip(&banks) {
                if violation {
                    r.extend(reg, &Digest::ones(*b));
                } else {
                    r.extend(reg, d);
                }
            }
            r.end_entry();
        }
        if let Some(r) = padded.as_mut() {
            let src: &[u8] = match (&sha1, violation) {
                (_, true) => &ones20,
                (Some(d), false) => d.as_bytes(),
                (None, false) => &[],
            };
            for b in &banks {
                let d = Digest::zero_padded(*b, src).unwrap_or_else(|_| Digest::zero(*b));
                r.extend(reg, &d);
            }
            r.end_entry();
        }
        if is_boot_aggregate(e) {
            aggregates.note(e.boot_aggregate());
        }
    }
    let format = reader.format().unwrap_or(ListFormat {
        kind: ListKind::Binary,
        endian: Endian::Little,
        column: HashAlg::Sha1,
    });
    let (outcome, used) = match (per_bank, padded) {
        (Some(a), Some(b)) => match (a.finish(), b.finish()) {
            (Ok(o), _) => (o, DigestMode::PerBank),
            (Err(_), Ok(o)) => (o, DigestMode::PaddedSha1),
            (Err(e), Err(_)) => return Err(e),
        },
        (Some(a), None) => (a.finish()?, DigestMode::PerBank),
        (None, Some(b)) => (b.finish()?, DigestMode::PaddedSha1),
        (None, None) => (Replayer::new(config.replay.clone()).finish()?, mode),
    };
    aggregates.check_no_tpm(config, expected.is_some())?;
    Ok(ImaReplayReport {
        entries: outcome.entries,
        outcome,
        violations,
        boot_aggregates: aggregates.reported,
        boot_aggregate_count: aggregates.count,
        digest_mode: used,
        format,
        trailing_bytes: reader.trailing_bytes(),
        banks,
    })
}

/// The `boot_aggregate` entries of a replay, in list order: the first
/// [`MAX_REPORTED_BOOT_AGGREGATES`] for the report, how many, and the first one of a boot
/// without a TPM.
#[derive(Debug, Default)]
pub(super) struct BootAggregateTally {
    pub(super) reported: Vec<BootAggregate>,
    pub(super) count: u64,
    first_no_tpm: Option<u64>,
}

impl BootAggregateTally {
    /// Count the next `boot_aggregate` entry (`aggregate`: its decoded value, `None` when its
    /// digest does not decode).
    pub(super) fn note(&mut self, aggregate: Option<BootAggregate>) {
        self.count += 1;
        if let Some(b) = aggregate {
            if b.no_tpm && self.first_no_tpm.is_none() {
                self.first_no_tpm = Some(b.entry);
            }
            if self.reported.len() < MAX_REPORTED_BOOT_AGGREGATES {
                self.reported.push(b);
            }
        }
    }

    /// The no-TPM rule ([`ImaReplayConfig::allow_no_tpm`]): a boot without a TPM refuses a list
    /// verified against values in PCRs.
    pub(super) fn check_no_tpm(
        &self,
        config: &ImaReplayConfig,
        verified: bool,
    ) -> Result<(), Error> {
        let pcr_target = matches!(config.target, None | Some(MrId::Pcr(_)));
        match self.first_no_tpm {
            Some(entry) if verified && !config.allow_no_tpm && pcr_target => {
                Err(HistoryError::NoTpm { entry }.into())
            }
            _ => Ok(()),
        }
    }
}

/// The banks a replay extends: those configured (default: the banks of the verified values, else
/// SHA-1 and SHA-256), always with the banks of the verified values, sorted.
pub(super) fn replayed_banks(
    config: &ImaReplayConfig,
    expected: Option<&VerifiedRegisters>,
) -> Vec<HashAlg> {
    let mut banks: Vec<HashAlg> = if config.banks.is_empty() {
        match expected {
            Some(v) if !v.is_empty() => v.banks(),
            _ => vec![HashAlg::Sha1, HashAlg::Sha256],
        }
    } else {
        config.banks.clone()
    };
    if let Some(v) = expected {
        banks.extend(v.banks());
    }
    banks.sort();
    banks.dedup();
    banks
}

/// The template digest of a (non-violation) entry in each of `banks`, written to `out` in bank
/// order; also the one in the header column's algorithm when the column is one of the banks (so
/// the header check does not hash the entry again).
pub(super) fn bank_digests(e: &ImaEntry, banks: &[HashAlg], out: &mut [Digest]) -> Option<Digest> {
    let column = e.header_digest().alg();
    let mut col = None;
    for (slot, b) in out.iter_mut().zip(banks) {
        *slot = e.template_digest(*b);
        if *b == column {
            col = Some(*slot);
        }
    }
    col
}

/// Record a bad entry; it is named with the register it actually extends in this replay (the
/// target, such as `mr_ima`, when one is set; else its own PCR).
fn note_bad(
    a: &mut Option<Replayer>,
    b: &mut Option<Replayer>,
    e: &ImaEntry,
    computed: Digest,
    register: &MrId,
) {
    for r in [a, b].into_iter().flatten() {
        let mut bad = e.mismatch(computed);
        bad.register = register.clone();
        r.note_bad_entry(bad);
    }
}

/// Cheap test on the raw name field (no decoding) for the hot loop.
pub(super) fn is_boot_aggregate(e: &ImaEntry) -> bool {
    e.fields()
        .find(|f| matches!(f.id, FieldId::N | FieldId::NNg))
        .is_some_and(|f| f.data == b"boot_aggregate\0" || f.data == b"boot_aggregate")
}
