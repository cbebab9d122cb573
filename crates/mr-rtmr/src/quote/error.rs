//! Errors of TD quote parsing and verification.

use mr_core::error::ParseError;
use mr_core::ErrorClass;

/// Why a TD quote was refused. [`QuoteError::class`] tells malformed input (exit 2) from
/// well-formed evidence that does not verify (exit 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuoteError {
    /// The bytes do not have the quote's structure (truncated, lying length, bad value).
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A quote version other than 4 or 5.
    #[error("unsupported quote version {0} (expected 4 or 5)")]
    UnsupportedVersion(u16),
    /// An attestation key type other than ECDSA-256-with-P-256 (2).
    #[error("unsupported attestation key type {0} (only 2, ECDSA P-256, is supported)")]
    UnsupportedKeyType(u16),
    /// A TEE type other than TDX (0x81).
    #[error("TEE type {0:#x} is not TDX (0x81)")]
    NotTdx(u32),
    /// A quoting enclave from a vendor other than Intel.
    #[error("unknown QE vendor id {0}")]
    UnknownQeVendor(String),
    /// A v5 body type that is not a TD report (2 = TD 1.0, 3 = TD 1.5).
    #[error("unsupported quote body type {0} (expected 2 = TD 1.0 or 3 = TD 1.5)")]
    UnsupportedBodyType(u16),
    /// A v5 body whose size differs from its type's fixed size.
    #[error("body type {body_type} must be {expected} bytes, header says {got}")]
    BodySize {
        /// The body type.
        body_type: u16,
        /// The fixed size of that type.
        expected: u32,
        /// The size the descriptor gives.
        got: u32,
    },
    /// Certification data of a type this verifier cannot use.
    #[error("{what}: certification data type {got}, expected {expected}")]
    CertificationDataType {
        /// Which certification data (outer or inner).
        what: &'static str,
        /// The type required.
        expected: u16,
        /// The type found.
        got: u16,
    },
    /// The PCK certificate chain cannot be decoded (bad PEM or DER, too many certificates).
    #[error("PCK certificate chain: {0}")]
    CertChainEncoding(String),
    /// A root certificate given by the caller that does not decode.
    #[error("root certificate: {0}")]
    RootCertificate(String),
    /// Collateral that is not QuoteCollateralV3 JSON.
    #[error("collateral: {0}")]
    CollateralEncoding(String),
    /// An empty nonce: it proves no freshness, so asking for one is a usage error, never a match.
    #[error("the expected nonce is empty: an empty nonce proves no freshness")]
    EmptyNonce,
    /// A nonce longer than REPORTDATA (64 bytes).
    #[error("nonce is {0} bytes; at most 64 fit REPORTDATA")]
    NonceTooLong(usize),
    /// The PCK chain does not lead to the configured root, or a certificate in it is unusable.
    #[error("PCK certificate chain not trusted: {0}")]
    ChainUntrusted(String),
    /// A certificate of the chain is not valid at the verification time.
    #[error("certificate {subject:?} is not valid at {at} (valid {not_before} .. {not_after}, unix seconds)")]
    CertificateNotValidAt {
        /// Subject of the certificate.
        subject: String,
        /// The verification time (unix seconds).
        at: u64,
        /// Start of validity (unix seconds).
        not_before: u64,
        /// End of validity (unix seconds).
        not_after: u64,
    },
    /// The QE report signature does not verify under the PCK leaf key.
    #[error("QE report signature does not verify under the PCK certificate key")]
    QeReportSignature,
    /// The QE report data is not SHA-256(attestation key || QE auth data).
    #[error(
        "QE report data does not bind the attestation key (SHA-256(key || auth data) mismatch)"
    )]
    QeReportData,
    /// The attestation key is not a valid P-256 point.
    #[error("attestation key is not a valid P-256 public key")]
    AttestationKey,
    /// The quote signature does not verify under the attestation key.
    #[error("quote signature does not verify under the attestation key")]
    QuoteSignature,
    /// REPORTDATA differs from the nonce (zero-padded to 64 bytes).
    #[error("REPORTDATA {report_data} does not match the nonce (zero-padded) {expected}")]
    NonceMismatch {
        /// REPORTDATA of the quote, hex.
        report_data: String,
        /// The nonce zero-padded to 64 bytes, hex.
        expected: String,
    },
    /// The root certificate the PCK chain embeds is not the trust anchor.
    #[error("the PCK chain's root certificate {subject:?} (sha256 {embedded}) is not the trust anchor (sha256 {anchor}); it must be byte-equal to it")]
    EmbeddedRootMismatch {
        /// Subject of the embedded root.
        subject: String,
        /// SHA-256 of the embedded root's DER, hex.
        embedded: String,
        /// SHA-256 of the trust anchor's DER, hex.
        anchor: String,
    },
    /// The QE report is not from Intel's TDX quoting enclave.
    #[error("the QE report is not from Intel's TDX quoting enclave: MRSIGNER {mr_signer}, ISVPRODID {isv_prod_id} (Intel's TD QE: MRSIGNER dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5, ISVPRODID 2)")]
    QeNotIntelTdQe {
        /// MRSIGNER of the QE report, hex.
        mr_signer: String,
        /// ISVPRODID of the QE report.
        isv_prod_id: u16,
    },
    /// The quoting enclave runs in debug mode.
    #[error("the quoting enclave is in debug mode (SGX ATTRIBUTES.DEBUG set in the QE report): a debugger can read its attestation key")]
    QeDebug,
    /// A debug TD, not allowed by the options.
    #[error("debug TD (td_attributes {0}): the host can read and change its memory and registers; refused unless debug TDs are allowed")]
    DebugTd(String),
    /// The test signer of the simulated TD could not build a certificate or quote.
    #[cfg(feature = "sim")]
    #[error("test quote signer: {0}")]
    TestSigner(String),
    /// A step that cannot fail on any input failed (a bug in mr): reported, never a panic.
    #[error("internal error: {0}")]
    Internal(String),
    /// dcap-qvl refused the quote with the given collateral (TCB, QE identity, CRLs, dates).
    #[error("collateral verification (dcap-qvl): {0}")]
    Collateral(String),
}

impl QuoteError {
    /// Malformed input (exit 2) or evidence that does not verify (exit 1).
    pub fn class(&self) -> ErrorClass {
        match self {
            QuoteError::Parse(_)
            | QuoteError::UnsupportedVersion(_)
            | QuoteError::UnsupportedKeyType(_)
            | QuoteError::NotTdx(_)
            | QuoteError::UnsupportedBodyType(_)
            | QuoteError::BodySize { .. }
            | QuoteError::CertificationDataType { .. }
            | QuoteError::CertChainEncoding(_)
            | QuoteError::RootCertificate(_)
            | QuoteError::CollateralEncoding(_)
            | QuoteError::NonceTooLong(_)
            | QuoteError::EmptyNonce
            | QuoteError::Internal(_) => ErrorClass::Malformed,
            #[cfg(feature = "sim")]
            QuoteError::TestSigner(_) => ErrorClass::Malformed,
            QuoteError::UnknownQeVendor(_)
            | QuoteError::ChainUntrusted(_)
            | QuoteError::CertificateNotValidAt { .. }
            | QuoteError::QeReportSignature
            | QuoteError::QeReportData
            | QuoteError::AttestationKey
            | QuoteError::QuoteSignature
            | QuoteError::NonceMismatch { .. }
            | QuoteError::EmbeddedRootMismatch { .. }
            | QuoteError::QeNotIntelTdQe { .. }
            | QuoteError::QeDebug
            | QuoteError::DebugTd(_)
            | QuoteError::Collateral(_) => ErrorClass::Rejected,
        }
    }
}
