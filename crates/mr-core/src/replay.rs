//! The one replay engine: folds `(register, digest)` steps from start values and compares them
//! with [`VerifiedRegisters`](crate::VerifiedRegisters).
//!
//! Log formats (IMA, TCG, CCEL, CEL) turn their entries into steps: for each entry, one
//! [`Replayer::extend`] per register and bank it extends, then [`Replayer::end_entry`]. Format
//! quirks (IMA violations, EV_NO_ACTION, StartupLocality) live in the format's module, which
//! decides what to extend; the engine only folds and compares.
//!
//! Prefix matching: IMA appends an entry to its list *before* extending the PCR, so a quote can lag
//! the list. With [`PrefixPolicy::ShortestMatching`] (default) the engine accepts the shortest
//! prefix of entries after which every verified register and bank holds its verified value at the
//! same time, and reports the entries left over.

use std::collections::BTreeMap;

use crate::alg::{Digest, HashAlg};
use crate::error::{EntryDigestMismatch, Error, Mismatch, ReplayError};
use crate::register::{ExpectedRegisters, MrId, RegisterValue};

/// How much of the log the verified values must cover.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PrefixPolicy {
    /// Accept the shortest prefix after which all verified values are reached (the log may run
    /// ahead of the quote); report the entries left over.
    #[default]
    ShortestMatching,
    /// The whole log must replay to the verified values.
    Exact,
}

/// What to do with a verified register that no entry of the log extends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnextendedPolicy {
    /// It must still hold its start value.
    #[default]
    MustEqualStart,
    /// Leave it out of the comparison (e.g. a quote over more PCRs than the log covers).
    Ignore,
}

/// Replay options; `Default` is the strictest useful behaviour (docs/architecture.md#replay-options).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ReplayOptions {
    /// Explicit start values (checkpoints, trimmed lists); other registers start at their reset
    /// value ([`MrId::reset_value`]).
    pub start: BTreeMap<(MrId, HashAlg), Digest>,
    /// Prefix or exact match.
    pub prefix: PrefixPolicy,
    /// Verified registers that the log never extends.
    pub unextended: UnextendedPolicy,
    /// Registers whose final values the caller verifies after the replay (a TPM quote's PCR
    /// digest over the replayed values): a replay without verified values counts entries of these
    /// registers as covered and the others as not covered ([`ReplayOutcome::coverage`]).
    pub checked_later: Vec<MrId>,
}

impl ReplayOptions {
    /// Set an explicit start value for a register and bank.
    pub fn with_start(mut self, id: MrId, value: Digest) -> Self {
        self.start.insert((id, value.alg()), value);
        self
    }

    /// Set the prefix policy.
    pub fn with_prefix(mut self, prefix: PrefixPolicy) -> Self {
        self.prefix = prefix;
        self
    }

    /// Set the policy for verified registers that the log never extends.
    pub fn with_unextended(mut self, unextended: UnextendedPolicy) -> Self {
        self.unextended = unextended;
        self
    }

    /// Set the registers whose final values the caller verifies after the replay (see
    /// [`ReplayOptions::checked_later`]).
    pub fn with_checked_later(mut self, ids: impl IntoIterator<Item = MrId>) -> Self {
        self.checked_later = ids.into_iter().collect();
        self
    }
}

#[derive(Debug)]
struct RegState {
    id: MrId,
    value: Digest,
    expected: Option<Digest>,
    /// [`head`] of `expected` (0 without one).
    expected_head: u32,
    /// Entries extending this register are covered: it has a verified value, or it is
    /// [`ReplayOptions::checked_later`].
    covers: bool,
    events: u64,
    /// Prefix length since which `value == expected`, while it does.
    match_since: Option<u64>,
    /// Closed runs of prefix lengths `[from, to)` during which `value == expected`.
    runs: Vec<(u64, u64)>,
}

/// The result of a replay that verified (or, without verified values, simply ran).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayOutcome {
    /// Final value of every register and bank the log extends (and every verified one), after
    /// the whole log, ordered by register then bank.
    pub registers: Vec<RegisterValue>,
    /// Entries in the log.
    pub entries: u64,
    /// Length of the matching prefix (the entries up to the point where every verified value is
    /// reached), when values were given; the whole log with [`ReplayOptions::checked_later`].
    /// Entries of the prefix that extend only registers without a verified value are in it but
    /// not covered: see [`ReplayOutcome::coverage`].
    pub covered: Option<u64>,
    /// Which entries of the matching prefix the verified values vouch for, when values were
    /// given (or [`ReplayOptions::checked_later`]).
    pub coverage: Option<Coverage>,
}

/// The entries of a matching prefix split by what vouches for them: only an entry that extends
/// a register with a verified value is covered; the others are in the list but nothing checked
/// them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    /// Entries of the prefix that extend a register with a verified value.
    pub entries: u64,
    /// Entries of the prefix that extend registers none of which has a verified value.
    pub not_covered: u64,
    /// The first of the `not_covered` entries.
    pub first_not_covered: Option<NotCovered>,
}

/// An entry that extends no register with a verified value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotCovered {
    /// Entry number (0-based).
    pub entry: u64,
    /// The (unverified) register it extends.
    pub register: MrId,
}

impl ReplayOutcome {
    /// Entries after the matching prefix (appended after the quote was taken); 0 without
    /// verified values.
    pub fn left_over(&self) -> u64 {
        self.covered.map_or(0, |c| self.entries - c)
    }

    /// Entries the verified values vouch for (of registers with a verified value, in the
    /// matching prefix); `None` without verified values.
    pub fn covered_entries(&self) -> Option<u64> {
        self.coverage.as_ref().map(|c| c.entries)
    }

    /// The warning line for the entries no verified value covers, if there are any; `(one,
    /// many)` name the log's items (`("entry", "entries")`, `("event", "events")`).
    pub fn not_covered_line(&self, (one, many): (&str, &str)) -> Option<String> {
        let c = self.coverage.as_ref().filter(|c| c.not_covered > 0)?;
        Some(format!(
            "NOT covered: {} {many} extend registers without a verified value{}",
            c.not_covered,
            c.first_not_covered
                .as_ref()
                .map(|f| format!(" (first: {one} {}, {})", f.entry, f.register))
                .unwrap_or_default()
        ))
    }

    /// JSON of the entries (or events) no verified value covers: `{"entries": N, "first":
    /// {"entry": E, "id": "pcr11"}}`, `null` for a replay without verified values.
    pub fn not_covered_json(&self) -> serde_json::Value {
        match &self.coverage {
            None => serde_json::Value::Null,
            Some(c) => serde_json::json!({
                "entries": c.not_covered,
                "first": c.first_not_covered.as_ref().map(|f| serde_json::json!({
                    "entry": f.entry,
                    "id": f.register.to_string(),
                })),
            }),
        }
    }
}

/// Covered and not-covered entries before a prefix length, recorded when a verified value is
/// reached (a possible matching prefix).
#[derive(Clone, Copy, Debug)]
struct CountsAt {
    prefix: u64,
    covered: u64,
    not_covered: u64,
}

/// Most distinct (register, bank) pairs one replay holds: 24 PCRs in 5 banks, 64 CEL registers in
/// 5 banks, with room to spare. A log that names more fails with [`Error::TooManyRegisters`],
/// so that a hostile log naming a new register in every entry (an IMA entry's PCR is any
/// 32-bit number) cannot make the replay's memory, and the time of each lookup, grow with it.
pub const MAX_REPLAY_REGISTERS: usize = 512;

/// The replay engine (see the module documentation).
#[derive(Debug)]
pub struct Replayer {
    regs: Vec<RegState>,
    opts: ReplayOptions,
    verifying: bool,
    entries: u64,
    first_bad: Option<EntryDigestMismatch>,
    /// The current entry extended a covered register.
    entry_covered: bool,
    /// The current entry extended this uncovered register (index into `regs`).
    entry_uncovered: Option<usize>,
    /// Ended entries that extended a covered register.
    covered_entries: u64,
    /// Ended entries that extended only uncovered registers.
    not_covered: u64,
    first_not_covered: Option<NotCovered>,
    /// The counts at each prefix length where a verified value was reached, in order.
    counts_at: Vec<CountsAt>,
    /// The first extend past [`MAX_REPLAY_REGISTERS`] (entry, register, bank): the replay fails.
    too_many: Option<(u64, MrId, HashAlg)>,
}

impl Replayer {
    /// A replay that only computes values.
    pub fn new(opts: ReplayOptions) -> Replayer {
        Replayer {
            regs: Vec::new(),
            opts,
            verifying: false,
            entries: 0,
            first_bad: None,
            entry_covered: false,
            entry_uncovered: None,
            covered_entries: 0,
            not_covered: 0,
            first_not_covered: None,
            counts_at: Vec::new(),
            too_many: None,
        }
    }

    /// A replay checked against `verified`.
    pub fn verifying(verified: &ExpectedRegisters, opts: ReplayOptions) -> Replayer {
        let mut r = Replayer::new(opts);
        r.verifying = true;
        for (id, value) in verified.iter() {
            let start = r.start_value(id, value.alg());
            let matches = start == *value;
            r.regs.push(RegState {
                id: id.clone(),
                value: start,
                expected: Some(*value),
                expected_head: head(value),
                covers: true,
                events: 0,
                match_since: matches.then_some(0),
                runs: Vec::new(),
            });
        }
        r
    }

    fn start_value(&self, id: &MrId, alg: HashAlg) -> Digest {
        self.opts
            .start
            .get(&(id.clone(), alg))
            .copied()
            .unwrap_or_else(|| id.reset_value(alg))
    }

    /// Entries ended so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Extend register `id` in bank `digest.alg()` with `digest`, as part of the current entry.
    #[inline]
    pub fn extend(&mut self, id: &MrId, digest: &Digest) {
        self.extend_bytes(id, digest.alg(), digest.as_bytes());
    }

    /// Extend register `id` in bank `alg` with raw `data` (`H(old || data)`).
    pub fn extend_bytes(&mut self, id: &MrId, alg: HashAlg, data: &[u8]) {
        let pos = match self
            .regs
            .iter()
            .position(|r| r.value.alg() == alg && r.id == *id)
        {
            Some(p) => p,
            None if self.regs.len() >= MAX_REPLAY_REGISTERS => {
                if self.too_many.is_none() {
                    self.too_many = Some((self.entries, id.clone(), alg));
                }
                return;
            }
            None => {
                let start = self.start_value(id, alg);
                let covers = self.covers(id);
                self.regs.push(RegState {
                    id: id.clone(),
                    value: start,
                    expected: None,
                    expected_head: 0,
                    covers,
                    events: 0,
                    match_since: None,
                    runs: Vec::new(),
                });
                self.regs.len() - 1
            }
        };
        let after = self.entries + 1;
        let Some(reg) = self.regs.get_mut(pos) else {
            return;
        };
        reg.value.extend(data);
        reg.events += 1;
        if reg.covers {
            self.entry_covered = true;
        } else if self.entry_uncovered.is_none() {
            self.entry_uncovered = Some(pos);
        }
        if let Some(expected) = &reg.expected {
            // The old value held for prefix lengths up to `self.entries`.
            if let Some(since) = reg.match_since.take() {
                reg.runs.push((since, after));
            }
            // Leading word first: it almost never matches, and it is read as it was written.
            if head(&reg.value) == reg.expected_head && reg.value == *expected {
                reg.match_since = Some(after);
                // A possible matching prefix: the current entry (covered, since this register
                // has a verified value) is in it.
                if self.counts_at.last().is_none_or(|c| c.prefix != after) {
                    self.counts_at.push(CountsAt {
                        prefix: after,
                        covered: self.covered_entries + 1,
                        not_covered: self.not_covered,
                    });
                }
            }
        }
    }

    /// Close the current entry (also for entries that extend nothing, such as EV_NO_ACTION).
    #[inline]
    pub fn end_entry(&mut self) {
        if self.entry_covered {
            self.covered_entries += 1;
        } else if let Some(pos) = self.entry_uncovered {
            self.not_covered += 1;
            if self.first_not_covered.is_none() {
                self.first_not_covered = self.regs.get(pos).map(|r| NotCovered {
                    entry: self.entries,
                    register: r.id.clone(),
                });
            }
        }
        self.entry_covered = false;
        self.entry_uncovered = None;
        self.entries += 1;
    }

    /// Whether entries extending `id` are covered: it has a verified value or is
    /// [`ReplayOptions::checked_later`]. Always false for a replay without either.
    pub fn covers(&self, id: &MrId) -> bool {
        self.regs.iter().any(|r| r.covers && r.id == *id) || self.opts.checked_later.contains(id)
    }

    /// Whether this replay tells covered entries from others (it has verified values, or
    /// registers [`ReplayOptions::checked_later`]).
    pub fn checks_coverage(&self) -> bool {
        self.verifying || !self.opts.checked_later.is_empty()
    }

    /// The coverage of the prefix of length `k`: it is either the whole log or a length recorded
    /// in `counts_at`.
    fn coverage_at(&self, k: u64) -> Coverage {
        let (covered, not_covered) = if k == self.entries {
            (self.covered_entries, self.not_covered)
        } else {
            match self.counts_at.binary_search_by_key(&k, |c| c.prefix) {
                Ok(i) => self
                    .counts_at
                    .get(i)
                    .map_or((0, 0), |c| (c.covered, c.not_covered)),
                Err(_) => (0, 0),
            }
        };
        Coverage {
            entries: covered,
            not_covered,
            first_not_covered: self.first_not_covered.clone().filter(|f| f.entry < k),
        }
    }

    /// Record an entry whose recorded digest disagrees with its data; the first one is kept and
    /// makes the replay fail.
    pub fn note_bad_entry(&mut self, bad: EntryDigestMismatch) {
        if self.first_bad.is_none() {
            self.first_bad = Some(bad);
        }
    }

    /// Current value of `id` in bank `alg`, if the replay has it.
    pub fn value(&self, id: &MrId, alg: HashAlg) -> Option<Digest> {
        self.value_ref(id, alg).copied()
    }

    /// [`Replayer::value`] without the copy, for a caller that looks at it after every entry.
    pub(crate) fn value_ref(&self, id: &MrId, alg: HashAlg) -> Option<&Digest> {
        self.regs
            .iter()
            .find(|r| r.id == *id && r.value.alg() == alg)
            .map(|r| &r.value)
    }

    /// Whether the entries ended so far may be the matching prefix [`Replayer::finish`] will
    /// report as covered, for a caller that keeps the state there (a checkpoint over a stream:
    /// the covered prefix is known only at the end). `None` when they cannot be: no verified
    /// values, or a verified register that was extended does not hold its verified value, or
    /// (after the first entry) no verified value was reached by the last entry, so the prefix
    /// is not the start of a matching run. `Some(unextended)` when they may be: `unextended`
    /// lists the verified registers (and banks) that hold another value but were never
    /// extended, which [`UnextendedPolicy::Ignore`] leaves out; the prefix is the covered one
    /// only if none of them is extended later. Constant time unless a verified value was just
    /// reached.
    pub fn covered_prefix_candidate(&self) -> Option<Vec<(MrId, HashAlg)>> {
        if !self.verifying {
            return None;
        }
        let reached_now = self.entries == 0
            || self
                .counts_at
                .last()
                .is_some_and(|c| c.prefix == self.entries);
        if !reached_now {
            return None;
        }
        let mut unextended = Vec::new();
        for r in self.regs.iter().filter(|r| r.expected.is_some()) {
            if r.match_since.is_some() {
                continue;
            }
            if r.events == 0 && self.opts.unextended == UnextendedPolicy::Ignore {
                unextended.push((r.id.clone(), r.value.alg()));
                continue;
            }
            return None;
        }
        Some(unextended)
    }

    /// Whether register `id` has been extended in bank `alg`.
    pub fn extended(&self, id: &MrId, alg: HashAlg) -> bool {
        self.regs
            .iter()
            .any(|r| r.id == *id && r.value.alg() == alg && r.events > 0)
    }

    /// The current value of every register and bank the replay holds (those extended and the
    /// verified ones), ordered by register then bank: what [`ReplayOutcome::registers`] would be
    /// if the log ended here.
    pub fn values(&self) -> Vec<RegisterValue> {
        let mut registers: Vec<RegisterValue> = self
            .regs
            .iter()
            .map(|r| RegisterValue {
                id: r.id.clone(),
                value: r.value,
            })
            .collect();
        registers.sort_by(|a, b| (&a.id, a.value.alg()).cmp(&(&b.id, b.value.alg())));
        registers
    }

    /// Finish: the outcome, or the structured reason the log does not verify.
    pub fn finish(mut self) -> Result<ReplayOutcome, Error> {
        if let Some((entry, register, alg)) = self.too_many.take() {
            return Err(Error::TooManyRegisters {
                entry,
                register,
                alg,
                max: MAX_REPLAY_REGISTERS,
            });
        }
        let n = self.entries;
        for reg in &mut self.regs {
            if let Some(since) = reg.match_since.take() {
                reg.runs.push((since, n + 1));
            }
        }
        let registers = self.values();

        let mut covered = None;
        if !self.verifying && !self.opts.checked_later.is_empty() {
            covered = Some(n);
        }
        if self.verifying {
            let relevant: Vec<&RegState> = self
                .regs
                .iter()
                .filter(|r| r.expected.is_some())
                .filter(|r| {
                    r.events > 0 || self.opts.unextended == UnextendedPolicy::MustEqualStart
                })
                .collect();
            let contains = |r: &RegState, k: u64| r.runs.iter().any(|(a, b)| *a <= k && k < *b);
            let mut candidates: Vec<u64> = match self.opts.prefix {
                PrefixPolicy::Exact => vec![n],
                PrefixPolicy::ShortestMatching => {
                    let mut c: Vec<u64> = relevant
                        .iter()
                        .flat_map(|r| r.runs.iter().map(|(a, _)| *a))
                        .collect();
                    c.push(0);
                    c
                }
            };
            candidates.sort_unstable();
            covered = candidates
                .into_iter()
                .find(|k| *k <= n && relevant.iter().all(|r| contains(r, *k)));
            if covered.is_none() {
                let target = match self.opts.prefix {
                    PrefixPolicy::Exact => n,
                    PrefixPolicy::ShortestMatching => u64::MAX,
                };
                let mut mismatches: Vec<Mismatch> = relevant
                    .iter()
                    .filter(|r| {
                        if target == u64::MAX {
                            r.runs.is_empty()
                        } else {
                            !contains(r, target)
                        }
                    })
                    .map(|r| mismatch(r))
                    .collect();
                if mismatches.is_empty() {
                    // Each register matches at some point, but never all at the same time.
                    mismatches = relevant.iter().map(|r| mismatch(r)).collect();
                }
                return Err(ReplayError {
                    mismatches,
                    entries_replayed: n,
                    first_bad_entry: self.first_bad,
                }
                .into());
            }
        }
        let coverage = covered.map(|k| self.coverage_at(k));
        if let Some(bad) = self.first_bad {
            return Err(bad.into());
        }
        Ok(ReplayOutcome {
            registers,
            entries: n,
            covered,
            coverage,
        })
    }
}

/// The first four bytes of a digest (every supported digest has at least 20): a cheap pre-check
/// before comparing a running value with its verified value after each extend.
#[inline(always)]
fn head(d: &Digest) -> u32 {
    d.as_bytes()
        .first_chunk::<4>()
        .map_or(0, |w| u32::from_ne_bytes(*w))
}

fn mismatch(r: &RegState) -> Mismatch {
    Mismatch {
        register: r.id.clone(),
        alg: r.value.alg(),
        expected: r.expected.unwrap_or(r.value),
        computed: r.value,
        events: r.events,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::register::ExpectedRegisters;

    const A: HashAlg = HashAlg::Sha256;

    fn steps(n: usize) -> Vec<Digest> {
        (0..n).map(|i| A.hash(&[i as u8])).collect()
    }

    fn fold(ds: &[Digest]) -> Digest {
        ds.iter()
            .fold(Digest::zero(A), |v, d| v.extended(d.as_bytes()))
    }

    fn run(
        ds: &[Digest],
        expected: &ExpectedRegisters,
        opts: ReplayOptions,
    ) -> Result<ReplayOutcome, Error> {
        let mut r = Replayer::verifying(expected, opts);
        for d in ds {
            r.extend(&MrId::Pcr(10), d);
            r.end_entry();
        }
        r.finish()
    }

    fn expect(v: Digest) -> ExpectedRegisters {
        let mut e = ExpectedRegisters::new();
        e.insert(MrId::Pcr(10), v).unwrap();
        e
    }

    #[test]
    fn whole_log_matches() {
        let ds = steps(5);
        let out = run(&ds, &expect(fold(&ds)), ReplayOptions::default()).unwrap();
        assert_eq!(out.covered, Some(5));
        assert_eq!(out.left_over(), 0);
    }

    #[test]
    fn prefix_matches_and_reports_left_over() {
        let ds = steps(5);
        let out = run(&ds, &expect(fold(&ds[..3])), ReplayOptions::default()).unwrap();
        assert_eq!(out.covered, Some(3));
        assert_eq!(out.left_over(), 2);
        let err = run(
            &ds,
            &expect(fold(&ds[..3])),
            ReplayOptions::default().with_prefix(PrefixPolicy::Exact),
        )
        .unwrap_err();
        assert!(matches!(err, Error::Replay(_)));
    }

    #[test]
    fn mismatch_names_register_and_values() {
        let ds = steps(4);
        let wrong = A.hash(b"nope");
        let Error::Replay(e) = run(&ds, &expect(wrong), ReplayOptions::default()).unwrap_err()
        else {
            panic!("expected a replay error");
        };
        assert_eq!(e.entries_replayed, 4);
        assert_eq!(e.mismatches.len(), 1);
        assert_eq!(e.mismatches[0].register, MrId::Pcr(10));
        assert_eq!(e.mismatches[0].expected, wrong);
        assert_eq!(e.mismatches[0].computed, fold(&ds));
        assert_eq!(e.mismatches[0].events, 4);
    }

    #[test]
    fn explicit_start_value() {
        let ds = steps(3);
        let start = A.hash(b"checkpoint");
        let end = ds.iter().fold(start, |v, d| v.extended(d.as_bytes()));
        let opts = ReplayOptions::default().with_start(MrId::Pcr(10), start);
        assert_eq!(run(&ds, &expect(end), opts).unwrap().covered, Some(3));
        assert!(run(&ds, &expect(end), ReplayOptions::default()).is_err());
    }

    #[test]
    fn unextended_register_must_hold_start_value() {
        let ds = steps(2);
        let mut e = expect(fold(&ds));
        e.insert(MrId::Pcr(11), A.hash(b"x")).unwrap();
        assert!(run(&ds, &e, ReplayOptions::default()).is_err());
        let opts = ReplayOptions::default().with_unextended(UnextendedPolicy::Ignore);
        assert!(run(&ds, &e, opts).is_ok());
        let mut z = expect(fold(&ds));
        z.insert(MrId::Pcr(11), Digest::zero(A)).unwrap();
        assert!(run(&ds, &z, ReplayOptions::default()).is_ok());
    }

    #[test]
    fn all_registers_must_match_at_the_same_prefix() {
        // PCR 10 matches after entry 1, PCR 11 only after entry 2 when PCR 10 has moved on.
        let d = steps(3);
        let mut r = Replayer::verifying(
            &{
                let mut e = ExpectedRegisters::new();
                e.insert(MrId::Pcr(10), fold(&d[..1])).unwrap();
                e.insert(MrId::Pcr(11), fold(&d[1..2])).unwrap();
                e
            },
            ReplayOptions::default(),
        );
        r.extend(&MrId::Pcr(10), &d[0]);
        r.end_entry();
        r.extend(&MrId::Pcr(10), &d[2]);
        r.end_entry();
        r.extend(&MrId::Pcr(11), &d[1]);
        r.end_entry();
        assert!(r.finish().is_err());
    }

    #[test]
    fn bad_entry_rejects_even_when_values_match() {
        let ds = steps(2);
        let mut r = Replayer::verifying(&expect(fold(&ds)), ReplayOptions::default());
        for d in &ds {
            r.extend(&MrId::Pcr(10), d);
            r.end_entry();
        }
        r.note_bad_entry(EntryDigestMismatch {
            entry: 1,
            offset: 10,
            register: MrId::Pcr(10),
            alg: A,
            recorded: ds[1],
            computed: ds[0],
            violation: false,
        });
        assert!(matches!(r.finish(), Err(Error::EntryDigest(_))));
    }

    /// Entries 0..n alternating between PCR 10 (even) and PCR 11 (odd), with entry `silent`
    /// extending nothing; PCR 10 verified at its value after `k10` of its entries.
    fn interleaved(n: usize, silent: usize, k10: usize, opts: ReplayOptions) -> Replayer {
        let d = steps(n);
        let pcr10: Vec<Digest> = d.iter().step_by(2).copied().collect();
        let mut r = Replayer::verifying(&expect(fold(&pcr10[..k10])), opts);
        for (i, step) in d.iter().enumerate() {
            if i != silent {
                let id = MrId::Pcr(if i % 2 == 0 { 10 } else { 11 });
                r.extend(&id, step);
            }
            r.end_entry();
        }
        r
    }

    #[test]
    fn coverage_counts_only_entries_of_verified_registers_in_the_prefix() {
        // PCR 10 reaches its value at entry 4 (its 3rd entry): prefix 5 = entries 0..5, of which
        // 0, 2, 4 are PCR 10's, 1 is PCR 11's, 3 extends nothing.
        let r = interleaved(12, 3, 3, ReplayOptions::default());
        assert!(r.covers(&MrId::Pcr(10)));
        assert!(!r.covers(&MrId::Pcr(11)));
        assert!(r.checks_coverage());
        let out = r.finish().unwrap();
        assert_eq!(out.covered, Some(5));
        assert_eq!(out.covered_entries(), Some(3));
        let c = out.coverage.unwrap();
        assert_eq!((c.entries, c.not_covered), (3, 1));
        assert_eq!(
            c.first_not_covered,
            Some(NotCovered {
                entry: 1,
                register: MrId::Pcr(11)
            })
        );
        // The whole log under Exact: every entry counted.
        let d = steps(4);
        let mut r = Replayer::verifying(
            &expect(fold(&[d[0], d[2]])),
            ReplayOptions::default().with_prefix(PrefixPolicy::Exact),
        );
        for (i, step) in d.iter().enumerate() {
            r.extend(&MrId::Pcr(if i % 2 == 0 { 10 } else { 11 }), step);
            r.end_entry();
        }
        let c = r.finish().unwrap().coverage.unwrap();
        assert_eq!((c.entries, c.not_covered), (2, 2));
    }

    #[test]
    fn an_uncovered_entry_after_the_prefix_or_at_its_end_is_not_named() {
        // PCR 10 verified after entry 0: prefix 1; the PCR 11 entry 1 is left over.
        let r = interleaved(4, 99, 1, ReplayOptions::default());
        let out = r.finish().unwrap();
        assert_eq!(out.covered, Some(1));
        let c = out.coverage.unwrap();
        assert_eq!(
            (c.entries, c.not_covered, c.first_not_covered),
            (1, 0, None)
        );
        // PCR 10 at its reset value: the empty prefix.
        let r = interleaved(4, 99, 0, ReplayOptions::default());
        let out = r.finish().unwrap();
        assert_eq!(out.covered, Some(0));
        let c = out.coverage.clone().unwrap();
        assert_eq!(
            (c.entries, c.not_covered, c.first_not_covered),
            (0, 0, None)
        );
        assert_eq!(out.left_over(), 4);
    }

    #[test]
    fn registers_checked_later_are_covered_and_the_whole_log_is_the_prefix() {
        let d = steps(5);
        let mut r = Replayer::new(ReplayOptions::default().with_checked_later([MrId::Pcr(11)]));
        assert!(r.checks_coverage());
        assert!(r.covers(&MrId::Pcr(11)));
        assert!(!r.covers(&MrId::Pcr(10)));
        for (i, step) in d.iter().enumerate() {
            r.extend(&MrId::Pcr(if i < 2 { 10 } else { 11 }), step);
            r.end_entry();
        }
        let out = r.finish().unwrap();
        assert_eq!(out.covered, Some(5));
        assert_eq!(out.left_over(), 0);
        let c = out.coverage.unwrap();
        assert_eq!((c.entries, c.not_covered), (3, 2));
        assert_eq!(c.first_not_covered.map(|f| f.entry), Some(0));

        // Without verified values or registers checked later: no coverage at all.
        let mut r = Replayer::new(ReplayOptions::default());
        assert!(!r.checks_coverage());
        assert!(!r.covers(&MrId::Pcr(10)));
        r.extend(&MrId::Pcr(10), &d[0]);
        r.end_entry();
        assert!(!r.covers(&MrId::Pcr(10)));
        let out = r.finish().unwrap();
        assert_eq!((out.covered, out.coverage), (None, None));
    }

    #[test]
    fn a_register_verified_in_one_bank_covers_its_entries_in_every_bank() {
        let d = steps(2);
        let mut r = Replayer::verifying(&expect(fold(&d)), ReplayOptions::default());
        for step in &d {
            r.extend(&MrId::Pcr(10), &HashAlg::Sha1.hash(step.as_bytes()));
            r.extend(&MrId::Pcr(10), step);
            r.end_entry();
        }
        assert!(r.covers(&MrId::Pcr(10)));
        let c = r.finish().unwrap().coverage.unwrap();
        assert_eq!((c.entries, c.not_covered), (2, 0));
    }
}
