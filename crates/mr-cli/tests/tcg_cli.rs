//! `mr tcg replay` end to end: exit codes 0 (verified / computed), 1 (mismatch), 2 (malformed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{arg as path, code, mr, mr_stdin, stderr, stdout, vectors};

use std::path::{Path, PathBuf};

use mr_core::log::tcg::{self, ParseOptions};
use mr_rtmr::sim::quote::QuoteFormat;
use mr_testkit::td::{measurements, signer, write_quote};

const COS_RTMRS: [&str; 3] = [
    "rtmr0:sha384:3fa2f61f395b7f5feefb4ec2df61297f109ad8abcd6410c1b7df60f21f37b19297fc35e544039c7e1edece752afd17f6",
    "rtmr1:sha384:f62dbc072bd5d3f3438b7b35c39a727f5aea2ffc2473f43723953f530daf62504f0a7944aa62c41a86e8a878c2b122c1",
    "rtmr2:sha384:4969684dc87381fc3b3134176c8d8806eaf0a901859f5f70cfae8d17714b46c10a8de219048c9fc09f11f381a6fbe7c1",
];

#[test]
fn ccel_with_table_verifies_against_the_stated_rtmrs() {
    let Some(v) = vectors() else { return };
    let log = v.join("ccel/go-eventlog/cos-113-intel-tdx.bin");
    let table = v.join("ccel/go-eventlog/cos-113-intel-tdx.table.bin");
    let mut args = vec!["tcg", "replay", path(&log), "--ccel-table", path(&table)];
    for e in COS_RTMRS {
        args.extend(["--expect", e]);
    }
    let o = mr(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("verified: 3 values"), "{}", stdout(&o));

    // Without --expect: the values are printed, as ID:ALG:HEX lines, with the event count.
    let o = mr(&["tcg", "replay", path(&log), "--ccel", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["events"], 44);
    assert_eq!(j["format"], "crypto-agile");
    let regs = j["registers"].as_array().unwrap();
    assert_eq!(regs.len(), 3);
    for (r, e) in regs.iter().zip(COS_RTMRS) {
        assert_eq!(
            format!(
                "{}:{}:{}",
                r["id"].as_str().unwrap(),
                r["alg"].as_str().unwrap(),
                r["value"].as_str().unwrap()
            ),
            e
        );
    }
    let o = mr(&["tcg", "replay", path(&log), "--ccel"]);
    let out = stdout(&o);
    for e in COS_RTMRS {
        assert!(out.lines().any(|l| l == e), "{out}");
    }
    assert!(out.contains("44 events"), "{out}");
}

/// Only events of registers with a verified value are covered: with RTMR0 alone expected, the
/// events of RTMR1 and RTMR2 are reported as not covered, in text and JSON.
#[test]
fn events_of_registers_without_a_verified_value_are_not_covered() {
    let Some(v) = vectors() else { return };
    let log = v.join("ccel/go-eventlog/cos-113-intel-tdx.bin");
    let all = mr(&[
        "tcg",
        "replay",
        path(&log),
        "--ccel",
        "--expect",
        COS_RTMRS[0],
        "--expect",
        COS_RTMRS[1],
        "--expect",
        COS_RTMRS[2],
        "--json",
    ]);
    assert_eq!(code(&all), 0, "{}", stderr(&all));
    let j: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(j["not_covered"]["entries"], 0, "{j}");
    let one = [
        "tcg",
        "replay",
        path(&log),
        "--ccel",
        "--expect",
        COS_RTMRS[0],
    ];
    let o = mr(&one);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("NOT covered:")
            && out.contains("events extend registers without a verified value (first: event"),
        "{out}"
    );
    let o = mr(&[&one[..], &["--json"]].concat());
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let n = j["not_covered"]["entries"].as_u64().unwrap();
    assert!(n > 0 && n < 44, "{j}");
    let first = j["not_covered"]["first"]["id"].as_str().unwrap();
    assert!(first == "rtmr1" || first == "rtmr2", "{j}");
}

#[test]
fn wrong_expected_value_exits_1_with_the_mismatch() {
    let Some(v) = vectors() else { return };
    let log = v.join("ccel/go-eventlog/cos-113-intel-tdx-dupe-separator.bin");
    let o = mr(&[
        "tcg",
        "replay",
        path(&log),
        "--ccel",
        "--expect",
        COS_RTMRS[0],
        "--json",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["verified"], false);
    assert_eq!(j["mismatches"][0]["id"], "rtmr0");
    assert_eq!(
        j["mismatches"][0]["expected"],
        COS_RTMRS[0].rsplit(':').next().unwrap()
    );
    assert!(stderr(&o).contains("rtmr0 sha384"), "{}", stderr(&o));
}

#[test]
fn every_record_with_a_flipped_digest_byte_exits_1() {
    let Some(v) = vectors() else { return };
    let file = v.join("tcg2/go-attestation/sb_cert_eventlog");
    let log = std::fs::read(&file).unwrap();
    // Expected values: every bank of every register, from an untouched replay.
    let o = mr(&["tcg", "replay", path(&file)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let dir = tempfile::tempdir().unwrap();
    let expect = dir.path().join("expect");
    std::fs::write(
        &expect,
        stdout(&o)
            .lines()
            .filter(|l| l.starts_with("pcr"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let o = mr(&["tcg", "replay", path(&file), "--expect-file", path(&expect)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    let parsed = tcg::parse(&log, &ParseOptions::default()).unwrap();
    let mut tried = 0;
    for e in parsed.events.iter().filter(|e| !e.is_no_action()) {
        // Flip the last byte of the record's last digest (just before eventSize).
        let at = e.offset as usize
            + 12
            + e.digests
                .iter()
                .map(|d| 2 + d.as_bytes().len())
                .sum::<usize>()
            - 1;
        let mut bad = log.clone();
        bad[at] ^= 0x80;
        let o = mr_stdin(
            &["tcg", "replay", "-", "--expect-file", path(&expect)],
            &bad,
        );
        assert_eq!(code(&o), 1, "record {}: {}", e.record, stderr(&o));
        assert!(
            stderr(&o).contains(&format!("pcr{}", e.index)),
            "{}",
            stderr(&o)
        );
        tried += 1;
    }
    assert_eq!(tried, 14);
}

#[test]
fn malformed_logs_exit_2_with_offset_and_record() {
    let Some(v) = vectors() else { return };
    let file = v.join("tcg2/go-attestation/sb_cert_eventlog");
    let log = std::fs::read(&file).unwrap();
    let o = mr_stdin(&["tcg", "replay", "-"], &log[..log.len() - 3]);
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(
        err.contains("byte offset") && err.contains("(entry 14)"),
        "{err}"
    );
    // Empty input.
    let o = mr_stdin(&["tcg", "replay", "-"], &[]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("empty input"), "{}", stderr(&o));
    // A padded CCEL read as a PC-Client log: padding is refused without --ccel.
    let ccel = v.join("ccel/go-eventlog/cos-113-intel-tdx.bin");
    let o = mr(&["tcg", "replay", path(&ccel)]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("padding"), "{}", stderr(&o));
    // A table file that is not a CCEL table.
    let o = mr(&["tcg", "replay", path(&ccel), "--ccel-table", path(&file)]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    // A bad --expect value is a usage error.
    let o = mr(&["tcg", "replay", path(&file), "--expect", "pcr0:sha256:zz"]);
    assert_eq!(code(&o), 2);
}

#[test]
fn bank_option_restricts_the_replay() {
    let Some(v) = vectors() else { return };
    let file = v.join("tcg2/go-attestation/sb_cert_eventlog");
    let o = mr(&["tcg", "replay", path(&file), "--bank", "sha256", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["banks"], serde_json::json!(["sha256"]));
    assert!(j["registers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["alg"] == "sha256"));
    let o = mr(&["tcg", "replay", path(&file), "--bank", "sm3"]);
    assert_eq!(code(&o), 2);
    let o = mr(&["tcg", "replay", path(&file), "--bank", "md5"]);
    assert_eq!(code(&o), 2);
}

#[test]
fn hcrtm_log_prints_locality_4_and_the_stated_pcr0() {
    let Some(v) = vectors() else { return };
    let file = v.join("tcg2/tpm2-tss/binary_measurements_hcrtm.bin");
    let o = mr(&[
        "tcg",
        "replay",
        path(&file),
        "--expect",
        "0:sha1:15f4e6ca457d1af6bc49511a93ba3500ad69acc5",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("pcr0 start locality: 4"),
        "{}",
        stdout(&o)
    );
}

fn rtmr_bytes(hex_value: &str) -> [u8; 48] {
    hex::decode(hex_value).unwrap().try_into().unwrap()
}

/// A quote from the simulated TD (test root) whose RTMRs are `rtmr`.
fn simulated_quote(dir: &Path, rtmr: [[u8; 48]; 4], nonce: &[u8]) -> (PathBuf, PathBuf) {
    let m = measurements([7; 48], rtmr, nonce);
    write_quote(dir, "sim", signer(), &m, QuoteFormat::V4Td10)
}

#[test]
fn ccel_replays_against_the_rtmrs_of_a_verified_td_quote() {
    let Some(v) = vectors() else { return };
    let log = v.join("ccel/go-eventlog/cos-113-intel-tdx.bin");
    let table = v.join("ccel/go-eventlog/cos-113-intel-tdx.table.bin");
    let values = COS_RTMRS.map(|e| rtmr_bytes(e.rsplit(':').next().unwrap()));
    let dir = tempfile::tempdir().unwrap();
    // RTMR 3 holds a runtime value the CCEL does not cover: it is not compared.
    let (q, root) = simulated_quote(
        dir.path(),
        [values[0], values[1], values[2], [9; 48]],
        b"fresh",
    );
    let nonce = hex::encode(b"fresh");
    let args = [
        "tcg",
        "replay",
        path(&log),
        "--ccel-table",
        path(&table),
        "--td-quote",
        path(&q),
        "--root",
        path(&root),
        "--nonce",
        &nonce,
    ];
    let o = mr(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("verified: 3 values (TD quote"),
        "{}",
        stdout(&o)
    );

    // A quote whose RTMR 1 differs from the log: rejected, naming rtmr1.
    let (q, root) = simulated_quote(dir.path(), [values[0], [1; 48], values[2], [0; 48]], b"");
    let o = mr(&[
        "tcg",
        "replay",
        path(&log),
        "--ccel",
        "--td-quote",
        path(&q),
        "--root",
        path(&root),
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("rtmr1"), "{}", stderr(&o));
    // A quote that does not chain to the given root (here: Intel's, the default): rejected.
    let o = mr(&[
        "tcg",
        "replay",
        path(&log),
        "--ccel",
        "--td-quote",
        path(&q),
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    // A wrong nonce: rejected.
    let o = mr(&[
        "tcg",
        "replay",
        path(&log),
        "--ccel",
        "--td-quote",
        path(&q),
        "--root",
        path(&root),
        "--nonce",
        "01",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    // Garbage instead of a quote: malformed.
    let o = mr(&[
        "tcg",
        "replay",
        path(&log),
        "--ccel",
        "--td-quote",
        path(&table),
        "--root",
        path(&root),
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    // Companion options need --td-quote, and --td-quote excludes --expect.
    let o = mr(&["tcg", "replay", path(&log), "--nonce", "00"]);
    assert_eq!(code(&o), 2);
    let o = mr(&[
        "tcg",
        "replay",
        path(&log),
        "--td-quote",
        path(&q),
        "--expect",
        COS_RTMRS[0],
    ]);
    assert_eq!(code(&o), 2);
}

#[test]
fn ima_boot_aggregate_is_checked_against_the_boot_log() {
    let Some(v) = vectors() else { return };
    let list = v.join("ima/ima-evm-utils/sample-ascii_runtime_measurements-pcrs-8-9");
    let bios = v.join("ima/ima-evm-utils/sample-binary_bios_measurements-pcrs-8-9");
    let o = mr(&["ima", "replay", path(&list), "--boot-log", path(&bios)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains(
            "matches the boot log: sha256:83d19723ef3b3c05bb8ae70d86b3886c158f2408f1b71ed265886a7b79eb700e"
        ),
        "{}",
        stdout(&o)
    );

    // Another machine's log: exit 1, both values named.
    let other = v.join("tcg2/go-attestation/sb_cert_eventlog");
    let o = mr(&["ima", "replay", path(&list), "--boot-log", path(&other)]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("83d19723ef3b3c05bb8ae70d86b3886c158f2408f1b71ed265886a7b79eb700e"),
        "{err}"
    );
    assert!(err.contains("gives sha256:"), "{err}");
    let o = mr(&[
        "ima",
        "replay",
        path(&list),
        "--boot-log",
        path(&other),
        "--json",
    ]);
    assert_eq!(code(&o), 1);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        j["boot_aggregate"]["recorded"],
        "83d19723ef3b3c05bb8ae70d86b3886c158f2408f1b71ed265886a7b79eb700e"
    );
    assert_eq!(j["boot_aggregate"]["computed"].as_str().unwrap().len(), 64);

    // A boot log that is not a log: exit 2.
    let o = mr(&["ima", "replay", path(&list), "--boot-log", path(&list)]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}

/// A Linux 5.7 list: its SHA-256 boot_aggregate covers PCR 0-7 of the boot log only. Accepted,
/// with the rule named; an aggregate matching neither rule is refused with both candidates.
#[test]
fn a_linux_5_7_boot_aggregate_verifies_against_its_boot_log() {
    use mr_core::log::ima::builder::ImaListBuilder;
    use mr_core::{Digest, HashAlg};
    let Some(v) = vectors() else { return };
    let bios = v.join("ima/ima-evm-utils/sample-binary_bios_measurements-pcrs-8-9");
    let dir = tempfile::tempdir().unwrap();
    // SHA-256 over the log's SHA-256 PCR 0-7, computed independently (see
    // crates/mr-core/tests/tcg_vectors.rs SAMPLE_BIOS_SHA256_PCRS_0_7).
    let pcrs_0_7 = "c9f295303f97f2087d638777d5626eb2418afbfd244c58f7a215af5e4d7f41d3";
    let list_with = |aggregate: &Digest, name: &str| {
        let mut b = ImaListBuilder::ascii();
        b.boot_aggregate("ima-ng", aggregate);
        b.ima_ng(10, &HashAlg::Sha256.hash(b"a"), "/bin/a");
        let path = dir.path().join(name);
        std::fs::write(&path, b.finish()).unwrap();
        path
    };
    let old = list_with(&Digest::from_hex(HashAlg::Sha256, pcrs_0_7).unwrap(), "5.7");
    let o = mr(&["ima", "replay", path(&old), "--boot-log", path(&bios)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!(
            "matches the boot log: sha256:{pcrs_0_7} over pcr0-7 (Linux 5.7)"
        )),
        "{}",
        stdout(&o)
    );

    let neither = list_with(&HashAlg::Sha256.hash(b"neither"), "neither");
    let o = mr(&[
        "ima",
        "replay",
        path(&neither),
        "--boot-log",
        path(&bios),
        "--json",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(pcrs_0_7), "{err}");
    assert!(
        err.contains("83d19723ef3b3c05bb8ae70d86b3886c158f2408f1b71ed265886a7b79eb700e"),
        "{err}"
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let candidates = j["boot_aggregate"]["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 2);
    assert_eq!(candidates[0]["rule"], "pcr0-9");
    assert_eq!(candidates[1]["rule"], "pcr0-7");
    assert_eq!(candidates[1]["value"], pcrs_0_7);
}

/// go-attestation's log without the Exit Boot Services pair: rejected as logged (PCR 5), accepted
/// only with the explicit `--missing-ebs-workaround`.
#[test]
fn missing_ebs_log_verifies_only_with_the_explicit_workaround() {
    let Some(v) = vectors() else { return };
    let log = v.join("tcg2/go-attestation/ebs_event_missing_eventlog");
    let j: serde_json::Value = serde_json::from_slice(
        &std::fs::read(v.join("tcg2/go-attestation/EXPECTED_pcrs.json")).unwrap(),
    )
    .unwrap();
    let pcrs = j["logs"]["ebs_event_missing_eventlog"]["pcrs"]["sha1"]
        .as_object()
        .unwrap();
    let expects: Vec<String> = pcrs
        .iter()
        .map(|(k, v)| format!("{k}:sha1:{}", v.as_str().unwrap().to_lowercase()))
        .collect();
    let mut args = vec!["tcg", "replay", path(&log)];
    for e in &expects {
        args.extend(["--expect", e.as_str()]);
    }
    let o = mr(&args);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stderr(&o).contains("pcr5") || stdout(&o).contains("pcr5"),
        "{}",
        stderr(&o)
    );
    args.push("--missing-ebs-workaround");
    let o = mr(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// A Windows-shaped log (its PCR 11-14 records carry SHA-256 only, see
/// `crates/mr-core/tests/data/windows-agile`): replayed, with the partly covered PCR/bank pairs
/// named; a value given for such a pair is rejected as not verifiable (exit 1).
#[test]
fn windows_log_is_replayed_and_a_partly_covered_bank_is_not_verifiable() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mr-core/tests/data/windows-agile");
    let log = data.join("windows_gcp_agile.bin");
    let j: serde_json::Value = serde_json::from_slice(
        &std::fs::read(data.join("windows_gcp_agile.expected.json")).unwrap(),
    )
    .unwrap();
    let pcr12_sha256 = format!("12:sha256:{}", j["pcrs"]["sha256"]["12"].as_str().unwrap());
    let pcr7_sha1 = format!("7:sha1:{}", j["pcrs"]["sha1"]["7"].as_str().unwrap());

    let o = mr(&[
        "tcg",
        "replay",
        path(&log),
        "--expect",
        &pcr12_sha256,
        "--expect",
        &pcr7_sha1,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("verified: 2 values"), "{out}");
    assert!(
        out.contains("not verifiable (log incomplete): pcr12 sha1: 3 of the 3 records"),
        "{out}"
    );

    let o = mr(&["tcg", "replay", path(&log), "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let incomplete = out["incomplete"].as_array().unwrap();
    assert_eq!(incomplete.len(), 4);
    assert_eq!(incomplete[0]["register"], "pcr11");
    assert_eq!(incomplete[0]["bank"], "sha1");
    assert_eq!(incomplete[0]["first_record"], 11);

    // SHA-1 PCR 12: the log skips all its records in that bank.
    let zero = format!("12:sha1:{}", "00".repeat(20));
    let o = mr(&["tcg", "replay", path(&log), "--expect", &zero]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains("rejected: not verifiable"), "{err}");
    assert!(err.contains("pcr12 sha1"), "{err}");
    assert!(err.contains("record 12"), "{err}");
}

#[test]
fn an_openpower_spec_id_digest_is_refused_and_read_only_in_the_replay_only_mode() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mr-core/tests/data/go-tpm-tools");
    let mut log = std::fs::read(data.join("confidential-gke-debug-251000_eventlog.bin")).unwrap();
    // Record 0's SHA-1 digest (bytes 8..28), non-zero as OpenPOWER Hostboot writes it.
    log[8..28].copy_from_slice(&[0x5a; 20]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openpower.bin");
    std::fs::write(&file, &log).unwrap();

    let o = mr(&["tcg", "replay", path(&file)]);
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    assert!(stderr(&o).contains("not zero"), "{}", stderr(&o));

    let o = mr(&["tcg", "replay", path(&file), "--report-data-mismatch"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("0:sha256:"), "{}", stdout(&o));
}
