//! Windows boot logs.
//!
//! * `go-attestation/windows_gcp_shielded_vm.json`: the real SHA-1 log of a Windows Shielded VM
//!   on GCE and the PCR values its TPM quoted, both stored in that file by go-attestation.
//! * `windows-agile/windows_gcp_agile.bin`: the same records in a crypto-agile log of the shape
//!   Windows writes (SHA-1 + SHA-256 declared, the boot manager's records in PCRs 11-14 carry
//!   SHA-256 only), made by `windows-agile/make_windows_agile.py`, whose own replay gives the
//!   expected values (`windows_gcp_agile.expected.json`) and checks its SHA-1 values against the
//!   PCRs stored in the go-attestation file. No crypto-agile Windows log under a licence that
//!   allows copying it was found; see `tests/data/PROVENANCE.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use mr_core::log::tcg::{self, DigestCount, EventType, LogFormat, ParseOptions, TcgReplayConfig};
use mr_core::{ComputeOnly, Digest, Error, ExpectedRegisters, HashAlg, MrId, RegisterValue};

fn data(rel: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json(rel: &str) -> serde_json::Value {
    serde_json::from_slice(&data(rel)).unwrap()
}

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// The go-attestation Windows log and the SHA-1 PCR values stored with it.
fn go_attestation_windows() -> (Vec<u8>, Vec<RegisterValue>) {
    let j = json("go-attestation/windows_gcp_shielded_vm.json");
    let raw = b64(j["Log"]["Raw"].as_str().unwrap());
    let pcrs = j["Log"]["PCRs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            // DigestAlg is a Go crypto.Hash: 3 = SHA-1.
            assert_eq!(p["DigestAlg"], 3);
            RegisterValue {
                id: MrId::Pcr(p["Index"].as_u64().unwrap() as u32),
                value: Digest::new(HashAlg::Sha1, &b64(p["Digest"].as_str().unwrap())).unwrap(),
            }
        })
        .collect();
    (raw, pcrs)
}

fn expected(values: impl IntoIterator<Item = RegisterValue>) -> ExpectedRegisters {
    ExpectedRegisters::from_values(values).unwrap()
}

/// The Windows-shaped crypto-agile log, its SHA-256 values and the SHA-1 values of the PCRs
/// whose records all carry SHA-1 (from the script's replay).
fn windows_agile() -> (Vec<u8>, serde_json::Value) {
    (
        data("windows-agile/windows_gcp_agile.bin"),
        json("windows-agile/windows_gcp_agile.expected.json"),
    )
}

fn script_values(j: &serde_json::Value, bank: &str) -> Vec<RegisterValue> {
    let alg = HashAlg::from_name(bank).unwrap();
    j["pcrs"][bank]
        .as_object()
        .unwrap()
        .iter()
        .map(|(n, hex)| RegisterValue {
            id: MrId::Pcr(n.parse().unwrap()),
            value: Digest::from_hex(alg, hex.as_str().unwrap()).unwrap(),
        })
        .collect()
}

#[test]
fn windows_gcp_sha1_log_replays_to_all_24_pcrs_stored_with_it() {
    let (log, pcrs) = go_attestation_windows();
    assert_eq!(pcrs.len(), 24);
    let report = tcg::replay(&log, &TcgReplayConfig::pc_client(), &expected(pcrs)).unwrap();
    assert_eq!(report.format, LogFormat::Sha1);
    assert_eq!(report.outcome.entries, 21);
    assert!(report.incomplete.is_empty());
}

#[test]
fn windows_agile_log_replays_each_bank_from_the_records_that_carry_it() {
    let (log, j) = windows_agile();
    // Computed only: every PCR and bank the log extends, and the pairs it covers only partly.
    let report = tcg::replay(&log, &TcgReplayConfig::pc_client(), &ComputeOnly).unwrap();
    assert_eq!(report.format, LogFormat::CryptoAgile);
    assert_eq!(report.banks, vec![HashAlg::Sha1, HashAlg::Sha256]);
    assert_eq!(report.outcome.entries, j["records"].as_u64().unwrap());
    let incomplete: Vec<(MrId, HashAlg, u64, u64, u64)> = report
        .incomplete
        .iter()
        .map(|p| {
            (
                p.register.clone(),
                p.alg,
                p.records,
                p.missing,
                p.first_record,
            )
        })
        .collect();
    let stated: Vec<(MrId, HashAlg, u64, u64, u64)> = j["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                MrId::Pcr(p["pcr"].as_u64().unwrap() as u32),
                HashAlg::from_name(p["bank"].as_str().unwrap()).unwrap(),
                p["records"].as_u64().unwrap(),
                p["missing"].as_u64().unwrap(),
                p["first_record"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(incomplete, stated);
    assert_eq!(incomplete.len(), 4);
    // The boot manager's first records: EV_COMPACT_HASH in PCR 11, EV_EVENT_TAG (SIPA events)
    // in PCRs 12-14.
    let first_types: Vec<EventType> = report.incomplete.iter().map(|p| p.first_type).collect();
    assert_eq!(
        first_types,
        vec![
            EventType::EV_COMPACT_HASH,
            EventType::EV_EVENT_TAG,
            EventType::EV_EVENT_TAG,
            EventType::EV_EVENT_TAG
        ]
    );
    assert!(report.is_complete(&MrId::Pcr(7), HashAlg::Sha1));
    assert!(report.is_complete(&MrId::Pcr(12), HashAlg::Sha256));
    assert!(!report.is_complete(&MrId::Pcr(12), HashAlg::Sha1));
    assert!(!report.is_complete(&MrId::Pcr(7), HashAlg::Sha384));

    // Against the script's SHA-256 values (every PCR) and, for the complete SHA-1 pairs, the
    // PCR values the machine's TPM quoted (go-attestation file).
    let (_, quoted_sha1) = go_attestation_windows();
    let mut complete_sha1: Vec<RegisterValue> = quoted_sha1
        .into_iter()
        .filter(|v| matches!(v.id, MrId::Pcr(0 | 4 | 5 | 7)))
        .collect();
    complete_sha1.sort_by_key(|v| v.id.clone());
    assert_eq!(
        complete_sha1,
        {
            let mut s = script_values(&j, "sha1");
            s.sort_by_key(|v| v.id.clone());
            s
        },
        "the script's SHA-1 replay must give the quoted values"
    );
    let mut values = script_values(&j, "sha256");
    assert_eq!(values.len(), 8);
    values.extend(complete_sha1);
    let checked = tcg::replay(&log, &TcgReplayConfig::pc_client(), &expected(values)).unwrap();
    assert_eq!(checked.report().outcome.covered, Some(22));
}

#[test]
fn windows_agile_log_is_refused_by_the_parser_that_requires_every_bank() {
    let (log, _) = windows_agile();
    let Err(Error::Parse(p)) = tcg::parse(&log, &ParseOptions::default()) else {
        panic!(
            "digestCount 1 under a 2-algorithm Spec ID event must be refused by the kernel's rule"
        );
    };
    assert_eq!(p.entry, Some(11));
    assert!(tcg::parse(
        &log,
        &ParseOptions::default().with_digest_count(DigestCount::SubsetOfSpecId)
    )
    .is_ok());
}

#[test]
fn windows_agile_log_with_a_changed_sha256_digest_is_rejected() {
    let (log, j) = windows_agile();
    let values = expected(script_values(&j, "sha256"));
    let parsed = tcg::parse(&log, &TcgReplayConfig::pc_client().parse).unwrap();
    // Record 12: the first PCR 12 record, SHA-256 only (digest after pcrIndex, eventType,
    // digestCount and the algorithm id).
    let e = &parsed.events[12];
    assert_eq!((e.index, e.digests.len()), (12, 1));
    let at = e.offset as usize + 12 + 2;
    let mut bad = log.clone();
    bad[at] ^= 0x80;
    let err = tcg::replay(&bad, &TcgReplayConfig::pc_client(), &values).unwrap_err();
    let Error::Replay(r) = err else {
        panic!("expected a replay mismatch, got {err}")
    };
    assert_eq!(r.mismatches.len(), 1);
    assert_eq!(
        (r.mismatches[0].register.clone(), r.mismatches[0].alg),
        (MrId::Pcr(12), HashAlg::Sha256)
    );
}

#[test]
fn a_quoted_bank_the_windows_log_covers_only_partly_is_not_verifiable() {
    let (log, j) = windows_agile();
    let (_, quoted_sha1) = go_attestation_windows();
    // The TPM's SHA-1 PCR 12 (the real quoted value) beside values that verify.
    let pcr12 = quoted_sha1
        .iter()
        .find(|v| v.id == MrId::Pcr(12))
        .unwrap()
        .clone();
    let mut values = script_values(&j, "sha256");
    values.push(pcr12);
    let err = tcg::replay(&log, &TcgReplayConfig::pc_client(), &expected(values)).unwrap_err();
    assert_eq!(err.class(), mr_core::ErrorClass::Rejected);
    let Error::NotVerifiable(nv) = &err else {
        panic!("expected not verifiable, got {err}")
    };
    assert_eq!(nv.pairs.len(), 1);
    let p = &nv.pairs[0];
    assert_eq!((p.register.clone(), p.alg), (MrId::Pcr(12), HashAlg::Sha1));
    assert_eq!((p.records, p.missing, p.first_record), (3, 3, 12));
    let text = err.to_string();
    assert!(text.starts_with("not verifiable"), "{text}");
    assert!(text.contains("pcr12 sha1: 3 of the 3 records"), "{text}");
    assert!(text.contains("record 12"), "{text}");

    // Every SHA-1 value of the quote: the four partly covered pairs are named.
    let err = tcg::replay(&log, &TcgReplayConfig::pc_client(), &expected(quoted_sha1)).unwrap_err();
    let Error::NotVerifiable(nv) = err else {
        panic!("expected not verifiable, got {err}")
    };
    let named: Vec<MrId> = nv.pairs.iter().map(|p| p.register.clone()).collect();
    assert_eq!(
        named,
        vec![MrId::Pcr(11), MrId::Pcr(12), MrId::Pcr(13), MrId::Pcr(14)]
    );
}

/// A boot_aggregate over PCRs the log covers only partly in the list's bank is *not
/// verifiable*, not a mismatch: the first PCR 0 record loses its SHA-1 digest, so neither rule
/// can compute a SHA-1 aggregate, while the SHA-256 aggregate still verifies.
#[test]
fn a_boot_aggregate_over_a_pcr_the_log_covers_only_partly_is_not_verifiable() {
    let (log, _) = windows_agile();
    let cfg = TcgReplayConfig::pc_client();
    let parsed = tcg::parse(&log, &cfg.parse).unwrap();
    let e = parsed
        .events
        .iter()
        .find(|e| e.index == 0 && e.digests.len() == 2)
        .unwrap();
    // pcrIndex, eventType, digestCount, then (algId, digest) pairs: drop the SHA-1 pair.
    let at = e.offset as usize + 12;
    let mut pairs = vec![];
    let mut pos = at;
    for d in &e.digests {
        pairs.push((pos, d.alg()));
        pos += 2 + d.alg().size();
    }
    let (sha1_at, _) = *pairs.iter().find(|(_, a)| *a == HashAlg::Sha1).unwrap();
    let mut cut = log[..sha1_at].to_vec();
    cut.extend_from_slice(&log[sha1_at + 2 + 20..]);
    let count = e.offset as usize + 8;
    cut[count..count + 4].copy_from_slice(&1u32.to_le_bytes());

    let report = tcg::replay(&cut, &cfg, &ComputeOnly).unwrap();
    assert!(!report.is_complete(&MrId::Pcr(0), HashAlg::Sha1));
    let recorded = Digest::new(HashAlg::Sha1, &[0x11; 20]).unwrap();
    let err = tcg::verify_boot_aggregate(&cut, &cfg, &recorded).unwrap_err();
    let Error::NotVerifiable(n) = err else {
        panic!("expected not verifiable, got {err}")
    };
    assert_eq!(
        (n.pairs[0].register.clone(), n.pairs[0].alg),
        (MrId::Pcr(0), HashAlg::Sha1)
    );
    // The SHA-256 bank is complete in PCRs 0-9: its aggregate is computed and verifies.
    let sha256 = tcg::boot_aggregate(&report.outcome.registers, HashAlg::Sha256);
    let m = tcg::verify_boot_aggregate(&cut, &cfg, &sha256).unwrap();
    assert_eq!(m.digest, sha256);
}

/// `cel::convert` reads the Windows-shaped log as the verifier's replay does (records with a
/// subset of the Spec ID banks), each CEL record carries exactly the digests its event had, and
/// the CEL replays to the script's SHA-256 values; a bank some extending record lacks cannot be
/// asked for.
#[test]
fn windows_agile_log_converts_to_cel_with_the_digests_each_event_had() {
    use mr_core::log::cel::{self, CelReplayConfig, Encoding, Source};
    let (log, j) = windows_agile();
    let mut records = Vec::new();
    let source = cel::convert(&log[..], None, &[], 1 << 24, |r| {
        records.push(r);
        Ok(())
    })
    .unwrap();
    assert_eq!(source, Source::Tcg);
    assert_eq!(records.len() as u64, j["records"].as_u64().unwrap());
    let parsed = tcg::parse(&log, &TcgReplayConfig::pc_client().parse).unwrap();
    assert_eq!(records.len(), parsed.events.len());
    for (r, e) in records.iter().zip(&parsed.events) {
        assert_eq!(r.recnum, e.record);
        assert_eq!(r.digests, e.digests, "record {}", e.record);
    }
    // The boot manager's records in PCRs 11-14 carry SHA-256 only.
    let sha256_only = records
        .iter()
        .filter(|r| r.digests.len() == 1 && r.digests[0].alg() == HashAlg::Sha256)
        .count();
    assert_eq!(
        sha256_only, 11,
        "the records of the stated incomplete pairs"
    );

    // The CEL replays to the values the script computed (not mr), in SHA-256.
    let tlv = cel::encode(&records, Encoding::Tlv).unwrap();
    let cfg = CelReplayConfig::default().with_banks(vec![HashAlg::Sha256]);
    let report = cel::replay(&tlv[..], Encoding::Tlv, &cfg, &ComputeOnly).unwrap();
    for v in script_values(&j, "sha256") {
        assert!(
            report.outcome.registers.contains(&v),
            "{}: {:?}",
            v.id,
            report.outcome.registers
        );
    }

    // SHA-1 only: the boot manager's records have no SHA-1 digest to give.
    let err = cel::convert(&log[..], None, &[HashAlg::Sha1], 1 << 24, |_| Ok(())).unwrap_err();
    assert_eq!(err.class(), mr_core::ErrorClass::Malformed);
    assert!(err.to_string().contains("sha256 only"), "{err}");
}
