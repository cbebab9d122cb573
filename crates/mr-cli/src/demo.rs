//! `mr demo`: the whole flow on simulated devices, in seconds, with no arguments.
//!
//! The evidence is gathered by the scenario in `mr_testkit::demo` (a generated IMA list
//! measured into PCR 10 of a real swtpm and, through the guest agent, into `mr_ima` journalled
//! over RTMR3 of a simulated TD; a TPM quote and a TD quote, random nonces). Both roots are
//! verified by [`mr_attest::verify`](fn@mr_attest::verify), as `mr verify` does; then one byte of a file path in one
//! IMA entry is edited, and both roots must reject the list, naming the entry. This module
//! builds the evidence and prints the table of the results' summaries ([`mr_attest::summary`]).

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

fn print_row(label: &str, tpm: &str, td: &str) {
    outln!("{label:<18} {tpm:<44} {td}");
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
        &tpm.summary_value(HashAlg::Sha384),
        &td.summary_value(HashAlg::Sha384),
    );
    print_row("verdict", &tpm.summary_verdict(), &td.summary_verdict());
    outln!("\ntampered list: one byte of a file path edited (byte offset {tampered_at})\n");
    print_row("verdict", &t_tpm.summary_verdict(), &t_td.summary_verdict());
    for (root, r) in [("tpm", t_tpm), ("td", t_td)] {
        if !r.verified {
            outln!("  {root}: {}", r.summary_message());
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
            "tpm": t_tpm.summary_json(),
            "td": t_td.summary_json(),
        });
        tampered["byte_offset"] = serde_json::json!(tampered_at);
        print_json(&serde_json::json!({
            "tpm": tpm.summary_json(),
            "td": td.summary_json(),
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
        .map(|(name, r, _)| format!("{name}: {}", r.summary_message()))
        .collect::<Vec<_>>()
        .join("; ");
        Err(Failure::Rejected(format!(
            "demo did not go as it must: {why}"
        )))
    }
}
