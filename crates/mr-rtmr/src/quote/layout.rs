//! Fixed wire layouts of a DCAP quote (docs/formats.md#td-quote), read in place with `zerocopy`.
//!
//! Every struct here is `Unaligned` and made only of byte arrays and little-endian integers, so
//! a `&[u8]` of the right length can be viewed as one without copying and without `unsafe`.

use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Quote header (48 bytes), common to v4 and v5.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct QuoteHeader {
    /// Quote version (4 or 5).
    pub version: U16,
    /// Attestation key type (2 = ECDSA-256-with-P-256).
    pub att_key_type: U16,
    /// TEE type (0x81 = TDX, 0 = SGX).
    pub tee_type: U32,
    /// Reserved (QE/PCE SVNs in v3 SGX quotes).
    pub reserved: [u8; 4],
    /// Vendor of the quoting enclave.
    pub qe_vendor_id: [u8; 16],
    /// Free-form user data (platform identifier in Intel's QE).
    pub user_data: [u8; 20],
}

/// TD report body of TDX 1.0 (`sgx_report2_body_t`, 584 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct TdReportBody10 {
    /// TEE_TCB_SVN: SVNs of the TDX module and its components.
    pub tee_tcb_svn: [u8; 16],
    /// Measurement of the TDX module (SEAM).
    pub mr_seam: [u8; 48],
    /// Signer of the TDX module (zero for Intel's module).
    pub mrsigner_seam: [u8; 48],
    /// Attributes of the TDX module.
    pub seam_attributes: [u8; 8],
    /// TD attributes (bit 0 = DEBUG).
    pub td_attributes: [u8; 8],
    /// Extended features allowed in the TD (XFAM).
    pub xfam: [u8; 8],
    /// MRTD.
    pub mr_td: [u8; 48],
    /// MRCONFIGID.
    pub mr_config_id: [u8; 48],
    /// MROWNER.
    pub mr_owner: [u8; 48],
    /// MROWNERCONFIG.
    pub mr_owner_config: [u8; 48],
    /// RTMR0..RTMR3.
    pub rtmr: [[u8; 48]; 4],
    /// REPORTDATA.
    pub report_data: [u8; 64],
}

/// TD report body of TDX 1.5 (`sgx_report2_body_v1_5_t`, 648 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct TdReportBody15 {
    /// The TDX 1.0 fields.
    pub base: TdReportBody10,
    /// TEE_TCB_SVN2 (SVNs after a TD-preserving module update).
    pub tee_tcb_svn2: [u8; 16],
    /// MRSERVICETD: hash of the service TDs bound to this TD.
    pub mr_servicetd: [u8; 48],
}

/// SGX enclave report body (384 bytes): the QE report inside the signature data.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct EnclaveReportBody {
    /// CPU security version.
    pub cpu_svn: [u8; 16],
    /// MISCSELECT.
    pub misc_select: U32,
    /// Reserved.
    pub reserved1: [u8; 12],
    /// ISV extended product id.
    pub isv_ext_prod_id: [u8; 16],
    /// Enclave attributes.
    pub attributes: [u8; 16],
    /// MRENCLAVE.
    pub mr_enclave: [u8; 32],
    /// Reserved.
    pub reserved2: [u8; 32],
    /// MRSIGNER.
    pub mr_signer: [u8; 32],
    /// Reserved.
    pub reserved3: [u8; 32],
    /// CONFIGID.
    pub config_id: [u8; 64],
    /// ISV product id.
    pub isv_prod_id: U16,
    /// ISV SVN.
    pub isv_svn: U16,
    /// CONFIGSVN.
    pub config_svn: U16,
    /// Reserved.
    pub reserved4: [u8; 42],
    /// ISV family id.
    pub isv_family_id: [u8; 16],
    /// REPORTDATA (for the QE: SHA-256(attestation key || QE auth data) || 32 zero bytes).
    pub report_data: [u8; 64],
}

/// Size of the quote header.
pub const HEADER_LEN: usize = 48;
/// Size of a TD 1.0 report body.
pub const TD10_BODY_LEN: usize = 584;
/// Size of a TD 1.5 report body.
pub const TD15_BODY_LEN: usize = 648;
/// Size of an SGX enclave report body.
pub const ENCLAVE_REPORT_LEN: usize = 384;
/// Size of the v5 body descriptor (`u16 body_type`, `u32 body_size`).
pub const V5_DESCRIPTOR_LEN: usize = 6;

const _: () = assert!(core::mem::size_of::<QuoteHeader>() == HEADER_LEN);
const _: () = assert!(core::mem::size_of::<TdReportBody10>() == TD10_BODY_LEN);
const _: () = assert!(core::mem::size_of::<TdReportBody15>() == TD15_BODY_LEN);
const _: () = assert!(core::mem::size_of::<EnclaveReportBody>() == ENCLAVE_REPORT_LEN);

/// TEE type of TDX in the header.
pub const TEE_TYPE_TDX: u32 = 0x81;
/// Attestation key type ECDSA-256-with-P-256.
pub const ATT_KEY_TYPE_ECDSA_P256: u16 = 2;
/// Vendor id of Intel's quoting enclave.
pub const INTEL_QE_VENDOR_ID: [u8; 16] = [
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
];
/// v5 body type: SGX enclave report.
pub const BODY_TYPE_SGX: u16 = 1;
/// v5 body type: TD report of TDX 1.0.
pub const BODY_TYPE_TD10: u16 = 2;
/// v5 body type: TD report of TDX 1.5.
pub const BODY_TYPE_TD15: u16 = 3;
/// Certification data type: PCK certificate chain (PEM).
pub const CERT_TYPE_PCK_CHAIN: u16 = 5;
/// Certification data type: QE report certification data (nested).
pub const CERT_TYPE_QE_REPORT: u16 = 6;

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    #[test]
    fn td_report_body_offsets_match_specs_8_3() {
        assert_eq!(offset_of!(TdReportBody10, mr_seam), 16);
        assert_eq!(offset_of!(TdReportBody10, td_attributes), 120);
        assert_eq!(offset_of!(TdReportBody10, mr_td), 136);
        assert_eq!(offset_of!(TdReportBody10, mr_config_id), 184);
        assert_eq!(offset_of!(TdReportBody10, mr_owner_config), 280);
        assert_eq!(offset_of!(TdReportBody10, rtmr), 328);
        assert_eq!(offset_of!(TdReportBody10, report_data), 520);
        assert_eq!(offset_of!(TdReportBody15, tee_tcb_svn2), 584);
        assert_eq!(offset_of!(TdReportBody15, mr_servicetd), 600);
    }

    #[test]
    fn enclave_report_offsets_match_specs_8_3() {
        assert_eq!(offset_of!(EnclaveReportBody, attributes), 48);
        assert_eq!(offset_of!(EnclaveReportBody, mr_enclave), 64);
        assert_eq!(offset_of!(EnclaveReportBody, mr_signer), 128);
        assert_eq!(offset_of!(EnclaveReportBody, isv_prod_id), 256);
        assert_eq!(offset_of!(EnclaveReportBody, isv_family_id), 304);
        assert_eq!(offset_of!(EnclaveReportBody, report_data), 320);
    }
}
