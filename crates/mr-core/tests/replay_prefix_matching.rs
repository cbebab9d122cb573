//! The replay engine's prefix matching against a straightforward reference: fold every extend,
//! record after each prefix whether every verified register and bank holds its verified value,
//! and take the shortest such prefix (or the whole log for `Exact`). Random logs over several
//! registers and banks, verified values taken from random prefixes (all from one prefix, each
//! from its own, or unreachable), both prefix policies and both unextended-register policies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use proptest::prelude::*;

use mr_core::register::{ExpectedRegisters, MrId};
use mr_core::replay::{PrefixPolicy, ReplayOptions, Replayer, UnextendedPolicy};
use mr_core::{Digest, Error, HashAlg};

const REGISTERS: [MrId; 3] = [MrId::Pcr(10), MrId::Pcr(17), MrId::Rtmr(2)];
const BANKS: [HashAlg; 3] = [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384];

/// One extend: register, bank, data (a digest of the bank's size, or other lengths).
type Step = (usize, usize, Vec<u8>);

fn key(step: &Step) -> (MrId, HashAlg) {
    (REGISTERS[step.0].clone(), BANKS[step.1])
}

/// Values of every register and bank that is extended or verified, after each prefix `0..=n`.
fn values_after_each_prefix(
    log: &[Vec<Step>],
    keys: &[(MrId, HashAlg)],
) -> Vec<BTreeMap<(MrId, HashAlg), Digest>> {
    let mut now: BTreeMap<(MrId, HashAlg), Digest> = keys
        .iter()
        .map(|(id, alg)| ((id.clone(), *alg), id.reset_value(*alg)))
        .collect();
    let mut out = vec![now.clone()];
    for entry in log {
        for step in entry {
            let k = key(step);
            let v = now.get_mut(&k).expect("every extended key is listed");
            // The incremental hasher, not the engine's one-shot extend.
            let mut h = k.1.hasher();
            h.update(v.as_bytes());
            h.update(&step.2);
            *v = h.finalize();
        }
        out.push(now.clone());
    }
    out
}

/// How the verified values are chosen.
#[derive(Clone, Debug)]
enum Choice {
    /// Every verified value from the same prefix.
    OnePrefix(usize),
    /// Each verified value from its own prefix.
    OwnPrefixes(Vec<usize>),
    /// One value nothing reaches, the others from one prefix.
    Unreachable(usize),
}

fn step() -> impl Strategy<Value = Step> {
    (0..REGISTERS.len(), 0..BANKS.len(), any::<u8>(), 0..3u8).prop_map(|(r, b, seed, shape)| {
        let size = BANKS[b].size();
        // Mostly bank-size digests (what logs extend); sometimes shorter or longer data.
        let len = match shape {
            0 | 1 => size,
            _ => usize::from(seed) % 100,
        };
        (r, b, (0..len).map(|i| seed.wrapping_add(i as u8)).collect())
    })
}

/// A log (entries of steps), the verified (register, bank) pairs, how their values are chosen,
/// `Exact` or not, `UnextendedPolicy::Ignore` or not.
type Case = (Vec<Vec<Step>>, Vec<(usize, usize)>, Choice, bool, bool);

fn case() -> impl Strategy<Value = Case> {
    (
        // Entries of 0..=3 extends (an entry may extend nothing, like EV_NO_ACTION).
        prop::collection::vec(prop::collection::vec(step(), 0..=3), 0..24),
        // Verified (register, bank) pairs, possibly some never extended.
        prop::collection::vec((0..REGISTERS.len(), 0..BANKS.len()), 1..5),
        any::<(u8, u8)>(),
        prop::collection::vec(any::<u8>(), 5),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(log, verified, (kind, k), ks, exact, ignore)| {
            let n = log.len() + 1;
            let choice = match kind % 3 {
                0 => Choice::OnePrefix(usize::from(k) % n),
                1 => Choice::OwnPrefixes(ks.iter().map(|k| usize::from(*k) % n).collect()),
                _ => Choice::Unreachable(usize::from(k) % n),
            };
            (log, verified, choice, exact, ignore)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn replayer_covers_the_shortest_prefix_the_reference_finds(
        (log, verified, choice, exact, ignore) in case()
    ) {
        let mut verified: Vec<(MrId, HashAlg)> = verified
            .iter()
            .map(|(r, b)| (REGISTERS[*r].clone(), BANKS[*b]))
            .collect();
        verified.sort();
        verified.dedup();
        let mut keys: Vec<(MrId, HashAlg)> = log.iter().flatten().map(key).collect();
        keys.extend(verified.iter().cloned());
        keys.sort();
        keys.dedup();
        let after = values_after_each_prefix(&log, &keys);
        let n = log.len();

        let mut expected = ExpectedRegisters::new();
        for (i, (id, alg)) in verified.iter().enumerate() {
            let value = match &choice {
                Choice::OnePrefix(k) => after[*k][&(id.clone(), *alg)],
                Choice::OwnPrefixes(ks) => after[ks[i % ks.len()]][&(id.clone(), *alg)],
                Choice::Unreachable(_) if i == 0 => alg.hash(b"reached by no prefix"),
                Choice::Unreachable(k) => after[*k][&(id.clone(), *alg)],
            };
            expected.insert(id.clone(), value).unwrap();
        }
        let opts = ReplayOptions::default()
            .with_prefix(if exact { PrefixPolicy::Exact } else { PrefixPolicy::ShortestMatching })
            .with_unextended(if ignore { UnextendedPolicy::Ignore } else { UnextendedPolicy::MustEqualStart });

        // Reference: the verified values that count, and the prefixes at which all of them hold.
        let extended: Vec<(MrId, HashAlg)> = log.iter().flatten().map(key).collect();
        let counted: Vec<(MrId, HashAlg, Digest)> = expected
            .iter()
            .map(|(id, d)| (id.clone(), d.alg(), *d))
            .filter(|(id, alg, _)| !ignore || extended.contains(&(id.clone(), *alg)))
            .collect();
        let holds = |k: usize| counted.iter().all(|(id, alg, d)| after[k][&(id.clone(), *alg)] == *d);
        let reference = if exact {
            holds(n).then_some(n as u64)
        } else {
            (0..=n).find(|k| holds(*k)).map(|k| k as u64)
        };

        let mut r = Replayer::verifying(&expected, opts);
        for entry in &log {
            for step in entry {
                r.extend_bytes(&REGISTERS[step.0], BANKS[step.1], &step.2);
            }
            r.end_entry();
        }
        match (r.finish(), reference) {
            (Ok(out), Some(k)) => {
                prop_assert_eq!(out.covered, Some(k));
                prop_assert_eq!(out.entries, n as u64);
                for rv in &out.registers {
                    prop_assert_eq!(rv.value, after[n][&(rv.id.clone(), rv.value.alg())]);
                }
            }
            (Err(Error::Replay(e)), None) => {
                prop_assert_eq!(e.entries_replayed, n as u64);
                prop_assert!(!e.mismatches.is_empty());
            }
            (got, want) => prop_assert!(false, "engine {:?}, reference {:?}", got, want),
        }
    }
}
