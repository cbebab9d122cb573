//! TDREPORT_STRUCT (1024 bytes) at the offsets of docs/formats.md#td-report, for the simulated TD.
//!
//! Kernel-confirmed offsets: REPORTDATA @128 (64 bytes), TEE_TCB_INFO @256, TDINFO @512 with
//! ATTRIBUTES @512, XFAM @520, MRTD @528, MRCONFIGID @576, MROWNER @624, MROWNERCONFIG @672,
//! RTMR0..3 @720 + 48·n, SERVTD_HASH @912.
//!
//! A simulated report is not MAC'd (MAC, CPUSVN, TEE_TCB_INFO and the TEE hashes are zero;
//! ATTRIBUTES and XFAM are zero): it carries the measurements in the real layout, nothing more.
//! REPORTTYPE is type 0x81 (TDX), subtype 0, version 0; the REPORTMACSTRUCT inner layout is
//! **unverified** (docs/formats.md#td-report).

use super::TdMeasurements;
use crate::rtmr::TDX_MR_SIZE;
use crate::Error;

/// Size of a TDREPORT_STRUCT.
pub const TD_REPORT_SIZE: usize = 1024;
/// Offset of REPORTTYPE.type (0x81 = TDX) inside REPORTMACSTRUCT.
pub const REPORT_TYPE_OFFSET: usize = 0;
/// REPORTTYPE.type of a TDX report.
pub const REPORT_TYPE_TDX: u8 = 0x81;
/// Offset of REPORTDATA (64 bytes).
pub const REPORT_DATA_OFFSET: usize = 128;
/// Offset of TEE_TCB_INFO (239 bytes).
pub const TEE_TCB_INFO_OFFSET: usize = 256;
/// Offset of TDINFO.
pub const TD_INFO_OFFSET: usize = 512;
/// Offset of ATTRIBUTES (8 bytes).
pub const ATTRIBUTES_OFFSET: usize = 512;
/// Offset of XFAM (8 bytes).
pub const XFAM_OFFSET: usize = 520;
/// Offset of MRTD.
pub const MRTD_OFFSET: usize = 528;
/// Offset of MRCONFIGID.
pub const MRCONFIGID_OFFSET: usize = MRTD_OFFSET + TDX_MR_SIZE;
/// Offset of MROWNER.
pub const MROWNER_OFFSET: usize = MRCONFIGID_OFFSET + TDX_MR_SIZE;
/// Offset of MROWNERCONFIG.
pub const MROWNERCONFIG_OFFSET: usize = MROWNER_OFFSET + TDX_MR_SIZE;
/// Offset of RTMR0 (RTMR n is at `RTMR0_OFFSET + 48 * n`).
pub const RTMR0_OFFSET: usize = MROWNERCONFIG_OFFSET + TDX_MR_SIZE;
/// Offset of SERVTD_HASH (TDX 1.5; reserved on 1.0).
pub const SERVTD_HASH_OFFSET: usize = RTMR0_OFFSET + 4 * TDX_MR_SIZE;

const _: () = assert!(MRCONFIGID_OFFSET == 576);
const _: () = assert!(MROWNER_OFFSET == 624);
const _: () = assert!(MROWNERCONFIG_OFFSET == 672);
const _: () = assert!(RTMR0_OFFSET == 720);
const _: () = assert!(SERVTD_HASH_OFFSET == 912);

fn put(report: &mut [u8; TD_REPORT_SIZE], offset: usize, value: &[u8]) {
    if let Some(slot) = report.get_mut(offset..offset + value.len()) {
        slot.copy_from_slice(value);
    }
}

fn take<const N: usize>(report: &[u8], offset: usize) -> [u8; N] {
    let mut out = [0; N];
    if let Some(slot) = report.get(offset..offset + N) {
        out.copy_from_slice(slot);
    }
    out
}

/// Encodes `m` as a TDREPORT_STRUCT (see the module docs for what is left zero).
pub fn encode(m: &TdMeasurements) -> [u8; TD_REPORT_SIZE] {
    let mut report = [0u8; TD_REPORT_SIZE];
    put(&mut report, REPORT_TYPE_OFFSET, &[REPORT_TYPE_TDX, 0, 0, 0]);
    put(&mut report, REPORT_DATA_OFFSET, &m.report_data);
    put(&mut report, MRTD_OFFSET, &m.mrtd);
    put(&mut report, MRCONFIGID_OFFSET, &m.mrconfigid);
    put(&mut report, MROWNER_OFFSET, &m.mrowner);
    put(&mut report, MROWNERCONFIG_OFFSET, &m.mrownerconfig);
    for (n, rtmr) in m.rtmr.iter().enumerate() {
        put(&mut report, RTMR0_OFFSET + n * TDX_MR_SIZE, rtmr);
    }
    report
}

/// Reads the measurements and REPORTDATA back from a TDREPORT_STRUCT (exactly 1024 bytes,
/// REPORTTYPE.type 0x81). Checks the layout only; a report's MAC can only be checked inside the
/// TD that made it.
pub fn decode(report: &[u8]) -> Result<TdMeasurements, Error> {
    if report.len() != TD_REPORT_SIZE {
        return Err(Error::ValueLength {
            path: "TDREPORT_STRUCT".to_owned(),
            expected: TD_REPORT_SIZE,
            got: report.len(),
        });
    }
    if report.get(REPORT_TYPE_OFFSET) != Some(&REPORT_TYPE_TDX) {
        return Err(Error::InvalidAttribute {
            path: "TDREPORT_STRUCT".to_owned(),
            reason: format!(
                "REPORTTYPE.type is {:#04x}, not {REPORT_TYPE_TDX:#04x} (TDX)",
                report.get(REPORT_TYPE_OFFSET).copied().unwrap_or(0)
            ),
        });
    }
    Ok(TdMeasurements {
        mrtd: take(report, MRTD_OFFSET),
        mrconfigid: take(report, MRCONFIGID_OFFSET),
        mrowner: take(report, MROWNER_OFFSET),
        mrownerconfig: take(report, MROWNERCONFIG_OFFSET),
        rtmr: [0, 1, 2, 3].map(|n| take(report, RTMR0_OFFSET + n * TDX_MR_SIZE)),
        report_data: take(report, REPORT_DATA_OFFSET),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn sample() -> TdMeasurements {
        TdMeasurements {
            mrtd: [1; 48],
            mrconfigid: [2; 48],
            mrowner: [3; 48],
            mrownerconfig: [4; 48],
            rtmr: [[5; 48], [6; 48], [7; 48], [8; 48]],
            report_data: [9; 64],
        }
    }

    #[test]
    fn fields_land_at_the_kernel_offsets() {
        let r = encode(&sample());
        assert_eq!(r[0], 0x81);
        assert_eq!(&r[128..192], &[9; 64]);
        assert_eq!(&r[192..528], &[0; 336]);
        assert_eq!(&r[528..576], &[1; 48]);
        assert_eq!(&r[576..624], &[2; 48]);
        assert_eq!(&r[624..672], &[3; 48]);
        assert_eq!(&r[672..720], &[4; 48]);
        assert_eq!(&r[720..768], &[5; 48]);
        assert_eq!(&r[864..912], &[8; 48]);
        assert_eq!(&r[912..], &[0; 112]);
    }

    #[test]
    fn decode_inverts_encode_and_rejects_bad_reports() {
        let m = sample();
        assert_eq!(decode(&encode(&m)).unwrap(), m);
        let r = encode(&m);
        for len in [0, 1, 1023, 1025] {
            let mut v = r.to_vec();
            v.resize(len, 0);
            assert!(matches!(decode(&v), Err(Error::ValueLength { got, .. }) if got == len));
        }
        let mut wrong_type = r;
        wrong_type[0] = 0;
        assert!(matches!(
            decode(&wrong_type),
            Err(Error::InvalidAttribute { .. })
        ));
    }
}
