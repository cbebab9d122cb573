//! The verifier on the shared real-world vectors (`$MR_SHARED/vectors`):
//! - a TD quote with the CCEL: the CCEL replays against RTMR 0-2 of the quote (RTMR 3 only when
//!   the log extends it), and in direct mode the IMA list continues RTMR 2 after the CCEL. The
//!   CCEL is the real one of a Container-Optimized OS TD (go-eventlog's vector); the quotes come
//!   from the simulated TD's test signer;
//! - `check_boot_aggregate` on the real pair of ima-evm-utils (a PC-Client log and the IMA list of
//!   the same boot), and on lists that cannot be bound.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use mr_attest::{
    check_boot_aggregate, verify, BootAggregateCheck, Ccel, Evidence, ImaList, RuleStatus, Step,
    TdQuoteEvidence,
};
use mr_core::log::ima::{self, ImaReplayConfig};
use mr_core::log::tcg::ccel::{self, CcelTable};
use mr_core::log::tcg::{BootAggregateRule, TcgReplayConfig};
use mr_core::{HashAlg, MrId};
use mr_rtmr::quote::VerifyOptions;
use mr_rtmr::sim::quote::{QuoteFormat, TestQuoteSigner};
use mr_rtmr::sim::TdMeasurements;

fn vectors() -> Option<PathBuf> {
    mr_testkit::shared("vectors")
}

fn cos_ccel(v: &std::path::Path) -> Ccel {
    let dir = v.join("ccel/go-eventlog");
    let log = std::fs::read(dir.join("cos-113-intel-tdx.bin")).unwrap();
    let table =
        CcelTable::parse(&std::fs::read(dir.join("cos-113-intel-tdx.table.bin")).unwrap()).unwrap();
    Ccel::new(log).with_table(table)
}

/// The final RTMR values of a replay, as quote bytes (unset registers stay zero).
fn rtmrs_of(values: &[mr_core::RegisterValue]) -> [[u8; 48]; 4] {
    let mut rtmr = [[0u8; 48]; 4];
    for v in values {
        if let MrId::Rtmr(n @ 0..=3) = v.id {
            rtmr[n as usize].copy_from_slice(v.value.as_bytes());
        }
    }
    rtmr
}

fn quote(signer: &TestQuoteSigner, rtmr: [[u8; 48]; 4]) -> Vec<u8> {
    let mut report_data = [0u8; 64];
    report_data[..5].copy_from_slice(b"fresh");
    let m = TdMeasurements {
        mrtd: [7; 48],
        mrconfigid: [0; 48],
        mrowner: [0; 48],
        mrownerconfig: [0; 48],
        rtmr,
        report_data,
    };
    signer.quote_as(&m, QuoteFormat::V4Td10).unwrap()
}

fn options(signer: &TestQuoteSigner) -> VerifyOptions {
    VerifyOptions::at_unix(1_767_225_600)
        .with_root_der(signer.root_der().to_vec())
        .with_nonce(b"fresh".to_vec())
}

#[test]
fn the_ccel_replays_against_rtmr0_to_2_of_the_quote() {
    let Some(v) = vectors() else { return };
    let c = cos_ccel(&v);
    let replayed = ccel::replay(
        &c.log,
        c.table.as_ref(),
        &TcgReplayConfig::ccel(),
        &mr_core::ComputeOnly,
    )
    .unwrap();
    let mut rtmr = rtmrs_of(&replayed.outcome.registers);
    // RTMR 3 holds runtime measurements the CCEL does not cover: it is not compared.
    rtmr[3] = [9; 48];
    let signer = TestQuoteSigner::new().unwrap();
    let q = TdQuoteEvidence::new(quote(&signer, rtmr), options(&signer)).with_ccel(c.clone());
    let r = verify(Evidence::td(q)).unwrap();
    assert!(r.verified, "{:?}", r.failure);
    let boot = r.boot_log.as_ref().unwrap();
    let against: Vec<String> = boot.against.iter().map(|(id, _)| id.to_string()).collect();
    assert_eq!(against, ["rtmr0", "rtmr1", "rtmr2"]);
    assert_eq!(r.registers.len(), 3);
    assert_eq!(boot.replay.outcome.entries, replayed.outcome.entries);
    assert!(boot.table.is_some());
    assert_eq!(
        r.rule("signature_chain").map(|o| o.status),
        Some(RuleStatus::Pass)
    );
    assert!(r.ima.is_none() && r.journal.is_none());

    // A quote whose RTMR 1 the CCEL does not reach: rejected at the boot log, naming RTMR 1.
    let mut wrong = rtmr;
    wrong[1][0] ^= 1;
    let q = TdQuoteEvidence::new(quote(&signer, wrong), options(&signer)).with_ccel(c);
    let r = verify(Evidence::td(q)).unwrap();
    assert!(!r.verified);
    let f = r.failure.as_ref().unwrap();
    assert_eq!((f.step, f.reason.as_str()), (Step::BootLog, "boot_log"));
    assert_eq!(f.register.as_deref(), Some("rtmr1"), "{}", f.message);
    assert!(f.details.as_ref().unwrap()["mismatches"][0]["id"] == "rtmr1");
}

#[test]
fn direct_mode_continues_rtmr2_with_the_ima_list_after_the_ccel() {
    let Some(v) = vectors() else { return };
    let c = cos_ccel(&v);
    let list = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/ima/binary_runtime_measurements"),
    )
    .unwrap();
    // What the TD's RTMRs hold when its kernel extends RTMR 2 with the list after the firmware.
    let computed = mr_attest::replay_ccel_then_ima(
        &c,
        ImaList::from_bytes(list.clone()),
        &mr_core::ComputeOnly,
    )
    .unwrap();
    assert_eq!(computed.ima.entries, 600);
    let signer = TestQuoteSigner::new().unwrap();
    let q = quote(&signer, rtmrs_of(&computed.registers));

    let ev = TdQuoteEvidence::new(q.clone(), options(&signer)).with_ccel(c.clone());
    let r = verify(Evidence::td(ev).with_ima(ImaList::from_bytes(list.clone()))).unwrap();
    assert!(r.verified, "{:?}", r.failure);
    let d = r.direct.as_ref().unwrap();
    assert_eq!(d.register, MrId::Rtmr(2));
    assert_eq!(d.registers, computed.registers);
    assert_eq!(
        r.ima.as_ref().unwrap().replay.outcome.covered_entries(),
        Some(600)
    );

    // One entry edited: the direct replay no longer reaches RTMR 2, and names the entry.
    let mut bad = list;
    let at = bad.len() / 2
        + bad[bad.len() / 2..]
            .windows(14)
            .position(|w| w == b"/usr/bin/file-")
            .unwrap()
        + 9;
    bad[at] = b'F';
    let ev = TdQuoteEvidence::new(q, options(&signer)).with_ccel(c);
    let r = verify(Evidence::td(ev).with_ima(ImaList::from_bytes(bad))).unwrap();
    assert!(!r.verified);
    let f = r.failure.as_ref().unwrap();
    assert_eq!((f.step, f.entry), (Step::Ima, Some(303)), "{}", f.message);
    assert_eq!(f.register.as_deref(), Some("rtmr2"));
}

#[test]
fn the_boot_aggregate_of_the_same_boot_matches_and_another_differs() {
    let Some(v) = vectors() else { return };
    let dir = v.join("ima/ima-evm-utils");
    let bios = std::fs::read(dir.join("sample-binary_bios_measurements-pcrs-8-9")).unwrap();
    let list = std::fs::read(dir.join("sample-ascii_runtime_measurements-pcrs-8-9")).unwrap();
    let cfg = ImaReplayConfig::default().with_banks([HashAlg::Sha256]);
    let report = ima::replay(&list[..], &cfg, &mr_core::ComputeOnly).unwrap();
    match check_boot_aggregate(&bios, &report).unwrap() {
        BootAggregateCheck::Matches { entry, found } => {
            assert_eq!(entry, 0);
            assert_eq!(found.rule, BootAggregateRule::Pcrs0To9);
            assert_eq!(
                found.digest.to_hex(),
                "83d19723ef3b3c05bb8ae70d86b3886c158f2408f1b71ed265886a7b79eb700e"
            );
        }
        other => panic!("{other:?}"),
    }

    // The list of examples/ima has a boot_aggregate of another boot.
    let example = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/ima/binary_runtime_measurements"),
    )
    .unwrap();
    let report = ima::replay(&example[..], &cfg, &mr_core::ComputeOnly).unwrap();
    match check_boot_aggregate(&bios, &report).unwrap() {
        BootAggregateCheck::Differs { entry, mismatch } => {
            assert_eq!(entry, 0);
            assert_eq!(mismatch.recorded, report.boot_aggregates[0].digest);
            // Both rules were tried; the 5.8+ one (PCRs 0-9) gives the ima-evm-utils value.
            assert!(mismatch
                .candidates
                .iter()
                .any(|(rule, d)| *rule == BootAggregateRule::Pcrs0To9
                    && d.to_hex()
                        == "83d19723ef3b3c05bb8ae70d86b3886c158f2408f1b71ed265886a7b79eb700e"));
        }
        other => panic!("{other:?}"),
    }

    // A boot log that is not a PC-Client log is an error, not a verdict.
    assert!(check_boot_aggregate(b"not a log", &report).is_err());
}

#[test]
fn a_boot_aggregate_the_verified_values_do_not_cover_binds_nothing() {
    let example = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/ima/binary_runtime_measurements"),
    )
    .unwrap();
    // Values of another register only: the PCR 10 entries are not covered.
    let asserted = mr_core::ExpectedRegisters::from_values(vec![mr_core::RegisterValue {
        id: MrId::Pcr(11),
        value: mr_core::Digest::zero(HashAlg::Sha256),
    }])
    .unwrap();
    let cfg = ImaReplayConfig::default().with_banks([HashAlg::Sha256]);
    let report = ima::replay(&example[..], &cfg, &asserted)
        .unwrap()
        .into_report();
    match check_boot_aggregate(b"unused", &report).unwrap() {
        BootAggregateCheck::Unbound { reason } => {
            assert!(reason.contains("not covered"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}
