//! The verified-signature cache of TD quotes: alone in its test binary, so that no other test
//! fills the process-wide cache while this one empties it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_rtmr::quote::{self, VerifyOptions};
use mr_rtmr::sim::quote::QuoteFormat;
use mr_testkit::td::{measurements, signer, AT};

#[test]
fn clearing_the_signature_cache_forgets_every_verified_signature() {
    let s = signer();
    let m = measurements([0x11; 48], [[0xa0; 48]; 4], b"");
    let q = s.quote_as(&m, QuoteFormat::V4Td10).unwrap();
    let opts = VerifyOptions::at_unix(AT).with_root_der(s.root_der());
    quote::verify(&q, &opts).unwrap();
    let warm = quote::signature_cache_stats();
    assert!(warm.entries > 0, "{warm:?}");
    quote::clear_signature_cache();
    assert_eq!(quote::signature_cache_stats().entries, 0);
    // Verified again from scratch: no signature comes from the cache, each is remembered anew.
    quote::verify(&q, &opts).unwrap();
    let cold = quote::signature_cache_stats();
    assert_eq!(cold.hits, warm.hits, "{warm:?} -> {cold:?}");
    assert!(cold.misses > warm.misses, "{warm:?} -> {cold:?}");
    assert_eq!(cold.entries, warm.entries);
}
