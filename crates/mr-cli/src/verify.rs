//! `mr verify`: one verdict over an IMA list, under a TPM root (quote → verified PCR 10 → IMA
//! replay) or a TD root (TD quote → verified RTMR3 → journal → derived `mr_ima` → IMA replay).
//!
//! The verification is [`mr_attest::verify`]'s; this module parses the arguments into
//! [`mr_attest::Evidence`] and prints the [`AttestationResult`] (text or JSON). `mr demo` prints
//! its results with [`verdict_json`] and [`rejection_json`] too.

use std::path::PathBuf;

use clap::Args;
use mr_attest::{
    AttestationResult, Evidence, ImaList, ImaReport, Journal, QuoteReport, RootKind,
    TdQuoteEvidence, TpmQuoteEvidence,
};
use mr_core::{Error, MrId};
use mr_rtmr::quote::VerifiedQuote;
use mr_tpm::public::MAX_KEY_FILE_SIZE;

use crate::common::{
    open_input, parse_nonce, print_json, read_input, registers_json, CmdResult, Failure,
};
use crate::{tdx, tpm};

pub use mr_attest::MR_IMA;

/// Arguments of `mr verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// The IMA measurement list (binary or ASCII); `-` reads stdin.
    #[arg(long, value_name = "LOG")]
    pub ima: PathBuf,
    /// TPM root: TPMS_ATTEST of a quote over the IMA PCR.
    #[arg(long, value_name = "F", conflicts_with_all = ["td_quote", "journal"])]
    pub tpm_attest: Option<PathBuf>,
    /// TPM root: TPMT_SIGNATURE of the quote.
    #[arg(long, value_name = "F")]
    pub tpm_sig: Option<PathBuf>,
    /// TPM root: the attestation key (TPM2B_PUBLIC, TPMT_PUBLIC, PEM, DER or X.509; detected).
    #[arg(long, value_name = "F")]
    pub ak: Option<PathBuf>,
    /// TPM root: the quoted PCR values (`ID:ALG:HEX` lines). Without it the list's final values
    /// must match the quote (the list may not run ahead of the quote).
    #[arg(long, value_name = "F")]
    pub pcrs: Option<PathBuf>,
    /// TPM root: PCR the IMA list extends (repeatable; default 10).
    #[arg(long, value_name = "N")]
    pub ima_pcr: Vec<u32>,
    /// TD root: a TD quote (binary or hex) over the backing RTMR of the journal.
    #[arg(long, value_name = "Q", requires = "journal")]
    pub td_quote: Option<PathBuf>,
    /// TD root: the journal of the virtual register `mr_ima` (written by `mr agent ima`).
    #[arg(long, value_name = "J", requires = "td_quote")]
    pub journal: Option<PathBuf>,
    /// TD root: the register backing the journal (default rtmr3).
    #[arg(long, value_name = "ID", requires = "td_quote")]
    pub backing: Option<String>,
    /// TD root: root CA certificate (DER or PEM) instead of the built-in Intel SGX Root CA.
    #[arg(long, value_name = "F", requires = "td_quote")]
    pub root: Option<PathBuf>,
    /// TD root: DCAP collateral (dcap-qvl QuoteCollateralV3 JSON).
    #[arg(long, value_name = "F", requires = "td_quote")]
    pub collateral: Option<PathBuf>,
    /// TD root: verification time, RFC 3339 (default: now).
    #[arg(long, value_name = "RFC3339", requires = "td_quote")]
    pub at: Option<String>,
    /// TD root: accept a debug TD (TD attributes DEBUG set). Refused by default.
    #[arg(long, requires = "td_quote")]
    pub allow_debug: bool,
    /// The nonce the quote must carry (hex; TD: REPORTDATA zero-padded to 64 bytes).
    #[arg(long, value_name = "HEX")]
    pub nonce: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// A library error (malformed input or usage error): exit code 2.
pub fn malformed(e: mr_attest::Error) -> Failure {
    Failure::Malformed(e.to_string())
}

/// JSON of the IMA part of a verdict (the same under every root).
pub fn ima_json(ima: &ImaReport) -> serde_json::Value {
    ima.to_json()
}

/// JSON of a verified result: the root's quote details, `verified`, `root`, `provenance`,
/// `registers`, `ima` and (TD root) `journal`.
pub fn verdict_json(v: &AttestationResult) -> serde_json::Value {
    let registers = v.register_values();
    let mut j = match &v.quote {
        Some(QuoteReport::Tpm(q)) => tpm::quote_json(q, Some(&registers)),
        Some(QuoteReport::Td(q)) => {
            let mut j = tdx::json(q);
            j["nonce_checked"] = serde_json::Value::Bool(nonce_checked(v));
            j
        }
        Some(QuoteReport::Vtpm(q)) => {
            let mut j = tpm::quote_json(&q.quote, Some(&registers));
            j["hardware"] = mr_attest::report::vtpm_hardware_json(&q.hardware);
            j
        }
        None => serde_json::json!({}),
    };
    j["verified"] = serde_json::Value::Bool(v.verified);
    j["root"] = serde_json::Value::String(v.root.name().into());
    j["provenance"] = serde_json::json!(v.provenance);
    j["registers"] = registers_json(&registers);
    if let Some(ima) = &v.ima {
        j["ima"] = ima_json(ima);
    }
    if let Some(s) = &v.journal {
        j["journal"] = serde_json::json!({
            "backing": s.backing.to_string(),
            "records": s.records,
            "covered": s.covered,
            "left_over": s.left_over,
        });
    }
    j
}

/// JSON of a rejected result: `{"verified": false, "reason": ..., "message": ...}`, with a log
/// replay's `mismatches`, `bad_entry`, `not_covered` when the rejection has them.
pub fn rejection_json(v: &AttestationResult) -> serde_json::Value {
    let Some(f) = &v.failure else {
        return serde_json::json!({"verified": v.verified});
    };
    let mut j = f
        .details
        .clone()
        .unwrap_or_else(|| serde_json::json!({"verified": false}));
    j["reason"] = serde_json::Value::String(f.reason.clone());
    j["message"] = serde_json::Value::String(f.message.clone());
    j
}

/// The failure of a rejected result (exit code 1), `Ok` for a verified one.
pub fn verdict(v: &AttestationResult) -> CmdResult {
    match &v.failure {
        None if v.verified => Ok(()),
        None => Err(Failure::Rejected("not verified".into())),
        Some(f) => Err(Failure::Rejected(f.message.clone())),
    }
}

fn nonce_checked(v: &AttestationResult) -> bool {
    v.rule("nonce")
        .is_some_and(|r| r.status == mr_attest::RuleStatus::Pass)
}

/// The IMA part of a verdict, human-readable (the same under every root).
pub fn print_ima(ima: &ImaReport) {
    let report = &ima.replay;
    outln!(
        "ima: {} entries, {} covered by {}, {} left over, {} violations",
        report.entries,
        report.outcome.covered_entries().unwrap_or(0),
        ima.against.join(" "),
        report.outcome.left_over(),
        report.violations
    );
    if let Some(line) = crate::ima::not_covered_line(&report.outcome, ("entry", "entries")) {
        outln!("ima: {line}");
    }
    for b in &report.boot_aggregates {
        outln!(
            "ima: boot_aggregate at entry {}: {}:{}",
            b.entry,
            b.digest.alg(),
            b.digest
        );
    }
}

/// The TD quote's details, one human-readable line each.
fn td_quote_lines(q: &VerifiedQuote, nonce_checked: bool) -> Vec<String> {
    let mut lines = vec![format!(
        "quote: TD quote v{} verified: {}",
        q.version(),
        q.registers().provenance()
    )];
    lines.push(if nonce_checked {
        format!(
            "report_data: {} (matches --nonce)",
            hex::encode(q.report_data())
        )
    } else {
        format!(
            "report_data: {} (NOT checked: no --nonce given; the quote may be a replay)",
            hex::encode(q.report_data())
        )
    });
    lines.push(tdx::td_attributes_line(q.td_attributes()));
    lines.push(match q.tcb_status() {
        Some(t) => format!("tcb_status: {}", t.status),
        None => "tcb_status: not evaluated (no --collateral)".to_owned(),
    });
    lines
}

fn print_verdict(v: &AttestationResult) {
    let lines = match &v.quote {
        Some(QuoteReport::Tpm(q)) => tpm::quote_lines(q),
        Some(QuoteReport::Td(q)) => td_quote_lines(q, nonce_checked(v)),
        Some(QuoteReport::Vtpm(q)) => q
            .chain
            .iter()
            .map(|link| format!("chain: {link}"))
            .chain(tpm::quote_lines(&q.quote))
            .collect(),
        None => Vec::new(),
    };
    for line in &lines {
        outln!("{line}");
    }
    outln!(
        "root: {} ({})",
        v.root.name(),
        v.provenance.as_deref().unwrap_or("no register verified")
    );
    outln!("verified registers:");
    for r in &v.registers {
        outln!("{}", r.register_value());
    }
    if let Some(s) = &v.journal {
        outln!(
            "journal: {} records, {} covered by {}, {} left over",
            s.records,
            s.covered,
            s.backing,
            s.left_over
        );
    }
    if let Some(ima) = &v.ima {
        print_ima(ima);
    }
    outln!(
        "verified: the IMA list replays to the {} values",
        match v.root {
            RootKind::Tpm => "quoted PCR",
            RootKind::Td => "mr_ima value derived from the TD quote's RTMR",
            RootKind::Vtpm => "vTPM's quoted PCR",
        }
    );
}

fn required<'a>(value: &'a Option<PathBuf>, flag: &str) -> Result<&'a std::path::Path, Failure> {
    value.as_deref().ok_or_else(|| {
        Failure::Malformed(format!(
            "mr verify needs --tpm-attest, --tpm-sig and --ak (TPM root) or --td-quote and \
             --journal (TD root); missing {flag}"
        ))
    })
}

/// The evidence named on the command line.
fn evidence(args: &VerifyArgs) -> Result<Evidence, Failure> {
    let nonce = args.nonce.as_deref().map(parse_nonce).transpose()?;
    if let Some(quote_path) = &args.td_quote {
        let journal_path = required(&args.journal, "--journal")?;
        let backing: MrId = match &args.backing {
            Some(b) => b
                .parse()
                .map_err(|e: Error| Failure::Malformed(format!("--backing: {e}")))?,
            None => MrId::Rtmr(3),
        };
        let options = tdx::verify_options(
            args.at.as_deref(),
            args.nonce.as_deref(),
            args.root.as_deref(),
            args.collateral.as_deref(),
            args.allow_debug,
        )?;
        let quote_bytes = tdx::decode_quote_file(read_input(quote_path, tdx::MAX_QUOTE_FILE)?)?;
        let journal = Journal::from_reader(open_input(journal_path)?).with_backing(backing);
        let list = ImaList::from_reader(open_input(&args.ima)?);
        return Ok(
            Evidence::td(TdQuoteEvidence::new(quote_bytes, options).with_journal(journal))
                .with_ima(list),
        );
    }
    let attest = read_input(
        required(&args.tpm_attest, "--tpm-attest")?,
        tpm::MAX_QUOTE_FILE,
    )?;
    let sig = read_input(required(&args.tpm_sig, "--tpm-sig")?, tpm::MAX_QUOTE_FILE)?;
    let ak = read_input(required(&args.ak, "--ak")?, MAX_KEY_FILE_SIZE as u64)?;
    let mut quote = TpmQuoteEvidence::new(attest, sig, ak).with_ima_pcrs(args.ima_pcr.clone());
    if let Some(n) = nonce {
        quote = quote.with_nonce(n);
    }
    if let Some(p) = args.pcrs.as_deref() {
        quote = quote.with_pcrs(tpm::pcr_file(p)?);
    }
    let list = ImaList::from_reader(open_input(&args.ima)?);
    Ok(Evidence::tpm(quote).with_ima(list))
}

/// Run `mr verify`.
pub fn run(args: VerifyArgs) -> CmdResult {
    let result = mr_attest::verify(evidence(&args)?).map_err(malformed)?;
    if args.json {
        if result.verified {
            print_json(&verdict_json(&result));
        } else {
            print_json(&rejection_json(&result));
        }
    } else if result.verified {
        print_verdict(&result);
    }
    verdict(&result)
}
