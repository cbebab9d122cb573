//! Azure vTPM evidence: the HCL report, the vTPM's quote with its PCR values, and the hardware
//! part (a TD quote, or the VCEK for an SNP report). Read from raw parts or from the evidence
//! JSON of Confidential Containers' trustee (`az-tdx-vtpm`, `az-snp-vtpm`; versions 0, 1, 2).

use serde_json::Value;

use crate::error::Error;
use crate::hcl::base64url;

/// At most this many PCR values in a vTPM quote (24 PCRs in each of at most 4 banks).
pub const MAX_PCR_VALUES: usize = 96;

/// The vTPM's quote as the guest read it: TPMS_ATTEST, the signature, the quoted PCR values in
/// the quote's selection order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VtpmQuote {
    /// TPMS_ATTEST (trustee's `message`).
    pub message: Vec<u8>,
    /// The signature: a TPMT_SIGNATURE, or the raw RSASSA signature (trustee's `signature`,
    /// as many bytes as the AK's modulus), which is RSASSA-PKCS1-v1_5 with SHA-256.
    pub signature: Vec<u8>,
    /// The PCR values, in the quote's selection order (banks in order, PCRs ascending).
    pub pcrs: Vec<Vec<u8>>,
}

/// Which hardware report the evidence carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hardware {
    /// A TDX TD quote (v4/v5) made from the HCL report's TDREPORT.
    TdQuote(Vec<u8>),
    /// An SEV-SNP report (inside the HCL report) and, when the evidence carries one, the VCEK
    /// (DER).
    Snp {
        /// The VCEK, DER; `None` when the verifier must supply it.
        vcek: Option<Vec<u8>>,
    },
}

/// Azure vTPM evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AzVtpmEvidence {
    /// The HCL report (vTPM NV index 0x01400001).
    pub hcl_report: Vec<u8>,
    /// The vTPM quote.
    pub tpm_quote: VtpmQuote,
    /// The hardware part.
    pub hardware: Hardware,
    /// trustee's evidence version (0, 1, 2); `None` for evidence built from parts.
    pub version: Option<u32>,
}

fn json_err(why: impl Into<String>) -> Error {
    Error::Json {
        what: "evidence JSON",
        why: why.into(),
    }
}

/// A byte field: hex (`hex`), base64url (`b64`) or, in version 0, an array of numbers.
fn bytes_field(v: &Value, name: &str, text: Text) -> Result<Vec<u8>, Error> {
    match v {
        Value::String(s) => match text {
            Text::Hex => hex::decode(s).map_err(|e| json_err(format!("{name} is not hex: {e}"))),
            Text::Base64Url => {
                base64url(s).map_err(|e| json_err(format!("{name} is not base64url: {e}")))
            }
        },
        Value::Array(a) => a
            .iter()
            .map(|b| {
                b.as_u64()
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or_else(|| json_err(format!("{name} holds a value that is not a byte")))
            })
            .collect(),
        _ => Err(json_err(format!(
            "{name} is neither a string nor a byte array"
        ))),
    }
}

#[derive(Clone, Copy)]
enum Text {
    Hex,
    Base64Url,
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, Error> {
    v.get(name)
        .ok_or_else(|| json_err(format!("no {name:?} member")))
}

fn quote_from(v: &Value, name: &str) -> Result<VtpmQuote, Error> {
    let q = field(v, name)?;
    let pcrs = field(q, "pcrs")?
        .as_array()
        .ok_or_else(|| json_err("pcrs is not an array"))?;
    if pcrs.len() > MAX_PCR_VALUES {
        return Err(json_err(format!(
            "{} PCR values, more than {MAX_PCR_VALUES}",
            pcrs.len()
        )));
    }
    Ok(VtpmQuote {
        message: bytes_field(field(q, "message")?, "message", Text::Hex)?,
        signature: bytes_field(field(q, "signature")?, "signature", Text::Hex)?,
        pcrs: pcrs
            .iter()
            .map(|p| bytes_field(p, "pcrs", Text::Hex))
            .collect::<Result<_, _>>()?,
    })
}

impl AzVtpmEvidence {
    /// Evidence from trustee's JSON: TDX (`tpm_quote`, `hcl_report`, `td_quote`) or SNP
    /// (`tpm_quote`, `hcl_report`, `vcek`; version 0: `quote`, `report`, `vcek` as PEM), byte
    /// strings hex (quote parts) and base64url (report, TD quote, VCEK) from version 1 on,
    /// arrays of numbers in version 0.
    pub fn from_trustee_json(json: &[u8]) -> Result<AzVtpmEvidence, Error> {
        let v: Value = serde_json::from_slice(json).map_err(|e| json_err(e.to_string()))?;
        if !v.is_object() {
            return Err(json_err("not a JSON object"));
        }
        let version = match v.get("version") {
            None => 0,
            Some(n) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| (1..=2).contains(n))
                .ok_or_else(|| json_err(format!("version {n} is not 1 or 2")))?,
        };
        let is_snp_v0 = version == 0 && v.get("report").is_some();
        let (quote_name, report_name) = if is_snp_v0 {
            ("quote", "report")
        } else {
            ("tpm_quote", "hcl_report")
        };
        let tpm_quote = quote_from(&v, quote_name)?;
        let hcl_report = bytes_field(field(&v, report_name)?, report_name, Text::Base64Url)?;
        let hardware = if let Some(td) = v.get("td_quote") {
            Hardware::TdQuote(bytes_field(td, "td_quote", Text::Base64Url)?)
        } else if let Some(vcek) = v.get("vcek") {
            let der = if version == 0 {
                let pem = vcek
                    .as_str()
                    .ok_or_else(|| json_err("vcek is not a PEM string"))?;
                mr_tpm::cert::certificate_der(pem.as_bytes())
                    .map_err(|e| Error::Certificate(format!("VCEK: {e}")))?
            } else {
                bytes_field(vcek, "vcek", Text::Base64Url)?
            };
            Hardware::Snp { vcek: Some(der) }
        } else {
            return Err(json_err("neither td_quote (TDX) nor vcek (SNP)"));
        };
        Ok(AzVtpmEvidence {
            hcl_report,
            tpm_quote,
            hardware,
            version: Some(version),
        })
    }

    /// trustee's `user-data` rule applies: from version 2 on, the runtime data's `user-data`
    /// starts with the verifier's nonce.
    pub fn binds_user_data(&self) -> bool {
        self.version.is_some_and(|v| v >= 2)
    }
}
