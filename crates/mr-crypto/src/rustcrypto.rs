//! The RustCrypto provider's functions.

use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use rsa::{Pkcs1v15Sign, Pss};

use crate::key::Inner;
use crate::provider::{EcdsaEncoding, Hash, Scheme};
use crate::{CryptoError, PublicKey};

/// Hash `message` with the scheme's hash, then verify the digest.
pub(crate) fn verify(
    key: &PublicKey,
    scheme: Scheme,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    verify_prehashed(key, scheme, &scheme.hash().digest(message), signature)
}

fn pkcs1v15(hash: Hash) -> Pkcs1v15Sign {
    match hash {
        Hash::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
        Hash::Sha224 => Pkcs1v15Sign::new::<sha2::Sha224>(),
        Hash::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
        Hash::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
        Hash::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
    }
}

fn pss(hash: Hash, salt_len: usize) -> Pss {
    match hash {
        Hash::Sha1 => Pss::new_with_salt::<sha1::Sha1>(salt_len),
        Hash::Sha224 => Pss::new_with_salt::<sha2::Sha224>(salt_len),
        Hash::Sha256 => Pss::new_with_salt::<sha2::Sha256>(salt_len),
        Hash::Sha384 => Pss::new_with_salt::<sha2::Sha384>(salt_len),
        Hash::Sha512 => Pss::new_with_salt::<sha2::Sha512>(salt_len),
    }
}

/// Verify `signature` over `digest` (checked by the caller to be the scheme's hash size).
pub(crate) fn verify_prehashed(
    key: &PublicKey,
    scheme: Scheme,
    digest: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    fn bad<E>(_: E) -> CryptoError {
        CryptoError::BadSignature
    }
    match (&key.inner, scheme) {
        (Inner::Rsa { key, .. }, Scheme::RsaPkcs1v15(hash)) => {
            key.verify(pkcs1v15(hash), digest, signature).map_err(bad)
        }
        (Inner::Rsa { key, .. }, Scheme::RsaPss { hash, salt_len }) => key
            .verify(pss(hash, salt_len), digest, signature)
            .map_err(bad),
        (Inner::P256 { key, .. }, Scheme::Ecdsa { encoding, .. }) => {
            let sig = match encoding {
                EcdsaEncoding::Fixed => p256::ecdsa::Signature::from_slice(signature),
                EcdsaEncoding::Der => p256::ecdsa::Signature::from_der(signature),
            }
            .map_err(bad)?;
            key.verify_prehash(digest, &sig).map_err(bad)
        }
        (Inner::P384 { key, .. }, Scheme::Ecdsa { encoding, .. }) => {
            let sig = match encoding {
                EcdsaEncoding::Fixed => p384::ecdsa::Signature::from_slice(signature),
                EcdsaEncoding::Der => p384::ecdsa::Signature::from_der(signature),
            }
            .map_err(bad)?;
            key.verify_prehash(digest, &sig).map_err(bad)
        }
        // `CryptoProvider` checked that the scheme fits the key.
        _ => Err(CryptoError::SchemeMismatch {
            scheme: scheme.to_string(),
            key: key.to_string(),
        }),
    }
}
