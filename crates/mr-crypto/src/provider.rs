//! The provider: signature schemes, and the struct of function pointers each backend fills.

use std::fmt;

use sha2::Digest as _;

use crate::key::{Inner, KeyType};
use crate::{CryptoError, PublicKey};

/// A hash a signature scheme uses (FIPS 180-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hash {
    /// SHA-1 (legacy TPM quotes and IMA signatures).
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Hash {
    /// The digest size in bytes.
    pub const fn size(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha224 => 28,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Hash::Sha224 => sha2::Sha224::digest(data).to_vec(),
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hash::Sha1 => "SHA-1",
            Hash::Sha224 => "SHA-224",
            Hash::Sha256 => "SHA-256",
            Hash::Sha384 => "SHA-384",
            Hash::Sha512 => "SHA-512",
        })
    }
}

/// How an ECDSA signature is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EcdsaEncoding {
    /// `r || s`, each the curve's scalar size, big-endian (TPM quotes once padded, TD quotes).
    Fixed,
    /// DER `Ecdsa-Sig-Value` (RFC 5480 §2.2.3; X.509 certificates, IMA signatures).
    Der,
}

/// A signature scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// RSASSA-PKCS1-v1_5 (RFC 8017 §8.2) with this hash.
    RsaPkcs1v15(Hash),
    /// RSASSA-PSS (RFC 8017 §8.1) with this hash (also for MGF1) and salt length.
    RsaPss {
        /// The message hash and MGF1 hash.
        hash: Hash,
        /// The salt length in bytes.
        salt_len: usize,
    },
    /// ECDSA (FIPS 186-5 §6.4) with this hash and signature encoding.
    Ecdsa {
        /// The message hash.
        hash: Hash,
        /// The signature encoding.
        encoding: EcdsaEncoding,
    },
}

impl Scheme {
    /// The scheme's hash.
    pub const fn hash(self) -> Hash {
        match self {
            Scheme::RsaPkcs1v15(hash)
            | Scheme::RsaPss { hash, .. }
            | Scheme::Ecdsa { hash, .. } => hash,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scheme::RsaPkcs1v15(h) => write!(f, "RSASSA-PKCS1-v1_5/{h}"),
            Scheme::RsaPss { hash, salt_len } => write!(f, "RSASSA-PSS/{hash}/salt {salt_len}"),
            Scheme::Ecdsa { hash, .. } => write!(f, "ECDSA/{hash}"),
        }
    }
}

/// The largest PSS salt a key allows: emLen - hLen - 2, emLen = ceil((modBits - 1) / 8)
/// (RFC 8017 §9.1.1).
pub(crate) fn max_pss_salt(key: &PublicKey, hash: Hash) -> Option<usize> {
    match key.key_type() {
        KeyType::Rsa { bits } => bits
            .saturating_sub(1)
            .div_ceil(8)
            .checked_sub(hash.size().saturating_add(2)),
        KeyType::Ec(_) => None,
    }
}

/// Does `scheme` fit `key`?
fn check_fit(key: &PublicKey, scheme: Scheme) -> Result<(), CryptoError> {
    let fits = match (&key.inner, scheme) {
        (Inner::Rsa { .. }, Scheme::RsaPkcs1v15(_)) => true,
        (Inner::Rsa { .. }, Scheme::RsaPss { hash, salt_len }) => {
            max_pss_salt(key, hash).is_some_and(|max| salt_len <= max)
        }
        (Inner::P256 { .. } | Inner::P384 { .. }, Scheme::Ecdsa { .. }) => true,
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(CryptoError::SchemeMismatch {
            scheme: scheme.to_string(),
            key: key.to_string(),
        })
    }
}

/// Verifies `signature` over `message` (or over a digest) with `key` under `scheme`.
pub(crate) type VerifyFn = fn(&PublicKey, Scheme, &[u8], &[u8]) -> Result<(), CryptoError>;

/// A signature-verification backend, as rustls's `CryptoProvider`: a name and the functions it
/// implements. Get one with [`default_provider`], [`RUSTCRYPTO`] or (feature `ring`) `RING`.
#[derive(Debug)]
pub struct CryptoProvider {
    name: &'static str,
    verify: VerifyFn,
    verify_prehashed: VerifyFn,
}

impl CryptoProvider {
    /// The provider's name (`rustcrypto`, `ring`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Verify `signature` over `message` (hashed here with the scheme's hash). A scheme that
    /// does not fit the key is [`CryptoError::SchemeMismatch`]; a signature that does not
    /// verify, malformed ones included, is [`CryptoError::BadSignature`].
    pub fn verify(
        &self,
        key: &PublicKey,
        scheme: Scheme,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        check_fit(key, scheme)?;
        (self.verify)(key, scheme, message, signature)
    }

    /// Verify `signature` over an already computed `digest` (which must be the scheme's hash
    /// size): for formats that sign a digest they carry, as IMA's `signature_v2_hdr` does.
    pub fn verify_prehashed(
        &self,
        key: &PublicKey,
        scheme: Scheme,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        check_fit(key, scheme)?;
        if digest.len() != scheme.hash().size() {
            return Err(CryptoError::BadSignature);
        }
        (self.verify_prehashed)(key, scheme, digest, signature)
    }
}

/// The pure-Rust provider (RustCrypto `rsa`, `p256`, `p384`, `sha2`): always available.
pub static RUSTCRYPTO: CryptoProvider = CryptoProvider {
    name: "rustcrypto",
    verify: crate::rustcrypto::verify,
    verify_prehashed: crate::rustcrypto::verify_prehashed,
};

/// The optimised provider (`ring`; RustCrypto for what ring does not implement, see the crate
/// documentation).
#[cfg(feature = "ring")]
pub static RING: CryptoProvider = CryptoProvider {
    name: "ring",
    verify: crate::ring_provider::verify,
    verify_prehashed: crate::rustcrypto::verify_prehashed,
};

/// The provider the mr crates verify with: `RING` with feature `ring`, else [`RUSTCRYPTO`].
pub fn default_provider() -> &'static CryptoProvider {
    #[cfg(feature = "ring")]
    {
        &RING
    }
    #[cfg(not(feature = "ring"))]
    {
        &RUSTCRYPTO
    }
}
