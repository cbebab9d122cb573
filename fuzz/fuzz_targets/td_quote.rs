#![no_main]
//! TDX TD quotes (v4 / v5): parse, every accessor, and verification at a fixed time with no
//! collateral (the failure paths before and inside the certificate chain).

use libfuzzer_sys::fuzz_target;
use mr_rtmr::quote::{self, TdBody, VerifyOptions};

fuzz_target!(|data: &[u8]| {
    if let Ok(q) = quote::parse(data) {
        let _ = q.header();
        let _ = q.version();
        let _ = q.body_type();
        let body = q.body();
        let _ = body.base();
        if let TdBody::Td15(b) = body {
            let _ = b;
        }
        let _ = q.mr_td();
        let _ = q.rtmrs();
        let _ = q.mr_config_id();
        let _ = q.mr_owner();
        let _ = q.mr_owner_config();
        let _ = q.report_data();
        let _ = q.td_attributes();
        let _ = q.tee_tcb_svn();
        let _ = q.tee_tcb_svn2();
        let _ = q.signed_bytes();
        let sig = q.signature_data();
        let _ = sig.qe_report;
        let _ = sig.qe_auth_data.len();
        let _ = sig.pck_cert_chain.len();
        let _ = q.trailing_bytes();
        let _ = q.quote_bytes_len();
    }
    // 2025-06-01T00:00:00Z.
    let opts = VerifyOptions::at_unix(1_748_736_000);
    if let Ok(v) = quote::verify(data, &opts) {
        let _ = v.registers();
        let _ = v.report_data();
        let _ = v.tcb_status();
        let _ = v.version();
        let _ = v.body_type();
        let _ = v.td_attributes();
        let _ = v.tee_tcb_svn();
        let _ = v.tee_tcb_svn2();
        let _ = v.trailing_bytes();
    }
    let _ = quote::verify(
        data,
        &VerifyOptions::at_unix(1_748_736_000).with_nonce(b"nonce".to_vec()),
    );
});
