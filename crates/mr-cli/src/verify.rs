//! `mr verify`: one verdict over an IMA list, under a TPM root (quote → verified PCR 10 → IMA
//! replay) or a TD root (TD quote → verified RTMR3 → journal → derived `mr_ima` → IMA replay).
//!
//! The IMA part is the same function under both roots ([`verify_ima`]): it takes the verified
//! values of the register the list extends (PCR 10 from a TPM quote; `mr_ima` derived from a
//! journal that replayed to a TD quote's RTMR3) and replays the list against them. The output of
//! the IMA part ([`ima_json`], [`print_ima`]) is shared too, so the two verdicts read alike.
//! `mr demo` calls [`verify_tpm`] and [`verify_td`] directly.

use std::io::BufRead;
use std::path::PathBuf;

use clap::Args;
use mr_core::log::ima::{self, ImaReplayConfig, ImaReplayReport};
use mr_core::replay::ReplayOptions;
use mr_core::{Error, ErrorClass, HashAlg, MrId, RegisterValue, Verified, VerifiedRegisters};
use mr_rtmr::quote::{self, VerifiedQuote, VerifyOptions};
use mr_tpm::public::MAX_KEY_FILE_SIZE;
use mr_tpm::{verify_quote_signature, AkPublic, SignedQuote};

use crate::common::{
    open_input, parse_nonce, plain, print_json, read_input, registers_json, rejection_json,
    with_reference, Against, CmdResult, Failure, ImaInput,
};
use crate::{tdx, tpm};

pub use mr_virtual::MR_IMA;

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

/// Which root of trust vouched for the IMA register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Root {
    /// A TPM quote over PCR 10.
    Tpm,
    /// A TD quote over RTMR3, with `mr_ima` derived from the journal.
    Td,
}

impl Root {
    /// `tpm` or `td`.
    pub fn name(self) -> &'static str {
        match self {
            Root::Tpm => "tpm",
            Root::Td => "td",
        }
    }
}

/// What the journal contributed under a TD root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalSummary {
    /// The backing register the journal replayed to.
    pub backing: MrId,
    /// Records in the journal.
    pub records: u64,
    /// Records covered by the verified backing value.
    pub covered: u64,
    /// Records after the covered prefix (written after the quote).
    pub left_over: u64,
}

/// An accepted verdict.
#[derive(Debug)]
pub struct Verdict {
    /// The root of trust.
    pub root: Root,
    /// Where the verified values come from.
    pub provenance: String,
    /// Every verified register value (quoted, and under a TD root the derived `mr_ima`).
    pub registers: Vec<RegisterValue>,
    /// The register(s) the IMA list was replayed against, `ID:ALG`.
    pub ima_registers: Vec<String>,
    /// The IMA replay report.
    pub ima: ImaReplayReport,
    /// Details of the quote (root-specific JSON).
    pub quote: serde_json::Value,
    /// Details of the quote, one human-readable line each.
    pub quote_lines: Vec<String>,
    /// Under a TD root, the journal.
    pub journal: Option<JournalSummary>,
}

/// A rejection (or malformed input), with its machine-readable form.
#[derive(Debug)]
pub struct Rejection {
    /// Exit code and message.
    pub failure: Failure,
    /// `{"verified": false, "reason": ..., "message": ..., ...}` (also for malformed input).
    pub json: serde_json::Value,
}

impl Rejection {
    fn new(failure: Failure, reason: &str) -> Rejection {
        let message = match &failure {
            Failure::Rejected(m) | Failure::Malformed(m) => m.clone(),
        };
        Rejection {
            json: serde_json::json!({
                "verified": false,
                "reason": reason,
                "message": message,
            }),
            failure,
        }
    }

    fn malformed(msg: String) -> Rejection {
        Rejection::new(Failure::Malformed(msg), "malformed")
    }

    /// The message.
    pub fn message(&self) -> &str {
        match &self.failure {
            Failure::Rejected(m) | Failure::Malformed(m) => m,
        }
    }
}

impl From<Failure> for Rejection {
    fn from(f: Failure) -> Rejection {
        let reason = match f {
            Failure::Rejected(_) => "rejected",
            Failure::Malformed(_) => "malformed",
        };
        Rejection::new(f, reason)
    }
}

/// The IMA part of every verdict, the same under every root: replay `list` against the verified
/// values of the register it extends. `target` is `None` when the entries extend the PCR they
/// name (TPM root), or the register that takes every entry (`mr_ima` under a TD root). The
/// banks replayed are the banks of `ima_values`.
pub fn verify_ima(
    list: &ImaInput,
    ima_values: &VerifiedRegisters,
    target: Option<&MrId>,
) -> Result<ImaReplayReport, Error> {
    let mut cfg = ImaReplayConfig::default().with_banks(ima_values.banks());
    if let Some(t) = target {
        cfg = cfg.with_target(t.clone());
    }
    list.replay(&cfg, ima_values).map(Verified::into_report)
}

/// A rejected IMA replay: names the register, the entry and why; JSON with the mismatches and
/// the first inconsistent entry.
fn ima_rejection(e: Error) -> Rejection {
    let json = rejection_json(&e);
    let mut r = Rejection::new(e.into(), "ima_replay");
    if let Some(mut v) = json {
        v["reason"] = serde_json::Value::String("ima_replay".into());
        v["message"] = serde_json::Value::String(r.message().to_owned());
        r.json = v;
    }
    r
}

fn values_of(v: &VerifiedRegisters) -> Vec<RegisterValue> {
    v.iter()
        .map(|(id, value)| RegisterValue {
            id: id.clone(),
            value: *value,
        })
        .collect()
}

/// TPM evidence, as bytes.
pub struct TpmEvidence<'a> {
    /// TPMS_ATTEST.
    pub attest: &'a [u8],
    /// TPMT_SIGNATURE.
    pub sig: &'a [u8],
    /// The AK (any format [`AkPublic::detect`] takes).
    pub ak: &'a [u8],
    /// The quoted PCR values, if given.
    pub pcrs: Option<Vec<RegisterValue>>,
    /// The PCRs the IMA list extends (usually `[10]`).
    pub ima_pcrs: Vec<u32>,
}

fn tpm_rejection(e: &mr_tpm::Error) -> Rejection {
    Rejection::new(tpm::failure(e), tpm::reason_code(e))
}

/// Verify an IMA list under a TPM root: the quote's signature and nonce, its PCR values, then
/// [`verify_ima`] against the verified values of the IMA PCR(s).
pub fn verify_tpm(
    evidence: &TpmEvidence<'_>,
    nonce: Option<&[u8]>,
    list: &ImaInput,
) -> Result<Verdict, Rejection> {
    let key =
        AkPublic::detect(evidence.ak).map_err(|e| Rejection::malformed(format!("AK: {e}")))?;
    let q: SignedQuote = verify_quote_signature(evidence.attest, evidence.sig, &key, nonce)
        .map_err(|e| tpm_rejection(&e))?;
    let ima_selected: Vec<(u32, HashAlg)> = q
        .quote_info()
        .pcr_select
        .pcrs()
        .filter(|(p, _)| evidence.ima_pcrs.contains(p))
        .collect();
    if ima_selected.is_empty() {
        return Err(Rejection::new(
            Failure::Rejected(format!(
                "the quote selects {}, not the IMA PCR(s) {:?}: it cannot vouch for the list",
                tpm::selection_text(&q),
                evidence.ima_pcrs
            )),
            "ima_pcr_not_quoted",
        ));
    }
    let (verified, report) = match &evidence.pcrs {
        Some(values) => {
            // Quote first: the values are verified by the quote; then the list replays to the
            // values of the IMA PCRs (a prefix may suffice: IMA appends before it extends).
            let verified = q.verify_pcrs(values).map_err(|e| tpm_rejection(&e))?;
            let ima_values = verified.select(|id, v| {
                ima_selected
                    .iter()
                    .any(|(p, alg)| *id == MrId::Pcr(*p) && v.alg() == *alg)
            });
            let report = verify_ima(list, &ima_values, None).map_err(ima_rejection)?;
            (verified, report)
        }
        None => {
            // No quoted values given: the list's final values must be what the quote signed.
            // The quote checks the selected PCRs after the replay: entries of other registers
            // are not covered.
            let banks: Vec<HashAlg> = ima_selected.iter().map(|(_, a)| *a).collect();
            let quoted = q.quote_info().pcr_select.pcrs().map(|(p, _)| MrId::Pcr(p));
            let cfg = ImaReplayConfig::default()
                .with_banks(banks)
                .with_replay(ReplayOptions::default().with_checked_later(quoted));
            let report = list
                .replay(&cfg, &mr_core::ComputeOnly)
                .map_err(ima_rejection)?;
            let verified = q
                .verify_pcrs(&report.outcome.registers)
                .map_err(|e| match e {
                    mr_tpm::Error::MissingPcrValue { index, alg } => Rejection::malformed(format!(
                        "the quote selects pcr{index} {alg}, which the IMA list does not extend: \
                         give the quoted values with --pcrs"
                    )),
                    mr_tpm::Error::PcrDigestMismatch { .. } => Rejection::new(
                        Failure::Rejected(format!(
                            "{e} (the whole IMA list was replayed; if it ran ahead of the quote, \
                             give the quoted values with --pcrs)"
                        )),
                        tpm::reason_code(&e),
                    ),
                    other => tpm_rejection(&other),
                })?;
            // The replay had no values to check against, so it could not apply the no-TPM rule
            // itself: an all-zero boot_aggregate means the kernel extended no PCR, and whatever
            // the quote shows was put there by someone else.
            report.check_no_tpm(&cfg).map_err(ima_rejection)?;
            (verified, report)
        }
    };
    let registers = values_of(&verified);
    Ok(Verdict {
        root: Root::Tpm,
        provenance: verified.provenance().to_string(),
        quote: tpm::quote_json(&q, Some(&registers)),
        quote_lines: tpm::quote_lines(&q),
        registers,
        ima_registers: ima_selected
            .iter()
            .map(|(p, a)| format!("pcr{p}:{a}"))
            .collect(),
        ima: report,
        journal: None,
    })
}

/// Verify an IMA list under a TD root: the TD quote (signature chain, nonce) gives the backing
/// register's value; the journal replays to it and yields `mr_ima`; then [`verify_ima`] against
/// `mr_ima`.
pub fn verify_td<J: BufRead>(
    quote_bytes: &[u8],
    options: &VerifyOptions,
    backing: &MrId,
    journal: J,
    list: &ImaInput,
) -> Result<Verdict, Rejection> {
    let verified_quote: VerifiedQuote = quote::verify(quote_bytes, options)
        .map_err(|e| Rejection::new(tdx::failure(e), "td_quote"))?;
    let mut quote_json = tdx::json(&verified_quote);
    quote_json["nonce_checked"] = serde_json::Value::Bool(options.nonce.is_some());
    let quote_lines = td_quote_lines(&verified_quote, options.nonce.is_some());
    let all = verified_quote.into_registers();
    let backing_value = all
        .iter()
        .find(|(id, _)| *id == backing)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            Rejection::new(
                Failure::Rejected(format!("the TD quote has no value of {backing}")),
                "backing_not_quoted",
            )
        })?;
    let backing_values = all.select(|id, v| id == backing && *v == backing_value);
    let derived = mr_virtual::verify::derive(
        journal,
        backing,
        &backing_values,
        &mr_virtual::verify::DeriveOptions::default(),
    )
    .map_err(journal_rejection)?;
    let target = MrId::Virtual(MR_IMA.to_owned());
    let ima_values = derived.registers.select(|id, _| *id == target);
    if ima_values.is_empty() {
        return Err(Rejection::new(
            Failure::Rejected(format!(
                "the journal has no record of {MR_IMA}: it cannot vouch for the list"
            )),
            "no_mr_ima",
        ));
    }
    let report = verify_ima(list, &ima_values, Some(&target)).map_err(ima_rejection)?;
    let mut registers = values_of(&backing_values);
    registers.extend(values_of(&ima_values));
    Ok(Verdict {
        root: Root::Td,
        provenance: ima_values.provenance().to_string(),
        quote: quote_json,
        quote_lines,
        registers,
        ima_registers: ima_values
            .iter()
            .map(|(id, v)| format!("{id}:{}", v.alg()))
            .collect(),
        ima: report,
        journal: Some(JournalSummary {
            backing: backing.clone(),
            records: derived.records,
            covered: derived.covered,
            left_over: derived.left_over,
        }),
    })
}

/// A journal that does not replay to the verified backing register (or is malformed).
fn journal_rejection(e: mr_virtual::Error) -> Rejection {
    let failure = match e.class() {
        ErrorClass::Rejected => Failure::Rejected(format!("journal: {e}")),
        ErrorClass::Malformed | ErrorClass::Device => Failure::Malformed(format!("journal: {e}")),
    };
    Rejection::new(failure, "journal")
}

/// JSON of the IMA part of a verdict (the same under every root).
pub fn ima_json(report: &ImaReplayReport, ima_registers: &[String]) -> serde_json::Value {
    serde_json::json!({
        "entries": report.entries,
        "covered": report.outcome.covered_entries().unwrap_or(0),
        "not_covered": crate::ima::not_covered_json(&report.outcome),
        "left_over": report.outcome.left_over(),
        "violations": report.violations,
        "boot_aggregates": report.boot_aggregates.iter().map(|b| serde_json::json!({
            "entry": b.entry,
            "alg": b.digest.alg().name(),
            "digest": b.digest.to_hex(),
        })).collect::<Vec<_>>(),
        "banks": report.banks.iter().map(|b| b.name()).collect::<Vec<_>>(),
        "registers": registers_json(&report.outcome.registers),
        "against": ima_registers,
    })
}

/// JSON of a verdict: the root's quote details, `verified`, `root`, `provenance`, `registers`,
/// `ima` and (TD root) `journal`.
pub fn verdict_json(v: &Verdict) -> serde_json::Value {
    let mut j = v.quote.clone();
    j["verified"] = serde_json::Value::Bool(true);
    j["root"] = serde_json::Value::String(v.root.name().into());
    j["provenance"] = serde_json::Value::String(v.provenance.clone());
    j["registers"] = registers_json(&v.registers);
    j["ima"] = ima_json(&v.ima, &v.ima_registers);
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

/// The IMA part of a verdict, human-readable (the same under every root).
pub fn print_ima(report: &ImaReplayReport, ima_registers: &[String]) {
    outln!(
        "ima: {} entries, {} covered by {}, {} left over, {} violations",
        report.entries,
        report.outcome.covered_entries().unwrap_or(0),
        ima_registers.join(" "),
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

fn print_verdict(v: &Verdict) {
    for line in &v.quote_lines {
        outln!("{line}");
    }
    outln!("root: {} ({})", v.root.name(), v.provenance);
    outln!("verified registers:");
    for r in &v.registers {
        outln!("{} {} {}", r.id, r.value.alg(), r.value);
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
    print_ima(&v.ima, &v.ima_registers);
    outln!(
        "verified: the IMA list replays to the {} values",
        match v.root {
            Root::Tpm => "quoted PCR",
            Root::Td => "mr_ima value derived from the TD quote's RTMR",
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

fn verdict(args: &VerifyArgs) -> Result<Verdict, Rejection> {
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
        let journal = open_input(journal_path)?;
        let list = ImaInput::open(&args.ima)?;
        return verify_td(&quote_bytes, &options, &backing, journal, &list);
    }
    let attest = read_input(
        required(&args.tpm_attest, "--tpm-attest")?,
        tpm::MAX_QUOTE_FILE,
    )?;
    let sig = read_input(required(&args.tpm_sig, "--tpm-sig")?, tpm::MAX_QUOTE_FILE)?;
    let ak = read_input(required(&args.ak, "--ak")?, MAX_KEY_FILE_SIZE as u64)?;
    let pcrs = args.pcrs.as_deref().map(tpm::pcr_file).transpose()?;
    let evidence = TpmEvidence {
        attest: &attest,
        sig: &sig,
        ak: &ak,
        pcrs,
        ima_pcrs: if args.ima_pcr.is_empty() {
            vec![10]
        } else {
            args.ima_pcr.clone()
        },
    };
    let list = ImaInput::open(&args.ima)?;
    verify_tpm(&evidence, nonce.as_deref(), &list)
}

/// Run `mr verify`.
pub fn run(args: VerifyArgs) -> CmdResult {
    match verdict(&args) {
        Ok(v) => {
            if args.json {
                print_json(&verdict_json(&v));
            } else {
                print_verdict(&v);
            }
            Ok(())
        }
        Err(r) => {
            if args.json && matches!(r.failure, Failure::Rejected(_)) {
                print_json(&r.json);
            }
            Err(r.failure)
        }
    }
}

/// What [`replay_ccel_then_ima`] found.
#[derive(Debug)]
pub struct DirectReplay {
    /// The CCEL replay (computed values, not compared).
    pub ccel: mr_core::log::tcg::TcgReplayReport,
    /// The IMA replay that continued from the CCEL's end values (compared, when values were
    /// given).
    pub ima: ImaReplayReport,
    /// The final value of every register: the CCEL's, with the IMA register's replaced.
    pub registers: Vec<RegisterValue>,
}

/// Direct mode (Intel's "IMA over RTMR" kernels, as cc-api uses them): the firmware's CCEL,
/// then the IMA list extending `ima_register` with SHA-384 template digests, continuing from the
/// CCEL's end values. One verdict: with `expected`, the IMA replay (whose start values are the
/// CCEL's end values) is compared with every expected register, so registers the IMA list does
/// not extend must equal what the CCEL replayed to, and the IMA register must equal the CCEL's
/// value extended by a prefix of the list.
pub fn replay_ccel_then_ima<R: BufRead>(
    ccel_log: &[u8],
    table: Option<&mr_core::log::tcg::ccel::CcelTable>,
    cfg: &mr_core::log::tcg::TcgReplayConfig,
    list: R,
    ima_register: &MrId,
    expected: &Against,
) -> Result<DirectReplay, Error> {
    let ccel = mr_core::log::tcg::ccel::replay(ccel_log, table, cfg, &mr_core::ComputeOnly)?;
    let mut start = mr_core::replay::ReplayOptions::default();
    for rv in &ccel.outcome.registers {
        start = start.with_start(rv.id.clone(), rv.value);
    }
    let ima_cfg = ImaReplayConfig::default()
        .with_banks([HashAlg::Sha384])
        .with_target(ima_register.clone())
        .with_replay(start);
    let ima = with_reference!(expected, |r| plain(r, ima::replay(list, &ima_cfg, r)?));
    let mut registers = ccel.outcome.registers.clone();
    for rv in &ima.outcome.registers {
        match registers
            .iter_mut()
            .find(|r| r.id == rv.id && r.value.alg() == rv.value.alg())
        {
            Some(r) => r.value = rv.value,
            None => registers.push(rv.clone()),
        }
    }
    registers.sort_by(|a, b| (&a.id, a.value.alg()).cmp(&(&b.id, b.value.alg())));
    Ok(DirectReplay {
        ccel,
        ima,
        registers,
    })
}
