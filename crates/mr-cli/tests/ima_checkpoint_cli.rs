//! `mr ima replay --save-checkpoint / --from-checkpoint [--tail]`, `--allow-no-tpm`, the
//! never-extended verdict, and (with a TPM device) quote-anchored checkpoints and
//! `mr ima shards verify` on real swtpm quotes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{code, mr, stderr, stdout, write};

use mr_core::log::ima::builder::{BuiltEntry, ImaListBuilder};
use mr_core::log::ima::DigestMode;
use mr_core::{Digest, HashAlg};

struct Gen {
    b: ImaListBuilder,
    pcr: Digest,
    n: u64,
}

impl Gen {
    fn new() -> Gen {
        let mut g = Gen {
            b: ImaListBuilder::binary(),
            pcr: Digest::zero(HashAlg::Sha256),
            n: 0,
        };
        let e = g.b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"pcrs"));
        g.fold(&e);
        g
    }
    fn fold(&mut self, e: &BuiltEntry) {
        self.pcr = self.pcr.extended(
            e.extend_value(HashAlg::Sha256, DigestMode::PerBank)
                .as_bytes(),
        );
        self.n += 1;
    }
    fn files(&mut self, count: u64) {
        for _ in 0..count {
            let p = format!("/usr/bin/f{}", self.n);
            let e = self.b.ima_ng(10, &HashAlg::Sha256.hash(p.as_bytes()), &p);
            self.fold(&e);
        }
    }
    fn expect(&self) -> String {
        format!("10:sha256:{}", self.pcr)
    }
}

#[test]
fn checkpoints_are_saved_after_success_and_resume_full_lists_and_tails() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = Gen::new();
    g.files(10);
    let log1 = write(dir.path(), "l1.bin", g.b.as_bytes());
    let cp = dir.path().join("cp.json").display().to_string();
    let key = dir.path().join("cp.key").display().to_string();
    let o = mr(&[
        "ima",
        "replay",
        &log1,
        "--expect",
        &g.expect(),
        "--checkpoint-key",
        &key,
        "--save-checkpoint",
        &cp,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("checkpoint saved"), "{}", stdout(&o));
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&cp).unwrap()).unwrap();
    assert_eq!(saved["checkpoint"]["version"], 2);
    assert_eq!(saved["checkpoint"]["entries"], 11);
    assert_eq!(saved["hmac_sha256"].as_str().unwrap().len(), 64);
    let offset = saved["checkpoint"]["offset"].as_u64().unwrap() as usize;

    g.files(6);
    let full = write(dir.path(), "l2.bin", g.b.as_bytes());
    let tail = write(dir.path(), "tail.bin", &g.b.as_bytes()[offset..]);
    let cp2 = dir.path().join("cp2.json").display().to_string();
    let o = mr(&[
        "ima",
        "replay",
        &tail,
        "--expect",
        &g.expect(),
        "--checkpoint-key",
        &key,
        "--from-checkpoint",
        &cp,
        "--tail",
        "--save-checkpoint",
        &cp2,
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["first_entry"], 11);
    assert_eq!(j["entries"], 6);
    assert_eq!(j["checkpoint"]["entries"], 17);
    assert_eq!(j["registers"][0]["value"], g.pcr.to_hex());
    let o = mr(&[
        "ima",
        "replay",
        &full,
        "--expect",
        &g.expect(),
        "--checkpoint-key",
        &key,
        "--from-checkpoint",
        &cp,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("resumed from the checkpoint at entry 11"),
        "{}",
        stdout(&o)
    );
    // The tail-made checkpoint checks the full list.
    let o = mr(&[
        "ima",
        "replay",
        &full,
        "--expect",
        &g.expect(),
        "--checkpoint-key",
        &key,
        "--from-checkpoint",
        &cp2,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    // The whole list given as a tail does not continue the checkpoint.
    let o = mr(&[
        "ima",
        "replay",
        &full,
        "--expect",
        &g.expect(),
        "--checkpoint-key",
        &key,
        "--from-checkpoint",
        &cp,
        "--tail",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    // An edited prefix: refused, and no checkpoint is written.
    let mut edited = g.b.as_bytes().to_vec();
    let at = edited
        .windows(11)
        .position(|w| w == b"/usr/bin/f3")
        .unwrap();
    edited[at + 9] = b'x';
    let edited = write(dir.path(), "edited.bin", &edited);
    let cp3 = dir.path().join("cp3.json");
    let o = mr(&[
        "ima",
        "replay",
        &edited,
        "--expect",
        &g.expect(),
        "--checkpoint-key",
        &key,
        "--from-checkpoint",
        &cp,
        "--save-checkpoint",
        &cp3.display().to_string(),
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("differ from the verified prefix"),
        "{}",
        stderr(&o)
    );
    assert!(!cp3.exists());
    // A damaged checkpoint file is malformed input.
    let bad = write(dir.path(), "bad.json", br#"{"version": 9}"#);
    let o = mr(&[
        "ima",
        "replay",
        &full,
        "--expect",
        &g.expect(),
        "--checkpoint-key",
        &key,
        "--from-checkpoint",
        &bad,
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    // A checkpoint needs verified values.
    let o = mr(&[
        "ima",
        "replay",
        &full,
        "--checkpoint-key",
        &key,
        "--save-checkpoint",
        &cp3.display().to_string(),
    ]);
    assert_eq!(code(&o), 2);
}

#[test]
fn the_entry_that_was_never_extended_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = Gen::new();
    g.files(5);
    let saved = g.pcr;
    let e = g.b.ima_ng(10, &HashAlg::Sha256.hash(b"lost"), "/lost");
    g.fold(&e);
    g.pcr = saved;
    g.files(4);
    let log = write(dir.path(), "l.bin", g.b.as_bytes());
    let o = mr(&["ima", "replay", &log, "--expect", &g.expect()]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("entry 6 was logged but never extended"),
        "{}",
        stderr(&o)
    );
    let o = mr(&[
        "ima",
        "replay",
        &log,
        "--expect",
        &g.expect(),
        "--never-extended-budget",
        "0",
    ]);
    assert_eq!(code(&o), 1);
    assert!(!stderr(&o).contains("never extended"), "{}", stderr(&o));
}

#[test]
fn a_list_booted_without_a_tpm_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = ImaListBuilder::binary();
    let e = b.boot_aggregate("ima-ng", &Digest::zero(HashAlg::Sha256));
    let v = Digest::zero(HashAlg::Sha256).extended(
        e.extend_value(HashAlg::Sha256, DigestMode::PerBank)
            .as_bytes(),
    );
    let log = write(dir.path(), "l.bin", b.as_bytes());
    let expect = format!("10:sha256:{v}");
    let o = mr(&["ima", "replay", &log, "--expect", &expect]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("no TPM"), "{}", stderr(&o));
    let o = mr(&["ima", "replay", &log, "--expect", &expect, "--allow-no-tpm"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// Issue 14 item 6 through the CLI: checkpoints are sealed with the verifier's key file, a
/// forged one (the genuine state sealed with another key, as an attester can make) is
/// rejected with --from-checkpoint, --tail and in a shard manifest, and the key file is
/// checked.
#[test]
fn a_forged_checkpoint_is_rejected_and_the_key_file_is_checked() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut g = Gen::new();
    g.files(40);
    let list = write(d, "list.bin", g.b.as_bytes());
    let empty = write(d, "empty.bin", b"");
    let expect = g.expect();
    let key = d.join("verifier.key");
    let key_s = key.display().to_string();
    let cp = d.join("cp.json").display().to_string();
    let save = |k: &str, out: &str| {
        mr(&[
            "ima",
            "replay",
            &list,
            "--expect",
            &expect,
            "--checkpoint-key",
            k,
            "--save-checkpoint",
            out,
        ])
    };
    let resume = |k: &str, c: &str, log: &str, tail: bool| {
        let mut a = vec![
            "ima",
            "replay",
            log,
            "--expect",
            &expect,
            "--checkpoint-key",
            k,
            "--from-checkpoint",
            c,
        ];
        if tail {
            a.push("--tail");
        }
        mr(&a)
    };

    // No key: a usage error that says what to pass.
    for args in [
        vec![
            "ima",
            "replay",
            &list,
            "--expect",
            &expect,
            "--save-checkpoint",
            &cp,
        ],
        vec![
            "ima",
            "replay",
            &list,
            "--expect",
            &expect,
            "--from-checkpoint",
            &cp,
        ],
    ] {
        let o = mr(&args);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        assert!(stderr(&o).contains("--checkpoint-key"), "{}", stderr(&o));
    }
    // The first save creates the key: 32 bytes, mode 0600.
    let o = save(&key_s, &cp);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let meta = std::fs::metadata(&key).unwrap();
    assert_eq!(meta.len(), 32);
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let genuine = resume(&key_s, &cp, &empty, true);
    assert_eq!(code(&genuine), 0, "{}", stderr(&genuine));
    assert!(stdout(&genuine).contains("41 entries") || stdout(&genuine).contains("entry 41"));

    // The attester's forgery: the same state (genuine quoted values, 41 entries), sealed with a
    // key of its own, handed over with an empty list.
    let attacker = d.join("attacker.key").display().to_string();
    let forged = d.join("forged.json").display().to_string();
    assert_eq!(code(&save(&attacker, &forged)), 0);
    for (log, tail) in [(&empty, true), (&list, false)] {
        let o = resume(&key_s, &forged, log, tail);
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        assert!(stderr(&o).contains("HMAC"), "{}", stderr(&o));
    }
    // An altered field of a genuine checkpoint.
    let text = std::fs::read_to_string(&cp).unwrap();
    let altered = write(
        d,
        "altered.json",
        text.replace("\"entries\":41", "\"entries\":40").as_bytes(),
    );
    assert_ne!(std::fs::read_to_string(&altered).unwrap(), text);
    let o = resume(&key_s, &altered, &list, false);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    // A shard manifest naming the forged checkpoint (the end quote is never reached).
    let manifest = serde_json::json!({"version": 1, "shards": [{
        "list": "empty.bin",
        "begin": {"kind": "checkpoint", "file": "forged.json"},
        "end": {"kind": "tpm_quote", "attest": "a", "sig": "s", "ak": "k", "nonce": "00", "pcrs": "p"},
    }]});
    let m = write(d, "m.json", manifest.to_string().as_bytes());
    let o = mr(&["ima", "shards", "verify", &m, "--checkpoint-key", &key_s]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("HMAC"), "{}", stderr(&o));
    let o = mr(&["ima", "shards", "verify", &m]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--checkpoint-key"), "{}", stderr(&o));

    // Key files: readable by group or others, wrong length, missing: usage errors.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let o = resume(&key_s, &cp, &empty, true);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("chmod 600"), "{}", stderr(&o));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let short = d.join("short.key");
    std::fs::write(&short, [1u8; 16]).unwrap();
    std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = resume(&short.display().to_string(), &cp, &empty, true);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = resume(&d.join("none.key").display().to_string(), &cp, &empty, true);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    // Another verifier's key (valid file): the checkpoint does not open.
    let o = resume(&attacker, &cp, &empty, true);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    // And the genuine one still does.
    assert_eq!(code(&resume(&key_s, &cp, &empty, true)), 0);
}

#[cfg(feature = "tpm-device")]
mod swtpm {
    use super::*;
    use mr_core::MeasurementRegister;
    use mr_tpm::device::{AkKind, AttestationKey, Tpm};
    use mr_tpm::harness::Swtpm;
    use mr_tpm::{PcrBankSelection, PcrSelection};
    use std::path::Path;

    fn measure(tpm: &Tpm, g: &mut Gen, count: u64) {
        for _ in 0..count {
            let p = format!("/usr/bin/f{}", g.n);
            let e = g.b.ima_ng(10, &HashAlg::Sha256.hash(p.as_bytes()), &p);
            tpm.pcr(10, HashAlg::Sha256)
                .extend(&e.extend_value(HashAlg::Sha256, DigestMode::PerBank))
                .unwrap();
            g.fold(&e);
        }
    }

    /// Quote PCR 10 (sha256) into files `<tag>.{attest,sig,ak,pcrs}`; returns the quote args.
    fn quote(tpm: &Tpm, ak: &AttestationKey, dir: &Path, tag: &str) -> Vec<String> {
        let sel = PcrSelection {
            banks: vec![PcrBankSelection::new(HashAlg::Sha256, &[10])],
        };
        let q = tpm.quote(ak, tag.as_bytes(), &sel).unwrap();
        let pcrs = format!("10:sha256:{}\n", tpm.read_pcr(10, HashAlg::Sha256).unwrap());
        vec![
            "--tpm-attest".into(),
            write(dir, &format!("{tag}.attest"), &q.attest),
            "--tpm-sig".into(),
            write(dir, &format!("{tag}.sig"), &q.signature),
            "--ak".into(),
            write(dir, &format!("{tag}.ak"), &q.ak_public),
            "--pcrs".into(),
            write(dir, &format!("{tag}.pcrs"), pcrs.as_bytes()),
            "--nonce".into(),
            hex::encode(tag),
        ]
    }

    fn run(args: &[&str], extra: &[String]) -> std::process::Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(extra.iter().map(String::as_str));
        mr(&all)
    }

    #[test]
    fn quote_anchored_checkpoints_and_a_shard_manifest_on_swtpm() {
        let swtpm = Swtpm::start().expect("swtpm");
        let tpm = Tpm::open(&swtpm.tcti()).unwrap();
        let ak = tpm.create_ak(AkKind::Rsa2048).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut g = Gen::new();
        // The boot_aggregate, extended as the kernel did.
        {
            let mut r = mr_core::log::ima::ImaReader::new(
                g.b.as_bytes(),
                mr_core::log::ima::ImaReaderOptions::default(),
            );
            while let Some(e) = r.next_entry().unwrap() {
                tpm.pcr(10, HashAlg::Sha256)
                    .extend(&e.template_digest(HashAlg::Sha256))
                    .unwrap();
            }
        }
        let mut cuts = Vec::new();
        let mut at = 0usize;
        let mut quotes = Vec::new();
        for k in 0..3 {
            measure(&tpm, &mut g, 4 + k);
            let bytes = g.b.as_bytes();
            cuts.push(write(d, &format!("shard{k}.bin"), &bytes[at..]));
            at = bytes.len();
            quotes.push(quote(&tpm, &ak, d, &format!("cut{k}")));
        }
        let whole = write(d, "whole.bin", g.b.as_bytes());

        // Checkpoint under the first cut's quote, resume under the last.
        let prefix_len = std::fs::read(&cuts[0]).unwrap().len();
        let first = write(d, "first.bin", &g.b.as_bytes()[..prefix_len]);
        let cp = d.join("cp.json").display().to_string();
        let key = d.join("cp.key").display().to_string();
        let o = run(
            &[
                "ima",
                "replay",
                &first,
                "--checkpoint-key",
                &key,
                "--save-checkpoint",
                &cp,
            ],
            &quotes[0],
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&cp).unwrap()).unwrap();
        assert_eq!(saved["checkpoint"]["root"]["kind"], "tpm");
        let o = run(
            &[
                "ima",
                "replay",
                &whole,
                "--checkpoint-key",
                &key,
                "--from-checkpoint",
                &cp,
                "--json",
            ],
            &quotes[2],
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["first_entry"], 5);
        assert_eq!(j["registers"][0]["value"], g.pcr.to_hex());
        // A quote with the wrong nonce is rejected before any replay.
        let mut wrong = quotes[2].clone();
        let n = wrong.len() - 1;
        wrong[n] = hex::encode("stale");
        let o = run(
            &[
                "ima",
                "replay",
                &whole,
                "--checkpoint-key",
                &key,
                "--from-checkpoint",
                &cp,
            ],
            &wrong,
        );
        assert_eq!(code(&o), 1, "{}", stderr(&o));

        // The shard manifest.
        let anchor = |k: usize| {
            serde_json::json!({
                "kind": "tpm_quote",
                "attest": format!("cut{k}.attest"),
                "sig": format!("cut{k}.sig"),
                "ak": format!("cut{k}.ak"),
                "nonce": hex::encode(format!("cut{k}")),
                "pcrs": format!("cut{k}.pcrs"),
            })
        };
        let shard = |k: usize, begin: serde_json::Value| serde_json::json!({"list": format!("shard{k}.bin"), "begin": begin, "end": anchor(k)});
        let good = serde_json::json!({"version": 1, "shards": [
            shard(0, serde_json::json!({"kind": "boot"})),
            shard(1, anchor(0)),
            shard(2, anchor(1)),
        ]});
        let m = write(d, "m.json", good.to_string().as_bytes());
        let o = mr(&["ima", "shards", "verify", &m, "--json"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["verified"], true);
        assert_eq!(j["entries"], g.n);
        let o = mr(&["ima", "shards", "verify", &m]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(stdout(&o).contains("verified: 3 shards"), "{}", stdout(&o));

        let missing = serde_json::json!({"version": 1, "shards": [
            shard(0, serde_json::json!({"kind": "boot"})),
            shard(2, anchor(1)),
        ]});
        let m = write(d, "missing.json", missing.to_string().as_bytes());
        let o = mr(&["ima", "shards", "verify", &m]);
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        let stated = serde_json::json!({"version": 1, "shards": [
            shard(0, serde_json::json!({"kind": "boot"})),
            shard(1, serde_json::json!({"kind": "values", "registers": [
                std::fs::read_to_string(d.join("cut0.pcrs")).unwrap().trim()
            ]})),
            shard(2, anchor(1)),
        ]});
        let m = write(d, "stated.json", stated.to_string().as_bytes());
        let o = mr(&["ima", "shards", "verify", &m]);
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        assert!(stderr(&o).contains("only claimed"), "{}", stderr(&o));
        // A chain that begins at the (sealed) checkpoint after shard 0: needs the key.
        let from_cp = serde_json::json!({"version": 1, "shards": [
            shard(1, serde_json::json!({"kind": "checkpoint", "file": "cp.json"})),
            shard(2, anchor(1)),
        ]});
        let m = write(d, "from_cp.json", from_cp.to_string().as_bytes());
        let o = mr(&["ima", "shards", "verify", &m, "--checkpoint-key", &key]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let o = mr(&["ima", "shards", "verify", &m]);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        assert!(stderr(&o).contains("--checkpoint-key"), "{}", stderr(&o));
        let m = write(d, "junk.json", b"{\"version\": 1, \"shards\": 3}");
        let o = mr(&["ima", "shards", "verify", &m]);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
    }
}

#[test]
fn a_kexec_load_without_execute_is_a_warning_of_possibly_lost_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = Gen::new();
    g.files(2);
    let e = g.b.ima_buf(
        10,
        HashAlg::Sha256,
        "kexec_load",
        b"kexec_segment_size=4096;ima_binary_runtime_size=300;ima_runtime_measurements_count=3;",
    );
    g.fold(&e);
    let e =
        g.b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"after kexec"));
    g.fold(&e);
    g.files(2);
    let log = write(dir.path(), "l.bin", g.b.as_bytes());
    let o = mr(&["ima", "replay", &log, "--expect", &g.expect()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("warning: possibly lost entries: kexec_load (entry 3)"),
        "{}",
        stdout(&o)
    );
    let o = mr(&["ima", "replay", &log, "--expect", &g.expect(), "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["boot_aggregate_count"], 2);
    assert_eq!(j["kexec_findings"].as_array().unwrap().len(), 1);
}

/// `--save-checkpoint` and `--from-checkpoint` stream the list: the peak RSS of `mr` does not
/// grow with it, also when the quote lags the list (the checkpoint sits at the covered prefix,
/// known only at the end).
#[test]
fn save_and_from_checkpoint_memory_does_not_grow_with_the_list() {
    if !std::path::Path::new("/usr/bin/time").exists() {
        eprintln!("/usr/bin/time is not installed: skipping this test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("cp.key").display().to_string();
    let max_rss_kib = |args: &[&str]| -> u64 {
        let o = std::process::Command::new("/usr/bin/time")
            .args(["-f", "%M", env!("CARGO_BIN_EXE_mr")])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        stderr(&o).lines().last().unwrap().trim().parse().unwrap()
    };
    let mut rss = Vec::new();
    for (name, files) in [("small", 20_000u64), ("large", 200_000)] {
        let mut g = Gen::new();
        g.files(files / 2);
        let first = g.expect();
        g.files(files / 4);
        let second = g.expect();
        g.files(files / 4); // appended after the second quote
        let list = write(dir.path(), &format!("{name}.bin"), g.b.as_bytes());
        let size = g.b.as_bytes().len();
        drop(g);
        let cp = dir.path().join(format!("{name}.cp")).display().to_string();
        let cp2 = dir.path().join(format!("{name}.cp2")).display().to_string();
        let save = max_rss_kib(&[
            "ima",
            "replay",
            &list,
            "--expect",
            &first,
            "--checkpoint-key",
            &key,
            "--save-checkpoint",
            &cp,
        ]);
        let resumed = max_rss_kib(&[
            "ima",
            "replay",
            &list,
            "--expect",
            &second,
            "--checkpoint-key",
            &key,
            "--from-checkpoint",
            &cp,
            "--save-checkpoint",
            &cp2,
        ]);
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&cp2).unwrap()).unwrap();
        assert_eq!(saved["checkpoint"]["entries"], 1 + files / 2 + files / 4);
        eprintln!("{name}: {size} bytes: --save-checkpoint max RSS {save} KiB, --from-checkpoint {resumed} KiB");
        rss.push((size, save.max(resumed)));
    }
    let (small, large) = (rss[0], rss[1]);
    // Ten times the list (18 MB more, which a list held in memory would add); the process's
    // RSS stays within 4 MiB of the small run's.
    assert!(large.0 > 10 << 20, "{large:?}");
    assert!(large.1 < small.1 + 4096, "{rss:?}");
}
