//! `mr verify --boot-log` under the TPM root with a Windows-shaped boot log
//! (`crates/mr-core/tests/data/windows-agile`: SHA-1 + SHA-256 declared, the boot manager's
//! records in PCRs 11-14 carry SHA-256 only). A software-signed quote over the SHA-256 values the
//! log's maker computed (not mr) and PCR 10 of an IMA list whose SHA-256 boot_aggregate is taken
//! over those values verifies; a quote that also selects a SHA-1 PCR the log covers only partly
//! (the real TPM's value, from go-attestation) is not verifiable, never verified; a changed
//! quoted value is a mismatch.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{code, mr, stderr, stdout, write};

use base64::Engine as _;
use mr_core::log::ima::builder::ImaListBuilder;
use mr_core::log::ima::DigestMode;
use mr_core::{Digest, HashAlg, MrId, RegisterValue};
use mr_testkit::tpm::{
    ecc_key, ecc_tpmt_public, ecdsa_signature, quote_attest, RESTRICTED_SIGNING, TPM_ALG_ECDSA,
    TPM_ALG_SHA256,
};
use mr_tpm::{Attested, PcrBankSelection, PcrSelection, QuoteInfo};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../mr-core/tests/data");
const NONCE: &[u8] = b"windows boot log nonce";

fn json(rel: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(format!("{DATA}/{rel}")).unwrap()).unwrap()
}

/// The SHA-256 values `make_windows_agile.py` computed for the log, by PCR.
fn script_sha256() -> Vec<RegisterValue> {
    let j = json("windows-agile/windows_gcp_agile.expected.json");
    let mut v: Vec<RegisterValue> = j["pcrs"]["sha256"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(n, hex)| RegisterValue {
            id: MrId::Pcr(n.parse().unwrap()),
            value: Digest::from_hex(HashAlg::Sha256, hex.as_str().unwrap()).unwrap(),
        })
        .collect();
    v.sort_by_key(|r| match r.id {
        MrId::Pcr(n) => n,
        _ => u32::MAX,
    });
    v
}

/// The SHA-1 value of PCR `index` the real TPM quoted (go-attestation's file).
fn real_sha1(index: u64) -> Digest {
    let j = json("go-attestation/windows_gcp_shielded_vm.json");
    let p = j["Log"]["PCRs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["Index"] == index)
        .unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(p["Digest"].as_str().unwrap())
        .unwrap();
    Digest::new(HashAlg::Sha1, &bytes).unwrap()
}

/// An IMA list whose SHA-256 boot_aggregate is SHA-256 over `pcrs` 0-9 (zero where the log
/// extends none, as the kernel reads an unextended PCR), and the PCR 10 value it extends to.
fn ima_list(pcrs: &[RegisterValue]) -> (Vec<u8>, RegisterValue) {
    list_with_aggregate(&boot_aggregate(pcrs))
}

/// SHA-256 over the SHA-256 values of PCRs 0-9 in `pcrs`, zero where absent.
fn boot_aggregate(pcrs: &[RegisterValue]) -> Digest {
    let mut concat = Vec::new();
    for i in 0..10 {
        match pcrs.iter().find(|v| v.id == MrId::Pcr(i)) {
            Some(v) => concat.extend_from_slice(v.value.as_bytes()),
            None => concat.extend_from_slice(&[0; 32]),
        }
    }
    HashAlg::Sha256.hash(&concat)
}

/// An IMA list with boot_aggregate `aggregate` and two files, and its PCR 10 value.
fn list_with_aggregate(aggregate: &Digest) -> (Vec<u8>, RegisterValue) {
    let mut list = ImaListBuilder::binary();
    let mut pcr10 = Digest::zero(HashAlg::Sha256);
    let e = list.boot_aggregate("ima-ng", aggregate);
    pcr10 = pcr10.extended(
        e.extend_value(HashAlg::Sha256, DigestMode::PerBank)
            .as_bytes(),
    );
    for f in ["/usr/bin/bash", "/etc/passwd"] {
        let e = list.ima_ng(10, &HashAlg::Sha256.hash(f.as_bytes()), f);
        pcr10 = pcr10.extended(
            e.extend_value(HashAlg::Sha256, DigestMode::PerBank)
                .as_bytes(),
        );
    }
    (
        list.as_bytes().to_vec(),
        RegisterValue {
            id: MrId::Pcr(10),
            value: pcr10,
        },
    )
}

/// Files of a quote over `sha1` (SHA-1 bank) and `sha256` (SHA-256 bank, ascending), signed by
/// the fixed P-256 AK: (attest, sig, ak, pcrs).
fn quote(
    dir: &std::path::Path,
    tag: &str,
    sha1: &[RegisterValue],
    sha256: &[RegisterValue],
) -> [String; 4] {
    let mut attest = quote_attest(NONCE, sha256);
    let index = |v: &RegisterValue| match v.id {
        MrId::Pcr(n) => n,
        _ => panic!("not a PCR"),
    };
    let mut banks = Vec::new();
    let mut concat = Vec::new();
    if !sha1.is_empty() {
        let i: Vec<u32> = sha1.iter().map(index).collect();
        banks.push(PcrBankSelection::new(HashAlg::Sha1, &i));
        sha1.iter()
            .for_each(|v| concat.extend_from_slice(v.value.as_bytes()));
    }
    let i: Vec<u32> = sha256.iter().map(index).collect();
    banks.push(PcrBankSelection::new(HashAlg::Sha256, &i));
    sha256
        .iter()
        .for_each(|v| concat.extend_from_slice(v.value.as_bytes()));
    attest.attested = Attested::Quote(QuoteInfo {
        pcr_select: PcrSelection { banks },
        pcr_digest: HashAlg::Sha256.hash(&concat).as_bytes().to_vec(),
    });
    let attest = attest.marshal();
    let key = ecc_key(7);
    let sig = ecdsa_signature(&key, &attest, HashAlg::Sha256);
    let ak = ecc_tpmt_public(&key, RESTRICTED_SIGNING, TPM_ALG_ECDSA, TPM_ALG_SHA256);
    let lines: String = sha1
        .iter()
        .chain(sha256)
        .map(|v| format!("{v}\n"))
        .collect();
    [
        write(dir, &format!("{tag}.attest"), &attest),
        write(dir, &format!("{tag}.sig"), &sig),
        write(dir, &format!("{tag}.ak"), &ak),
        write(dir, &format!("{tag}.pcrs"), lines.as_bytes()),
    ]
}

fn verify(list: &str, boot_log: &str, q: &[String; 4]) -> std::process::Output {
    mr(&[
        "verify",
        "--ima",
        list,
        "--tpm-attest",
        &q[0],
        "--tpm-sig",
        &q[1],
        "--ak",
        &q[2],
        "--pcrs",
        &q[3],
        "--nonce",
        &hex::encode(NONCE),
        "--boot-log",
        boot_log,
        "--json",
    ])
}

/// The Windows boot log, an IMA list whose boot_aggregate is the log's, written in `dir`, and
/// the SHA-256 PCR values (the script's, plus the list's PCR 10) in PCR order.
fn windows_evidence(dir: &std::path::Path) -> (String, String, Vec<RegisterValue>) {
    let boot_log = format!("{DATA}/windows-agile/windows_gcp_agile.bin");
    let mut sha256 = script_sha256();
    let (list, pcr10) = ima_list(&sha256);
    let list = write(dir, "ima.bin", &list);
    sha256.push(pcr10);
    sha256.sort_by_key(|r| match r.id {
        MrId::Pcr(n) => n,
        _ => u32::MAX,
    });
    (boot_log, list, sha256)
}

#[test]
fn windows_boot_log_verifies_a_sha256_quote_and_a_partly_covered_sha1_pcr_is_not_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let (boot_log, list, sha256) = windows_evidence(dir.path());

    // SHA-256 quote: the boot log replays to the quoted PCRs (11-14 included: their records
    // carry SHA-256) and the list's boot_aggregate matches it.
    let q = quote(dir.path(), "sha256", &[], &sha256);
    let o = verify(&list, &boot_log, &q);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["verified"], true, "{j}");
    assert_eq!(j["ima"]["covered"], 3, "{j}");

    // A list of another boot (its boot_aggregate is not the log's) under a quote of its own
    // PCR 10: the boot_aggregate check refuses it.
    let (other, other_pcr10) = list_with_aggregate(&HashAlg::Sha256.hash(b"another boot"));
    let other = write(dir.path(), "other.bin", &other);
    let mut other_values = sha256.clone();
    for v in other_values.iter_mut().filter(|v| v.id == MrId::Pcr(10)) {
        *v = other_pcr10.clone();
    }
    let q = quote(dir.path(), "other", &[], &other_values);
    let o = verify(&other, &boot_log, &q);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["reason"], "boot_aggregate", "{j}");

    // The same quote also selecting SHA-1 PCR 12 with the real TPM's value: the log's boot
    // manager records give no SHA-1 digest, so that pair is not verifiable: rejected.
    let q = quote(
        dir.path(),
        "sha1-pcr12",
        &[RegisterValue {
            id: MrId::Pcr(12),
            value: real_sha1(12),
        }],
        &sha256,
    );
    let o = verify(&list, &boot_log, &q);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["verified"], false);
    let message = j["message"].as_str().unwrap();
    assert!(message.starts_with("not verifiable"), "{j}");
    assert!(message.contains("pcr12 sha1"), "{j}");

    // A quoted SHA-256 value the log does not reach: a mismatch.
    let mut changed = sha256.clone();
    let pcr4 = changed.iter_mut().find(|v| v.id == MrId::Pcr(4)).unwrap();
    pcr4.value = HashAlg::Sha256.hash(b"another boot");
    let q = quote(dir.path(), "changed", &[], &changed);
    let o = verify(&list, &boot_log, &q);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["verified"], false);
    assert!(
        j["mismatches"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["id"] == "pcr4")),
        "{j}"
    );
}

/// The text verdict prints the boot log's replay on one line, with the same figures as the
/// JSON's `boot_log`: format, banks, events, how many the quoted PCRs cover and which.
#[test]
fn the_text_verdict_shows_the_boot_log_replay_as_the_json_does() {
    let dir = tempfile::tempdir().unwrap();
    let (boot_log, list, sha256) = windows_evidence(dir.path());
    let q = quote(dir.path(), "sha256", &[], &sha256);
    let o = verify(&list, &boot_log, &q);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let b = &j["boot_log"];
    let against: Vec<&str> = b["against"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(against.contains(&"pcr0:sha256"), "{b}");
    assert!(!against.iter().any(|a| a.starts_with("pcr10:")), "{b}");
    let banks: Vec<&str> = b["banks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let events = b["events"].as_u64().unwrap();
    let covered = b["covered"].as_u64().unwrap();

    let nonce = hex::encode(NONCE);
    let args: Vec<&str> = [
        "verify",
        "--ima",
        &list,
        "--tpm-attest",
        &q[0],
        "--tpm-sig",
        &q[1],
        "--ak",
        &q[2],
        "--pcrs",
        &q[3],
        "--nonce",
        &nonce,
        "--boot-log",
        &boot_log,
    ]
    .to_vec();
    let o = mr(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("boot_log:"))
        .collect();
    assert_eq!(
        lines,
        [format!(
            "boot_log: {} log, banks {}, {events} events, {covered} covered by {}, {} left over",
            b["format"].as_str().unwrap(),
            banks.join(", "),
            against.join(" "),
            events - covered
        )],
        "{text}"
    );
    // Before the IMA replay's lines, as the verdict reads in order of the chain.
    let boot_at = text.find("boot_log:").unwrap();
    assert!(boot_at < text.find("ima:").unwrap(), "{text}");
}
