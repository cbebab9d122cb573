//! Azure-style vTPM evidence around a simulated TD (docs/formats.md#hcl-report and
//! #azure-vtpm-evidence-json): the runtime data JSON holding an AK, the HCL report that carries
//! a TDREPORT and the runtime data, and trustee's `az-tdx-vtpm` evidence JSON (version 1) that
//! puts them together with a TD quote and the vTPM's quote. Built the way the paravisor and
//! trustee's attester lay them out; mr-vtpm parses and verifies them.

use base64::Engine as _;
use mr_core::HashAlg;

/// The HCL report header's signature, "HCLA".
const HCL_SIGNATURE: &[u8; 4] = b"HCLA";
/// Room for the hardware report in an HCL report.
const HW_REPORT_SIZE: usize = 1184;
/// Size of the IGVM request data header before the runtime data.
const REQUEST_DATA_SIZE: usize = 20;
/// Offset of the runtime data: header (32), hardware report, request data header.
const RUNTIME_DATA_OFFSET: usize = 32 + HW_REPORT_SIZE + REQUEST_DATA_SIZE;
/// IGVM report type of a TDX report.
const REPORT_TYPE_TDX: u32 = 4;
/// IGVM report data hash type SHA-256.
const HASH_TYPE_SHA256: u32 = 1;

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The runtime data JSON of an HCL report: `keys` with the vTPM's AK (`HCLAkPub`, RSA modulus
/// `ak_modulus`, exponent 65537) and an EK (`HCLEkPub`, here the same modulus: nothing
/// verifies it), a `vm-configuration` and `user-data` (hex).
pub fn runtime_data(ak_modulus: &[u8], user_data: &[u8]) -> Vec<u8> {
    let key = |kid: &str, ops: &str| {
        serde_json::json!({
            "kid": kid,
            "key_ops": [ops],
            "kty": "RSA",
            "e": b64url(&[1, 0, 1]),
            "n": b64url(ak_modulus),
        })
    };
    let json = serde_json::json!({
        "keys": [key("HCLAkPub", "sign"), key("HCLEkPub", "encrypt")],
        "vm-configuration": {
            "console-enabled": false,
            "secure-boot": true,
            "tpm-enabled": true,
            "vmUniqueId": "00000000-0000-0000-0000-000000000000",
        },
        "user-data": hex::encode(user_data),
    });
    serde_json::to_vec(&json).expect("a JSON value serialises")
}

/// REPORTDATA binding `runtime_data`: its SHA-256, then 32 zero bytes.
pub fn report_data(runtime_data: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(HashAlg::Sha256.hash(runtime_data).as_bytes());
    out
}

/// An HCL report (version 2, request type 2) carrying the TDREPORT `td_report` (at most 1184
/// bytes, zero-padded) and `runtime_data`.
pub fn hcl_report_tdx(td_report: &[u8], runtime_data: &[u8]) -> Vec<u8> {
    let var_size = u32::try_from(runtime_data.len()).expect("runtime data < 4 GiB");
    let report_size = u32::try_from(RUNTIME_DATA_OFFSET).expect("a small offset") + var_size;
    let mut out = Vec::with_capacity(RUNTIME_DATA_OFFSET + runtime_data.len());
    out.extend_from_slice(HCL_SIGNATURE);
    for v in [2u32, report_size, 2, 0, 0, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let mut hw = td_report.to_vec();
    assert!(hw.len() <= HW_REPORT_SIZE, "a TDREPORT is 1024 bytes");
    hw.resize(HW_REPORT_SIZE, 0);
    out.extend_from_slice(&hw);
    let data_size = u32::try_from(REQUEST_DATA_SIZE).expect("20") + var_size;
    for v in [data_size, 1, REPORT_TYPE_TDX, HASH_TYPE_SHA256, var_size] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(runtime_data);
    out
}

/// trustee's `az-tdx-vtpm` evidence JSON, version 1: `tpm_quote` (`signature`, `message`,
/// `pcrs`, hex), `hcl_report` and `td_quote` (base64url).
pub fn trustee_tdx_evidence(
    hcl_report: &[u8],
    td_quote: &[u8],
    message: &[u8],
    signature: &[u8],
    pcrs: &[Vec<u8>],
) -> Vec<u8> {
    let json = serde_json::json!({
        "version": 1,
        "tpm_quote": {
            "signature": hex::encode(signature),
            "message": hex::encode(message),
            "pcrs": pcrs.iter().map(hex::encode).collect::<Vec<_>>(),
        },
        "hcl_report": b64url(hcl_report),
        "td_quote": b64url(td_quote),
    });
    serde_json::to_vec(&json).expect("a JSON value serialises")
}

/// The raw signature of an RSASSA TPMT_SIGNATURE (sigAlg, hash, size, then the bytes), as
/// trustee's evidence carries it.
pub fn raw_rsassa_signature(tpmt_signature: &[u8]) -> Vec<u8> {
    tpmt_signature
        .get(6..)
        .expect("a TPMT_SIGNATURE has a 6-byte header")
        .to_vec()
}
