//! mr-tpm: TPM PCRs as measurement registers and TPM 2.0 quotes verified in pure Rust.
//!
//! Always available (pure Rust, no C): parsing of TPMS_ATTEST ([`Attest`]), TPMT_SIGNATURE
//! ([`Signature`]), TPMT_PUBLIC / TPM2B_PUBLIC ([`TpmPublic`]), SubjectPublicKeyInfo and X.509
//! AK keys ([`AkPublic`]), and quote verification ([`verify_quote`], [`verify_quote_signature`])
//! that yields [`mr_core::VerifiedRegisters`] with [`mr_core::Provenance::TpmQuote`].
//!
//! Feature `device` (links libtss2 through tss-esapi 7.x): [`device::Tpm`] (a TPM chosen by a
//! TCTI string), [`device::TpmPcr`] (one PCR in one bank as a
//! [`mr_core::MeasurementRegister`]), attestation keys and quotes.
//!
//! Feature `swtpm-harness` (implied by `device`; no C): [`harness::Swtpm`], a private swtpm on a
//! free loopback port for tests and demos.
//!
//! What this crate trusts: nothing in quotes, signatures or keys. What the caller must ensure:
//! that the AK really belongs to the TPM it thinks it does (an AK certificate chain, or a
//! credential activation); mr-tpm checks the quote against the key it is given.

#![forbid(unsafe_code)]

mod attest;
pub mod cert;
mod error;
mod public;
mod signature;
mod verify;
mod wire;

#[cfg(feature = "device")]
pub mod device;
#[cfg(feature = "swtpm-harness")]
pub mod harness;

// The API, curated: the quote verifier and what it reads and returns. The parsers' modules are
// private; their bounds and wire constants that a caller needs are named here.
pub use attest::{
    tpms_attest_bytes, Attest, Attested, ClockInfo, PcrBankSelection, PcrSelection, QuoteInfo,
    TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE,
};
pub use error::Error;
pub use public::{AkFormat, AkPublic, PublicParams, TpmPublic, MAX_KEY_FILE_SIZE};
pub use signature::{SigScheme, Signature};
pub use verify::{verify_quote, verify_quote_signature, SignedQuote};
