//! `replay_split_banks` (banks on two threads) gives exactly what `replay` gives on one: the same
//! report for lists that verify, and the same error for every list that does not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::log::ima::sample::write_sample_list;
use mr_core::log::ima::{self, DigestMode, ImaReplayConfig, ListKind};
use mr_core::replay::{PrefixPolicy, ReplayOptions};
use mr_core::{Digest, HashAlg, MrId, RegisterValue, VerifiedRegisters};

const BANKS: [HashAlg; 3] = [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384];

fn list(kind: ListKind, entries: u64, seed: u64) -> (Vec<u8>, Vec<RegisterValue>) {
    let mut out = Vec::new();
    let s = write_sample_list(&mut out, kind, entries, &BANKS, seed).unwrap();
    (out, s.expected)
}

fn expected(values: &[RegisterValue], banks: &[HashAlg]) -> VerifiedRegisters {
    VerifiedRegisters::asserted(
        values
            .iter()
            .filter(|v| banks.contains(&v.value.alg()))
            .cloned(),
    )
    .unwrap()
}

/// Both replays of `bytes`, compared: equal reports, or errors with the same text.
fn same(bytes: &[u8], cfg: &ImaReplayConfig, exp: Option<&VerifiedRegisters>, what: &str) -> bool {
    let one = ima::replay(bytes, cfg, exp);
    let two = ima::replay_split_banks(|| Ok::<_, std::io::Error>(bytes), cfg, exp);
    match (&one, &two) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{what}"),
        _ => panic!("{what}: one thread {one:?}, two threads {two:?}"),
    }
    one.is_ok()
}

#[test]
fn verifying_lists_give_the_same_report_on_two_threads() {
    for kind in [ListKind::Binary, ListKind::Ascii] {
        let (bytes, values) = list(kind, 400, 3);
        let cfg = ImaReplayConfig::default();
        for banks in [&BANKS[..2], &BANKS[..], &BANKS[1..], &BANKS[..1]] {
            let exp = expected(&values, banks);
            assert!(same(&bytes, &cfg, Some(&exp), "verifying"));
            assert!(same(
                &bytes,
                &cfg.clone().with_banks(banks.to_vec()),
                None,
                "computing"
            ));
        }
    }
}

#[test]
fn a_list_ahead_of_its_values_reports_the_same_covered_prefix() {
    let (head, values) = list(ListKind::Binary, 300, 5);
    let (longer, _) = list(ListKind::Binary, 310, 5);
    assert!(longer.starts_with(&head));
    let exp = expected(&values, &BANKS[..2]);
    let report = ima::replay_split_banks(
        || Ok::<_, std::io::Error>(&longer[..]),
        &ImaReplayConfig::default(),
        Some(&exp),
    )
    .unwrap();
    assert_eq!(report.outcome.covered, Some(300));
    assert_eq!(report.entries, 310);
    assert!(same(
        &longer,
        &ImaReplayConfig::default(),
        Some(&exp),
        "ahead"
    ));
    let exact = ImaReplayConfig::default()
        .with_replay(ReplayOptions::default().with_prefix(PrefixPolicy::Exact));
    assert!(!same(&longer, &exact, Some(&exp), "exact"));
}

#[test]
fn rejected_lists_give_the_same_error_on_two_threads() {
    let (bytes, values) = list(ListKind::Binary, 200, 9);
    let exp = expected(&values, &BANKS[..2]);
    let cfg = ImaReplayConfig::default();
    // Every byte of one entry in the middle flipped in turn: header digest, data, lengths.
    let start = bytes.len() / 2;
    for i in start..start + 120 {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        same(&bad, &cfg, Some(&exp), &format!("byte {i}"));
    }
    // A wrong value in the second half's bank only, and in the first half's only.
    for alg in [HashAlg::Sha256, HashAlg::Sha1] {
        let mut wrong = exp.clone();
        let mut v = VerifiedRegisters::new(wrong.provenance().clone());
        for (id, d) in wrong.iter() {
            let d = if d.alg() == alg {
                Digest::ones(alg)
            } else {
                *d
            };
            v.insert(id.clone(), d).unwrap();
        }
        wrong = v;
        assert!(!same(&bytes, &cfg, Some(&wrong), "wrong value"));
    }
    // Padded and auto modes take the one-thread path and still agree.
    for mode in [DigestMode::PaddedSha1, DigestMode::Auto] {
        same(
            &bytes,
            &cfg.clone().with_digest_mode(mode),
            Some(&exp),
            "mode",
        );
    }
    // A target register (mr_ima) and a list that cannot be opened.
    let target = cfg.clone().with_target(MrId::Virtual("mr_ima".into()));
    same(&bytes, &target, None, "target");
    let err = ima::replay_split_banks(
        || Err::<&[u8], _>(std::io::Error::other("gone")),
        &cfg,
        Some(&exp),
    )
    .unwrap_err();
    assert!(err.to_string().contains("gone"), "{err}");
}
