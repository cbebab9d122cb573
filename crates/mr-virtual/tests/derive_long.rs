//! `derive` on journals of thousands of lines, which it reads in several batches and parses and
//! hashes on a second thread: the same values, counts and errors (which line, why) as the short
//! journals of `derive.rs`, wherever in the journal — first batch, a later one, across a batch
//! boundary — the line is, and whatever the reader's buffer size.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{self, BufRead, BufReader, Read};

use common::*;
use mr_core::replay::PrefixPolicy;
use mr_core::{Digest, HashAlg, MrId};
use mr_virtual::record::{RecordError, MAX_LINE_LEN};
use mr_virtual::verify::{derive, DeriveOptions};
use mr_virtual::Error;

const RTMR3: MrId = MrId::Rtmr(3);

/// Records in the long journal: several batches of the pipeline (4096 lines each).
const N: usize = 10_000;

/// Line numbers (1-based) tried: in the first batch, at both sides of batch boundaries, deep in
/// the journal, the last line.
const AT: [usize; 7] = [1, 700, 4096, 4097, 8193, 9321, N];

/// `N` mr_ima extend lines and their measurements.
fn long_journal() -> (Vec<String>, Vec<[u8; 48]>) {
    let ms: Vec<[u8; 48]> = (0..N as u64).map(measurement).collect();
    let lines = ms.iter().map(|m| extend_line("mr_ima", m)).collect();
    (lines, ms)
}

fn run_with(
    input: impl BufRead,
    rtmr3: &[u8; 48],
    opts: &DeriveOptions,
) -> Result<mr_virtual::Derived, Error> {
    derive(input, &RTMR3, &td_quoted(rtmr3), opts)
}

fn run(journal: &str, rtmr3: &[u8; 48]) -> Result<mr_virtual::Derived, Error> {
    run_with(journal.as_bytes(), rtmr3, &DeriveOptions::default())
}

#[test]
fn a_long_journal_derives_the_fold_of_all_its_extends() {
    let (lines, ms) = long_journal();
    let rtmr3 = fold_lines(&lines);
    let journal = text(&lines);
    // Through the slice and through readers with small and odd buffers (lines split across
    // reads): one result.
    for capacity in [None, Some(7), Some(4096)] {
        let d = match capacity {
            None => run(&journal, &rtmr3),
            Some(c) => run_with(
                BufReader::with_capacity(c, journal.as_bytes()),
                &rtmr3,
                &DeriveOptions::default(),
            ),
        }
        .unwrap();
        assert_eq!((d.records, d.covered, d.left_over), (N as u64, N as u64, 0));
        assert_eq!(d.lines, N as u64);
        assert_eq!(
            d.get("mr_ima", HashAlg::Sha384).unwrap().as_bytes(),
            fold_digests(&ms)
        );
        assert_eq!(d.backing.value.as_bytes(), rtmr3);
        assert_eq!(d.virtuals[0].extends, N as u64);
    }
}

#[test]
fn a_quote_over_a_prefix_covers_exactly_that_prefix_wherever_it_ends() {
    let (lines, ms) = long_journal();
    let journal = text(&lines);
    for k in [0, 1, 4095, 4096, 4097, 6333, N - 1] {
        let d = run(&journal, &fold_lines(&lines[..k])).unwrap();
        assert_eq!(
            (d.covered, d.left_over),
            (k as u64, (N - k) as u64),
            "prefix {k}"
        );
        let got = d.get("mr_ima", HashAlg::Sha384);
        if k == 0 {
            assert_eq!(got, None, "nothing covered, nothing derived");
        } else {
            assert_eq!(
                got.unwrap().as_bytes(),
                fold_digests(&ms[..k]),
                "prefix {k}"
            );
        }
        // The whole journal is required: refused, naming the register.
        let err = run_with(
            journal.as_bytes(),
            &fold_lines(&lines[..k]),
            &DeriveOptions::default().with_prefix(PrefixPolicy::Exact),
        )
        .unwrap_err();
        assert!(matches!(err, Error::NotCovered(_)), "prefix {k}: {err}");
    }
    // A value the journal never reaches.
    let err = run(&journal, &measurement(1)).unwrap_err();
    match err {
        Error::NotCovered(n) => assert_eq!((n.records, n.lines), (N as u64, N as u64)),
        other => panic!("{other}"),
    }
}

#[test]
fn a_malformed_line_anywhere_is_refused_with_its_line_number() {
    let (lines, _) = long_journal();
    for at in [1, 4096, 4097, N] {
        for bad in [
            lines[at - 1].replacen(' ', "  ", 1),
            "x".repeat(MAX_LINE_LEN + 1),
        ] {
            let mut t = lines.clone();
            t[at - 1] = bad;
            // Even when the quote covers only the lines before it.
            let err = run(&text(&t), &fold_lines(&lines[..at - 1])).unwrap_err();
            assert_eq!(err.line(), Some(at as u64), "line {at}: {err}");
            assert!(matches!(err, Error::Record { .. }), "line {at}: {err}");
        }
        // Not UTF-8.
        let mut bytes = text(&lines[..at - 1]).into_bytes();
        bytes.extend_from_slice(b"\xff\xfe\n");
        bytes.extend_from_slice(text(&lines[at..]).as_bytes());
        let err = run_with(&bytes[..], &fold_lines(&lines), &DeriveOptions::default()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Record {
                    reason: RecordError::NotUtf8,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.line(), Some(at as u64));
    }
}

#[test]
fn the_first_error_in_journal_order_is_the_one_reported() {
    let (lines, _) = long_journal();
    // A SYNC record that does not match the replay, and a malformed line: whichever comes first
    // (in the same batch or in different ones) is the error.
    let sync = format!("SYNC sha384/{}", hex::encode(measurement(0)));
    for (sync_at, bad_at) in [(1500, 9000), (9000, 1500), (4096, 4097), (4097, 4096)] {
        let mut t = lines.clone();
        t[sync_at - 1] = sync.clone();
        t[bad_at - 1] = "garbage".into();
        let err = run(&text(&t), &fold_lines(&t)).unwrap_err();
        assert_eq!(err.line(), Some(sync_at.min(bad_at) as u64), "{err}");
        if sync_at < bad_at {
            match err {
                Error::SyncMismatch(s) => {
                    assert_eq!(s.replayed.as_bytes(), fold_lines(&lines[..sync_at - 1]))
                }
                other => panic!("{other}"),
            }
        } else {
            assert!(matches!(err, Error::Record { .. }), "{err}");
        }
    }
}

#[test]
fn sync_records_deep_in_a_long_journal_are_checked() {
    let (lines, ms) = long_journal();
    let mut t = Vec::with_capacity(N + 2);
    for (i, l) in lines.iter().enumerate() {
        if i == 4096 || i == 9000 {
            t.push(format!("SYNC sha384/{}", hex::encode(fold_lines(&t))));
        }
        t.push(l.clone());
    }
    let d = run(&text(&t), &fold_lines(&t)).unwrap();
    assert_eq!(d.records, N as u64 + 2);
    assert_eq!(
        d.get("mr_ima", HashAlg::Sha384).unwrap().as_bytes(),
        fold_digests(&ms)
    );
}

#[test]
fn comments_blank_lines_and_an_incomplete_last_line_in_a_long_journal() {
    let (lines, ms) = long_journal();
    let mut t = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        match i % 500 {
            0 => t.push("# comment".to_owned()),
            250 => t.push(String::new()),
            _ => {}
        }
        t.push(l.clone());
    }
    let records: Vec<&String> = t.iter().filter(|l| l.starts_with("mr_ima")).collect();
    let rtmr3 = fold_lines(&records);
    let mut journal = text(&t);
    journal.push_str(&lines[0][..50]);
    let d = run(&journal, &rtmr3).unwrap();
    assert_eq!(d.records, N as u64);
    assert_eq!(d.lines, t.len() as u64 + 1);
    assert_eq!(d.incomplete_last_line, Some(t.len() as u64 + 1));
    assert_eq!(
        d.get("mr_ima", HashAlg::Sha384).unwrap().as_bytes(),
        fold_digests(&ms)
    );
    let err = run_with(
        journal.as_bytes(),
        &rtmr3,
        &DeriveOptions::default().with_prefix(PrefixPolicy::Exact),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Record {
                reason: RecordError::Incomplete,
                ..
            }
        ),
        "{err}"
    );
}

/// A reader that fails after `ok` bytes.
struct FailAfter<'a> {
    data: &'a [u8],
    ok: usize,
}

impl Read for FailAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ok == 0 {
            return Err(io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.ok).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.ok -= n;
        Ok(n)
    }
}

#[test]
fn a_read_error_deep_in_the_journal_is_an_error_naming_the_line() {
    let (lines, _) = long_journal();
    let journal = text(&lines);
    let line_len = lines[0].len() + 1;
    for at in AT {
        // The error strikes in the middle of line `at`.
        let input = BufReader::with_capacity(
            512,
            FailAfter {
                data: journal.as_bytes(),
                ok: (at - 1) * line_len + 10,
            },
        );
        let err = run_with(input, &fold_lines(&lines), &DeriveOptions::default()).unwrap_err();
        match &err {
            Error::Io { context, .. } => {
                assert!(context.ends_with(&format!("line {at}")), "{context}")
            }
            other => panic!("{other}"),
        }
        // Whatever the quote covers: the journal could not be read.
        let err = run_with(
            BufReader::new(FailAfter {
                data: journal.as_bytes(),
                ok: (at - 1) * line_len + 10,
            }),
            &fold_lines(&lines[..1]),
            &DeriveOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
    }
}

#[test]
fn a_pcr_backing_register_with_two_banks_takes_the_bank_of_the_first_record() {
    // SHA-256 records over PCR 16, quoted in SHA-1 and SHA-256: every line is hashed in SHA-256.
    let ds: Vec<Digest> = (0..N as u32)
        .map(|i| HashAlg::Sha256.hash(&i.to_le_bytes()))
        .collect();
    let lines: Vec<String> = ds
        .iter()
        .map(|d| format!("mr_x extend sha256/{}", hex::encode(d.as_bytes())))
        .collect();
    let pcr16 = lines.iter().fold(Digest::zero(HashAlg::Sha256), |v, l| {
        v.extended(HashAlg::Sha256.hash(l.as_bytes()).as_bytes())
    });
    let v = pcr16_quoted(pcr16);
    let journal = text(&lines);
    let d = derive_pcr16(&journal, &v, &DeriveOptions::default()).unwrap();
    let want = ds.iter().fold(Digest::zero(HashAlg::Sha256), |acc, d| {
        acc.extended(d.as_bytes())
    });
    assert_eq!(d.get("mr_x", HashAlg::Sha256), Some(want));
    assert_eq!(d.covered, N as u64);
    // The SHA-1 bank asked for: its reset value covers none of the records.
    let d = derive_pcr16(
        &journal,
        &v,
        &DeriveOptions::default().with_bank(HashAlg::Sha1),
    )
    .unwrap();
    assert_eq!((d.covered, d.left_over), (0, N as u64));
}
