//! Hostile input against the journal: the record parser (`Record::parse`) on random lines, and
//! `verify::derive` on a valid journal (extends, a comment, a SYNC record) with a few byte-level
//! edits (`mr_test_alloc::apply_edits`, the fuzz targets' mutations) and on random bytes,
//! against the backing value the unedited journal produces.
//!
//! For every input: no panic; every rejection is a typed error of class Malformed or Rejected
//! (never Device on an in-memory journal); whatever derive accepts gives the unedited journal's
//! virtual register value (an edit is accepted only where it changes nothing that is vouched
//! for); no single allocation is larger than `max(64 KiB, JOURNAL_K × input length)` (counting
//! global allocator of this test binary). Round trip: a line that parses prints back as exactly
//! that line (one spelling per record), and prints of records parse back to the same record.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::ExpectedRegisters;
use mr_core::{Digest, ErrorClass, HashAlg, MrId, Provenance, VerifiedRegisters};
use mr_test_alloc::{apply_edits, measure, Edit};
use mr_testkit::journal::SampleJournal;
use mr_virtual::record::Record;
use mr_virtual::verify::{derive, DeriveOptions};
use mr_virtual::MR_IMA;
use proptest::prelude::*;

#[global_allocator]
static ALLOC: mr_test_alloc::CountingAlloc = mr_test_alloc::CountingAlloc;

/// Journals (line buffer, records, derived registers): a small multiple of the input.
const JOURNAL_K: usize = 4;
const RTMR3: MrId = MrId::Rtmr(3);

struct Base {
    journal: Vec<u8>,
    verified: VerifiedRegisters,
    mr_ima: Digest,
}

fn base() -> Base {
    let SampleJournal {
        text,
        backing,
        mr_ima: virt,
    } = SampleJournal::new(8, 3, 5);
    let mut rtmr3 = ExpectedRegisters::new();
    rtmr3.insert(RTMR3, backing).unwrap();
    let verified = VerifiedRegisters::from_verified_root(
        Provenance::TdQuote {
            root: "test root".into(),
        },
        rtmr3,
    );
    let derived = derive(&text[..], &RTMR3, &verified, &DeriveOptions::default())
        .expect("the base journal derives");
    assert_eq!(derived.get(MR_IMA, HashAlg::Sha384), Some(virt));
    Base {
        journal: text,
        verified,
        mr_ima: virt,
    }
}

fn check(b: &Base, journal: &[u8]) {
    let (r, stats) = measure(|| derive(journal, &RTMR3, &b.verified, &DeriveOptions::default()));
    stats.assert_within(JOURNAL_K, journal.len(), "derive");
    match r {
        Ok(d) => assert_eq!(
            d.get(MR_IMA, HashAlg::Sha384),
            Some(b.mr_ima),
            "an edited journal derived another mr_ima:\n{}",
            String::from_utf8_lossy(journal)
        ),
        Err(e) => assert!(
            matches!(e.class(), ErrorClass::Malformed | ErrorClass::Rejected),
            "derive: rejection of class {:?}: {e}",
            e.class()
        ),
    }
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec((any::<u8>(), any::<u16>(), any::<u8>()), 1..5)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn edited_journals_are_rejected_typed_or_derive_the_same_register(e in edits()) {
        let b = base();
        check(&b, &apply_edits(&b.journal, &e));
    }

    #[test]
    fn random_journals_are_rejected_typed_with_bounded_allocations(
        data in prop::collection::vec(any::<u8>(), 0..1500)
    ) {
        check(&base(), &data);
    }

    #[test]
    fn record_lines_parse_to_one_spelling_or_a_typed_error(
        line in "(mr_ima|SYNC|[A-Za-z0-9_.-]{0,6})( ?)(extend|sha384/|[a-z]{0,6})( ?)(sha(1|256|384|512)/)?[0-9a-fA-F]{0,100}"
    ) {
        let (r, stats) = measure(|| Record::parse(&line));
        stats.assert_within(JOURNAL_K, line.len(), "record");
        if let Ok(Some(rec)) = r {
            prop_assert_eq!(rec.to_string(), line.clone(), "a record with two spellings");
            prop_assert_eq!(Record::parse(&rec.to_string()).unwrap(), Some(rec));
        }
    }

    #[test]
    fn records_print_and_parse_back(name in "[A-Za-z0-9_.-]{1,64}", bytes in prop::collection::vec(any::<u8>(), 48)) {
        prop_assume!(name != "SYNC");
        let d = Digest::new(HashAlg::Sha384, &bytes).unwrap();
        for rec in [Record::extend(&name, d).unwrap(), Record::Sync { value: d }] {
            prop_assert_eq!(Record::parse(&rec.to_string()).unwrap(), Some(rec));
        }
    }
}

#[test]
fn a_very_long_line_is_refused_without_buffering_it() {
    let b = base();
    let mut journal = b.journal.clone();
    journal.extend(std::iter::repeat_n(b'a', 1 << 20));
    journal.push(b'\n');
    check(&b, &journal);
    let (_, stats) =
        measure(|| derive(&journal[..], &RTMR3, &b.verified, &DeriveOptions::default()));
    assert!(
        stats.largest <= 64 << 10,
        "a 1 MiB line made a {} byte allocation",
        stats.largest
    );
}
