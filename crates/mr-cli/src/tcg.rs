//! `mr tcg ...`: TCG PC-Client event logs and the TDX CCEL.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mr_core::log::tcg::{self, ccel, LogEnd, LogFormat, TcgReplayConfig, TcgReplayReport};
use mr_core::{HashAlg, MrId, VerifiedRegisters};
use mr_rtmr::quote::{self, TdAttributes};

use crate::common::{
    expected_values, plain, print_json, print_outcome, print_rejection_json, read_input,
    registers_json, with_reference, Against, CmdResult, Failure,
};
use crate::{tdx, verify};

/// Largest log file accepted (16 MiB: CCEL areas are 64-256 KiB, PC-Client logs tens of KiB;
/// the parsed records take a few times the log size in memory).
const MAX_LOG_FILE: u64 = 16 << 20;
/// Largest CCEL ACPI table file accepted (the table is 56 bytes).
const MAX_TABLE_FILE: u64 = 4096;

/// `mr tcg` subcommands.
#[derive(Subcommand)]
pub enum TcgCommand {
    /// Replay a PC-Client event log (or a CCEL log area) and print or check the final values.
    Replay(ReplayArgs),
}

/// Arguments of `mr tcg replay`.
#[derive(Args)]
pub struct ReplayArgs {
    /// The log: `binary_bios_measurements`, or with --ccel / --ccel-table the CCEL log area
    /// (`/sys/firmware/acpi/tables/data/CCEL`); `-` reads stdin.
    pub log: PathBuf,
    /// LOG is a CCEL log area: indexes are CC MR indexes (rtmrN = index-1), SHA-384, padding
    /// after the last record allowed.
    #[arg(long, conflicts_with = "ccel_table")]
    pub ccel: bool,
    /// The CCEL ACPI table (`/sys/firmware/acpi/tables/CCEL`): validated, and its LAML bounds
    /// the log. Implies --ccel.
    #[arg(long, value_name = "F")]
    pub ccel_table: Option<PathBuf>,
    /// A TD quote (binary or hex) to verify; the log is replayed against its verified RTMRs:
    /// RTMR 0-2, and RTMR 3 when the log extends it (implies --ccel).
    #[arg(long, value_name = "Q", conflicts_with_all = ["expect", "expect_file"])]
    pub td_quote: Option<PathBuf>,
    /// Root CA certificate for --td-quote (default: the built-in Intel SGX Root CA).
    #[arg(long, value_name = "F", requires = "td_quote")]
    pub root: Option<PathBuf>,
    /// Verification time for --td-quote, RFC 3339.
    #[arg(long, value_name = "RFC3339", requires = "td_quote")]
    pub at: Option<String>,
    /// Nonce for --td-quote (hex): REPORTDATA must equal it zero-padded to 64 bytes.
    #[arg(long, value_name = "HEX", requires = "td_quote")]
    pub nonce: Option<String>,
    /// DCAP collateral for --td-quote.
    #[arg(long, value_name = "F", requires = "td_quote")]
    pub collateral: Option<PathBuf>,
    /// Accept a debug TD for --td-quote (TD attributes DEBUG set). Refused by default.
    #[arg(long, requires = "td_quote")]
    pub allow_debug: bool,
    /// Replay only this bank (repeatable; default: every bank of the log).
    #[arg(long, value_name = "ALG")]
    pub bank: Vec<HashAlg>,
    /// Expected value `ID:ALG:HEX` (repeatable), e.g. `0:sha256:…` or `rtmr1:sha384:…`.
    #[arg(long, value_name = "ID:ALG:HEX")]
    pub expect: Vec<String>,
    /// File of expected values, one `ID:ALG:HEX` per line.
    #[arg(long, value_name = "F")]
    pub expect_file: Vec<PathBuf>,
    /// Direct mode (Intel's "IMA over RTMR" kernels): after the CCEL, replay this IMA list
    /// (binary or ASCII) into --ima-register with SHA-384 template digests, continuing from the
    /// CCEL's end values; the values given (--expect, --td-quote) are checked once, at the end.
    /// Implies --ccel.
    #[arg(long, value_name = "LIST")]
    pub ima: Option<PathBuf>,
    /// The register IMA extends in direct mode (default rtmr2, as Intel's kernels do).
    #[arg(long, value_name = "ID", requires = "ima")]
    pub ima_register: Option<String>,
    /// Work around firmware that omits the two Exit Boot Services events of PCR 5: append them
    /// (against verified values only when PCR 5 does not match without them). Off by default.
    #[arg(long)]
    pub missing_ebs_workaround: bool,
    /// Only report records whose checkable data disagrees with their digest, instead of
    /// rejecting the log (for inspecting logs; never for a verifier).
    #[arg(long)]
    pub report_data_mismatch: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run an `mr tcg` subcommand.
pub fn run(command: TcgCommand) -> CmdResult {
    match command {
        TcgCommand::Replay(args) => replay(args),
    }
}

fn format_name(f: LogFormat) -> &'static str {
    match f {
        LogFormat::CryptoAgile => "crypto-agile",
        LogFormat::Sha1 => "sha1",
    }
}

/// The RTMRs of a verified TD quote that a CCEL replay is compared with: RTMR 0-2 always (the
/// firmware's), RTMR 3 only when the log extends it (otherwise it holds runtime measurements the
/// CCEL does not cover). MRTD and the static registers are not log-derived and are left out.
/// Also returns the quote's TD attributes, for the verdict.
fn td_quote_registers(
    args: &ReplayArgs,
    quote_path: &std::path::Path,
    log_extends_rtmr3: bool,
) -> Result<(VerifiedRegisters, TdAttributes), Failure> {
    let options = tdx::verify_options(
        args.at.as_deref(),
        args.nonce.as_deref(),
        args.root.as_deref(),
        args.collateral.as_deref(),
        args.allow_debug,
    )?;
    let bytes = tdx::decode_quote_file(read_input(quote_path, tdx::MAX_QUOTE_FILE)?)?;
    let verified = quote::verify(&bytes, &options).map_err(tdx::failure)?;
    let td_attributes = verified.td_attributes();
    let all = verified.into_registers();
    let rtmrs = all.select(|id, _| match id {
        MrId::Rtmr(0..=2) => true,
        MrId::Rtmr(3) => log_extends_rtmr3,
        _ => false,
    });
    Ok((rtmrs, td_attributes))
}

/// True when the CCEL `log` has a record that extends RTMR 3 (CC MR index 4).
fn extends_rtmr3(
    log: &[u8],
    table: Option<&ccel::CcelTable>,
    cfg: &TcgReplayConfig,
) -> Result<bool, Failure> {
    let area = table.map_or(log, |t| t.log_area(log));
    let parsed = tcg::parse(area, &cfg.parse)?;
    Ok(parsed
        .events
        .iter()
        .any(|e| e.index == 4 && !e.is_no_action()))
}

fn replay(args: ReplayArgs) -> CmdResult {
    let ccel_mode =
        args.ccel || args.ccel_table.is_some() || args.td_quote.is_some() || args.ima.is_some();
    let ima_register = match &args.ima_register {
        Some(s) => s
            .parse::<MrId>()
            .map_err(|e| Failure::Malformed(format!("--ima-register: {e}")))?,
        None => MrId::Rtmr(2),
    };
    let table = match &args.ccel_table {
        Some(path) => Some(ccel::CcelTable::parse(&read_input(path, MAX_TABLE_FILE)?)?),
        None => None,
    };
    let log = read_input(&args.log, MAX_LOG_FILE)?;

    let base = if ccel_mode {
        TcgReplayConfig::ccel()
    } else {
        TcgReplayConfig::pc_client()
    };
    let mut cfg = if args.bank.is_empty() {
        base
    } else {
        base.with_banks(args.bank.clone())
    };
    if args.missing_ebs_workaround {
        cfg.missing_ebs = tcg::MissingExitBootServices::AppendToPcr5;
    }
    if args.report_data_mismatch {
        cfg.data_check = tcg::DataCheckPolicy::Report;
    }
    let (expected, td_attributes) = if let Some(quote_path) = &args.td_quote {
        let ima_extends_rtmr3 = args.ima.is_some() && ima_register == MrId::Rtmr(3);
        let (rtmrs, td_attributes) = td_quote_registers(
            &args,
            quote_path,
            ima_extends_rtmr3 || extends_rtmr3(&log, table.as_ref(), &cfg)?,
        )?;
        (Against::Verified(rtmrs), Some(td_attributes))
    } else {
        (
            Against::expected(expected_values(&args.expect, &args.expect_file)?),
            None,
        )
    };
    if let Some(list) = &args.ima {
        return direct_mode(
            &args,
            &log,
            table.as_ref(),
            &cfg,
            list,
            &ima_register,
            Expected {
                values: expected,
                td_attributes,
            },
        );
    }
    let result = with_reference!(&expected, |r| if ccel_mode {
        ccel::replay(&log, table.as_ref(), &cfg, r).map(|o| plain(r, o))
    } else {
        tcg::replay(&log, &cfg, r).map(|o| plain(r, o))
    });
    let report = result.map_err(|e| {
        print_rejection_json(&e, args.json);
        Failure::from(e)
    })?;
    if args.json {
        let mut j = report_json(&report, &expected, table.as_ref());
        if let Some(a) = td_attributes {
            tdx::add_td_attributes_json(&mut j, a);
        }
        print_json(&j);
    } else {
        if let Some(a) = td_attributes {
            outln!("td quote {}", tdx::td_attributes_line(a));
        }
        print_human(&report, &expected, table.as_ref());
    }
    Ok(())
}

fn end_text(end: &LogEnd) -> String {
    match end {
        LogEnd::EndOfInput => "end of input".into(),
        LogEnd::Padding { offset, len, fill } => {
            format!("{len} bytes of {fill:#04x} padding at offset {offset}")
        }
    }
}

fn print_human(report: &TcgReplayReport, expected: &Against, table: Option<&ccel::CcelTable>) {
    if let Some(t) = table {
        outln!(
            "ccel table: cc type {}, subtype {}, log area {} bytes at {:#x}",
            t.cc_type,
            t.cc_subtype,
            t.log_area_min_len,
            t.log_area_start
        );
    }
    let banks: Vec<&str> = report.banks.iter().map(|b| b.name()).collect();
    outln!(
        "{} log, banks {}, {} events, ended at {}",
        format_name(report.format),
        banks.join(", "),
        report.outcome.entries,
        end_text(&report.end)
    );
    if let Some(l) = report.startup_locality {
        outln!("pcr0 start locality: {l}");
    }
    print_outcome(
        &report.outcome,
        expected.values().zip(expected.provenance()),
        "events",
    );
    if let Some(line) = crate::ima::not_covered_line(&report.outcome, ("event", "events")) {
        outln!("{line}");
    }
}

fn report_json(
    report: &TcgReplayReport,
    expected: &Against,
    table: Option<&ccel::CcelTable>,
) -> serde_json::Value {
    let end = match report.end {
        LogEnd::EndOfInput => serde_json::json!({"kind": "end_of_input"}),
        LogEnd::Padding { offset, len, fill } => {
            serde_json::json!({"kind": "padding", "offset": offset, "len": len, "fill": fill})
        }
    };
    serde_json::json!({
        "format": format_name(report.format),
        "banks": report.banks.iter().map(|b| b.name()).collect::<Vec<_>>(),
        "events": report.outcome.entries,
        "end": end,
        "startup_locality": report.startup_locality,
        "registers": registers_json(&report.outcome.registers),
        "verified": expected.values().is_some(),
        "provenance": expected.provenance(),
        "covered": report.outcome.covered,
        "not_covered": crate::ima::not_covered_json(&report.outcome),
        "ccel_table": table.map(|t| serde_json::json!({
            "cc_type": t.cc_type.0,
            "cc_subtype": t.cc_subtype,
            "log_area_min_len": t.log_area_min_len,
            "log_area_start": t.log_area_start,
        })),
    })
}

/// What a replay is checked against: `--expect` values, or a TD quote's verified RTMRs with the
/// quote's TD attributes (shown in the verdict).
struct Expected {
    values: Against,
    td_attributes: Option<TdAttributes>,
}

/// `mr tcg replay --ccel LOG --ima LIST`: the CCEL, then the IMA list into the same registers
/// (see [`verify::replay_ccel_then_ima`]).
fn direct_mode(
    args: &ReplayArgs,
    log: &[u8],
    table: Option<&ccel::CcelTable>,
    cfg: &TcgReplayConfig,
    list: &std::path::Path,
    ima_register: &MrId,
    expected: Expected,
) -> CmdResult {
    let Expected {
        values: expected,
        td_attributes,
    } = expected;
    let input = crate::common::open_input(list)?;
    let r = verify::replay_ccel_then_ima(log, table, cfg, input, ima_register, &expected).map_err(
        |e| {
            print_rejection_json(&e, args.json);
            Failure::from(e)
        },
    )?;
    let covered = r.ima.outcome.covered.unwrap_or(r.ima.entries);
    if args.json {
        let mut j = report_json(&r.ccel, &expected, table);
        j["registers"] = registers_json(&r.registers);
        if let Some(a) = td_attributes {
            tdx::add_td_attributes_json(&mut j, a);
        }
        j["ima"] = serde_json::json!({
            "register": ima_register.to_string(),
            "entries": r.ima.entries,
            "covered": covered,
            "left_over": r.ima.entries - covered.min(r.ima.entries),
            "violations": r.ima.violations,
        });
        print_json(&j);
    } else {
        if let Some(a) = td_attributes {
            outln!("td quote {}", tdx::td_attributes_line(a));
        }
        outln!(
            "ccel: {} events; ima: {} entries into {ima_register} ({} violations)",
            r.ccel.outcome.entries,
            r.ima.entries,
            r.ima.violations
        );
        for v in &r.registers {
            outln!("{v}");
        }
        if let (Some(e), Some(provenance)) = (expected.values(), expected.provenance()) {
            outln!(
                "verified: {} values ({}) reached after all {} CCEL events and {covered} of {} \
                 IMA entries",
                e.len(),
                provenance,
                r.ccel.outcome.entries,
                r.ima.entries
            );
        }
    }
    Ok(())
}
