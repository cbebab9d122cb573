//! `mr ima replay`: exit codes 0/1/2, JSON shape, stdin, prefix/exact, digest modes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{arg as p, code, mr, mr_stdin};

use std::path::PathBuf;
use std::process::Output;

use mr_core::log::ima::builder::ImaListBuilder;
use mr_core::log::ima::DigestMode;
use mr_core::{Digest, HashAlg};

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

/// A 5-entry list and PCR 10 values (sha1, sha256) after 3 entries and after all 5.
struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    bytes: Vec<u8>,
    after3: [Digest; 2],
    after5: [Digest; 2],
}

fn fixture(mode: DigestMode) -> Fixture {
    let mut b = ImaListBuilder::binary();
    let mut v = [Digest::zero(HashAlg::Sha1), Digest::zero(HashAlg::Sha256)];
    let mut after3 = v;
    let entries = [
        b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"pcrs")),
        b.ima_ng(10, &HashAlg::Sha256.hash(b"a"), "/bin/a"),
        b.violation(10, "ima-ng", HashAlg::Sha256, "/tmp/w"),
        b.ima_buf(10, HashAlg::Sha256, "kexec-cmdline", b"root=/dev/vda"),
        b.ima_sig(10, &HashAlg::Sha256.hash(b"b"), "/bin/b", b"\x03\x02sig"),
    ];
    for (i, e) in entries.iter().enumerate() {
        for d in v.iter_mut() {
            *d = d.extended(e.extend_value(d.alg(), mode).as_bytes());
        }
        if i == 2 {
            after3 = v;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("binary_runtime_measurements");
    let bytes = b.finish();
    std::fs::write(&path, &bytes).unwrap();
    Fixture {
        _dir: dir,
        path,
        bytes,
        after3,
        after5: v,
    }
}

fn expect_arg(d: &Digest) -> String {
    format!("10:{}:{}", d.alg(), d)
}

#[test]
fn without_expect_prints_values_per_pcr_and_bank_and_exits_0() {
    let f = fixture(DigestMode::PerBank);
    let o = mr(&["ima", "replay", p(&f.path)]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains(&format!("pcr10:sha1:{}", f.after5[0])),
        "{out}"
    );
    assert!(
        out.contains(&format!("pcr10:sha256:{}", f.after5[1])),
        "{out}"
    );
    assert!(out.contains("entries: 5 (1 violations)"), "{out}");

    let o = mr(&["ima", "replay", p(&f.path), "--json"]);
    assert_eq!(code(&o), 0);
    let j = json(&o);
    assert_eq!(j["entries"], 5);
    assert_eq!(j["violations"], 1);
    let regs = j["registers"].as_array().unwrap();
    assert_eq!(regs.len(), 2);
    assert_eq!(regs[0]["id"], "pcr10");
    assert_eq!(regs[0]["alg"], "sha1");
    assert_eq!(regs[0]["value"], f.after5[0].to_hex());
    assert_eq!(regs[1]["alg"], "sha256");
    assert_eq!(j["format"]["kind"], "binary");
    assert_eq!(j["boot_aggregates"][0]["alg"], "sha256");
}

#[test]
fn bank_option_selects_banks() {
    let f = fixture(DigestMode::PerBank);
    let o = mr(&["ima", "replay", p(&f.path), "--bank", "sha384", "--json"]);
    assert_eq!(code(&o), 0);
    let j = json(&o);
    let regs = j["registers"].as_array().unwrap();
    assert_eq!(regs.len(), 1);
    assert_eq!(regs[0]["alg"], "sha384");
}

#[test]
fn reads_stdin() {
    let f = fixture(DigestMode::PerBank);
    let o = mr_stdin(
        &[
            "ima",
            "replay",
            "-",
            "--json",
            "--expect",
            &expect_arg(&f.after5[1]),
        ],
        &f.bytes,
    );
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(json(&o)["covered"], 5);
}

#[test]
fn expected_prefix_verifies_and_reports_left_over_but_exact_rejects() {
    let f = fixture(DigestMode::PerBank);
    let args = [
        "ima",
        "replay",
        p(&f.path),
        "--expect",
        &expect_arg(&f.after3[0]),
    ];
    let e2 = expect_arg(&f.after3[1]);
    let mut a: Vec<&str> = args.to_vec();
    a.extend(["--expect", &e2, "--json"]);
    let o = mr(&a);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let j = json(&o);
    assert_eq!(
        (j["covered"].as_u64(), j["left_over"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(j["verified"], true);
    let human = mr(&a[..a.len() - 1]);
    assert!(String::from_utf8(human.stdout)
        .unwrap()
        .contains("3 entries covered, 2 left over"));
    a.push("--exact");
    let o = mr(&a);
    assert_eq!(code(&o), 1);
    let j = json(&o);
    assert_eq!(j["verified"], false);
    assert_eq!(j["mismatches"][0]["id"], "pcr10");
}

#[test]
fn expect_file_and_mismatch_exit_1_with_structured_output() {
    let f = fixture(DigestMode::PerBank);
    let exp = f._dir.path().join("expected.txt");
    let wrong = HashAlg::Sha256.hash(b"wrong");
    std::fs::write(&exp, format!("# quote\n{}\n", expect_arg(&wrong))).unwrap();
    let o = mr(&[
        "ima",
        "replay",
        p(&f.path),
        "--expect-file",
        p(&exp),
        "--json",
    ]);
    assert_eq!(code(&o), 1);
    let j = json(&o);
    assert_eq!(j["mismatches"][0]["expected"], wrong.to_hex());
    assert_eq!(j["mismatches"][0]["computed"], f.after5[1].to_hex());
    let o = mr(&["ima", "replay", p(&f.path), "--expect-file", p(&exp)]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("pcr10 sha256"));
}

#[test]
fn tampered_entry_exits_1_naming_the_entry_with_or_without_expect() {
    let f = fixture(DigestMode::PerBank);
    let mut bad = f.bytes.clone();
    let pos = bad.windows(6).position(|w| w == b"/bin/a").unwrap();
    bad[pos + 5] = b'z';
    let o = mr_stdin(&["ima", "replay", "-"], &bad);
    assert_eq!(code(&o), 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("entry 1"), "{err}");
    let o = mr_stdin(
        &[
            "ima",
            "replay",
            "-",
            "--json",
            "--expect",
            &expect_arg(&f.after5[1]),
        ],
        &bad,
    );
    assert_eq!(code(&o), 1);
    let j = json(&o);
    let bad_entry = &j["bad_entry"];
    assert_eq!(bad_entry["entry"], 1);
}

#[test]
fn malformed_input_exits_2_with_offset_and_entry() {
    let f = fixture(DigestMode::PerBank);
    let cut = &f.bytes[..f.bytes.len() - 3];
    let o = mr_stdin(&["ima", "replay", "-"], cut);
    assert_eq!(code(&o), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("byte offset") && err.contains("entry 4"),
        "{err}"
    );
    // The same list with the incomplete entry tolerated.
    let o = mr_stdin(
        &["ima", "replay", "-", "--allow-trailing-bytes", "--json"],
        cut,
    );
    assert_eq!(code(&o), 0);
    assert_eq!(json(&o)["entries"], 4);
    // Empty input, bad --expect, unknown option.
    assert_eq!(code(&mr_stdin(&["ima", "replay", "-"], b"")), 2);
    assert_eq!(
        code(&mr(&[
            "ima",
            "replay",
            p(&f.path),
            "--expect",
            "10:sha1:abcd"
        ])),
        2
    );
    assert_eq!(
        code(&mr(&["ima", "replay", p(&f.path), "--padded", "--auto"])),
        2
    );
    assert_eq!(code(&mr(&["ima", "replay", "/nonexistent/list"])), 2);
}

#[test]
fn auto_and_padded_modes_verify_old_kernel_values() {
    let f = fixture(DigestMode::PaddedSha1);
    let e = expect_arg(&f.after5[1]);
    assert_eq!(code(&mr(&["ima", "replay", p(&f.path), "--expect", &e])), 1);
    assert_eq!(
        code(&mr(&[
            "ima",
            "replay",
            p(&f.path),
            "--expect",
            &e,
            "--padded"
        ])),
        0
    );
    let o = mr(&[
        "ima",
        "replay",
        p(&f.path),
        "--expect",
        &e,
        "--auto",
        "--json",
    ]);
    assert_eq!(code(&o), 0);
    assert_eq!(json(&o)["digest_mode"], "padded-sha1");
}

#[test]
fn start_values_and_reject_violations() {
    let f = fixture(DigestMode::PerBank);
    let start = HashAlg::Sha256.hash(b"start");
    let o = mr(&[
        "ima",
        "replay",
        p(&f.path),
        "--bank",
        "sha256",
        "--start",
        &expect_arg(&start),
        "--json",
    ]);
    assert_eq!(code(&o), 0);
    assert_ne!(json(&o)["registers"][0]["value"], f.after5[1].to_hex());
    let o = mr(&["ima", "replay", p(&f.path), "--reject-violations"]);
    assert_eq!(code(&o), 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("entry 2") && err.contains("violation"),
        "{err}"
    );
}

#[test]
fn ibmtss_vector_verifies_through_the_cli() {
    let Some(v) = mr_testkit::shared("vectors/ima/ibmtss") else {
        return;
    };
    let exp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(v.join("EXPECTED.json")).unwrap()).unwrap();
    let s1 = format!(
        "10:sha1:{}",
        exp["whole_log_replays_to"]["sha1"].as_str().unwrap()
    );
    let s256 = format!(
        "10:sha256:{}",
        exp["whole_log_replays_to"]["sha256"].as_str().unwrap()
    );
    let log = v.join("sha1.log");
    let o = mr(&[
        "ima",
        "replay",
        p(&log),
        "--expect",
        &s1,
        "--expect",
        &s256,
        "--exact",
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(json(&o)["covered"], 362);
}

/// Issue 14 item 1: a `boot_aggregate` on PCR 11 (which no value covers) that matches a good
/// firmware log, before the real PCR 10 `boot_aggregate`, is not "the list's boot_aggregate":
/// `--boot-log` compares the PCR 10 one (and fails), and the PCR 11 entry is reported as not
/// covered.
#[test]
fn a_boot_aggregate_on_another_pcr_does_not_bind_the_boot_log() {
    let Some(v) = common::vectors() else { return };
    let bios = v.join("ima/ima-evm-utils/sample-binary_bios_measurements-pcrs-8-9");
    let good = Digest::from_hex(
        HashAlg::Sha256,
        "83d19723ef3b3c05bb8ae70d86b3886c158f2408f1b71ed265886a7b79eb700e",
    )
    .unwrap();
    let mut b = ImaListBuilder::binary();
    b.boot_aggregate_at(11, "ima-ng", &good);
    let mut pcr10 = Digest::zero(HashAlg::Sha256);
    let real = b.boot_aggregate_at(10, "ima-ng", &HashAlg::Sha256.hash(b"this boot"));
    pcr10 = pcr10.extended(
        real.extend_value(HashAlg::Sha256, DigestMode::PerBank)
            .as_bytes(),
    );
    for i in 0..3u32 {
        let e = b.ima_ng(10, &HashAlg::Sha256.hash(&i.to_le_bytes()), "/bin/x");
        pcr10 = pcr10.extended(
            e.extend_value(HashAlg::Sha256, DigestMode::PerBank)
                .as_bytes(),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("decoy");
    std::fs::write(&list, b.finish()).unwrap();
    let expect = expect_arg(&pcr10);
    let args = ["ima", "replay", p(&list), "--expect", &expect];

    let o = mr(&[&args[..], &["--boot-log", p(&bios)]].concat());
    assert_eq!(code(&o), 1, "{}", String::from_utf8_lossy(&o.stdout));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("boot_aggregate of entry 1 is sha256:"),
        "{err}"
    );

    let o = mr(&[&args[..], &["--json"]].concat());
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let j = json(&o);
    assert_eq!(j["covered"], 4);
    assert_eq!(j["not_covered"]["entries"], 1);
    assert_eq!(j["not_covered"]["first"]["entry"], 0);
    assert_eq!(j["not_covered"]["first"]["id"], "pcr11");
    assert_eq!(j["boot_aggregates"].as_array().unwrap().len(), 1);
    assert_eq!(j["boot_aggregates"][0]["entry"], 1);
    let o = mr(&args);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("NOT covered: 1 entries extend registers without a verified value (first: entry 0, pcr11)"),
        "{out}"
    );

    // PCR 10 starts with a file: there is no boot_aggregate to bind the boot log.
    let mut b = ImaListBuilder::binary();
    b.boot_aggregate_at(11, "ima-ng", &good);
    b.ima_ng(10, &HashAlg::Sha256.hash(b"a"), "/bin/a");
    let list = dir.path().join("no-boot");
    std::fs::write(&list, b.finish()).unwrap();
    let o = mr(&["ima", "replay", p(&list), "--boot-log", p(&bios)]);
    assert_eq!(code(&o), 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("entry 1, the first of the IMA register, is not a boot_aggregate"),
        "{err}"
    );
}

/// A list whose first `CHUNK_LEN` bytes end exactly at an entry boundary, with an entry tampered
/// inside them, and the PCR 10 value of the entries after them only: a replay that verified the
/// rest of the input without its first chunk would accept it.
fn list_tampered_in_its_first_chunk() -> (Vec<u8>, Digest) {
    let chunk = mr_core::log::ima::CHUNK_LEN;
    let mut b = ImaListBuilder::binary();
    let mut i = 0u32;
    while b.as_bytes().len() + 4096 < chunk {
        b.ima_ng(
            10,
            &HashAlg::Sha256.hash(&i.to_le_bytes()),
            &format!("/usr/lib/f{i}"),
        );
        i += 1;
    }
    // One ima-buf entry fills the chunk exactly (its size grows with its buffer, byte for byte).
    let mut probe = ImaListBuilder::binary();
    probe.ima_buf(10, HashAlg::Sha256, "pad", b"");
    let fill = chunk - b.as_bytes().len() - probe.as_bytes().len();
    b.ima_buf(10, HashAlg::Sha256, "pad", &vec![b'p'; fill]);
    assert_eq!(b.as_bytes().len(), chunk);
    let mut tail = Digest::zero(HashAlg::Sha256);
    for j in 0..2000u32 {
        let e = b.ima_ng(
            10,
            &HashAlg::Sha256.hash(&j.to_be_bytes()),
            &format!("/bin/t{j}"),
        );
        tail = tail.extended(
            e.extend_value(HashAlg::Sha256, DigestMode::PerBank)
                .as_bytes(),
        );
    }
    let mut bytes = b.finish();
    // Entry 3's file path: its template digest no longer matches.
    let at = bytes.windows(11).position(|w| w == b"/usr/lib/f3").unwrap();
    bytes[at + 9] = b'X';
    (bytes, tail)
}

/// Issue 14 item 3: a list given as a pipe (`/dev/stdin`, a FIFO, stdin) is read once; its first
/// chunk, tampered, is verified like the rest, and the list is rejected.
#[test]
fn a_piped_list_is_read_once_and_its_first_chunk_is_verified() {
    let (bytes, tail) = list_tampered_in_its_first_chunk();
    let expect = expect_arg(&tail);
    for path in ["/dev/stdin", "-"] {
        let o = mr_stdin(&["ima", "replay", path, "--expect", &expect], &bytes);
        assert_eq!(
            code(&o),
            1,
            "{path}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("entry 3"), "{path}: {err}");
    }
    // A FIFO, written by another thread.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("list.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let writer = {
        let (fifo, bytes) = (fifo.clone(), bytes.clone());
        std::thread::spawn(move || {
            use std::io::Write;
            // `mr` may stop reading early: ignore a broken pipe.
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .open(&fifo)
                .and_then(|mut f| f.write_all(&bytes));
        })
    };
    let o = mr(&["ima", "replay", p(&fifo), "--expect", &expect]);
    writer.join().unwrap();
    assert_eq!(code(&o), 1, "FIFO: {}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("entry 3"));
}
