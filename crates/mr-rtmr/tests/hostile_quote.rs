//! Hostile input against TD quotes: `quote::parse` and `quote::verify` (fixed time, the
//! simulated TD's test PKI as root, a nonce) on random bytes and on valid quotes of the three
//! formats (v4 TD 1.0, v5 TD 1.0, v5 TD 1.5) from `sim::quote::TestQuoteSigner` with a few
//! byte-level edits (`mr_test_alloc::apply_edits`, the fuzz targets' mutations); collateral JSON
//! parsing on random text.
//!
//! For every input: no panic; every rejection is a `QuoteError` of class Malformed or Rejected
//! (never `Internal`, never a non-quote error); whatever verifies carries exactly the signed
//! registers and REPORTDATA; no single allocation is larger than `max(64 KiB, QUOTE_K × input
//! length)` (counting global allocator of this test binary).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use mr_core::ErrorClass;
use mr_rtmr::quote::{self, Collateral, QuoteError};
use mr_test_alloc::{apply_edits, measure, Edit};
use mr_testkit::td::SignedTdQuotes;
use proptest::prelude::*;

#[global_allocator]
static ALLOC: mr_test_alloc::CountingAlloc = mr_test_alloc::CountingAlloc;

/// TD quotes (parse, certificate chain in PEM, verification): a small multiple of the input.
const QUOTE_K: usize = 4;
/// 2025-06-01T00:00:00Z, inside the test PKI's validity.
const AT: u64 = 1_748_736_000;
const NONCE: &[u8] = b"hostile quote nonce";

/// Valid quotes of one TD in every format (built once per process).
fn base() -> &'static SignedTdQuotes {
    static BASE: OnceLock<SignedTdQuotes> = OnceLock::new();
    BASE.get_or_init(|| SignedTdQuotes::new(NONCE, AT))
}

fn typed(e: &mr_rtmr::Error, what: &str) {
    match e {
        mr_rtmr::Error::Quote(QuoteError::Internal(m)) => panic!("{what}: internal error {m}"),
        mr_rtmr::Error::Quote(q) => assert!(
            matches!(q.class(), ErrorClass::Malformed | ErrorClass::Rejected),
            "{what}: {q}"
        ),
        other => panic!("{what}: not a quote error: {other}"),
    }
}

fn check(input: &[u8]) {
    let b = base();
    let (r, stats) = measure(|| quote::parse(input).map(|q| q.rtmrs().len()));
    stats.assert_within(QUOTE_K, input.len(), "parse");
    if let Err(e) = r {
        typed(&e, "parse");
    }
    let (r, stats) = measure(|| quote::verify(input, &b.opts));
    stats.assert_within(QUOTE_K, input.len(), "verify");
    match r {
        Ok(v) => b.assert_is_this_td(&v),
        Err(e) => typed(&e, "verify"),
    }
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec((any::<u8>(), any::<u16>(), any::<u8>()), 1..5)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_typed_rejections_with_bounded_allocations(
        data in prop::collection::vec(any::<u8>(), 0..2048)
    ) {
        check(&data);
    }

    #[test]
    fn edited_quotes_never_verify_with_other_registers(format in 0usize..3, e in edits()) {
        check(&apply_edits(&base().quotes[format], &e));
    }

    #[test]
    fn edited_headers_and_bodies_never_verify_with_other_registers(
        format in 0usize..3,
        e in prop::collection::vec((any::<u8>(), 0u16..700, any::<u8>()), 1..4)
    ) {
        // Positions inside the header and body (the signed bytes), where an accepted edit
        // would change what the quote vouches for.
        check(&apply_edits(&base().quotes[format], &e));
    }

    #[test]
    fn collateral_json_is_parsed_or_refused_with_bounded_allocations(text in "[\\[\\]{}\":,0-9a-zA-Z_ ]{0,400}") {
        let (r, stats) = measure(|| Collateral::from_json(text.as_bytes()).map(|_| ()));
        stats.assert_within(QUOTE_K, text.len(), "collateral");
        if let Err(e) = r {
            typed(&e, "collateral");
        }
    }
}

#[test]
fn the_valid_quotes_verify_and_a_length_claim_past_the_end_is_malformed() {
    let b = base();
    for q in &b.quotes {
        check(q);
        // The signature-data length (the u32 after the signed header and body) claims 4 GiB.
        let mut bad = q.clone();
        let at = match quote::parse(q) {
            Ok(p) => p.signed_bytes().len(),
            Err(e) => panic!("{e}"),
        };
        bad[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let (r, stats) = measure(|| quote::verify(&bad, &b.opts));
        stats.assert_within(QUOTE_K, bad.len(), "length claim");
        match r {
            Err(e) => typed(&e, "length claim"),
            Ok(_) => panic!("a quote claiming 4 GiB of signature data verified"),
        }
    }
}
