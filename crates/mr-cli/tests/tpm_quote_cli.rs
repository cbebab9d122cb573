//! `mr quote verify tpm` on real quotes from other projects (MR_SHARED): exit 0 with the verified
//! PCR values, 1 with the reason when rejected, 2 for malformed input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{code, mr, stderr, write};

fn vector(rel: &str) -> Option<serde_json::Value> {
    let path = common::vectors()?.join("tpmquote").join(rel);
    Some(serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
}

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine as _;

fn unhex(v: &serde_json::Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

struct Cmc {
    dir: tempfile::TempDir,
    v: serde_json::Value,
    attest: String,
    sig: String,
    ak: String,
    pcrs: String,
}

fn cmc() -> Option<Cmc> {
    let v = vector("cmc/verifier_tpm_test_vectors.json")?;
    let dir = tempfile::tempdir().unwrap();
    let attest = write(
        dir.path(),
        "attest.bin",
        &unhex(&v["quote_tpms_attest_hex"]),
    );
    let sig = write(
        dir.path(),
        "sig.bin",
        &unhex(&v["signature_tpmt_signature_hex"]),
    );
    let ak = write(
        dir.path(),
        "ak.pem",
        v["ak_cert_pem"].as_str().unwrap().as_bytes(),
    );
    let mut lines = String::from("# quoted values\n\n");
    for (pcr, vals) in v["pcr_summary_sha256"].as_object().unwrap() {
        lines.push_str(&format!("{pcr}:sha256:{}\n", vals[0].as_str().unwrap()));
    }
    let pcrs = write(dir.path(), "pcrs.txt", lines.as_bytes());
    Some(Cmc {
        dir,
        v,
        attest,
        sig,
        ak,
        pcrs,
    })
}

#[test]
fn cmc_quote_verifies_and_prints_the_quoted_pcrs() {
    let Some(c) = cmc() else { return };
    let nonce = c.v["nonce_hex"].as_str().unwrap();
    let o = mr(&[
        "quote", "verify", "tpm", "--attest", &c.attest, "--sig", &c.sig, "--ak", &c.ak, "--nonce",
        nonce, "--pcrs", &c.pcrs, "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["verified"], true);
    assert_eq!(j["pcrs_checked"], true);
    assert_eq!(j["nonce_checked"], true);
    let regs = j["registers"].as_array().unwrap();
    assert_eq!(regs.len(), 2);
    assert_eq!(regs[0]["id"], "pcr1");
    assert_eq!(regs[0]["alg"], "sha256");
    assert_eq!(regs[0]["value"], c.v["pcr_summary_sha256"]["1"][0]);
    assert_eq!(regs[1]["id"], "pcr4");

    let o = mr(&[
        "quote", "verify", "tpm", "--attest", &c.attest, "--sig", &c.sig, "--ak", &c.ak, "--nonce",
        nonce, "--pcrs", &c.pcrs,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains(
            "pcr4:sha256:d3f67dbed9bce9d391a3567edad08971339e4dbabadd5b7eaf082860296e5e72"
        ),
        "{out}"
    );
}

/// The register lines `mr quote verify tpm` prints are `ID:ALG:HEX`, the form `--pcrs` and
/// `--expect-file` read: one command's output is the next one's input.
#[test]
fn printed_registers_are_the_next_commands_input() {
    let Some(c) = cmc() else { return };
    let nonce = c.v["nonce_hex"].as_str().unwrap();
    let args = |pcrs: &str| {
        mr(&[
            "quote", "verify", "tpm", "--attest", &c.attest, "--sig", &c.sig, "--ak", &c.ak,
            "--nonce", nonce, "--pcrs", pcrs,
        ])
    };
    let o = args(&c.pcrs);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.parse::<mr_core::RegisterValue>().is_ok())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    let dir = tempfile::tempdir().unwrap();
    let printed = dir.path().join("printed-pcrs.txt");
    std::fs::write(&printed, lines.join("\n")).unwrap();
    let o = args(printed.to_str().unwrap());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(String::from_utf8(o.stdout).unwrap(), out);
}

#[test]
fn without_pcrs_only_signature_and_nonce_are_checked() {
    let Some(c) = cmc() else { return };
    let o = mr(&[
        "quote", "verify", "tpm", "--attest", &c.attest, "--sig", &c.sig, "--ak", &c.ak, "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["pcrs_checked"], false);
    assert_eq!(j["nonce_checked"], false);
    assert!(j["registers"].is_null());
    let o = mr(&[
        "quote", "verify", "tpm", "--attest", &c.attest, "--sig", &c.sig, "--ak", &c.ak,
    ]);
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("no register value is verified"), "{out}");
    assert!(out.contains("NOT checked: no --nonce"), "{out}");
}

#[test]
fn an_empty_nonce_is_a_usage_error_not_a_match() {
    let Some(c) = cmc() else { return };
    for empty in ["", "0x"] {
        let o = mr(&[
            "quote", "verify", "tpm", "--attest", &c.attest, "--sig", &c.sig, "--ak", &c.ak,
            "--nonce", empty, "--pcrs", &c.pcrs,
        ]);
        assert_eq!(code(&o), 2, "{empty:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("--nonce is empty"), "{}", stderr(&o));
        assert!(o.stdout.is_empty(), "nothing is reported as verified");
    }
}

#[test]
fn cmc_negative_cases_exit_1_with_the_reason() {
    let Some(c) = cmc() else { return };
    let nonce = c.v["nonce_hex"].as_str().unwrap();
    let bad_nonce = c.v["invalid_nonce_hex"].as_str().unwrap();
    let o = mr(&[
        "quote", "verify", "tpm", "--attest", &c.attest, "--sig", &c.sig, "--ak", &c.ak, "--nonce",
        bad_nonce, "--pcrs", &c.pcrs, "--json",
    ]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("wrong nonce"), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["verified"], false);
    assert_eq!(j["reason"], "wrong_nonce");

    let bad_sig = write(
        c.dir.path(),
        "bad_sig.bin",
        &unhex(&c.v["invalid_signature_hex"]),
    );
    let o = mr(&[
        "quote", "verify", "tpm", "--attest", &c.attest, "--sig", &bad_sig, "--ak", &c.ak,
        "--nonce", nonce,
    ]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("bad signature"), "{}", stderr(&o));

    let mut lines = String::new();
    for (pcr, vals) in c.v["invalid_pcr_summary_sha256"].as_object().unwrap() {
        lines.push_str(&format!("pcr{pcr}:sha256:{}\n", vals[0].as_str().unwrap()));
    }
    let bad_pcrs = write(c.dir.path(), "bad_pcrs.txt", lines.as_bytes());
    let o = mr(&[
        "quote", "verify", "tpm", "--attest", &c.attest, "--sig", &c.sig, "--ak", &c.ak, "--nonce",
        nonce, "--pcrs", &bad_pcrs,
    ]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("PCR digest mismatch"), "{}", stderr(&o));

    // A PCR the quote selects but the file does not give.
    let partial = write(
        c.dir.path(),
        "partial.txt",
        format!(
            "1:sha256:{}\n",
            c.v["pcr_summary_sha256"]["1"][0].as_str().unwrap()
        )
        .as_bytes(),
    );
    let o = mr(&[
        "quote", "verify", "tpm", "--attest", &c.attest, "--sig", &c.sig, "--ak", &c.ak, "--pcrs",
        &partial,
    ]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("pcr4"), "{}", stderr(&o));
}

#[test]
fn gta_evidence_with_a_foreign_ak_certificate_exits_1_and_the_boot_evidence_0() {
    let Some(bad) = vector("global-trust-authority/common_test_evidence.json") else {
        return;
    };
    let Some(good) = vector("global-trust-authority/boot_test_evidence.json") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    let nonce = hex::encode(
        base64::engine::general_purpose::STANDARD
            .decode("ljYr8vYNYrErFHGKeiL4vg==")
            .unwrap(),
    );
    for (name, v, expect) in [("bad", &bad, 1), ("good", &good, 0)] {
        let e = &v["evidence"];
        let attest = write(
            dir.path(),
            &format!("{name}.attest"),
            &b64(&e["quote"]["quote_data"]),
        );
        let sig = write(
            dir.path(),
            &format!("{name}.sig"),
            &b64(&e["quote"]["signature"]),
        );
        let ak = write(
            dir.path(),
            &format!("{name}.der"),
            &b64(&e["ak_certs"][0]["cert_data"]),
        );
        let mut lines = String::new();
        for p in e["pcrs"]["pcr_values"].as_array().unwrap() {
            lines.push_str(&format!(
                "{}:sha256:{}\n",
                p["pcr_index"],
                p["pcr_value"].as_str().unwrap()
            ));
        }
        let pcrs = write(dir.path(), &format!("{name}.pcrs"), lines.as_bytes());
        let o = mr(&[
            "quote", "verify", "tpm", "--attest", &attest, "--sig", &sig, "--ak", &ak, "--nonce",
            &nonce, "--pcrs", &pcrs,
        ]);
        assert_eq!(code(&o), expect, "{name}: {}", stderr(&o));
        if expect == 1 {
            assert!(stderr(&o).contains("bad signature"), "{}", stderr(&o));
        } else {
            assert_eq!(
                String::from_utf8(o.stdout)
                    .unwrap()
                    .matches(":sha256:")
                    .count(),
                8
            );
        }
    }
}

#[test]
fn malformed_input_exits_2() {
    let Some(c) = cmc() else { return };
    let attest = std::fs::read(&c.attest).unwrap();
    let short = write(c.dir.path(), "short.bin", &attest[..attest.len() - 5]);
    let o = mr(&[
        "quote", "verify", "tpm", "--attest", &short, "--sig", &c.sig, "--ak", &c.ak,
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("malformed"), "{}", stderr(&o));
    let junk = write(c.dir.path(), "junk.key", b"junk");
    let o = mr(&[
        "quote", "verify", "tpm", "--attest", &c.attest, "--sig", &c.sig, "--ak", &junk,
    ]);
    assert_eq!(code(&o), 2);
    let o = mr(&[
        "quote", "verify", "tpm", "--attest", &c.attest, "--sig", &c.sig, "--ak", &c.ak, "--nonce",
        "xyz",
    ]);
    assert_eq!(code(&o), 2);
    let bad_pcrs = write(c.dir.path(), "bad.txt", b"10:sha256:abcd\n");
    let o = mr(&[
        "quote", "verify", "tpm", "--attest", &c.attest, "--sig", &c.sig, "--ak", &c.ak, "--pcrs",
        &bad_pcrs,
    ]);
    assert_eq!(code(&o), 2);
    let mut sig = std::fs::read(&c.sig).unwrap();
    sig[1] = 0x05; // HMAC
    let hmac = write(c.dir.path(), "hmac.sig", &sig);
    let o = mr(&[
        "quote", "verify", "tpm", "--attest", &c.attest, "--sig", &hmac, "--ak", &c.ak,
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("unsupported signature scheme"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn attest_can_come_from_stdin() {
    let Some(c) = cmc() else { return };
    let mut child = Command::new(env!("CARGO_BIN_EXE_mr"))
        .args([
            "quote", "verify", "tpm", "--attest", "-", "--sig", &c.sig, "--ak", &c.ak, "--pcrs",
            &c.pcrs,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&c.attest).unwrap())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// `--ak-ca`: the AK certificate must chain to an operator root, valid at `--at`, before the
/// quote counts; another root, a time after the certificate expired (2027) or a root bundle
/// that is not one exits 1 or 2 and the quote is not trusted.
#[test]
fn an_ak_certificate_is_checked_against_the_given_roots_before_the_quote() {
    let Some(c) = cmc() else { return };
    let nonce = c.v["nonce_hex"].as_str().unwrap();
    let ca = write(
        c.dir.path(),
        "ca.pem",
        c.v["ca_cert_pem"].as_str().unwrap().as_bytes(),
    );
    let other = write(
        c.dir.path(),
        "other.pem",
        c.v["invalid_ca_cert_pem"].as_str().unwrap().as_bytes(),
    );
    let run = |roots: &[&str], at: &str| {
        let mut args = vec![
            "quote", "verify", "tpm", "--attest", &c.attest, "--sig", &c.sig, "--ak", &c.ak,
            "--nonce", nonce, "--pcrs", &c.pcrs, "--at", at,
        ];
        for r in roots {
            args.extend(["--ak-ca", r]);
        }
        mr(&args)
    };
    let o = run(&[other.as_str(), ca.as_str()], "2025-06-01T00:00:00Z");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("ak: AK certificate chains to"), "{out}");
    assert!(out.contains("Test Root CA"), "{out}");

    let o = run(&[other.as_str()], "2025-06-01T00:00:00Z");
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("rejected"), "{}", stderr(&o));

    let o = run(&[ca.as_str()], "2031-01-01T00:00:00Z");
    assert_eq!(code(&o), 1, "{}", stderr(&o));

    let o = run(&[c.pcrs.as_str()], "2025-06-01T00:00:00Z");
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}
