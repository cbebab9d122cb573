//! Extend failures: finding the one entry that was logged but never extended.
//!
//! IMA appends an entry to the list and then extends the PCR; if the extend fails (a TPM error,
//! a timeout) the entry stays in the list but the PCR never saw it, and the list no longer
//! replays to the quote. Such a list is rejected like any other mismatch; this search only
//! names the entry, so that the verdict can say "entry N was logged but never extended".
//!
//! Cost and bound. A hash chain cannot be un-extended, so leaving out entry j means re-folding
//! every later entry from the prefix value before j: O(m - j) extends for candidate j, O(m²)
//! for all m entries of the register. The search computes the per-entry extend values and the
//! prefix values once (O(m) hashes, O(m) memory), then tries candidates from the newest entry
//! backwards (the cheapest first, and the likeliest: a failed extend is usually recent) and
//! stops when its budget of extend operations is spent ([`SearchOutcome::BudgetExhausted`]).
//! With the default budget [`DEFAULT_NEVER_EXTENDED_BUDGET`] (2^24 ≈ 16.8 M extends; the
//! 12.5 M SHA-1 extends of a 5 000-entry list whose 11th entry was lost took 2.5 s, about 400
//! verifying replays of that list, in `benches/ima_checkpoint.rs`) the search is complete for registers with up to about 5 790 entries
//! (m(m-1)/2 ≤ 2^24) and covers the newest ~5 790 entries of longer lists. A candidate found in
//! one register and bank is confirmed by replaying the list without that entry against all the
//! verified values.

use crate::alg::{Digest, HashAlg};
use crate::error::Error;
use crate::register::{MrId, VerifiedRegisters};

use super::checkpoint::walk_entries;
use super::reader::ImaReader;
use super::replay::{replay, DigestMode, ImaReplayConfig};
use super::ImaEntry;

/// Default budget of extend operations for [`find_never_extended`].
pub const DEFAULT_NEVER_EXTENDED_BUDGET: u64 = 1 << 24;

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
    /// No single entry explains the mismatch (all candidates tried).
    NotFound,
    /// The budget ran out after trying this many candidates (newest first).
    BudgetExhausted {
        /// Candidates tried.
        candidates_tried: u64,
    },
}

fn extend_value(e: &ImaEntry, alg: HashAlg, mode: DigestMode) -> Digest {
    let padded = |src: &[u8]| Digest::zero_padded(alg, src).unwrap_or_else(|_| Digest::zero(alg));
    match (e.is_violation(), mode) {
        (true, DigestMode::PaddedSha1) => padded(&[0xFF; 20]),
        (true, _) => Digest::ones(alg),
        (false, DigestMode::PaddedSha1) => padded(e.template_digest(HashAlg::Sha1).as_bytes()),
        (false, _) => e.template_digest(alg),
    }
}

/// Search `list` (which does not replay to `expected`) for a single entry that was logged but
/// never extended, within `budget` extend operations (see the module documentation).
pub fn find_never_extended(
    list: &[u8],
    config: &ImaReplayConfig,
    expected: &VerifiedRegisters,
    budget: u64,
) -> Result<SearchOutcome, Error> {
    let modes: &[DigestMode] = match config.digest_mode {
        DigestMode::Auto => &[DigestMode::PerBank, DigestMode::PaddedSha1],
        DigestMode::PerBank => &[DigestMode::PerBank],
        DigestMode::PaddedSha1 => &[DigestMode::PaddedSha1],
    };
    let mut spent = 0u64;
    let mut tried = 0u64;
    for &mode in modes {
        for (id, want) in expected.iter() {
            let alg = want.alg();
            // The entries extending `id`: (entry number, extend value).
            let mut steps: Vec<(u64, Digest)> = Vec::new();
            let mut reader = ImaReader::new(list, config.reader.clone());
            while let Some(e) = reader.next_entry()? {
                let reg = config.target.clone().unwrap_or(MrId::Pcr(e.pcr()));
                if reg == *id {
                    steps.push((e.index(), extend_value(e, alg, mode)));
                }
            }
            if steps.is_empty() {
                continue;
            }
            let start = config
                .replay
                .start
                .get(&(id.clone(), alg))
                .copied()
                .unwrap_or_else(|| id.reset_value(alg));
            let mut prefix = Vec::with_capacity(steps.len() + 1);
            prefix.push(start);
            let mut v = start;
            for (_, d) in &steps {
                v = v.extended(d.as_bytes());
                prefix.push(v);
            }
            if prefix.contains(want) {
                // This register and bank is reached as it is; the mismatch is elsewhere.
                continue;
            }
            let m = steps.len();
            for j in (0..m).rev() {
                let cost = (m - 1 - j) as u64;
                if spent.saturating_add(cost) > budget {
                    return Ok(SearchOutcome::BudgetExhausted {
                        candidates_tried: tried,
                    });
                }
                spent += cost;
                tried += 1;
                let mut v = prefix[j];
                for (_, d) in steps.iter().skip(j + 1) {
                    v = v.extended(d.as_bytes());
                    if v == *want {
                        if let Some(found) = confirm(list, config, expected, steps[j].0)? {
                            return Ok(SearchOutcome::Found(NeverExtendedEntry {
                                register: id.clone(),
                                ..found
                            }));
                        }
                        break;
                    }
                }
            }
        }
    }
    Ok(SearchOutcome::NotFound)
}

/// Replay `list` without entry `skip` against `expected`.
fn confirm(
    list: &[u8],
    config: &ImaReplayConfig,
    expected: &VerifiedRegisters,
    skip: u64,
) -> Result<Option<NeverExtendedEntry>, Error> {
    let mut without = Vec::with_capacity(list.len());
    walk_entries(list, &config.reader, u64::MAX, |i, bytes| {
        if i != skip {
            without.extend_from_slice(bytes);
        }
    })?;
    if without.is_empty() {
        return Ok(None);
    }
    match replay(&without[..], config, Some(expected)) {
        Ok(r) => {
            let covered = r.outcome.covered.unwrap_or(r.entries);
            Ok(Some(NeverExtendedEntry {
                entry: skip,
                register: MrId::Pcr(0),
                covered: if covered > skip { covered + 1 } else { covered },
            }))
        }
        Err(_) => Ok(None),
    }
}
