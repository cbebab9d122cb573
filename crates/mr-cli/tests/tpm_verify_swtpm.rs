//! The whole TPM-rooted IMA verification on a real swtpm: an IMA list is replayed into PCR 10
//! (SHA-1 and SHA-256 banks) entry by entry through `TpmPcr`, quoted with an RSA and an ECC AK,
//! and `mr verify` / `mr quote verify tpm` accept it and name every kind of tampering.
#![cfg(feature = "tpm-device")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{code, mr, stderr, write};

use std::path::Path;
use std::process::Output;

use mr_core::log::ima::builder::ImaListBuilder;
use mr_core::log::ima::DigestMode;
use mr_core::{HashAlg, MeasurementRegister};
use mr_tpm::device::{AkHierarchy, AkKind, Tpm};
use mr_tpm::harness::Swtpm;
use mr_tpm::{PcrBankSelection, PcrSelection};

const BANKS: [HashAlg; 2] = [HashAlg::Sha1, HashAlg::Sha256];

/// `mr verify --ima LOG --tpm-attest ATTEST --tpm-sig SIG --ak AK --nonce NONCE EXTRA...`.
fn mr_verify(log: &str, attest: &str, sig: &str, ak: &str, nonce: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "verify",
        "--ima",
        log,
        "--tpm-attest",
        attest,
        "--tpm-sig",
        sig,
        "--ak",
        ak,
        "--nonce",
        nonce,
    ];
    args.extend_from_slice(extra);
    mr(&args)
}

/// Measure files into an IMA list and, entry by entry, into PCR 10 of the TPM.
fn measure(tpm: &Tpm, list: &mut ImaListBuilder, files: &[&str]) {
    let pcrs: Vec<_> = BANKS.iter().map(|b| tpm.pcr(10, *b)).collect();
    for path in files {
        let e = if path.starts_with("violation:") {
            list.violation(10, "ima-ng", HashAlg::Sha256, path)
        } else {
            list.ima_ng(10, &HashAlg::Sha256.hash(path.as_bytes()), path)
        };
        for pcr in &pcrs {
            pcr.extend(&e.extend_value(pcr.alg(), DigestMode::PerBank))
                .unwrap();
        }
    }
}

struct Quoted {
    attest: String,
    sig: String,
    ak: String,
    pcrs: String,
}

fn quote(tpm: &Tpm, dir: &Path, kind: AkKind, nonce: &[u8]) -> Quoted {
    let selection = PcrSelection {
        banks: BANKS
            .iter()
            .map(|b| PcrBankSelection::new(*b, &[0, 10]))
            .collect(),
    };
    let ak = tpm.create_ak(kind).unwrap();
    let q = tpm.quote(&ak, nonce, &selection).unwrap();
    let mut lines = String::new();
    for (index, alg) in selection.pcrs() {
        lines.push_str(&format!(
            "{index}:{alg}:{}\n",
            tpm.read_pcr(index, alg).unwrap()
        ));
    }
    let tag = format!("{kind:?}");
    Quoted {
        attest: write(dir, &format!("{tag}.attest"), &q.attest),
        sig: write(dir, &format!("{tag}.sig"), &q.signature),
        ak: write(dir, &format!("{tag}.pub"), &q.ak_public),
        pcrs: write(dir, &format!("{tag}.pcrs"), lines.as_bytes()),
    }
}

#[test]
fn ima_list_replayed_into_swtpm_pcr10_verifies_under_rsa_and_ecc_quotes() {
    let swtpm = Swtpm::start().expect("swtpm (scripts/install-deps.sh installs it)");
    let tpm = Tpm::open(&swtpm.tcti()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut list = ImaListBuilder::binary();
    let boot = list.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"pcrs 0-9"));
    for pcr in BANKS.map(|b| tpm.pcr(10, b)) {
        pcr.extend(&boot.extend_value(pcr.alg(), DigestMode::PerBank))
            .unwrap();
    }
    measure(
        &tpm,
        &mut list,
        &[
            "/usr/bin/bash",
            "/usr/lib/libc.so.6",
            "violation:/tmp/x",
            "/etc/passwd",
        ],
    );
    let nonce = b"verifier nonce 42";
    let nonce_hex = hex::encode(nonce);
    let quotes: Vec<(AkKind, Quoted)> = [AkKind::Rsa2048, AkKind::EccP256]
        .into_iter()
        .map(|k| (k, quote(&tpm, dir.path(), k, nonce)))
        .collect();
    let log = write(dir.path(), "ima.bin", list.as_bytes());

    for (kind, q) in &quotes {
        // Without --pcrs: the list's final values must be what the quote signed... but the quote
        // also covers PCR 0, which the list does not extend.
        let o = mr_verify(&log, &q.attest, &q.sig, &q.ak, &nonce_hex, &[]);
        assert_eq!(code(&o), 2, "{kind:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("--pcrs"), "{}", stderr(&o));

        let o = mr_verify(
            &log,
            &q.attest,
            &q.sig,
            &q.ak,
            &nonce_hex,
            &["--pcrs", &q.pcrs, "--json"],
        );
        assert_eq!(code(&o), 0, "{kind:?}: {}", stderr(&o));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["verified"], true);
        assert_eq!(j["ima"]["entries"], 5);
        assert_eq!(j["ima"]["covered"], 5);
        assert_eq!(j["ima"]["violations"], 1);
        assert_eq!(j["registers"].as_array().unwrap().len(), 4);
        assert!(j["provenance"]
            .as_str()
            .unwrap()
            .starts_with("TPM quote by AK 000b"));

        let o = mr(&[
            "quote", "verify", "tpm", "--attest", &q.attest, "--sig", &q.sig, "--ak", &q.ak,
            "--nonce", &nonce_hex, "--pcrs", &q.pcrs,
        ]);
        assert_eq!(code(&o), 0, "{kind:?}: {}", stderr(&o));

        // Wrong nonce, flipped signature byte, flipped PCR value, another AK's key: exit 1.
        let o = mr_verify(&log, &q.attest, &q.sig, &q.ak, "00ff", &["--pcrs", &q.pcrs]);
        assert_eq!(code(&o), 1);
        assert!(stderr(&o).contains("wrong nonce"), "{}", stderr(&o));

        let mut sig = std::fs::read(&q.sig).unwrap();
        let n = sig.len();
        sig[n - 3] ^= 0x40;
        let bad_sig = write(dir.path(), "flipped.sig", &sig);
        let o = mr_verify(
            &log,
            &q.attest,
            &bad_sig,
            &q.ak,
            &nonce_hex,
            &["--pcrs", &q.pcrs],
        );
        assert_eq!(code(&o), 1);
        assert!(stderr(&o).contains("bad signature"), "{}", stderr(&o));

        let text = std::fs::read_to_string(&q.pcrs).unwrap();
        let last = text.trim_end().chars().last().unwrap();
        let flipped = format!(
            "{}{}\n",
            &text.trim_end()[..text.trim_end().len() - 1],
            if last == '0' { '1' } else { '0' }
        );
        let bad_pcrs = write(dir.path(), "flipped.pcrs", flipped.as_bytes());
        let o = mr_verify(
            &log,
            &q.attest,
            &q.sig,
            &q.ak,
            &nonce_hex,
            &["--pcrs", &bad_pcrs, "--json"],
        );
        assert_eq!(code(&o), 1);
        assert!(stderr(&o).contains("PCR digest mismatch"), "{}", stderr(&o));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["reason"], "pcr_digest_mismatch");

        let other = &quotes.iter().find(|(k, _)| k != kind).unwrap().1;
        let o = mr_verify(
            &log,
            &q.attest,
            &q.sig,
            &other.ak,
            &nonce_hex,
            &["--pcrs", &q.pcrs],
        );
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        assert!(
            stderr(&o).contains("does not fit the attestation key"),
            "{}",
            stderr(&o)
        );

        // A tampered list entry (a file name changed) no longer replays to the quoted PCR 10.
        let mut tampered = list.as_bytes().to_vec();
        let at = tampered.windows(9).position(|w| w == b"/usr/bin/").unwrap();
        tampered[at + 5] = b'X';
        let bad_log = write(dir.path(), "tampered.bin", &tampered);
        let o = mr_verify(
            &bad_log,
            &q.attest,
            &q.sig,
            &q.ak,
            &nonce_hex,
            &["--pcrs", &q.pcrs, "--json"],
        );
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["reason"], "ima_replay");
        assert_eq!(j["bad_entry"]["entry"], 1);
        assert!(stderr(&o).contains("entry 1"), "{}", stderr(&o));
    }

    // The same key in another hierarchy is another key: bad signature (same scheme).
    let owner_ak = tpm
        .create_ak_in(AkKind::EccP256, AkHierarchy::Owner)
        .unwrap();
    let owner_pub = write(dir.path(), "owner.pub", owner_ak.public_tpm2b());
    let ecc = &quotes[1].1;
    let o = mr(&[
        "quote",
        "verify",
        "tpm",
        "--attest",
        &ecc.attest,
        "--sig",
        &ecc.sig,
        "--ak",
        &owner_pub,
        "--nonce",
        &nonce_hex,
        "--pcrs",
        &ecc.pcrs,
    ]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("bad signature"), "{}", stderr(&o));

    // The list runs ahead of the quote (an entry appended after quoting): still verified with the
    // quoted values, one entry left over.
    measure(&tpm, &mut list, &["/usr/bin/late"]);
    let ahead = write(dir.path(), "ahead.bin", list.as_bytes());
    let rsa = &quotes[0].1;
    let o = mr_verify(
        &ahead,
        &rsa.attest,
        &rsa.sig,
        &rsa.ak,
        &nonce_hex,
        &["--pcrs", &rsa.pcrs, "--json"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["ima"]["entries"], 6);
    assert_eq!(j["ima"]["left_over"], 1);
}

#[test]
fn verify_without_pcrs_uses_the_lists_final_values_when_the_quote_covers_only_pcr10() {
    let swtpm = Swtpm::start().unwrap();
    let tpm = Tpm::open(&swtpm.tcti()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut list = ImaListBuilder::binary();
    measure(&tpm, &mut list, &["/sbin/init", "/usr/bin/ls"]);
    let log = write(dir.path(), "ima.bin", list.as_bytes());
    let ak = tpm.create_ak(AkKind::EccP256).unwrap();
    let selection = PcrSelection {
        banks: vec![PcrBankSelection::new(HashAlg::Sha256, &[10])],
    };
    let q = tpm.quote(&ak, b"n", &selection).unwrap();
    let attest = write(dir.path(), "q.attest", &q.attest);
    let sig = write(dir.path(), "q.sig", &q.signature);
    let akf = write(dir.path(), "ak.pub", &q.ak_public);
    let o = mr_verify(&log, &attest, &sig, &akf, "6e", &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains("verified: the IMA list replays to the quoted PCR values"),
        "{out}"
    );
    // A list one entry longer than what was quoted is rejected without --pcrs.
    list.ima_ng(10, &HashAlg::Sha256.hash(b"x"), "/x");
    let longer = write(dir.path(), "longer.bin", list.as_bytes());
    let o = mr_verify(&longer, &attest, &sig, &akf, "6e", &[]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("PCR digest mismatch"), "{}", stderr(&o));
}

/// TPM bypass: the kernel found no TPM (all-zero boot_aggregate) and extended nothing, and
/// someone else wrote the list's values into PCR 10. The quote matches the list, with or without
/// `--pcrs`, and `mr verify` still refuses it, naming the boot_aggregate entry.
#[test]
fn no_tpm_boot_aggregate_is_refused_even_when_pcr10_matches_the_list() {
    let swtpm = Swtpm::start().expect("swtpm (scripts/install-deps.sh installs it)");
    let tpm = Tpm::open(&swtpm.tcti()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut list = ImaListBuilder::binary();
    let boot = list.boot_aggregate("ima-ng", &mr_core::Digest::zero(HashAlg::Sha256));
    for pcr in BANKS.map(|b| tpm.pcr(10, b)) {
        pcr.extend(&boot.extend_value(pcr.alg(), DigestMode::PerBank))
            .unwrap();
    }
    measure(&tpm, &mut list, &["/usr/bin/bash", "/etc/passwd"]);
    let nonce = b"bypass";
    let log = write(dir.path(), "ima.bin", list.as_bytes());
    let nonce_hex = hex::encode(nonce);
    // With --pcrs (quote over PCRs 0 and 10), and without (a quote over PCR 10 only, whose
    // values the list's replay must then reproduce).
    let q = quote(&tpm, dir.path(), AkKind::EccP256, nonce);
    let ak = tpm.create_ak(AkKind::EccP256).unwrap();
    let selection = PcrSelection {
        banks: BANKS
            .iter()
            .map(|b| PcrBankSelection::new(*b, &[10]))
            .collect(),
    };
    let only10 = tpm.quote(&ak, nonce, &selection).unwrap();
    let attest10 = write(dir.path(), "pcr10.attest", &only10.attest);
    let sig10 = write(dir.path(), "pcr10.sig", &only10.signature);
    let ak10 = write(dir.path(), "pcr10.pub", &only10.ak_public);
    for (attest, sig, ak, extra) in [
        (&q.attest, &q.sig, &q.ak, vec!["--pcrs", q.pcrs.as_str()]),
        (&attest10, &sig10, &ak10, vec![]),
    ] {
        let o = mr_verify(&log, attest, sig, ak, &nonce_hex, &extra);
        assert_eq!(code(&o), 1, "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("boot_aggregate"), "{}", stderr(&o));
        assert!(stderr(&o).contains("entry 0"), "{}", stderr(&o));
    }
}

/// Issue 14 item 1: a `boot_aggregate` on PCR 11 (not quoted) before the real PCR 10 one. The
/// quote vouches for PCR 10 only: `mr verify` reports the PCR 10 boot_aggregate alone, counts
/// only PCR 10's entries as covered and names the PCR 11 entry as not covered, with and without
/// `--pcrs`.
#[test]
fn an_entry_of_an_unquoted_pcr_is_reported_as_not_covered() {
    let swtpm = Swtpm::start().expect("swtpm (scripts/install-deps.sh installs it)");
    let tpm = Tpm::open(&swtpm.tcti()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut list = ImaListBuilder::binary();
    list.boot_aggregate_at(11, "ima-ng", &HashAlg::Sha256.hash(b"a good boot log"));
    let boot = list.boot_aggregate_at(10, "ima-ng", &HashAlg::Sha256.hash(b"this boot"));
    for pcr in BANKS.map(|b| tpm.pcr(10, b)) {
        pcr.extend(&boot.extend_value(pcr.alg(), DigestMode::PerBank))
            .unwrap();
    }
    measure(&tpm, &mut list, &["/usr/bin/bash", "/etc/passwd"]);
    let log = write(dir.path(), "ima.bin", list.as_bytes());
    let nonce = b"decoy";
    let nonce_hex = hex::encode(nonce);
    let q = quote(&tpm, dir.path(), AkKind::EccP256, nonce);
    let ak = tpm.create_ak(AkKind::EccP256).unwrap();
    let selection = PcrSelection {
        banks: BANKS
            .iter()
            .map(|b| PcrBankSelection::new(*b, &[10]))
            .collect(),
    };
    let only10 = tpm.quote(&ak, nonce, &selection).unwrap();
    let attest10 = write(dir.path(), "pcr10.attest", &only10.attest);
    let sig10 = write(dir.path(), "pcr10.sig", &only10.signature);
    let ak10 = write(dir.path(), "pcr10.pub", &only10.ak_public);
    for (attest, sig, ak, extra) in [
        (&q.attest, &q.sig, &q.ak, vec!["--pcrs", q.pcrs.as_str()]),
        (&attest10, &sig10, &ak10, vec![]),
    ] {
        let mut json = extra.clone();
        json.push("--json");
        let o = mr_verify(&log, attest, sig, ak, &nonce_hex, &json);
        assert_eq!(code(&o), 0, "{extra:?}: {}", stderr(&o));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["ima"]["entries"], 4);
        assert_eq!(j["ima"]["covered"], 3, "{extra:?}");
        assert_eq!(j["ima"]["not_covered"]["entries"], 1);
        assert_eq!(j["ima"]["not_covered"]["first"]["entry"], 0);
        assert_eq!(j["ima"]["not_covered"]["first"]["id"], "pcr11");
        let boots = j["ima"]["boot_aggregates"].as_array().unwrap();
        assert_eq!(boots.len(), 1, "{extra:?}");
        assert_eq!(boots[0]["entry"], 1);
        let o = mr_verify(&log, attest, sig, ak, &nonce_hex, &extra);
        let out = String::from_utf8(o.stdout).unwrap();
        assert!(out.contains("3 covered by"), "{out}");
        assert!(
            out.contains("NOT covered: 1 entries extend registers without a verified value (first: entry 0, pcr11)"),
            "{out}"
        );
        assert!(!out.contains("boot_aggregate at entry 0"), "{out}");
    }
}

/// Issue 14 item 5: an all-zero boot_aggregate after 64 others (past the boot aggregates a
/// report lists) still refuses the list under `mr verify` without `--pcrs`.
#[test]
fn no_tpm_boot_aggregate_after_64_others_is_refused_without_pcrs() {
    let swtpm = Swtpm::start().expect("swtpm (scripts/install-deps.sh installs it)");
    let tpm = Tpm::open(&swtpm.tcti()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut list = ImaListBuilder::binary();
    let pcrs: Vec<_> = BANKS.iter().map(|b| tpm.pcr(10, *b)).collect();
    let n = mr_core::log::ima::MAX_REPORTED_BOOT_AGGREGATES as u32;
    for i in 0..=n {
        let aggregate = if i == n {
            mr_core::Digest::zero(HashAlg::Sha256)
        } else {
            HashAlg::Sha256.hash(&i.to_le_bytes())
        };
        let e = list.boot_aggregate("ima-ng", &aggregate);
        for pcr in &pcrs {
            pcr.extend(&e.extend_value(pcr.alg(), DigestMode::PerBank))
                .unwrap();
        }
    }
    measure(&tpm, &mut list, &["/usr/bin/bash"]);
    let log = write(dir.path(), "ima.bin", list.as_bytes());
    let ak = tpm.create_ak(AkKind::EccP256).unwrap();
    let selection = PcrSelection {
        banks: BANKS
            .iter()
            .map(|b| PcrBankSelection::new(*b, &[10]))
            .collect(),
    };
    let q = tpm.quote(&ak, b"n", &selection).unwrap();
    let attest = write(dir.path(), "q.attest", &q.attest);
    let sig = write(dir.path(), "q.sig", &q.signature);
    let akf = write(dir.path(), "ak.pub", &q.ak_public);
    let o = mr_verify(&log, &attest, &sig, &akf, "6e", &[]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("entry {n}")), "{}", stderr(&o));
    assert!(stderr(&o).contains("boot_aggregate"), "{}", stderr(&o));
}
