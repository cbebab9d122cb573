//! Direct mode (Intel's "IMA over RTMR" kernels): `mr tcg replay --ccel LOG --ima LIST
//! --ima-register rtmr2` replays a real CCEL (MR_SHARED) and continues an IMA list into RTMR2
//! with SHA-384 template digests. The expected values are computed here independently (sha2 over
//! hand-encoded ima-ng template data), not by mr.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{arg as path, code, mr, stderr, stdout, vectors, write};

use mr_rtmr::sim::quote::QuoteFormat;
use mr_testkit::td::{measurements, signer, write_quote};
use sha2::{Digest as _, Sha256, Sha384};

/// RTMR0..2 after the COS 113 CCEL (go-eventlog's stated values).
const COS_RTMRS: [&str; 3] = [
    "3fa2f61f395b7f5feefb4ec2df61297f109ad8abcd6410c1b7df60f21f37b19297fc35e544039c7e1edece752afd17f6",
    "f62dbc072bd5d3f3438b7b35c39a727f5aea2ffc2473f43723953f530daf62504f0a7944aa62c41a86e8a878c2b122c1",
    "4969684dc87381fc3b3134176c8d8806eaf0a901859f5f70cfae8d17714b46c10a8de219048c9fc09f11f381a6fbe7c1",
];

const FILES: [&str; 6] = [
    "/usr/lib/systemd/systemd",
    "/usr/bin/bash",
    "violation:/var/log/app.log",
    "/etc/ld.so.cache",
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/bin/ls",
];

fn rtmr(hex: &str) -> [u8; 48] {
    hex::decode(hex).unwrap().try_into().unwrap()
}

/// ima-ng template data: d-ng (`sha256:\0` + digest) and n-ng (path + NUL), each with a u32
/// little-endian length.
fn ima_ng_data(path: &str) -> Vec<u8> {
    let mut dng = b"sha256:\0".to_vec();
    dng.extend_from_slice(&Sha256::digest(path.as_bytes()));
    let mut nng = path.as_bytes().to_vec();
    nng.push(0);
    let mut data = Vec::new();
    for field in [&dng, &nng] {
        data.extend_from_slice(&(field.len() as u32).to_le_bytes());
        data.extend_from_slice(field);
    }
    data
}

/// The ASCII list an IMA-over-RTMR kernel shows (column 1 = RTMR index 2, SHA-384 template
/// digests), and RTMR2 after each entry, starting from `start`.
fn direct_list(start: [u8; 48]) -> (String, Vec<[u8; 48]>) {
    let mut text = String::new();
    let mut value = start;
    let mut after = Vec::new();
    for f in FILES {
        let (path, violation) = match f.strip_prefix("violation:") {
            Some(p) => (p, true),
            None => (f, false),
        };
        let data = ima_ng_data(path);
        let digest: [u8; 48] = Sha384::digest(&data).into();
        let (column, extend) = if violation {
            ([0u8; 48], [0xFFu8; 48])
        } else {
            (digest, digest)
        };
        let file_hash = hex::encode(Sha256::digest(path.as_bytes()));
        text.push_str(&format!(
            "2 {} ima-ng sha256:{file_hash} {path}\n",
            hex::encode(column)
        ));
        let mut h = Sha384::new();
        h.update(value);
        h.update(extend);
        value = h.finalize().into();
        after.push(value);
    }
    (text, after)
}

fn expect_args(rtmr2: &[u8; 48]) -> Vec<String> {
    vec![
        "--expect".into(),
        format!("rtmr0:sha384:{}", COS_RTMRS[0]),
        "--expect".into(),
        format!("rtmr1:sha384:{}", COS_RTMRS[1]),
        "--expect".into(),
        format!("rtmr2:sha384:{}", hex::encode(rtmr2)),
    ]
}

fn run(log: &str, list: &str, extra: &[String]) -> std::process::Output {
    let mut args = vec![
        "tcg",
        "replay",
        log,
        "--ccel",
        "--ima",
        list,
        "--ima-register",
        "rtmr2",
    ];
    args.extend(extra.iter().map(String::as_str));
    mr(&args)
}

#[test]
fn ccel_then_ima_list_reaches_the_independently_computed_rtmr2() {
    let Some(v) = vectors() else { return };
    let log = v.join("ccel/go-eventlog/cos-113-intel-tdx.bin");
    let dir = tempfile::tempdir().unwrap();
    let (text, after) = direct_list(rtmr(COS_RTMRS[2]));
    let list = write(dir.path(), "ascii_runtime_measurements", text.as_bytes());
    let last = *after.last().unwrap();

    let mut extra = expect_args(&last);
    extra.push("--json".into());
    let o = run(path(&log), &list, &extra);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["verified"], true);
    assert_eq!(j["events"], 44);
    assert_eq!(j["ima"]["entries"], 6);
    assert_eq!(j["ima"]["covered"], 6);
    assert_eq!(j["ima"]["violations"], 1);
    assert_eq!(j["ima"]["register"], "rtmr2");
    let rtmr2 = j["registers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "rtmr2")
        .unwrap();
    assert_eq!(rtmr2["value"], hex::encode(last));

    // Without values: the combined values are printed.
    let o = run(path(&log), &list, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.lines()
            .any(|l| l == format!("rtmr2:sha384:{}", hex::encode(last))),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l == format!("rtmr0:sha384:{}", COS_RTMRS[0])),
        "{out}"
    );
}

#[test]
fn a_quote_taken_mid_list_covers_a_prefix_and_reports_the_rest() {
    let Some(v) = vectors() else { return };
    let log = v.join("ccel/go-eventlog/cos-113-intel-tdx.bin");
    let dir = tempfile::tempdir().unwrap();
    let (text, after) = direct_list(rtmr(COS_RTMRS[2]));
    let list = write(dir.path(), "list", text.as_bytes());
    let mut extra = expect_args(&after[3]);
    extra.push("--json".into());
    let o = run(path(&log), &list, &extra);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["ima"]["covered"], 4);
    assert_eq!(j["ima"]["left_over"], 2);
}

#[test]
fn tampered_entry_or_wrong_rtmr_is_rejected_with_exit_1() {
    let Some(v) = vectors() else { return };
    let log = v.join("ccel/go-eventlog/cos-113-intel-tdx.bin");
    let dir = tempfile::tempdir().unwrap();
    let (text, after) = direct_list(rtmr(COS_RTMRS[2]));
    let last = *after.last().unwrap();

    // A file path edited after the kernel hashed it: entry 3 (0-based) no longer matches.
    let bad = text.replace("/etc/ld.so.cache", "/etc/ld.so.cachE");
    let list = write(dir.path(), "tampered", bad.as_bytes());
    let o = run(path(&log), &list, &expect_args(&last));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("entry 3"), "{}", stderr(&o));

    // The right list, but RTMR1 is not what the CCEL replays to.
    let list = write(dir.path(), "list", text.as_bytes());
    let mut extra = expect_args(&last);
    extra[3] = format!("rtmr1:sha384:{}", "00".repeat(48));
    let o = run(path(&log), &list, &extra);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("rtmr1"), "{}", stderr(&o));

    // An entry dropped from the list: no prefix reaches the quoted RTMR2.
    let dropped: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    let list = write(dir.path(), "dropped", dropped.as_bytes());
    let o = run(path(&log), &list, &expect_args(&last));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("rtmr2"), "{}", stderr(&o));
}

#[test]
fn direct_mode_against_a_verified_td_quote() {
    let Some(v) = vectors() else { return };
    let log = v.join("ccel/go-eventlog/cos-113-intel-tdx.bin");
    let dir = tempfile::tempdir().unwrap();
    let (text, after) = direct_list(rtmr(COS_RTMRS[2]));
    let list = write(dir.path(), "list", text.as_bytes());
    let nonce = b"direct mode nonce";
    let m = measurements(
        [7; 48],
        [
            rtmr(COS_RTMRS[0]),
            rtmr(COS_RTMRS[1]),
            *after.last().unwrap(),
            [9; 48],
        ],
        nonce,
    );
    let (q, root) = write_quote(dir.path(), "sim", signer(), &m, QuoteFormat::V4Td10);
    let (q, root) = (path(&q).to_owned(), path(&root).to_owned());
    let quote_args = |n: &[u8]| {
        vec![
            "--td-quote".to_owned(),
            q.clone(),
            "--root".into(),
            root.clone(),
            "--at".into(),
            "2026-01-01T00:00:00Z".into(),
            "--nonce".into(),
            hex::encode(n),
        ]
    };
    let o = run(path(&log), &list, &quote_args(nonce));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("verified: 3 values"), "{}", stdout(&o));

    // A stale quote (another nonce) is rejected.
    let o = run(path(&log), &list, &quote_args(b"old nonce"));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
}
