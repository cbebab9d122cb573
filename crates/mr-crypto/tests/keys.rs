//! Public keys as mr-crypto parses them: what an RSA or EC key must be before it verifies
//! anything (modulus size, exponent, curve, point), how a SubjectPublicKeyInfo picks the key
//! type, and what a parsed key reports about itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use der::asn1::{BitString, ObjectIdentifier};
use der::{Any, Encode};
use mr_crypto::{CryptoError, Curve, KeyType, PublicKey};
use rsa::pkcs1::EncodeRsaPublicKey;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const P256: &str = "1.2.840.10045.3.1.7";
const P384: &str = "1.3.132.0.34";
/// secp256k1 (SEC 2): a named curve mr does not verify on.
const SECP256K1: &str = "1.3.132.0.10";
/// id-Ed25519 (RFC 8410): a key algorithm mr does not verify with.
const ED25519: &str = "1.3.101.112";

/// A modulus of exactly `bits` bits (every bit set): the key checks do not need its factors.
fn modulus(bits: usize) -> Vec<u8> {
    let mut n = vec![0xffu8; bits.div_ceil(8)];
    n[0] >>= (8 - bits % 8) % 8;
    n
}

fn oid(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(s)
}

fn spki(algorithm: &str, parameters: Option<Any>, key: &[u8]) -> Vec<u8> {
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: oid(algorithm),
            parameters,
        },
        subject_public_key: BitString::from_bytes(key).unwrap(),
    }
    .to_der()
    .unwrap()
}

fn ec_spki(curve: &str, point: &[u8]) -> Vec<u8> {
    spki(
        EC_PUBLIC_KEY,
        Some(Any::encode_from(&oid(curve)).unwrap()),
        point,
    )
}

/// The uncompressed SEC 1 point of the P-256 key with secret scalar `secret`.
fn p256_point(secret: u64) -> Vec<u8> {
    let mut scalar = [0u8; 32];
    scalar[24..].copy_from_slice(&secret.to_be_bytes());
    let sk = p256::ecdsa::SigningKey::from_slice(&scalar).unwrap();
    sk.verifying_key().to_sec1_point(false).as_bytes().to_vec()
}

fn p384_point() -> Vec<u8> {
    let mut scalar = [0u8; 48];
    scalar[47] = 7;
    let sk = p384::ecdsa::SigningKey::from_slice(&scalar).unwrap();
    sk.verifying_key().to_sec1_point(false).as_bytes().to_vec()
}

#[test]
fn an_rsa_modulus_has_at_least_1024_bits() {
    let key = PublicKey::from_rsa_components(&modulus(1024), 65537).unwrap();
    assert_eq!(key.key_type(), KeyType::Rsa { bits: 1024 });
    assert_eq!(key.rsa_modulus_len(), Some(128));
    assert_eq!(key.to_string(), "RSA-1024");
    let e = PublicKey::from_rsa_components(&modulus(1023), 65537).unwrap_err();
    assert!(
        matches!(e, CryptoError::InvalidKey(ref m) if m.contains("1023 bits")),
        "{e}"
    );
}

#[test]
fn an_rsa_public_exponent_is_odd_and_at_least_3() {
    for exponent in [3, 5, 65537] {
        PublicKey::from_rsa_components(&modulus(2048), exponent).unwrap();
    }
    for exponent in [2, 4, 65536] {
        let e = PublicKey::from_rsa_components(&modulus(2048), exponent).unwrap_err();
        assert!(
            matches!(e, CryptoError::InvalidKey(ref m) if m.contains("exponent")),
            "{e}"
        );
    }
}

#[test]
fn an_rsa_key_gives_back_its_pkcs1_encoding_and_no_ec_point() {
    let key = PublicKey::from_rsa_components(&modulus(2048), 65537).unwrap();
    let expected = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&modulus(2048)),
        rsa::BigUint::from(65537u32),
    )
    .unwrap()
    .to_pkcs1_der()
    .unwrap();
    let der = key.rsa_pkcs1_der().unwrap();
    assert_eq!(der, expected.as_bytes());
    let again = PublicKey::from_pkcs1_der(&der).unwrap();
    assert_eq!(again.rsa_pkcs1_der(), Some(der));
    assert_eq!(key.ec_point(), None);
}

#[test]
fn an_ec_key_gives_back_its_point_and_no_rsa_parts() {
    let point = p256_point(1);
    let key = PublicKey::from_ec_point(Curve::P256, &point).unwrap();
    assert_eq!(key.ec_point(), Some(point.as_slice()));
    assert_eq!(key.rsa_modulus_len(), None);
    assert_eq!(key.rsa_pkcs1_der(), None);
    assert_eq!(key.to_string(), "ECC P-256");
    let key = PublicKey::from_ec_point(Curve::P384, &p384_point()).unwrap();
    assert_eq!(key.key_type(), KeyType::Ec(Curve::P384));
    assert_eq!(key.to_string(), "ECC P-384");
    assert_eq!(
        (Curve::P256.scalar_len(), Curve::P384.scalar_len()),
        (32, 48)
    );
    // A point on the other curve is not a key on this one.
    let e = PublicKey::from_ec_point(Curve::P384, &point).unwrap_err();
    assert!(matches!(e, CryptoError::InvalidKey(_)), "{e}");
}

#[test]
fn a_subject_public_key_info_names_the_key_type_and_curve() {
    let rsa = PublicKey::from_rsa_components(&modulus(2048), 65537).unwrap();
    let rsa_spki = spki(
        RSA_ENCRYPTION,
        Some(Any::null()),
        &rsa.rsa_pkcs1_der().unwrap(),
    );
    let key = PublicKey::from_spki_der(&rsa_spki).unwrap();
    assert_eq!(key.key_type(), KeyType::Rsa { bits: 2048 });

    let p256 = p256_point(1);
    let key = PublicKey::from_spki_der(&ec_spki(P256, &p256)).unwrap();
    assert_eq!(key.key_type(), KeyType::Ec(Curve::P256));
    assert_eq!(key.ec_point(), Some(p256.as_slice()));
    let p384 = p384_point();
    let key = PublicKey::from_spki_der(&ec_spki(P384, &p384)).unwrap();
    assert_eq!(key.key_type(), KeyType::Ec(Curve::P384));
    assert_eq!(key.ec_point(), Some(p384.as_slice()));

    // Other curves and other algorithms are unsupported (not "invalid", not misread as a
    // supported type).
    for other in [ec_spki(SECP256K1, &p256), spki(ED25519, None, &[0x11; 32])] {
        let e = PublicKey::from_spki_der(&other).unwrap_err();
        assert!(matches!(e, CryptoError::UnsupportedKey(_)), "{e}");
    }
}

#[test]
fn ec_coordinates_are_left_padded_to_the_curve_size() {
    // The first small secret whose public x coordinate starts with a zero byte, as a TPM may
    // give it without that byte.
    let point = (1..10_000)
        .map(p256_point)
        .find(|p| p[1] == 0)
        .expect("a point with a leading zero in x");
    let (x, y) = (&point[1..33], &point[33..]);
    for x in [&x[1..], x, &[&[0u8][..], x].concat()[..]] {
        let key = PublicKey::from_ec_coordinates(Curve::P256, x, y).unwrap();
        assert_eq!(key.ec_point(), Some(point.as_slice()));
    }
    let e = PublicKey::from_ec_coordinates(Curve::P256, &[&[1u8][..], x].concat(), y).unwrap_err();
    assert!(
        matches!(e, CryptoError::InvalidKey(ref m) if m.contains("longer than 32")),
        "{e}"
    );
    let p384 = p384_point();
    let key = PublicKey::from_ec_coordinates(Curve::P384, &p384[1..49], &p384[49..]).unwrap();
    assert_eq!(key.ec_point(), Some(p384.as_slice()));
}
