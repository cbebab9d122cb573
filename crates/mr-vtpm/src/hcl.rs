//! The Azure HCL report (docs/formats.md#hcl-report): what the paravisor (the "HCL") of an Azure
//! confidential VM stores in the vTPM's NV index 0x01400001.
//!
//! ```text
//! 0x000  header (32 bytes): signature "HCLA", version, report size, request type, status,
//!        3 reserved u32 (all little-endian)
//! 0x020  hardware report (1184 bytes): a TDX TDREPORT (1024 bytes, then padding) or an
//!        SEV-SNP ATTESTATION_REPORT (1184 bytes)
//! 0x4C0  IGVM request data (20 bytes): data size, version, report type (2 = SNP, 4 = TDX),
//!        report data hash type (1 = SHA-256), variable data size
//! 0x4D4  variable data ("runtime data"): JSON with the vTPM's keys (`HCLAkPub`, `HCLEkPub`)
//!        as JWKs, the VM configuration and `user-data`
//! ```
//!
//! The hardware report's REPORTDATA[0..32] is SHA-256 of the runtime data bytes exactly as they
//! stand here: that is what binds the AK to the hardware. The layout is the one of Microsoft's
//! `az-cvm-vtpm` crate (`az-cvm-vtpm/src/hcl`) and of the IGVM attestation request of the
//! OpenHCL paravisor.
//!
//! Everything here is parsing: nothing in an HCL report is trusted until the hardware report
//! that binds it verified ([`crate::verify`]).

#![deny(clippy::indexing_slicing)]

use base64::Engine as _;
use mr_core::wire::{ParseErrorKind, Reader};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::error::Error;

/// The format name in parse errors.
const FORMAT: &str = "hcl report";
/// The header's signature, "HCLA" little-endian.
pub const HCL_SIGNATURE: u32 = 0x414c_4348;
/// Offset of the hardware report.
pub const HW_REPORT_OFFSET: usize = 0x20;
/// Room for the hardware report: the larger of the TDREPORT and the SNP report.
pub const HW_REPORT_SIZE: usize = 1184;
/// Size of a TDX TDREPORT (TDREPORT_STRUCT, Intel TDX Module ABI).
pub const TD_REPORT_SIZE: usize = 1024;
/// Size of an SEV-SNP ATTESTATION_REPORT (AMD SEV-SNP Firmware ABI, table "ATTESTATION_REPORT").
pub const SNP_REPORT_SIZE: usize = 1184;
/// Size of the IGVM request data header before the runtime data.
pub const REQUEST_DATA_SIZE: usize = 20;
/// Offset of the runtime data.
pub const RUNTIME_DATA_OFFSET: usize = HW_REPORT_OFFSET + HW_REPORT_SIZE + REQUEST_DATA_SIZE;
/// IGVM report type of an SEV-SNP report.
pub const REPORT_TYPE_SNP: u32 = 2;
/// IGVM report type of a TDX report.
pub const REPORT_TYPE_TDX: u32 = 4;
/// IGVM hash type SHA-256 (the only one defined for the REPORTDATA binding here).
pub const HASH_TYPE_SHA256: u32 = 1;
/// The `kid` of the vTPM's attestation key in the runtime data.
pub const AK_KID: &str = "HCLAkPub";
/// The `kid` of the vTPM's endorsement key in the runtime data.
pub const EK_KID: &str = "HCLEkPub";
/// Offset of REPORTDATA in a TDREPORT (REPORTMACSTRUCT: type 4, reserved 12, CPUSVN 16,
/// TEE_TCB_INFO hash 48, TEE_INFO hash 48).
const TD_REPORT_DATA_OFFSET: usize = 128;

/// The hardware report an HCL report carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HwReportType {
    /// An Intel TDX TDREPORT (verified through the TD quote made from it).
    Tdx,
    /// An AMD SEV-SNP attestation report (signed by the VCEK).
    Snp,
}

impl std::fmt::Display for HwReportType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HwReportType::Tdx => "TDX",
            HwReportType::Snp => "SNP",
        })
    }
}

/// A parsed HCL report, borrowing the input.
#[derive(Clone, Debug)]
pub struct HclReport<'a> {
    /// Header version.
    pub version: u32,
    /// Header request type.
    pub request_type: u32,
    /// The hardware report's type (IGVM report type).
    pub report_type: HwReportType,
    /// IGVM report data hash type (1 = SHA-256).
    pub hash_type: u32,
    hw_report: &'a [u8],
    runtime_data: &'a [u8],
    trailing: usize,
}

impl<'a> HclReport<'a> {
    /// Parse an HCL report. Bytes after the report size the header states (the NV index is
    /// read whole, so there is zero padding) are allowed and counted ([`Self::trailing_bytes`]).
    pub fn parse(bytes: &'a [u8]) -> Result<HclReport<'a>, Error> {
        let mut r = Reader::new(FORMAT, bytes);
        let start = r.offset();
        let signature = r.u32_le("header signature")?;
        if signature != HCL_SIGNATURE {
            return Err(r
                .error_at(
                    start,
                    "header signature",
                    ParseErrorKind::Invalid(format!("0x{signature:08x} is not \"HCLA\"")),
                )
                .into());
        }
        let version = r.u32_le("header version")?;
        let report_size_at = r.offset();
        let report_size = r.u32_le("header report size")?;
        let request_type = r.u32_le("header request type")?;
        let _status = r.u32_le("header status")?;
        r.skip(12, "header reserved")?;
        let hw_all = r.take(HW_REPORT_SIZE, "hardware report")?;
        let data_size_at = r.offset();
        let data_size = r.u32_le("request data size")?;
        let _request_version = r.u32_le("request data version")?;
        let type_at = r.offset();
        let report_type = match r.u32_le("request data report type")? {
            REPORT_TYPE_TDX => HwReportType::Tdx,
            REPORT_TYPE_SNP => HwReportType::Snp,
            other => {
                return Err(r
                    .error_at(
                        type_at,
                        "request data report type",
                        ParseErrorKind::Invalid(format!("{other} is neither SNP (2) nor TDX (4)")),
                    )
                    .into())
            }
        };
        let hash_type = r.u32_le("request data hash type")?;
        let var_size = r.u32_le("request data variable data size")?;
        let runtime_data = r.bytes(u64::from(var_size), r.remaining() as u64, "runtime data")?;
        // The sizes the report states must agree with each other: a report whose parts
        // disagree is not one the paravisor wrote.
        if u64::from(data_size) != REQUEST_DATA_SIZE as u64 + u64::from(var_size) {
            return Err(r
                .error_at(
                    data_size_at,
                    "request data size",
                    ParseErrorKind::Invalid(format!(
                        "{data_size} is not 20 + the variable data size {var_size}"
                    )),
                )
                .into());
        }
        if u64::from(report_size) != RUNTIME_DATA_OFFSET as u64 + u64::from(var_size) {
            return Err(r
                .error_at(
                    report_size_at,
                    "header report size",
                    ParseErrorKind::Invalid(format!(
                        "{report_size} is not {RUNTIME_DATA_OFFSET} + the variable data size {var_size}"
                    )),
                )
                .into());
        }
        let hw_len = match report_type {
            HwReportType::Tdx => TD_REPORT_SIZE,
            HwReportType::Snp => SNP_REPORT_SIZE,
        };
        let hw_report = hw_all.get(..hw_len).unwrap_or(hw_all);
        Ok(HclReport {
            version,
            request_type,
            report_type,
            hash_type,
            hw_report,
            runtime_data,
            trailing: r.remaining(),
        })
    }

    /// The hardware report's bytes (1024 for TDX, 1184 for SNP), at offset
    /// [`HW_REPORT_OFFSET`] of the HCL report.
    pub fn hw_report(&self) -> &'a [u8] {
        self.hw_report
    }

    /// The runtime data (variable data) bytes, exactly as hashed into REPORTDATA.
    pub fn runtime_data(&self) -> &'a [u8] {
        self.runtime_data
    }

    /// SHA-256 of the runtime data: what REPORTDATA[0..32] must be. An HCL report with another
    /// hash type is [`Error::UnsupportedHashType`].
    pub fn runtime_data_sha256(&self) -> Result<[u8; 32], Error> {
        if self.hash_type != HASH_TYPE_SHA256 {
            return Err(Error::UnsupportedHashType(self.hash_type));
        }
        Ok(Sha256::digest(self.runtime_data).into())
    }

    /// REPORTDATA of the TDREPORT the HCL report carries (unauthenticated: the TD quote's is
    /// the one that counts); `None` for an SNP report.
    pub fn td_report_data(&self) -> Option<[u8; 64]> {
        if self.report_type != HwReportType::Tdx {
            return None;
        }
        self.hw_report
            .get(TD_REPORT_DATA_OFFSET..TD_REPORT_DATA_OFFSET + 64)
            .and_then(|s| s.try_into().ok())
    }

    /// Bytes after the report size the header states.
    pub fn trailing_bytes(&self) -> usize {
        self.trailing
    }

    /// The runtime data parsed as JSON.
    pub fn parse_runtime_data(&self) -> Result<RuntimeData, Error> {
        RuntimeData::parse(self.runtime_data)
    }
}

/// The runtime data JSON of an HCL report.
#[derive(Clone, Debug)]
pub struct RuntimeData {
    /// The keys (`keys` array), in order.
    pub keys: Vec<RuntimeKey>,
    /// `user-data` (hex in the JSON), decoded; `None` when absent.
    pub user_data: Option<Vec<u8>>,
    /// `vm-configuration`, as it stands (secure boot, TPM, console, VM id).
    pub vm_configuration: Option<serde_json::Value>,
}

/// One JWK of the runtime data. Only RSA keys (`kty` `RSA`) carry `n` and `e`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeKey {
    /// `kid` (`HCLAkPub`, `HCLEkPub`).
    pub kid: String,
    /// `kty`.
    pub kty: String,
    /// `key_ops`.
    pub key_ops: Vec<String>,
    /// The RSA modulus (big-endian), from base64url `n`.
    pub n: Vec<u8>,
    /// The RSA public exponent (big-endian), from base64url `e`.
    pub e: Vec<u8>,
}

#[derive(Deserialize)]
struct RuntimeDataJson {
    keys: Vec<JwkJson>,
    #[serde(rename = "user-data", default)]
    user_data: Option<String>,
    #[serde(rename = "vm-configuration", default)]
    vm_configuration: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct JwkJson {
    kid: String,
    kty: String,
    #[serde(default)]
    key_ops: Vec<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

/// base64url with or without padding (JWK uses none; some writers pad).
pub(crate) fn base64url(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    ENGINE.decode(text)
}

impl RuntimeData {
    /// Parse runtime data JSON (`keys`, `user-data`, `vm-configuration`; other members are
    /// ignored, a member given twice is an error).
    pub fn parse(bytes: &[u8]) -> Result<RuntimeData, Error> {
        let json: RuntimeDataJson = serde_json::from_slice(bytes).map_err(|e| Error::Json {
            what: "runtime data JSON",
            why: e.to_string(),
        })?;
        let mut keys = Vec::with_capacity(json.keys.len());
        for k in json.keys {
            let decode = |field: &str, value: Option<&String>| -> Result<Vec<u8>, Error> {
                match value {
                    None => Ok(Vec::new()),
                    Some(v) => base64url(v).map_err(|e| Error::RuntimeDataKey {
                        kid: k.kid.clone(),
                        why: format!("{field} is not base64url: {e}"),
                    }),
                }
            };
            let n = decode("n", k.n.as_ref())?;
            let e = decode("e", k.e.as_ref())?;
            keys.push(RuntimeKey {
                kid: k.kid,
                kty: k.kty,
                key_ops: k.key_ops,
                n,
                e,
            });
        }
        let user_data = json
            .user_data
            .map(|h| {
                hex::decode(&h).map_err(|e| Error::Json {
                    what: "runtime data JSON",
                    why: format!("user-data is not hex: {e}"),
                })
            })
            .transpose()?;
        Ok(RuntimeData {
            keys,
            user_data,
            vm_configuration: json.vm_configuration,
        })
    }

    /// The one key with `kid` (two keys with the same `kid` are an error: which one the
    /// hardware vouched for would be ambiguous).
    pub fn key(&self, kid: &str) -> Result<&RuntimeKey, Error> {
        let mut found = self.keys.iter().filter(|k| k.kid == kid);
        let key = found.next().ok_or_else(|| Error::RuntimeDataKey {
            kid: kid.to_owned(),
            why: "not in the runtime data".into(),
        })?;
        if found.next().is_some() {
            return Err(Error::RuntimeDataKey {
                kid: kid.to_owned(),
                why: "given more than once".into(),
            });
        }
        Ok(key)
    }

    /// The vTPM's attestation key (`HCLAkPub`) as an [`mr_tpm::AkPublic`].
    pub fn ak(&self) -> Result<mr_tpm::AkPublic, Error> {
        self.key(AK_KID)?.to_ak()
    }
}

impl RuntimeKey {
    /// This RSA key as an [`mr_tpm::AkPublic`] (through its SubjectPublicKeyInfo; its id is
    /// the SPKI's SHA-256, as for any public key given to mr-tpm).
    pub fn to_ak(&self) -> Result<mr_tpm::AkPublic, Error> {
        use rsa::pkcs8::EncodePublicKey as _;
        let bad = |why: String| Error::RuntimeDataKey {
            kid: self.kid.clone(),
            why,
        };
        if self.kty != "RSA" {
            return Err(bad(format!("kty {:?} is not RSA", self.kty)));
        }
        if self.n.is_empty() || self.e.is_empty() {
            return Err(bad("RSA key without n or e".into()));
        }
        let key = rsa::RsaPublicKey::new(
            rsa::BigUint::from_bytes_be(&self.n),
            rsa::BigUint::from_bytes_be(&self.e),
        )
        .map_err(|e| bad(format!("RSA key: {e}")))?;
        let spki = key
            .to_public_key_der()
            .map_err(|e| bad(format!("RSA key: {e}")))?;
        mr_tpm::AkPublic::from_spki_der(spki.as_bytes()).map_err(|e| bad(e.to_string()))
    }

    /// The modulus length in bytes (leading zero bytes of `n` not counted): the length of a
    /// raw RSA signature by this key.
    pub fn modulus_len(&self) -> usize {
        self.n.iter().skip_while(|b| **b == 0).count()
    }
}
