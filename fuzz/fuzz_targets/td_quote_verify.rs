#![no_main]
//! TD quote verification (`mr_rtmr::quote::verify`) at a fixed time against quotes made by the
//! simulated TD's `TestQuoteSigner` (a test PKI: root, platform CA, PCK, QE report, attestation
//! key), in the three formats (v4 TD 1.0, v5 TD 1.0, v5 TD 1.5). The first input byte picks the
//! format and whether the rest edits the valid quote (see edits.rs) or replaces it.
//!
//! Properties: no panic; every rejection is Malformed or Rejected, and never an internal error;
//! whatever verifies carries exactly the base quote's registers and REPORTDATA.

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mr_core::ErrorClass;
use mr_rtmr::quote::{self, QuoteError};
use mr_testkit::td::SignedTdQuotes;

#[path = "edits.rs"]
mod edits;

/// 2025-06-01T00:00:00Z, inside the test PKI's validity.
const AT: u64 = 1_748_736_000;
const NONCE: &[u8] = b"td quote fuzz nonce";

/// Valid quotes of one TD in every format (built once per process).
fn base() -> &'static SignedTdQuotes {
    static BASE: OnceLock<SignedTdQuotes> = OnceLock::new();
    BASE.get_or_init(|| SignedTdQuotes::new(NONCE, AT))
}

fuzz_target!(|data: &[u8]| {
    let b = base();
    let (mode, rest) = data.split_first().map_or((0, &[][..]), |(m, r)| (*m, r));
    let q = &b.quotes[usize::from(mode % 3)];
    let input = if mode / 3 % 4 == 3 {
        rest.to_vec()
    } else {
        edits::apply(q, rest)
    };
    match quote::verify(&input, &b.opts) {
        Ok(v) => b.assert_is_this_td(&v),
        Err(mr_rtmr::Error::Quote(QuoteError::Internal(m))) => panic!("internal error: {m}"),
        Err(mr_rtmr::Error::Quote(e)) => assert!(
            matches!(e.class(), ErrorClass::Malformed | ErrorClass::Rejected),
            "rejection of class {:?}: {e}",
            e.class()
        ),
        Err(mr_rtmr::Error::Core(e)) => assert!(
            matches!(e.class(), ErrorClass::Malformed | ErrorClass::Rejected),
            "rejection of class {:?}: {e}",
            e.class()
        ),
        Err(e) => panic!("quote verification failed with a non-quote error: {e}"),
    }
});
