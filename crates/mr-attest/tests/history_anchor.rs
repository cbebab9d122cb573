//! A TPM quote as the anchor of an IMA list history (`TpmQuoteEvidence::anchor`) and a shard
//! manifest on disk (`verify_manifest_file`), on software-signed quotes over lists built here:
//! the anchor carries the verified PCR values and the quote's counters; a wrong nonce, an edited
//! PCR value, a file naming a non-PCR, a missing PCR file, an edited shard and a TD quote anchor
//! are each refused with their class and a message naming the file. Results in brief
//! (`AttestationResult::summary_*`) name the verdict and the rejected entry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use mr_attest::shards::{pcr_values, register_values};
use mr_attest::{verify_manifest_file, AnchorError, FileError, TpmQuoteEvidence};
use mr_core::log::ima::builder::ImaListBuilder;
use mr_core::log::ima::{self, ImaOptions, ImaReplayConfig, RootIdentity};
use mr_core::{ComputeOnly, ErrorClass, HashAlg, MrId, RegisterValue};
use mr_testkit::tpm::{
    ecc_key, ecc_tpmt_public, ecdsa_signature, quote_attest, RESTRICTED_SIGNING, TPM_ALG_ECDSA,
    TPM_ALG_SHA256,
};

const NONCE: [u8; 4] = [0xc0, 0xff, 0xee, 0x01];

/// A list of `n` files measured into PCR 10 (SHA-256 template digests).
fn list(n: usize) -> Vec<u8> {
    let mut b = ImaListBuilder::binary();
    b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"pcrs 0-9"));
    for i in 0..n {
        let path = format!("/usr/bin/tool{i}");
        b.ima_ng(10, &HashAlg::Sha256.hash(path.as_bytes()), &path);
    }
    b.finish()
}

/// PCR 10 (SHA-256) after `list`.
fn pcr10(list: &[u8]) -> Vec<RegisterValue> {
    let cfg = ImaReplayConfig::default().with_banks([HashAlg::Sha256]);
    ima::verify(
        ima::ImaInput::from_bytes(list),
        &ComputeOnly,
        &ImaOptions::default().with_replay(cfg),
    )
    .unwrap()
    .outcome
    .registers
}

/// A software-signed quote over `pcrs` with `NONCE`: (attest, signature, AK).
fn quote(pcrs: &[RegisterValue]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let attest = quote_attest(&NONCE, pcrs).marshal();
    let key = ecc_key(9);
    let sig = ecdsa_signature(&key, &attest, HashAlg::Sha256);
    let ak = ecc_tpmt_public(&key, RESTRICTED_SIGNING, TPM_ALG_ECDSA, TPM_ALG_SHA256);
    (attest, sig, ak)
}

fn evidence(pcrs: &[RegisterValue]) -> TpmQuoteEvidence {
    let (attest, sig, ak) = quote(pcrs);
    TpmQuoteEvidence::new(attest, sig, ak)
        .with_nonce(NONCE.to_vec())
        .with_pcrs(pcrs.to_vec())
}

fn lines(values: &[RegisterValue]) -> String {
    values.iter().map(|v| format!("{v}\n")).collect()
}

#[test]
fn a_verified_quote_anchors_its_pcr_values_with_its_counters() {
    let pcrs = pcr10(&list(5));
    let anchor = evidence(&pcrs).anchor().unwrap();
    assert_eq!(
        anchor.values().get(&MrId::Pcr(10), HashAlg::Sha256),
        Some(&pcrs[0].value)
    );
    match anchor.root() {
        RootIdentity::Tpm {
            reset_count,
            restart_count,
            ..
        } => assert_eq!((*reset_count, *restart_count), (3, 0)),
        other => panic!("a TPM root, not {other:?}"),
    }
    // The anchor verifies the list it was quoted over, from boot.
    let v = ima::resume(
        ima::ImaInput::from_bytes(&list(5)),
        ima::ResumeFrom::Boot,
        &anchor,
        &ImaOptions::default(),
    )
    .unwrap();
    assert_eq!(v.into_report().report.entries, 6);
}

#[test]
fn a_quote_that_does_not_verify_is_no_anchor() {
    let pcrs = pcr10(&list(5));
    // Another nonce: rejected.
    let e = evidence(&pcrs).with_nonce(vec![1, 2]).anchor().unwrap_err();
    assert!(
        matches!(e, AnchorError::Quote(mr_tpm::Error::WrongNonce { .. })),
        "{e}"
    );
    assert_eq!(e.class(), ErrorClass::Rejected);
    // PCR values that do not hash to the quote's pcrDigest: rejected.
    let other = pcr10(&list(6));
    let e = evidence(&pcrs).with_pcrs(other).anchor().unwrap_err();
    assert!(
        matches!(
            e,
            AnchorError::Quote(mr_tpm::Error::PcrDigestMismatch { .. })
        ),
        "{e}"
    );
    assert_eq!(e.class(), ErrorClass::Rejected);
    // No PCR values, or an AK in no known format: malformed.
    let (attest, sig, ak) = quote(&pcrs);
    let e = TpmQuoteEvidence::new(attest.clone(), sig.clone(), ak)
        .with_nonce(NONCE.to_vec())
        .anchor()
        .unwrap_err();
    assert!(matches!(e, AnchorError::NoPcrValues), "{e}");
    let e = TpmQuoteEvidence::new(attest, sig, b"not a key".to_vec())
        .with_pcrs(pcrs)
        .anchor()
        .unwrap_err();
    assert!(matches!(e, AnchorError::Ak(_)), "{e}");
    assert_eq!(e.class(), ErrorClass::Malformed);
}

#[test]
fn pcr_files_hold_pcrs_only_and_name_their_bad_line() {
    let path = Path::new("q.pcrs");
    let pcrs = pcr10(&list(1));
    let text = format!("# quoted\n{}", lines(&pcrs));
    assert_eq!(pcr_values(text.as_bytes(), path).unwrap(), pcrs);
    let rtmr = format!("rtmr3:sha384:{}\n", "00".repeat(48));
    let e = pcr_values(rtmr.as_bytes(), path).unwrap_err();
    assert_eq!(e.to_string(), "q.pcrs: rtmr3 is not a PCR");
    assert!(register_values(rtmr.as_bytes(), path).is_ok());
    let e = pcr_values(b"10:sha256:00\n", path).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("q.pcrs line 1: invalid register value"),
        "{e}"
    );
    let e = pcr_values(&[0xff, 0xfe], path).unwrap_err();
    assert_eq!(e.to_string(), "q.pcrs is not UTF-8");
}

/// A manifest of two shards cut at two quotes, its files in `dir`.
fn write_manifest(dir: &Path, full: &[u8], cut: usize) -> std::path::PathBuf {
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    let quote_files = |k: usize, upto: &[u8]| {
        let (attest, sig, ak) = quote(&pcr10(upto));
        write(&format!("q{k}.attest"), &attest);
        write(&format!("q{k}.sig"), &sig);
        write(&format!("q{k}.ak"), &ak);
        write(&format!("q{k}.pcrs"), lines(&pcr10(upto)).as_bytes());
        serde_json::json!({"kind": "tpm_quote", "attest": format!("q{k}.attest"),
            "sig": format!("q{k}.sig"), "ak": format!("q{k}.ak"),
            "nonce": hex::encode(NONCE), "pcrs": format!("q{k}.pcrs")})
    };
    write("shard0.bin", &full[..cut]);
    write("shard1.bin", &full[cut..]);
    let q0 = quote_files(0, &full[..cut]);
    let q1 = quote_files(1, full);
    let manifest = serde_json::json!({"version": 1, "shards": [
        {"list": "shard0.bin", "begin": {"kind": "boot"}, "end": q0},
        {"list": "shard1.bin", "begin": q0, "end": q1},
    ]});
    let path = dir.join("manifest.json");
    write("manifest.json", manifest.to_string().as_bytes());
    path
}

#[test]
fn a_manifest_on_disk_verifies_and_its_files_are_named_when_they_fail() {
    let dir = tempfile::tempdir().unwrap();
    let short = list(4);
    let full = list(9);
    assert!(full.starts_with(&short));
    let manifest = write_manifest(dir.path(), &full, short.len());
    let options = ImaOptions::default();
    let report = verify_manifest_file(&manifest, &options, None)
        .unwrap()
        .into_report();
    assert_eq!(report.shards.len(), 2);
    assert_eq!(report.entries(), 10);

    // A shard edited after its quote: rejected.
    let mut bad = full[short.len()..].to_vec();
    let at = bad.windows(9).position(|w| w == b"/usr/bin/").unwrap();
    bad[at + 1] = b'v';
    std::fs::write(dir.path().join("shard1.bin"), &bad).unwrap();
    let e = verify_manifest_file(&manifest, &options, None).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Rejected, "{e}");
    std::fs::write(dir.path().join("shard1.bin"), &full[short.len()..]).unwrap();

    // A quote's PCR file missing: malformed, the quote and the file named.
    std::fs::remove_file(dir.path().join("q1.pcrs")).unwrap();
    let e = verify_manifest_file(&manifest, &options, None).unwrap_err();
    assert!(matches!(e, FileError::Quote { .. }), "{e}");
    assert_eq!(e.class(), ErrorClass::Malformed);
    let text = e.to_string();
    assert!(text.starts_with("quote q1.attest: cannot open "), "{text}");
    assert!(text.contains("q1.pcrs"), "{text}");

    // A TD quote anchor is not supported yet: said so, never accepted.
    let td = serde_json::json!({"version": 1, "shards": [
        {"list": "shard0.bin", "begin": {"kind": "boot"},
         "end": {"kind": "td_quote", "quote": "td.quote"}},
    ]});
    let td_manifest = dir.path().join("td.json");
    std::fs::write(&td_manifest, td.to_string()).unwrap();
    let e = verify_manifest_file(&td_manifest, &options, None).unwrap_err();
    assert!(matches!(e, FileError::TdQuoteAnchor { .. }), "{e}");
}

/// The brief form of results (`mr demo`'s table): a verified list and the same list with one
/// byte of a file path edited.
#[test]
fn results_in_brief_say_verified_or_the_rejected_entry() {
    use mr_attest::{verify, Evidence, ImaList};
    let l = list(5);
    let pcrs = pcr10(&l);
    let ok =
        verify(Evidence::tpm(evidence(&pcrs)).with_ima(ImaList::from_bytes(l.clone()))).unwrap();
    assert!(ok.verified, "{:?}", ok.failure);
    assert_eq!(ok.summary_verdict(), "VERIFIED (6 entries, 0 left over)");
    assert_eq!(ok.summary_message(), "accepted");
    let hex = pcrs[0].value.to_hex();
    assert_eq!(
        ok.summary_value(HashAlg::Sha256),
        format!("pcr10 {}…", &hex[..16])
    );
    assert_eq!(ok.summary_value(HashAlg::Sha384), "");
    let j = ok.summary_json();
    assert_eq!(
        (j["verified"].as_bool(), j["root"].as_str()),
        (Some(true), Some("tpm"))
    );
    assert_eq!(
        (j["ima_entries"].as_u64(), j["covered"].as_u64()),
        (Some(6), Some(6))
    );
    assert_eq!(j["registers"][0]["value"], hex);

    let mut bad = l.clone();
    let at = bad
        .windows(13)
        .rposition(|w| w == b"/usr/bin/tool")
        .unwrap();
    bad[at + 1] = b'v';
    let no = verify(Evidence::tpm(evidence(&pcrs)).with_ima(ImaList::from_bytes(bad))).unwrap();
    assert!(!no.verified);
    let f = no.failure.as_ref().unwrap();
    let entry = f.details.as_ref().unwrap()["bad_entry"]["entry"].clone();
    assert!(entry.as_u64().is_some(), "{f:?}");
    assert_eq!(no.summary_verdict(), format!("REJECTED (entry {entry})"));
    assert_eq!(no.summary_value(HashAlg::Sha256), "");
    let j = no.summary_json();
    assert_eq!(j["verified"], false);
    assert_eq!(j["bad_entry"]["entry"], entry);
    assert_eq!(j["message"].as_str(), Some(no.summary_message()));
}

/// The rules of a history replay that used to be the CLI's: a checkpoint file that does not
/// open is named by its path (class kept), and a boot log binds the list's first
/// `boot_aggregate` only in a replay from boot, never in one resumed after a checkpoint.
#[test]
fn checkpoint_files_and_boot_logs_of_a_history_replay() {
    use mr_attest::shards::{check_resumed_boot_aggregate, open_checkpoint, save_checkpoint};
    use mr_attest::BootAggregateCheck;
    use mr_core::log::ima::{resume, Anchor, CheckpointKey, ResumeFrom};
    use mr_core::ExpectedRegisters;

    // No boot_aggregate: a check from boot reports why nothing binds the list (the boot log
    // is not even parsed).
    let files = |n: usize| {
        let mut b = ImaListBuilder::binary();
        for i in 0..n {
            let path = format!("/usr/bin/tool{i}");
            b.ima_ng(10, &HashAlg::Sha256.hash(path.as_bytes()), &path);
        }
        b.finish()
    };
    let (first, whole) = (files(3), files(5));
    let asserted = |l: &[u8]| Anchor::asserted(ExpectedRegisters::from_values(pcr10(l)).unwrap());
    let options =
        ImaOptions::default().with_replay(ImaReplayConfig::default().with_banks([HashAlg::Sha256]));
    let from_boot = resume(
        ima::ImaInput::from_bytes(&first),
        ResumeFrom::Boot,
        &asserted(&first),
        &options,
    )
    .unwrap()
    .into_report();
    assert_eq!(from_boot.first_entry, 0);
    assert!(matches!(
        check_resumed_boot_aggregate(b"", &from_boot),
        Ok(BootAggregateCheck::Unbound { .. })
    ));

    // Saved (sealed, whole or not at all), read back and opened with the key.
    let key = CheckpointKey::from_bytes(&[7; 32]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("cp.json");
    save_checkpoint(&from_boot.checkpoint, &saved, &key).unwrap();
    let sealed = String::from_utf8(std::fs::read(&saved).unwrap()).unwrap();
    assert_eq!(sealed, from_boot.checkpoint.seal(&key));
    assert!(!dir.path().join("cp.tmp").exists());
    let nowhere = dir.path().join("missing").join("cp.json");
    let e = save_checkpoint(&from_boot.checkpoint, &nowhere, &key).unwrap_err();
    assert!(matches!(e, FileError::Write { .. }), "{e}");
    assert!(e
        .to_string()
        .starts_with(&format!("cannot write {}: ", nowhere.display())));
    let path = Path::new("/var/lib/mr/cp.json");
    let cp = open_checkpoint(sealed.as_bytes(), path, &key).unwrap();
    assert_eq!(cp, from_boot.checkpoint);
    let resumed = resume(
        ima::ImaInput::from_bytes(&whole),
        ResumeFrom::Full(&cp),
        &asserted(&whole),
        &options,
    )
    .unwrap()
    .into_report();
    assert_eq!(resumed.first_entry, 3);
    let e = check_resumed_boot_aggregate(b"", &resumed).unwrap_err();
    assert!(
        matches!(e, FileError::BootLogAfterCheckpoint { first_entry: 3 }),
        "{e}"
    );
    assert_eq!(e.class(), ErrorClass::Malformed);
    assert_eq!(
        e.to_string(),
        "the boot log checks the first boot_aggregate: use it when the checkpoint is made"
    );

    // Another key: refused, named by the file, with mr-core's class and words.
    let other = CheckpointKey::from_bytes(&[8; 32]).unwrap();
    let e = open_checkpoint(sealed.as_bytes(), path, &other).unwrap_err();
    let core = mr_core::log::ima::Checkpoint::open(sealed.as_bytes(), &other).unwrap_err();
    assert!(matches!(e, FileError::Checkpoint { .. }), "{e}");
    assert_eq!(e.to_string(), format!("/var/lib/mr/cp.json: {core}"));
    let class = match core.class() {
        ErrorClass::Rejected => ErrorClass::Rejected,
        _ => ErrorClass::Malformed,
    };
    assert_eq!(e.class(), class);
}
