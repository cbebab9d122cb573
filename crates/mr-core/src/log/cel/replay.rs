//! CEL replay through the one [`Replayer`], with per-record content checks.

use crate::alg::{Digest, HashAlg};
use std::collections::BTreeSet;
use std::io::BufRead;

use crate::error::{EntryDigestMismatch, Error, NotCovered, ParseErrorKind};
use crate::log::ima::ViolationPolicy;
use crate::log::tcg::{
    locality_value, perr, DataCheck, DataCheckPolicy, Event, EventType, HcrtmStart, MAX_PCR_INDEX,
};
use crate::register::{ExpectedRegisters, MrId};
use crate::replay::{PrefixPolicy, ReplayOptions, ReplayOutcome, Replayer};
use crate::trust::{ComputeOnly, Reference};

use super::{read_records, tlv, CelIndex, CelRecord, Content, Encoding, CONTENT_COS};

/// Size of the legacy `ima` template's hashed name buffer (kernel `IMA_EVENT_NAME_LEN_MAX + 1`).
const LEGACY_NAME_HASH_LEN: usize = 256;
/// Length of the legacy `ima` template's file digest.
const LEGACY_DIGEST_LEN: usize = 20;

/// Configuration of [`replay()`]; `Default` is strict.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct CelReplayConfig {
    /// Banks to replay (empty: every bank any record has a digest for).
    pub banks: Vec<HashAlg>,
    /// Start values, prefix or exact match, unextended registers (default: the shortest
    /// matching prefix, as for IMA lists).
    pub replay: ReplayOptions,
    /// Records whose checkable content disagrees with their digest (default: reject).
    pub data_check: DataCheckPolicy,
    /// IMA violations (`ima_template` records with all-zero digests; default: extend all-0xFF).
    pub violations: ViolationPolicy,
    /// H-CRTM handling for `pcclient_std` records (as for PC-Client logs).
    pub hcrtm: HcrtmStart,
}

impl CelReplayConfig {
    /// Replay these banks.
    pub fn with_banks(mut self, banks: Vec<HashAlg>) -> Self {
        self.banks = banks;
        self
    }
    /// Set the engine options.
    pub fn with_replay(mut self, replay: ReplayOptions) -> Self {
        self.replay = replay;
        self
    }
    /// Set the data-check policy.
    pub fn with_data_check(mut self, policy: DataCheckPolicy) -> Self {
        self.data_check = policy;
        self
    }
    /// Set the violation policy.
    pub fn with_violations(mut self, policy: ViolationPolicy) -> Self {
        self.violations = policy;
        self
    }
}

/// What the per-record checks found.
///
/// A record is *covered* when it carries a digest of a *verified bank*: a bank in which the
/// verified values given to the replay hold a value for the record's register (and which the
/// replay replays). The replay of that register then vouches for that digest; for nothing else
/// in the record unless the content determines the digest. Per content type, "checked" means:
///
/// - `ima_template`: the template digest recomputed from the template name and data equals the
///   record's digest, in every bank it carries (so in the verified one). An all-zero digest in
///   every bank is an IMA violation: extended as all-0xFF, counted in `violations`, its content
///   vouched for by nothing.
/// - `pcclient_std`: for the PC-Client event types whose digest is the hash of their data
///   ([`crate::log::tcg::is_checkable`]), that hash equals the digest in every bank. Other event
///   types are `not_checkable`: the register vouches for the digest, not for the data.
///   `EV_NO_ACTION` records extend nothing: no register covers them and they are in no count.
/// - COS content (type 80): the hash of the whole content TLV equals the digest in every bank.
/// - `cel_mgt`, `systemd`, `ima_tlv` and other types: `not_checkable` (no rule derives the
///   digest from the content).
///
/// A record whose content disagrees with any digest it carries fails the replay (with
/// [`DataCheckPolicy::Reject`]) whether or not it is covered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CelChecks {
    /// Covered records whose content was checked against their digests and agreed: the only
    /// records whose content a verified value vouches for.
    pub verified: u64,
    /// Covered records whose content type does not determine their digest.
    pub not_checkable: u64,
    /// Covered `ima_template` violations (all-zero digests, extended as all-0xFF).
    pub violations: u64,
    /// Records that extend a register but carry no digest of a verified bank (no digest, only
    /// digests of other banks, or a register with no verified value): nothing vouches for them.
    /// Every such record without verified values. With [`PrefixPolicy::Exact`] and verified
    /// values, the first one fails the replay ([`Error::NotCovered`]).
    pub not_covered: u64,
    /// The record number (`recnum`) of the first record not covered.
    pub first_not_covered: Option<u64>,
    /// With [`DataCheckPolicy::Report`]: the first 64 records whose content disagrees with
    /// their digest (position in the log, reason).
    pub failures: Vec<(u64, String)>,
    /// All such records.
    pub failure_count: u64,
}

/// The result of a CEL [`replay()`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CelReplayReport {
    /// Final register values and prefix coverage; entries are records.
    pub outcome: ReplayOutcome,
    /// Banks replayed.
    pub banks: Vec<HashAlg>,
    /// Content checks.
    pub checks: CelChecks,
    /// PCR 0's start locality from a `pcclient_std` StartupLocality record (or H-CRTM).
    pub startup_locality: Option<u8>,
}

/// The template digest of IMA template data in bank `alg` (docs/formats.md#ima-template-digest): `H(data)`, or for the
/// legacy `ima` template `H(20-byte digest || name zero-padded to 256 bytes)`.
pub fn ima_template_digest(template_name: &str, data: &[u8], alg: HashAlg) -> Digest {
    if template_name == "ima" {
        const ZERO: [u8; LEGACY_NAME_HASH_LEN] = [0; LEGACY_NAME_HASH_LEN];
        let name_len = data.len().saturating_sub(LEGACY_DIGEST_LEN);
        let pad = ZERO
            .get(..LEGACY_NAME_HASH_LEN.saturating_sub(name_len))
            .unwrap_or(&[]);
        alg.hash_parts(&[data, pad])
    } else {
        alg.hash(data)
    }
}

/// Read the CEL `input` in `encoding` and replay each record as it is read (see
/// [`CelReplay`]): memory is one record and the registers, whatever the input size.
pub fn replay<I: BufRead, R: Reference>(
    input: I,
    encoding: Encoding,
    cfg: &CelReplayConfig,
    reference: &R,
) -> Result<R::Outcome<CelReplayReport>, Error> {
    let mut replay = CelReplay::new(cfg, reference);
    read_records(input, encoding, |r| replay.record(&r))?;
    replay.finish()
}

/// Replay records held in memory (see [`CelReplay`]).
pub fn replay_records<R: Reference>(
    records: &[CelRecord],
    cfg: &CelReplayConfig,
    reference: &R,
) -> Result<R::Outcome<CelReplayReport>, Error> {
    let mut replay = CelReplay::new(cfg, reference);
    for r in records {
        replay.record(r)?;
    }
    replay.finish()
}

fn register(r: &CelRecord, position: u64) -> Result<MrId, Error> {
    let bad = |msg: String| {
        perr(
            "cel",
            "index",
            r.recnum,
            Some(position),
            ParseErrorKind::Invalid(msg),
        )
    };
    match r.index {
        CelIndex::Pcr(n) if n <= MAX_PCR_INDEX => Ok(MrId::Pcr(n)),
        CelIndex::Pcr(n) => Err(bad(format!("PCR {n} (PCRs are 0..={MAX_PCR_INDEX})"))),
        CelIndex::CcMr(n) => match MrId::from_cc_mr_index(n) {
            Some(id @ MrId::Rtmr(_)) => Ok(id),
            _ => Err(bad(format!(
                "CC MR index {n} (only 1..=4, RTMR 0..=3, can be extended)"
            ))),
        },
        CelIndex::NvIndex(n) => Ok(MrId::Virtual(format!("nv_{n:08x}"))),
    }
}

fn is_no_action(r: &CelRecord) -> bool {
    matches!(r.content, Content::PcClient { event_type, .. } if EventType(event_type) == EventType::EV_NO_ACTION)
}

/// The locality a `pcclient_std` StartupLocality record (EV_NO_ACTION on PCR 0) signals.
fn startup_locality(r: &CelRecord) -> Option<u8> {
    match &r.content {
        Content::PcClient {
            event_type,
            event_data,
        } if r.index == CelIndex::Pcr(0) && EventType(*event_type) == EventType::EV_NO_ACTION => {
            match event_data.split_first_chunk::<16>() {
                Some((sig, [l]))
                    if sig == crate::log::tcg::STARTUP_LOCALITY_SIGNATURE && *l <= 4 =>
                {
                    Some(*l)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn is_hcrtm(r: &CelRecord) -> bool {
    matches!(r.content, Content::PcClient { event_type, .. } if EventType(event_type) == EventType::EV_EFI_HCRTM_EVENT)
        && r.index == CelIndex::Pcr(0)
}

/// The check of one record's content against its digests.
enum Check {
    Verified,
    NotCheckable,
    Violation,
    Mismatch(Digest, Digest),
    Malformed(Error),
}

fn check(r: &CelRecord, position: u64, id: &MrId) -> Check {
    if r.digests.is_empty() {
        // Nothing to check (and nothing covers the record).
        return Check::NotCheckable;
    }
    match &r.content {
        Content::ImaTemplate {
            template_name,
            template_data,
        } => {
            if r.digests.iter().all(|d| d.is_zero()) {
                return Check::Violation;
            }
            for d in &r.digests {
                let computed = ima_template_digest(template_name, template_data, d.alg());
                if computed != *d {
                    return Check::Mismatch(*d, computed);
                }
            }
            Check::Verified
        }
        Content::PcClient {
            event_type,
            event_data,
        } => {
            let e = Event {
                record: position,
                offset: r.recnum,
                index: match id {
                    MrId::Pcr(n) => *n,
                    _ => 0,
                },
                event_type: EventType(*event_type),
                digests: r.digests.clone(),
                data: event_data,
                data_offset: 0,
            };
            match e.data_check() {
                DataCheck::Verified(_) => Check::Verified,
                // A Secure Boot variable hashed over its value only leaves its name unbound:
                // refused like any mismatch.
                DataCheck::Mismatch {
                    recorded, computed, ..
                }
                | DataCheck::ValueOnly {
                    recorded, computed, ..
                } => Check::Mismatch(recorded, computed),
                DataCheck::Malformed(p) => Check::Malformed(Error::Parse(p)),
                DataCheck::NotCheckable => Check::NotCheckable,
            }
        }
        Content::Other {
            content_type: CONTENT_COS,
            ..
        } => {
            // COS launcher events: the digest is the hash of the whole content TLV (docs/formats.md#cel-cos).
            let bytes = match tlv::content_tlv(&r.content) {
                Ok(b) => b,
                Err(e) => return Check::Malformed(e),
            };
            for d in &r.digests {
                let computed = d.alg().hash(&bytes);
                if computed != *d {
                    return Check::Mismatch(*d, computed);
                }
            }
            Check::Verified
        }
        _ => Check::NotCheckable,
    }
}

/// Most registers one CEL may extend (24 PCRs, 4 RTMRs and NV indexes): each register is state
/// the replay keeps, so their number is bounded, not the input's to choose.
pub const MAX_CEL_REGISTERS: usize = 64;

/// A CEL replay fed one record at a time: records are replayed into their registers, per bank,
/// and compared with `expected` when given.
///
/// Every record's digests are extended except those of `pcclient_std` EV_NO_ACTION records;
/// an `ima_template` record whose digests are all zero is an IMA violation and extends all-0xFF.
/// Contents are checked against digests and coverage is counted as [`CelChecks`] describes;
/// with [`DataCheckPolicy::Reject`] the first disagreement fails the replay as
/// [`Error::EntryDigest`] (or inside [`Error::Replay`]) whose `entry` is the record's position
/// in the log and whose `offset` is its `recnum`. With verified values and
/// [`PrefixPolicy::Exact`], a record not covered fails it as [`Error::NotCovered`].
///
/// PCR 0's start value: a StartupLocality record (EV_NO_ACTION on PCR 0) before the first
/// record that extends anything sets PCR 0's start locality; without one, with
/// [`HcrtmStart::FromEvent`], a first extending record that is an EV_EFI_HCRTM_EVENT on PCR 0
/// starts PCR 0 at locality 4. The start values are fixed at the first extending record (the
/// records stream by), so a StartupLocality record after it is refused as malformed. After an
/// error the replay is over: `record` must not be called again.
pub struct CelReplay<'a, R = ComputeOnly> {
    cfg: &'a CelReplayConfig,
    reference: &'a R,
    expected: Option<&'a ExpectedRegisters>,
    /// Created at the first record that extends anything (start values known then).
    replayer: Option<Replayer>,
    locality: Option<u8>,
    /// Banks of the digests seen.
    seen_banks: BTreeSet<HashAlg>,
    /// Registers extended so far (at most [`MAX_CEL_REGISTERS`]).
    registers: Vec<MrId>,
    checks: CelChecks,
    position: u64,
}

impl<'a, R: Reference> CelReplay<'a, R> {
    /// A replay with `cfg`, checked against the values of `reference` (see [`crate::trust`]).
    pub fn new(cfg: &'a CelReplayConfig, reference: &'a R) -> Self {
        CelReplay {
            cfg,
            reference,
            expected: reference.expected(),
            replayer: None,
            locality: None,
            seen_banks: BTreeSet::new(),
            registers: Vec::new(),
            checks: CelChecks::default(),
            position: 0,
        }
    }

    fn replays(&self, alg: HashAlg) -> bool {
        self.cfg.banks.is_empty() || self.cfg.banks.contains(&alg)
    }

    /// The replayer, with PCR 0's start values from the locality signalled before the first
    /// extending record `first` (None: no record extends anything), the records seen so far
    /// ended.
    fn start(&mut self, first: Option<&CelRecord>) -> Result<Replayer, Error> {
        if self.locality.is_none()
            && self.cfg.hcrtm == HcrtmStart::FromEvent
            && first.is_some_and(is_hcrtm)
        {
            self.locality = Some(4);
        }
        let mut opts = self.cfg.replay.clone();
        if let Some(l) = self.locality {
            for alg in HashAlg::ALL {
                if !opts.start.contains_key(&(MrId::Pcr(0), alg)) {
                    opts = opts.with_start(MrId::Pcr(0), locality_value(alg, l)?);
                }
            }
        }
        let mut replayer = match self.expected {
            Some(v) => Replayer::verifying(v, opts),
            None => Replayer::new(opts),
        };
        for _ in 0..self.position {
            replayer.end_entry();
        }
        Ok(replayer)
    }

    /// Replay the next record.
    pub fn record(&mut self, r: &CelRecord) -> Result<(), Error> {
        let position = self.position;
        if is_no_action(r) {
            if let Some(l) = startup_locality(r) {
                if self.replayer.is_some() {
                    return Err(perr(
                        "cel",
                        "record",
                        r.recnum,
                        Some(position),
                        ParseErrorKind::Invalid(format!(
                            "StartupLocality record (locality {l}) after the first measurement: PCR 0's start value is fixed by then"
                        )),
                    ));
                }
                self.locality.get_or_insert(l);
            }
            if let Some(rp) = self.replayer.as_mut() {
                rp.end_entry();
            }
            self.position += 1;
            return Ok(());
        }
        let id = register(r, position)?;
        if !self.registers.contains(&id) {
            if self.registers.len() >= MAX_CEL_REGISTERS {
                return Err(perr(
                    "cel",
                    "index",
                    r.recnum,
                    Some(position),
                    ParseErrorKind::Invalid(format!(
                        "register {id}: a CEL may extend at most {MAX_CEL_REGISTERS} registers"
                    )),
                ));
            }
            self.registers.push(id.clone());
        }
        self.seen_banks.extend(r.digests.iter().map(|d| d.alg()));
        let covered = self.coverage(r, &id, position)?;
        let cfg = self.cfg;
        let check = check(r, position, &id);
        let mut replayer = match self.replayer.take() {
            Some(rp) => rp,
            None => self.start(Some(r))?,
        };
        let checks = &mut self.checks;
        let violation = match check {
            Check::Verified => {
                if covered {
                    checks.verified += 1;
                }
                false
            }
            Check::NotCheckable => {
                if covered {
                    checks.not_checkable += 1;
                }
                false
            }
            Check::Violation => {
                if covered {
                    checks.violations += 1;
                }
                if cfg.violations == ViolationPolicy::Reject {
                    if let Some(d) = r.digests.first() {
                        replayer.note_bad_entry(EntryDigestMismatch {
                            entry: position,
                            offset: r.recnum,
                            register: id.clone(),
                            alg: d.alg(),
                            recorded: *d,
                            computed: Digest::ones(d.alg()),
                            violation: true,
                        });
                    }
                }
                true
            }
            Check::Mismatch(recorded, computed) => {
                if cfg.data_check == DataCheckPolicy::Reject {
                    replayer.note_bad_entry(EntryDigestMismatch {
                        entry: position,
                        offset: r.recnum,
                        register: id.clone(),
                        alg: recorded.alg(),
                        recorded,
                        computed,
                        violation: false,
                    });
                } else {
                    checks.failure_count += 1;
                    if checks.failures.len() < 64 {
                        checks.failures.push((
                            position,
                            format!("recorded {recorded} but the content hashes to {computed}"),
                        ));
                    }
                }
                false
            }
            Check::Malformed(e) => {
                if cfg.data_check == DataCheckPolicy::Reject {
                    return Err(e);
                }
                checks.failure_count += 1;
                if checks.failures.len() < 64 {
                    checks.failures.push((position, e.to_string()));
                }
                false
            }
        };
        for d in &r.digests {
            if cfg.banks.is_empty() || cfg.banks.contains(&d.alg()) {
                if violation {
                    replayer.extend(&id, &Digest::ones(d.alg()));
                } else {
                    replayer.extend(&id, d);
                }
            }
        }
        replayer.end_entry();
        self.replayer = Some(replayer);
        self.position += 1;
        Ok(())
    }

    /// Whether `r` carries a digest of a verified bank; counts it when it does not, and refuses
    /// it under an exact replay with verified values.
    fn coverage(&mut self, r: &CelRecord, id: &MrId, position: u64) -> Result<bool, Error> {
        let verified = |alg: HashAlg| self.expected.is_some_and(|v| v.get(id, alg).is_some());
        if r.digests
            .iter()
            .any(|d| self.replays(d.alg()) && verified(d.alg()))
        {
            return Ok(true);
        }
        self.checks.not_covered += 1;
        self.checks.first_not_covered.get_or_insert(r.recnum);
        if self.expected.is_some() && self.cfg.replay.prefix == PrefixPolicy::Exact {
            let reason = if r.digests.is_empty() {
                "it carries no digest".to_owned()
            } else {
                let banks: Vec<&str> = r.digests.iter().map(|d| d.alg().name()).collect();
                format!(
                    "it carries digests of {} only, and no verified value of {id} in those banks is replayed",
                    banks.join(", ")
                )
            };
            return Err(Error::NotCovered(Box::new(NotCovered {
                entry: position,
                number: r.recnum,
                register: id.clone(),
                reason,
            })));
        }
        Ok(false)
    }

    /// The report, or why the records do not reach the verified values.
    pub fn finish(mut self) -> Result<R::Outcome<CelReplayReport>, Error> {
        let replayer = match self.replayer.take() {
            Some(rp) => rp,
            None => self.start(None)?,
        };
        let mut banks = if self.cfg.banks.is_empty() {
            std::mem::take(&mut self.seen_banks).into_iter().collect()
        } else {
            self.cfg.banks.clone()
        };
        banks.dedup();
        Ok(self.reference.outcome(CelReplayReport {
            outcome: replayer.finish()?,
            banks,
            checks: self.checks,
            startup_locality: self.locality,
        }))
    }
}
