//! `mr quote verify az-tdx-vtpm` and `az-snp-vtpm` on trustee's Azure evidence
//! (crates/mr-vtpm/tests/data): exit 0 with the verified PCR values, 1 with the reason when a
//! link is broken, 2 for malformed input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Output;

mod common;
use common::{code, mr, stderr, stdout, write};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../mr-vtpm/tests/data");
const AT: &str = "2025-06-01T00:00:00Z";
/// "challenge", the report data of trustee's tests.
const CHALLENGE: &str = "6368616c6c656e6765";

fn data(rel: &str) -> String {
    format!("{DATA}/{rel}")
}

/// `mr quote verify KIND EVIDENCE --at AT ARGS…`.
fn quote_verify(kind: &str, evidence: &str, args: &[&str]) -> Output {
    let mut all = vec!["quote", "verify", kind, evidence, "--at", AT];
    all.extend_from_slice(args);
    mr(&all)
}

fn bundle(dir: &std::path::Path) -> String {
    let mut pem = std::fs::read(data("trustee/amd/milan_ask_ark_asvk.pem")).unwrap();
    pem.extend(std::fs::read(data("trustee/amd/genoa_ask_ark_asvk.pem")).unwrap());
    write(dir, "ask_ark.pem", &pem)
}

#[test]
fn az_tdx_vtpm_prints_the_verified_pcrs() {
    let ev = data("trustee/az-tdx-vtpm/evidence-v1.json");
    let o = quote_verify("az-tdx-vtpm", &ev, &["--nonce", CHALLENGE]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(
            "pcr0:sha256:782b20b10f55cc46e2142cc2145d548698073e5beb82752c8d7f9279f0d8a273"
        ),
        "{out}"
    );
    assert_eq!(out.lines().filter(|l| l.starts_with("pcr")).count(), 24);
    assert!(out.contains("chain: TD quote chained to"), "{out}");

    let o = quote_verify("az-tdx-vtpm", &ev, &["--nonce", CHALLENGE, "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["verified"], true);
    assert_eq!(j["registers"].as_array().unwrap().len(), 24);
    assert_eq!(j["registers"][0]["id"], "pcr0");
    assert_eq!(j["hardware"]["type"], "td_quote");
}

#[test]
fn az_tdx_vtpm_wrong_nonce_is_1_and_junk_is_2() {
    let ev = data("trustee/az-tdx-vtpm/evidence-v1.json");
    let o = quote_verify("az-tdx-vtpm", &ev, &["--nonce", "00", "--json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["reason"], "wrong_nonce");

    let dir = tempfile::tempdir().unwrap();
    let junk = write(dir.path(), "junk.json", b"{\"version\":1}");
    let o = quote_verify("az-tdx-vtpm", &junk, &[]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}

#[test]
fn az_snp_vtpm_prints_the_verified_pcrs_and_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let ask_ark = bundle(dir.path());
    let ev = data("trustee/az-snp-vtpm/evidence-v1.json");
    let o = quote_verify(
        "az-snp-vtpm",
        &ev,
        &["--nonce", CHALLENGE, "--ask-ark", &ask_ark],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(
            "pcr0:sha256:e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced"
        ),
        "{out}"
    );
    assert!(out.contains("SNP report: policy"), "{out}");

    let o = quote_verify(
        "az-snp-vtpm",
        &ev,
        &["--nonce", CHALLENGE, "--ask-ark", &ask_ark, "--json"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["hardware"]["type"], "snp_report");
    assert_eq!(j["hardware"]["vmpl"], 0);
    assert!(j["hardware"]["vcek_root"]
        .as_str()
        .unwrap()
        .contains("ARK-Milan"));
}

#[test]
fn az_snp_vtpm_without_the_vceks_generation_is_1() {
    let dir = tempfile::tempdir().unwrap();
    let ev = data("trustee/az-snp-vtpm/evidence-v1.json");
    let genoa = data("trustee/amd/genoa_ask_ark_asvk.pem");
    let o = quote_verify(
        "az-snp-vtpm",
        &ev,
        &["--nonce", CHALLENGE, "--ask-ark", &genoa, "--json"],
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["reason"], "vcek_chain");
    // A bundle that is no certificate is malformed.
    let junk = write(dir.path(), "junk.pem", b"not a certificate");
    let o = quote_verify("az-snp-vtpm", &ev, &["--ask-ark", &junk]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}
