//! Hostile input against mr-tpm: TPMS_ATTEST / TPM2B_ATTEST, TPMT_SIGNATURE, TPMT_PUBLIC /
//! TPM2B_PUBLIC, every AK key format (PEM, DER certificate, SPKI), and quote verification with a
//! fixed software AK (ECDSA P-256, restricted signing TPMT_PUBLIC) on a valid signed quote with a
//! few byte-level edits (`mr_test_alloc::apply_edits`, the fuzz targets' mutations).
//!
//! For every input: no panic; every rejection is `mr_tpm::Error` of class Malformed or Rejected
//! (never Device); whatever verifies is exactly the signed quote; no single allocation is larger
//! than `max(64 KiB, TPM_K × input length)` (counting global allocator of this test binary).
//! Round trips: the structures mr writes (TPMS_ATTEST, TPMT_SIGNATURE, TPMT_PUBLIC) parse,
//! marshal to the same bytes, and parse again to the same value.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::ErrorClass;
use mr_test_alloc::{apply_edits, measure, Edit};
use mr_testkit::tpm::{SoftwareQuote, QUOTE_NONCE as NONCE};
use mr_tpm::{tpms_attest_bytes, verify_quote, AkPublic, Attest, Signature, TpmPublic};
use proptest::prelude::*;

#[global_allocator]
static ALLOC: mr_test_alloc::CountingAlloc = mr_test_alloc::CountingAlloc;

/// TPM structures, keys and certificates (DER, PEM): a small multiple of the input.
const TPM_K: usize = 4;

fn typed(e: &mr_tpm::Error, what: &str) {
    assert!(
        matches!(e.class(), ErrorClass::Malformed | ErrorClass::Rejected),
        "{what}: rejection of class {:?}: {e}",
        e.class()
    );
}

/// The fixed software-signed quote every edit starts from.
fn base() -> SoftwareQuote {
    SoftwareQuote::new()
}

/// Every parser on `data`; whatever parses and can be written again round-trips.
fn parsers(data: &[u8]) {
    let (r, stats) = measure(|| Attest::parse(tpms_attest_bytes(data)));
    stats.assert_within(TPM_K, data.len(), "TPMS_ATTEST");
    match r {
        Ok(a) => {
            let bytes = a.marshal();
            assert_eq!(Attest::parse(&bytes).unwrap(), a, "TPMS_ATTEST round trip");
        }
        Err(e) => typed(&e, "TPMS_ATTEST"),
    }
    let (r, stats) = measure(|| Signature::parse(data));
    stats.assert_within(TPM_K, data.len(), "TPMT_SIGNATURE");
    match r {
        Ok(s) => assert_eq!(
            Signature::parse(&s.marshal()).unwrap(),
            s,
            "TPMT_SIGNATURE round trip"
        ),
        Err(e) => typed(&e, "TPMT_SIGNATURE"),
    }
    for tpm2b in [false, true] {
        let (r, stats) = measure(|| {
            if tpm2b {
                TpmPublic::parse_tpm2b(data)
            } else {
                TpmPublic::parse_tpmt(data)
            }
        });
        stats.assert_within(TPM_K, data.len(), "TPMT_PUBLIC");
        match r {
            Ok(p) => {
                let again = TpmPublic::parse_tpmt(p.tpmt_bytes()).unwrap();
                assert_eq!(again.tpmt_bytes(), p.tpmt_bytes(), "TPMT_PUBLIC round trip");
                assert_eq!(again.name(), p.name());
            }
            Err(e) => typed(&e, "TPMT_PUBLIC"),
        }
    }
    let (r, stats) = measure(|| {
        [
            AkPublic::detect(data),
            AkPublic::from_pem(data),
            AkPublic::from_certificate_der(data),
            AkPublic::from_spki_der(data),
        ]
    });
    stats.assert_within(TPM_K, data.len(), "AK formats");
    for r in r {
        if let Err(e) = r {
            typed(&e, "AK");
        }
    }
    let (r, stats) = measure(|| mr_tpm::cert::certificate_der(data));
    stats.assert_within(TPM_K, data.len(), "certificate");
    if let Err(e) = r {
        typed(&e, "certificate");
    }
}

fn verify_checked(b: &SoftwareQuote, attest: &[u8], sig: &[u8], ak: &AkPublic) {
    let len = attest.len() + sig.len();
    let (r, stats) = measure(|| verify_quote(attest, sig, ak, &NONCE, &b.pcrs));
    stats.assert_within(TPM_K, len, "verify_quote");
    match r {
        Ok(v) => b.assert_is_this_quote(attest, &v),
        Err(e) => typed(&e, "verify_quote"),
    }
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec((any::<u8>(), any::<u16>(), any::<u8>()), 1..5)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn tpm_structures_random_bytes_give_typed_errors_and_bounded_allocations(
        data in prop::collection::vec(any::<u8>(), 0..1024)
    ) {
        parsers(&data);
    }

    #[test]
    fn tpm_structures_edited_give_typed_errors_round_trip_and_bounded_allocations(
        which in 0u8..3, e in edits()
    ) {
        let b = base();
        let src = [&b.attest, &b.signature, &b.ak_tpmt][usize::from(which)];
        parsers(&apply_edits(src, &e));
    }

    #[test]
    fn edited_quotes_signatures_and_keys_never_verify_as_another_quote(
        which in 0u8..4, e in edits()
    ) {
        let b = base();
        match which {
            0 => verify_checked(&b, &apply_edits(&b.attest, &e), &b.signature, &b.ak),
            1 => verify_checked(&b, &b.attest, &apply_edits(&b.signature, &e), &b.ak),
            2 => {
                let edited = apply_edits(&b.ak_tpmt, &e);
                match AkPublic::from_tpmt_public(&edited) {
                    Ok(ak) => {
                        if verify_quote(&b.attest, &b.signature, &ak, &NONCE, &b.pcrs).is_ok() {
                            // Only a change outside the key and its restrictions can keep it valid.
                            prop_assert!(ak.tpm_public().unwrap().is_restricted_signing());
                        }
                    }
                    Err(e) => typed(&e, "edited AK"),
                }
            }
            _ => {
                let half = e.len() / 2;
                verify_checked(&b, &apply_edits(&b.attest, &e[..half]), &apply_edits(&b.signature, &e[half..]), &b.ak)
            }
        }
    }
}

#[test]
fn pem_and_der_keys_with_huge_length_claims_do_not_allocate_them() {
    // DER SEQUENCE claiming 2^31 bytes, and a PEM whose base64 body is short.
    for data in [
        vec![0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x00],
        b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".to_vec(),
        b"-----BEGIN PUBLIC KEY-----\nMIQAAAAA\n-----END PUBLIC KEY-----\n".to_vec(),
    ] {
        parsers(&data);
    }
}
