//! Extend failures: finding the one entry that was logged but never extended.
//!
//! IMA appends an entry to the list and then extends the PCR; if the extend fails (a TPM error,
//! a timeout) the entry stays in the list but the PCR never saw it, and the list no longer
//! replays to the quote. Such a list is rejected like any other mismatch; this search only
//! names the entry, so that the verdict can say "entry N was logged but never extended".
//!
//! No second pass, bounded state, bounded work. The search rides on the replay itself
//! ([`crate::log::ima::verify`] with [`crate::log::ima::ImaOptions::never_extended_budget`]):
//! for every register the verified values name and every digest mode tried, the replay hands
//! over, entry by entry, the register's value before the entry and the entry's extend value in
//! each bank (both already computed by the replay), and the search keeps only the last `W`
//! entries of that register, `W` = [`window`]`(budget)`: memory depends on the budget, never on
//! the list, and the list is never read again. A hash chain cannot be un-extended, so leaving
//! out entry j means re-folding the entries after it from the value before j: (m - 1 - j)
//! extends for candidate j of a register with m entries. When the replay does not reach the
//! verified values, the candidates in the window are tried from the newest backwards (the
//! cheapest first, and the likeliest: a failed extend is usually recent), in the first bank
//! until it reaches the verified value and then, only at that entry, in every other bank of the
//! register: a candidate is found when all banks reach their verified values at the same entry,
//! and every other register reaches its value as it is.
//!
//! The budget counts every hash the search adds: each extend of the re-folds (the replay's own
//! hashes are the replay's). When it is spent the search stops
//! ([`SearchOutcome::BudgetExhausted`]). With the default [`DEFAULT_NEVER_EXTENDED_BUDGET`]
//! (2^24 ≈ 16.8 M hashes) the window is about 5 800 entries (m(m-1)/2 ≤ 2^24), the newest
//! entries of the register. Memory: the window, raw digest bytes in a ring (the value before
//! each entry and its extend value in each bank, and its number: 112 bytes an entry for SHA-1 +
//! SHA-256, 650 KB at the default budget), whatever the list's length.

use std::io::BufRead;

use crate::alg::{Digest, HashAlg};
use crate::error::Error;
use crate::register::{ExpectedRegisters, MrId};

use super::replay::{DigestMode, ImaReplayConfig};

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

/// One register in one digest mode: its banks' verified and running values and its newest
/// entries.
#[derive(Debug)]
struct Lane {
    mode: DigestMode,
    id: MrId,
    want: Vec<Digest>,
    /// Position of each of `want`'s banks in the replay's bank order.
    bank_at: Vec<usize>,
    value: Vec<Digest>,
    /// Per bank, the entries covered when its running value first was the verified one (0:
    /// the start value already was).
    reached: Vec<Option<u64>>,
    /// The newest entries: their numbers, the value before each and its extend values.
    window: Window,
}

impl Lane {
    /// Entries covered when every bank reached its verified value as the list is.
    fn covered(&self) -> Option<u64> {
        self.reached
            .iter()
            .try_fold(0u64, |m, r| r.map(|r| m.max(r)))
    }

    /// Value before window entry `j` (0: the oldest kept) in bank `b`.
    fn before(&self, j: usize, b: usize) -> Option<Digest> {
        let alg = self.want.get(b)?.alg();
        Digest::new(alg, self.window.before(j, b)?).ok()
    }

    /// Extend value of window entry `j` in bank `b`.
    fn extend(&self, j: usize, b: usize) -> Option<&[u8]> {
        self.window.extend(j, b)
    }
}

/// The newest entries of one register (at most `keep`), oldest first, in a ring of raw digest
/// bytes: per entry, the register's value before it in each bank, then its extend value in each
/// bank, each at its bank's size (104 bytes an entry for SHA-1 + SHA-256). It replaced a
/// `VecDeque<Digest>` of 66-byte digests (264 bytes an entry, a ring of 1.5 MB at the default
/// budget), whose pushes and drains, with the copies of whole `Digest`s around them, took 7–9 %
/// of the samples of `mr ima replay` (docs/performance.md, "The never-extended window").
#[derive(Debug)]
struct Window {
    keep: usize,
    /// Where each bank's value starts in an entry's half (befores, then extends), and its size.
    banks: Vec<(usize, usize)>,
    /// Bytes of the befores (as many as of the extends) of one entry.
    half: usize,
    /// Entry numbers, slot by slot.
    entries: Vec<u64>,
    /// `2 × half` bytes a slot.
    bytes: Vec<u8>,
    /// Slot of the oldest entry (0 until the ring is full).
    oldest: usize,
}

impl Window {
    /// A window of at most `keep` entries of banks `algs` (growing as entries come, so a short
    /// list does not pay for the whole window).
    fn new(keep: usize, algs: &[HashAlg]) -> Window {
        let mut banks = Vec::with_capacity(algs.len());
        let mut half = 0;
        for alg in algs {
            banks.push((half, alg.size()));
            half += alg.size();
        }
        Window {
            keep,
            banks,
            half,
            entries: Vec::new(),
            bytes: Vec::new(),
            oldest: 0,
        }
    }

    /// Entries kept.
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// Number of the window entry `j` (0: the oldest kept).
    fn entry(&self, j: usize) -> Option<u64> {
        self.entries.get(self.slot(j)?).copied()
    }

    /// Slot of window entry `j`.
    fn slot(&self, j: usize) -> Option<usize> {
        (j < self.len()).then(|| (self.oldest + j) % self.len())
    }

    /// Bytes of bank `b` in the half at `half_at` (0: befores, 1: extends) of window entry `j`.
    fn bank(&self, j: usize, half_at: usize, b: usize) -> Option<&[u8]> {
        let &(at, size) = self.banks.get(b)?;
        let start = self.slot(j)? * 2 * self.half + half_at * self.half + at;
        self.bytes.get(start..start + size)
    }

    /// Value before window entry `j` in bank `b`.
    fn before(&self, j: usize, b: usize) -> Option<&[u8]> {
        self.bank(j, 0, b)
    }

    /// Extend value of window entry `j` in bank `b`.
    fn extend(&self, j: usize, b: usize) -> Option<&[u8]> {
        self.bank(j, 1, b)
    }

    /// Keep entry `index` as the newest, in place of the oldest when the window is full, with
    /// the values before it (`befores`) and its extend values (`extends`), bank by bank.
    fn push<'a>(
        &mut self,
        index: u64,
        befores: impl Iterator<Item = &'a [u8]>,
        extends: impl Iterator<Item = &'a [u8]>,
    ) {
        let stride = 2 * self.half;
        let slot = if self.len() < self.keep {
            if self.entries.len() == self.entries.capacity() {
                // Doubling, but never past the window (a plain push would double past it).
                let more = self.len().clamp(1, self.keep - self.len());
                self.entries.reserve_exact(more);
                self.bytes.reserve_exact(more * stride);
            }
            self.entries.push(index);
            self.bytes.resize(self.bytes.len() + stride, 0);
            self.len() - 1
        } else {
            let slot = self.oldest;
            let Some(e) = self.entries.get_mut(slot) else {
                return;
            };
            *e = index;
            self.oldest = (slot + 1) % self.keep;
            slot
        };
        let start = slot * stride;
        let Some(bytes) = self.bytes.get_mut(start..start + stride) else {
            return;
        };
        let (before_half, extend_half) = bytes.split_at_mut(self.half);
        for (&bank, v) in self.banks.iter().zip(befores) {
            put(before_half, bank, v);
        }
        for (&bank, x) in self.banks.iter().zip(extends) {
            put(extend_half, bank, x);
        }
    }
}

/// Write `value` into `half` (one half of a window slot) at `bank` (its offset and size); a
/// value of another size (not one the replay makes) is cut or zero-padded to the bank's size.
fn put(half: &mut [u8], (at, size): (usize, usize), value: &[u8]) {
    let Some(dst) = half.get_mut(at..at + size) else {
        return;
    };
    if value.len() == size {
        // The common sizes as constants: moves in place of a `memcpy` call per value.
        let copied = match size {
            20 => copy_exact::<20>(dst, value),
            32 => copy_exact::<32>(dst, value),
            _ => false,
        };
        if !copied {
            dst.copy_from_slice(value);
        }
        return;
    }
    // Only off the hot path: an empty `fill` is still a `memset` call (1 % of the reading
    // thread when it ran for every value).
    let n = size.min(value.len());
    let (head, tail) = dst.split_at_mut(n);
    if let Some(src) = value.get(..n) {
        head.copy_from_slice(src);
    }
    tail.fill(0);
}

/// Copy `N` bytes from `src` to `dst`; false when either is not `N` bytes long.
fn copy_exact<const N: usize>(dst: &mut [u8], src: &[u8]) -> bool {
    match (<&mut [u8; N]>::try_from(dst), <&[u8; N]>::try_from(src)) {
        (Ok(d), Ok(s)) => {
            *d = *s;
            true
        }
        _ => false,
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

/// The never-extended search's share of a replay: the window of each verified register, fed
/// by the replay after it applied each entry ([`NeverExtendedPass::entry`]), searched when the
/// replay fails ([`NeverExtendedPass::search`]).
#[derive(Debug)]
pub(crate) struct NeverExtendedPass {
    budget: u64,
    lanes: Vec<Lane>,
}

impl NeverExtendedPass {
    /// The pass of a replay of `banks` (the replay's bank order) in `config`'s digest modes
    /// against `expected`, within `budget` hashes; `None` for a zero budget.
    pub(crate) fn new(
        config: &ImaReplayConfig,
        banks: &[HashAlg],
        expected: &ExpectedRegisters,
        budget: u64,
    ) -> Option<NeverExtendedPass> {
        if budget == 0 {
            return None;
        }
        let modes: &[DigestMode] = match config.digest_mode {
            DigestMode::Auto => &[DigestMode::PerBank, DigestMode::PaddedSha1],
            DigestMode::PerBank => &[DigestMode::PerBank],
            DigestMode::PaddedSha1 => &[DigestMode::PaddedSha1],
        };
        let mut lanes: Vec<Lane> = Vec::new();
        for &mode in modes {
            for (id, want) in expected.iter() {
                let alg = want.alg();
                let Some(at) = banks.iter().position(|b| *b == alg) else {
                    continue;
                };
                let start = config
                    .replay
                    .start
                    .get(&(id.clone(), alg))
                    .copied()
                    .unwrap_or_else(|| id.reset_value(alg));
                let reached = (start == *want).then_some(0);
                match lanes.iter_mut().find(|l| l.mode == mode && l.id == *id) {
                    Some(l) => {
                        l.want.push(*want);
                        l.bank_at.push(at);
                        l.reached.push(reached);
                        l.value.push(start);
                    }
                    None => lanes.push(Lane {
                        mode,
                        id: id.clone(),
                        want: vec![*want],
                        bank_at: vec![at],
                        reached: vec![reached],
                        value: vec![start],
                        window: Window::new(0, &[]),
                    }),
                }
            }
        }
        let keep = window(budget);
        for l in &mut lanes {
            let algs: Vec<HashAlg> = l.want.iter().map(Digest::alg).collect();
            l.window = Window::new(keep, &algs);
        }
        Some(NeverExtendedPass { budget, lanes })
    }

    /// Entry `index` extended `register` in `mode` with `extends` (in the replay's bank order);
    /// `value` gives the register's value in a bank after the entry (a reference: copying a
    /// whole `Digest` out of the replayer for each bank showed in `perf` as a store-forwarding
    /// stall).
    pub(crate) fn entry<'v>(
        &mut self,
        mode: DigestMode,
        index: u64,
        register: &MrId,
        extends: &[Digest],
        value: impl Fn(HashAlg) -> Option<&'v Digest>,
    ) {
        let Some(l) = self
            .lanes
            .iter_mut()
            .find(|l| l.mode == mode && l.id == *register)
        else {
            return;
        };
        // Every extend value is of its bank (the replay makes them so); a missing one is kept
        // as zeros.
        l.window.push(
            index,
            l.value.iter().map(Digest::as_bytes),
            l.bank_at
                .iter()
                .map(|&at| extends.get(at).map_or(&[][..], Digest::as_bytes)),
        );
        for ((want, slot), r) in l.want.iter().zip(&mut l.value).zip(&mut l.reached) {
            // Compared where the replayer keeps it, then copied: comparing the fresh copy
            // stalled on its stores (`perf annotate`: a third of this function on one load).
            let now = value(want.alg());
            if now.unwrap_or(slot) == want {
                r.get_or_insert(index + 1);
            }
            if let Some(v) = now {
                *slot = *v;
            }
        }
    }

    /// Look for the one entry whose omission makes the list replay to the verified values.
    pub(crate) fn search(&self) -> NeverExtendedSearch {
        let mut budget = Budget {
            spent: 0,
            limit: self.budget,
        };
        let mut tried = 0u64;
        let modes: Vec<DigestMode> = self.lanes.iter().fold(Vec::new(), |mut m, l| {
            if !m.contains(&l.mode) {
                m.push(l.mode);
            }
            m
        });
        for mode in modes {
            let mode_lanes: Vec<&Lane> = self.lanes.iter().filter(|l| l.mode == mode).collect();
            let broken: Vec<&&Lane> = mode_lanes
                .iter()
                .filter(|l| l.covered().is_none())
                .collect();
            let [lane] = broken.as_slice() else {
                continue;
            };
            match search_lane(lane, &mode_lanes, &mut budget, &mut tried) {
                Ok(Some(found)) => {
                    return NeverExtendedSearch {
                        outcome: SearchOutcome::Found(found),
                        work: budget.spent,
                    }
                }
                Ok(None) => {}
                Err(()) => {
                    return NeverExtendedSearch {
                        outcome: SearchOutcome::BudgetExhausted {
                            candidates_tried: tried.saturating_sub(1),
                        },
                        work: budget.spent,
                    }
                }
            }
        }
        NeverExtendedSearch {
            outcome: SearchOutcome::NotFound,
            work: budget.spent,
        }
    }
}

/// The candidates of one register that does not reach its values, newest first; `Err` when the
/// budget ran out.
fn search_lane(
    lane: &Lane,
    mode_lanes: &[&Lane],
    budget: &mut Budget,
    tried: &mut u64,
) -> Result<Option<NeverExtendedEntry>, ()> {
    let others_covered = mode_lanes
        .iter()
        .filter_map(|l| l.covered())
        .max()
        .unwrap_or(0);
    let n = lane.window.len();
    let (Some(want0), true) = (lane.want.first(), n > 0) else {
        return Ok(None);
    };
    for j in (0..n).rev() {
        *tried += 1;
        let Some(mut v) = lane.before(j, 0) else {
            continue;
        };
        let mut hit = None;
        for k in j + 1..n {
            if !budget.spend(1) {
                return Err(());
            }
            if let Some(x) = lane.extend(k, 0) {
                v = v.extended(x);
            }
            if v == *want0 {
                hit = Some(k);
                break;
            }
        }
        let Some(k) = hit else { continue };
        // Every other bank must reach its value at the same entry.
        let mut all = true;
        for (b, want) in lane.want.iter().enumerate().skip(1) {
            let Some(mut v) = lane.before(j, b) else {
                all = false;
                break;
            };
            for later in j + 1..=k {
                if !budget.spend(1) {
                    return Err(());
                }
                if let Some(x) = lane.extend(later, b) {
                    v = v.extended(x);
                }
            }
            if v != *want {
                all = false;
                break;
            }
        }
        if all {
            let (Some(entry), Some(at_k)) = (lane.window.entry(j), lane.window.entry(k)) else {
                continue;
            };
            return Ok(Some(NeverExtendedEntry {
                entry,
                register: lane.id.clone(),
                covered: (at_k + 1).max(others_covered),
            }));
        }
    }
    Ok(None)
}

/// Search `list` (which does not replay to `expected`) for a single entry that was logged but
/// never extended, within `budget` hash operations (see the module documentation): one replay
/// of the list, read once, and the search over its windows. A list that replays to `expected`
/// gives [`SearchOutcome::NotFound`].
pub fn find_never_extended<R: BufRead>(
    list: R,
    config: &ImaReplayConfig,
    expected: &ExpectedRegisters,
    budget: u64,
) -> Result<NeverExtendedSearch, Error> {
    super::replay::search_values(list, config, expected, budget)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window's bytes of entry `i` in a bank of `size` bytes (before or extend).
    fn bytes_of(i: u64, half: u8, size: usize) -> Vec<u8> {
        (0..size).map(|k| (i as u8) ^ (k as u8) ^ half).collect()
    }

    #[test]
    fn the_window_ring_holds_the_newest_entries_oldest_first() {
        let algs = [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha512];
        for keep in [1usize, 2, 3, 7] {
            let mut w = Window::new(keep, &algs);
            for i in 0..25u64 {
                let befores: Vec<Vec<u8>> = algs.iter().map(|a| bytes_of(i, 0, a.size())).collect();
                let extends: Vec<Vec<u8>> =
                    algs.iter().map(|a| bytes_of(i, 0x80, a.size())).collect();
                w.push(
                    i,
                    befores.iter().map(Vec::as_slice),
                    extends.iter().map(Vec::as_slice),
                );
                let kept = (i + 1).min(keep as u64);
                assert_eq!(w.len() as u64, kept);
                for j in 0..w.len() {
                    let e = i + 1 - kept + j as u64;
                    assert_eq!(w.entry(j), Some(e), "keep {keep}, after {i}, j {j}");
                    for (b, a) in algs.iter().enumerate() {
                        assert_eq!(w.before(j, b), Some(&bytes_of(e, 0, a.size())[..]));
                        assert_eq!(w.extend(j, b), Some(&bytes_of(e, 0x80, a.size())[..]));
                    }
                }
                assert_eq!(w.entry(w.len()), None);
                assert_eq!(w.before(w.len(), 0), None);
                assert_eq!(w.extend(0, algs.len()), None);
            }
            // The ring never grows past the window.
            assert_eq!(w.bytes.len(), keep * 2 * (20 + 32 + 64));
            assert_eq!(w.bytes.capacity(), w.bytes.len());
            assert_eq!(w.entries.capacity(), keep);
        }
    }

    #[test]
    fn a_value_of_another_size_is_cut_or_zero_padded_to_its_bank() {
        let mut w = Window::new(2, &[HashAlg::Sha1, HashAlg::Sha256]);
        let long = [7u8; 64];
        w.push(
            0,
            [&long[..20], &long[..]].into_iter(),
            [&[1u8; 3][..], &[][..]].into_iter(),
        );
        assert_eq!(w.before(0, 1), Some(&[7u8; 32][..]));
        let mut padded = [0u8; 20];
        padded[..3].fill(1);
        assert_eq!(w.extend(0, 0), Some(&padded[..]));
        assert_eq!(w.extend(0, 1), Some(&[0u8; 32][..]));
    }
}
