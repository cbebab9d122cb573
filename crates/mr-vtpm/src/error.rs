//! The one error type of mr-vtpm.

use mr_core::error::ParseError;
use mr_core::ErrorClass;

/// Errors of mr-vtpm: malformed evidence, and each link of the chain that does not verify
/// (hardware report → runtime data → AK → TPM quote), named after the link.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An HCL report or SNP report that cannot be parsed (format `"hcl report"` or
    /// `"snp report"`, the structure, the byte offset).
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The evidence JSON (trustee's format) or the runtime data JSON cannot be read.
    #[error("malformed {what}: {why}")]
    Json {
        /// `"evidence JSON"` or `"runtime data JSON"`.
        what: &'static str,
        /// serde_json's message, or the field that is wrong.
        why: String,
    },
    /// A key in the runtime data that cannot be used (not RSA, bad base64url, missing).
    #[error("runtime data key {kid}: {why}")]
    RuntimeDataKey {
        /// The key's `kid` (`HCLAkPub`).
        kid: String,
        /// What is wrong.
        why: String,
    },
    /// The HCL report carries another hardware report than the evidence type needs.
    #[error("the HCL report carries a {found} report, this evidence needs {expected}")]
    WrongReportType {
        /// The evidence type's report (`"TDX"`, `"SNP"`).
        expected: &'static str,
        /// The HCL report's.
        found: String,
    },
    /// The runtime data is hashed with an algorithm mr does not take (only SHA-256 is defined
    /// for the binding to REPORTDATA).
    #[error("runtime data hash type {0} is not SHA-256 (1)")]
    UnsupportedHashType(u32),
    /// A certificate (VCEK, ASK, ARK, AK certificate) that cannot be decoded.
    #[error("certificate: {0}")]
    Certificate(String),
    /// Options that contradict the evidence type (e.g. a REPORTDATA nonce for a TD quote whose
    /// REPORTDATA carries the runtime data's hash).
    #[error("usage: {0}")]
    Usage(String),

    /// The TD quote does not verify (its PCK chain, signatures, QE, debug TD, collateral).
    #[error("TD quote: {0}")]
    TdQuote(#[source] mr_rtmr::Error),
    /// The VCEK does not chain to an ARK of the bundle given, or is not valid at the time.
    #[error("VCEK chain: {0}")]
    VcekChain(String),
    /// The VCEK's extensions do not match the SNP report (chip id or reported TCB).
    #[error("VCEK does not match the SNP report: {0}")]
    VcekMismatch(String),
    /// The SNP report's signature does not verify with the VCEK.
    #[error("SNP report signature does not verify with the VCEK")]
    SnpReportSignature,
    /// The SNP report was not requested at VMPL 0 (the paravisor's level): a guest at another
    /// VMPL can ask for reports with report data of its choosing.
    #[error("SNP report VMPL is {0}, not 0: not made by the paravisor")]
    SnpVmpl(u32),
    /// The SNP guest policy allows debugging (the host can read and change the guest).
    #[error("SNP guest policy 0x{0:016x} allows debugging")]
    SnpDebug(u64),
    /// REPORTDATA of the hardware report is not SHA-256 of the runtime data: the runtime data
    /// (and the AK in it) is not the one the hardware vouched for.
    #[error("runtime data not bound: REPORTDATA[0..32] is {report_data}, SHA-256 of the runtime data is {runtime_data}")]
    RuntimeDataBinding {
        /// The hardware report's REPORTDATA[0..32], hex.
        report_data: String,
        /// SHA-256 of the runtime data, hex.
        runtime_data: String,
    },
    /// The TPM quote does not verify with the AK of the runtime data (signature, nonce, PCR
    /// digest).
    #[error("vTPM quote: {0}")]
    TpmQuote(#[source] mr_tpm::Error),
}

impl Error {
    /// What this error means to a verifier (CLI exit code 2 for malformed, 1 for rejected).
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Parse(_)
            | Error::Json { .. }
            | Error::RuntimeDataKey { .. }
            | Error::WrongReportType { .. }
            | Error::UnsupportedHashType(_)
            | Error::Certificate(_)
            | Error::Usage(_) => ErrorClass::Malformed,
            Error::TdQuote(e) => match e {
                mr_rtmr::Error::Quote(q) => q.class(),
                mr_rtmr::Error::Core(c) => c.class(),
                _ => ErrorClass::Malformed,
            },
            Error::TpmQuote(e) => e.class(),
            Error::VcekChain(_)
            | Error::VcekMismatch(_)
            | Error::SnpReportSignature
            | Error::SnpVmpl(_)
            | Error::SnpDebug(_)
            | Error::RuntimeDataBinding { .. } => ErrorClass::Rejected,
        }
    }

    /// A short machine-readable name of the link that failed (`td_quote`, `vcek_chain`,
    /// `snp_report_signature`, `runtime_data_binding`, `vtpm_quote_signature`, `wrong_nonce`,
    /// `pcr_digest_mismatch`, …), or `malformed`.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::TdQuote(_) => "td_quote",
            Error::VcekChain(_) => "vcek_chain",
            Error::VcekMismatch(_) => "vcek_mismatch",
            Error::SnpReportSignature => "snp_report_signature",
            Error::SnpVmpl(_) => "snp_vmpl",
            Error::SnpDebug(_) => "snp_debug",
            Error::RuntimeDataBinding { .. } => "runtime_data_binding",
            Error::TpmQuote(e) => match e {
                mr_tpm::Error::BadSignature => "vtpm_quote_signature",
                mr_tpm::Error::WrongNonce { .. } => "wrong_nonce",
                mr_tpm::Error::PcrDigestMismatch { .. } => "pcr_digest_mismatch",
                mr_tpm::Error::EmptyNonce => "malformed",
                _ if e.class() == ErrorClass::Rejected => "vtpm_quote",
                _ => "malformed",
            },
            _ => "malformed",
        }
    }
}
