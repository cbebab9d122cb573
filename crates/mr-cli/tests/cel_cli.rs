//! `mr cel convert` and `mr cel replay` end to end: exit codes 0 (replayed / verified),
//! 1 (mismatch, tampered record), 2 (malformed input or usage).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{arg, code, mr, mr_stdin, stderr, stdout, vectors, write};

use mr_core::log::ima::{sample, ListKind};
use mr_core::HashAlg;

fn registers(o: &std::process::Output) -> Vec<String> {
    let j: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)));
    j["registers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}:{}:{}",
                r["id"].as_str().unwrap(),
                r["alg"].as_str().unwrap(),
                r["value"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn ima_list_converted_to_each_encoding_replays_to_the_ima_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut list = Vec::new();
    sample::write_sample_list(&mut list, ListKind::Binary, 600, &[HashAlg::Sha1], 3).unwrap();
    let list = write(dir.path(), "list.bin", &list);
    let o = mr(&["ima", "replay", &list, "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let ima_values = registers(&o);
    assert_eq!(ima_values.len(), 2);

    let mut files = Vec::new();
    for to in ["tlv", "json", "cbor"] {
        let out = dir.path().join(format!("list.{to}"));
        let o = mr(&["cel", "convert", &list, "--to", to, "-o", arg(&out)]);
        assert_eq!(code(&o), 0, "{to}: {}", stderr(&o));
        let o = mr(&["cel", "replay", arg(&out), "--json"]);
        assert_eq!(code(&o), 0, "{to}: {}", stderr(&o));
        assert_eq!(registers(&o), ima_values, "{to}");
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["encoding"], to);
        assert_eq!(j["records"], 600);
        // Without verified values no record is covered.
        assert_eq!(j["checks"]["verified"], 0);
        assert_eq!(j["checks"]["not_covered"], 600);
        assert_eq!(j["checks"]["first_not_covered"], 0);
        let mut args = vec!["cel", "replay", arg(&out), "--json", "--exact"];
        for v in &ima_values {
            args.extend(["--expect", v]);
        }
        let o = mr(&args);
        assert_eq!(code(&o), 0, "{to}: {}", stderr(&o));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["checks"]["violations"], 1);
        assert_eq!(j["checks"]["verified"], 599);
        assert_eq!(j["checks"]["not_covered"], 0);
        assert_eq!(j["checks"]["first_not_covered"], serde_json::Value::Null);
        files.push(out);
    }
    // Expected values verify (the IMA values, given back).
    let mut args = vec!["cel", "replay", arg(&files[0])];
    for v in &ima_values {
        args.extend(["--expect", v]);
    }
    let o = mr(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("verified: 2 values"), "{}", stdout(&o));

    // CEL -> CEL: converting the TLV to JSON gives the same bytes as converting the list to JSON.
    let o = mr(&["cel", "convert", arg(&files[0]), "--to", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(o.stdout, std::fs::read(&files[1]).unwrap());
    // ... and from stdin, CBOR -> TLV.
    let cbor = std::fs::read(&files[2]).unwrap();
    let o = mr_stdin(&["cel", "convert", "-", "--to", "tlv"], &cbor);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(o.stdout, std::fs::read(&files[0]).unwrap());
}

#[test]
fn wrong_expected_value_or_tampered_record_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let mut list = Vec::new();
    sample::write_sample_list(&mut list, ListKind::Binary, 50, &[HashAlg::Sha256], 5).unwrap();
    let list = write(dir.path(), "list.bin", &list);
    let o = mr(&["cel", "convert", &list, "--to", "json", "--bank", "sha256"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let json = stdout(&o);
    let cel = write(dir.path(), "list.json", json.as_bytes());

    let wrong = format!("10:sha256:{}", "ab".repeat(32));
    let o = mr(&["cel", "replay", &cel, "--expect", &wrong, "--json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["mismatches"][0]["id"], "pcr10");

    // Change one hex digit of record 3's template data: rejected, naming the record.
    let mut lines: Vec<String> = json.lines().map(str::to_owned).collect();
    let line = &mut lines[4];
    let at = line.find("\"template_data\":\"").unwrap() + 17 + 20;
    let c = line.as_bytes()[at];
    line.replace_range(at..at + 1, if c == b'0' { "1" } else { "0" });
    let tampered = write(dir.path(), "tampered.json", lines.join("\n").as_bytes());
    let o = mr(&["cel", "replay", &tampered]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("entry 3"), "{}", stderr(&o));
}

#[test]
fn malformed_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let junk = write(dir.path(), "junk", b"\x00\x00\x00\x00\x09junk");
    let o = mr(&["cel", "replay", &junk]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = mr(&["cel", "replay", &junk, "--from", "tlv"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("malformed cel tlv log"),
        "{}",
        stderr(&o)
    );
    let o = mr(&["cel", "convert", &junk, "--to", "json"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = mr_stdin(
        &["cel", "replay", "-", "--from", "json"],
        b"{\"recnum\": 1}",
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = mr(&["cel", "convert", &junk, "--to", "yaml"]);
    assert_eq!(code(&o), 2);
}

#[test]
fn pc_client_log_and_cos_cel_convert_and_replay() {
    let Some(v) = vectors() else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = v.join("tcg2/go-attestation/sb_cert_eventlog");
    let o = mr(&["tcg", "replay", arg(&log), "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let tcg_values = registers(&o);
    let out = dir.path().join("sb.cbor");
    let o = mr(&["cel", "convert", arg(&log), "--to", "cbor", "-o", arg(&out)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mut args = vec!["cel", "replay", arg(&out), "--exact", "--json"];
    for v in &tcg_values {
        args.extend(["--expect", v]);
    }
    let o = mr(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(registers(&o), tcg_values);
    // A bank the log lacks cannot be converted to.
    let o = mr(&[
        "cel",
        "convert",
        arg(&log),
        "--to",
        "tlv",
        "--bank",
        "sha512",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));

    // The COS CEL (TLV, base64 upstream): every record checks, RTMR 3 is printed.
    let b64 = std::fs::read_to_string(v.join("cel/go-tpm-tools/cel.b64")).unwrap();
    use base64::Engine;
    let tlv = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .unwrap();
    let cos = write(dir.path(), "cos.tlv", &tlv);
    let o = mr(&["cel", "replay", &cos]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("18 records, banks sha384"), "{out}");
    // Nothing verified without a verified RTMR 3 ...
    assert!(out.contains("content checks: 0 verified"), "{out}");
    assert!(
        out.contains("not covered by a verified value: 18 records (first: recnum 0)"),
        "{out}"
    );
    let rtmr3 = out
        .lines()
        .find(|l| l.starts_with("rtmr3:sha384:"))
        .unwrap_or_else(|| panic!("{out}"));
    // ... and every record checks against its content with it.
    let o = mr(&["cel", "replay", &cos, "--exact", "--expect", rtmr3]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("content checks: 18 verified"), "{out}");
    assert!(!out.contains("not covered"), "{out}");
    let o = mr(&[
        "cel",
        "replay",
        &cos,
        "--expect",
        &format!("rtmr3:sha384:{}", "ab".repeat(48)),
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
}

#[test]
fn ccel_converts_with_cc_mr_indexes_and_replays_to_its_rtmrs() {
    let Some(v) = vectors() else { return };
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "cos-113-intel-tdx.bin",
        "cos-113-intel-tdx-dupe-separator-unpadded.bin",
    ] {
        let log = v.join("ccel/go-eventlog").join(file);
        let o = mr(&["tcg", "replay", arg(&log), "--ccel", "--json"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let rtmrs = registers(&o);
        assert_eq!(rtmrs.len(), 3);
        let out = dir.path().join(format!("{file}.json"));
        let o = mr(&["cel", "convert", arg(&log), "--to", "json", "-o", arg(&out)]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.contains("\"mr_index\":1"), "{file}");
        let o = mr(&["cel", "replay", arg(&out), "--json"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert_eq!(registers(&o), rtmrs, "{file}");
    }
}

/// Issue 14 item 4 through the CLI: an `ima_template` record without digests, and one with only
/// a SHA-1 digest when SHA-256 is verified, among good records: `--exact` rejects (exit 1)
/// naming the record number and register; without `--exact` the replay verifies and reports
/// the records not covered (text and JSON).
#[test]
fn records_no_verified_digest_covers_are_rejected_by_exact() {
    use mr_core::log::cel::{self, CelIndex, CelRecord, Content, Encoding};
    let dir = tempfile::tempdir().unwrap();
    let rec = |recnum: u64, banks: &[HashAlg], data: &[u8]| CelRecord {
        recnum,
        index: CelIndex::Pcr(10),
        digests: banks.iter().map(|b| b.hash(data)).collect(),
        content: Content::ImaTemplate {
            template_name: "ima-ng".into(),
            template_data: data.to_vec(),
        },
    };
    let s = [HashAlg::Sha256];
    let good = [rec(0, &s, b"a"), rec(3, &s, b"b")];
    let o = mr_stdin(
        &["cel", "replay", "-", "--json"],
        &cel::encode(&good, Encoding::Tlv).unwrap(),
    );
    let expect = registers(&o);
    for (planted, number) in [
        (rec(1, &[], b"no digest"), "1"),
        (rec(1, &[HashAlg::Sha1], b"sha1 only"), "1"),
    ] {
        let records = [good[0].clone(), planted, good[1].clone()];
        let file = write(
            dir.path(),
            "planted.cel",
            &cel::encode(&records, Encoding::Tlv).unwrap(),
        );
        let mut args = vec!["cel", "replay", file.as_str(), "--exact"];
        for v in &expect {
            args.extend(["--expect", v]);
        }
        let o = mr(&args);
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains(&format!("record number {number}")) && err.contains("pcr10"),
            "{err}"
        );
        args.push("--json");
        let o = mr(&args);
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["not_covered"]["number"], 1);
        assert_eq!(j["not_covered"]["id"], "pcr10");
        // Without --exact: verified, and the record is reported as not covered.
        args.retain(|a| *a != "--exact" && *a != "--json");
        let o = mr(&args);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(
            stdout(&o).contains("not covered by a verified value: 1 records (first: recnum 1)"),
            "{}",
            stdout(&o)
        );
        args.push("--json");
        let o = mr(&args);
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["checks"]["not_covered"], 1);
        assert_eq!(j["checks"]["first_not_covered"], 1);
        assert_eq!(j["checks"]["verified"], 2);
    }
}

/// A duplicate or decreasing record number is malformed input (exit 2) naming both numbers.
#[test]
fn non_increasing_record_numbers_exit_2() {
    let text = r#"[{"recnum": 4, "pcr": 1, "content_type": 4, "content": {"type": "firmware_end"}},
        {"recnum": 4, "pcr": 1, "content_type": 4, "content": {"type": "firmware_end"}}]"#;
    let o = mr_stdin(&["cel", "replay", "-"], text.as_bytes());
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("recnum 4 repeats the recnum 4 of the previous record of pcr 1"),
        "{}",
        stderr(&o)
    );
    let o = mr_stdin(&["cel", "convert", "-", "--to", "tlv"], text.as_bytes());
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    // The output file of a conversion that fails is not left behind, half written.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.cel");
    let o = mr_stdin(
        &["cel", "convert", "-", "--to", "tlv", "-o", arg(&out)],
        text.as_bytes(),
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(!out.exists());
}

/// `mr cel replay` and `mr cel convert` stream: the maximum resident set size (GNU time) of a
/// 40 MB log is within 8 MiB of a 4 MB log's (it held 5× the input before). Skipped without
/// `/usr/bin/time` (scripts/install-deps.sh installs it).
#[test]
fn replay_and_convert_memory_does_not_grow_with_the_log() {
    use mr_core::log::cel::{self, CelWriter, Encoding};
    use mr_core::log::ima::ImaReaderOptions;
    if !std::path::Path::new("/usr/bin/time").exists() {
        eprintln!("/usr/bin/time is not installed: skipping this test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut list = Vec::new();
    sample::write_sample_list(&mut list, ListKind::Binary, 1000, &[HashAlg::Sha256], 5).unwrap();
    let records = cel::from_ima(&list[..], ImaReaderOptions::default(), &[]).unwrap();
    let max_rss_kib = |args: &[&str]| -> u64 {
        let o = std::process::Command::new("/usr/bin/time")
            .args(["-f", "%M", env!("CARGO_BIN_EXE_mr")])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let err = stderr(&o);
        err.lines().last().unwrap().trim().parse().unwrap()
    };
    let mut rss = Vec::new();
    for (name, copies) in [("small.cel", 20u64), ("large.cel", 200)] {
        let path = dir.path().join(name);
        let mut w = CelWriter::new(
            std::io::BufWriter::new(std::fs::File::create(&path).unwrap()),
            Encoding::Tlv,
        );
        let mut n = 0;
        for _ in 0..copies {
            for r in &records {
                let mut r = r.clone();
                r.recnum = n;
                n += 1;
                w.write(&r).unwrap();
            }
        }
        w.finish().unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        let replay = max_rss_kib(&["cel", "replay", arg(&path)]);
        let out = dir.path().join(format!("{name}.json"));
        let convert = max_rss_kib(&[
            "cel",
            "convert",
            arg(&path),
            "--to",
            "json",
            "-o",
            arg(&out),
        ]);
        eprintln!("{name}: {size} bytes: replay max RSS {replay} KiB, convert {convert} KiB");
        rss.push((replay, convert));
    }
    assert!(rss[1].0 <= rss[0].0 + 8192, "replay: {rss:?}");
    assert!(rss[1].1 <= rss[0].1 + 8192, "convert: {rss:?}");
}

/// A Windows-shaped boot log (records with a subset of the Spec ID banks, as `mr tcg replay`
/// reads it) converts; the CEL replays to the values the log's maker computed for the
/// SHA-256 bank; `--bank sha1` is refused (exit 2): the boot manager's records have no SHA-1.
#[test]
fn windows_boot_log_with_digest_subsets_converts_and_replays() {
    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../mr-core/tests/data/windows-agile"
    );
    let log = format!("{data}/windows_gcp_agile.bin");
    let j: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("{data}/windows_gcp_agile.expected.json")).unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cel = dir.path().join("windows.cel.json");
    let o = mr(&["cel", "convert", &log, "--to", "json", "-o", arg(&cel)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mut args = vec![
        "cel".to_owned(),
        "replay".into(),
        arg(&cel).into(),
        "--bank".into(),
        "sha256".into(),
        "--exact".into(),
    ];
    for (n, hex) in j["pcrs"]["sha256"].as_object().unwrap() {
        args.push("--expect".into());
        args.push(format!("{n}:sha256:{}", hex.as_str().unwrap()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = mr(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    let o = mr(&["cel", "convert", &log, "--to", "tlv", "--bank", "sha1"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("sha256 only"), "{}", stderr(&o));
}
