//! `derive` on journals of several batches (the pipeline reads at most 4096 lines a batch and
//! parses and hashes them on a second thread, at most three batches in flight), kept fast by
//! padding a few dozen records with comment and blank lines: every record is folded once, in
//! journal order, whichever batch it is in; the first error in journal order is the one reported;
//! and memory does not grow with the journal. (`derive_long.rs` checks the same on 10 000
//! records; it is slow in debug builds.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use mr_core::replay::PrefixPolicy;
use mr_core::{Digest, ExpectedRegisters, HashAlg, MrId, Provenance, VerifiedRegisters};
use mr_test_alloc::measure;
use mr_virtual::record::{RecordError, MAX_LINE_LEN};
use mr_virtual::verify::{derive, DeriveOptions};
use mr_virtual::Error;

#[global_allocator]
static ALLOC: mr_test_alloc::CountingAlloc = mr_test_alloc::CountingAlloc;

const RTMR3: MrId = MrId::Rtmr(3);

/// Lines in a padded journal: five batches of 4096 lines and part of a sixth.
const LINES: usize = 5 * 4096 + 700;

/// Line numbers (1-based) of the records: the first line, both sides of every batch boundary,
/// mid-batch, and the last line.
const RECORDS_AT: [usize; 14] = [
    1, 2, 2000, 4096, 4097, 8192, 8193, 10_000, 12_288, 12_289, 16_384, 16_385, 20_000, LINES,
];

fn quoted(rtmr3: &[u8; 48]) -> VerifiedRegisters {
    let mut v = ExpectedRegisters::new();
    v.insert(RTMR3, Digest::new(HashAlg::Sha384, rtmr3).unwrap())
        .unwrap();
    VerifiedRegisters::from_verified_root(
        Provenance::TdQuote {
            root: "test root".into(),
        },
        v,
    )
}

fn run(lines: &[String], rtmr3: &[u8; 48]) -> Result<mr_virtual::Derived, Error> {
    derive(
        text(lines).as_bytes(),
        &RTMR3,
        &quoted(rtmr3),
        &DeriveOptions::default(),
    )
}

fn text(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// A journal of `LINES` lines with an mr_ima record (measurement `i` for the i-th) at each of
/// `RECORDS_AT`, comment and blank lines elsewhere; returns the lines and the measurements.
fn padded() -> (Vec<String>, Vec<[u8; 48]>) {
    let ms: Vec<[u8; 48]> = (0..RECORDS_AT.len() as u64).map(measurement).collect();
    let mut lines: Vec<String> = (1..=LINES)
        .map(|n| {
            if n % 2 == 0 {
                format!("# padding {n}")
            } else {
                String::new()
            }
        })
        .collect();
    for (at, m) in RECORDS_AT.iter().zip(&ms) {
        lines[at - 1] = extend_line("mr_ima", m);
    }
    (lines, ms)
}

/// The record lines of `lines`, in order.
fn records(lines: &[String]) -> Vec<&String> {
    lines.iter().filter(|l| l.starts_with("mr_ima")).collect()
}

#[test]
fn records_in_every_batch_are_folded_once_in_journal_order() {
    let (lines, ms) = padded();
    let rtmr3 = fold_lines(&records(&lines));
    let d = run(&lines, &rtmr3).unwrap();
    let n = RECORDS_AT.len() as u64;
    assert_eq!((d.records, d.covered, d.left_over), (n, n, 0));
    assert_eq!(d.lines, LINES as u64);
    assert_eq!(d.virtuals[0].extends, n);
    assert_eq!(
        d.get("mr_ima", HashAlg::Sha384).unwrap().as_bytes(),
        fold_digests(&ms)
    );

    // Two records swapped across a batch boundary: the journal no longer replays to RTMR3.
    let mut swapped = lines.clone();
    swapped.swap(4096 - 1, 8193 - 1);
    match run(&swapped, &rtmr3).unwrap_err() {
        Error::NotCovered(e) => {
            assert_eq!(e.computed.as_bytes(), fold_lines(&records(&swapped)));
            assert_eq!((e.records, e.lines), (n, LINES as u64));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_quote_over_a_prefix_ending_in_any_batch_covers_exactly_that_prefix() {
    let (lines, ms) = padded();
    let recs = records(&lines);
    for k in [1, 3, 4, 5, 8, 11, 12, 13] {
        let d = run(&lines, &fold_lines(&recs[..k])).unwrap();
        assert_eq!(
            (d.covered, d.left_over),
            (k as u64, (recs.len() - k) as u64)
        );
        assert_eq!(
            d.get("mr_ima", HashAlg::Sha384).unwrap().as_bytes(),
            fold_digests(&ms[..k]),
            "prefix of {k} records"
        );
        let err = derive(
            text(&lines).as_bytes(),
            &RTMR3,
            &quoted(&fold_lines(&recs[..k])),
            &DeriveOptions::default().with_prefix(PrefixPolicy::Exact),
        )
        .unwrap_err();
        assert!(matches!(err, Error::NotCovered(_)), "{err}");
    }
}

#[test]
fn sync_records_in_later_batches_are_checked_against_the_replay() {
    let (mut lines, ms) = padded();
    // A SYNC record in the fourth batch, with the value replayed up to it.
    let at = 12_500;
    lines[at - 1] = format!(
        "SYNC sha384/{}",
        hex::encode(fold_lines(&records(&lines[..at])))
    );
    let rtmr3 = fold_lines(&records_and_syncs(&lines));
    let d = run(&lines, &rtmr3).unwrap();
    assert_eq!(d.records, RECORDS_AT.len() as u64 + 1);
    assert_eq!(
        d.get("mr_ima", HashAlg::Sha384).unwrap().as_bytes(),
        fold_digests(&ms)
    );
    // Another value: refused at its line, naming what was replayed there.
    let mut bad = lines.clone();
    bad[at - 1] = format!("SYNC sha384/{}", hex::encode(measurement(99)));
    match run(&bad, &fold_lines(&records_and_syncs(&bad))).unwrap_err() {
        Error::SyncMismatch(s) => {
            assert_eq!(s.line, at as u64);
            assert_eq!(s.replayed.as_bytes(), fold_lines(&records(&lines[..at])));
        }
        other => panic!("{other}"),
    }
}

/// The record and SYNC lines of `lines`, in order.
fn records_and_syncs(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|l| l.starts_with("mr_ima") || l.starts_with("SYNC"))
        .collect()
}

#[test]
fn the_first_error_in_journal_order_is_reported_whichever_batch_holds_it() {
    let (lines, _) = padded();
    let rtmr3 = fold_lines(&records(&lines));
    let sync = format!("SYNC sha384/{}", hex::encode(measurement(99)));
    // A SYNC record that does not match and a malformed line, in different batches (both
    // orders), in the last batch, and at the last line.
    for (sync_at, bad_at) in [(5000, 13_000), (13_000, 5000), (17_000, 20_500), (3, LINES)] {
        let mut t = lines.clone();
        t[sync_at - 1] = sync.clone();
        t[bad_at - 1] = "mr_ima extend sha384/00".into();
        let err = run(&t, &rtmr3).unwrap_err();
        assert_eq!(err.line(), Some(sync_at.min(bad_at) as u64), "{err}");
        if sync_at < bad_at {
            assert!(matches!(err, Error::SyncMismatch(_)), "{err}");
        } else {
            assert!(matches!(err, Error::Record { .. }), "{err}");
        }
    }
    // A line too long in the fifth batch: refused there, even though every record before it
    // replays to the quoted value.
    let mut t = lines.clone();
    t[16_390 - 1] = format!("#{}", "x".repeat(MAX_LINE_LEN));
    let err = run(&t, &fold_lines(&records(&lines[..16_389]))).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Record {
                line: 16_390,
                reason: RecordError::TooLong { .. }
            }
        ),
        "{err}"
    );
}

#[test]
fn an_incomplete_last_line_after_several_batches_is_not_a_record() {
    let (lines, ms) = padded();
    let rtmr3 = fold_lines(&records(&lines));
    let torn = format!("{}mr_ima extend sha384/ab", text(&lines));
    let d = derive(
        torn.as_bytes(),
        &RTMR3,
        &quoted(&rtmr3),
        &DeriveOptions::default(),
    )
    .unwrap();
    assert_eq!(d.records, RECORDS_AT.len() as u64);
    assert_eq!(d.incomplete_last_line, Some(LINES as u64 + 1));
    assert_eq!(d.lines, LINES as u64 + 1);
    assert_eq!(
        d.get("mr_ima", HashAlg::Sha384).unwrap().as_bytes(),
        fold_digests(&ms)
    );
}

/// Most bytes one allocation of `derive` may take, whatever the journal's length: a batch holds
/// at most 4096 lines and about 512 KiB of line bytes.
const ALLOCATION_CAP: usize = 1 << 20;

/// Most bytes `derive` may hold at once, whatever the journal's length: the batches in flight
/// (three, and one read ahead) and the fold's state.
const LIVE_CAP: usize = 4 << 20;

#[test]
fn memory_does_not_grow_with_the_journal() {
    let record = extend_line("mr_ima", &measurement(0));
    let rtmr3 = fold_lines(&[&record]);
    let comment = format!("#{}", "c".repeat(MAX_LINE_LEN - 1));
    for (what, pad, sizes) in [
        // Lines that hold no bytes: a batch is closed by its line count.
        ("blank lines", String::new(), [20_000usize, 200_000]),
        // Lines of the longest length: a batch is closed by its bytes (12 MiB of them).
        ("long comment lines", comment, [300, 3000]),
    ] {
        for lines in sizes {
            let mut journal = format!("{record}\n");
            for _ in 0..lines {
                journal.push_str(&pad);
                journal.push('\n');
            }
            let (d, stats) = measure(|| {
                derive(
                    journal.as_bytes(),
                    &RTMR3,
                    &quoted(&rtmr3),
                    &DeriveOptions::default(),
                )
            });
            let d = d.unwrap();
            assert_eq!(d.lines, lines as u64 + 1, "{what}");
            assert_eq!(d.covered, 1, "{what}");
            assert!(
                stats.largest <= ALLOCATION_CAP,
                "{what}: {lines} lines ({} bytes) made an allocation of {} bytes",
                journal.len(),
                stats.largest
            );
            assert!(
                stats.peak_live <= LIVE_CAP,
                "{what}: {lines} lines ({} bytes) held {} bytes at once",
                journal.len(),
                stats.peak_live
            );
        }
    }
}
