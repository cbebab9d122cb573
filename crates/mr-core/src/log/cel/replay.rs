//! CEL replay through the one [`Replayer`], with per-record content checks.

use crate::alg::{Digest, HashAlg};
use crate::error::{EntryDigestMismatch, Error, ParseErrorKind};
use crate::log::ima::ViolationPolicy;
use crate::log::tcg::{
    locality_value, perr, DataCheck, DataCheckPolicy, Event, EventType, HcrtmStart, MAX_PCR_INDEX,
};
use crate::register::{MrId, VerifiedRegisters};
use crate::replay::{ReplayOptions, ReplayOutcome, Replayer};

use super::{decode, tlv, CelIndex, CelRecord, Content, Encoding, CONTENT_COS};

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

/// What the per-record content checks found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CelChecks {
    /// Records whose digests were checked against their content and agreed.
    pub verified: u64,
    /// Records whose content type does not determine their digest.
    pub not_checkable: u64,
    /// `ima_template` violations (all-zero digests, extended as all-0xFF).
    pub violations: u64,
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

/// The template digest of IMA template data in bank `alg` (SPECS §1.6): `H(data)`, or for the
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

/// Decode `bytes` in `encoding` and replay (see [`replay_records`]).
pub fn replay(
    bytes: &[u8],
    encoding: Encoding,
    cfg: &CelReplayConfig,
    expected: Option<&VerifiedRegisters>,
) -> Result<CelReplayReport, Error> {
    let records = decode(bytes, encoding)?;
    replay_records(&records, cfg, expected)
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

/// The start locality of PCR 0 signalled by `pcclient_std` records.
fn start_locality(records: &[CelRecord], hcrtm: HcrtmStart) -> Option<u8> {
    let mut pcr0 = records
        .iter()
        .filter(|r| r.index == CelIndex::Pcr(0))
        .filter_map(|r| match &r.content {
            Content::PcClient {
                event_type,
                event_data,
            } => Some((EventType(*event_type), event_data.as_slice())),
            _ => None,
        });
    let locality = pcr0.clone().find_map(|(t, d)| {
        if t != EventType::EV_NO_ACTION {
            return None;
        }
        match d.split_first_chunk::<16>() {
            Some((sig, [l])) if sig == crate::log::tcg::STARTUP_LOCALITY_SIGNATURE && *l <= 4 => {
                Some(*l)
            }
            _ => None,
        }
    });
    if locality.is_some() || hcrtm != HcrtmStart::FromEvent {
        return locality;
    }
    pcr0.find(|(t, _)| *t != EventType::EV_NO_ACTION)
        .filter(|(t, _)| *t == EventType::EV_EFI_HCRTM_EVENT)
        .map(|_| 4)
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
    match &r.content {
        Content::ImaTemplate {
            template_name,
            template_data,
        } => {
            if !r.digests.is_empty() && r.digests.iter().all(|d| d.is_zero()) {
                return Check::Violation;
            }
            for d in &r.digests {
                let computed = ima_template_digest(template_name, template_data, d.alg());
                if computed != *d {
                    return Check::Mismatch(*d, computed);
                }
            }
            if r.digests.is_empty() {
                Check::NotCheckable
            } else {
                Check::Verified
            }
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
                DataCheck::Mismatch {
                    recorded, computed, ..
                } => Check::Mismatch(recorded, computed),
                DataCheck::Malformed(p) => Check::Malformed(Error::Parse(p)),
                _ => Check::NotCheckable,
            }
        }
        Content::Other {
            content_type: CONTENT_COS,
            ..
        } if !r.digests.is_empty() => {
            // COS launcher events: the digest is the hash of the whole content TLV (SPECS §7.2).
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

/// Replay CEL records into their registers, per bank, and compare with `expected` when given.
///
/// Every record's digests are extended except those of `pcclient_std` EV_NO_ACTION records;
/// an `ima_template` record whose digests are all zero is an IMA violation and extends all-0xFF.
/// Contents are checked against digests (see the module documentation of [`super`]); with
/// [`DataCheckPolicy::Reject`] the first disagreement fails the replay as
/// [`Error::EntryDigest`] (or inside [`Error::Replay`]) whose `entry` is the record's position
/// in the log and whose `offset` is its `recnum` (decoded records carry no byte offset).
pub fn replay_records(
    records: &[CelRecord],
    cfg: &CelReplayConfig,
    expected: Option<&VerifiedRegisters>,
) -> Result<CelReplayReport, Error> {
    let mut banks: Vec<HashAlg> = if cfg.banks.is_empty() {
        let mut b: Vec<HashAlg> = records
            .iter()
            .flat_map(|r| r.digests.iter().map(|d| d.alg()))
            .collect();
        b.sort();
        b.dedup();
        b
    } else {
        cfg.banks.clone()
    };
    banks.dedup();

    let mut opts = cfg.replay.clone();
    let locality = start_locality(records, cfg.hcrtm);
    if let Some(l) = locality {
        for alg in &banks {
            if !opts.start.contains_key(&(MrId::Pcr(0), *alg)) {
                opts = opts.with_start(MrId::Pcr(0), locality_value(*alg, l)?);
            }
        }
    }
    let mut replayer = match expected {
        Some(v) => Replayer::verifying(v, opts),
        None => Replayer::new(opts),
    };
    let mut checks = CelChecks::default();
    for (position, r) in records.iter().enumerate() {
        let position = position as u64;
        if is_no_action(r) {
            replayer.end_entry();
            continue;
        }
        let id = register(r, position)?;
        let violation = match check(r, position, &id) {
            Check::Verified => {
                checks.verified += 1;
                false
            }
            Check::NotCheckable => {
                checks.not_checkable += 1;
                false
            }
            Check::Violation => {
                checks.violations += 1;
                if cfg.violations == ViolationPolicy::Reject {
                    if let Some(d) = r.digests.first() {
                        replayer.note_bad_entry(EntryDigestMismatch {
                            entry: position,
                            offset: r.recnum,
                            register: id.clone(),
                            alg: d.alg(),
                            recorded: *d,
                            computed: Digest::ones(d.alg()),
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
            if banks.contains(&d.alg()) {
                if violation {
                    replayer.extend(&id, &Digest::ones(d.alg()));
                } else {
                    replayer.extend(&id, d);
                }
            }
        }
        replayer.end_entry();
    }
    Ok(CelReplayReport {
        outcome: replayer.finish()?,
        banks,
        checks,
        startup_locality: locality,
    })
}
