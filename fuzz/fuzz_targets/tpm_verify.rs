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
use mr_tpm::attest::TPM_GENERATED_VALUE;
use mr_tpm::{
    tpms_attest_bytes, verify_quote, AkPublic, Attest, Attested, ClockInfo, PcrBankSelection,
    PcrSelection, QuoteInfo, Signature,
};
use p256::ecdsa::signature::hazmat::PrehashSigner;

#[path = "edits.rs"]
mod edits;

const NONCE: [u8; 32] = [0x5a; 32];
const PCRS: [u32; 9] = [0, 1, 2, 3, 4, 5, 6, 7, 10];

struct Base {
    attest: Vec<u8>,
    sig: Vec<u8>,
    ak_tpmt: Vec<u8>,
    ak: AkPublic,
    pcrs: Vec<RegisterValue>,
}

fn pcr_values() -> Vec<RegisterValue> {
    PCRS.iter()
        .map(|i| RegisterValue {
            id: MrId::Pcr(*i),
            value: HashAlg::Sha256.hash(&i.to_be_bytes()),
        })
        .collect()
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let pcrs = pcr_values();
        let mut concat = Vec::new();
        for v in &pcrs {
            concat.extend_from_slice(v.value.as_bytes());
        }
        let attest = Attest {
            magic: TPM_GENERATED_VALUE,
            qualified_signer: HashAlg::Sha256.hash(b"signer").as_bytes().to_vec(),
            extra_data: NONCE.to_vec(),
            clock_info: ClockInfo {
                clock: 1_000_000,
                reset_count: 3,
                restart_count: 0,
                safe: true,
            },
            firmware_version: 0x2023_0001_0000_0000,
            attested: Attested::Quote(QuoteInfo {
                pcr_select: PcrSelection {
                    banks: vec![PcrBankSelection::new(HashAlg::Sha256, &PCRS)],
                },
                pcr_digest: HashAlg::Sha256.hash(&concat).as_bytes().to_vec(),
            }),
        }
        .marshal();
        // A fixed key: deterministic (RFC 6979) signatures, so the base is the same every run.
        let key = p256::ecdsa::SigningKey::from_slice(&[7; 32]).expect("fixed scalar");
        let digest = HashAlg::Sha256.hash(&attest);
        let sig: p256::ecdsa::Signature = key.sign_prehash(digest.as_bytes()).expect("sign");
        let (r, s) = sig.split_bytes();
        let sig = Signature::Ecdsa {
            hash: HashAlg::Sha256,
            r: r.to_vec(),
            s: s.to_vec(),
        }
        .marshal();
        // TPMT_PUBLIC: ECC, nameAlg SHA-256, fixedTPM|fixedParent|sensitiveDataOrigin|
        // userWithAuth|restricted|sign, no policy, ECDSA/SHA-256, NIST P-256, no KDF.
        let point = key.verifying_key().to_encoded_point(false);
        let mut ak_tpmt = Vec::new();
        for v in [0x0023u16, 0x000B] {
            ak_tpmt.extend_from_slice(&v.to_be_bytes());
        }
        ak_tpmt.extend_from_slice(&0x0005_0072u32.to_be_bytes());
        for v in [0u16, 0x0010, 0x0018, 0x000B, 0x0003, 0x0010] {
            ak_tpmt.extend_from_slice(&v.to_be_bytes());
        }
        for c in [point.x().expect("x"), point.y().expect("y")] {
            ak_tpmt.extend_from_slice(&32u16.to_be_bytes());
            ak_tpmt.extend_from_slice(c);
        }
        let ak = AkPublic::from_tpmt_public(&ak_tpmt).expect("the fixed AK parses");
        verify_quote(&attest, &sig, &ak, &NONCE, &pcrs).expect("the base quote verifies");
        Base {
            attest,
            sig,
            ak_tpmt,
            ak,
            pcrs,
        }
    })
}

fn check(attest: &[u8], sig: &[u8], ak: &AkPublic, pcrs: &[RegisterValue]) {
    let b = base();
    match verify_quote(attest, sig, ak, &NONCE, pcrs) {
        Ok(verified) => {
            assert_eq!(
                tpms_attest_bytes(attest),
                &b.attest[..],
                "a TPMS_ATTEST other than the signed one verified"
            );
            for v in &b.pcrs {
                assert_eq!(
                    verified.get(&v.id, v.value.alg()),
                    Some(&v.value),
                    "verified PCR value differs from the quoted one"
                );
            }
        }
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
        check(&b.attest, &b.sig, &b.ak, &b.pcrs);
        return;
    };
    match mode % 7 {
        0 => check(rest, &b.sig, &b.ak, &b.pcrs),
        1 => check(&b.attest, rest, &b.ak, &b.pcrs),
        2 => check(&edits::apply(&b.attest, rest), &b.sig, &b.ak, &b.pcrs),
        3 => check(&b.attest, &edits::apply(&b.sig, rest), &b.ak, &b.pcrs),
        4 => {
            let key = edits::apply(&b.ak_tpmt, rest);
            if let Ok(ak) = AkPublic::from_tpmt_public(&key) {
                match verify_quote(&b.attest, &b.sig, &ak, &NONCE, &b.pcrs) {
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
                &edits::apply(&b.sig, &rest[half..]),
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
            match verify_quote(&b.attest, &b.sig, &b.ak, &NONCE, &pcrs) {
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
