//! `mr cel ...`: the TCG Canonical Event Log — convert to and between its encodings, replay.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use mr_core::log::cel::{self, CelRecord, CelReplayConfig, CelReplayReport, CelWriter, Encoding};
use mr_core::log::ima::ImaReaderOptions;
use mr_core::log::tcg::{self, DataCheckPolicy, LogEnd, ParseOptions, RegisterSpace, Trailing};
use mr_core::replay::{PrefixPolicy, ReplayOptions};
use mr_core::wire::Prefixed;
use mr_core::{ComputeOnly, HashAlg, Reference};

use crate::common::{
    compared_with, expected_values, open_input, print_json, print_outcome, print_rejection_json,
    provenance_text, registers_json, CmdResult, Failure,
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

/// Bytes read ahead to detect a CEL encoding ([`cel::detect`] needs the first two TLV heads, or
/// the first non-blank byte of JSON).
const PEEK: usize = 4096;

/// The input named on the command line, its first bytes read for detection
/// ([`Prefixed::peek`]): reading it gives the whole input (the bytes read ahead, then the rest),
/// so the input is read once, front to back.
struct Peeked(Prefixed<Box<dyn BufRead>>);

impl Peeked {
    fn open(path: &Path) -> Result<Peeked, Failure> {
        let mut input = Prefixed::new(open_input(path)?);
        input
            .peek(PEEK)
            .map_err(|e| Failure::Malformed(format!("cannot read {}: {e}", path.display())))?;
        Ok(Peeked(input))
    }

    /// The bytes read ahead.
    fn head(&self) -> &[u8] {
        self.0.buffered()
    }

    /// The whole input, streamed.
    fn reader(self) -> impl BufRead {
        self.0
    }

    /// The whole input in memory (at most [`MAX_INPUT`] bytes), for the formats read whole.
    fn into_bytes(self, path: &Path) -> Result<Vec<u8>, Failure> {
        let mut bytes = Vec::new();
        self.0
            .take(MAX_INPUT + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::Malformed(format!("cannot read {}: {e}", path.display())))?;
        if bytes.len() as u64 > MAX_INPUT {
            return Err(Failure::Malformed(format!(
                "{} is larger than {MAX_INPUT} bytes",
                path.display()
            )));
        }
        Ok(bytes)
    }
}

/// Detect the input format (see `--from`) from its first bytes when it is a CEL; else read it
/// whole and try a TCG log — a CCEL when it is padded or its only bank is SHA-384 (TDVF), else
/// PC-Client — then an IMA list.
fn detect(input: Peeked, path: &Path) -> Result<(FromArg, Input), Failure> {
    match cel::detect(input.head()) {
        Some(Encoding::Tlv) => return Ok((FromArg::Tlv, Input::Stream(input))),
        Some(Encoding::Json) => return Ok((FromArg::Json, Input::Stream(input))),
        Some(Encoding::Cbor) => return Ok((FromArg::Cbor, Input::Stream(input))),
        None => {}
    }
    let bytes = input.into_bytes(path)?;
    let padded = ParseOptions::default().with_trailing(Trailing::AllowPadding);
    let from = match tcg::parse(&bytes, &padded) {
        Ok(log)
            if matches!(log.end, LogEnd::Padding { .. }) || log.banks() == [HashAlg::Sha384] =>
        {
            FromArg::Ccel
        }
        Ok(_) => FromArg::Tcg,
        Err(_) => FromArg::Ima,
    };
    Ok((from, Input::Bytes(bytes)))
}

/// An input still to be read, or read whole (to detect its format).
enum Input {
    Stream(Peeked),
    Bytes(Vec<u8>),
}

impl Input {
    fn reader(self) -> Box<dyn BufRead> {
        match self {
            Input::Stream(p) => Box::new(p.reader()),
            Input::Bytes(b) => Box::new(std::io::Cursor::new(b)),
        }
    }

    fn into_bytes(self, path: &Path) -> Result<Vec<u8>, Failure> {
        match self {
            Input::Stream(p) => p.into_bytes(path),
            Input::Bytes(b) => Ok(b),
        }
    }
}

/// Convert, writing each record as it is read: CEL and IMA input stream (memory is one record);
/// a TCG log or CCEL is parsed whole (at most [`MAX_INPUT`] bytes), then written record by
/// record. When the input turns out bad, an output file (`-o`) is removed rather than left
/// with the records before the fault (stdout has them: it cannot be taken back).
fn convert(args: ConvertArgs) -> CmdResult {
    let result = write_converted(&args);
    if let (Err(_), Some(path)) = (&result, &args.output) {
        let _ = std::fs::remove_file(path);
    }
    result
}

fn write_converted(args: &ConvertArgs) -> CmdResult {
    let peeked = Peeked::open(&args.input)?;
    let (from, input) = match args.from {
        Some(f) => (f, Input::Stream(peeked)),
        None => detect(peeked, &args.input)?,
    };
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| Failure::Malformed(format!("cannot write {}: {e}", path.display())))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut writer = CelWriter::new(out, args.to.into());
    let mut write = |r: CelRecord| writer.write(&r);
    match from {
        FromArg::Ima => {
            cel::visit_ima(
                input.reader(),
                ImaReaderOptions::default(),
                &args.bank,
                write,
            )?;
        }
        FromArg::Tcg | FromArg::Ccel => {
            let bytes = input.into_bytes(&args.input)?;
            let (opts, space) = if from == FromArg::Ccel {
                (ParseOptions::ccel(), RegisterSpace::CcMr)
            } else {
                (ParseOptions::default(), RegisterSpace::Pcr)
            };
            let log = tcg::parse(&bytes, &opts)?;
            for r in cel::from_tcg(&log, space, &args.bank)? {
                write(r)?;
            }
        }
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
            cel::read_records(input.reader(), enc, write)?;
        }
    }
    writer.finish()?;
    Ok(())
}

/// Replay, each record as it is read (memory is one record and the registers).
fn replay(args: ReplayArgs) -> CmdResult {
    match expected_values(&args.expect, &args.expect_file)? {
        Some(expected) => replay_against(args, &expected),
        None => replay_against(args, &ComputeOnly),
    }
}

fn replay_against<R: Reference>(args: ReplayArgs, expected: &R) -> CmdResult {
    let input = Peeked::open(&args.input)?;
    let enc = match args.from {
        Some(e) => e.into(),
        None => cel::detect(input.head()).ok_or_else(|| {
            Failure::Malformed(format!(
                "{} is not a CEL (TLV, JSON or CBOR); convert other logs with mr cel convert",
                args.input.display()
            ))
        })?,
    };
    let mut opts = ReplayOptions::default();
    if args.exact {
        opts = opts.with_prefix(PrefixPolicy::Exact);
    }
    let cfg = CelReplayConfig::default()
        .with_banks(args.bank.clone())
        .with_replay(opts)
        .with_data_check(DataCheckPolicy::Reject);
    let report = cel::replay(input.reader(), enc, &cfg, expected)
        .map(R::into_report)
        .map_err(|e| {
            print_rejection_json(&e, args.json);
            Failure::from(e)
        })?;
    if args.json {
        print_json(&report_json(&report, enc, expected));
    } else {
        print_human(&report, enc, expected);
    }
    Ok(())
}

fn print_human(r: &CelReplayReport, enc: Encoding, expected: &impl Reference) {
    let banks: Vec<&str> = r.banks.iter().map(|b| b.name()).collect();
    outln!(
        "cel ({enc}), {} records, banks {}",
        r.outcome.entries,
        banks.join(", ")
    );
    outln!(
        "content checks: {} verified, {} not checkable, {} violations",
        r.checks.verified,
        r.checks.not_checkable,
        r.checks.violations
    );
    if let Some(first) = r.checks.first_not_covered {
        outln!(
            "not covered by a verified value: {} records (first: recnum {first})",
            r.checks.not_covered
        );
    }
    if let Some(l) = r.startup_locality {
        outln!("pcr0 start locality: {l}");
    }
    print_outcome(&r.outcome, compared_with(expected), "records");
}

fn report_json(r: &CelReplayReport, enc: Encoding, expected: &impl Reference) -> serde_json::Value {
    serde_json::json!({
        "encoding": enc.name(),
        "records": r.outcome.entries,
        "banks": r.banks.iter().map(|b| b.name()).collect::<Vec<_>>(),
        "registers": registers_json(&r.outcome.registers),
        "verified": expected.expected().is_some(),
        "provenance": expected.expected().map(|_| provenance_text(expected)),
        "covered": r.outcome.covered,
        "left_over": r.outcome.covered.map(|_| r.outcome.left_over()),
        "checks": {
            "verified": r.checks.verified,
            "not_checkable": r.checks.not_checkable,
            "violations": r.checks.violations,
            "not_covered": r.checks.not_covered,
            "first_not_covered": r.checks.first_not_covered,
        },
        "startup_locality": r.startup_locality,
    })
}
