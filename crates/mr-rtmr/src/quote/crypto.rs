//! Every ECDSA P-256 signature of a TD quote, its PCK chain and its collateral, verified through
//! mr-crypto's provider ([`mr_crypto::default_provider`]), dcap-qvl's included, with a cache of
//! signatures that verified.
//!
//! dcap-qvl takes its signature algorithm from a [`dcap_qvl::config::Config`]; [`MrDcapConfig`]
//! gives it [`ProviderP256Sha256`], which verifies through the provider.
//!
//! The cache ("collateral once per platform"): a verifier sees many quotes from few platforms,
//! and most signatures it checks belong to the platform, not to the quote — the PCK chain, the
//! TCB info and QE identity signatures and their issuer chains, the PCK and root CA CRLs. The
//! cache remembers that an exact (public key, message, signature) triple verified, keyed by a
//! SHA-256 over the three (length-prefixed), so a changed byte anywhere — in the collateral,
//! the chain, the trust anchor's key — is a miss and is verified again. Only the signature
//! arithmetic is cached: a signature's validity does not depend on time or policy, and every
//! other check (validity periods and nextUpdate against the verification time, CRL contents,
//! the chain walk up to the configured root, the TCB level) runs on every quote. The cache is
//! process-wide and bounded ([`SIGNATURE_CACHE_CAPACITY`] entries, emptied when full). The
//! quote's own signature, new with every quote, is always verified and never remembered.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use mr_crypto::{default_provider, Curve, EcdsaEncoding, Hash, PublicKey, Scheme};
use rustls_pki_types::{alg_id, AlgorithmIdentifier, InvalidSignature};
use sha2::{Digest as _, Sha256, Sha384};

/// At most this many verified signatures are remembered (32 bytes each); the cache is emptied
/// when it is full.
pub const SIGNATURE_CACHE_CAPACITY: usize = 4096;

static VERIFIED: Mutex<Option<HashSet<[u8; 32]>>> = Mutex::new(None);
static HITS: AtomicU64 = AtomicU64::new(0);
static MISSES: AtomicU64 = AtomicU64::new(0);

/// Counters of the verified-signature cache (process-wide, since the process started).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureCacheStats {
    /// Signatures found verified in the cache (no arithmetic done).
    pub hits: u64,
    /// Signatures verified by the provider (valid or not).
    pub misses: u64,
    /// Verified signatures remembered now.
    pub entries: usize,
}

/// The verified-signature cache's counters.
pub fn signature_cache_stats() -> SignatureCacheStats {
    let entries = VERIFIED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map_or(0, HashSet::len);
    SignatureCacheStats {
        hits: HITS.load(Ordering::Relaxed),
        misses: MISSES.load(Ordering::Relaxed),
        entries,
    }
}

/// Forget every verified signature (e.g. after a trust-anchor rotation, to start cold; never
/// needed for correctness).
pub fn clear_signature_cache() {
    *VERIFIED.lock().unwrap_or_else(PoisonError::into_inner) = None;
}

fn cache_key(
    encoding: EcdsaEncoding,
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"mr-rtmr verified ECDSA P-256 SHA-256\0");
    h.update([encoding as u8]);
    for part in [public_key, message, signature] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// Verify an ECDSA P-256 / SHA-256 `signature` over `message` by the SEC 1 `public_key`,
/// through the provider, remembering the triples that verified.
pub(crate) fn verify_p256(
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
    encoding: EcdsaEncoding,
) -> Result<(), mr_crypto::CryptoError> {
    let key = cache_key(encoding, public_key, message, signature);
    let lock = || VERIFIED.lock().unwrap_or_else(PoisonError::into_inner);
    if lock().as_ref().is_some_and(|set| set.contains(&key)) {
        HITS.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    }
    MISSES.fetch_add(1, Ordering::Relaxed);
    verify_p256_uncached(public_key, message, signature, encoding)?;
    let mut guard = lock();
    let set = guard.get_or_insert_with(HashSet::new);
    if set.len() >= SIGNATURE_CACHE_CAPACITY {
        set.clear();
    }
    set.insert(key);
    Ok(())
}

/// Verify an ECDSA P-256 / SHA-256 `signature` over `message` by the SEC 1 `public_key`,
/// through the provider, without the cache: for a quote's own signature, which is new with every
/// quote (remembering it would only push the platform's signatures out of the cache).
pub(crate) fn verify_p256_uncached(
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
    encoding: EcdsaEncoding,
) -> Result<(), mr_crypto::CryptoError> {
    let public = PublicKey::from_ec_point(Curve::P256, public_key)?;
    let scheme = Scheme::Ecdsa {
        hash: Hash::Sha256,
        encoding,
    };
    default_provider().verify(&public, scheme, message, signature)
}

/// ECDSA P-256 with SHA-256 for dcap-qvl and webpki, verified by [`verify_p256`].
#[derive(Debug)]
pub struct ProviderP256Sha256;

impl rustls_pki_types::SignatureVerificationAlgorithm for ProviderP256Sha256 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        verify_p256(public_key, message, signature, EcdsaEncoding::Der)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P256
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_SHA256
    }
}

static P256_SHA256: ProviderP256Sha256 = ProviderP256Sha256;

/// dcap-qvl's crypto through mr-crypto's provider (signatures) and sha2 (hashes).
pub struct MrDcapCrypto;

impl dcap_qvl::config::CryptoProvider for MrDcapCrypto {
    fn sig_algo() -> &'static dyn rustls_pki_types::SignatureVerificationAlgorithm {
        &P256_SHA256
    }

    fn sha256(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    fn sha384(data: &[u8]) -> [u8; 48] {
        Sha384::digest(data).into()
    }
}

/// dcap-qvl's audited X.509 parser and signature encoder, with [`MrDcapCrypto`].
pub struct MrDcapConfig;

impl dcap_qvl::config::Config for MrDcapConfig {
    type X509 = dcap_qvl::x509::X509CertBackend;
    type SigEncoder = dcap_qvl::signature::DerSigEncoder;
    type Crypto = MrDcapCrypto;
}
