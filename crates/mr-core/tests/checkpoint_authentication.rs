//! What authenticates a checkpoint file and the key that seals it: the size bound of a sealed
//! file (checked before anything is parsed), the report form of a checkpoint (never a file that
//! opens), the fields still checked under a valid MAC (the register bound, each register and bank
//! once, entries only with bytes), and how a key file is created: a path that cannot be created is an error naming the
//! creation, and a path that appears while it is created (here a dangling symlink, which
//! `exists()` does not see and an exclusive create refuses) is read, never replaced.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::log::ima::builder::ImaListBuilder;
use mr_core::log::ima::checkpoint::{resume, MAX_CHECKPOINT_LEN, MAX_CHECKPOINT_REGISTERS};
use mr_core::log::ima::{
    Anchor, Checkpoint, CheckpointKey, DigestMode, HistoryError, ImaInput, ImaOptions, ResumeFrom,
};
use mr_core::{Digest, Error, ExpectedRegisters, HashAlg, MrId};

/// The verifier's key in these tests.
fn key() -> CheckpointKey {
    CheckpointKey::from_bytes(&[9u8; 32]).unwrap()
}

fn history(e: Error) -> HistoryError {
    match e {
        Error::History(h) => *h,
        e => panic!("expected a history error, got {e}"),
    }
}

/// The checkpoint after a three-entry list whose PCR 10 values are asserted.
fn checkpoint() -> Checkpoint {
    let mut b = ImaListBuilder::binary();
    let mut pcr10 = [Digest::zero(HashAlg::Sha1), Digest::zero(HashAlg::Sha256)];
    for i in 0..3u8 {
        let e = b.ima_ng(10, &HashAlg::Sha256.hash(&[i]), &format!("/usr/bin/f{i}"));
        for v in &mut pcr10 {
            *v = v.extended(e.extend_value(v.alg(), DigestMode::PerBank).as_bytes());
        }
    }
    let mut values = ExpectedRegisters::new();
    for v in pcr10 {
        values.insert(MrId::Pcr(10), v).unwrap();
    }
    resume(
        ImaInput::from_vec(b.finish()),
        ResumeFrom::Boot,
        &Anchor::asserted(values),
        &ImaOptions::default(),
    )
    .unwrap()
    .into_report()
    .checkpoint
}

/// A sealed file of exactly `MAX_CHECKPOINT_LEN` bytes (a genuine one padded with the
/// whitespace JSON allows) opens; one byte more is refused before it is parsed.
#[test]
fn a_sealed_checkpoint_file_may_be_max_checkpoint_len_bytes_and_no_more() {
    let cp = checkpoint();
    let mut file = cp.seal(&key()).into_bytes();
    assert!(file.len() < MAX_CHECKPOINT_LEN);
    file.resize(MAX_CHECKPOINT_LEN, b' ');
    assert_eq!(Checkpoint::open(&file, &key()).unwrap(), cp);
    file.push(b' ');
    match history(Checkpoint::open(&file, &key()).unwrap_err()) {
        HistoryError::InvalidCheckpoint(m) => assert!(
            m.contains(&format!("larger than {MAX_CHECKPOINT_LEN}")),
            "{m}"
        ),
        other => panic!("expected InvalidCheckpoint, got {other:?}"),
    }
}

/// The report form of a checkpoint carries its fields (the entries it covers, the version, the
/// registers) but is not a file that opens.
#[test]
fn the_report_form_of_a_checkpoint_shows_its_fields_and_does_not_open() {
    let cp = checkpoint();
    let json: serde_json::Value = serde_json::from_str(&cp.to_json()).unwrap();
    assert_eq!(json["version"], 2);
    assert_eq!(json["entries"], cp.entries());
    assert_eq!(json["offset"], cp.offset());
    assert_eq!(json["prefix_digest"], cp.prefix_digest().to_hex());
    assert_eq!(
        json["registers"].as_array().map(Vec::len),
        Some(cp.registers().len())
    );
    assert!(Checkpoint::open(cp.to_json().as_bytes(), &key()).is_err());
}

/// A key file that cannot be created (its directory is missing) is an error that says so; a
/// path that exists as a dangling symlink when the key is created is not replaced: the exclusive
/// create refuses it and the key is read from it (and cannot be).
#[test]
fn a_key_file_is_created_exclusively_or_read_never_replaced() {
    let dir = std::env::temp_dir().join(format!("mr-ckpt-auth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let invalid_key = |e: Error| match history(e) {
        HistoryError::InvalidCheckpointKey(m) => m,
        other => panic!("expected InvalidCheckpointKey, got {other:?}"),
    };

    let missing_dir = dir.join("absent").join("cp.key");
    let m = invalid_key(CheckpointKey::create_or_read_file(&missing_dir).unwrap_err());
    assert!(m.contains("cannot create"), "{m}");
    assert!(!missing_dir.exists());

    #[cfg(unix)]
    {
        let link = dir.join("cp.key");
        let target = dir.join("elsewhere.key");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let m = invalid_key(CheckpointKey::create_or_read_file(&link).unwrap_err());
        assert!(!m.contains("cannot create"), "{m}");
        assert!(
            m.contains("a key is created when the first checkpoint is saved"),
            "{m}"
        );
        // Nothing was written through the link.
        assert!(!target.exists());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `body` sealed as the format says (HMAC-SHA-256 over the label and the body's bytes) under
/// this test's key: what only the key holder can make.
fn sealed(body: &serde_json::Value) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let body = body.to_string();
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key().as_bytes()).unwrap();
    mac.update(mr_core::log::ima::checkpoint::CHECKPOINT_MAC_LABEL);
    mac.update(body.as_bytes());
    let tag = hex::encode(mac.finalize().into_bytes());
    format!("{{\"checkpoint\":{body},\"hmac_sha256\":\"{tag}\"}}").into_bytes()
}

/// The body of a genuine checkpoint, as JSON to edit.
fn genuine_body() -> serde_json::Value {
    let file = checkpoint().seal(&key());
    let v: serde_json::Value = serde_json::from_str(&file).unwrap();
    v["checkpoint"].clone()
}

/// The message of the `InvalidCheckpoint` error that opening `body` sealed gives.
fn refused(body: &serde_json::Value) -> String {
    match history(Checkpoint::open(&sealed(body), &key()).unwrap_err()) {
        HistoryError::InvalidCheckpoint(m) => m,
        other => panic!("expected InvalidCheckpoint, got {other:?}"),
    }
}

/// Even under a valid MAC, a checkpoint holds at most `MAX_CHECKPOINT_REGISTERS` register values.
#[test]
fn a_sealed_checkpoint_holds_at_most_max_checkpoint_registers_values() {
    let mut body = genuine_body();
    let value = |pcr: usize| format!("pcr{pcr}:sha256:{}", "ab".repeat(32));
    body["registers"] = (0..MAX_CHECKPOINT_REGISTERS).map(value).collect();
    let cp = Checkpoint::open(&sealed(&body), &key()).unwrap();
    assert_eq!(cp.registers().len(), MAX_CHECKPOINT_REGISTERS);
    body["registers"] = (0..=MAX_CHECKPOINT_REGISTERS).map(value).collect();
    assert!(refused(&body).contains("too many register values"));
}

/// Even under a valid MAC, a register and bank may appear once; the same register in two banks
/// and two registers in one bank are distinct values.
#[test]
fn a_sealed_checkpoint_names_each_register_and_bank_once() {
    let mut body = genuine_body();
    let (a, b) = ("aa".repeat(32), "bb".repeat(32));
    body["registers"] = serde_json::json!([
        format!("pcr10:sha256:{a}"),
        format!("pcr10:sha1:{}", "cc".repeat(20)),
        format!("pcr11:sha256:{b}"),
    ]);
    let cp = Checkpoint::open(&sealed(&body), &key()).unwrap();
    assert_eq!(cp.registers().len(), 3);
    body["registers"] = serde_json::json!([
        format!("pcr10:sha256:{a}"),
        format!("pcr11:sha256:{b}"),
        format!("pcr10:sha256:{b}"),
    ]);
    assert!(refused(&body).contains("pcr10 sha256 given twice"));
}

/// Even under a valid MAC, a checkpoint that verified entries covers bytes of the list; one of
/// no entries (an empty list) covers none.
#[test]
fn a_sealed_checkpoint_with_entries_covers_bytes() {
    let mut body = genuine_body();
    body["offset"] = 0.into();
    assert!(refused(&body).contains("entries verified but no bytes"));
    body["entries"] = 0.into();
    let cp = Checkpoint::open(&sealed(&body), &key()).unwrap();
    assert_eq!((cp.entries(), cp.offset()), (0, 0));
}
