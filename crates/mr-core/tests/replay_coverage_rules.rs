//! The replay engine's rules that a verifier relies on beyond the matching prefix itself: the
//! bound on the registers one replay holds, which prefix lengths may be the covered one while a
//! stream is read (`Replayer::covered_prefix_candidate`, used by streaming checkpoints), which
//! registers count as extended, the coverage counted at a prefix that is neither the first
//! matching point nor the whole log, a register that moves off its value in the entry where
//! another reaches its own, and the not-covered warning line and JSON of an outcome.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::register::{ExpectedRegisters, MrId};
use mr_core::replay::{
    NotCovered, PrefixPolicy, ReplayOptions, Replayer, UnextendedPolicy, MAX_REPLAY_REGISTERS,
};
use mr_core::{Digest, Error, HashAlg};

const ALG: HashAlg = HashAlg::Sha256;

fn step(i: u8) -> Digest {
    ALG.hash(&[i])
}

/// The value of a register at reset (zero) after extending `steps` in order.
fn fold(steps: &[Digest]) -> Digest {
    steps
        .iter()
        .fold(Digest::zero(ALG), |v, d| v.extended(d.as_bytes()))
}

fn verified(values: &[(MrId, Digest)]) -> ExpectedRegisters {
    let mut e = ExpectedRegisters::new();
    for (id, v) in values {
        e.insert(id.clone(), *v).unwrap();
    }
    e
}

/// A log may name exactly `MAX_REPLAY_REGISTERS` (register, bank) pairs; the first extend of one
/// more pair fails the replay with `TooManyRegisters`, naming that entry, register and bank (a
/// second bank of a register already held is one more pair), and a later extra pair does not
/// replace it.
#[test]
fn a_log_naming_one_register_more_than_a_replay_holds_is_refused_at_that_entry() {
    let half = u32::try_from(MAX_REPLAY_REGISTERS / 2).unwrap();
    let fill = |r: &mut Replayer| {
        for pcr in 0..half {
            r.extend(&MrId::Pcr(pcr), &step(1));
            r.extend(&MrId::Pcr(pcr), &HashAlg::Sha1.hash(&[1]));
            r.end_entry();
        }
    };
    let mut r = Replayer::new(ReplayOptions::default());
    fill(&mut r);
    // A pair already held is extended again without counting as a new one.
    r.extend(&MrId::Pcr(0), &step(2));
    r.end_entry();
    let out = r.finish().unwrap();
    assert_eq!(out.registers.len(), MAX_REPLAY_REGISTERS);
    assert_eq!(out.entries, u64::from(half) + 1);

    let mut r = Replayer::new(ReplayOptions::default());
    fill(&mut r);
    r.extend(&MrId::Pcr(0), &step(2));
    r.extend(&MrId::Pcr(0), &HashAlg::Sha384.hash(&[2]));
    r.end_entry();
    r.extend(&MrId::Pcr(half), &step(3));
    r.end_entry();
    match r.finish() {
        Err(Error::TooManyRegisters {
            entry,
            register,
            alg,
            max,
        }) => {
            assert_eq!(entry, u64::from(half));
            assert_eq!(register, MrId::Pcr(0));
            assert_eq!(alg, HashAlg::Sha384);
            assert_eq!(max, MAX_REPLAY_REGISTERS);
        }
        other => panic!("expected TooManyRegisters, got {other:?}"),
    }
}

/// A replay without verified values never offers a covered prefix.
#[test]
fn a_replay_without_verified_values_has_no_covered_prefix_candidate() {
    let mut r = Replayer::new(ReplayOptions::default().with_checked_later([MrId::Pcr(10)]));
    assert_eq!(r.covered_prefix_candidate(), None);
    r.extend(&MrId::Pcr(10), &step(0));
    r.end_entry();
    assert_eq!(r.covered_prefix_candidate(), None);
}

/// While a stream is read, the entries so far may be the covered prefix only at the start or
/// right after an entry that brought a verified register to its value, and only while every
/// verified register that was extended holds its value.
#[test]
fn the_covered_prefix_candidates_are_the_points_where_every_extended_verified_value_holds() {
    let d: Vec<Digest> = (0..4).map(step).collect();
    // PCR 10 reaches its value after entry 1 and leaves it at entry 3; entry 2 extends the
    // unverified PCR 11.
    let mut r = Replayer::verifying(
        &verified(&[(MrId::Pcr(10), fold(&d[..2]))]),
        ReplayOptions::default(),
    );
    // At the start PCR 10 holds its reset value, not the verified one.
    assert_eq!(r.covered_prefix_candidate(), None);
    r.extend(&MrId::Pcr(10), &d[0]);
    r.end_entry();
    assert_eq!(r.covered_prefix_candidate(), None);
    r.extend(&MrId::Pcr(10), &d[1]);
    r.end_entry();
    assert_eq!(r.covered_prefix_candidate(), Some(vec![]));
    // The value still holds, but the shortest matching prefix ended before this entry.
    r.extend(&MrId::Pcr(11), &d[2]);
    r.end_entry();
    assert_eq!(r.covered_prefix_candidate(), None);
    r.extend(&MrId::Pcr(10), &d[3]);
    r.end_entry();
    assert_eq!(r.covered_prefix_candidate(), None);
    assert_eq!(r.finish().unwrap().covered, Some(2));

    // A verified register at its reset value: the empty prefix is a candidate.
    let r = Replayer::verifying(
        &verified(&[(MrId::Pcr(10), Digest::zero(ALG))]),
        ReplayOptions::default(),
    );
    assert_eq!(r.covered_prefix_candidate(), Some(vec![]));
}

/// A verified register that holds another value but was never extended keeps a point from being
/// a candidate under `MustEqualStart`; under `Ignore` the point is a candidate that names it. A
/// verified register that was extended and misses its value is never left out.
#[test]
fn a_never_extended_register_is_named_by_the_candidate_only_when_ignored() {
    let d: Vec<Digest> = (0..3).map(step).collect();
    let values = verified(&[
        (MrId::Pcr(10), fold(&d[..1])),
        (MrId::Pcr(11), ALG.hash(b"not a value PCR 11 reaches")),
    ]);
    for policy in [UnextendedPolicy::MustEqualStart, UnextendedPolicy::Ignore] {
        let ignored = policy == UnextendedPolicy::Ignore;
        let named = ignored.then(|| vec![(MrId::Pcr(11), ALG)]);
        let mut r = Replayer::verifying(&values, ReplayOptions::default().with_unextended(policy));
        // At the start neither was extended nor holds its value.
        assert_eq!(
            r.covered_prefix_candidate(),
            ignored.then(|| vec![(MrId::Pcr(10), ALG), (MrId::Pcr(11), ALG)]),
            "{policy:?}"
        );
        r.extend(&MrId::Pcr(10), &d[0]);
        r.end_entry();
        assert_eq!(r.covered_prefix_candidate(), named, "{policy:?}");
        assert!(!r.extended(&MrId::Pcr(11), ALG));

        // PCR 11 extended (still off its value) in the entry where PCR 10 reaches its own:
        // never a candidate.
        let mut r = Replayer::verifying(&values, ReplayOptions::default().with_unextended(policy));
        r.extend(&MrId::Pcr(11), &d[2]);
        r.extend(&MrId::Pcr(10), &d[0]);
        r.end_entry();
        assert_eq!(r.covered_prefix_candidate(), None, "{policy:?}");
    }

    // Every verified register at its value at the start, one of them never extended and
    // holding another value: the empty prefix is a candidate only when ignored.
    let values = verified(&[
        (MrId::Pcr(10), Digest::zero(ALG)),
        (MrId::Pcr(11), ALG.hash(b"elsewhere")),
    ]);
    let strict = Replayer::verifying(&values, ReplayOptions::default());
    assert_eq!(strict.covered_prefix_candidate(), None);
    let ignoring = Replayer::verifying(
        &values,
        ReplayOptions::default().with_unextended(UnextendedPolicy::Ignore),
    );
    assert_eq!(
        ignoring.covered_prefix_candidate(),
        Some(vec![(MrId::Pcr(11), ALG)])
    );
}

/// `Replayer::extended` is true for a register and bank an entry extended, and false for another
/// bank of that register, another register, and a verified register no entry extended.
#[test]
fn a_register_counts_as_extended_only_in_the_bank_an_entry_extended() {
    let mut r = Replayer::verifying(
        &verified(&[(MrId::Pcr(12), ALG.hash(b"verified"))]),
        ReplayOptions::default(),
    );
    assert!(!r.extended(&MrId::Pcr(10), ALG));
    r.extend(&MrId::Pcr(10), &step(0));
    r.end_entry();
    assert!(r.extended(&MrId::Pcr(10), ALG));
    assert!(!r.extended(&MrId::Pcr(10), HashAlg::Sha1));
    assert!(!r.extended(&MrId::Pcr(11), ALG));
    assert!(!r.extended(&MrId::Pcr(12), ALG));
    assert!(!r.extended(&MrId::Pcr(12), HashAlg::Sha1));
}

/// The coverage of a matching prefix that ends where a second verified register reaches its value
/// (after the first reached its own, before the log ends) counts the entries of that prefix: the
/// covered ones of both registers and the one of an unverified register.
#[test]
fn the_coverage_of_a_prefix_ended_by_a_later_verified_value_counts_its_entries() {
    let d: Vec<Digest> = (0..4).map(step).collect();
    let mut r = Replayer::verifying(
        &verified(&[
            (MrId::Pcr(10), fold(&d[..1])),
            (MrId::Pcr(11), fold(&d[2..3])),
        ]),
        ReplayOptions::default(),
    );
    // Entry 0: PCR 10 reaches its value; entry 1: unverified PCR 12; entry 2: PCR 11 reaches
    // its value; entry 3: PCR 10 moves on (left over).
    r.extend(&MrId::Pcr(10), &d[0]);
    r.end_entry();
    r.extend(&MrId::Pcr(12), &d[1]);
    r.end_entry();
    r.extend(&MrId::Pcr(11), &d[2]);
    r.end_entry();
    r.extend(&MrId::Pcr(10), &d[3]);
    r.end_entry();
    let out = r.finish().unwrap();
    assert_eq!(out.covered, Some(3));
    assert_eq!(out.left_over(), 1);
    let c = out.coverage.unwrap();
    assert_eq!((c.entries, c.not_covered), (2, 1));
    assert_eq!(
        c.first_not_covered,
        Some(NotCovered {
            entry: 1,
            register: MrId::Pcr(12)
        })
    );
}

/// A register that leaves its verified value in the very entry where another reaches its own
/// does not hold it at that prefix: the two never match at the same time and the replay fails,
/// under either prefix policy.
#[test]
fn a_register_leaving_its_value_in_the_entry_where_another_reaches_its_own_does_not_match() {
    let d: Vec<Digest> = (0..3).map(step).collect();
    for prefix in [PrefixPolicy::ShortestMatching, PrefixPolicy::Exact] {
        let mut r = Replayer::verifying(
            &verified(&[
                (MrId::Pcr(10), fold(&d[..1])),
                (MrId::Pcr(11), fold(&d[1..2])),
            ]),
            ReplayOptions::default().with_prefix(prefix),
        );
        r.extend(&MrId::Pcr(10), &d[0]);
        r.end_entry();
        r.extend(&MrId::Pcr(10), &d[2]);
        r.extend(&MrId::Pcr(11), &d[1]);
        r.end_entry();
        match r.finish() {
            Err(Error::Replay(e)) => assert_eq!(e.entries_replayed, 2, "{prefix:?}"),
            other => panic!("{prefix:?}: expected a replay error, got {other:?}"),
        }
    }
}

/// Under `UnextendedPolicy::Ignore` the registers that are extended still decide the prefix: it
/// ends where PCR 10 reaches its value, not at the start.
#[test]
fn ignoring_unextended_registers_still_matches_the_extended_ones() {
    let d: Vec<Digest> = (0..3).map(step).collect();
    let mut r = Replayer::verifying(
        &verified(&[
            (MrId::Pcr(10), fold(&d[..2])),
            (MrId::Pcr(11), ALG.hash(b"never extended")),
        ]),
        ReplayOptions::default().with_unextended(UnextendedPolicy::Ignore),
    );
    for s in &d {
        r.extend(&MrId::Pcr(10), s);
        r.end_entry();
    }
    let out = r.finish().unwrap();
    assert_eq!(out.covered, Some(2));
    assert_eq!(out.covered_entries(), Some(2));
}

/// The warning line and the JSON of the entries no verified value covers: the count and the first
/// such entry with its register; no line when every entry of the prefix is covered; JSON `null`
/// for a replay without verified values.
#[test]
fn the_not_covered_line_and_json_name_the_count_and_the_first_entry() {
    let d: Vec<Digest> = (0..3).map(step).collect();
    let mut r = Replayer::verifying(
        &verified(&[(MrId::Pcr(10), fold(&[d[1], d[2]]))]),
        ReplayOptions::default(),
    );
    r.extend(&MrId::Pcr(11), &d[0]);
    r.end_entry();
    for s in &d[1..] {
        r.extend(&MrId::Pcr(10), s);
        r.end_entry();
    }
    let out = r.finish().unwrap();
    assert_eq!(
        out.not_covered_line(("entry", "entries")).as_deref(),
        Some("NOT covered: 1 entries extend registers without a verified value (first: entry 0, pcr11)")
    );
    assert_eq!(
        out.not_covered_json(),
        serde_json::json!({"entries": 1, "first": {"entry": 0, "id": "pcr11"}})
    );

    // Every entry covered: no line, a zero count.
    let mut r = Replayer::verifying(
        &verified(&[(MrId::Pcr(10), fold(&d[..1]))]),
        ReplayOptions::default(),
    );
    r.extend(&MrId::Pcr(10), &d[0]);
    r.end_entry();
    let out = r.finish().unwrap();
    assert_eq!(out.not_covered_line(("event", "events")), None);
    assert_eq!(
        out.not_covered_json(),
        serde_json::json!({"entries": 0, "first": null})
    );

    // No verified values: nothing to say.
    let mut r = Replayer::new(ReplayOptions::default());
    r.extend(&MrId::Pcr(11), &d[0]);
    r.end_entry();
    let out = r.finish().unwrap();
    assert_eq!(out.not_covered_line(("entry", "entries")), None);
    assert_eq!(out.not_covered_json(), serde_json::Value::Null);
}
