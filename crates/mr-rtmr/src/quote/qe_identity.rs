//! The floor check on the quoting enclave (QE) that signed a TD quote's attestation key, made
//! without collateral (docs/tdx-quote.md).
//!
//! The PCK key signs the report of any enclave on the platform that may use the provisioning
//! key, and a platform owner with flexible launch control can grant that to an enclave of its
//! own. Only a report from Intel's TDX quoting enclave makes the attestation key Intel's, so the
//! QE report must carry the TD QE identity Intel publishes (PCS `tdx/certification/v4/qe/identity`,
//! enclave identity `TD_QE`): its MRSIGNER and ISVPRODID. And the QE must not run in debug mode
//! (SGX ATTRIBUTES.DEBUG): a debugger can read a debug enclave's attestation key. With
//! collateral, dcap-qvl also checks the collateral's QE identity (attributes and MISCSELECT
//! under their masks, the ISVSVN's TCB level); this check stays as a floor.

use super::error::QuoteError;
use super::layout::EnclaveReportBody;

/// MRSIGNER of Intel's TDX quoting enclave (SHA-256 of the modulus of Intel's enclave signing
/// key): `mrsigner` of the `TD_QE` identity published by Intel's PCS, and the MRSIGNER in the QE
/// report of every Intel TDX quote (e.g. dcap-qvl's sample TD quotes).
pub const INTEL_TD_QE_MRSIGNER: [u8; 32] = [
    0xdc, 0x9e, 0x2a, 0x7c, 0x6f, 0x94, 0x8f, 0x17, 0x47, 0x4e, 0x34, 0xa7, 0xfc, 0x43, 0xed, 0x03,
    0x0f, 0x7c, 0x15, 0x63, 0xf1, 0xba, 0xbd, 0xdf, 0x63, 0x40, 0xc8, 0x2e, 0x0e, 0x54, 0xa8, 0xc5,
];

/// ISVPRODID of Intel's TDX quoting enclave (`isvprodid` of the `TD_QE` identity; Intel's SGX
/// QE, a different enclave, has 1).
pub const INTEL_TD_QE_ISVPRODID: u16 = 2;

/// SGX ATTRIBUTES.DEBUG: bit 1 of the first byte of an enclave report's ATTRIBUTES (Intel SDM
/// vol. 3D, SECS ATTRIBUTES).
pub const SGX_ATTRIBUTES_DEBUG: u8 = 0x02;

/// Check that `report` (already authenticated by the PCK key) is from Intel's TDX quoting
/// enclave, not in debug mode.
pub(crate) fn check(report: &EnclaveReportBody) -> Result<(), QuoteError> {
    let isv_prod_id = report.isv_prod_id.get();
    if report.mr_signer != INTEL_TD_QE_MRSIGNER || isv_prod_id != INTEL_TD_QE_ISVPRODID {
        return Err(QuoteError::QeNotIntelTdQe {
            mr_signer: super::hex(&report.mr_signer),
            isv_prod_id,
        });
    }
    if report.attributes[0] & SGX_ATTRIBUTES_DEBUG != 0 {
        return Err(QuoteError::QeDebug);
    }
    Ok(())
}
