//! mr-crypto: the one place mr parses public keys and verifies signatures.
//!
//! - [`pem`]: the PEM finder (RFC 7468 blocks inside text, as in CA bundles and key files).
//! - [`PublicKey`]: RSA, ECDSA P-256 and P-384 keys from a SubjectPublicKeyInfo (RFC 5280
//!   §4.1.2.7, RFC 3279/5480), a PKCS#1 `RSAPublicKey` (RFC 8017 A.1.1), RSA components or an
//!   EC point (SEC 1 §2.3.3). Keys are parsed and checked the same way whatever the provider.
//! - [`CryptoProvider`]: signature verification (RSASSA-PKCS1-v1_5, RSASSA-PSS, ECDSA with
//!   SHA-1/SHA-2), as rustls does it: a struct of function pointers with one instance per
//!   backend. [`RUSTCRYPTO`] (pure Rust, always built) and, with feature `ring`, [`RING`]
//!   (assembly P-256/P-384 and RSA). [`default_provider`] is the one the other mr crates use:
//!   `RING` when the feature is on, else `RUSTCRYPTO`.
//!
//! Both providers accept exactly the same signatures: a combination that ring does not
//! implement (ECDSA with SHA-1, SHA-224 or SHA-512, P-256 with a fixed-size SHA-384 signature,
//! RSA keys under 2048 bits, PSS with a salt other than the digest length, SHA-224, and every
//! prehashed verification, for which ring has no API) is verified by the RustCrypto code inside
//! the ring provider. `tests/differential.rs` checks that the two agree on valid signatures and
//! on mutated signatures, messages and keys.

#![forbid(unsafe_code)]

pub mod pem;

mod key;
mod provider;
mod rustcrypto;

#[cfg(feature = "ring")]
mod ring_provider;

pub use key::{Curve, KeyType, PublicKey};
pub use provider::{default_provider, CryptoProvider, EcdsaEncoding, Hash, Scheme, RUSTCRYPTO};

#[cfg(feature = "ring")]
pub use provider::RING;

/// Why a key, a PEM block or a signature was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Not a PEM block (no BEGIN line, no END line, bad base64, label mismatch…).
    #[error("PEM: {0}")]
    Pem(String),
    /// The key's encoding is invalid (not DER, not a SubjectPublicKeyInfo, bad PKCS#1…).
    #[error("key encoding: {0}")]
    KeyEncoding(String),
    /// A key type or curve mr does not verify with (RSA, P-256 and P-384 are supported).
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// The key's value is invalid (a point not on the curve, an even RSA exponent…).
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The scheme does not fit the key (an ECDSA scheme for an RSA key, a PSS salt longer
    /// than the key allows…).
    #[error("scheme {scheme} does not fit a {key} key")]
    SchemeMismatch {
        /// The scheme asked for.
        scheme: String,
        /// The key's type.
        key: String,
    },
    /// The signature does not verify (including a malformed signature encoding).
    #[error("signature does not verify")]
    BadSignature,
}
