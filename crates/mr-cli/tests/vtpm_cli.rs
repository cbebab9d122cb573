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

/// A binary IMA list of one boot_aggregate and one file: a list of another machine than
/// trustee's, so its replay cannot reach the vTPM's PCR 10.
fn other_machines_list(dir: &std::path::Path) -> String {
    use mr_core::log::ima::builder::ImaListBuilder;
    use mr_core::HashAlg;
    let mut list = ImaListBuilder::binary();
    list.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"pcrs 0-9"));
    list.ima_ng(10, &HashAlg::Sha256.hash(b"/usr/bin/bash"), "/usr/bin/bash");
    write(dir, "ima.bin", list.as_bytes())
}

/// The `pcrN:sha256:HEX` line `mr quote verify` printed for `pcr`.
fn pcr_line(out: &str, pcr: &str) -> String {
    out.lines()
        .find(|l| l.starts_with(&format!("{pcr}:sha256:")))
        .unwrap_or_else(|| panic!("no {pcr} line in {out}"))
        .to_owned()
}

#[test]
fn mr_verify_az_tdx_vtpm_verifies_the_root_and_replays_the_list_against_its_pcr10() {
    let dir = tempfile::tempdir().unwrap();
    let ev = data("trustee/az-tdx-vtpm/evidence-v1.json");
    let list = other_machines_list(dir.path());
    let o = quote_verify("az-tdx-vtpm", &ev, &["--nonce", CHALLENGE]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let pcr10 = pcr_line(&stdout(&o), "pcr10");
    let pcr10_hex = pcr10.rsplit(':').next().unwrap();

    let verify_json = |nonce: &str| {
        mr(&[
            "verify",
            "--ima",
            &list,
            "--az-tdx-vtpm",
            &ev,
            "--nonce",
            nonce,
            "--at",
            AT,
            "--json",
        ])
    };
    let o = verify_json(CHALLENGE);
    // The root verified; the replay ran against the vTPM's PCR 10 and the list does not reach
    // it: rejected at the IMA step, with the quoted value as the expected one.
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["verified"], false);
    assert_eq!(j["reason"], "ima_replay", "{j}");
    assert_eq!(j["mismatches"][0]["id"], "pcr10");
    assert_eq!(j["mismatches"][0]["expected"], pcr10_hex, "{j}");

    // A wrong nonce stops at the root, before the list.
    let o = verify_json("00");
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["reason"], "wrong_nonce", "{j}");

    // Malformed evidence is exit 2.
    let junk = write(dir.path(), "junk.json", b"{\"version\":1}");
    let o = mr(&["verify", "--ima", &list, "--az-tdx-vtpm", &junk, "--at", AT]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}

#[test]
fn mr_verify_az_snp_vtpm_verifies_the_root_and_replays_the_list_against_its_pcr10() {
    let dir = tempfile::tempdir().unwrap();
    let ask_ark = bundle(dir.path());
    let ev = data("trustee/az-snp-vtpm/evidence-v1.json");
    let list = other_machines_list(dir.path());
    let o = quote_verify(
        "az-snp-vtpm",
        &ev,
        &["--nonce", CHALLENGE, "--ask-ark", &ask_ark],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let pcr10 = pcr_line(&stdout(&o), "pcr10");
    let pcr10_hex = pcr10.rsplit(':').next().unwrap();

    let args = [
        "verify",
        "--ima",
        &list,
        "--az-snp-vtpm",
        &ev,
        "--ask-ark",
        &ask_ark,
        "--nonce",
        CHALLENGE,
        "--at",
        AT,
        "--json",
    ];
    let o = mr(&args);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["reason"], "ima_replay", "{j}");
    assert_eq!(j["mismatches"][0]["id"], "pcr10");
    assert_eq!(j["mismatches"][0]["expected"], pcr10_hex, "{j}");

    // Without the VCEK's generation in the bundle the root is rejected before the list.
    let genoa = data("trustee/amd/genoa_ask_ark_asvk.pem");
    let mut other = args;
    other[6] = &genoa;
    let o = mr(&other);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["reason"], "vcek_chain", "{j}");
}

#[test]
fn mr_verify_refuses_two_roots_and_options_of_another_root() {
    let dir = tempfile::tempdir().unwrap();
    let list = other_machines_list(dir.path());
    let tdx = data("trustee/az-tdx-vtpm/evidence-v1.json");
    let snp = data("trustee/az-snp-vtpm/evidence-v1.json");
    let ask_ark = bundle(dir.path());
    let f = write(dir.path(), "any", b"x");
    let refused: [&[&str]; 7] = [
        &[
            "--az-tdx-vtpm",
            &tdx,
            "--az-snp-vtpm",
            &snp,
            "--ask-ark",
            &ask_ark,
        ],
        &[
            "--az-tdx-vtpm",
            &tdx,
            "--tpm-attest",
            &f,
            "--tpm-sig",
            &f,
            "--ak",
            &f,
        ],
        &["--az-tdx-vtpm", &tdx, "--td-quote", &f, "--journal", &f],
        &["--az-tdx-vtpm", &tdx, "--ask-ark", &ask_ark],
        &["--az-snp-vtpm", &snp, "--ask-ark", &ask_ark, "--root", &f],
        &["--az-snp-vtpm", &snp],
        &[
            "--tpm-attest",
            &f,
            "--tpm-sig",
            &f,
            "--ak",
            &f,
            "--vcek",
            &f,
        ],
    ];
    for extra in refused {
        let mut args = vec!["verify", "--ima", &list, "--at", AT];
        args.extend_from_slice(extra);
        let o = mr(&args);
        assert_eq!(code(&o), 2, "{extra:?}: {}", stderr(&o));
    }
}
