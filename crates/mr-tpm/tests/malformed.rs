//! Bad input gives a typed error, never a panic: truncation at every length, oversized TPM2B
//! sizes, unknown algorithms, schemes that do not fit the key, and signed-but-wrong structures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::error::{ParseError, ParseErrorKind};
use mr_core::{HashAlg, MrId, RegisterValue};
use mr_testkit::tpm::{
    ecc_key, ecc_tpmt_public, ecdsa_signature, quote_attest, EcdsaKey, RESTRICTED_SIGNING,
};
use mr_tpm::TPM_ST_ATTEST_QUOTE;
use mr_tpm::{
    verify_quote, verify_quote_signature, AkPublic, Attest, Attested, Error, SigScheme, Signature,
    TpmPublic,
};

fn signing_key(seed: u8) -> EcdsaKey {
    ecc_key(seed)
}

fn ak(key: &EcdsaKey) -> AkPublic {
    AkPublic::from_tpmt_public(&ecc_tpmt_public(key, RESTRICTED_SIGNING, 0x0018, 0x000B)).unwrap()
}

fn pcr_values() -> Vec<RegisterValue> {
    vec![
        RegisterValue {
            id: MrId::Pcr(10),
            value: HashAlg::Sha256.hash(b"ten"),
        },
        RegisterValue {
            id: MrId::Pcr(16),
            value: HashAlg::Sha256.hash(b"sixteen"),
        },
    ]
}

fn attest(nonce: &[u8]) -> Attest {
    quote_attest(nonce, &pcr_values())
}

fn sign(key: &EcdsaKey, bytes: &[u8], hash: HashAlg) -> Vec<u8> {
    ecdsa_signature(key, bytes, hash)
}

#[test]
fn a_software_signed_quote_verifies_and_round_trips() {
    let key = signing_key(7);
    let a = attest(b"nonce").marshal();
    assert_eq!(Attest::parse(&a).unwrap().marshal(), a);
    let sig = sign(&key, &a, HashAlg::Sha256);
    let verified = verify_quote(&a, &sig, &ak(&key), b"nonce", &pcr_values()).unwrap();
    assert_eq!(verified.len(), 2);
    // A TPM2B_ATTEST wrapper is accepted too.
    let mut wrapped = (a.len() as u16).to_be_bytes().to_vec();
    wrapped.extend_from_slice(&a);
    verify_quote(&wrapped, &sig, &ak(&key), b"nonce", &pcr_values()).unwrap();
}

#[test]
fn truncated_attest_is_malformed_at_every_length() {
    let a = attest(b"nonce").marshal();
    for len in 0..a.len() {
        match Attest::parse(&a[..len]) {
            Err(Error::Parse(ParseError {
                offset,
                kind: ParseErrorKind::Truncated { .. },
                ..
            })) => {
                assert!(offset <= len as u64, "offset {offset} beyond length {len}");
            }
            other => panic!("prefix of {len} bytes: {other:?}"),
        }
    }
    let mut longer = a.clone();
    longer.push(0);
    assert!(matches!(
        Attest::parse(&longer),
        Err(Error::Parse(ParseError {
            kind: ParseErrorKind::TrailingBytes(1),
            ..
        }))
    ));
}

#[test]
fn truncated_signature_and_public_are_malformed_at_every_length() {
    let key = signing_key(3);
    let sig = sign(&key, b"x", HashAlg::Sha256);
    for len in 0..sig.len() {
        assert!(
            matches!(Signature::parse(&sig[..len]), Err(Error::Parse(_))),
            "signature prefix {len}"
        );
    }
    let tpmt = ecc_tpmt_public(&key, RESTRICTED_SIGNING, 0x0018, 0x000B);
    for len in 0..tpmt.len() {
        assert!(
            matches!(TpmPublic::parse_tpmt(&tpmt[..len]), Err(Error::Parse(_))),
            "public prefix {len}"
        );
        assert!(AkPublic::detect(&tpmt[..len]).is_err());
    }
}

#[test]
fn oversized_tpm2b_sizes_are_refused_before_reading() {
    let mut a = attest(b"nonce").marshal();
    // qualifiedSigner size at offset 6.
    a[6] = 0xff;
    a[7] = 0xff;
    match Attest::parse(&a) {
        Err(Error::Parse(ParseError {
            format: "tpm",
            structure: "TPM2B_NAME qualifiedSigner",
            offset: 6,
            kind:
                ParseErrorKind::LengthTooLarge {
                    len: 0xffff,
                    max: 66,
                },
            ..
        })) => {}
        other => panic!("{other:?}"),
    }
    // A size within the limit but beyond the data left is truncation.
    let mut a = attest(b"").marshal();
    let len = a.len();
    a[len - 34] = 0;
    a[len - 33] = 40;
    assert!(matches!(
        Attest::parse(&a),
        Err(Error::Parse(ParseError {
            kind: ParseErrorKind::Truncated { .. },
            ..
        }))
    ));
    // An RSA signature larger than any RSA key.
    let mut sig = vec![0x00, 0x14, 0x00, 0x0b, 0x02, 0x01];
    sig.extend(std::iter::repeat_n(0u8, 513));
    assert!(matches!(
        Signature::parse(&sig),
        Err(Error::Parse(ParseError {
            kind: ParseErrorKind::LengthTooLarge { len: 513, max: 512 },
            ..
        }))
    ));
    // A TPM2B_PUBLIC whose size exceeds the input.
    let key = signing_key(4);
    let tpmt = ecc_tpmt_public(&key, RESTRICTED_SIGNING, 0x0018, 0x000B);
    let mut tpm2b = ((tpmt.len() + 5) as u16).to_be_bytes().to_vec();
    tpm2b.extend_from_slice(&tpmt);
    assert!(matches!(
        TpmPublic::parse_tpm2b(&tpm2b),
        Err(Error::Parse(_))
    ));
    // Too many PCR banks.
    let mut a = attest(b"").marshal();
    let sel_at = a.len() - 34 - 10;
    a[sel_at..sel_at + 4].copy_from_slice(&1000u32.to_be_bytes());
    assert!(matches!(
        Attest::parse(&a),
        Err(Error::Parse(ParseError {
            kind: ParseErrorKind::LengthTooLarge { len: 1000, max: 16 },
            ..
        }))
    ));
}

#[test]
fn unknown_algorithms_are_typed_errors() {
    // HMAC signature.
    let sig = [
        0x00, 0x05, 0x00, 0x0b, 0x00, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert!(matches!(
        Signature::parse(&sig),
        Err(Error::UnsupportedAlgorithm {
            what: "signature scheme",
            id: 5
        })
    ));
    // ECDSA with an unknown hash.
    let sig = [0x00, 0x18, 0x00, 0x99, 0, 0, 0, 0];
    assert!(matches!(
        Signature::parse(&sig),
        Err(Error::UnsupportedAlgorithm {
            what: "signature hash",
            id: 0x99
        })
    ));
    // A PCR bank with an unknown hash.
    let mut a = attest(b"").marshal();
    let bank_at = a.len() - 34 - 3 - 3;
    a[bank_at..bank_at + 2].copy_from_slice(&0x0099u16.to_be_bytes());
    assert!(matches!(
        Attest::parse(&a),
        Err(Error::UnsupportedAlgorithm {
            what: "PCR bank",
            id: 0x99
        })
    ));
    // An ECC key on an unsupported curve (P-521 slot id with 32-byte coordinates), and a
    // KEYEDHASH object.
    let key = signing_key(5);
    let mut tpmt = ecc_tpmt_public(&key, RESTRICTED_SIGNING, 0x0018, 0x000B);
    tpmt[16..18].copy_from_slice(&0x0005u16.to_be_bytes());
    assert!(matches!(
        AkPublic::from_tpmt_public(&tpmt),
        Err(Error::UnsupportedAlgorithm {
            what: "ECC curve",
            id: 5
        })
    ));
    tpmt[0..2].copy_from_slice(&0x0008u16.to_be_bytes());
    assert!(matches!(
        TpmPublic::parse_tpmt(&tpmt),
        Err(Error::UnsupportedAlgorithm {
            what: "public key type",
            ..
        })
    ));
}

#[test]
fn a_scheme_that_does_not_fit_the_key_is_rejected() {
    let key = signing_key(9);
    let a = attest(b"n").marshal();
    // RSASSA signature presented to an ECC key.
    let rsa_sig = Signature::Rsa {
        scheme: SigScheme::RsaSsa,
        hash: HashAlg::Sha256,
        sig: vec![1; 256],
    }
    .marshal();
    assert!(matches!(
        verify_quote(&a, &rsa_sig, &ak(&key), b"n", &pcr_values()),
        Err(Error::KeySchemeMismatch { .. })
    ));
    // ECDSA/SHA-384 with a key whose public area fixes ECDSA/SHA-256.
    let sig = sign(&key, &a, HashAlg::Sha384);
    assert!(matches!(
        verify_quote(&a, &sig, &ak(&key), b"n", &pcr_values()),
        Err(Error::KeySchemeMismatch { .. })
    ));
    // The same signature verifies with the bare public key (no fixed scheme).
    let der = p256_v13::pkcs8::EncodePublicKey::to_public_key_der(key.verifying_key()).unwrap();
    let bare = AkPublic::detect(der.as_bytes()).unwrap();
    let q = verify_quote_signature(&a, &sig, &bare, Some(b"n")).unwrap();
    assert_eq!(q.hash(), HashAlg::Sha384);
    // pcrDigest is hashed with the signing hash: SHA-256 pcrDigest does not match SHA-384.
    assert!(matches!(
        q.verify_pcrs(&pcr_values()),
        Err(Error::PcrDigestMismatch { .. })
    ));
}

#[test]
fn an_unrestricted_key_cannot_vouch_for_a_quote() {
    let key = signing_key(11);
    let tpmt = ecc_tpmt_public(&key, 0x0004_0072, 0x0018, 0x000B);
    let a = attest(b"n").marshal();
    let sig = sign(&key, &a, HashAlg::Sha256);
    let unrestricted = AkPublic::from_tpmt_public(&tpmt).unwrap();
    assert!(matches!(
        verify_quote(&a, &sig, &unrestricted, b"n", &pcr_values()),
        Err(Error::NotRestrictedSigningKey(0x0004_0072))
    ));
}

#[test]
fn signed_structures_with_wrong_magic_or_type_are_rejected() {
    let key = signing_key(12);
    let mut wrong_magic = attest(b"n");
    wrong_magic.magic = 0x1234_5678;
    let a = wrong_magic.marshal();
    let sig = sign(&key, &a, HashAlg::Sha256);
    assert!(matches!(
        verify_quote(&a, &sig, &ak(&key), b"n", &pcr_values()),
        Err(Error::WrongMagic(0x1234_5678))
    ));

    let mut certify = attest(b"n");
    certify.attested = Attested::Other {
        attest_type: 0x8017,
        bytes: vec![0, 0, 0, 0],
    };
    let a = certify.marshal();
    assert_ne!(certify.attest_type(), TPM_ST_ATTEST_QUOTE);
    let sig = sign(&key, &a, HashAlg::Sha256);
    assert!(matches!(
        verify_quote(&a, &sig, &ak(&key), b"n", &pcr_values()),
        Err(Error::WrongType(0x8017))
    ));
}

#[test]
fn key_formats_are_detected_and_agree() {
    let key = signing_key(13);
    let tpmt = ecc_tpmt_public(&key, RESTRICTED_SIGNING, 0x0018, 0x000B);
    let mut tpm2b = (tpmt.len() as u16).to_be_bytes().to_vec();
    tpm2b.extend_from_slice(&tpmt);
    let der = p256_v13::pkcs8::EncodePublicKey::to_public_key_der(key.verifying_key()).unwrap();
    let pem = p256_v13::pkcs8::EncodePublicKey::to_public_key_pem(
        key.verifying_key(),
        Default::default(),
    )
    .unwrap();
    let a = attest(b"n").marshal();
    let sig = sign(&key, &a, HashAlg::Sha256);
    let from_tpmt = AkPublic::detect(&tpmt).unwrap();
    let from_tpm2b = AkPublic::detect(&tpm2b).unwrap();
    assert_eq!(from_tpmt.id(), from_tpm2b.id());
    assert_eq!(from_tpmt.name().unwrap()[..2], [0x00, 0x0b]);
    for k in [
        from_tpmt,
        from_tpm2b,
        AkPublic::detect(der.as_bytes()).unwrap(),
        AkPublic::detect(pem.as_bytes()).unwrap(),
    ] {
        verify_quote(&a, &sig, &k, b"n", &pcr_values()).unwrap();
    }
    assert!(AkPublic::detect(b"not a key").is_err());
    assert!(
        AkPublic::detect(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").is_err()
    );
}

#[test]
fn conflicting_or_missing_pcr_values_are_named() {
    let key = signing_key(14);
    let a = attest(b"n").marshal();
    let sig = sign(&key, &a, HashAlg::Sha256);
    let mut values = pcr_values();
    values.push(RegisterValue {
        id: MrId::Pcr(10),
        value: HashAlg::Sha256.hash(b"other"),
    });
    assert!(matches!(
        verify_quote(&a, &sig, &ak(&key), b"n", &values),
        Err(Error::ConflictingPcrValue {
            index: 10,
            alg: HashAlg::Sha256
        })
    ));
    assert!(matches!(
        verify_quote(&a, &sig, &ak(&key), b"n", &pcr_values()[..1]),
        Err(Error::MissingPcrValue {
            index: 16,
            alg: HashAlg::Sha256
        })
    ));
    // Values the quote does not select are ignored, not verified.
    let mut extra = pcr_values();
    extra.push(RegisterValue {
        id: MrId::Pcr(3),
        value: HashAlg::Sha256.hash(b"3"),
    });
    let verified = verify_quote(&a, &sig, &ak(&key), b"n", &extra).unwrap();
    assert!(verified.get(&MrId::Pcr(3), HashAlg::Sha256).is_none());
}

#[test]
fn random_bytes_never_panic_the_parsers() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let base = attest(b"nonce").marshal();
    for _ in 0..20_000 {
        let mut bytes = base.clone();
        let flips = 1 + next() % 4;
        for _ in 0..flips {
            let i = (next() as usize) % bytes.len();
            bytes[i] = next() as u8;
        }
        let cut = (next() as usize) % (bytes.len() + 1);
        let bytes = &bytes[..cut.max(bytes.len() / 2)];
        let _ = Attest::parse(bytes);
        let _ = Signature::parse(bytes);
        let _ = TpmPublic::parse_tpm2b(bytes);
        let _ = AkPublic::detect(bytes);
    }
}
