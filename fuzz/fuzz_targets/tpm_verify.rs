#![no_main]
//! TPM quote verification (`mr_tpm::verify_quote`) with a fixed software AK (ECDSA P-256,
//! restricted signing key as a TPMT_PUBLIC) and a valid signed quote over PCRs 0-7 and 10 as the
//! base. The first input byte chooses what the rest of the input replaces or edits: the
//! TPMS_ATTEST, the TPMT_SIGNATURE, the AK's TPMT_PUBLIC, or the supplied PCR values.
//!
//! Properties: no panic; every rejection is Malformed or Rejected (never Device); whatever
//! verifies carries exactly the base quote's TPMS_ATTEST and PCR values (no edit of the signed
//! bytes, of the signature or of the key is ever accepted as a different quote).

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mr_core::{ErrorClass, HashAlg, MrId, RegisterValue};
use mr_testkit::tpm::{SoftwareQuote, QUOTE_NONCE as NONCE};
use mr_tpm::{verify_quote, AkPublic};

#[path = "edits.rs"]
mod edits;

/// The fixed software-signed quote (built once per process).
fn base() -> &'static SoftwareQuote {
    static BASE: OnceLock<SoftwareQuote> = OnceLock::new();
    BASE.get_or_init(SoftwareQuote::new)
}

fn check(attest: &[u8], sig: &[u8], ak: &AkPublic, pcrs: &[RegisterValue]) {
    let b = base();
    match verify_quote(attest, sig, ak, &NONCE, pcrs) {
        Ok(verified) => b.assert_is_this_quote(attest, &verified),
        Err(e) => assert!(
            matches!(e.class(), ErrorClass::Malformed | ErrorClass::Rejected),
            "rejection of class {:?}: {e}",
            e.class()
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let b = base();
    let Some((&mode, rest)) = data.split_first() else {
        check(&b.attest, &b.signature, &b.ak, &b.pcrs);
        return;
    };
    match mode % 7 {
        0 => check(rest, &b.signature, &b.ak, &b.pcrs),
        1 => check(&b.attest, rest, &b.ak, &b.pcrs),
        2 => check(&edits::apply(&b.attest, rest), &b.signature, &b.ak, &b.pcrs),
        3 => check(&b.attest, &edits::apply(&b.signature, rest), &b.ak, &b.pcrs),
        4 => {
            let key = edits::apply(&b.ak_tpmt, rest);
            if let Ok(ak) = AkPublic::from_tpmt_public(&key) {
                match verify_quote(&b.attest, &b.signature, &ak, &NONCE, &b.pcrs) {
                    Ok(_) => assert!(
                        ak.tpm_public().is_some_and(|p| p.is_restricted_signing()),
                        "a quote verified with an AK that is not a restricted signing key"
                    ),
                    Err(e) => assert!(matches!(
                        e.class(),
                        ErrorClass::Malformed | ErrorClass::Rejected
                    )),
                }
            }
        }
        5 => {
            // Edit both the quote and the signature.
            let half = rest.len() / 2 / 4 * 4;
            check(
                &edits::apply(&b.attest, &rest[..half]),
                &edits::apply(&b.signature, &rest[half..]),
                &b.ak,
                &b.pcrs,
            );
        }
        _ => {
            // Supplied PCR values: 33-byte records (index, SHA-256 value) from the input.
            let mut pcrs = b.pcrs.clone();
            for rec in rest.chunks_exact(33).take(16) {
                let value = mr_core::Digest::new(HashAlg::Sha256, &rec[1..]).expect("32 bytes");
                pcrs.push(RegisterValue {
                    id: MrId::Pcr(u32::from(rec[0] % 24)),
                    value,
                });
            }
            match verify_quote(&b.attest, &b.signature, &b.ak, &NONCE, &pcrs) {
                Ok(verified) => {
                    for v in &b.pcrs {
                        assert_eq!(verified.get(&v.id, v.value.alg()), Some(&v.value));
                    }
                }
                Err(e) => assert!(matches!(
                    e.class(),
                    ErrorClass::Malformed | ErrorClass::Rejected
                )),
            }
        }
    }
});
