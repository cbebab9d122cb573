//! The ring provider's functions: ring for every combination it implements, the RustCrypto
//! code for the rest (see the crate documentation), so both providers accept the same set.

use ring::signature::{self as rs, RsaPublicKeyComponents, UnparsedPublicKey};

use crate::key::{Inner, KeyType};
use crate::provider::{EcdsaEncoding, Hash, Scheme};
use crate::{CryptoError, PublicKey};

/// ring's RSA parameters accept moduli of 2048 to 8192 bits.
const RING_RSA_MIN_BITS: usize = 2048;

/// The ring algorithm for `scheme` with `key`, if ring implements that combination.
fn ring_rsa(key: &PublicKey, scheme: Scheme) -> Option<&'static rs::RsaParameters> {
    if !matches!(key.key_type(), KeyType::Rsa { bits } if bits >= RING_RSA_MIN_BITS) {
        return None;
    }
    match scheme {
        Scheme::RsaPkcs1v15(Hash::Sha1) => Some(&rs::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY),
        Scheme::RsaPkcs1v15(Hash::Sha256) => Some(&rs::RSA_PKCS1_2048_8192_SHA256),
        Scheme::RsaPkcs1v15(Hash::Sha384) => Some(&rs::RSA_PKCS1_2048_8192_SHA384),
        Scheme::RsaPkcs1v15(Hash::Sha512) => Some(&rs::RSA_PKCS1_2048_8192_SHA512),
        // ring's PSS verification requires a salt as long as the digest.
        Scheme::RsaPss { hash, salt_len } if salt_len == hash.size() => match hash {
            Hash::Sha256 => Some(&rs::RSA_PSS_2048_8192_SHA256),
            Hash::Sha384 => Some(&rs::RSA_PSS_2048_8192_SHA384),
            Hash::Sha512 => Some(&rs::RSA_PSS_2048_8192_SHA512),
            _ => None,
        },
        _ => None,
    }
}

fn ring_ecdsa(key: &PublicKey, scheme: Scheme) -> Option<&'static rs::EcdsaVerificationAlgorithm> {
    let Scheme::Ecdsa { hash, encoding } = scheme else {
        return None;
    };
    match (&key.inner, hash, encoding) {
        (Inner::P256 { .. }, Hash::Sha256, EcdsaEncoding::Fixed) => {
            Some(&rs::ECDSA_P256_SHA256_FIXED)
        }
        (Inner::P256 { .. }, Hash::Sha256, EcdsaEncoding::Der) => Some(&rs::ECDSA_P256_SHA256_ASN1),
        (Inner::P256 { .. }, Hash::Sha384, EcdsaEncoding::Der) => Some(&rs::ECDSA_P256_SHA384_ASN1),
        (Inner::P384 { .. }, Hash::Sha384, EcdsaEncoding::Fixed) => {
            Some(&rs::ECDSA_P384_SHA384_FIXED)
        }
        (Inner::P384 { .. }, Hash::Sha256, EcdsaEncoding::Der) => Some(&rs::ECDSA_P384_SHA256_ASN1),
        (Inner::P384 { .. }, Hash::Sha384, EcdsaEncoding::Der) => Some(&rs::ECDSA_P384_SHA384_ASN1),
        _ => None,
    }
}

/// Verify with ring where it implements the combination, else with the RustCrypto code.
pub(crate) fn verify(
    key: &PublicKey,
    scheme: Scheme,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    let bad = |_: ring::error::Unspecified| CryptoError::BadSignature;
    match &key.inner {
        Inner::Rsa { n, e, .. } => match ring_rsa(key, scheme) {
            Some(params) => RsaPublicKeyComponents { n, e }
                .verify(params, message, signature)
                .map_err(bad),
            None => crate::rustcrypto::verify(key, scheme, message, signature),
        },
        Inner::P256 { point, .. } | Inner::P384 { point, .. } => match ring_ecdsa(key, scheme) {
            Some(alg) => UnparsedPublicKey::new(alg, point)
                .verify(message, signature)
                .map_err(bad),
            None => crate::rustcrypto::verify(key, scheme, message, signature),
        },
    }
}
