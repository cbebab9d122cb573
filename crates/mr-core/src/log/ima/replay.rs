//! IMA replay: turns entries into extend steps for the one [`Replayer`] (docs/formats.md#ima).

use std::io::BufRead;

use crate::alg::{Digest, HashAlg};
use crate::error::Error;
use crate::register::{ExpectedRegisters, MrId};
use crate::replay::{ReplayOptions, ReplayOutcome, Replayer};
use crate::trust::Reference;

use super::checkpoint::HistoryError;
use super::extend::{NeverExtendedPass, NeverExtendedSearch, SearchOutcome};
use super::kexec::{kexec_record, KexecRecord, KexecReport, KexecTracker};
use super::reader::{ImaReader, ImaReaderOptions};
use super::template::{Endian, FieldId};
use super::{ImaEntry, ListFormat, ListKind};

/// Boot aggregates kept in a report (later ones are only counted): a list with thousands of
/// kexec reboots must not make the report grow with it.
pub const MAX_REPORTED_BOOT_AGGREGATES: usize = 64;

/// Which digest extends a non-SHA-1 bank (docs/formats.md#ima-banks).
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

/// What a violation (all-zero template digest) does (docs/formats.md#ima-violations).
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

/// Configuration of an IMA replay ([`super::verify()`]); `Default` auto-detects the format and uses per-bank digests.
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

/// The PCR the kernel's IMA extends by default (`CONFIG_IMA_MEASURE_PCR_IDX`), which holds
/// the list's `boot_aggregate` when no [`ImaReplayConfig::target`] is set.
pub const IMA_PCR: u32 = 10;

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

/// The first entry of the IMA register (the [`ImaReplayConfig::target`], else PCR
/// [`IMA_PCR`]): the kernel's `boot_aggregate`, which binds the list to a boot log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImaRegisterStart {
    /// Entry number.
    pub entry: u64,
    /// Its aggregate, when the entry is a `boot_aggregate` whose digest decodes.
    pub boot_aggregate: Option<BootAggregate>,
    /// The verified values vouch for the entry: the IMA register has a verified value and the
    /// entry is in the matching prefix. False when the replay had no verified values.
    pub covered: bool,
}

/// The result of an IMA replay ([`super::verify()`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImaReplayReport {
    /// Final register values, prefix and coverage ([`ReplayOutcome::coverage`]: entries of
    /// registers without a verified value are not covered).
    pub outcome: ReplayOutcome,
    /// Entries in the list.
    pub entries: u64,
    /// Violation entries (all-zero template digest).
    pub violations: u64,
    /// The first [`MAX_REPORTED_BOOT_AGGREGATES`] boot aggregates of covered registers (of every
    /// register when the replay had no verified values). Informational: decisions use
    /// [`ImaReplayReport::first_boot_aggregate`] and [`ImaReplayReport::first_no_tpm_boot`].
    pub boot_aggregates: Vec<BootAggregate>,
    /// All boot aggregates of covered registers (of every register without verified values);
    /// more than one after kexec.
    pub boot_aggregate_count: u64,
    /// The first all-zero (no TPM) `boot_aggregate` entry of the whole list, whatever register
    /// it names (counted over every entry, never from the capped `boot_aggregates`).
    pub first_no_tpm_boot: Option<u64>,
    /// The first entry of the IMA register, if the list extends it.
    pub ima_register_start: Option<ImaRegisterStart>,
    /// The digest mode used ([`DigestMode::PerBank`] or [`DigestMode::PaddedSha1`]; with
    /// [`DigestMode::Auto`], the one that matched).
    pub digest_mode: DigestMode,
    /// The list format.
    pub format: ListFormat,
    /// Bytes of an incomplete final entry accepted as trailing bytes.
    pub trailing_bytes: u64,
    /// The banks replayed.
    pub banks: Vec<HashAlg>,
    /// kexec boots, records and possibly lost entries (docs/formats.md#ima-kexec), computed
    /// during the replay from the entries of covered registers only, and (with verified values)
    /// only what rests on the verified prefix. Without verified values, from every entry.
    pub kexec: KexecReport,
}

impl ImaReplayReport {
    /// The `boot_aggregate` that binds the list to a boot log: the first entry of the IMA
    /// register, when it is a `boot_aggregate` and (for a replay with verified values) the
    /// verified prefix covers it. A `boot_aggregate` of another register, or one the verified
    /// values do not vouch for, is never returned.
    pub fn first_boot_aggregate(&self) -> Option<&BootAggregate> {
        let start = self.ima_register_start.as_ref()?;
        if self.outcome.coverage.is_some() && !start.covered {
            return None;
        }
        start.boot_aggregate.as_ref()
    }

    /// The no-TPM rule ([`ImaReplayConfig::allow_no_tpm`]) for a list whose values are verified
    /// (by the replay, or by the caller afterwards against a quote): an all-zero
    /// `boot_aggregate` anywhere in the list refuses it ([`HistoryError::NoTpm`]). Lists replayed
    /// into a virtual register or an RTMR (`target`) are exempt.
    pub fn check_no_tpm(&self, config: &ImaReplayConfig) -> Result<(), Error> {
        let pcr_target = matches!(config.target, None | Some(MrId::Pcr(_)));
        match self.first_no_tpm_boot {
            Some(entry) if !config.allow_no_tpm && pcr_target => {
                Err(HistoryError::NoTpm { entry }.into())
            }
            _ => Ok(()),
        }
    }
}

/// Replay an IMA list (binary or ASCII, auto-detected) into every PCR it names, per bank, and
/// compare with the values of `reference` (see [`crate::trust`]: verified values give a
/// [`crate::trust::Verified`] report, expected values a [`crate::trust::Checked`] one,
/// [`crate::trust::ComputeOnly`] the bare report).
///
/// Every entry's recorded template digest is checked against its data; an entry that disagrees
/// fails the replay ([`Error::EntryDigest`], or inside [`Error::Replay`] when values also
/// mismatch) even when the values match. Malformed input is [`Error::Parse`] with byte offset
/// and entry number.
///
/// The one-thread replay [`super::verify()`] chooses for short lists and irregular entries;
/// public only with the `testing` feature (verifiers call [`super::verify()`]).
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub fn replay<I: BufRead, R: Reference>(
    input: I,
    config: &ImaReplayConfig,
    reference: &R,
) -> Result<R::Outcome<ImaReplayReport>, Error> {
    replay_values(input, config, reference.expected(), 0).map(|r| reference.outcome(r))
}

/// [`replay()`] against plain values (`None`: compute only), for the crate's own composites;
/// with a `never_extended_budget`, a failure names the entry that was logged but never
/// extended when the search finds it (see [`super::extend`]).
pub(crate) fn replay_values<R: BufRead>(
    input: R,
    config: &ImaReplayConfig,
    expected: Option<&ExpectedRegisters>,
    never_extended_budget: u64,
) -> Result<ImaReplayReport, Error> {
    let mut state = ReplayState::new(config, expected, never_extended_budget);
    let mut reader = ImaReader::new(input, config.reader.clone());
    state.run(&mut reader)?;
    state.finish(&reader)
}

/// One replay of `input` against `expected` and the never-extended search over it (see
/// [`super::extend::find_never_extended`]).
pub(crate) fn search_values<R: BufRead>(
    input: R,
    config: &ImaReplayConfig,
    expected: &ExpectedRegisters,
    budget: u64,
) -> Result<NeverExtendedSearch, Error> {
    let mut state = ReplayState::new(config, Some(expected), budget);
    let mut reader = ImaReader::new(input, config.reader.clone());
    state.run(&mut reader)?;
    Ok(state.never.as_ref().map_or(
        NeverExtendedSearch {
            outcome: SearchOutcome::NotFound,
            work: 0,
        },
        NeverExtendedPass::search,
    ))
}

/// What the bookkeeping of a replay needs of an entry besides its extends.
#[derive(Clone, Copy, Debug)]
pub(super) enum Mark {
    /// A `boot_aggregate` entry and its decoded value (`None` when its digest does not decode).
    BootAggregate(Option<BootAggregate>),
    /// A kexec record (`Err(entry)`: its buffer does not decode).
    Kexec(Result<KexecRecord, u64>),
}

impl Mark {
    /// The mark of `e`, if it needs one.
    pub(super) fn of(e: &ImaEntry) -> Option<Mark> {
        match special_entry(e)? {
            Special::BootAggregate => Some(Mark::BootAggregate(e.boot_aggregate())),
            Special::Kexec => match kexec_record(e) {
                Ok(Some(r)) => Some(Mark::Kexec(Ok(r))),
                Ok(None) => None,
                Err(_) => Some(Mark::Kexec(Err(e.index()))),
            },
        }
    }
}

/// The state of one replay, entry by entry: the replayer(s), counters and boot aggregates.
/// [`replay()`] feeds it every entry; [`super::replay_parallel`] applies precomputed chunks to
/// it and, when it meets anything irregular, continues it with [`ReplayState::run`] from the
/// bytes it already read.
pub(super) struct ReplayState<'a> {
    config: &'a ImaReplayConfig,
    verifying: bool,
    pub(super) banks: Vec<HashAlg>,
    per_bank: Option<Replayer>,
    padded: Option<Replayer>,
    violations: u64,
    aggregates: BootAggregateTally,
    digests: [Digest; HashAlg::ALL.len()],
    ima_register: MrId,
    ima_start: Option<ImaRegisterStart>,
    kexec: KexecTracker,
    /// The never-extended search's windows (with verified values and a budget).
    never: Option<NeverExtendedPass>,
}

impl<'a> ReplayState<'a> {
    pub(super) fn new(
        config: &'a ImaReplayConfig,
        expected: Option<&ExpectedRegisters>,
        never_extended_budget: u64,
    ) -> ReplayState<'a> {
        let banks = replayed_banks(config, expected);
        let never =
            expected.and_then(|v| NeverExtendedPass::new(config, &banks, v, never_extended_budget));
        let mode = config.digest_mode;
        let make = || match expected {
            Some(v) => Replayer::verifying(v, config.replay.clone()),
            None => Replayer::new(config.replay.clone()),
        };
        let per_bank = (mode != DigestMode::PaddedSha1).then(make);
        let padded = (mode != DigestMode::PerBank
            && (expected.is_some() || mode == DigestMode::PaddedSha1))
            .then(make);
        ReplayState {
            config,
            verifying: expected.is_some(),
            banks,
            per_bank,
            padded,
            violations: 0,
            aggregates: BootAggregateTally::default(),
            digests: [Digest::zero(HashAlg::Sha1); HashAlg::ALL.len()],
            ima_register: config.target.clone().unwrap_or(MrId::Pcr(IMA_PCR)),
            ima_start: None,
            kexec: KexecTracker::default(),
            never,
        }
    }

    /// The replays this state runs (one per digest mode it tries), with their digest modes.
    pub(super) fn replayers(&self) -> impl Iterator<Item = (DigestMode, &Replayer)> {
        [
            (DigestMode::PerBank, self.per_bank.as_ref()),
            (DigestMode::PaddedSha1, self.padded.as_ref()),
        ]
        .into_iter()
        .filter_map(|(mode, r)| r.map(|r| (mode, r)))
    }

    /// The reader options of this replay.
    pub(super) fn reader_options(&self) -> ImaReaderOptions {
        self.config.reader.clone()
    }

    /// Replay the entries `reader` has left.
    pub(super) fn run<R: BufRead>(&mut self, reader: &mut ImaReader<R>) -> Result<(), Error> {
        while let Some(e) = reader.next_entry()? {
            self.entry(e);
        }
        Ok(())
    }

    /// The register an entry naming `pcr` extends in this replay.
    fn register(&self, pcr: u32) -> MrId {
        match &self.config.target {
            Some(t) => t.clone(),
            None => MrId::Pcr(pcr),
        }
    }

    /// Replay one entry the caller's reader returned.
    pub(super) fn entry(&mut self, e: &ImaEntry) {
        let pcr_reg;
        let reg: &MrId = match &self.config.target {
            Some(t) => t,
            None => {
                pcr_reg = MrId::Pcr(e.pcr());
                &pcr_reg
            }
        };
        let banks = &self.banks;
        let digests = &mut self.digests;
        let (per_bank, padded) = (&mut self.per_bank, &mut self.padded);
        let never = &mut self.never;
        let violation = e.is_violation();
        let column = e.header_digest().alg();
        let mut sha1 = None;
        let mut col_digest = None;
        if !violation {
            if per_bank.is_some() {
                col_digest = bank_digests(e, banks, digests);
                sha1 = banks
                    .iter()
                    .zip(digests.iter())
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
                note_bad(per_bank, padded, e, computed, reg);
            }
        } else {
            self.violations += 1;
            if self.config.violations == ViolationPolicy::Reject {
                note_bad(per_bank, padded, e, e.template_digest(column), reg);
            }
        }
        if let Some(r) = per_bank.as_mut() {
            match never.as_mut() {
                None => {
                    for (d, b) in digests.iter().zip(banks) {
                        if violation {
                            r.extend(reg, &Digest::ones(*b));
                        } else {
                            r.extend(reg, d);
                        }
                    }
                    r.end_entry();
                }
                Some(p) => {
                    // The extend values in bank order, for the never-extended search.
                    let mut extends = [Digest::zero(HashAlg::Sha1); HashAlg::ALL.len()];
                    for ((d, b), x) in digests.iter().zip(banks).zip(extends.iter_mut()) {
                        *x = if violation { Digest::ones(*b) } else { *d };
                        r.extend(reg, x);
                    }
                    r.end_entry();
                    let x = extends.get(..banks.len()).unwrap_or(&[]);
                    p.entry(DigestMode::PerBank, e.index(), reg, x, |alg| {
                        r.value_ref(reg, alg)
                    });
                }
            }
        }
        if let Some(r) = padded.as_mut() {
            let ones20 = [0xFFu8; 20];
            let src: &[u8] = match (&sha1, violation) {
                (_, true) => &ones20,
                (Some(d), false) => d.as_bytes(),
                (None, false) => &[],
            };
            let mut extends = [Digest::zero(HashAlg::Sha1); HashAlg::ALL.len()];
            for (b, x) in banks.iter().zip(extends.iter_mut()) {
                *x = Digest::zero_padded(*b, src).unwrap_or_else(|_| Digest::zero(*b));
                r.extend(reg, x);
            }
            r.end_entry();
            if let Some(p) = never.as_mut() {
                let x = extends.get(..banks.len()).unwrap_or(&[]);
                p.entry(DigestMode::PaddedSha1, e.index(), reg, x, |alg| {
                    r.value_ref(reg, alg)
                });
            }
        }
        let mark = Mark::of(e);
        if mark.is_some() || self.ima_start.is_none() {
            self.note_entry(e.index(), e.pcr(), mark);
        }
    }

    /// Apply one precomputed, regular entry (per-bank digests, no bad digest) of the two-thread
    /// replay: the same extends and bookkeeping as [`ReplayState::entry`] in
    /// [`DigestMode::PerBank`]. `digests` (the extend values) are in bank order; `mark` is the
    /// entry's [`Mark`], if it has one.
    pub(super) fn apply(&mut self, index: u64, pcr: u32, digests: &[Digest], mark: Option<Mark>) {
        if let Some(r) = self.per_bank.as_mut() {
            let pcr_reg;
            let reg: &MrId = match &self.config.target {
                Some(t) => t,
                None => {
                    pcr_reg = MrId::Pcr(pcr);
                    &pcr_reg
                }
            };
            digests.iter().for_each(|d| r.extend(reg, d));
            r.end_entry();
            if let Some(p) = self.never.as_mut() {
                p.entry(DigestMode::PerBank, index, reg, digests, |alg| {
                    r.value_ref(reg, alg)
                });
            }
        }
        if mark.is_some() || self.ima_start.is_none() {
            self.note_entry(index, pcr, mark);
        }
    }

    /// Count a violation applied by [`ReplayState::apply`].
    pub(super) fn add_violations(&mut self, n: u64) {
        self.violations += n;
    }

    /// The boot aggregates, the kexec analysis and the IMA register's first entry, after the
    /// entry was replayed. Only entries of covered registers (of every register without
    /// verified values) count for the boot aggregates and the kexec analysis.
    fn note_entry(&mut self, index: u64, pcr: u32, mark: Option<Mark>) {
        let reg = self.register(pcr);
        let mut boot_aggregate = None;
        if let Some(mark) = mark {
            let counted = match self.per_bank.as_ref().or(self.padded.as_ref()) {
                Some(r) if r.checks_coverage() => r.covers(&reg),
                _ => true,
            };
            match mark {
                Mark::BootAggregate(aggregate) => {
                    boot_aggregate = Some(aggregate);
                    self.aggregates.note(counted, aggregate);
                    if counted {
                        self.kexec.boot(index);
                    }
                }
                Mark::Kexec(record) => {
                    if counted {
                        self.kexec.record(record);
                    }
                }
            }
        }
        if self.ima_start.is_none() && reg == self.ima_register {
            self.ima_start = Some(ImaRegisterStart {
                entry: index,
                boot_aggregate: boot_aggregate.flatten(),
                covered: false,
            });
        }
    }

    /// The report, or the reason the list does not verify; `reader` is the one that read the
    /// list's last entries (format and trailing bytes).
    pub(super) fn finish<R: BufRead>(
        self,
        reader: &ImaReader<R>,
    ) -> Result<ImaReplayReport, Error> {
        let format = reader.format().unwrap_or(ListFormat {
            kind: ListKind::Binary,
            endian: Endian::Little,
            column: HashAlg::Sha1,
        });
        self.finish_with(format, reader.trailing_bytes())
    }

    /// [`ReplayState::finish`] with the format and trailing bytes given.
    pub(super) fn finish_with(
        self,
        format: ListFormat,
        trailing_bytes: u64,
    ) -> Result<ImaReplayReport, Error> {
        let config = self.config;
        let mode = config.digest_mode;
        let ima_register = self.ima_register;
        let never = self.never;
        let covers_ima = match self.per_bank.as_ref().or(self.padded.as_ref()) {
            Some(r) => r.covers(&ima_register),
            None => false,
        };
        let finished = match (self.per_bank, self.padded) {
            (Some(a), Some(b)) => match (a.finish(), b.finish()) {
                (Ok(o), _) => Ok((o, DigestMode::PerBank)),
                (Err(_), Ok(o)) => Ok((o, DigestMode::PaddedSha1)),
                (Err(e), Err(_)) => Err(e),
            },
            (Some(a), None) => a.finish().map(|o| (o, DigestMode::PerBank)),
            (None, Some(b)) => b.finish().map(|o| (o, DigestMode::PaddedSha1)),
            (None, None) => Replayer::new(config.replay.clone())
                .finish()
                .map(|o| (o, mode)),
        };
        let (outcome, used) = finished.map_err(|e| name_never_extended(e, never.as_ref()))?;
        let kexec = self.kexec.finish(
            outcome.entries,
            if self.verifying {
                outcome.covered
            } else {
                None
            },
        );
        let ima_register_start = self.ima_start.map(|mut s| {
            s.covered = covers_ima && outcome.covered.is_some_and(|k| s.entry < k);
            s
        });
        let report = ImaReplayReport {
            entries: outcome.entries,
            outcome,
            violations: self.violations,
            boot_aggregates: self.aggregates.reported,
            boot_aggregate_count: self.aggregates.count,
            first_no_tpm_boot: self.aggregates.first_no_tpm,
            ima_register_start,
            digest_mode: used,
            format,
            trailing_bytes,
            banks: self.banks,
            kexec,
        };
        if self.verifying {
            report.check_no_tpm(config)?;
            // A list replayed from the IMA register's reset value whose first entry of that
            // register is not covered: the register was never extended (an empty prefix would
            // "match" its reset value and leave every entry over). A start value equal to the
            // reset value (a checkpoint made before any entry) is the same start.
            let from_reset = config
                .replay
                .start
                .iter()
                .filter(|((id, _), _)| *id == ima_register)
                .all(|((id, alg), v)| *v == id.reset_value(*alg));
            if let Some(s) = report.ima_register_start {
                if covers_ima && from_reset && !s.covered {
                    return Err(HistoryError::ImaRegisterNeverExtended {
                        register: ima_register,
                        entry: s.entry,
                    }
                    .into());
                }
            }
        }
        Ok(report)
    }
}

/// A replay failure, or the entry that was logged but never extended when the search over the
/// replay's windows finds one.
fn name_never_extended(e: Error, never: Option<&NeverExtendedPass>) -> Error {
    let (Error::Replay(_), Some(pass)) = (&e, never) else {
        return e;
    };
    match pass.search().outcome {
        SearchOutcome::Found(f) => HistoryError::NeverExtended {
            entry: f.entry,
            register: f.register,
            covered: f.covered,
        }
        .into(),
        _ => e,
    }
}

/// The `boot_aggregate` entries of a replay, in list order: the first
/// [`MAX_REPORTED_BOOT_AGGREGATES`] of covered registers for the report, how many, and the first
/// one of a boot without a TPM (of any register).
#[derive(Debug, Default)]
struct BootAggregateTally {
    reported: Vec<BootAggregate>,
    count: u64,
    first_no_tpm: Option<u64>,
}

impl BootAggregateTally {
    /// Note the next `boot_aggregate` entry (`aggregate`: its decoded value, `None` when its
    /// digest does not decode); `counted`: its register is covered (or nothing is verified).
    fn note(&mut self, counted: bool, aggregate: Option<BootAggregate>) {
        if let Some(b) = aggregate.filter(|b| b.no_tpm) {
            self.first_no_tpm.get_or_insert(b.entry);
        }
        if !counted {
            return;
        }
        self.count += 1;
        if let Some(b) = aggregate {
            if self.reported.len() < MAX_REPORTED_BOOT_AGGREGATES {
                self.reported.push(b);
            }
        }
    }
}

/// The banks a replay extends: those configured (default: the banks of the verified values, else
/// SHA-1 and SHA-256), always with the banks of the verified values, sorted.
pub(super) fn replayed_banks(
    config: &ImaReplayConfig,
    expected: Option<&ExpectedRegisters>,
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

/// Entries the replay's bookkeeping looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Special {
    /// Named `boot_aggregate`.
    BootAggregate,
    /// Named `kexec_load` or `kexec_execute` (docs/formats.md#ima-kexec).
    Kexec,
}

/// Cheap test on the raw name field (no decoding) for the hot loop.
pub(super) fn special_entry(e: &ImaEntry) -> Option<Special> {
    let name = e
        .fields()
        .find(|f| matches!(f.id, FieldId::N | FieldId::NNg))?
        .data;
    let name = name.strip_suffix(b"\0").unwrap_or(name);
    match name {
        b"boot_aggregate" => Some(Special::BootAggregate),
        b"kexec_load" | b"kexec_execute" => Some(Special::Kexec),
        _ => None,
    }
}
