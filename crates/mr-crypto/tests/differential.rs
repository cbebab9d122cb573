//! The RustCrypto and ring providers agree: on valid signatures for every scheme, hash, key
//! type and encoding mr verifies (both accept), and on signatures, messages and keys mutated
//! one byte at a time (both reject), including with random edits (proptest). Runs with `--features ring`.
#![cfg(feature = "ring")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use mr_crypto::{Curve, EcdsaEncoding, Hash, KeyType, PublicKey, Scheme, RING, RUSTCRYPTO};
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use proptest::prelude::*;
use rsa::traits::PublicKeyParts;

const HASHES: [Hash; 5] = [
    Hash::Sha1,
    Hash::Sha224,
    Hash::Sha256,
    Hash::Sha384,
    Hash::Sha512,
];

/// One signed message: the key, the scheme, the message and the signature.
#[derive(Clone, Debug)]
struct Case {
    key: PublicKey,
    /// Another key of the same type (the "wrong key" mutation).
    other: PublicKey,
    scheme: Scheme,
    message: Vec<u8>,
    signature: Vec<u8>,
}

fn rsa_keys(bits: usize) -> &'static (rsa::RsaPrivateKey, rsa::RsaPrivateKey) {
    static K1024: OnceLock<(rsa::RsaPrivateKey, rsa::RsaPrivateKey)> = OnceLock::new();
    static K2048: OnceLock<(rsa::RsaPrivateKey, rsa::RsaPrivateKey)> = OnceLock::new();
    let cell = if bits == 1024 { &K1024 } else { &K2048 };
    cell.get_or_init(|| {
        let mut rng = rand_core::OsRng;
        (
            rsa::RsaPrivateKey::new(&mut rng, bits).unwrap(),
            rsa::RsaPrivateKey::new(&mut rng, bits).unwrap(),
        )
    })
}

fn public(k: &rsa::RsaPrivateKey) -> PublicKey {
    // rsa generates keys with e = 65537.
    assert_eq!(k.e(), &rsa::BigUint::from(65537u32));
    PublicKey::from_rsa_components(&k.n().to_bytes_be(), 65537).unwrap()
}

/// `None` when rsa 0.9 cannot sign that scheme (it refuses the largest PSS salt).
fn rsa_sign(k: &rsa::RsaPrivateKey, scheme: Scheme, digest: &[u8]) -> Option<Vec<u8>> {
    use rsa::{Pkcs1v15Sign, Pss};
    let mut rng = rand_core::OsRng;
    match scheme {
        Scheme::RsaPkcs1v15(h) => {
            let pad = match h {
                Hash::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
                Hash::Sha224 => Pkcs1v15Sign::new::<sha2::Sha224>(),
                Hash::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
                Hash::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
                Hash::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
            };
            Some(k.sign(pad, digest).unwrap())
        }
        Scheme::RsaPss { hash, salt_len } => {
            let pad = match hash {
                Hash::Sha1 => Pss::new_with_salt::<sha1::Sha1>(salt_len),
                Hash::Sha224 => Pss::new_with_salt::<sha2::Sha224>(salt_len),
                Hash::Sha256 => Pss::new_with_salt::<sha2::Sha256>(salt_len),
                Hash::Sha384 => Pss::new_with_salt::<sha2::Sha384>(salt_len),
                Hash::Sha512 => Pss::new_with_salt::<sha2::Sha512>(salt_len),
            };
            k.sign_with_rng(&mut rng, pad, digest).ok()
        }
        Scheme::Ecdsa { .. } => unreachable!(),
    }
}

/// Fixed EC secrets (any value below the group order works).
const SECRET_A: [u8; 48] = [0x11; 48];
const SECRET_B: [u8; 48] = [0x22; 48];

/// A signer: `None` when the curve cannot sign that digest (SHA-1 is shorter than half a
/// P-384 scalar, which RustCrypto's ECDSA refuses).
type EcSigner = Box<dyn Fn(&[u8], EcdsaEncoding) -> Option<Vec<u8>>>;

fn ec_key(curve: Curve, secret: &[u8; 48]) -> (PublicKey, EcSigner) {
    match curve {
        Curve::P256 => {
            let sk = p256::ecdsa::SigningKey::from_slice(&secret[..32]).unwrap();
            let point = sk.verifying_key().to_sec1_point(false).as_bytes().to_vec();
            let sign = move |digest: &[u8], enc: EcdsaEncoding| {
                let sig: p256::ecdsa::Signature = sk.sign_prehash(digest).ok()?;
                Some(match enc {
                    EcdsaEncoding::Fixed => sig.to_bytes().to_vec(),
                    EcdsaEncoding::Der => sig.to_der().as_bytes().to_vec(),
                })
            };
            (
                PublicKey::from_ec_point(curve, &point).unwrap(),
                Box::new(sign),
            )
        }
        Curve::P384 => {
            let sk = p384::ecdsa::SigningKey::from_slice(secret).unwrap();
            let point = sk.verifying_key().to_sec1_point(false).as_bytes().to_vec();
            let sign = move |digest: &[u8], enc: EcdsaEncoding| {
                let sig: p384::ecdsa::Signature = sk.sign_prehash(digest).ok()?;
                Some(match enc {
                    EcdsaEncoding::Fixed => sig.to_bytes().to_vec(),
                    EcdsaEncoding::Der => sig.to_der().as_bytes().to_vec(),
                })
            };
            (
                PublicKey::from_ec_point(curve, &point).unwrap(),
                Box::new(sign),
            )
        }
    }
}

/// Every scheme × hash × key type × encoding, each signing `message`.
fn cases(message: &[u8]) -> Vec<Case> {
    let mut out = Vec::new();
    for curve in [Curve::P256, Curve::P384] {
        let (key, sign) = ec_key(curve, &SECRET_A);
        let (other, _) = ec_key(curve, &SECRET_B);
        for hash in HASHES {
            for encoding in [EcdsaEncoding::Fixed, EcdsaEncoding::Der] {
                let scheme = Scheme::Ecdsa { hash, encoding };
                let Some(signature) = sign(&hash.digest(message), encoding) else {
                    // Both providers must refuse what cannot be signed, too.
                    assert!(!agree(
                        &key,
                        scheme,
                        message,
                        &[0x30, 0x06, 2, 1, 1, 2, 1, 1]
                    ));
                    continue;
                };
                out.push(Case {
                    key: key.clone(),
                    other: other.clone(),
                    scheme,
                    message: message.to_vec(),
                    signature,
                });
            }
        }
    }
    for bits in [1024, 2048] {
        let (k, k2) = rsa_keys(bits);
        for hash in HASHES {
            let max_salt = (bits - 1).div_ceil(8) - hash.size() - 2;
            let mut schemes = vec![Scheme::RsaPkcs1v15(hash)];
            for salt_len in [hash.size(), 0, max_salt - 1, max_salt] {
                schemes.push(Scheme::RsaPss { hash, salt_len });
            }
            for scheme in schemes {
                let Some(signature) = rsa_sign(k, scheme, &hash.digest(message)) else {
                    continue;
                };
                out.push(Case {
                    key: public(k),
                    other: public(k2),
                    scheme,
                    message: message.to_vec(),
                    signature,
                });
            }
        }
    }
    out
}

/// Both providers' answers, which must agree; returns whether they accepted.
fn agree(key: &PublicKey, scheme: Scheme, message: &[u8], signature: &[u8]) -> bool {
    let a = RUSTCRYPTO.verify(key, scheme, message, signature);
    let b = RING.verify(key, scheme, message, signature);
    assert_eq!(a, b, "{scheme} with {key}: rustcrypto {a:?}, ring {b:?}");
    let digest = scheme.hash().digest(message);
    let c = RUSTCRYPTO.verify_prehashed(key, scheme, &digest, signature);
    let d = RING.verify_prehashed(key, scheme, &digest, signature);
    assert_eq!(a, c, "{scheme}: prehashed differs");
    assert_eq!(c, d, "{scheme}: prehashed providers differ");
    a.is_ok()
}

#[test]
fn both_providers_accept_every_valid_signature() {
    let cases = cases(b"a TPMS_ATTEST, a TD quote body, a certificate's TBS");
    // ECDSA: 2 curves × 5 hashes × 2 encodings, less P-384 with SHA-1 (too short a digest).
    // RSA: 2 sizes × 5 hashes × (PKCS#1 v1.5 + PSS with 3 or 4 salt lengths).
    assert!(cases.len() >= 18 + 2 * 5 * 4, "{} cases", cases.len());
    for c in &cases {
        assert!(
            agree(&c.key, c.scheme, &c.message, &c.signature),
            "{} with {} rejected",
            c.scheme,
            c.key
        );
    }
}

#[test]
fn both_providers_reject_every_one_byte_mutation_and_the_wrong_key() {
    for c in cases(b"the signed bytes") {
        assert!(
            !agree(&c.other, c.scheme, &c.message, &c.signature),
            "{}",
            c.scheme
        );
        // The DER header and the first and last bytes of r and s (or of the RSA block), and a
        // sample of the rest.
        let n = c.signature.len();
        for i in (0..n).filter(|&i| i < 8 || i + 8 >= n || i % 16 == 0) {
            let mut sig = c.signature.clone();
            sig[i] ^= 0x01;
            assert!(
                !agree(&c.key, c.scheme, &c.message, &sig),
                "{} sig byte {i}",
                c.scheme
            );
        }
        for i in 0..c.message.len() {
            let mut msg = c.message.clone();
            msg[i] ^= 0x80;
            assert!(
                !agree(&c.key, c.scheme, &msg, &c.signature),
                "{} msg byte {i}",
                c.scheme
            );
        }
        let mut long = c.signature.clone();
        long.push(0);
        assert!(
            !agree(&c.key, c.scheme, &c.message, &long),
            "{} longer",
            c.scheme
        );
        let short = &c.signature[..c.signature.len() - 1];
        assert!(
            !agree(&c.key, c.scheme, &c.message, short),
            "{} shorter",
            c.scheme
        );
        assert!(
            !agree(&c.key, c.scheme, &c.message, &[]),
            "{} empty",
            c.scheme
        );
    }
}

#[test]
fn both_providers_reject_a_mutated_rsa_modulus_and_a_mutated_ec_point_is_refused_at_parse() {
    for c in cases(b"key mutation") {
        match (c.key.key_type(), c.key.ec_point()) {
            (KeyType::Ec(curve), Some(point)) => {
                // Keys are parsed by shared code: a point moved off the curve is refused before
                // any provider sees it.
                let mut p = point.to_vec();
                let last = p.len() - 1;
                p[last] ^= 1;
                assert!(PublicKey::from_ec_point(curve, &p).is_err());
            }
            _ => {
                let (k, _) = rsa_keys(c.key.rsa_modulus_len().unwrap() * 8);
                let mut n = k.n().to_bytes_be();
                let mid = n.len() / 2;
                n[mid] ^= 0x10;
                let mutated = PublicKey::from_rsa_components(&n, 65537).unwrap();
                assert!(
                    !agree(&mutated, c.scheme, &c.message, &c.signature),
                    "{}",
                    c.scheme
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Random byte edits anywhere in the signature (DER lengths and tags included).
    #[test]
    fn random_signature_edits_get_the_same_answer(
        which in 0usize..60,
        at in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        static CASES: OnceLock<Vec<Case>> = OnceLock::new();
        let cases = CASES.get_or_init(|| cases(b"proptest"));
        let c = &cases[which % cases.len()];
        let mut sig = c.signature.clone();
        let i = at.index(sig.len());
        sig[i] ^= xor;
        prop_assert!(!agree(&c.key, c.scheme, &c.message, &sig));
    }
}
