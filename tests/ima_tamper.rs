//! Tampering with a measurement list is caught: a property test over many random mutations of a
//! generated binary list. Every mutation must make the replay against the quoted values fail.
//!
//! What cannot be caught, stated and checked here so it stays explicit:
//! - the template data of a violation entry (e.g. its file name): the kernel extends 0xFF for a
//!   violation, not the digest of its data, and records an all-zero template digest, so no value
//!   depends on those bytes;
//! - reordering two violation entries (each extends the same 0xFF value);
//! - entries appended after the quote (the list legitimately runs ahead of the quote: they are
//!   reported as left over, not verified); duplicating the last entry looks exactly like that.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr::core::ExpectedRegisters;
use proptest::prelude::*;

use mr::core::log::ima::sample::write_sample_list;
use mr::core::log::ima::{replay, ImaReader, ImaReaderOptions, ImaReplayConfig, ListKind};
use mr::core::{Error, HashAlg};

const ENTRIES: u64 = 1200;

/// One entry's byte ranges in the binary list.
#[derive(Clone, Debug)]
struct Span {
    start: usize,
    end: usize,
    /// Offset of the template data (after its u32 length).
    data: usize,
    violation: bool,
}

struct Fixture {
    list: Vec<u8>,
    spans: Vec<Span>,
    expected: ExpectedRegisters,
}

fn fixture() -> &'static Fixture {
    static F: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let mut list = Vec::new();
        let s = write_sample_list(
            &mut list,
            ListKind::Binary,
            ENTRIES,
            &[HashAlg::Sha1, HashAlg::Sha256],
            42,
        )
        .unwrap();
        let mut starts = Vec::new();
        let mut r = ImaReader::new(&list[..], ImaReaderOptions::default());
        while let Some(e) = r.next_entry().unwrap() {
            let name_len = e.template_name().len();
            starts.push((
                e.offset() as usize,
                4 + 20 + 4 + name_len + 4,
                e.is_violation(),
            ));
        }
        let mut spans = Vec::new();
        for (i, (start, data_off, violation)) in starts.iter().enumerate() {
            let end = starts.get(i + 1).map_or(list.len(), |n| n.0);
            spans.push(Span {
                start: *start,
                end,
                data: start + data_off,
                violation: *violation,
            });
        }
        assert_eq!(spans.len() as u64, ENTRIES);
        assert!(spans.iter().filter(|s| s.violation).count() >= 2);
        Fixture {
            list,
            spans,
            expected: ExpectedRegisters::from_values(s.expected).unwrap(),
        }
    })
}

fn verify(list: &[u8]) -> Result<(), Error> {
    replay(list, &ImaReplayConfig::default(), &fixture().expected).map(|_| ())
}

fn entry(f: &Fixture, i: usize) -> &[u8] {
    &f.list[f.spans[i].start..f.spans[i].end]
}

fn splice(f: &Fixture, order: &[usize]) -> Vec<u8> {
    order.iter().flat_map(|&i| entry(f, i).to_vec()).collect()
}

#[derive(Clone, Debug)]
enum Mutation {
    FlipTemplateData { entry: usize, at: usize, bit: u8 },
    FlipHeaderDigest { entry: usize, at: usize, bit: u8 },
    Drop { entry: usize },
    Duplicate { entry: usize },
    Swap { a: usize, b: usize },
    ChangePcr { entry: usize, pcr: u32 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let n = ENTRIES as usize;
    prop_oneof![
        (0..n, any::<usize>(), 0u8..8).prop_map(|(entry, at, bit)| Mutation::FlipTemplateData {
            entry,
            at,
            bit
        }),
        (0..n, 0usize..20, 0u8..8).prop_map(|(entry, at, bit)| Mutation::FlipHeaderDigest {
            entry,
            at,
            bit
        }),
        (0..n).prop_map(|entry| Mutation::Drop { entry }),
        (0..n).prop_map(|entry| Mutation::Duplicate { entry }),
        (0..n, 0..n).prop_map(|(a, b)| Mutation::Swap { a, b }),
        (0..n, 0u32..24).prop_map(|(entry, pcr)| Mutation::ChangePcr { entry, pcr }),
    ]
}

/// Applies `m`; `None` when it would not change the list (or is one of the documented
/// undetectable cases, which the dedicated tests below cover).
fn apply(f: &Fixture, m: &Mutation) -> Option<Vec<u8>> {
    let n = f.spans.len();
    let mut out = f.list.clone();
    match *m {
        Mutation::FlipTemplateData { entry, at, bit } => {
            let s = &f.spans[entry];
            if s.violation {
                return None;
            }
            let pos = s.data + at % (s.end - s.data);
            out[pos] ^= 1 << bit;
        }
        Mutation::FlipHeaderDigest { entry, at, bit } => {
            out[f.spans[entry].start + 4 + at] ^= 1 << bit;
        }
        Mutation::Drop { entry } => {
            let order: Vec<usize> = (0..n).filter(|&i| i != entry).collect();
            out = splice(f, &order);
        }
        Mutation::Duplicate { entry } => {
            let mut order: Vec<usize> = (0..n).collect();
            order.insert(entry, entry);
            out = splice(f, &order);
        }
        Mutation::Swap { a, b } => {
            if entry(f, a) == entry(f, b) || (f.spans[a].violation && f.spans[b].violation) {
                return None;
            }
            let mut order: Vec<usize> = (0..n).collect();
            order.swap(a, b);
            out = splice(f, &order);
        }
        Mutation::ChangePcr { entry, pcr } => {
            if pcr == 10 {
                return None;
            }
            let s = f.spans[entry].start;
            out[s..s + 4].copy_from_slice(&pcr.to_le_bytes());
        }
    }
    Some(out)
}

#[test]
fn untouched_list_verifies() {
    verify(&fixture().list).unwrap();
}

#[test]
fn duplicating_an_inner_entry_is_rejected() {
    let f = fixture();
    let mut order: Vec<usize> = (0..f.spans.len()).collect();
    order.insert(100, 100);
    assert!(verify(&splice(f, &order)).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn every_mutation_is_rejected(m in mutation()) {
        let f = fixture();
        if let Some(list) = apply(f, &m) {
            // Either the list is rejected, or what the quote covers is exactly the original
            // list and the rest is reported as left over (duplicating the last entry is
            // indistinguishable from a measurement appended after the quote).
            match replay(&list[..], &ImaReplayConfig::default(), &f.expected) {
                Err(_) => {}
                Ok(r) => prop_assert!(
                    r.outcome.covered == Some(ENTRIES) && list.starts_with(&f.list),
                    "mutation {:?} was accepted and covered {:?} entries",
                    m,
                    r.outcome.covered
                ),
            }
        }
    }
}

#[test]
fn data_mutations_are_rejected_as_tampering_not_as_malformed() {
    // A flipped byte in a file path keeps the list well formed: the verdict must be a
    // rejection naming the entry, not a parse error.
    let f = fixture();
    let i = (1..f.spans.len()).find(|&i| !f.spans[i].violation).unwrap();
    let mut list = f.list.clone();
    let last = f.spans[i].end - 2; // inside the path of an ima-ng entry, before its NUL
    list[last] ^= 0x01;
    let err = verify(&list).unwrap_err();
    match err {
        Error::Replay(e) => {
            let bad = e.first_bad_entry.expect("the tampered entry is named");
            assert_eq!(bad.entry, i as u64);
        }
        Error::EntryDigest(bad) => assert_eq!(bad.entry, i as u64),
        other => panic!("expected a rejection, got {other}"),
    }
}

#[test]
fn undetectable_violation_data_is_documented() {
    // The kernel does not extend a violation's data: changing it cannot be caught.
    let f = fixture();
    let v = f.spans.iter().position(|s| s.violation).unwrap();
    let mut list = f.list.clone();
    let s = &f.spans[v];
    list[s.end - 2] ^= 0x01; // a character of the violation's file name
    verify(&list).expect("a violation's data is not covered by any register");
}

#[test]
fn undetectable_violation_reordering_is_documented() {
    let f = fixture();
    let vs: Vec<usize> = (0..f.spans.len())
        .filter(|&i| f.spans[i].violation)
        .collect();
    let mut order: Vec<usize> = (0..f.spans.len()).collect();
    order.swap(vs[0], vs[1]);
    verify(&splice(f, &order)).expect("two violations extend the same value");
}

#[test]
fn appended_entries_are_left_over_not_verified() {
    let f = fixture();
    let mut list = f.list.clone();
    list.extend_from_slice(entry(f, 5));
    let r = replay(&list[..], &ImaReplayConfig::default(), &f.expected).unwrap();
    assert_eq!(r.outcome.covered, Some(ENTRIES));
    assert_eq!(r.outcome.left_over(), 1);
}
