//! `mr demo`: the whole flow on simulated devices, in seconds, with no arguments.
//!
//! The evidence is gathered by the scenario in `mr_testkit::demo` (a generated IMA list
//! measured into PCR 10 of a real swtpm and, through the guest agent, into `mr_ima` journalled
//! over RTMR3 of a simulated TD; a TPM quote and a TD quote, random nonces). Both roots are
//! verified by [`mr_attest::verify`], as `mr verify` does; then one byte of a file path in one
//! IMA entry is edited, and both roots must reject the list, naming the entry. This module
//! builds the evidence and prints the table.

use std::io::BufReader;
use std::path::Path;
use std::time::SystemTime;

use mr_attest::{AttestationResult, Evidence, ImaList, Journal, TdQuoteEvidence, TpmQuoteEvidence};
use mr_core::{HashAlg, MrId};
use mr_rtmr::quote::VerifyOptions;
use mr_testkit::demo::{sample_list, DemoError, DemoEvidence};
use mr_testkit::example::tamper_file_path;

use crate::common::{print_json, CmdResult, Failure};
use crate::verify;

fn malformed(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::Malformed(format!("demo: {what}: {e}"))
}

fn demo_failure(e: DemoError) -> Failure {
    Failure::Malformed(format!("demo: {e}"))
}

fn open(path: &Path) -> Result<BufReader<std::fs::File>, Failure> {
    std::fs::File::open(path)
        .map(BufReader::new)
        .map_err(|e| malformed(&path.display().to_string(), e))
}

fn verify_tpm(ev: &DemoEvidence, list: &Path) -> Result<AttestationResult, Failure> {
    let quote = TpmQuoteEvidence::new(ev.tpm_attest.clone(), ev.tpm_sig.clone(), ev.tpm_ak.clone())
        .with_nonce(ev.tpm_nonce.clone())
        .with_pcrs(ev.tpm_pcrs.clone());
    let evidence = Evidence::tpm(quote).with_ima(ImaList::from_reader(open(list)?));
    mr_attest::verify(evidence).map_err(verify::malformed)
}

fn verify_td(ev: &DemoEvidence, list: &Path) -> Result<AttestationResult, Failure> {
    let options = VerifyOptions::new(SystemTime::now())
        .with_root_der(ev.td_root.clone())
        .with_nonce(ev.td_nonce.clone());
    let quote = TdQuoteEvidence::new(ev.td_quote.clone(), options)
        .with_journal(Journal::from_reader(open(&ev.journal)?).with_backing(MrId::Rtmr(3)));
    let evidence = Evidence::td(quote).with_ima(ImaList::from_reader(open(list)?));
    mr_attest::verify(evidence).map_err(verify::malformed)
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
                "registers": mr_core::register::registers_json(&v.register_values()),
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
    ev: &DemoEvidence,
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
    let list = sample_list(entries.max(2)).map_err(demo_failure)?;
    std::fs::write(&list_path, &list).map_err(|e| malformed("IMA list", e))?;

    let ev = DemoEvidence::gather(dir.path(), &list_path).map_err(demo_failure)?;
    let tpm = verify_tpm(&ev, &list_path)?;
    let td = verify_td(&ev, &list_path)?;

    let (bad, tampered_at) = tamper_file_path(&list, b"/")
        .ok_or_else(|| malformed("tamper", "no file path in the list"))?;
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
