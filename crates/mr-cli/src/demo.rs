//! `mr demo`: the whole flow on simulated devices, in seconds, with no arguments.
//!
//! 1. A generated IMA list (mr-core's sample generator) goes, as the kernel would extend it,
//!    into PCR 10 of a real swtpm, and through the guest agent (`mr agent ima`'s code) into the
//!    virtual register `mr_ima`, journalled over RTMR3 of a simulated TD.
//! 2. A TPM quote (a fresh ECC AK, a random nonce) and a TD quote (configfs-tsm of the simulated
//!    TD, signed under a test root, a random nonce) are taken.
//! 3. Both are verified by `mr verify`'s code: the same IMA replay function runs against PCR 10
//!    (TPM root) and against `mr_ima` derived from the journal (TD root).
//! 4. One byte of a file path in one IMA entry is edited, and both roots reject the list, naming
//!    the entry.

use std::io::{BufReader, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use mr_attest::{AttestationResult, Evidence, ImaList, Journal, TdQuoteEvidence, TpmQuoteEvidence};
use mr_core::log::ima::sample::write_sample_list;
use mr_core::log::ima::{ImaReader, ImaReaderOptions, ListKind};
use mr_core::{Digest, HashAlg, MeasurementRegister, MrId, RegisterValue};
use mr_rtmr::quote::VerifyOptions;
use mr_rtmr::rtmr::TdxRtmr;
use mr_rtmr::sim::quote::TestQuoteSigner;
use mr_rtmr::sim::SimTd;
use mr_tpm::device::{AkKind, Tpm, TpmPcr};
use mr_tpm::harness::Swtpm;
use mr_tpm::{PcrBankSelection, PcrSelection};
use mr_virtual::agent::ImaAgent;
use mr_virtual::VirtualRegister;
use rand_core::{OsRng, RngCore};

use crate::agent::sync_once;
use crate::common::{print_json, CmdResult, Failure};
use crate::verify::{self, MR_IMA};

/// Seed of the generated list (the list is the same on every run; the nonces are random).
const LIST_SEED: u64 = 0x006d_722d_6465_6d6f;

fn malformed(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::Malformed(format!("demo: {what}: {e}"))
}

/// The evidence each root produced, kept to verify the untouched and the tampered list.
struct Gathered {
    tpm_attest: Vec<u8>,
    tpm_sig: Vec<u8>,
    tpm_ak: Vec<u8>,
    tpm_nonce: Vec<u8>,
    tpm_pcrs: Vec<RegisterValue>,
    td_quote: Vec<u8>,
    td_nonce: Vec<u8>,
    td_root: Vec<u8>,
    journal: std::path::PathBuf,
    pcr_banks: Vec<HashAlg>,
}

fn random_nonce() -> Vec<u8> {
    let mut n = vec![0u8; 32];
    OsRng.fill_bytes(&mut n);
    n
}

/// The PCR 10 banks to use: SHA-384 (mr_ima's bank, so that PCR 10 and mr_ima end equal) when
/// the swtpm has it allocated, and SHA-256 (every TPM has it).
fn pcr_banks(tpm: &Tpm) -> Vec<HashAlg> {
    let mut banks = vec![HashAlg::Sha256];
    if tpm.read_pcr(10, HashAlg::Sha384).is_ok() {
        banks.push(HashAlg::Sha384);
    }
    banks
}

/// What IMA does in a kernel with a TPM: extend PCR 10, per bank, with each entry's template
/// digest in that bank (a violation extends all-0xFF).
fn extend_like_the_kernel(list: &Path, pcrs: &[TpmPcr]) -> Result<u64, Failure> {
    let file = std::fs::File::open(list).map_err(|e| malformed("IMA list", e))?;
    let mut reader = ImaReader::new(BufReader::new(file), ImaReaderOptions::default());
    let mut n = 0u64;
    while let Some(e) = reader.next_entry()? {
        for pcr in pcrs {
            let value = if e.is_violation() {
                Digest::ones(pcr.alg())
            } else {
                e.template_digest(pcr.alg())
            };
            pcr.extend(&value)?;
        }
        n += 1;
    }
    Ok(n)
}

fn gather(dir: &Path, list: &Path) -> Result<Gathered, Failure> {
    // The TD: RTMR3 through the tsm-mr seam of a simulated TD; mr_ima journalled over it.
    let signer = Arc::new(TestQuoteSigner::new().map_err(|e| malformed("test quote signer", e))?);
    let td = SimTd::builder().quote_provider(signer.clone()).build();
    let rtmr3 = TdxRtmr::new(td.fs(), 3).map_err(crate::args::rtmr_failure)?;
    let journal = dir.join("mr_ima.journal");
    let register =
        VirtualRegister::open(MR_IMA, rtmr3, &journal).map_err(|e| malformed("open mr_ima", e))?;
    let mut agent = ImaAgent::new(register);
    sync_once(&mut agent, list)?;
    let td_nonce = random_nonce();
    let report = td
        .report_client()
        .get_report_for_nonce(&td_nonce)
        .map_err(crate::args::rtmr_failure)?;

    // The TPM: PCR 10 of a fresh swtpm, extended entry by entry as IMA does.
    let swtpm = Swtpm::start().map_err(|e| {
        malformed(
            "swtpm (scripts/demo.sh installs it; or apt-get install swtpm)",
            e,
        )
    })?;
    let tpm = Tpm::open(&swtpm.tcti()).map_err(|e| malformed("swtpm", e))?;
    let banks = pcr_banks(&tpm);
    let pcrs: Vec<TpmPcr> = banks.iter().map(|b| tpm.pcr(10, *b)).collect();
    extend_like_the_kernel(list, &pcrs)?;
    let ak = tpm
        .create_ak(AkKind::EccP256)
        .map_err(|e| malformed("AK", e))?;
    let tpm_nonce = random_nonce();
    let selection = PcrSelection {
        banks: banks
            .iter()
            .map(|b| PcrBankSelection::new(*b, &[10]))
            .collect(),
    };
    let q = tpm
        .quote(&ak, &tpm_nonce, &selection)
        .map_err(|e| malformed("TPM quote", e))?;
    let tpm_pcrs = pcrs
        .iter()
        .map(|p| {
            Ok(RegisterValue {
                id: MrId::Pcr(10),
                value: p.read()?,
            })
        })
        .collect::<Result<Vec<_>, mr_core::Error>>()?;
    Ok(Gathered {
        tpm_attest: q.attest,
        tpm_sig: q.signature,
        tpm_ak: q.ak_public,
        tpm_nonce,
        tpm_pcrs,
        td_quote: report.outblob,
        td_nonce,
        td_root: signer.root_der().to_vec(),
        journal,
        pcr_banks: banks,
    })
}

fn open(path: &Path) -> Result<BufReader<std::fs::File>, Failure> {
    std::fs::File::open(path)
        .map(BufReader::new)
        .map_err(|e| malformed(&path.display().to_string(), e))
}

fn verify_tpm(ev: &Gathered, list: &Path) -> Result<AttestationResult, Failure> {
    let quote = TpmQuoteEvidence::new(ev.tpm_attest.clone(), ev.tpm_sig.clone(), ev.tpm_ak.clone())
        .with_nonce(ev.tpm_nonce.clone())
        .with_pcrs(ev.tpm_pcrs.clone());
    let evidence = Evidence::tpm(quote).with_ima(ImaList::from_reader(open(list)?));
    mr_attest::verify(evidence).map_err(verify::malformed)
}

fn verify_td(ev: &Gathered, list: &Path) -> Result<AttestationResult, Failure> {
    let options = VerifyOptions::new(SystemTime::now())
        .with_root_der(ev.td_root.clone())
        .with_nonce(ev.td_nonce.clone());
    let quote = TdQuoteEvidence::new(ev.td_quote.clone(), options)
        .with_journal(Journal::from_reader(open(&ev.journal)?).with_backing(MrId::Rtmr(3)));
    let evidence = Evidence::td(quote).with_ima(ImaList::from_reader(open(list)?));
    mr_attest::verify(evidence).map_err(verify::malformed)
}

/// Edits one byte of a file path in an IMA entry past the middle of the list (`/file-` becomes
/// `/File-`); returns the byte offset edited.
fn tamper(list: &[u8]) -> Option<(Vec<u8>, usize)> {
    let needle = b"/file-";
    let from = list.len() / 2;
    let at = list
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)?
        + from
        + 1;
    let mut out = list.to_vec();
    *out.get_mut(at)? = b'F';
    Some((out, at))
}

fn outcome_json(v: &AttestationResult) -> serde_json::Value {
    match (&v.ima, &v.failure) {
        (Some(ima), None) if v.verified => {
            let covered = ima.replay.outcome.covered.unwrap_or(ima.replay.entries);
            serde_json::json!({
                "verified": true,
                "root": v.root.name(),
                "ima_entries": ima.replay.entries,
                "covered": covered,
                "left_over": ima.replay.entries - covered.min(ima.replay.entries),
                "violations": ima.replay.violations,
                "against": ima.against,
                "provenance": v.provenance,
                "registers": crate::common::registers_json(&v.register_values()),
                "journal_records": v.journal.as_ref().map(|j| j.records),
                "reason": serde_json::Value::Null,
            })
        }
        _ => {
            let rejection = v.rejection_json();
            let mut j = serde_json::json!({
                "verified": false,
                "root": v.root.name(),
                "reason": rejection["reason"],
                "message": rejection["message"],
            });
            if let Some(bad) = rejection.get("bad_entry") {
                j["bad_entry"] = bad.clone();
            }
            j
        }
    }
}

fn message(v: &AttestationResult) -> &str {
    v.failure
        .as_ref()
        .map_or("accepted", |f| f.message.as_str())
}

fn short(hex: &str) -> String {
    hex.get(..16)
        .map_or_else(|| hex.to_owned(), |h| format!("{h}…"))
}

fn cell(v: &AttestationResult) -> String {
    match (&v.ima, &v.failure) {
        (Some(ima), None) if v.verified => format!(
            "VERIFIED ({} entries, {} left over)",
            ima.replay.entries,
            ima.replay.outcome.left_over()
        ),
        (_, Some(f)) => match f
            .details
            .as_ref()
            .and_then(|d| d.get("bad_entry"))
            .and_then(|b| b.get("entry"))
        {
            Some(e) => format!("REJECTED (entry {e})"),
            None => format!("REJECTED ({})", f.reason),
        },
        _ => "REJECTED (no IMA replay)".to_owned(),
    }
}

fn print_row(label: &str, tpm: &str, td: &str) {
    outln!("{label:<18} {tpm:<44} {td}");
}

fn ima_value(v: &AttestationResult, alg: HashAlg) -> String {
    v.ima
        .as_ref()
        .filter(|_| v.verified)
        .and_then(|ima| {
            ima.replay
                .outcome
                .registers
                .iter()
                .find(|r| r.value.alg() == alg)
                .map(|r| format!("{} {}", r.id, short(&r.value.to_hex())))
        })
        .unwrap_or_default()
}

fn print_human(
    entries: u64,
    ev: &Gathered,
    tpm: &AttestationResult,
    td: &AttestationResult,
    tampered_at: usize,
    t_tpm: &AttestationResult,
    t_td: &AttestationResult,
) {
    outln!("mr demo: one IMA list of {entries} entries, verified under two roots of trust\n");
    print_row("", "TPM root (swtpm)", "TD root (simulated TD)");
    print_row(
        "register",
        &format!(
            "PCR 10 ({})",
            ev.pcr_banks
                .iter()
                .map(|b| b.name())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "mr_ima (sha384), journal over RTMR3",
    );
    print_row(
        "evidence",
        "TPM quote, ECC P-256 AK, random nonce",
        "TD quote (configfs-tsm), random nonce",
    );
    if td.verified {
        if let Some(j) = &td.journal {
            print_row(
                "journal",
                "-",
                &format!("{} records, {} covered by RTMR3", j.records, j.covered),
            );
        }
    }
    print_row(
        "sha384 value",
        &ima_value(tpm, HashAlg::Sha384),
        &ima_value(td, HashAlg::Sha384),
    );
    print_row("verdict", &cell(tpm), &cell(td));
    outln!("\ntampered list: one byte of a file path edited (byte offset {tampered_at})\n");
    print_row("verdict", &cell(t_tpm), &cell(t_td));
    for (root, r) in [("tpm", t_tpm), ("td", t_td)] {
        if !r.verified {
            outln!("  {root}: {}", message(r));
        }
    }
}

/// Run `mr demo`.
pub fn run(json: bool, entries: u64) -> CmdResult {
    let dir = tempfile::tempdir().map_err(|e| malformed("temporary directory", e))?;
    let list_path = dir.path().join("binary_runtime_measurements");
    let mut list = Vec::new();
    write_sample_list(
        &mut list,
        ListKind::Binary,
        entries.max(2),
        &[HashAlg::Sha256],
        LIST_SEED,
    )
    .map_err(|e| malformed("IMA list", e))?;
    std::fs::File::create(&list_path)
        .and_then(|mut f| f.write_all(&list))
        .map_err(|e| malformed("IMA list", e))?;

    let ev = gather(dir.path(), &list_path)?;
    let tpm = verify_tpm(&ev, &list_path)?;
    let td = verify_td(&ev, &list_path)?;

    let (bad, tampered_at) =
        tamper(&list).ok_or_else(|| malformed("tamper", "no file path in the list"))?;
    let bad_path = dir.path().join("binary_runtime_measurements.tampered");
    std::fs::write(&bad_path, bad).map_err(|e| malformed("tampered list", e))?;
    let t_tpm = verify_tpm(&ev, &bad_path)?;
    let t_td = verify_td(&ev, &bad_path)?;

    if json {
        let mut tampered = serde_json::json!({
            "tpm": outcome_json(&t_tpm),
            "td": outcome_json(&t_td),
        });
        tampered["byte_offset"] = serde_json::json!(tampered_at);
        print_json(&serde_json::json!({
            "tpm": outcome_json(&tpm),
            "td": outcome_json(&td),
            "tampered": tampered,
        }));
    } else {
        print_human(entries.max(2), &ev, &tpm, &td, tampered_at, &t_tpm, &t_td);
    }
    let all_good = tpm.verified && td.verified && !t_tpm.verified && !t_td.verified;
    if all_good {
        if !json {
            outln!("\nok: both roots verify the list and both reject the tampered one");
        }
        Ok(())
    } else {
        let why = [
            ("TPM root", &tpm, true),
            ("TD root", &td, true),
            ("TPM root, tampered list", &t_tpm, false),
            ("TD root, tampered list", &t_td, false),
        ]
        .iter()
        .filter(|(_, r, want_ok)| r.verified != *want_ok)
        .map(|(name, r, _)| format!("{name}: {}", message(r)))
        .collect::<Vec<_>>()
        .join("; ");
        Err(Failure::Rejected(format!(
            "demo did not go as it must: {why}"
        )))
    }
}
