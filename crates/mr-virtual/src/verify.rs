//! The verifier side: replay a journal against a verified backing register and derive the
//! virtual registers it names.
//!
//! 1. Every record line is hashed with the backing register's algorithm and folded, from the
//!    register's reset value, by mr-core's [`Replayer`] against the verified value, with the
//!    prefix rule: the attester appends before it extends, so the journal may run ahead of the
//!    quote; the records after the shortest matching prefix are reported as left over (with
//!    [`PrefixPolicy::Exact`] they are an error).
//! 2. SYNC records are checked on the way: each must equal the value replayed up to it. A
//!    journal whose *first* record is SYNC (its head rotated away) is replayed from that value
//!    only when [`DeriveOptions::trusted_start`] vouches for it (or when it is the backing
//!    register's reset value: then nothing was rotated away).
//! 3. Each name's extend digests, of the covered records only, are folded into that virtual
//!    register (`MrId::Virtual(name)`, bank = the digest's algorithm) and returned as
//!    [`VerifiedRegisters`] with [`Provenance::Derived`].
//!
//! Every error names the line and why; memory does not grow with the journal (one line buffer
//! of at most [`MAX_LINE_LEN`](crate::record::MAX_LINE_LEN) bytes and one value per virtual
//! register, at most [`MAX_VIRTUAL_REGISTERS`]).

use std::collections::BTreeMap;
use std::io::BufRead;

use mr_core::error::ReplayError;
use mr_core::replay::{PrefixPolicy, ReplayOptions, Replayer};
use mr_core::{
    Digest, ExpectedRegisters, HashAlg, MrId, Provenance, RegisterValue, VerifiedRegisters,
};

use crate::error::Error;
use crate::journal::LineReader;
use crate::pipeline::{for_each_line, Prepared};
use crate::record::{is_valid_name, RecordError, RecordRef};

/// Most distinct virtual registers (name and bank) one journal may name.
pub const MAX_VIRTUAL_REGISTERS: usize = 1024;

/// Verified values from which a rotated journal (one whose first record is SYNC) may be
/// replayed: typically the [`Derived::checkpoint`] of an earlier verified replay of the same
/// journal, taken where the head was cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedStart {
    /// The backing register's value before the journal's first (SYNC) record.
    pub backing: Digest,
    /// Each virtual register's value at that point (`MrId::Virtual` ids).
    pub registers: Vec<RegisterValue>,
    /// Records before that point (the rotated-away head), for absolute counts.
    pub records: u64,
}

/// Options of [`derive()`]; `Default` accepts the shortest matching prefix, refuses rotated
/// journals, and picks the backing bank from the verified values.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct DeriveOptions {
    /// Shortest matching prefix (default) or the whole journal.
    pub prefix: PrefixPolicy,
    /// Start values for a journal whose first record is SYNC: its value must be the trusted
    /// start's backing value. Ignored for other journals, which replay from the backing
    /// register's reset value.
    pub trusted_start: Option<TrustedStart>,
    /// The backing register's bank. Default: its only bank among the verified values; with
    /// several, the algorithm of the journal's first record.
    pub bank: Option<HashAlg>,
}

impl DeriveOptions {
    /// Set the prefix policy.
    pub fn with_prefix(mut self, prefix: PrefixPolicy) -> Self {
        self.prefix = prefix;
        self
    }

    /// Accept a rotated journal that starts at `start`.
    pub fn with_trusted_start(mut self, start: TrustedStart) -> Self {
        self.trusted_start = Some(start);
        self
    }

    /// Use this bank of the backing register.
    pub fn with_bank(mut self, bank: HashAlg) -> Self {
        self.bank = Some(bank);
        self
    }
}

/// One derived virtual register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DerivedRegister {
    /// `MrId::Virtual(name)`.
    pub id: MrId,
    /// Its value after the covered records (its bank is the value's algorithm).
    pub value: Digest,
    /// Its extend records among the covered records (not counting a trusted start's).
    pub extends: u64,
}

/// The result of [`derive()`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Derived {
    /// The virtual registers, with [`Provenance::Derived`] from the backing values' provenance.
    pub registers: VerifiedRegisters,
    /// Records in the journal (blank and comment lines are not records).
    pub records: u64,
    /// Records covered by the verified backing value.
    pub covered: u64,
    /// Records after the covered prefix (appended after the quote was taken).
    pub left_over: u64,
    /// Lines in the journal.
    pub lines: u64,
    /// The backing register and its verified value.
    pub backing: RegisterValue,
    /// Each virtual register with its extend count, ordered by name then bank.
    pub virtuals: Vec<DerivedRegister>,
    /// An incomplete last line (a write in progress or torn), never counted as a record.
    pub incomplete_last_line: Option<u64>,
    /// The trusted start a rotated journal was replayed from.
    pub start: Option<TrustedStart>,
}

impl Derived {
    /// The verified state after the covered records: a [`TrustedStart`] for the same journal
    /// once its head up to here is rotated away (behind a SYNC record of this backing value).
    pub fn checkpoint(&self) -> TrustedStart {
        TrustedStart {
            backing: self.backing.value,
            registers: self
                .virtuals
                .iter()
                .map(|v| RegisterValue {
                    id: v.id.clone(),
                    value: v.value,
                })
                .collect(),
            records: self.start.as_ref().map_or(0, |s| s.records) + self.covered,
        }
    }

    /// The value of virtual register `name` in bank `alg`.
    pub fn get(&self, name: &str, alg: HashAlg) -> Option<Digest> {
        self.registers
            .get(&MrId::Virtual(name.to_owned()), alg)
            .copied()
    }
}

/// Values of the virtual registers while replaying.
#[derive(Clone, Debug, Default)]
struct Virtuals {
    /// name → (bank, value, extends) per bank (looked up by `&str`, no allocation per line).
    map: BTreeMap<String, Vec<(HashAlg, Digest, u64)>>,
    /// Registers (name and bank) held.
    count: usize,
}

impl Virtuals {
    fn extend(&mut self, line: u64, name: &str, digest: &Digest) -> Result<(), Error> {
        let alg = digest.alg();
        if let Some(banks) = self.map.get_mut(name) {
            if let Some((_, v, n)) = banks.iter_mut().find(|(a, _, _)| *a == alg) {
                *v = v.extended(digest.as_bytes());
                *n += 1;
                return Ok(());
            }
        }
        let v = Digest::zero(alg).extended(digest.as_bytes());
        self.insert(line, name, v, 1)
    }

    fn insert(&mut self, line: u64, name: &str, value: Digest, extends: u64) -> Result<(), Error> {
        if self.count >= MAX_VIRTUAL_REGISTERS {
            return Err(Error::TooManyRegisters {
                line,
                max: MAX_VIRTUAL_REGISTERS,
            });
        }
        let banks = self.map.entry(name.to_owned()).or_default();
        match banks.iter_mut().find(|(a, _, _)| *a == value.alg()) {
            Some(slot) => *slot = (value.alg(), value, extends),
            None => {
                banks.push((value.alg(), value, extends));
                self.count += 1;
            }
        }
        Ok(())
    }
}

/// The replay, created at the first record (which fixes the bank and whether the journal is
/// rotated).
struct Replay {
    replayer: Replayer,
    bank: HashAlg,
    expected: Digest,
    /// The covered candidate: the first prefix after which the backing value is the verified
    /// one, with the virtual values then.
    first_match: Option<(u64, Virtuals)>,
}

/// Replay `journal` against the verified value of `backing` in `verified` and derive every
/// virtual register it names (see the module documentation).
pub fn derive(
    journal: impl BufRead,
    backing: &MrId,
    verified: &VerifiedRegisters,
    opts: &DeriveOptions,
) -> Result<Derived, Error> {
    let banks: Vec<(HashAlg, Digest)> = verified
        .iter()
        .filter(|(id, _)| *id == backing)
        .map(|(_, v)| (v.alg(), *v))
        .collect();
    let Some(&only_or_first) = banks.first() else {
        return Err(Error::BackingNotVerified {
            register: backing.clone(),
            alg: None,
        });
    };
    let pick = |alg: HashAlg| -> Result<(HashAlg, Digest), Error> {
        banks
            .iter()
            .find(|(a, _)| *a == alg)
            .copied()
            .ok_or(Error::BackingNotVerified {
                register: backing.clone(),
                alg: Some(alg),
            })
    };
    let start_replay = |bank: HashAlg, expected: Digest, start: Digest, virtuals: &Virtuals| {
        let mut only = ExpectedRegisters::new();
        // A fresh set with one value cannot conflict.
        let _ = only.insert(backing.clone(), expected);
        let ropts = ReplayOptions::default()
            .with_prefix(opts.prefix)
            .with_start(backing.clone(), start);
        Replay {
            replayer: Replayer::verifying(&only, ropts),
            bank,
            expected,
            first_match: (start == expected).then(|| (0, virtuals.clone())),
        }
    };

    // The backing bank, from the first record's algorithm: the hashing thread hashes every
    // record line in it, and the fold below replays it (or refuses the journal).
    let bank_for = |first_alg: HashAlg| match opts.bank {
        Some(b) => b,
        None if banks.len() == 1 => only_or_first.0,
        None => first_alg,
    };
    let mut replay: Option<Replay> = None;
    let mut virtuals = Virtuals::default();
    let mut records = 0u64;
    let mut incomplete = None;
    let mut start_used = None;
    let total_lines = for_each_line(journal, bank_for, |number, bytes, prepared| {
        let (record, line_digest) = match prepared {
            Prepared::NotARecord => return Ok(()),
            Prepared::Incomplete => {
                incomplete = Some(number);
                return Ok(());
            }
            Prepared::Record {
                record,
                line_digest,
            } => (record, line_digest),
        };
        let r = match replay.as_mut() {
            Some(r) => r,
            None => {
                let first_alg = match record {
                    RecordRef::Extend { digest, .. } => digest.alg(),
                    RecordRef::Sync { value } => value.alg(),
                };
                let (bank, expected) = pick(bank_for(first_alg))?;
                let mut start = backing.reset_value(bank);
                // A SYNC head at the reset value rotated nothing away (the register held its
                // reset value, so no record preceded it): it replays from reset as it is.
                let rotated = match record {
                    RecordRef::Sync { value } => value != start,
                    RecordRef::Extend { .. } => false,
                };
                if let (true, RecordRef::Sync { value }) = (rotated, record) {
                    let Some(ts) = &opts.trusted_start else {
                        return Err(Error::RotatedWithoutTrustedStart {
                            line: number,
                            value,
                        });
                    };
                    if ts.backing != value {
                        return Err(Error::TrustedStartMismatch(Box::new(
                            crate::error::TrustedStartMismatch {
                                line: number,
                                sync: value,
                                trusted: ts.backing,
                            },
                        )));
                    }
                    for rv in &ts.registers {
                        let MrId::Virtual(name) = &rv.id else {
                            return Err(Error::Journal {
                                line: 0,
                                reason: format!(
                                    "trusted start names {}, which is not a virtual register",
                                    rv.id
                                ),
                            });
                        };
                        if !is_valid_name(name) {
                            return Err(Error::InvalidName(name.clone()));
                        }
                        virtuals.insert(number, name, rv.value, 0)?;
                    }
                    start = value;
                    start_used = Some(ts.clone());
                }
                replay.insert(start_replay(bank, expected, start, &virtuals))
            }
        };
        match record {
            RecordRef::Extend { name, digest } => virtuals.extend(number, name, &digest)?,
            RecordRef::Sync { value } => {
                if value.alg() != r.bank {
                    return Err(Error::Journal {
                        line: number,
                        reason: format!(
                            "SYNC value is {}, but the backing register {backing} is replayed in {}",
                            value.alg(),
                            r.bank
                        ),
                    });
                }
                let replayed = r
                    .replayer
                    .value(backing, r.bank)
                    .unwrap_or_else(|| backing.reset_value(r.bank));
                if value != replayed {
                    return Err(Error::SyncMismatch(Box::new(crate::error::SyncMismatch {
                        line: number,
                        recorded: value,
                        replayed,
                    })));
                }
            }
        }
        // The hashing thread used the same bank choice; hash again only if it did not.
        let line_digest = if line_digest.alg() == r.bank {
            line_digest
        } else {
            r.bank.hash(bytes)
        };
        r.replayer.extend(backing, &line_digest);
        r.replayer.end_entry();
        records += 1;
        if r.first_match.is_none() && r.replayer.value(backing, r.bank) == Some(r.expected) {
            r.first_match = Some((records, virtuals.clone()));
        }
        Ok(())
    })?;

    let r = match replay {
        Some(r) => r,
        None => {
            let (bank, expected) = match opts.bank {
                Some(b) => pick(b)?,
                None => only_or_first,
            };
            start_replay(bank, expected, backing.reset_value(bank), &virtuals)
        }
    };
    let Replay {
        replayer,
        bank,
        expected,
        first_match,
    } = r;
    let outcome = replayer.finish().map_err(|e| match e {
        mr_core::Error::Replay(re) => {
            not_covered(*re, backing, bank, expected, records, total_lines)
        }
        other => Error::Core(other),
    })?;
    let covered = outcome.covered.unwrap_or(records);
    if let (PrefixPolicy::Exact, Some(line)) = (opts.prefix, incomplete) {
        return Err(Error::Record {
            line,
            reason: RecordError::Incomplete,
        });
    }
    let at_covered = if covered == records {
        virtuals
    } else {
        match first_match {
            Some((k, v)) if k == covered => v,
            _ => {
                return Err(Error::Journal {
                    line: 0,
                    reason: format!(
                        "internal: the replay covers {covered} of {records} records but no virtual values were kept for that prefix"
                    ),
                })
            }
        }
    };

    let mut values = ExpectedRegisters::new();
    let mut virtual_list = Vec::with_capacity(at_covered.count);
    for (name, mut banks) in at_covered.map {
        banks.sort_by_key(|(a, _, _)| *a);
        for (_, value, extends) in banks {
            let id = MrId::Virtual(name.clone());
            values.insert(id.clone(), value)?;
            virtual_list.push(DerivedRegister { id, value, extends });
        }
    }
    // The journal's covered prefix replayed to the verified backing value: this is the root
    // verifier of the virtual registers.
    let registers = VerifiedRegisters::from_verified_root(
        Provenance::Derived {
            from: Box::new(verified.provenance().clone()),
        },
        values,
    );
    Ok(Derived {
        registers,
        records,
        covered,
        left_over: records - covered,
        lines: total_lines,
        backing: RegisterValue {
            id: backing.clone(),
            value: expected,
        },
        virtuals: virtual_list,
        incomplete_last_line: incomplete,
        start: start_used,
    })
}

/// What the journal claims: every complete record's extend digests folded into its virtual
/// register, from zero, with no check against the backing register (no line is hashed). `None`
/// when the journal is rotated (SYNC head), malformed, or names too many registers: only
/// [`derive`](fn@derive) can say what such a journal is worth.
fn claimed_values(journal: &[u8]) -> Option<ExpectedRegisters> {
    let mut lines = LineReader::new(journal, 0);
    let mut virtuals = Virtuals::default();
    while let Ok(Some(line)) = lines.next_line() {
        if !line.complete {
            break;
        }
        match line.parse().ok()? {
            Some(RecordRef::Extend { name, digest }) => {
                virtuals.extend(line.number, name, &digest).ok()?;
            }
            Some(RecordRef::Sync { .. }) => return None,
            None => {}
        }
    }
    let mut claimed = ExpectedRegisters::new();
    for (name, banks) in virtuals.map {
        for (_, value, _) in banks {
            claimed.insert(MrId::Virtual(name.clone()), value).ok()?;
        }
    }
    Some(claimed)
}

/// [`derive`](fn@derive) the journal's virtual registers and run `use_values` on them (typically the IMA
/// replay against `mr_ima`), overlapping the two on two threads.
///
/// While [`derive`](fn@derive) checks the journal against the verified backing register on a second
/// thread, `use_values` runs on the values the journal *claims*: its extend digests folded
/// without any check. The speculative result is kept only when the derived (verified) values
/// are equal to the claimed ones; otherwise, for example when the journal runs ahead of the
/// quote, `use_values` runs again on the derived values. Either way the result is exactly
/// `use_values(&derive(..)?.registers)`, and an error of [`derive`](fn@derive) is returned as it is.
pub fn derive_and_use<T, F>(
    journal: &[u8],
    backing: &MrId,
    verified: &VerifiedRegisters,
    opts: &DeriveOptions,
    use_values: F,
) -> Result<(Derived, T), Error>
where
    T: Send,
    F: Fn(&VerifiedRegisters) -> T + Sync,
{
    // The derivation starts first, so that folding the claimed values (one pass over the
    // journal on this thread) overlaps it instead of delaying it.
    let (derived, speculation) = std::thread::scope(|scope| {
        let derived = scope.spawn(|| derive(journal, backing, verified, opts));
        // The speculative run sees the claimed values as the derivation would label them; its
        // result is kept only when the derivation yields exactly these values (below), so
        // nothing built on an unchecked claim leaves this function.
        let speculation = claimed_values(journal).map(|claimed| {
            let values = VerifiedRegisters::from_verified_root(
                Provenance::Derived {
                    from: Box::new(verified.provenance().clone()),
                },
                claimed,
            );
            let used = use_values(&values);
            (values, used)
        });
        (derived.join(), speculation)
    });
    let derived = match derived {
        Ok(d) => d?,
        // The derivation thread panicked (it never should): derive again on this thread, so the
        // panic is not turned into an acceptance.
        Err(_) => derive(journal, backing, verified, opts)?,
    };
    let Some((speculative_values, speculative)) = speculation else {
        // No claim to speculate on (a rotated or malformed journal): use the derived values.
        let used = use_values(&derived.registers);
        return Ok((derived, used));
    };
    if derived.registers == speculative_values {
        Ok((derived, speculative))
    } else {
        let used = use_values(&derived.registers);
        Ok((derived, used))
    }
}

fn not_covered(
    e: ReplayError,
    backing: &MrId,
    bank: HashAlg,
    expected: Digest,
    records: u64,
    lines: u64,
) -> Error {
    let computed = e
        .mismatches
        .iter()
        .find(|m| m.register == *backing && m.alg == bank)
        .map_or(expected, |m| m.computed);
    Error::NotCovered(Box::new(crate::error::NotCovered {
        register: backing.clone(),
        alg: bank,
        expected,
        computed,
        records,
        lines,
    }))
}
