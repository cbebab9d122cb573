//! The reason mr exists: one IMA list, verified under a TPM root (a real swtpm's PCR 10, quoted)
//! and under a TD root (a simulated TD's RTMR3, quoted; the journal of the virtual register
//! `mr_ima` replayed against it), gives the same IMA report apart from the root: entries,
//! violations, boot aggregates, covered and left-over entries, and even the register value (PCR
//! 10's SHA-384 bank and `mr_ima` are both folded from zero with SHA-384 template digests).
//!
//! Then tampering under both roots (with `mr_ima` also journalled over a TPM PCR, so that the
//! journal is checked under a TPM quote too): a dropped, edited or reordered journal record, a
//! journal of another attester, a stale quote and an edited IMA entry are all rejected.
#![cfg(all(feature = "tpm-device", feature = "rtmr", feature = "virtual"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use mr::core::log::ima::sample::write_sample_list;
use mr::core::log::ima::ListKind;
use mr::core::log::ima::{self, ImaReader, ImaReaderOptions, ImaReplayConfig, ImaReplayReport};
use mr::core::{Digest, HashAlg, MeasurementRegister, MrId, RegisterValue, VerifiedRegisters};
use mr::rtmr::quote::{self, VerifyOptions};
use mr::rtmr::rtmr::TdxRtmr;
use mr::rtmr::sim::quote::TestQuoteSigner;
use mr::rtmr::sim::SimTd;
use mr::tpm::device::{AkKind, Tpm, TpmPcr};
use mr::tpm::harness::Swtpm;
use mr::tpm::{verify_quote, AkPublic, PcrBankSelection, PcrSelection};
use mr::virtual_registers::agent::ImaAgent;
use mr::virtual_registers::verify::{derive, DeriveOptions};
use mr::virtual_registers::{VirtualRegister, MR_IMA};

/// 2026-01-01T00:00:00Z: inside the test PKI's validity.
const AT: u64 = 1_767_225_600;

fn mr_ima() -> MrId {
    MrId::Virtual(MR_IMA.to_owned())
}

fn sample(entries: u64, seed: u64) -> Vec<u8> {
    let mut list = Vec::new();
    write_sample_list(&mut list, ListKind::Binary, entries, &[HashAlg::Sha1], seed).unwrap();
    list
}

/// What IMA does with a TPM: extend each PCR bank with the entry's template digest in it.
fn extend_like_the_kernel(list: &[u8], pcrs: &[TpmPcr]) {
    let mut r = ImaReader::new(list, ImaReaderOptions::default());
    while let Some(e) = r.next_entry().unwrap() {
        for pcr in pcrs {
            let d = if e.is_violation() {
                Digest::ones(pcr.alg())
            } else {
                e.template_digest(pcr.alg())
            };
            pcr.extend(&d).unwrap();
        }
    }
}

/// The same IMA replay under every root: the banks of the verified values, every entry into
/// `target` (or its own PCR).
fn ima_verify(
    list: &[u8],
    values: &VerifiedRegisters,
    target: Option<MrId>,
) -> Result<ImaReplayReport, mr::core::Error> {
    let mut cfg = ImaReplayConfig::default().with_banks(values.banks());
    if let Some(t) = target {
        cfg = cfg.with_target(t);
    }
    ima::replay(list, &cfg, values).map(|v| v.into_report())
}

/// A TPM quote over PCR `index` in `banks`, verified; returns the verified registers.
fn tpm_quote_verified(
    tpm: &Tpm,
    index: u32,
    banks: &[HashAlg],
    quote_nonce: &[u8],
    verifier_nonce: &[u8],
) -> Result<VerifiedRegisters, mr::tpm::Error> {
    let selection = PcrSelection {
        banks: banks
            .iter()
            .map(|b| PcrBankSelection::new(*b, &[index]))
            .collect(),
    };
    let ak = tpm.create_ak(AkKind::EccP256).unwrap();
    let q = tpm.quote(&ak, quote_nonce, &selection).unwrap();
    let values: Vec<RegisterValue> = banks
        .iter()
        .map(|b| RegisterValue {
            id: MrId::Pcr(index),
            value: tpm.read_pcr(index, *b).unwrap(),
        })
        .collect();
    let key = AkPublic::from_tpm2b_public(&q.ak_public).unwrap();
    verify_quote(&q.attest, &q.signature, &key, verifier_nonce, &values)
}

/// A simulated TD whose agent has put `list` into mr_ima over RTMR3.
struct Td {
    td: SimTd,
    signer: Arc<TestQuoteSigner>,
    journal: Vec<u8>,
}

fn td_with_agent(dir: &Path, name: &str, list: &[u8]) -> Td {
    let signer = Arc::new(TestQuoteSigner::new().unwrap());
    let td = SimTd::builder().quote_provider(signer.clone()).build();
    let rtmr3 = TdxRtmr::new(td.fs(), 3).unwrap();
    let path = dir.join(name);
    let reg = VirtualRegister::open(MR_IMA, rtmr3, &path).unwrap();
    let mut agent = ImaAgent::new(reg);
    let p = agent.sync(list).unwrap();
    assert_eq!(p.total_entries, p.new_entries);
    Td {
        td,
        signer,
        journal: std::fs::read(&path).unwrap(),
    }
}

impl Td {
    /// A TD quote taken with `quote_nonce`, verified expecting `verifier_nonce`.
    fn quote_verified(
        &self,
        quote_nonce: &[u8],
        verifier_nonce: &[u8],
    ) -> Result<VerifiedRegisters, mr::rtmr::Error> {
        let report = self
            .td
            .report_client()
            .get_report_for_nonce(quote_nonce)
            .unwrap();
        let options = VerifyOptions::at_unix(AT)
            .with_root_der(self.signer.root_der())
            .with_nonce(verifier_nonce.to_vec());
        Ok(quote::verify(&report.outblob, &options)?.into_registers())
    }
}

/// Journal → derived mr_ima → IMA replay, against the verified `backing` register.
fn layered_verify(
    journal: &[u8],
    backing: &MrId,
    verified: &VerifiedRegisters,
    list: &[u8],
) -> Result<ImaReplayReport, String> {
    let derived =
        derive(journal, backing, verified, &DeriveOptions::default()).map_err(|e| e.to_string())?;
    let values = derived.registers.select(|id, _| *id == mr_ima());
    assert!(!values.is_empty(), "no mr_ima in the journal");
    ima_verify(list, &values, Some(mr_ima())).map_err(|e| e.to_string())
}

/// Everything in an IMA report but the register ids.
fn comparable(r: &ImaReplayReport) -> impl PartialEq + std::fmt::Debug {
    (
        r.entries,
        r.violations,
        r.boot_aggregates.clone(),
        r.boot_aggregate_count,
        r.outcome.covered,
        r.outcome.left_over(),
        r.digest_mode,
        r.format,
        r.banks.clone(),
        r.trailing_bytes,
        r.outcome
            .registers
            .iter()
            .map(|v| v.value)
            .collect::<Vec<Digest>>(),
    )
}

#[test]
fn the_same_ima_list_gives_the_same_report_under_a_tpm_root_and_a_td_root() {
    // 1010 entries in the list; the quotes are taken after the first 1000 (IMA appends to the
    // list before it extends, so a verifier may see entries that no quote covers yet).
    let all = sample(1010, 42);
    let quoted = sample(1000, 42);
    assert!(all.starts_with(&quoted));
    let dir = tempfile::tempdir().unwrap();

    // TPM root: PCR 10 of a real swtpm, SHA-384 bank (mr_ima's bank) when allocated.
    let swtpm = Swtpm::start().expect("swtpm (scripts/install-deps.sh installs it)");
    let tpm = Tpm::open(&swtpm.tcti()).unwrap();
    let sha384 = tpm.read_pcr(10, HashAlg::Sha384).is_ok();
    let bank = if sha384 {
        HashAlg::Sha384
    } else {
        eprintln!("swtpm has no SHA-384 PCR bank: comparing values is skipped");
        HashAlg::Sha256
    };
    extend_like_the_kernel(&quoted, &[tpm.pcr(10, bank)]);
    let tpm_values = tpm_quote_verified(&tpm, 10, &[bank], b"tpm nonce", b"tpm nonce").unwrap();
    let tpm_report = ima_verify(&all, &tpm_values, None).unwrap();

    // TD root: the agent puts the list into mr_ima over the simulated TD's RTMR3.
    let td = td_with_agent(dir.path(), "journal", &quoted);
    let td_values = td.quote_verified(b"td nonce", b"td nonce").unwrap();
    let td_report = layered_verify(&td.journal, &MrId::Rtmr(3), &td_values, &all).unwrap();

    assert_eq!(tpm_report.entries, 1010);
    assert_eq!(tpm_report.outcome.covered, Some(1000));
    assert_eq!(tpm_report.outcome.left_over(), 10);
    assert_eq!(tpm_report.violations, 2);
    assert_eq!(tpm_report.boot_aggregate_count, 1);
    assert_eq!(tpm_report.outcome.registers[0].id, MrId::Pcr(10));
    assert_eq!(td_report.outcome.registers[0].id, mr_ima());
    if sha384 {
        assert_eq!(comparable(&tpm_report), comparable(&td_report));
    } else {
        assert_eq!(tpm_report.entries, td_report.entries);
        assert_eq!(tpm_report.violations, td_report.violations);
        assert_eq!(tpm_report.boot_aggregates, td_report.boot_aggregates);
        assert_eq!(tpm_report.outcome.covered, td_report.outcome.covered);
    }
}

/// One way to spoil a journal.
fn spoiled_journals(journal: &[u8], other: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let lines: Vec<&str> = std::str::from_utf8(journal).unwrap().lines().collect();
    let join = |l: Vec<&str>| -> Vec<u8> {
        l.iter()
            .flat_map(|s| format!("{s}\n").into_bytes())
            .collect()
    };
    let mut dropped = lines.clone();
    dropped.remove(7);
    let mut reordered = lines.clone();
    reordered.swap(7, 8);
    let mut edited: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    let last = edited[7].pop().unwrap();
    edited[7].push(if last == 'a' { 'b' } else { 'a' });
    vec![
        ("dropped record", join(dropped)),
        ("reordered records", join(reordered)),
        (
            "edited record",
            edited
                .iter()
                .flat_map(|s| format!("{s}\n").into_bytes())
                .collect(),
        ),
        ("another attester's journal", other.to_vec()),
    ]
}

fn edited_entry(list: &[u8]) -> Vec<u8> {
    let mut bad = list.to_vec();
    let at = bad.windows(6).position(|w| w == b"/file-").unwrap() + 1;
    bad[at] = b'F';
    bad
}

#[test]
fn tampering_is_rejected_under_both_roots() {
    let list = sample(300, 7);
    let other_list = sample(300, 8);
    let dir = tempfile::tempdir().unwrap();

    // TD root: mr_ima over RTMR3 of a simulated TD; another TD took another list.
    let td = td_with_agent(dir.path(), "td.journal", &list);
    let other_td = td_with_agent(dir.path(), "other-td.journal", &other_list);
    let td_values = td.quote_verified(b"fresh", b"fresh").unwrap();
    layered_verify(&td.journal, &MrId::Rtmr(3), &td_values, &list).unwrap();

    // TPM root: mr_ima journalled over PCR 16 of a real swtpm (what `mr agent ima --backing
    // pcr:16` does), and the list also extended directly into PCR 10 (as the kernel does).
    let swtpm = Swtpm::start().expect("swtpm (scripts/install-deps.sh installs it)");
    let tpm = Tpm::open(&swtpm.tcti()).unwrap();
    let journal_path = dir.path().join("tpm.journal");
    let reg = VirtualRegister::open(MR_IMA, tpm.pcr(16, HashAlg::Sha256), &journal_path).unwrap();
    ImaAgent::new(reg).sync(list.as_slice()).unwrap();
    let tpm_journal = std::fs::read(&journal_path).unwrap();
    extend_like_the_kernel(&list, &[tpm.pcr(10, HashAlg::Sha256)]);
    let pcr16 = tpm_quote_verified(&tpm, 16, &[HashAlg::Sha256], b"fresh", b"fresh").unwrap();
    let pcr10 = tpm_quote_verified(&tpm, 10, &[HashAlg::Sha256], b"fresh", b"fresh").unwrap();
    layered_verify(&tpm_journal, &MrId::Pcr(16), &pcr16, &list).unwrap();
    ima_verify(&list, &pcr10, None).unwrap();

    // Journals: dropped, reordered, edited records and another attester's journal.
    for (what, journal) in spoiled_journals(&td.journal, &other_td.journal) {
        let r = layered_verify(&journal, &MrId::Rtmr(3), &td_values, &list);
        assert!(r.is_err(), "TD root accepted a {what}");
    }
    for (what, journal) in spoiled_journals(&tpm_journal, &other_td.journal) {
        let r = layered_verify(&journal, &MrId::Pcr(16), &pcr16, &list);
        assert!(r.is_err(), "TPM root accepted a {what}");
    }

    // Stale quotes: the verifier expects another nonce.
    assert!(td.quote_verified(b"old", b"fresh").is_err());
    assert!(tpm_quote_verified(&tpm, 10, &[HashAlg::Sha256], b"old", b"fresh").is_err());
    assert!(tpm_quote_verified(&tpm, 16, &[HashAlg::Sha256], b"old", b"fresh").is_err());

    // An edited IMA entry: rejected by the same replay under each root, naming the entry.
    let bad = edited_entry(&list);
    let td_err = layered_verify(&td.journal, &MrId::Rtmr(3), &td_values, &bad).unwrap_err();
    let pcr16_err = layered_verify(&tpm_journal, &MrId::Pcr(16), &pcr16, &bad).unwrap_err();
    let pcr10_err = ima_verify(&bad, &pcr10, None).unwrap_err().to_string();
    for e in [&td_err, &pcr16_err, &pcr10_err] {
        assert!(e.contains("first inconsistent entry: entry"), "{e}");
    }
    let entry = |e: &str| {
        e.split("first inconsistent entry: entry ")
            .nth(1)
            .map(|s| s.split(' ').next().map(str::to_owned))
    };
    assert_eq!(entry(&td_err), entry(&pcr10_err));
    assert_eq!(entry(&pcr16_err), entry(&pcr10_err));

    // Another TD's list (with its own journal) against this TD's quote.
    assert!(layered_verify(&other_td.journal, &MrId::Rtmr(3), &td_values, &other_list).is_err());
}
