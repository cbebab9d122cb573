//! TD quotes (DCAP v4 and v5): parse and verify (docs/formats.md#td-quote).
//!
//! [`parse`] reads a quote in place (v4 with a TD 1.0 body; v5 with a TD 1.0 or TD 1.5 body,
//! whose 6-byte body descriptor is part of the signed bytes) and tolerates trailing bytes after
//! the signature data, reporting them. [`verify`] then checks, in this order:
//!
//! 1. header: version 4 or 5, ECDSA P-256 attestation key, TEE type TDX, Intel QE vendor id;
//! 2. the PCK certificate chain (PEM, certification data type 5 inside type 6) up to the
//!    configured root — by default the Intel SGX Root CA — with every certificate valid at the
//!    verification time the caller supplies (verification never reads the clock), and the root
//!    certificate the chain embeds byte-equal to that trust anchor;
//! 3. the QE report signature, by the PCK leaf key;
//! 4. the QE report data: its first 32 bytes equal SHA-256(attestation key || QE auth data)
//!    (Intel's QVL compares those 32 bytes; the rest is padding);
//! 5. the quote signature, by the attestation key, over the signed bytes;
//! 6. REPORTDATA against the nonce, if one is given (see [`VerifyOptions::nonce`]);
//! 7. with collateral (dcap-qvl's `QuoteCollateralV3` JSON): the full DCAP verification
//!    (TCB info, QE identity, CRLs, TCB level) through `dcap-qvl`, giving the TCB status.
//!    dcap-qvl then also performs steps 2-5 (against the same root and time, adding the PCK and
//!    root CRLs), so they are not repeated: a failure there is reported as
//!    [`QuoteError::Collateral`] with dcap-qvl's reason. Every signature, dcap-qvl's included,
//!    is verified through mr-crypto's provider, and the ones that verified are cached (a
//!    verifier checks a platform's collateral once; see [`signature_cache_stats`]);
//! 8. with or without collateral, the rules that need none: the QE report is from Intel's TDX
//!    quoting enclave ([`INTEL_TD_QE_MRSIGNER`], [`INTEL_TD_QE_ISVPRODID`]) and that enclave
//!    is not in debug mode; the TD is not a debug TD ([`TdAttributes::is_debug`]) unless the
//!    caller allows it ([`VerifyOptions::allow_debug_td`]). See docs/tdx-quote.md.
//!
//! The result is [`VerifiedQuote`], whose [`VerifiedQuote::registers`] hold MRTD and RTMR0-3 as
//! SHA-384 values with [`Provenance::TdQuote`].

mod chain;
mod crypto;
mod error;
mod intel_root;
pub mod layout;
mod parse;
mod qe_identity;
mod td_attributes;

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use mr_core::{Digest, ExpectedRegisters, HashAlg, MrId, Provenance, VerifiedRegisters};
use mr_crypto::{CryptoError, EcdsaEncoding};
use sha2::{Digest as _, Sha256};

pub use chain::MAX_CHAIN_CERTS;
pub use crypto::{
    clear_signature_cache, signature_cache_stats, SignatureCacheStats, SIGNATURE_CACHE_CAPACITY,
};
pub use error::QuoteError;
pub use intel_root::INTEL_SGX_ROOT_CA_DER;
pub use parse::{Quote, SignatureData, TdBody};
pub use qe_identity::{INTEL_TD_QE_ISVPRODID, INTEL_TD_QE_MRSIGNER, SGX_ATTRIBUTES_DEBUG};
pub use td_attributes::TdAttributes;

use chain::TrustAnchor;

/// Parse a v4 or v5 TD quote without verifying anything.
pub fn parse(bytes: &[u8]) -> Result<Quote<'_>, crate::Error> {
    parse::parse(bytes).map_err(crate::Error::from)
}

/// DCAP collateral for the full TCB evaluation: dcap-qvl's `QuoteCollateralV3`
/// (PCK CRL and issuer chain, root CA CRL, TCB info and QE identity with their signatures and
/// issuer chains).
#[derive(Clone, Debug)]
pub struct Collateral(dcap_qvl::QuoteCollateralV3);

impl Collateral {
    /// Decode `QuoteCollateralV3` JSON (CRLs and signatures as hex strings, chains as PEM).
    pub fn from_json(json: &[u8]) -> Result<Collateral, crate::Error> {
        serde_json::from_slice(json)
            .map(Collateral)
            .map_err(|e| QuoteError::CollateralEncoding(e.to_string()).into())
    }

    /// The `issueDate` (RFC 3339, as signed by Intel) of the TCB info (`("tcb_info", …)`) and
    /// of the QE identity (`("qe_identity", …)`), read from the signed body (or from the body
    /// inside PCS's `{"tcbInfo": …}` / `{"enclaveIdentity": …}` wrapper); a part whose JSON has
    /// none is left out.
    pub fn issue_dates(&self) -> Vec<(&'static str, String)> {
        let date = |json: &str, wrapper: &str| {
            let v: serde_json::Value = serde_json::from_str(json).ok()?;
            let body = v.get(wrapper).unwrap_or(&v);
            body.get("issueDate")?.as_str().map(str::to_owned)
        };
        let mut out = Vec::new();
        if let Some(d) = date(&self.0.tcb_info, "tcbInfo") {
            out.push(("tcb_info", d));
        }
        if let Some(d) = date(&self.0.qe_identity, "enclaveIdentity") {
            out.push(("qe_identity", d));
        }
        out
    }
}

/// The TCB status that dcap-qvl derived from the collateral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcbStatus {
    /// Intel's status name: `UpToDate`, `SWHardeningNeeded`, `ConfigurationNeeded`,
    /// `ConfigurationAndSWHardeningNeeded`, `OutOfDate`, `OutOfDateConfigurationNeeded`,
    /// `TDRelaunchAdvised`, ….
    pub status: String,
    /// Intel security advisories that apply (e.g. `INTEL-SA-00615`).
    pub advisory_ids: Vec<String>,
}

impl TcbStatus {
    /// True for `UpToDate`.
    pub fn is_up_to_date(&self) -> bool {
        self.status == "UpToDate"
    }
}

/// What [`verify`] checks against.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// The trust anchor (DER). `None` = the Intel SGX Root CA ([`INTEL_SGX_ROOT_CA_DER`]).
    pub root_der: Option<Vec<u8>>,
    /// The verification time: every certificate (and, with collateral, every CRL, TCB info and
    /// QE identity) must be valid then. The library never reads the clock.
    pub at: SystemTime,
    /// The nonce REPORTDATA must carry. Mapping: a nonce of at most 64 bytes must equal
    /// REPORTDATA with REPORTDATA's bytes after the nonce all zero (i.e. REPORTDATA = nonce
    /// zero-padded on the right to 64 bytes). A nonce longer than 64 bytes is an error
    /// ([`QuoteError::NonceTooLong`]); hash a longer value yourself first. `None` = REPORTDATA
    /// is not checked (it is still returned).
    pub nonce: Option<Vec<u8>>,
    /// Collateral for the full TCB evaluation through dcap-qvl; `None` = signature chain only
    /// and no TCB status.
    pub collateral: Option<Collateral>,
    /// Accept a debug TD (TD attributes DEBUG set), whose memory and registers the host can
    /// read and write. Default `false`: a debug TD is refused ([`QuoteError::DebugTd`]).
    pub allow_debug_td: bool,
}

impl VerifyOptions {
    /// Options for verification at time `at`, Intel root, no nonce, no collateral.
    pub fn new(at: SystemTime) -> VerifyOptions {
        VerifyOptions {
            root_der: None,
            at,
            nonce: None,
            collateral: None,
            allow_debug_td: false,
        }
    }

    /// Options for verification at `unix_secs` seconds after the Unix epoch.
    pub fn at_unix(unix_secs: u64) -> VerifyOptions {
        VerifyOptions::new(UNIX_EPOCH + std::time::Duration::from_secs(unix_secs))
    }

    /// Use `der` as the root CA instead of Intel's.
    pub fn with_root_der(mut self, der: impl Into<Vec<u8>>) -> VerifyOptions {
        self.root_der = Some(der.into());
        self
    }

    /// Require REPORTDATA = `nonce` zero-padded to 64 bytes.
    pub fn with_nonce(mut self, nonce: impl Into<Vec<u8>>) -> VerifyOptions {
        self.nonce = Some(nonce.into());
        self
    }

    /// Evaluate the TCB with this collateral.
    pub fn with_collateral(mut self, collateral: Collateral) -> VerifyOptions {
        self.collateral = Some(collateral);
        self
    }

    /// Accept (`true`) or refuse (`false`, the default) a debug TD.
    pub fn allow_debug_td(mut self, allow: bool) -> VerifyOptions {
        self.allow_debug_td = allow;
        self
    }
}

/// A TD quote that verified: its registers, REPORTDATA and (with collateral) TCB status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedQuote {
    registers: VerifiedRegisters,
    report_data: [u8; 64],
    tcb_status: Option<TcbStatus>,
    version: u16,
    body_type: u16,
    td_attributes: TdAttributes,
    tee_tcb_svn: [u8; 16],
    tee_tcb_svn2: Option<[u8; 16]>,
    trailing_bytes: usize,
}

impl VerifiedQuote {
    /// MRTD and RTMR0-3 (SHA-384), with [`Provenance::TdQuote`].
    pub fn registers(&self) -> &VerifiedRegisters {
        &self.registers
    }
    /// Take the registers.
    pub fn into_registers(self) -> VerifiedRegisters {
        self.registers
    }
    /// REPORTDATA.
    pub fn report_data(&self) -> &[u8; 64] {
        &self.report_data
    }
    /// The TCB status from the collateral; `None` when verified without collateral.
    pub fn tcb_status(&self) -> Option<&TcbStatus> {
        self.tcb_status.as_ref()
    }
    /// Quote version (4 or 5).
    pub fn version(&self) -> u16 {
        self.version
    }
    /// Body type (2 = TD 1.0, 3 = TD 1.5).
    pub fn body_type(&self) -> u16 {
        self.body_type
    }
    /// TD attributes (bit 0 = DEBUG; set only if [`VerifyOptions::allow_debug_td`] was).
    pub fn td_attributes(&self) -> TdAttributes {
        self.td_attributes
    }
    /// TEE_TCB_SVN.
    pub fn tee_tcb_svn(&self) -> &[u8; 16] {
        &self.tee_tcb_svn
    }
    /// TEE_TCB_SVN2 (TD 1.5 only).
    pub fn tee_tcb_svn2(&self) -> Option<&[u8; 16]> {
        self.tee_tcb_svn2.as_ref()
    }
    /// How many bytes followed the signature data (not covered by any signature).
    pub fn trailing_bytes(&self) -> usize {
        self.trailing_bytes
    }
}

fn intel_anchor() -> Result<&'static TrustAnchor, QuoteError> {
    static ANCHOR: OnceLock<Result<TrustAnchor, QuoteError>> = OnceLock::new();
    ANCHOR
        .get_or_init(|| TrustAnchor::from_der(INTEL_SGX_ROOT_CA_DER))
        .as_ref()
        .map_err(Clone::clone)
}

/// A root certificate file as DER: DER as it is, or, when the bytes contain a PEM block, the
/// first PEM certificate decoded (text before and after it is ignored, as in a CA bundle). The
/// result is what [`VerifyOptions::with_root_der`] takes.
pub fn root_der_from_der_or_pem(bytes: &[u8]) -> Result<Vec<u8>, crate::Error> {
    mr_crypto::pem::der_from_der_or_pem(bytes, "CERTIFICATE")
        .map_err(|e| QuoteError::RootCertificate(e.to_string()).into())
}

/// Expected REPORTDATA for a nonce: the nonce zero-padded on the right to 64 bytes. An empty
/// nonce ([`QuoteError::EmptyNonce`]) or one longer than 64 bytes is an error.
pub fn nonce_report_data(nonce: &[u8]) -> Result<[u8; 64], crate::Error> {
    Ok(padded_nonce(nonce)?)
}

fn padded_nonce(nonce: &[u8]) -> Result<[u8; 64], QuoteError> {
    if nonce.is_empty() {
        return Err(QuoteError::EmptyNonce);
    }
    let mut rd = [0u8; 64];
    rd.get_mut(..nonce.len())
        .ok_or(QuoteError::NonceTooLong(nonce.len()))?
        .copy_from_slice(nonce);
    Ok(rd)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Steps 2-5: PCK chain, QE report signature, QE report data, quote signature.
fn verify_signatures(quote: &Quote<'_>, anchor: &TrustAnchor, at: u64) -> Result<(), QuoteError> {
    let sig = quote.signature_data();
    // 2. PCK chain.
    let pck_key = chain::verify_pck_chain(sig.pck_cert_chain, anchor, at)?;
    // 3. QE report signature.
    crypto::verify_p256(
        &pck_key,
        sig.qe_report_bytes,
        sig.qe_report_signature,
        EcdsaEncoding::Fixed,
    )
    .map_err(|_| QuoteError::QeReportSignature)?;
    // 4. QE report data binds the attestation key.
    let mut h = Sha256::new();
    h.update(sig.attestation_key);
    h.update(sig.qe_auth_data);
    let binding = h.finalize();
    if sig.qe_report.report_data[..32] != binding[..] {
        return Err(QuoteError::QeReportData);
    }
    // 5. Quote signature (new with every quote: not cached).
    let mut sec1 = [0u8; 65];
    sec1[0] = 0x04;
    sec1[1..].copy_from_slice(sig.attestation_key);
    crypto::verify_p256_uncached(
        &sec1,
        quote.signed_bytes(),
        sig.quote_signature,
        EcdsaEncoding::Fixed,
    )
    .map_err(|e| match e {
        CryptoError::InvalidKey(_) | CryptoError::KeyEncoding(_) => QuoteError::AttestationKey,
        _ => QuoteError::QuoteSignature,
    })
}

/// Verify a TD quote (see the module documentation for the checks and their order).
pub fn verify(bytes: &[u8], options: &VerifyOptions) -> Result<VerifiedQuote, crate::Error> {
    verify_inner(bytes, options).map_err(crate::Error::from)
}

fn verify_inner(bytes: &[u8], options: &VerifyOptions) -> Result<VerifiedQuote, QuoteError> {
    let expected_rd = options.nonce.as_deref().map(padded_nonce).transpose()?;
    let quote = parse::parse(bytes)?;
    let owned_anchor;
    let anchor = match &options.root_der {
        Some(der) => {
            owned_anchor = TrustAnchor::from_der(der)?;
            &owned_anchor
        }
        None => intel_anchor()?,
    };
    // Before the epoch: no certificate is valid then, so 0 rejects as it should.
    let at = options
        .at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);

    // 1. QE vendor.
    let header = quote.header();
    if header.qe_vendor_id != layout::INTEL_QE_VENDOR_ID {
        return Err(QuoteError::UnknownQeVendor(hex(&header.qe_vendor_id)));
    }
    // 2-5 (signatures) and 7 (TCB). With collateral, dcap-qvl performs steps 2-5 itself (same
    // root, same time, plus the CRLs), so each signature is checked once.
    let tcb_status = match &options.collateral {
        None => {
            verify_signatures(&quote, anchor, at)?;
            None
        }
        Some(Collateral(c)) => {
            let root = options
                .root_der
                .clone()
                .unwrap_or_else(|| INTEL_SGX_ROOT_CA_DER.to_vec());
            // dcap-qvl wants the quote without trailing bytes.
            let body = bytes.get(..quote.quote_bytes_len()).unwrap_or(bytes);
            let report =
                dcap_qvl::verify::QuoteVerifier::<crypto::MrDcapConfig>::new_with_config(root)
                    .allow_debug(options.allow_debug_td)
                    .verify(body, c, at)
                    .map_err(|e| QuoteError::Collateral(format!("{e:#}")))?;
            Some(TcbStatus {
                status: report.status,
                advisory_ids: report.advisory_ids,
            })
        }
    };
    // 8. The rules that need no collateral, on the now authenticated QE report and TD report.
    qe_identity::check(quote.signature_data().qe_report)?;
    let td_attributes = TdAttributes::from_bytes(*quote.td_attributes());
    if td_attributes.is_debug() && !options.allow_debug_td {
        return Err(QuoteError::DebugTd(td_attributes.to_string()));
    }
    // 6. Nonce.
    if let Some(expected) = expected_rd {
        if quote.report_data() != &expected {
            return Err(QuoteError::NonceMismatch {
                report_data: hex(quote.report_data()),
                expected: hex(&expected),
            });
        }
    }

    let mut values = ExpectedRegisters::new();
    let sha384 = |b: &[u8; 48]| {
        Digest::new(HashAlg::Sha384, b).map_err(|e| QuoteError::Internal(e.to_string()))
    };
    values
        .insert(MrId::Mrtd, sha384(quote.mr_td())?)
        .map_err(|e| QuoteError::Internal(e.to_string()))?;
    for (i, r) in quote.rtmrs().iter().enumerate() {
        values
            .insert(MrId::Rtmr(i as u8), sha384(r)?)
            .map_err(|e| QuoteError::Internal(e.to_string()))?;
    }
    // The signature chain, the QE report and REPORTDATA verified: this is the root verifier.
    let registers = VerifiedRegisters::from_verified_root(
        Provenance::TdQuote {
            root: anchor.description().to_string(),
        },
        values,
    );
    Ok(VerifiedQuote {
        registers,
        report_data: *quote.report_data(),
        tcb_status,
        version: quote.version(),
        body_type: quote.body_type(),
        td_attributes,
        tee_tcb_svn: *quote.tee_tcb_svn(),
        tee_tcb_svn2: quote.tee_tcb_svn2().copied(),
        trailing_bytes: quote.trailing_bytes().len(),
    })
}
