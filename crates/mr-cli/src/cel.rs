//! `mr cel ...`: the TCG Canonical Event Log — convert to and between its encodings, replay.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use mr_core::log::cel::{self, CelRecord, CelReplayConfig, CelReplayReport, Encoding};
use mr_core::log::ima::ImaReaderOptions;
use mr_core::log::tcg::{self, DataCheckPolicy, LogEnd, ParseOptions, RegisterSpace, Trailing};
use mr_core::replay::{PrefixPolicy, ReplayOptions};
use mr_core::{HashAlg, VerifiedRegisters};

use crate::common::{
    expected_values, print_json, print_outcome, print_rejection_json, read_input, registers_json,
    CmdResult, Failure,
};

/// Largest input accepted (1 GiB: an IMA list of a few million entries).
const MAX_INPUT: u64 = 1 << 30;

/// `mr cel` subcommands.
#[derive(Subcommand)]
pub enum CelCommand {
    /// Convert an IMA list, a PC-Client log, a CCEL or a CEL (any encoding) to a CEL encoding.
    Convert(ConvertArgs),
    /// Replay a CEL (any encoding): check every record's digest against its content where the
    /// content type allows, and print or check the final register values.
    Replay(ReplayArgs),
}

/// A CEL encoding on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum EncodingArg {
    /// CEL-TLV.
    Tlv,
    /// CEL-JSON.
    Json,
    /// CEL-CBOR.
    Cbor,
}

impl From<EncodingArg> for Encoding {
    fn from(e: EncodingArg) -> Self {
        match e {
            EncodingArg::Tlv => Encoding::Tlv,
            EncodingArg::Json => Encoding::Json,
            EncodingArg::Cbor => Encoding::Cbor,
        }
    }
}

/// What the input of `mr cel convert` is.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FromArg {
    /// An IMA measurement list (binary or ASCII).
    Ima,
    /// A TCG PC-Client event log (indexes are PCRs).
    Tcg,
    /// A CCEL log area (indexes are CC MR indexes; padding allowed).
    Ccel,
    /// CEL-TLV.
    Tlv,
    /// CEL-JSON.
    Json,
    /// CEL-CBOR.
    Cbor,
}

/// Arguments of `mr cel convert`.
#[derive(Args)]
pub struct ConvertArgs {
    /// The input (`-` reads stdin).
    pub input: PathBuf,
    /// The output encoding.
    #[arg(long, value_enum)]
    pub to: EncodingArg,
    /// The input format (default: detected: CEL JSON/CBOR/TLV, else a TCG log — a CCEL when
    /// padded or SHA-384 only — else an IMA list).
    #[arg(long, value_enum)]
    pub from: Option<FromArg>,
    /// Banks of the CEL digests (repeatable). IMA lists: computed for each (default sha1 and
    /// sha256). TCG logs: chosen among the log's banks (default all). CEL input: kept as is.
    #[arg(long, value_name = "ALG")]
    pub bank: Vec<HashAlg>,
    /// Write to this file instead of stdout.
    #[arg(short = 'o', long, value_name = "OUT")]
    pub output: Option<PathBuf>,
}

/// Arguments of `mr cel replay`.
#[derive(Args)]
pub struct ReplayArgs {
    /// The CEL (`-` reads stdin).
    pub input: PathBuf,
    /// The encoding (default: detected).
    #[arg(long, value_enum)]
    pub from: Option<EncodingArg>,
    /// Replay only this bank (repeatable; default: every bank of the records).
    #[arg(long, value_name = "ALG")]
    pub bank: Vec<HashAlg>,
    /// Expected value `ID:ALG:HEX` (repeatable), e.g. `10:sha256:…` or `rtmr3:sha384:…`.
    #[arg(long, value_name = "ID:ALG:HEX")]
    pub expect: Vec<String>,
    /// File of expected values, one `ID:ALG:HEX` per line.
    #[arg(long, value_name = "F")]
    pub expect_file: Vec<PathBuf>,
    /// The whole log must replay to the expected values (default: the shortest matching
    /// prefix, as for IMA lists).
    #[arg(long)]
    pub exact: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run an `mr cel` subcommand.
pub fn run(command: CelCommand) -> CmdResult {
    match command {
        CelCommand::Convert(args) => convert(args),
        CelCommand::Replay(args) => replay(args),
    }
}

/// Parse a TCG log for conversion: strict PC-Client, or a CCEL area (padding allowed).
fn tcg_records(
    bytes: &[u8],
    ccel: bool,
    banks: &[HashAlg],
) -> Result<Vec<CelRecord>, mr_core::Error> {
    let (opts, space) = if ccel {
        (ParseOptions::ccel(), RegisterSpace::CcMr)
    } else {
        (ParseOptions::default(), RegisterSpace::Pcr)
    };
    let log = tcg::parse(bytes, &opts)?;
    cel::from_tcg(&log, space, banks)
}

/// Detect the input format (see `--from`): CEL by its first bytes, then a TCG log — a CCEL
/// when it is padded or its only bank is SHA-384 (TDVF), else PC-Client — then an IMA list.
fn detect(bytes: &[u8]) -> FromArg {
    match cel::detect(bytes) {
        Some(Encoding::Tlv) => return FromArg::Tlv,
        Some(Encoding::Json) => return FromArg::Json,
        Some(Encoding::Cbor) => return FromArg::Cbor,
        None => {}
    }
    let padded = ParseOptions::default().with_trailing(Trailing::AllowPadding);
    if let Ok(log) = tcg::parse(bytes, &padded) {
        let ccel = matches!(log.end, LogEnd::Padding { .. }) || log.banks() == [HashAlg::Sha384];
        return if ccel { FromArg::Ccel } else { FromArg::Tcg };
    }
    FromArg::Ima
}

fn convert(args: ConvertArgs) -> CmdResult {
    let bytes = read_input(&args.input, MAX_INPUT)?;
    let from = args.from.unwrap_or_else(|| detect(&bytes));
    let records = match from {
        FromArg::Ima => cel::from_ima(&bytes[..], ImaReaderOptions::default(), &args.bank)?,
        FromArg::Tcg => tcg_records(&bytes, false, &args.bank)?,
        FromArg::Ccel => tcg_records(&bytes, true, &args.bank)?,
        FromArg::Tlv | FromArg::Json | FromArg::Cbor => {
            if !args.bank.is_empty() {
                return Err(Failure::Malformed(
                    "--bank applies to IMA and TCG input; CEL digests are kept as they are".into(),
                ));
            }
            let enc = match from {
                FromArg::Tlv => Encoding::Tlv,
                FromArg::Json => Encoding::Json,
                _ => Encoding::Cbor,
            };
            cel::decode(&bytes, enc)?
        }
    };
    let out = cel::encode(&records, args.to.into())?;
    match &args.output {
        Some(path) => std::fs::write(path, &out)
            .map_err(|e| Failure::Malformed(format!("cannot write {}: {e}", path.display())))?,
        None => std::io::stdout()
            .lock()
            .write_all(&out)
            .map_err(|e| Failure::Malformed(format!("cannot write to stdout: {e}")))?,
    }
    Ok(())
}

fn replay(args: ReplayArgs) -> CmdResult {
    let bytes = read_input(&args.input, MAX_INPUT)?;
    let enc = match args.from {
        Some(e) => e.into(),
        None => cel::detect(&bytes).ok_or_else(|| {
            Failure::Malformed(format!(
                "{} is not a CEL (TLV, JSON or CBOR); convert other logs with mr cel convert",
                args.input.display()
            ))
        })?,
    };
    let expected = expected_values(&args.expect, &args.expect_file)?;
    let mut opts = ReplayOptions::default();
    if args.exact {
        opts = opts.with_prefix(PrefixPolicy::Exact);
    }
    let cfg = CelReplayConfig::default()
        .with_banks(args.bank.clone())
        .with_replay(opts)
        .with_data_check(DataCheckPolicy::Reject);
    let report = cel::replay(&bytes, enc, &cfg, expected.as_ref()).map_err(|e| {
        print_rejection_json(&e, args.json);
        Failure::from(e)
    })?;
    if args.json {
        print_json(&report_json(&report, enc, expected.as_ref()));
    } else {
        print_human(&report, enc, expected.as_ref());
    }
    Ok(())
}

fn print_human(r: &CelReplayReport, enc: Encoding, expected: Option<&VerifiedRegisters>) {
    let banks: Vec<&str> = r.banks.iter().map(|b| b.name()).collect();
    println!(
        "cel ({enc}), {} records, banks {}",
        r.outcome.entries,
        banks.join(", ")
    );
    println!(
        "content checks: {} verified, {} not checkable, {} violations",
        r.checks.verified, r.checks.not_checkable, r.checks.violations
    );
    if let Some(l) = r.startup_locality {
        println!("pcr0 start locality: {l}");
    }
    print_outcome(&r.outcome, expected, "records");
}

fn report_json(
    r: &CelReplayReport,
    enc: Encoding,
    expected: Option<&VerifiedRegisters>,
) -> serde_json::Value {
    serde_json::json!({
        "encoding": enc.name(),
        "records": r.outcome.entries,
        "banks": r.banks.iter().map(|b| b.name()).collect::<Vec<_>>(),
        "registers": registers_json(&r.outcome.registers),
        "verified": expected.is_some(),
        "provenance": expected.map(|e| e.provenance().to_string()),
        "covered": r.outcome.covered,
        "left_over": r.outcome.covered.map(|_| r.outcome.left_over()),
        "checks": {
            "verified": r.checks.verified,
            "not_checkable": r.checks.not_checkable,
            "violations": r.checks.violations,
        },
        "startup_locality": r.startup_locality,
    })
}
