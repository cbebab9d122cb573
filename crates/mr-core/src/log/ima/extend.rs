//! Extend failures: finding the one entry that was logged but never extended.
//!
//! IMA appends an entry to the list and then extends the PCR; if the extend fails (a TPM error,
//! a timeout) the entry stays in the list but the PCR never saw it, and the list no longer
//! replays to the quote. Such a list is rejected like any other mismatch; this search only
//! names the entry, so that the verdict can say "entry N was logged but never extended".
//!
//! One pass, bounded state, bounded work. The list is read once, as a stream. For every
//! register the verified values name and every digest mode tried, the pass folds the running
//! value of each bank and keeps only the last `W` entries of that register (entry number, the
//! value before it and its extend value in each bank), `W` = [`window`]`(budget)`: memory
//! depends on the budget, never on the list. A hash chain cannot be un-extended, so leaving out
//! entry j means re-folding the entries after it from the value before j: (m - 1 - j) extends
//! for candidate j of a register with m entries. After the pass, the candidates in the window
//! are tried from the newest backwards (the cheapest first, and the likeliest: a failed extend
//! is usually recent), in the first bank until it reaches the verified value and then, only at
//! that entry, in every other bank of the register: a candidate is found when all banks reach
//! their verified values at the same entry, and every other register reaches its value
//! as it is. No list is replayed again.
//!
//! The budget counts every hash: each template digest and each extend of the pass, and each
//! extend of the search. When it is spent the search stops ([`SearchOutcome::BudgetExhausted`]).
//! With the default [`DEFAULT_NEVER_EXTENDED_BUDGET`] (2^24 ≈ 16.8 M hashes) the window is
//! about 5 800 entries (m(m-1)/2 ≤ 2^24). The pass costs, per entry of a verified register,
//! one template digest per bank and one extend per bank and digest mode (six hashes for two
//! banks in both modes), so lists of up to about 2.5 M such entries are read to the end within
//! the default budget, and the candidates are the newest ~5 800 entries of the register.
//! Memory: the window, about 340 bytes an entry for two banks (2 MB at the default budget),
//! whatever the list's length.

use std::collections::VecDeque;
use std::io::BufRead;

use crate::alg::{Digest, HashAlg};
use crate::error::Error;
use crate::register::{ExpectedRegisters, MrId};

use super::reader::ImaReader;
use super::replay::{DigestMode, ImaReplayConfig};
use super::ImaEntry;

/// Default budget of hash operations for [`find_never_extended`].
pub const DEFAULT_NEVER_EXTENDED_BUDGET: u64 = 1 << 24;

/// Most entries of one register kept as candidates, whatever the budget.
pub const MAX_NEVER_EXTENDED_WINDOW: usize = 1 << 14;

/// The number of newest entries of a register kept as candidates for `budget`: the most whose
/// search, newest first, the budget can pay for (k(k-1)/2 ≤ budget), at most
/// [`MAX_NEVER_EXTENDED_WINDOW`].
pub fn window(budget: u64) -> usize {
    // k = floor(sqrt(2 budget)) + 1 satisfies k(k-1)/2 ≤ budget; f64 is exact enough here.
    let k = ((2.0 * budget as f64).sqrt() as u64).saturating_add(1);
    usize::try_from(k).map_or(MAX_NEVER_EXTENDED_WINDOW, |k| {
        k.min(MAX_NEVER_EXTENDED_WINDOW)
    })
}

/// An entry whose omission makes the list replay to the verified values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeverExtendedEntry {
    /// The entry (0-based, in the list given).
    pub entry: u64,
    /// The register it names (or the replay target).
    pub register: MrId,
    /// Entries of the list covered by the verified values once the entry is left out
    /// (counted in the original list, the left-out entry included).
    pub covered: u64,
}

/// Result of [`find_never_extended`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchOutcome {
    /// Leaving out this one entry makes the list verify.
    Found(NeverExtendedEntry),
    /// No single entry in the window explains the mismatch.
    NotFound,
    /// The budget ran out after trying this many candidates (newest first).
    BudgetExhausted {
        /// Candidates tried.
        candidates_tried: u64,
    },
}

/// What [`find_never_extended`] found and what it cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeverExtendedSearch {
    /// The outcome.
    pub outcome: SearchOutcome,
    /// Hash operations done (template digests and extends), at most the budget.
    pub work: u64,
}

fn extend_value(e: &ImaEntry, alg: HashAlg, mode: DigestMode, digest: &Digest) -> Digest {
    let padded = |src: &[u8]| Digest::zero_padded(alg, src).unwrap_or_else(|_| Digest::zero(alg));
    match (e.is_violation(), mode) {
        (true, DigestMode::PaddedSha1) => padded(&[0xFF; 20]),
        (true, _) => Digest::ones(alg),
        (false, DigestMode::PaddedSha1) => padded(digest.as_bytes()),
        (false, _) => *digest,
    }
}

/// One entry of a register, as the search keeps it.
struct Step {
    entry: u64,
    /// Value before the entry, per bank.
    before: Vec<Digest>,
    /// The entry's extend value, per bank.
    extend: Vec<Digest>,
}

/// One register in one digest mode: its banks' verified and running values and its newest
/// entries.
struct Lane {
    mode: DigestMode,
    id: MrId,
    want: Vec<Digest>,
    value: Vec<Digest>,
    /// Per bank, the entries covered when its running value first was the verified one (0:
    /// the start value already was).
    reached: Vec<Option<u64>>,
    steps: VecDeque<Step>,
}

impl Lane {
    /// Entries covered when every bank reached its verified value as the list is.
    fn covered(&self) -> Option<u64> {
        self.reached
            .iter()
            .try_fold(0u64, |m, r| r.map(|r| m.max(r)))
    }
}

/// Work counted against the budget.
struct Budget {
    spent: u64,
    limit: u64,
}

impl Budget {
    /// Spend `n` hashes; false when that would pass the limit.
    fn spend(&mut self, n: u64) -> bool {
        match self.spent.checked_add(n) {
            Some(s) if s <= self.limit => {
                self.spent = s;
                true
            }
            _ => false,
        }
    }
}

/// Search `list` (which does not replay to `expected`) for a single entry that was logged but
/// never extended, reading it once, within `budget` hash operations (see the module
/// documentation).
pub fn find_never_extended<R: BufRead>(
    list: R,
    config: &ImaReplayConfig,
    expected: &ExpectedRegisters,
    budget: u64,
) -> Result<NeverExtendedSearch, Error> {
    let modes: &[DigestMode] = match config.digest_mode {
        DigestMode::Auto => &[DigestMode::PerBank, DigestMode::PaddedSha1],
        DigestMode::PerBank => &[DigestMode::PerBank],
        DigestMode::PaddedSha1 => &[DigestMode::PaddedSha1],
    };
    let mut budget = Budget {
        spent: 0,
        limit: budget,
    };
    let exhausted = |budget: &Budget, tried: u64| NeverExtendedSearch {
        outcome: SearchOutcome::BudgetExhausted {
            candidates_tried: tried,
        },
        work: budget.spent,
    };
    let keep = window(budget.limit);
    let mut lanes: Vec<Lane> = Vec::new();
    for &mode in modes {
        for (id, want) in expected.iter() {
            let alg = want.alg();
            let start = config
                .replay
                .start
                .get(&(id.clone(), alg))
                .copied()
                .unwrap_or_else(|| id.reset_value(alg));
            match lanes.iter_mut().find(|l| l.mode == mode && l.id == *id) {
                Some(l) => {
                    l.want.push(*want);
                    l.reached.push((start == *want).then_some(0));
                    l.value.push(start);
                }
                None => lanes.push(Lane {
                    mode,
                    id: id.clone(),
                    want: vec![*want],
                    reached: vec![(start == *want).then_some(0)],
                    value: vec![start],
                    steps: VecDeque::new(),
                }),
            }
        }
    }
    // The pass.
    let mut reader = ImaReader::new(list, config.reader.clone());
    let mut digests: Vec<(HashAlg, Digest)> = Vec::new();
    while let Some(e) = reader.next_entry()? {
        let reg = config.target.clone().unwrap_or(MrId::Pcr(e.pcr()));
        if !lanes.iter().any(|l| l.id == reg) {
            continue;
        }
        digests.clear();
        for l in lanes.iter_mut().filter(|l| l.id == reg) {
            let mut step = Step {
                entry: e.index(),
                before: l.value.clone(),
                extend: Vec::with_capacity(l.want.len()),
            };
            for (b, want) in l.want.iter().enumerate() {
                let column = match l.mode {
                    DigestMode::PaddedSha1 => HashAlg::Sha1,
                    _ => want.alg(),
                };
                let digest = match digests.iter().find(|(a, _)| *a == column) {
                    Some((_, d)) => *d,
                    None => {
                        if !budget.spend(1) {
                            return Ok(exhausted(&budget, 0));
                        }
                        let d = e.template_digest(column);
                        digests.push((column, d));
                        d
                    }
                };
                let x = extend_value(e, want.alg(), l.mode, &digest);
                if !budget.spend(1) {
                    return Ok(exhausted(&budget, 0));
                }
                l.value[b] = l.value[b].extended(x.as_bytes());
                if l.value[b] == *want && l.reached[b].is_none() {
                    l.reached[b] = Some(e.index() + 1);
                }
                step.extend.push(x);
            }
            if l.steps.len() == keep {
                l.steps.pop_front();
            }
            if keep > 0 {
                l.steps.push_back(step);
            }
        }
    }

    // The search, mode by mode: exactly one register that does not reach its values.
    let mut tried = 0u64;
    for &mode in modes {
        let mode_lanes: Vec<&Lane> = lanes.iter().filter(|l| l.mode == mode).collect();
        let broken: Vec<&&Lane> = mode_lanes
            .iter()
            .filter(|l| l.covered().is_none())
            .collect();
        let [lane] = broken.as_slice() else {
            continue;
        };
        let others_covered = mode_lanes
            .iter()
            .filter_map(|l| l.covered())
            .max()
            .unwrap_or(0);
        let steps = &lane.steps;
        for j in (0..steps.len()).rev() {
            tried += 1;
            let cand = &steps[j];
            let mut v = cand.before[0];
            let mut hit = None;
            for (k, later) in steps.iter().enumerate().skip(j + 1) {
                if !budget.spend(1) {
                    return Ok(exhausted(&budget, tried - 1));
                }
                v = v.extended(later.extend[0].as_bytes());
                if v == lane.want[0] {
                    hit = Some(k);
                    break;
                }
            }
            let Some(k) = hit else { continue };
            // Every other bank must reach its value at the same entry.
            let mut all = true;
            for b in 1..lane.want.len() {
                let mut v = cand.before[b];
                for later in steps.iter().take(k + 1).skip(j + 1) {
                    if !budget.spend(1) {
                        return Ok(exhausted(&budget, tried - 1));
                    }
                    v = v.extended(later.extend[b].as_bytes());
                }
                if v != lane.want[b] {
                    all = false;
                    break;
                }
            }
            if all {
                let covered = (steps[k].entry + 1).max(others_covered);
                return Ok(NeverExtendedSearch {
                    outcome: SearchOutcome::Found(NeverExtendedEntry {
                        entry: cand.entry,
                        register: lane.id.clone(),
                        covered,
                    }),
                    work: budget.spent,
                });
            }
        }
    }
    Ok(NeverExtendedSearch {
        outcome: SearchOutcome::NotFound,
        work: budget.spent,
    })
}
