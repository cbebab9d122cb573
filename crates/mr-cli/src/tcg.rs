//! `mr tcg ...`: TCG PC-Client event logs and the TDX CCEL.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mr_attest::{BootLogView, Ccel, ComparedWith, DirectView, Evidence, ImaList};
use mr_core::log::tcg::{self, ccel, TcgReplayConfig};
use mr_core::{ComputeOnly, HashAlg, MrId, Reference};

use crate::args::{ExpectArgs, NonceArgs, OutputArgs, TdQuoteArgs};
use crate::common::{
    open_input, print_json, print_lines, print_rejection_json, read_input, CmdResult, Failure,
};

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

/// Arguments of `mr tcg replay`. The TD quote's options and the nonce need `--td-quote`.
#[derive(Args)]
#[command(
    mut_group("TdQuoteArgs", |g| g.requires("td_quote")),
    mut_group("NonceArgs", |g| g.requires("td_quote")),
)]
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
    /// How --td-quote is verified.
    #[command(flatten)]
    pub td: TdQuoteArgs,
    #[command(flatten)]
    pub nonce: NonceArgs,
    /// Replay only this bank (repeatable; default: every bank of the log).
    #[arg(long, value_name = "ALG")]
    pub bank: Vec<HashAlg>,
    #[command(flatten)]
    pub expect: ExpectArgs,
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
    /// The replay-only mode, for inspecting logs of firmware with known deviations (never for a
    /// verifier): records whose checkable data disagrees with their digest are only reported
    /// (e.g. Secure Boot variables hashed over their value only), and a PC-Client Spec ID
    /// record may carry a non-zero digest (OpenPOWER Hostboot).
    #[arg(long)]
    pub report_data_mismatch: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Run an `mr tcg` subcommand.
pub fn run(command: TcgCommand) -> CmdResult {
    match command {
        TcgCommand::Replay(args) => replay(args),
    }
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
        if !ccel_mode {
            cfg.parse = cfg.parse.with_spec_id_digest(tcg::SpecIdDigest::Any);
        }
    }
    if args.td_quote.is_some() || args.ima.is_some() {
        let ccel = Ccel {
            log,
            table,
            config: cfg,
            ima_register,
        };
        return match &args.td_quote {
            Some(quote_path) => replay_with_td_quote(&args, quote_path, ccel),
            None => match args.expect.values()? {
                Some(e) => direct_mode(&args, &ccel, &e),
                None => direct_mode(&args, &ccel, &ComputeOnly),
            },
        };
    }
    let log = Log {
        bytes: &log,
        table: table.as_ref(),
        config: &cfg,
        ccel: ccel_mode,
    };
    match args.expect.values()? {
        Some(e) => replay_against(&args, &log, &e),
        None => replay_against(&args, &log, &ComputeOnly),
    }
}

/// The log to replay and how.
struct Log<'a> {
    bytes: &'a [u8],
    table: Option<&'a ccel::CcelTable>,
    config: &'a TcgReplayConfig,
    /// A CCEL ([`ccel::replay`]) rather than a PC-Client log ([`tcg::replay`]).
    ccel: bool,
}

/// The log replayed against asserted values (`--expect`) or none.
fn replay_against<R: Reference>(args: &ReplayArgs, log: &Log<'_>, reference: &R) -> CmdResult {
    let result = if log.ccel {
        ccel::replay(log.bytes, log.table, log.config, reference)
    } else {
        tcg::replay(log.bytes, log.config, reference)
    };
    let report = result.map(R::into_report).map_err(|e| {
        print_rejection_json(&e, args.output.json);
        Failure::from(e)
    })?;
    print_view(
        args,
        &BootLogView {
            replay: &report,
            table: log.table,
            compared: ComparedWith::of(reference),
            td_attributes: None,
            direct: None,
        },
    );
    Ok(())
}

/// `mr tcg replay LOG --ima LIST` against asserted values (`--expect`) or none: direct mode
/// ([`mr_attest::replay_ccel_then_ima`]).
fn direct_mode<R: Reference>(args: &ReplayArgs, ccel: &Ccel, reference: &R) -> CmdResult {
    let Some(list) = &args.ima else {
        return Err(Failure::Malformed("direct mode needs --ima".into()));
    };
    let input = ImaList::from_reader(open_input(list)?);
    let r = mr_attest::replay_ccel_then_ima(ccel, input, reference).map_err(|e| {
        print_rejection_json(&e, args.output.json);
        Failure::from(e)
    })?;
    print_view(
        args,
        &BootLogView {
            replay: &r.ccel,
            table: ccel.table.as_ref(),
            compared: ComparedWith::of(reference),
            td_attributes: None,
            direct: Some(DirectView {
                ima: &r.ima,
                registers: &r.registers,
                register: &ccel.ima_register,
            }),
        },
    );
    Ok(())
}

/// `mr tcg replay --td-quote Q LOG [--ima LIST]`: [`mr_attest::verify`](fn@mr_attest::verify) with the CCEL (and in
/// direct mode the IMA list), printed as the replay against asserted values is
/// ([`mr_attest::AttestationResult::boot_log_view`]).
fn replay_with_td_quote(args: &ReplayArgs, quote_path: &std::path::Path, ccel: Ccel) -> CmdResult {
    let quote = args.td.evidence(quote_path, args.nonce.value()?)?;
    let mut evidence = Evidence::td(quote.with_ccel(ccel));
    if let Some(list) = &args.ima {
        evidence = evidence.with_ima(ImaList::from_reader(open_input(list)?));
    }
    let result = mr_attest::verify(evidence).map_err(crate::verify::malformed)?;
    if let Some(f) = &result.failure {
        if let (true, Some(details)) = (args.output.json, &f.details) {
            print_json(details);
        }
        return Err(Failure::Rejected(f.message.clone()));
    }
    let view = result.boot_log_view().ok_or_else(|| {
        Failure::Malformed("the TD quote verified but the CCEL was not replayed".into())
    })?;
    print_view(args, &view);
    Ok(())
}

fn print_view(args: &ReplayArgs, view: &BootLogView<'_>) {
    if args.output.json {
        print_json(&view.to_json());
    } else {
        print_lines(&view.lines());
    }
}
