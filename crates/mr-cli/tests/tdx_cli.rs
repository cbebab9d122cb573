//! `mr quote verify tdx`: exit codes, inputs (binary, hex, stdin), JSON.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{arg as s, code, mr, mr_stdin, stdout};

fn vectors() -> Option<std::path::PathBuf> {
    common::vectors().map(|v| v.join("tdx/dcap-qvl"))
}

use mr_rtmr::sim::quote::{QuoteFormat, TestQuoteSigner};
use mr_rtmr::sim::TdMeasurements;

/// Inside tdx_quote_collateral.json's validity window (see EXPECTED.json).
const VECTOR_AT: &str = "2025-07-19T10:00:34Z";

#[test]
fn real_quote_with_collateral_prints_up_to_date_and_exits_0() {
    let Some(d) = vectors() else { return };
    let q = d.join("tdx_quote");
    let c = d.join("tdx_quote_collateral.json");
    let o = mr(&[
        "quote",
        "verify",
        "tdx",
        s(&q),
        "--collateral",
        s(&c),
        "--at",
        VECTOR_AT,
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert!(out.contains("tcb_status: UpToDate"), "{out}");
    assert!(out.contains("rtmr0:sha384:"), "{out}");
    assert!(
        out.contains("mrtd:sha384:") || out.contains("MRTD"),
        "{out}"
    );

    let o = mr(&[
        "quote",
        "verify",
        "tdx",
        s(&q),
        "--collateral",
        s(&c),
        "--at",
        VECTOR_AT,
        "--json",
    ]);
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["tcb_status"]["status"], "UpToDate");
    assert_eq!(v["version"], 4);
    let regs = v["registers"].as_array().unwrap();
    assert_eq!(regs.len(), 5);
    assert!(regs
        .iter()
        .all(|r| r["alg"] == "sha384" && r["value"].as_str().unwrap().len() == 96));
}

#[test]
fn hex_text_and_stdin_are_accepted() {
    let Some(d) = vectors() else { return };
    let raw = std::fs::read(d.join("tdx_quote")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hex_file = dir.path().join("quote.hex");
    std::fs::write(&hex_file, format!("0x{}\n", hex::encode(&raw))).unwrap();
    let o = mr(&["quote", "verify", "tdx", s(&hex_file), "--at", VECTOR_AT]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("tcb_status: not evaluated"));
    let o = mr_stdin(&["quote", "verify", "tdx", "-", "--at", VECTOR_AT], &raw);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn tampered_quote_exits_1_and_garbage_exits_2() {
    let Some(d) = vectors() else { return };
    let mut raw = std::fs::read(d.join("tdx_quote")).unwrap();
    raw[376] ^= 1; // RTMR0
    let o = mr_stdin(&["quote", "verify", "tdx", "-", "--at", VECTOR_AT], &raw);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("quote signature"));
    let o = mr_stdin(
        &["quote", "verify", "tdx", "-", "--at", VECTOR_AT],
        b"\x04\x00\x02\x00garbage",
    );
    assert_eq!(code(&o), 2);
    let o = mr_stdin(
        &["quote", "verify", "tdx", "-", "--at", "last tuesday"],
        &raw,
    );
    assert_eq!(code(&o), 2);
}

#[test]
fn simulated_quote_verifies_with_its_root_and_nonce() {
    let signer = TestQuoteSigner::new().unwrap();
    let nonce = [0xabu8; 32];
    let mut report_data = [0u8; 64];
    report_data[..32].copy_from_slice(&nonce);
    let m = TdMeasurements {
        mrtd: [1; 48],
        mrconfigid: [0; 48],
        mrowner: [0; 48],
        mrownerconfig: [0; 48],
        rtmr: [[2; 48], [3; 48], [4; 48], [5; 48]],
        report_data,
    };
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("quote.bin");
    std::fs::write(&q, signer.quote_as(&m, QuoteFormat::V5Td15).unwrap()).unwrap();
    let root = dir.path().join("root.der");
    std::fs::write(&root, signer.root_der()).unwrap();
    let nonce_hex = hex::encode(nonce);
    let args = [
        "quote",
        "verify",
        "tdx",
        s(&q),
        "--root",
        s(&root),
        "--nonce",
        &nonce_hex,
        "--json",
    ];
    let o = mr(&args);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["body_type"], 3);
    let reg = |id: &str| {
        v["registers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(reg("rtmr0"), hex::encode([2u8; 48]));
    assert_eq!(reg("rtmr3"), hex::encode([5u8; 48]));
    assert_eq!(reg("mrtd"), hex::encode([1u8; 48]));
    assert!(v["tcb_status"].is_null());

    // Wrong nonce, or Intel's root (the default): rejected.
    let o = mr(&[
        "quote",
        "verify",
        "tdx",
        s(&q),
        "--root",
        s(&root),
        "--nonce",
        "00ff",
    ]);
    assert_eq!(code(&o), 1);
    let o = mr(&["quote", "verify", "tdx", s(&q)]);
    assert_eq!(code(&o), 1);
    // A nonce longer than REPORTDATA is a usage error.
    let long = "00".repeat(65);
    let o = mr(&[
        "quote",
        "verify",
        "tdx",
        s(&q),
        "--root",
        s(&root),
        "--nonce",
        &long,
    ]);
    assert_eq!(code(&o), 2);
}
