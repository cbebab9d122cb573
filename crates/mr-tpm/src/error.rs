//! The one error type of mr-tpm.

use mr_core::error::ParseError;
use mr_core::{ErrorClass, HashAlg};

/// Errors of mr-tpm: malformed input, evidence that does not verify, device failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A TPM structure that cannot be parsed: format `"tpm"`, the structure being read (e.g.
    /// `"TPMS_ATTEST magic"`, `"TPM2B_DATA extraData"`), the byte offset and what is wrong.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// An algorithm id that mr-tpm does not support in this place.
    #[error("unsupported {what} algorithm 0x{id:04x}")]
    UnsupportedAlgorithm {
        /// Where it was found (e.g. `"signature scheme"`, `"PCR bank"`, `"ECC curve"`).
        what: &'static str,
        /// The TCG algorithm (or curve) id.
        id: u16,
    },
    /// A public key or certificate (PEM, DER, TPMT_PUBLIC) that cannot be used.
    #[error("invalid attestation key: {0}")]
    InvalidKey(String),
    /// The attested structure does not start with TPM_GENERATED_VALUE: the TPM did not make it.
    #[error("attestation magic 0x{0:08x} is not TPM_GENERATED_VALUE (0xff544347)")]
    WrongMagic(u32),
    /// The attested structure is not a quote.
    #[error("attestation type 0x{0:04x} is not TPM_ST_ATTEST_QUOTE (0x8018)")]
    WrongType(u16),
    /// The signature's scheme or hash does not fit the attestation key.
    #[error("signature scheme {signature} does not fit the attestation key ({key})")]
    KeySchemeMismatch {
        /// The signature's scheme and hash (e.g. `"ECDSA/sha256"`).
        signature: String,
        /// The key and the scheme it allows (e.g. `"RSA-2048, RSASSA/sha256"`).
        key: String,
    },
    /// The AK is not a restricted signing key, so its signature does not prove the TPM made the data.
    #[error("attestation key is not a restricted signing key (objectAttributes 0x{0:08x})")]
    NotRestrictedSigningKey(u32),
    /// The signature does not verify with the attestation key.
    #[error("bad signature: the quote is not signed by this attestation key")]
    BadSignature,
    /// The quote's extraData is not the expected nonce.
    #[error("wrong nonce: quote carries {quoted}, expected {expected}")]
    WrongNonce {
        /// The nonce expected (hex).
        expected: String,
        /// The quote's extraData (hex).
        quoted: String,
    },
    /// The caller asked for an empty nonce: an empty extraData proves no freshness, so it is a
    /// usage error, never a match.
    #[error("the expected nonce is empty: an empty nonce proves no freshness")]
    EmptyNonce,
    /// The supplied PCR values do not hash to the quote's pcrDigest.
    #[error("PCR digest mismatch: the quote's pcrDigest is {quoted}, the supplied PCR values hash to {computed}")]
    PcrDigestMismatch {
        /// pcrDigest from the quote (hex).
        quoted: String,
        /// Hash of the supplied values in selection order (hex).
        computed: String,
    },
    /// The quote selects a PCR for which no value was supplied.
    #[error("no value supplied for pcr{index} {alg}, which the quote selects")]
    MissingPcrValue {
        /// PCR index.
        index: u32,
        /// Bank.
        alg: HashAlg,
    },
    /// Two different values were supplied for the same PCR and bank.
    #[error("two different values supplied for pcr{index} {alg}")]
    ConflictingPcrValue {
        /// PCR index.
        index: u32,
        /// Bank.
        alg: HashAlg,
    },
    /// A certificate is not signed by the issuer given (or its issuer name does not match).
    #[error("certificate chain: {0}")]
    CertificateChain(String),
    /// The TPM (or the connection to it) failed.
    #[error("TPM device: {0}")]
    Device(String),
    /// The swtpm test harness could not start or reach swtpm.
    #[error("swtpm harness: {0}")]
    Harness(String),
}

impl Error {
    /// What this error means to a verifier (CLI exit code 2 for malformed, 1 for rejected).
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Parse(_)
            | Error::UnsupportedAlgorithm { .. }
            | Error::InvalidKey(_)
            | Error::ConflictingPcrValue { .. }
            | Error::EmptyNonce => ErrorClass::Malformed,
            Error::WrongMagic(_)
            | Error::WrongType(_)
            | Error::KeySchemeMismatch { .. }
            | Error::NotRestrictedSigningKey(_)
            | Error::BadSignature
            | Error::WrongNonce { .. }
            | Error::PcrDigestMismatch { .. }
            | Error::MissingPcrValue { .. }
            | Error::CertificateChain(_) => ErrorClass::Rejected,
            Error::Device(_) | Error::Harness(_) => ErrorClass::Device,
        }
    }
}

#[cfg(feature = "device")]
impl From<tss_esapi::Error> for Error {
    fn from(e: tss_esapi::Error) -> Self {
        Error::Device(e.to_string())
    }
}
