//! The verifier side: derive virtual registers from a journal and a verified backing register;
//! tampering, journals ahead of the quote, another TD, rotated journals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use mr_core::replay::PrefixPolicy;
use mr_core::ExpectedRegisters;
use mr_core::{
    Digest, ErrorClass, HashAlg, MeasurementRegister, MrId, Provenance, VerifiedRegisters,
};
use mr_virtual::verify::{derive, DeriveOptions, TrustedStart};
use mr_virtual::{Error, VirtualRegister, MR_IMA};

const RTMR3: MrId = MrId::Rtmr(3);

fn td_root() -> Provenance {
    Provenance::TdQuote {
        root: "test root".into(),
    }
}

/// A journal of `n` mr_ima extends written by a real VirtualRegister; returns its text and the
/// measurements.
fn attest(n: u64) -> (String, Vec<[u8; 48]>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let reg = VirtualRegister::open(MR_IMA, SharedRtmr::new(), &path).unwrap();
    let ms: Vec<[u8; 48]> = (0..n).map(measurement).collect();
    for m in &ms {
        reg.extend(&digest(m)).unwrap();
    }
    assert_eq!(
        reg.backing().read().unwrap().as_bytes(),
        fold_lines(&journal_lines(&path))
    );
    (std::fs::read_to_string(&path).unwrap(), ms)
}

fn run(journal: &str, rtmr3: &[u8]) -> Result<mr_virtual::Derived, Error> {
    derive(
        journal.as_bytes(),
        &RTMR3,
        &td_quoted(rtmr3),
        &DeriveOptions::default(),
    )
}

fn lines_of(journal: &str) -> Vec<String> {
    journal.lines().map(str::to_owned).collect()
}

fn mr_ima() -> MrId {
    MrId::Virtual("mr_ima".into())
}

#[test]
fn derives_mr_ima_from_a_journal_that_replays_to_rtmr3() {
    let (journal, ms) = attest(25);
    let d = run(&journal, &fold_lines(&lines_of(&journal))).unwrap();
    assert_eq!(d.records, 25);
    assert_eq!(d.covered, 25);
    assert_eq!(d.left_over, 0);
    assert_eq!(d.lines, 25);
    assert_eq!(d.incomplete_last_line, None);
    assert_eq!(
        d.registers
            .get(&mr_ima(), HashAlg::Sha384)
            .unwrap()
            .as_bytes(),
        fold_digests(&ms)
    );
    assert_eq!(d.registers.len(), 1, "only virtual registers are derived");
    assert_eq!(
        d.registers.provenance(),
        &Provenance::Derived {
            from: Box::new(td_root())
        }
    );
    assert_eq!(d.virtuals.len(), 1);
    assert_eq!(d.virtuals[0].extends, 25);
    assert_eq!(d.backing.id, RTMR3);
    assert_eq!(
        d.get("mr_ima", HashAlg::Sha384).unwrap().as_bytes(),
        fold_digests(&ms)
    );
}

#[test]
fn comments_and_blank_lines_change_nothing() {
    let (journal, ms) = attest(4);
    let rtmr3 = fold_lines(&lines_of(&journal));
    let mut lines = lines_of(&journal);
    lines.insert(2, "# a comment".into());
    lines.insert(0, String::new());
    let d = run(&text(&lines), &rtmr3).unwrap();
    assert_eq!(d.records, 4);
    assert_eq!(d.lines, 6);
    assert_eq!(
        d.get("mr_ima", HashAlg::Sha384).unwrap().as_bytes(),
        fold_digests(&ms)
    );
}

#[test]
fn an_empty_journal_derives_nothing_and_needs_a_reset_register() {
    let d = run("", &[0u8; 48]).unwrap();
    assert_eq!(d.records, 0);
    assert!(d.registers.is_empty());
    let err = run("# nothing yet\n", &measurement(1)).unwrap_err();
    assert!(matches!(err, Error::NotCovered(_)), "{err}");
}

#[test]
fn tampered_journals_are_rejected() {
    let (journal, _) = attest(6);
    let lines = lines_of(&journal);
    let rtmr3 = fold_lines(&lines);

    let mut dropped = lines.clone();
    dropped.remove(2);
    let mut edited = lines.clone();
    edited[3] = extend_line("mr_ima", &measurement(1000));
    let mut reordered = lines.clone();
    reordered.swap(1, 2);
    let mut inserted = lines.clone();
    inserted.insert(3, extend_line("mr_ima", &measurement(1000)));
    let mut renamed = lines.clone();
    renamed[0] = renamed[0].replacen("mr_ima", "mr_imb", 1);
    for (what, tampered) in [
        ("dropped", dropped),
        ("edited", edited),
        ("reordered", reordered),
        ("inserted", inserted),
        ("renamed", renamed),
    ] {
        let err = run(&text(&tampered), &rtmr3).unwrap_err();
        assert_eq!(err.class(), ErrorClass::Rejected, "{what}: {err}");
        match &err {
            Error::NotCovered(n) => {
                assert_eq!(n.register, RTMR3);
                assert_eq!(n.alg, HashAlg::Sha384);
                assert_eq!(n.expected.as_bytes(), rtmr3);
                assert_eq!(n.computed.as_bytes(), fold_lines(&tampered), "{what}");
                assert_eq!(n.records, tampered.len() as u64);
                assert_eq!(n.lines, tampered.len() as u64);
            }
            other => panic!("{what}: {other}"),
        }
    }
}

#[test]
fn malformed_lines_are_rejected_with_their_line_number() {
    let (journal, _) = attest(5);
    let lines = lines_of(&journal);
    let rtmr3 = fold_lines(&lines);
    let bad = [
        lines[2].to_uppercase(),
        lines[2].replacen(' ', "  ", 1),
        format!("{} ", lines[2]),
        lines[2].replacen("sha384", "sha256", 1),
        lines[2][..lines[2].len() - 2].to_owned(),
        lines[2].replacen("extend", "extends", 1),
        "garbage".to_owned(),
        "x".repeat(5000),
    ];
    for b in bad {
        let mut t = lines.clone();
        t[2] = b.clone();
        let err = run(&text(&t), &rtmr3).unwrap_err();
        assert!(
            matches!(err, Error::Record { line: 3, .. }),
            "{b:.40}: {err}"
        );
        assert_eq!(err.class(), ErrorClass::Malformed);
        assert_eq!(err.line(), Some(3));
    }
    let err = run(&format!("{journal}\u{0}\n"), &rtmr3).unwrap_err();
    assert!(matches!(err, Error::Record { line: 6, .. }), "{err}");
    let mut bytes = journal.clone().into_bytes();
    bytes.extend_from_slice(b"\xff\xfe\n");
    let err = derive(
        &bytes[..],
        &RTMR3,
        &td_quoted(&rtmr3),
        &DeriveOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Record { line: 6, .. }), "{err}");
}

#[test]
fn a_journal_ahead_of_the_quote_reports_left_over_records() {
    let (journal, ms) = attest(7);
    let lines = lines_of(&journal);
    for ahead in [1usize, 2] {
        let quoted_at = fold_lines(&lines[..lines.len() - ahead]);
        let d = run(&journal, &quoted_at).unwrap();
        assert_eq!(d.records, 7);
        assert_eq!(d.covered, 7 - ahead as u64);
        assert_eq!(d.left_over, ahead as u64);
        // Records not covered by the quote do not count.
        assert_eq!(
            d.get("mr_ima", HashAlg::Sha384).unwrap().as_bytes(),
            fold_digests(&ms[..7 - ahead])
        );
        assert_eq!(d.virtuals[0].extends, 7 - ahead as u64);
        let exact = derive(
            journal.as_bytes(),
            &RTMR3,
            &td_quoted(&quoted_at),
            &DeriveOptions::default().with_prefix(PrefixPolicy::Exact),
        )
        .unwrap_err();
        assert!(matches!(exact, Error::NotCovered(_)), "{exact}");
    }
    // A record appended at the end by someone else is only ever "left over".
    let mut extra = lines.clone();
    extra.push(extend_line("mr_ima", &measurement(666)));
    let d = run(&text(&extra), &fold_lines(&lines)).unwrap();
    assert_eq!(d.left_over, 1);
    assert_eq!(
        d.get("mr_ima", HashAlg::Sha384).unwrap().as_bytes(),
        fold_digests(&ms)
    );
}

#[test]
fn a_register_only_in_left_over_records_is_not_derived() {
    let (journal, _) = attest(2);
    let rtmr3 = fold_lines(&lines_of(&journal));
    let with_new = format!("{journal}{}\n", extend_line("mr_new", &measurement(5)));
    let d = run(&with_new, &rtmr3).unwrap();
    assert_eq!(d.left_over, 1);
    assert!(d.get("mr_new", HashAlg::Sha384).is_none());
    assert_eq!(d.registers.len(), 1);
}

#[test]
fn an_incomplete_last_line_is_not_a_record() {
    let (journal, ms) = attest(3);
    let rtmr3 = fold_lines(&lines_of(&journal));
    let torn = format!("{journal}mr_ima extend sha384/abc");
    let d = run(&torn, &rtmr3).unwrap();
    assert_eq!(d.records, 3);
    assert_eq!(d.incomplete_last_line, Some(4));
    assert_eq!(
        d.get("mr_ima", HashAlg::Sha384).unwrap().as_bytes(),
        fold_digests(&ms)
    );
    let err = derive(
        torn.as_bytes(),
        &RTMR3,
        &td_quoted(&rtmr3),
        &DeriveOptions::default().with_prefix(PrefixPolicy::Exact),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Record { line: 4, .. }), "{err}");
}

#[test]
fn a_journal_from_another_td_is_rejected() {
    let (ours, _) = attest(4);
    let theirs: Vec<String> = (100..104)
        .map(|i| extend_line("mr_ima", &measurement(i)))
        .collect();
    let err = run(&text(&theirs), &fold_lines(&lines_of(&ours))).unwrap_err();
    match err {
        Error::NotCovered(n) => assert_eq!(n.computed.as_bytes(), fold_lines(&theirs)),
        other => panic!("{other}"),
    }
}

#[test]
fn the_backing_register_must_be_verified() {
    let (journal, _) = attest(1);
    let mut rtmr2 = ExpectedRegisters::new();
    rtmr2
        .insert(MrId::Rtmr(2), HashAlg::Sha384.hash(b"x"))
        .unwrap();
    let v = VerifiedRegisters::from_verified_root(td_root(), rtmr2);
    let err = derive(journal.as_bytes(), &RTMR3, &v, &DeriveOptions::default()).unwrap_err();
    assert!(matches!(err, Error::BackingNotVerified { .. }), "{err}");
}

#[test]
fn a_pcr_backing_register_picks_its_bank_from_the_journal() {
    // A TPM quote over PCR 16 in SHA-1 and SHA-256; the journal is SHA-256 (a TpmPcr backing).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let pcr = mr_core::SoftRegister::new(MrId::Pcr(16), HashAlg::Sha256);
    let reg = VirtualRegister::open(MR_IMA, pcr, &path).unwrap();
    let ds: Vec<Digest> = (0..3u8).map(|i| HashAlg::Sha256.hash(&[i])).collect();
    for d in &ds {
        reg.extend(d).unwrap();
    }
    let v = pcr16_quoted(reg.backing().read().unwrap());
    let journal = std::fs::read_to_string(&path).unwrap();
    let d = derive_pcr16(&journal, &v, &DeriveOptions::default()).unwrap();
    let want = ds.iter().fold(Digest::zero(HashAlg::Sha256), |acc, d| {
        acc.extended(d.as_bytes())
    });
    assert_eq!(d.get("mr_ima", HashAlg::Sha256), Some(want));
    assert_eq!(d.registers.get(&mr_ima(), HashAlg::Sha256), Some(&want));
    // The SHA-1 bank was never extended: a quote of its reset value covers none of the
    // records (all are left over) and derives nothing.
    let d = derive_pcr16(
        &journal,
        &v,
        &DeriveOptions::default().with_bank(HashAlg::Sha1),
    )
    .unwrap();
    assert_eq!((d.covered, d.left_over), (0, 3));
    assert!(d.registers.is_empty());
    let mut other = ExpectedRegisters::new();
    other
        .insert(MrId::Pcr(16), HashAlg::Sha1.hash(b"other"))
        .unwrap();
    let v1 = VerifiedRegisters::from_verified_root(v.provenance().clone(), other);
    let err = derive_pcr16(&journal, &v1, &DeriveOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NotCovered(_)), "{err}");
}

/// A journal with a SYNC record in the middle; returns (journal lines, index of the SYNC line,
/// all measurements).
fn attest_with_sync() -> (Vec<String>, usize, Vec<[u8; 48]>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let reg = VirtualRegister::open(MR_IMA, SharedRtmr::new(), &path).unwrap();
    let ms: Vec<[u8; 48]> = (0..8).map(measurement).collect();
    for m in &ms[..5] {
        reg.extend(&digest(m)).unwrap();
    }
    reg.write_sync().unwrap();
    for m in &ms[5..] {
        reg.extend(&digest(m)).unwrap();
    }
    (journal_lines(&path), 5, ms)
}

#[test]
fn sync_records_are_checked_on_the_way() {
    let (lines, at, ms) = attest_with_sync();
    let rtmr3 = fold_lines(&lines);
    let d = run(&text(&lines), &rtmr3).unwrap();
    assert_eq!(d.records, 9);
    assert_eq!(
        d.get("mr_ima", HashAlg::Sha384).unwrap().as_bytes(),
        fold_digests(&ms)
    );
    let mut bad = lines.clone();
    bad[at] = format!("SYNC sha384/{}", hex::encode(measurement(0)));
    match run(&text(&bad), &fold_lines(&bad)).unwrap_err() {
        Error::SyncMismatch(s) => {
            assert_eq!(s.line, at as u64 + 1);
            assert_eq!(s.replayed.as_bytes(), fold_lines(&lines[..at]));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_rotated_journal_needs_a_matching_trusted_start() {
    let (lines, at, ms) = attest_with_sync();
    let rtmr3 = fold_lines(&lines);
    // An earlier verification, when the quote covered the records before the SYNC line.
    let earlier = run(&text(&lines[..at + 1]), &fold_lines(&lines[..at])).unwrap();
    assert_eq!(earlier.covered, at as u64);
    assert_eq!(earlier.left_over, 1);
    let checkpoint = earlier.checkpoint();
    assert_eq!(checkpoint.records, at as u64);
    assert_eq!(checkpoint.backing.as_bytes(), fold_lines(&lines[..at]));

    // The head up to the SYNC line is rotated away.
    let rotated = text(&lines[at..]);
    let err = run(&rotated, &rtmr3).unwrap_err();
    assert!(
        matches!(err, Error::RotatedWithoutTrustedStart { line: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("without a trusted start"), "{err}");

    let opts = DeriveOptions::default().with_trusted_start(checkpoint.clone());
    let d = derive(rotated.as_bytes(), &RTMR3, &td_quoted(&rtmr3), &opts).unwrap();
    assert_eq!(d.records, 4);
    assert_eq!(d.covered, 4);
    assert_eq!(
        d.get("mr_ima", HashAlg::Sha384).unwrap().as_bytes(),
        fold_digests(&ms)
    );
    assert_eq!(d.virtuals[0].extends, 3);
    assert_eq!(d.checkpoint().records, at as u64 + 4);

    // A trusted start at another value is refused.
    let wrong = TrustedStart {
        backing: digest(&fold_lines(&lines[..at - 1])),
        ..checkpoint.clone()
    };
    let opts = DeriveOptions::default().with_trusted_start(wrong);
    let err = derive(rotated.as_bytes(), &RTMR3, &td_quoted(&rtmr3), &opts).unwrap_err();
    assert!(matches!(err, Error::TrustedStartMismatch(_)), "{err}");

    // A trusted start does not make a tampered rotated journal verify.
    let mut tampered = lines[at..].to_vec();
    tampered[2] = extend_line("mr_ima", &measurement(1000));
    let opts = DeriveOptions::default().with_trusted_start(checkpoint.clone());
    let err = derive(
        text(&tampered).as_bytes(),
        &RTMR3,
        &td_quoted(&rtmr3),
        &opts,
    )
    .unwrap_err();
    assert!(matches!(err, Error::NotCovered(_)), "{err}");

    // A journal that is not rotated ignores the trusted start and replays from reset.
    let d = derive(text(&lines).as_bytes(), &RTMR3, &td_quoted(&rtmr3), &opts).unwrap();
    assert_eq!(d.start, None);
    assert_eq!(d.records, 9);
}

#[test]
fn derived_values_feed_the_ima_replay_target() {
    // The derived set is the `VerifiedRegisters` an IMA replay with target mr_ima consumes.
    let (journal, ms) = attest(3);
    let d = run(&journal, &fold_lines(&lines_of(&journal))).unwrap();
    let v = d.registers.get(&mr_ima(), HashAlg::Sha384).unwrap();
    assert_eq!(v.as_bytes(), fold_digests(&ms));
    assert!(matches!(
        d.registers.provenance(),
        Provenance::Derived { from } if **from == td_root()
    ));
}

#[test]
fn a_sync_head_at_the_reset_value_needs_no_trusted_start() {
    let (journal, ms) = attest(3);
    let head = format!("SYNC sha384/{}\n", "00".repeat(48));
    let with_head = format!("{head}{journal}");
    let lines = lines_of(&with_head);
    let d = run(&with_head, &fold_lines(&lines)).unwrap();
    assert_eq!(d.records, 4);
    assert_eq!(d.start, None);
    assert_eq!(
        d.get("mr_ima", HashAlg::Sha384).unwrap().as_bytes(),
        fold_digests(&ms)
    );
}

#[test]
fn a_sync_record_of_another_bank_is_refused_with_its_line() {
    let (journal, _) = attest(2);
    let bad = format!("{journal}SYNC sha256/{}\n", "00".repeat(32));
    let err = run(&bad, &fold_lines(&lines_of(&journal))).unwrap_err();
    assert!(matches!(err, Error::Journal { line: 3, .. }), "{err}");
    assert!(err.to_string().contains("sha256"), "{err}");
}

/// `derive_and_use` (the speculative two-thread form) always gives what `derive` then `use`
/// gives: clean, ahead of the quote, tampered and rotated journals, and `use_values` runs on the
/// claimed values only when they turn out to be the verified ones.
#[test]
fn derive_and_use_is_derive_then_use() {
    use mr_virtual::verify::derive_and_use;
    use std::sync::Mutex;

    let (journal, _) = attest(9);
    let lines = lines_of(&journal);
    let mut dropped = lines.clone();
    dropped.remove(4);
    let mut ahead = lines.clone();
    ahead.push(extend_line("mr_ima", &measurement(77)));
    let cases = [
        ("clean", text(&lines)),
        ("ahead of the quote", text(&ahead)),
        ("dropped record", text(&dropped)),
        ("comments", format!("# head\n{}\n", text(&lines))),
    ];
    let rtmr3 = fold_lines(&lines);
    for (what, j) in &cases {
        let seen = Mutex::new(Vec::new());
        let one = run(j, &rtmr3);
        let two = derive_and_use(
            j.as_bytes(),
            &RTMR3,
            &td_quoted(&rtmr3),
            &DeriveOptions::default(),
            |v: &VerifiedRegisters| {
                let value = v.get(&mr_ima(), HashAlg::Sha384).copied();
                seen.lock().unwrap().push(value);
                value
            },
        );
        match (one, two) {
            (Ok(d1), Ok((d2, used))) => {
                assert_eq!(d1, d2, "{what}");
                // The result is the use of the verified values.
                assert_eq!(used, d1.get("mr_ima", HashAlg::Sha384), "{what}");
                let calls = seen.lock().unwrap().len();
                let expected_calls = if d1.left_over == 0 { 1 } else { 2 };
                assert_eq!(calls, expected_calls, "{what}");
            }
            (Err(e1), Err(e2)) => assert_eq!(e1.to_string(), e2.to_string(), "{what}"),
            (a, b) => panic!("{what}: derive {a:?}, derive_and_use {:?}", b.map(|x| x.0)),
        }
    }
}

#[test]
fn a_journal_naming_too_many_virtual_registers_is_refused_at_the_line_past_the_limit() {
    let max = mr_virtual::verify::MAX_VIRTUAL_REGISTERS;
    let lines: Vec<String> = (0..=max as u64)
        .map(|i| extend_line(&format!("r{i}"), &measurement(i)))
        .collect();
    // At the limit: derived.
    let d = run(&text(&lines[..max]), &fold_lines(&lines[..max])).unwrap();
    assert_eq!(d.virtuals.len(), max);
    // One more: refused, naming the line.
    let err = run(&text(&lines), &fold_lines(&lines)).unwrap_err();
    assert!(
        matches!(err, Error::TooManyRegisters { line, max: m } if line == max as u64 + 1 && m == max),
        "{err}"
    );
}

#[test]
fn a_trusted_start_keeps_every_bank_of_a_register() {
    let (lines, at, ms) = attest_with_sync();
    let rtmr3 = fold_lines(&lines);
    let earlier = run(&text(&lines[..at + 1]), &fold_lines(&lines[..at])).unwrap();
    let mut start = earlier.checkpoint();
    // The same register in a second bank, which the rotated journal no longer extends.
    let sha256 = HashAlg::Sha256.hash(b"mr_ima in another bank");
    start.registers.push(mr_core::RegisterValue {
        id: mr_ima(),
        value: sha256,
    });
    let opts = DeriveOptions::default().with_trusted_start(start);
    let d = derive(
        text(&lines[at..]).as_bytes(),
        &RTMR3,
        &td_quoted(&rtmr3),
        &opts,
    )
    .unwrap();
    assert_eq!(
        d.get("mr_ima", HashAlg::Sha384).unwrap().as_bytes(),
        fold_digests(&ms)
    );
    assert_eq!(d.get("mr_ima", HashAlg::Sha256), Some(sha256));
    assert_eq!(d.virtuals.len(), 2);
}
