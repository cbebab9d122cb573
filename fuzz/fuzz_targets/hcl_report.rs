#![no_main]
//! Azure HCL reports and what they carry: parse, the runtime data JSON and its AK, the SNP
//! report inside, and trustee's evidence JSON. Nothing may panic; whatever parses must be
//! consistent with the input (the runtime data lies inside it, at its fixed offset).

use libfuzzer_sys::fuzz_target;
use mr_vtpm::hcl::{HclReport, HwReportType, RUNTIME_DATA_OFFSET};
use mr_vtpm::{AzVtpmEvidence, SnpReport};

fuzz_target!(|data: &[u8]| {
    if let Ok(hcl) = HclReport::parse(data) {
        let rd = hcl.runtime_data();
        assert_eq!(
            data.get(RUNTIME_DATA_OFFSET..RUNTIME_DATA_OFFSET + rd.len()),
            Some(rd)
        );
        assert_eq!(RUNTIME_DATA_OFFSET + rd.len() + hcl.trailing_bytes(), data.len());
        let _ = hcl.runtime_data_sha256();
        if let Ok(parsed) = hcl.parse_runtime_data() {
            let _ = parsed.ak();
        }
        if hcl.report_type == HwReportType::Snp {
            let _ = SnpReport::parse(hcl.hw_report());
        } else {
            assert!(hcl.td_report_data().is_some());
        }
    }
    let _ = SnpReport::parse(data);
    let _ = AzVtpmEvidence::from_trustee_json(data);
});
