//! Verification of Azure vTPM evidence, link by link (docs/attestation.md#vtpm-root):
//!
//! 1. **hardware**: TDX — the TD quote with mr-rtmr's verifier (PCK chain to the trust anchor,
//!    QE report, quote signature, debug TD, collateral when given); SNP — the VCEK to an ARK of
//!    the operator's bundle (RSASSA-PSS), the VCEK's chip id and TCB against the report, the
//!    report signature, VMPL 0 and no debug policy;
//! 2. **runtime data**: REPORTDATA[0..32] = SHA-256 of the HCL report's runtime data;
//! 3. **AK**: `HCLAkPub` of the runtime data (and, for trustee's version 2 evidence with a
//!    nonce, `user-data` starting with the nonce);
//! 4. **TPM quote**: signed by that AK, TPM-generated, a quote, extraData = the nonce
//!    (mr-tpm's [`mr_tpm::verify_quote_signature`]);
//! 5. **PCRs**: the values hash to the quote's pcrDigest; they become [`VerifiedRegisters`] with
//!    [`Provenance::VtpmQuote`].

use std::time::{SystemTime, UNIX_EPOCH};

use mr_core::{Digest, HashAlg, MrId, Provenance, RegisterValue, VerifiedRegisters};
use mr_rtmr::quote::{self as td, VerifiedQuote};
use mr_tpm::cert::VerifiedChain;
use mr_tpm::SignedQuote;

use crate::error::Error;
use crate::evidence::{AzVtpmEvidence, Hardware, VtpmQuote};
use crate::hcl::{HclReport, HwReportType, RuntimeData, AK_KID};
use crate::snp::{self, SnpReport};

/// TPM_ALG_RSASSA.
const TPM_ALG_RSASSA: u16 = 0x0014;
/// TPM_ALG_SHA256.
const TPM_ALG_SHA256: u16 = 0x000b;

/// How to verify Azure TDX vTPM evidence.
#[derive(Clone, Debug)]
pub struct TdxOptions {
    /// The TD quote's trust anchor, verification time, collateral and debug policy (its
    /// `nonce` must be `None`, else [`Error::Usage`]: REPORTDATA carries the runtime data's
    /// hash, not the nonce).
    pub quote: td::VerifyOptions,
    /// The nonce the vTPM quote must carry (extraData); `None` leaves it unchecked.
    pub nonce: Option<Vec<u8>>,
}

/// How to verify Azure SEV-SNP vTPM evidence.
#[derive(Clone, Debug)]
pub struct SnpOptions {
    /// The operator's AMD certificates (DER): ARK(s) and ASK(s), possibly of several processor
    /// generations ([`snp::read_bundle`]).
    pub ask_ark: Vec<Vec<u8>>,
    /// The VCEK (DER) when the evidence carries none.
    pub vcek: Option<Vec<u8>>,
    /// The verification time: every certificate must be valid then.
    pub at: SystemTime,
    /// The nonce the vTPM quote must carry (extraData); `None` leaves it unchecked.
    pub nonce: Option<Vec<u8>>,
    /// Accept a guest policy that allows debugging. Default `false`.
    pub allow_debug: bool,
}

impl SnpOptions {
    /// Options with the ASK/ARK bundle at time `at`, no VCEK, no nonce, debug refused.
    pub fn new(ask_ark: Vec<Vec<u8>>, at: SystemTime) -> SnpOptions {
        SnpOptions {
            ask_ark,
            vcek: None,
            at,
            nonce: None,
            allow_debug: false,
        }
    }
}

/// An SEV-SNP report that verified, and the VCEK chain that vouched for it.
#[derive(Clone, Debug)]
pub struct VerifiedSnp {
    /// The report (policy, TCB, measurement, host data, chip id, …).
    pub report: SnpReport,
    /// VCEK, ASK, ARK.
    pub chain: VerifiedChain,
}

/// The hardware link that verified.
#[derive(Clone, Debug)]
pub enum VerifiedHardware {
    /// A TD quote.
    Tdx(Box<VerifiedQuote>),
    /// An SNP report.
    Snp(Box<VerifiedSnp>),
}

/// Azure vTPM evidence that verified: the hardware, the runtime data, the quote and the PCRs.
#[derive(Clone, Debug)]
pub struct VerifiedVtpm {
    /// The hardware link.
    pub hardware: VerifiedHardware,
    /// The runtime data whose hash the hardware report carries.
    pub runtime_data: RuntimeData,
    /// The vTPM quote (signature and nonce verified).
    pub quote: SignedQuote,
    /// The quoted PCR values, with [`Provenance::VtpmQuote`].
    pub registers: VerifiedRegisters,
    /// The chain, root first, in words.
    pub chain: Vec<String>,
}

/// Verify Azure TDX vTPM evidence (see the module documentation).
pub fn verify_az_tdx_vtpm(
    ev: &AzVtpmEvidence,
    options: &TdxOptions,
) -> Result<VerifiedVtpm, Error> {
    let Hardware::TdQuote(td_quote) = &ev.hardware else {
        return Err(Error::WrongReportType {
            expected: "TDX",
            found: "SNP".into(),
        });
    };
    let hcl = HclReport::parse(&ev.hcl_report)?;
    if hcl.report_type != HwReportType::Tdx {
        return Err(Error::WrongReportType {
            expected: "TDX",
            found: hcl.report_type.to_string(),
        });
    }
    if options.quote.nonce.is_some() {
        return Err(Error::Usage(
            "the TD quote's REPORTDATA carries SHA-256 of the runtime data, not a nonce: give \
             the nonce as the vTPM quote's (TdxOptions::nonce)"
                .into(),
        ));
    }
    let verified = td::verify(td_quote, &options.quote).map_err(Error::TdQuote)?;
    let root = match verified.registers().provenance() {
        Provenance::TdQuote { root } => root.clone(),
        other => other.to_string(),
    };
    let hardware = format!("Azure HCL runtime data bound to a TD quote chained to {root}");
    let mut chain = vec![
        format!("TD quote chained to {root}"),
        "REPORTDATA[0..32] = SHA-256(HCL runtime data)".to_owned(),
    ];
    bind_runtime_data(&hcl, verified.report_data())?;
    finish(
        ev,
        &hcl,
        options.nonce.as_deref(),
        VerifiedHardware::Tdx(Box::new(verified)),
        hardware,
        &mut chain,
    )
}

/// Verify Azure SEV-SNP vTPM evidence (see the module documentation).
pub fn verify_az_snp_vtpm(
    ev: &AzVtpmEvidence,
    options: &SnpOptions,
) -> Result<VerifiedVtpm, Error> {
    let Hardware::Snp { vcek } = &ev.hardware else {
        return Err(Error::WrongReportType {
            expected: "SNP",
            found: "TDX".into(),
        });
    };
    let hcl = HclReport::parse(&ev.hcl_report)?;
    if hcl.report_type != HwReportType::Snp {
        return Err(Error::WrongReportType {
            expected: "SNP",
            found: hcl.report_type.to_string(),
        });
    }
    let vcek = vcek.as_ref().or(options.vcek.as_ref()).ok_or_else(|| {
        Error::Certificate("no VCEK: the evidence carries none and none was given".into())
    })?;
    let at = options
        .at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let vcek_chain = snp::verify_vcek_chain(vcek, &options.ask_ark, at)?;
    let report = snp::verify_report_signature(hcl.hw_report(), vcek)?;
    report.check_guest(options.allow_debug)?;
    let root = vcek_chain.root_description();
    let hardware =
        format!("Azure HCL runtime data bound to an SNP report by a VCEK chained to {root}");
    let mut chain = vec![
        format!("SNP report signed by a VCEK chained to {root}"),
        "REPORTDATA[0..32] = SHA-256(HCL runtime data)".to_owned(),
    ];
    bind_runtime_data(&hcl, &report.report_data)?;
    finish(
        ev,
        &hcl,
        options.nonce.as_deref(),
        VerifiedHardware::Snp(Box::new(VerifiedSnp {
            report,
            chain: vcek_chain,
        })),
        hardware,
        &mut chain,
    )
}

/// Link 2: REPORTDATA[0..32] = SHA-256(runtime data).
fn bind_runtime_data(hcl: &HclReport<'_>, report_data: &[u8; 64]) -> Result<(), Error> {
    let hash = hcl.runtime_data_sha256()?;
    let bound = report_data.get(..32).unwrap_or_default();
    if bound != hash {
        return Err(Error::RuntimeDataBinding {
            report_data: hex::encode(bound),
            runtime_data: hex::encode(hash),
        });
    }
    Ok(())
}

/// Links 3-5: the AK of the runtime data, the quote it signed, the PCR values.
fn finish(
    ev: &AzVtpmEvidence,
    hcl: &HclReport<'_>,
    nonce: Option<&[u8]>,
    hardware: VerifiedHardware,
    hardware_words: String,
    chain: &mut Vec<String>,
) -> Result<VerifiedVtpm, Error> {
    let runtime_data = hcl.parse_runtime_data()?;
    let ak_key = runtime_data.key(AK_KID)?;
    let ak = ak_key.to_ak()?;
    if let (Some(nonce), true) = (nonce, ev.binds_user_data()) {
        let user = runtime_data.user_data.as_deref().unwrap_or_default();
        if !user.starts_with(nonce) {
            return Err(Error::RuntimeDataBinding {
                report_data: format!("user-data {}", hex::encode(user)),
                runtime_data: format!("nonce {}", hex::encode(nonce)),
            });
        }
    }
    chain.push(format!("runtime data {} → AK {}", AK_KID, ak.id()));
    let signature = tpmt_signature(&ev.tpm_quote.signature, ak_key.modulus_len());
    let quote = mr_tpm::verify_quote_signature(&ev.tpm_quote.message, &signature, &ak, nonce)
        .map_err(Error::TpmQuote)?;
    let values = pcr_values(&ev.tpm_quote, &quote)?;
    let tpm_verified = quote.verify_pcrs(&values).map_err(Error::TpmQuote)?;
    chain.push(format!("vTPM quote by AK {}", ak.id()));
    // The hardware report verified, it binds the runtime data, the AK in it signed the quote
    // and the values hash to its pcrDigest: mr-vtpm is this root's verifier.
    let registers = VerifiedRegisters::from_verified_root(
        Provenance::VtpmQuote {
            ak_name: ak.id().to_owned(),
            hardware: hardware_words,
        },
        tpm_verified.values().clone(),
    );
    Ok(VerifiedVtpm {
        hardware,
        runtime_data,
        quote,
        registers,
        chain: std::mem::take(chain),
    })
}

/// The signature as a TPMT_SIGNATURE: a raw signature as long as the AK's modulus (trustee's
/// form, which the vTPM makes with RSASSA and SHA-256) is framed as one; anything else is
/// taken to be a TPMT_SIGNATURE already.
fn tpmt_signature(sig: &[u8], modulus_len: usize) -> Vec<u8> {
    if sig.len() != modulus_len {
        return sig.to_vec();
    }
    let Ok(len) = u16::try_from(sig.len()) else {
        return sig.to_vec();
    };
    let mut out = Vec::with_capacity(sig.len() + 6);
    out.extend_from_slice(&TPM_ALG_RSASSA.to_be_bytes());
    out.extend_from_slice(&TPM_ALG_SHA256.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(sig);
    out
}

/// The evidence's PCR values paired with the quote's selection, in order.
fn pcr_values(q: &VtpmQuote, signed: &SignedQuote) -> Result<Vec<RegisterValue>, Error> {
    let selected: Vec<(u32, HashAlg)> = signed.quote_info().pcr_select.pcrs().collect();
    if selected.len() != q.pcrs.len() {
        return Err(Error::Json {
            what: "evidence JSON",
            why: format!(
                "{} PCR values for a quote that selects {}",
                q.pcrs.len(),
                selected.len()
            ),
        });
    }
    selected
        .into_iter()
        .zip(&q.pcrs)
        .map(|((index, alg), value)| {
            let value = Digest::new(alg, value).map_err(|e| Error::Json {
                what: "evidence JSON",
                why: format!("pcr{index} {alg}: {e}"),
            })?;
            Ok(RegisterValue {
                id: MrId::Pcr(index),
                value,
            })
        })
        .collect()
}
