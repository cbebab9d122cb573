//! `mr tcg ...`: TCG PC-Client event logs and the TDX CCEL.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mr_core::log::tcg::{self, ccel, LogEnd, LogFormat, TcgReplayConfig, TcgReplayReport};
use mr_core::{Error, HashAlg, VerifiedRegisters};

use crate::common::{expected_values, print_json, read_input, registers_json, CmdResult, Failure};

/// Largest log file accepted (64 MiB: CCEL areas are 64-256 KiB, PC-Client logs tens of KiB).
const MAX_LOG_FILE: u64 = 64 << 20;
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
    /// A TD quote to verify; the log is replayed against its verified RTMRs (implies --ccel).
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
    /// Replay only this bank (repeatable; default: every bank of the log).
    #[arg(long, value_name = "ALG")]
    pub bank: Vec<HashAlg>,
    /// Expected value `ID:ALG:HEX` (repeatable), e.g. `0:sha256:…` or `rtmr1:sha384:…`.
    #[arg(long, value_name = "ID:ALG:HEX")]
    pub expect: Vec<String>,
    /// File of expected values, one `ID:ALG:HEX` per line.
    #[arg(long, value_name = "F")]
    pub expect_file: Vec<PathBuf>,
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

/// Verified RTMRs of a TD quote.
fn td_quote_registers(args: &ReplayArgs) -> Result<Option<VerifiedRegisters>, Failure> {
    match &args.td_quote {
        None => Ok(None),
        Some(_) => Err(Failure::Malformed(
            "--td-quote is not supported yet (TD quote verification is not wired into `mr tcg replay`); \
             verify the quote with `mr quote verify tdx` and pass its RTMRs with --expect"
                .into(),
        )),
    }
}

fn replay(args: ReplayArgs) -> CmdResult {
    let ccel_mode = args.ccel || args.ccel_table.is_some() || args.td_quote.is_some();
    let table = match &args.ccel_table {
        Some(path) => Some(ccel::CcelTable::parse(&read_input(path, MAX_TABLE_FILE)?)?),
        None => None,
    };
    let expected = match td_quote_registers(&args)? {
        Some(v) => Some(v),
        None => expected_values(&args.expect, &args.expect_file)?,
    };
    let log = read_input(&args.log, MAX_LOG_FILE)?;

    let base = if ccel_mode {
        TcgReplayConfig::ccel()
    } else {
        TcgReplayConfig::pc_client()
    };
    let cfg = if args.bank.is_empty() {
        base
    } else {
        base.with_banks(args.bank.clone())
    };
    let result = if ccel_mode {
        ccel::replay(&log, table.as_ref(), &cfg, expected.as_ref())
    } else {
        tcg::replay(&log, &cfg, expected.as_ref())
    };
    let report = match result {
        Ok(r) => r,
        Err(Error::Replay(e)) if args.json => {
            let mismatches: Vec<serde_json::Value> = e
                .mismatches
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "id": m.register.to_string(),
                        "alg": m.alg.name(),
                        "expected": m.expected.to_hex(),
                        "computed": m.computed.to_hex(),
                        "events": m.events,
                    })
                })
                .collect();
            print_json(&serde_json::json!({
                "verified": false,
                "events": e.entries_replayed,
                "mismatches": mismatches,
            }));
            return Err(Error::Replay(e).into());
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        print_json(&report_json(&report, expected.as_ref(), table.as_ref()));
    } else {
        print_human(&report, expected.as_ref(), table.as_ref());
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

fn print_human(
    report: &TcgReplayReport,
    expected: Option<&VerifiedRegisters>,
    table: Option<&ccel::CcelTable>,
) {
    if let Some(t) = table {
        println!(
            "ccel table: cc type {}, subtype {}, log area {} bytes at {:#x}",
            t.cc_type, t.cc_subtype, t.log_area_min_len, t.log_area_start
        );
    }
    let banks: Vec<&str> = report.banks.iter().map(|b| b.name()).collect();
    println!(
        "{} log, banks {}, {} events, ended at {}",
        format_name(report.format),
        banks.join(", "),
        report.outcome.entries,
        end_text(&report.end)
    );
    if let Some(l) = report.startup_locality {
        println!("pcr0 start locality: {l}");
    }
    for v in &report.outcome.registers {
        println!("{v}");
    }
    if let Some(e) = expected {
        println!(
            "verified: {} values ({}) reached after {} of {} events",
            e.len(),
            e.provenance(),
            report.outcome.covered.unwrap_or(report.outcome.entries),
            report.outcome.entries
        );
    }
}

fn report_json(
    report: &TcgReplayReport,
    expected: Option<&VerifiedRegisters>,
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
        "verified": expected.is_some(),
        "provenance": expected.map(|e| e.provenance().to_string()),
        "covered": report.outcome.covered,
        "ccel_table": table.map(|t| serde_json::json!({
            "cc_type": t.cc_type.0,
            "cc_subtype": t.cc_subtype,
            "log_area_min_len": t.log_area_min_len,
            "log_area_start": t.log_area_start,
        })),
    })
}
