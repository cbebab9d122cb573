//! Independent cross-check: lists written by `$MR_SHARED/tools/gen_ima_log.py` (a Python model
//! of the kernel, validated by its authors against evmctl, swtpm and keylime) replay to the PCR
//! values it prints, and the library's builder writes byte-identical lists.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::ComputeOnly;
use std::path::{Path, PathBuf};
use std::process::Command;

use mr_core::log::ima::builder::ImaListBuilder;
use mr_core::log::ima::{
    self, DigestMode, Endian, FieldId, FieldValue, ImaReader, ImaReaderOptions, ImaReplayConfig,
    ListKind,
};
use mr_core::replay::{PrefixPolicy, ReplayOptions};
use mr_core::{Digest, ExpectedRegisters, HashAlg, MrId};

fn generator() -> Option<PathBuf> {
    mr_testkit::shared("tools/gen_ima_log.py")
}

/// Run the generator into a fresh temporary directory.
fn generate(name: &str, args: &[&str]) -> Option<(PathBuf, serde_json::Value)> {
    let gen = generator()?;
    let dir = std::env::temp_dir().join(format!("mr-ima-gen-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let status = Command::new("python3")
        .arg(&gen)
        .arg("-q")
        .arg("-o")
        .arg(&dir)
        .args(args)
        .status()
        .expect("python3 runs");
    assert!(status.success(), "gen_ima_log.py {args:?} failed");
    let meta = serde_json::from_slice(&std::fs::read(dir.join("pcrs.json")).unwrap()).unwrap();
    Some((dir, meta))
}

fn expected(meta: &serde_json::Value) -> ExpectedRegisters {
    let pcr = meta["pcr"].as_u64().unwrap() as u32;
    let mut v = ExpectedRegisters::new();
    for (bank, hex) in meta["pcr_values"].as_object().unwrap() {
        let alg: HashAlg = bank.parse().unwrap();
        v.insert(
            MrId::Pcr(pcr),
            Digest::from_hex(alg, hex.as_str().unwrap()).unwrap(),
        )
        .unwrap();
    }
    v
}

fn exact() -> ImaReplayConfig {
    ImaReplayConfig::default()
        .with_replay(ReplayOptions::default().with_prefix(PrefixPolicy::Exact))
}

fn replay_file(
    path: &Path,
    config: &ImaReplayConfig,
    exp: &ExpectedRegisters,
) -> ima::ImaReplayReport {
    let bytes = std::fs::read(path).unwrap();
    ima::replay(&bytes[..], config, exp)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_report()
}

const ALL_BANKS: &str = "sha1,sha256,sha384,sha512";

#[test]
fn generated_ima_ng_list_with_violations_and_buffers_replays_in_four_banks() {
    let Some((dir, meta)) = generate(
        "ng",
        &[
            "-n",
            "400",
            "--violations",
            "7",
            "--buf-entries",
            "9",
            "--banks",
            ALL_BANKS,
            "--boot-pcr-seed",
            "s1",
        ],
    ) else {
        return;
    };
    let exp = expected(&meta);
    assert_eq!(exp.len(), 4);
    for file in ["binary_runtime_measurements", "ascii_runtime_measurements"] {
        let r = replay_file(&dir.join(file), &exact(), &exp);
        assert_eq!((r.entries, r.violations), (400, 7), "{file}");
        assert_eq!(r.outcome.covered, Some(400));
        assert_eq!(r.banks.len(), 4);
        let ba = r.boot_aggregates[0];
        assert_eq!(
            ba.digest.alg().name(),
            meta["boot_aggregate"]["bank"].as_str().unwrap()
        );
        assert_eq!(
            ba.digest.to_hex(),
            meta["boot_aggregate"]["digest"].as_str().unwrap()
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn generated_big_endian_ima_sig_per_bank_lists_replay_with_detected_column_and_byte_order() {
    let Some((dir, meta)) = generate(
        "sig-be",
        &[
            "-n",
            "250",
            "--template",
            "ima-sig",
            "--endian",
            "big",
            "--per-bank-lists",
            "--violations",
            "3",
            "--buf-entries",
            "4",
            "--banks",
            ALL_BANKS,
            "--file-hash",
            "sha512",
            "--pcr",
            "11",
        ],
    ) else {
        return;
    };
    let exp = expected(&meta);
    let r = replay_file(&dir.join("binary_runtime_measurements"), &exact(), &exp);
    assert_eq!(
        (r.format.kind, r.format.endian, r.format.column),
        (ListKind::Binary, Endian::Big, HashAlg::Sha1)
    );
    // ASCII text does not reveal byte order: the hashed lengths must be rebuilt big endian.
    let be = exact().with_endian(Endian::Big);
    replay_file(&dir.join("ascii_runtime_measurements"), &be, &exp);
    for bank in ALL_BANKS.split(',') {
        let alg: HashAlg = bank.parse().unwrap();
        let r = replay_file(
            &dir.join(format!("binary_runtime_measurements_{bank}")),
            &exact(),
            &exp,
        );
        assert_eq!(
            (r.format.endian, r.format.column),
            (Endian::Big, alg),
            "{bank}"
        );
        assert_eq!(r.entries, 250);
        let r = replay_file(
            &dir.join(format!("ascii_runtime_measurements_{bank}")),
            &be,
            &exp,
        );
        assert_eq!(r.format.column, alg, "{bank}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn generated_template_digests_match_entry_by_entry() {
    let Some((dir, meta)) = generate(
        "tdig",
        &[
            "-n",
            "120",
            "--violations",
            "4",
            "--buf-entries",
            "4",
            "--banks",
            ALL_BANKS,
            "--template-digests",
        ],
    ) else {
        return;
    };
    let lines = std::fs::read_to_string(dir.join("template_digests.txt")).unwrap();
    let bytes = std::fs::read(dir.join("binary_runtime_measurements")).unwrap();
    let mut r = ImaReader::new(&bytes[..], ImaReaderOptions::default());
    let mut n = 0;
    for line in lines.lines() {
        let e = r.next_entry().unwrap().unwrap();
        let mut parts = line.split(' ');
        assert_eq!(e.header_digest().to_hex(), parts.next().unwrap());
        for p in parts {
            let (bank, hex) = p.split_once('=').unwrap();
            let alg: HashAlg = bank.parse().unwrap();
            let d = if e.is_violation() {
                Digest::ones(alg)
            } else {
                e.template_digest(alg)
            };
            assert_eq!(d.to_hex(), hex, "entry {n} bank {bank}");
        }
        n += 1;
    }
    assert!(r.next_entry().unwrap().is_none());
    assert_eq!(n, meta["entries"].as_u64().unwrap());
    let _ = std::fs::remove_dir_all(dir);
}

/// Rebuild a parsed list with [`ImaListBuilder`], entry by entry from its decoded fields.
fn rebuild(
    bytes: &[u8],
    kind: ListKind,
    endian: Endian,
    column: HashAlg,
    opts: ImaReaderOptions,
) -> Vec<u8> {
    let mut b = ImaListBuilder::new(kind)
        .with_endian(endian)
        .with_column(column);
    let mut r = ImaReader::new(bytes, opts);
    while let Some(e) = r.next_entry().unwrap() {
        let (alg, digest) = e.file_digest().unwrap();
        let alg = alg.unwrap();
        let name = e.event_name().unwrap();
        let template = e.template_name();
        if let Some(ba) = e.boot_aggregate() {
            b.boot_aggregate_at(e.pcr(), template, &ba.digest);
        } else if e.is_violation() {
            b.violation(e.pcr(), template, alg, name);
        } else if template == "ima-buf" {
            let FieldValue::Buffer(buf) = e.field(FieldId::Buf).unwrap().value() else {
                panic!("no buf")
            };
            let built = b.ima_buf(e.pcr(), alg, name, buf);
            assert_eq!(Digest::new(alg, digest).unwrap(), alg.hash(buf));
            assert_eq!(built.template_data, e.template_data());
        } else if template == "ima-sig" {
            let sig = match e.field(FieldId::Sig).unwrap().value() {
                FieldValue::Signature(s) => s,
                _ => &[],
            };
            b.ima_sig(e.pcr(), &Digest::new(alg, digest).unwrap(), name, sig);
        } else {
            b.ima_ng(e.pcr(), &Digest::new(alg, digest).unwrap(), name);
        }
    }
    b.finish()
}

#[test]
fn builder_writes_the_same_lists_as_gen_ima_log() {
    for (name, args, endian) in [
        (
            "b-ng",
            vec![
                "-n",
                "60",
                "--violations",
                "3",
                "--buf-entries",
                "3",
                "--boot-pcr-seed",
                "z",
            ],
            Endian::Little,
        ),
        (
            "b-sig",
            vec![
                "-n",
                "60",
                "--template",
                "ima-sig",
                "--violations",
                "3",
                "--buf-entries",
                "3",
                "--endian",
                "big",
                "--per-bank-lists",
            ],
            Endian::Big,
        ),
    ] {
        let Some((dir, _meta)) = generate(name, &args) else {
            return;
        };
        let bin = std::fs::read(dir.join("binary_runtime_measurements")).unwrap();
        let txt = std::fs::read(dir.join("ascii_runtime_measurements")).unwrap();
        assert!(
            rebuild(
                &bin,
                ListKind::Binary,
                endian,
                HashAlg::Sha1,
                ImaReaderOptions::default()
            ) == bin,
            "{name} binary"
        );
        let opts = ImaReaderOptions::default().with_endian(endian);
        assert!(
            rebuild(&bin, ListKind::Ascii, endian, HashAlg::Sha1, opts.clone()) == txt,
            "{name} ascii"
        );
        if name == "b-sig" {
            let per_bank = std::fs::read(dir.join("binary_runtime_measurements_sha256")).unwrap();
            assert!(
                rebuild(&bin, ListKind::Binary, endian, HashAlg::Sha256, opts) == per_bank,
                "{name} sha256 list"
            );
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn auto_mode_finds_the_padded_sha1_rule_of_old_kernels() {
    // A list and PCR values computed with the pre-5.8 rule (SHA-1 digest zero-padded per bank).
    let mut b = ImaListBuilder::binary();
    let mut pcr = [Digest::zero(HashAlg::Sha1), Digest::zero(HashAlg::Sha256)];
    let entries = [
        b.boot_aggregate("ima-ng", &HashAlg::Sha1.hash(b"pcrs 0-7")),
        b.ima_ng(10, &HashAlg::Sha1.hash(b"a"), "/bin/a"),
        b.violation(10, "ima-ng", HashAlg::Sha1, "/tmp/w"),
        b.ima_sig(10, &HashAlg::Sha256.hash(b"b"), "/bin/b", b"\x03\x02sig"),
    ];
    for e in &entries {
        for p in pcr.iter_mut() {
            *p = p.extended(e.extend_value(p.alg(), DigestMode::PaddedSha1).as_bytes());
        }
    }
    let list = b.finish();
    let mut exp = ExpectedRegisters::new();
    for p in pcr {
        exp.insert(MrId::Pcr(10), p).unwrap();
    }
    assert!(ima::replay(&list[..], &ImaReplayConfig::default(), &exp).is_err());
    let padded = ImaReplayConfig::default().with_digest_mode(DigestMode::PaddedSha1);
    assert_eq!(
        ima::replay(&list[..], &padded, &exp).unwrap().digest_mode,
        DigestMode::PaddedSha1
    );
    let auto = ImaReplayConfig::default().with_digest_mode(DigestMode::Auto);
    let r = ima::replay(&list[..], &auto, &exp).unwrap();
    assert_eq!(
        (r.digest_mode, r.outcome.covered),
        (DigestMode::PaddedSha1, Some(4))
    );
}

#[test]
fn prefix_start_values_and_legacy_entries_through_the_builder() {
    let mut b = ImaListBuilder::ascii().with_column(HashAlg::Sha256);
    let start = HashAlg::Sha256.hash(b"checkpoint");
    let mut v = start;
    let e = b.legacy_ima(10, &[7; 20], "/etc/with space").unwrap();
    v = v.extended(
        e.extend_value(HashAlg::Sha256, DigestMode::PerBank)
            .as_bytes(),
    );
    let e = b.ima_ng(10, &HashAlg::Sha256.hash(b"x"), "/x");
    v = v.extended(
        e.extend_value(HashAlg::Sha256, DigestMode::PerBank)
            .as_bytes(),
    );
    b.ima_ng(10, &HashAlg::Sha256.hash(b"y"), "/y"); // appended after the quote
    let list = b.finish();
    let mut exp = ExpectedRegisters::new();
    exp.insert(MrId::Pcr(10), v).unwrap();
    let opts = ReplayOptions::default().with_start(MrId::Pcr(10), start);
    let config = ImaReplayConfig::default().with_replay(opts.clone());
    let r = ima::replay(&list[..], &config, &exp).unwrap();
    assert_eq!((r.outcome.covered, r.outcome.left_over()), (Some(2), 1));
    assert_eq!(r.format.column, HashAlg::Sha256);
    let exact = ImaReplayConfig::default().with_replay(opts.with_prefix(PrefixPolicy::Exact));
    assert!(ima::replay(&list[..], &exact, &exp).is_err());
    assert!(ima::replay(&list[..], &ImaReplayConfig::default(), &exp).is_err());
    let text = String::from_utf8(list).unwrap();
    assert!(text.starts_with("10 "));
    assert!(text.contains(" ima 0707070707070707070707070707070707070707 /etc/with_space\n"));
}

#[test]
fn ascii_pcr_below_ten_has_a_leading_space_and_empty_fields_leave_spaces() {
    let mut b = ImaListBuilder::ascii();
    b.ima_sig(9, &HashAlg::Sha256.hash(b"x"), "/x", b"");
    let text = String::from_utf8(b.finish()).unwrap();
    assert!(text.starts_with(" 9 "), "{text:?}");
    assert!(text.ends_with(" /x \n"), "{text:?}");
    let r = ima::replay(text.as_bytes(), &ImaReplayConfig::default(), &ComputeOnly).unwrap();
    assert_eq!(r.outcome.registers[0].id, MrId::Pcr(9));
}
