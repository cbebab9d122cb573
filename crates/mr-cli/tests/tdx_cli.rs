//! `mr quote verify tdx`: exit codes, inputs (binary, hex, stdin), JSON.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{arg as s, code, mr, mr_stdin, stdout};

fn vectors() -> Option<std::path::PathBuf> {
    common::vectors().map(|v| v.join("tdx/dcap-qvl"))
}

use mr_rtmr::sim::quote::{QuoteFormat, TestQuoteSigner};
use mr_rtmr::sim::TdMeasurements;
use mr_testkit::td::{measurements, signer, write_quote};

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
    let nonce = [0xabu8; 32];
    let m = measurements([1; 48], [[2; 48], [3; 48], [4; 48], [5; 48]], &nonce);
    let dir = tempfile::tempdir().unwrap();
    let (q, root) = write_quote(dir.path(), "quote", signer(), &m, QuoteFormat::V5Td15);
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

/// Measurements of a simulated TD with the given RTMRs.
fn sim_measurements(rtmr: [[u8; 48]; 4]) -> TdMeasurements {
    measurements([1; 48], rtmr, b"")
}

/// Writes the signer's quote of `m` and its root into `dir`; returns (quote, root) arguments.
fn write_sim_quote(
    dir: &std::path::Path,
    name: &str,
    signer: &TestQuoteSigner,
    m: &TdMeasurements,
) -> (String, String) {
    let (q, root) = write_quote(dir, name, signer, m, QuoteFormat::V4Td10);
    (s(&q).to_owned(), s(&root).to_owned())
}

const DEBUG_TD: [u8; 8] = [1, 0, 0, 0x10, 0, 0, 0, 0];

#[test]
fn a_debug_td_is_refused_unless_allow_debug_and_its_attributes_are_shown() {
    // Issue 14 item 2: a debug TD verified, silently.
    let dir = tempfile::tempdir().unwrap();
    let signer = TestQuoteSigner::new().unwrap().with_td_attributes(DEBUG_TD);
    let (q, root) = write_sim_quote(
        dir.path(),
        "debug",
        &signer,
        &sim_measurements([[0; 48]; 4]),
    );
    let o = mr(&["quote", "verify", "tdx", &q, "--root", &root]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("debug TD") && err.contains("--allow-debug"),
        "{err}"
    );
    assert!(err.contains("DEBUG, SEPT_VE_DISABLE"), "{err}");

    let o = mr(&[
        "quote",
        "verify",
        "tdx",
        &q,
        "--root",
        &root,
        "--allow-debug",
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert!(
        out.contains("td_attributes: 0100001000000000 (DEBUG, SEPT_VE_DISABLE) -- DEBUG TD"),
        "{out}"
    );
    let o = mr(&[
        "quote",
        "verify",
        "tdx",
        &q,
        "--root",
        &root,
        "--allow-debug",
        "--json",
    ]);
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["td_attributes"], "0100001000000000");
    assert_eq!(
        v["td_attributes_flags"],
        serde_json::json!(["DEBUG", "SEPT_VE_DISABLE"])
    );
    assert_eq!(v["debug_td"], true);
}

#[test]
fn a_quote_from_another_enclave_or_a_debug_qe_is_refused() {
    // Issue 14 item 2: the PCK key signs any provisioning enclave's report; only Intel's TD QE
    // (MRSIGNER, ISVPRODID 2), not in debug mode, vouches for the attestation key.
    let dir = tempfile::tempdir().unwrap();
    let m = sim_measurements([[0; 48]; 4]);
    type EditQeReport = fn(&mut mr_rtmr::quote::layout::EnclaveReportBody);
    let cases: [(&str, EditQeReport, &str); 3] = [
        (
            "signer",
            |r| r.mr_signer = [0x11; 32],
            "not from Intel's TDX quoting enclave",
        ),
        ("prodid", |r| r.isv_prod_id = 1.into(), "ISVPRODID 1"),
        ("qedebug", |r| r.attributes[0] |= 0x02, "debug mode"),
    ];
    for (name, edit, why) in cases {
        let signer = TestQuoteSigner::new().unwrap().with_qe_report(edit);
        let (q, root) = write_sim_quote(dir.path(), name, &signer, &m);
        let o = mr(&[
            "quote",
            "verify",
            "tdx",
            &q,
            "--root",
            &root,
            "--allow-debug",
        ]);
        assert_eq!(code(&o), 1, "{name}: {}", stdout(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(why), "{name}: {err}");
    }
}

#[test]
fn an_altered_embedded_root_is_refused() {
    // Issue 14 item 7: the root the PCK chain embeds was never compared with the trust anchor.
    let Some(d) = vectors() else { return };
    let raw = std::fs::read(d.join("tdx_quote")).unwrap();
    // The last PEM block of the chain is the Intel SGX Root CA: change one letter of its CRL
    // distribution point URL (an extension) and re-encode, keeping the PEM and the quote's
    // lengths as they are. No signature covers the chain's bytes in the quote.
    use base64::Engine as _;
    let end = raw
        .windows(25)
        .rposition(|w| w == b"-----END CERTIFICATE-----")
        .unwrap();
    let begin = raw[..end]
        .windows(28)
        .rposition(|w| w == b"-----BEGIN CERTIFICATE-----\n")
        .unwrap()
        + 28;
    let body: Vec<u8> = raw[begin..end]
        .iter()
        .copied()
        .filter(|b| *b != b'\n')
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut der = b64.decode(&body).unwrap();
    assert_eq!(der, mr_rtmr::quote::INTEL_SGX_ROOT_CA_DER);
    let url = der.windows(12).position(|w| w == b"certificates").unwrap();
    der[url] = b'C';
    let text = b64.encode(&der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!("{}\n", lines.join("\n"));
    assert_eq!(pem.len(), end - begin);
    let mut bad = raw.clone();
    bad[begin..end].copy_from_slice(pem.as_bytes());
    let o = mr_stdin(&["quote", "verify", "tdx", "-", "--at", VECTOR_AT], &bad);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is not the trust anchor"), "{err}");
    // The same quote unaltered verifies, and shows its TD attributes.
    let o = mr_stdin(&["quote", "verify", "tdx", "-", "--at", VECTOR_AT], &raw);
    assert_eq!(code(&o), 0);
    assert!(
        stdout(&o).contains("td_attributes: 0000001000000000 (SEPT_VE_DISABLE)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn junk_times_exit_2_with_a_message_on_every_command() {
    // Issue 14 item 8: `--at` with a multi-byte character panicked (exit 101).
    let dir = tempfile::tempdir().unwrap();
    let signer = TestQuoteSigner::new().unwrap();
    let (q, root) = write_sim_quote(dir.path(), "q", &signer, &sim_measurements([[0; 48]; 4]));
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let empty = empty.to_str().unwrap();
    // `mr tcg replay` reads the log before the quote's options: give it a real CCEL log.
    let ccel = common::vectors().map(|v| v.join("ccel/go-eventlog/cos-113-intel-tdx.bin"));
    let log = ccel.as_deref().map_or(empty, |p| p.to_str().unwrap());
    for at in [
        "2025-07-19T10:00:34+0ü00",
        "ü…",
        "2025-02-30T00:00:00Z",
        "now",
    ] {
        for args in [
            vec!["quote", "verify", "tdx", &q, "--root", &root, "--at", at],
            vec![
                "verify",
                "--ima",
                empty,
                "--td-quote",
                &q,
                "--journal",
                empty,
                "--root",
                &root,
                "--at",
                at,
            ],
            vec![
                "tcg",
                "replay",
                log,
                "--ccel",
                "--td-quote",
                &q,
                "--root",
                &root,
                "--at",
                at,
            ],
        ] {
            if args[0] == "tcg" && ccel.is_none() {
                continue;
            }
            let o = mr(&args);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(code(&o), 2, "{args:?}: {err}");
            assert!(err.contains("is not an RFC 3339 time"), "{args:?}: {err}");
        }
    }
}

#[test]
fn tcg_replay_with_a_td_quote_refuses_a_debug_td_and_shows_the_attributes() {
    let Some(v) = common::vectors() else { return };
    let log = v.join("ccel/go-eventlog/cos-113-intel-tdx.bin");
    let log = log.to_str().unwrap();
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(v.join("ccel/go-eventlog/EXPECTED_rtmrs.json")).unwrap(),
    )
    .unwrap();
    let rtmr = |i: &str| -> [u8; 48] {
        let h = expected["cases"]["cos-113-intel-tdx.bin"]["rtmr"][i]
            .as_str()
            .unwrap();
        hex::decode(h).unwrap().try_into().unwrap()
    };
    let m = sim_measurements([rtmr("0"), rtmr("1"), rtmr("2"), [0; 48]]);
    let dir = tempfile::tempdir().unwrap();
    let signer = TestQuoteSigner::new().unwrap().with_td_attributes(DEBUG_TD);
    let (q, root) = write_sim_quote(dir.path(), "debug", &signer, &m);
    let args = ["tcg", "replay", log, "--td-quote", &q, "--root", &root];
    let o = mr(&args);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("debug TD"));

    let o = mr(&[&args[..], &["--allow-debug"]].concat());
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout(&o).contains("td quote td_attributes: 0100001000000000 (DEBUG, SEPT_VE_DISABLE)"),
        "{}",
        stdout(&o)
    );
    let o = mr(&[&args[..], &["--allow-debug", "--json"]].concat());
    assert_eq!(code(&o), 0);
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["debug_td"], true);
    assert_eq!(j["td_attributes"], "0100001000000000");

    // A TD that is not a debug TD: accepted by default, its attributes shown.
    let (q, root) = write_sim_quote(dir.path(), "td", &TestQuoteSigner::new().unwrap(), &m);
    let o = mr(&[
        "tcg",
        "replay",
        log,
        "--td-quote",
        &q,
        "--root",
        &root,
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["debug_td"], false);
    assert_eq!(j["td_attributes_flags"], serde_json::json!([]));
}

#[test]
fn verify_under_a_td_root_refuses_a_debug_td_unless_allow_debug() {
    let dir = tempfile::tempdir().unwrap();
    let signer = TestQuoteSigner::new().unwrap().with_td_attributes(DEBUG_TD);
    let (q, root) = write_sim_quote(
        dir.path(),
        "debug",
        &signer,
        &sim_measurements([[0; 48]; 4]),
    );
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let empty = empty.to_str().unwrap();
    let args = [
        "verify",
        "--ima",
        empty,
        "--td-quote",
        &q,
        "--journal",
        empty,
        "--root",
        &root,
    ];
    let o = mr(&args);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("debug TD"));
    let o = mr(&[&args[..], &["--allow-debug"]].concat());
    // Allowed, the quote verifies and the (empty) journal is what fails.
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 1, "{err}");
    assert!(
        !err.contains("debug TD") && err.contains("journal"),
        "{err}"
    );
}
