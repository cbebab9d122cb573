//! Log quirks that users of other verifiers report, each from public data where there is some:
//!
//! * several EV_NO_ACTION events, some on PCR 0 / CC MR index 0 (RTMR "-1"), beside the Spec ID
//!   event (canonical/tdx pull request 418, GCE C3; go-tpm-tools' confidential GKE log carries
//!   two SP800-155 events);
//! * GKE / GCE `EV_IPL` events whose data is a vendor structure in UTF-16, not GRUB's UTF-8
//!   string (confidential-containers/trustee pull request 802);
//! * OpenPOWER Hostboot logs whose Spec ID record has a non-zero digest;
//! * firmware that hashes only the `VariableData` of Secure Boot variables.
//!
//! The GKE log and its PCR values are go-tpm-tools' (`tests/data/go-tpm-tools`, values from
//! its `server/eventlog_test.go`); the CCEL case reads the go-eventlog CCEL of `$MR_SHARED`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::log::tcg::{
    self, ccel, DataCheck, EventData, EventType, TcgReplayConfig, SPEC_ID_SIGNATURE,
};
use mr_core::{ComputeOnly, Digest, Error, ExpectedRegisters, HashAlg, MrId, RegisterValue};

fn data(rel: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn gke_log() -> Vec<u8> {
    data("go-tpm-tools/confidential-gke-debug-251000_eventlog.bin")
}

/// The SHA-256 PCR values go-tpm-tools states for the GKE log.
fn gke_pcrs() -> Vec<RegisterValue> {
    let j: serde_json::Value = serde_json::from_slice(&data(
        "go-tpm-tools/confidential-gke-debug-251000.pcrs.json",
    ))
    .unwrap();
    j["sha256"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(n, hex)| RegisterValue {
            id: MrId::Pcr(n.parse().unwrap()),
            value: Digest::from_hex(HashAlg::Sha256, hex.as_str().unwrap()).unwrap(),
        })
        .collect()
}

fn expected(values: impl IntoIterator<Item = RegisterValue>) -> ExpectedRegisters {
    ExpectedRegisters::from_values(values).unwrap()
}

/// A TCG_PCR_EVENT2 with the given digests.
fn event2(index: u32, event_type: EventType, digests: &[Digest], data: &[u8]) -> Vec<u8> {
    let mut rec = index.to_le_bytes().to_vec();
    rec.extend_from_slice(&event_type.0.to_le_bytes());
    rec.extend_from_slice(&(digests.len() as u32).to_le_bytes());
    for d in digests {
        rec.extend_from_slice(&d.alg().tcg_id().to_le_bytes());
        rec.extend_from_slice(d.as_bytes());
    }
    rec.extend_from_slice(&(data.len() as u32).to_le_bytes());
    rec.extend_from_slice(data);
    rec
}

/// Byte offset just after the Spec ID record (record 0, a legacy TCG_PCR_EVENT).
fn after_spec_id(log: &[u8]) -> usize {
    let size = u32::from_le_bytes(log[28..32].try_into().unwrap()) as usize;
    32 + size
}

#[test]
fn gke_log_with_several_no_action_events_on_pcr0_replays_to_its_stated_pcrs() {
    let log = gke_log();
    let parsed = tcg::parse(&log, &TcgReplayConfig::pc_client().parse).unwrap();
    let no_action: Vec<(u32, &[u8])> = parsed
        .events
        .iter()
        .filter(|e| e.is_no_action())
        .map(|e| (e.index, e.data.get(..16).unwrap_or(e.data)))
        .collect();
    assert_eq!(
        no_action,
        vec![
            (0, &SPEC_ID_SIGNATURE[..]),
            (0, &b"SP800-155 Event3"[..]),
            (0, &b"SP800-155 Event3"[..]),
        ]
    );
    let values = gke_pcrs();
    assert_eq!(values.len(), 11);
    let report = tcg::replay(&log, &TcgReplayConfig::pc_client(), &expected(values)).unwrap();
    assert_eq!(report.outcome.entries, 55);
    assert!(report.incomplete.is_empty());
}

#[test]
fn several_no_action_events_on_cc_mr_index_0_of_a_ccel_are_not_extended() {
    let Some(dir) = mr_testkit::shared("vectors/ccel/go-eventlog") else {
        return;
    };
    let area = std::fs::read(dir.join("cos-113-intel-tdx-dupe-separator-unpadded.bin")).unwrap();
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("EXPECTED_rtmrs.json")).unwrap()).unwrap();
    let rtmrs = expected(
        j["cases"]["cos-113-intel-tdx-dupe-separator-unpadded.bin"]["rtmr"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(n, hex)| RegisterValue {
                id: MrId::Rtmr(n.parse().unwrap()),
                value: Digest::from_hex(HashAlg::Sha384, hex.as_str().unwrap()).unwrap(),
            }),
    );
    // The two SP800-155 events of the GKE log, as GCE C3 logs them in a CCEL: EV_NO_ACTION on
    // CC MR index 0 (the "RTMR -1" of canonical/tdx), zero SHA-384 digest.
    let gke = gke_log();
    let parsed = tcg::parse(&gke, &TcgReplayConfig::pc_client().parse).unwrap();
    let sp800_155: Vec<&[u8]> = parsed
        .events
        .iter()
        .filter(|e| e.is_no_action() && e.data.starts_with(b"SP800-155 Event3"))
        .map(|e| e.data)
        .collect();
    assert_eq!(sp800_155.len(), 2);
    let at = after_spec_id(&area);
    let mut log = area[..at].to_vec();
    for d in &sp800_155 {
        log.extend(event2(
            0,
            EventType::EV_NO_ACTION,
            &[Digest::zero(HashAlg::Sha384)],
            d,
        ));
    }
    log.extend_from_slice(&area[at..]);
    let base = ccel::replay(&area, None, &TcgReplayConfig::ccel(), &rtmrs).unwrap();
    let report = ccel::replay(&log, None, &TcgReplayConfig::ccel(), &rtmrs).unwrap();
    assert_eq!(report.outcome.entries, base.outcome.entries + 2);
    assert_eq!(report.outcome.registers, base.outcome.registers);

    // A record that would extend index 0 (MRTD, fixed at build time) is refused, not skipped.
    let mut extending = area[..at].to_vec();
    extending.extend(event2(
        0,
        EventType::EV_EFI_ACTION,
        &[HashAlg::Sha384.hash(b"x")],
        b"x",
    ));
    extending.extend_from_slice(&area[at..]);
    let err = ccel::replay(&extending, None, &TcgReplayConfig::ccel(), &rtmrs).unwrap_err();
    let Error::Parse(p) = err else {
        panic!("expected a parse error, got {err}")
    };
    assert_eq!(p.entry, Some(1));
    assert!(p.to_string().contains("CC MR index 0"), "{p}");
}

#[test]
fn gce_ipl_event_data_in_utf16_is_kept_as_logged_and_not_checked() {
    // trustee 802: GKE's EV_IPL data is `2e 00` followed by UTF-16LE text, not a UTF-8 string.
    let mut ipl = vec![0x2e, 0x00];
    for u in "grub_cmd: linux /vmlinuz".encode_utf16() {
        ipl.extend_from_slice(&u.to_le_bytes());
    }
    let digest = HashAlg::Sha256.hash(b"the command GRUB hashed");
    let base = gke_log();
    let mut log = base.clone();
    log.extend(event2(8, EventType::EV_IPL, &[digest], &ipl));
    let parsed = tcg::parse(&log, &TcgReplayConfig::pc_client().parse).unwrap();
    let e = parsed.events.last().unwrap();
    assert_eq!(e.data_check(), DataCheck::NotCheckable);
    let uintn = parsed.spec_id.as_ref().map(|s| s.uintn_size);
    assert_eq!(e.decode(uintn).unwrap(), EventData::Ipl(&ipl[..]));
    // The record extends PCR 8 in SHA-256 only: the other PCRs keep their stated values, and
    // PCR 8's SHA-256 value is the stated one extended with the digest.
    let mut values = gke_pcrs();
    let pcr8 = values.iter_mut().find(|v| v.id == MrId::Pcr(8)).unwrap();
    pcr8.value = pcr8.value.extended(digest.as_bytes());
    let report = tcg::replay(&log, &TcgReplayConfig::pc_client(), &expected(values)).unwrap();
    assert!(!report.is_complete(&MrId::Pcr(8), HashAlg::Sha1));
    assert!(report.is_complete(&MrId::Pcr(8), HashAlg::Sha256));
}

#[test]
fn openpower_spec_id_record_with_a_nonzero_digest_is_refused_strict_and_replayed_replay_only() {
    let mut log = gke_log();
    // Record 0's SHA-1 digest (bytes 8..28), as OpenPOWER Hostboot fills it.
    log[8..28].copy_from_slice(&[0x5a; 20]);
    let err = tcg::replay(&log, &TcgReplayConfig::pc_client(), &ComputeOnly).unwrap_err();
    let Error::Parse(p) = err else {
        panic!("expected a parse error, got {err}")
    };
    assert_eq!((p.entry, p.offset), (Some(0), 8));
    assert!(p.to_string().contains("not zero"), "{p}");
    // The record is never extended: the replay-only mode gives the stated values.
    let report = tcg::replay(&log, &TcgReplayConfig::replay_only(), &expected(gke_pcrs())).unwrap();
    assert_eq!(report.outcome.entries, 55);
}

#[test]
fn secure_boot_variable_hashed_over_its_value_only_is_refused_strict_and_replayed_replay_only() {
    let original = gke_log();
    let parsed = tcg::parse(&original, &TcgReplayConfig::pc_client().parse).unwrap();
    // The first Secure Boot variable of PCR 7 (`SecureBoot`).
    let e = parsed
        .events
        .iter()
        .find(|e| e.event_type == EventType::EV_EFI_VARIABLE_DRIVER_CONFIG)
        .unwrap();
    let Ok(EventData::Variable(v)) = e.decode(None) else {
        panic!("a UEFI variable")
    };
    assert_eq!((e.index, v.name.as_str()), (7, "SecureBoot"));
    let record = e.record;
    // Rewrite each digest as the hash of VariableData only.
    let mut log = original.clone();
    let mut at = e.offset as usize + 12;
    for d in &e.digests {
        let alg = d.alg();
        let size = alg.size();
        log[at + 2..at + 2 + size].copy_from_slice(alg.hash(v.data).as_bytes());
        at += 2 + size;
    }

    let err = tcg::replay(&log, &TcgReplayConfig::pc_client(), &ComputeOnly).unwrap_err();
    let Error::EntryDigest(bad) = err else {
        panic!("expected an entry digest mismatch, got {err}")
    };
    assert_eq!((bad.entry, bad.register.clone()), (record, MrId::Pcr(7)));

    let report = tcg::replay(&log, &TcgReplayConfig::replay_only(), &ComputeOnly).unwrap();
    assert_eq!(report.data_checks.failure_count, 1);
    let (r, check) = &report.data_checks.failures[0];
    assert_eq!(*r, record);
    assert!(matches!(check, DataCheck::ValueOnly { .. }), "{check:?}");
    // PCR 7 is the fold of the digests as logged; every other PCR keeps its stated value.
    let relogged = tcg::parse(&log, &TcgReplayConfig::replay_only().parse).unwrap();
    let pcr7 = relogged
        .events
        .iter()
        .filter(|e| e.index == 7 && !e.is_no_action())
        .fold(Digest::zero(HashAlg::Sha256), |v, e| {
            v.extended(e.digest(HashAlg::Sha256).unwrap().as_bytes())
        });
    let values: Vec<RegisterValue> = gke_pcrs()
        .into_iter()
        .map(|mut v| {
            if v.id == MrId::Pcr(7) {
                assert_ne!(v.value, pcr7);
                v.value = pcr7;
            }
            v
        })
        .collect();
    tcg::replay(&log, &TcgReplayConfig::replay_only(), &expected(values)).unwrap();
}

#[test]
fn a_cel_pc_client_record_of_a_secure_boot_variable_hashed_over_its_value_only_is_refused() {
    use mr_core::log::cel::{self, CelIndex, CelRecord, CelReplayConfig, Content};
    // `SecureBoot` = 1: UEFI_VARIABLE_DATA (EFI global variable GUID, 10 UTF-16 units, 1 byte).
    let mut var = vec![
        0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b,
        0x8c,
    ];
    var.extend_from_slice(&10u64.to_le_bytes());
    var.extend_from_slice(&1u64.to_le_bytes());
    for u in "SecureBoot".encode_utf16() {
        var.extend_from_slice(&u.to_le_bytes());
    }
    var.push(1);
    let record = |digest: Digest| CelRecord {
        recnum: 0,
        index: CelIndex::Pcr(7),
        digests: vec![digest],
        content: Content::PcClient {
            event_type: EventType::EV_EFI_VARIABLE_DRIVER_CONFIG.0,
            event_data: var.clone(),
        },
    };
    let s = HashAlg::Sha256;
    let whole = [record(s.hash(&var))];
    cel::replay_records(&whole, &CelReplayConfig::default(), &ComputeOnly).unwrap();
    let value_only = [record(s.hash(&[1]))];
    let err =
        cel::replay_records(&value_only, &CelReplayConfig::default(), &ComputeOnly).unwrap_err();
    assert_eq!(err.class(), mr_core::ErrorClass::Rejected, "{err}");
}
