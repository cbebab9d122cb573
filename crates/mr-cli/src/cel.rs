//! `mr cel ...`: the TCG Canonical Event Log — convert to and between its encodings, replay.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use mr_attest::{CelReplayView, ComparedWith};
use mr_core::log::cel::{self, CelReplayConfig, CelWriter, Encoding, Source};
use mr_core::log::tcg::DataCheckPolicy;
use mr_core::replay::{PrefixPolicy, ReplayOptions};
use mr_core::wire::Prefixed;
use mr_core::{ComputeOnly, Error, HashAlg, Reference};

use crate::args::{ExpectArgs, OutputArgs};
use crate::common::{
    open_input, print_json, print_lines, print_rejection_json, CmdResult, Failure,
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
    #[command(flatten)]
    pub expect: ExpectArgs,
    /// The whole log must replay to the expected values (default: the shortest matching
    /// prefix, as for IMA lists).
    #[arg(long)]
    pub exact: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Run an `mr cel` subcommand.
pub fn run(command: CelCommand) -> CmdResult {
    match command {
        CelCommand::Convert(args) => convert(args),
        CelCommand::Replay(args) => replay(args),
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
    let from = args.from.map(|f| match f {
        FromArg::Ima => Source::Ima,
        FromArg::Tcg => Source::Tcg,
        FromArg::Ccel => Source::Ccel,
        FromArg::Tlv => Source::Cel(Encoding::Tlv),
        FromArg::Json => Source::Cel(Encoding::Json),
        FromArg::Cbor => Source::Cel(Encoding::Cbor),
    });
    let input = open_input(&args.input)?;
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| Failure::Malformed(format!("cannot write {}: {e}", path.display())))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut writer = CelWriter::new(out, args.to.into());
    cel::convert(input, from, &args.bank, MAX_INPUT, |r| writer.write(&r))?;
    writer.finish()?;
    Ok(())
}

/// Replay, each record as it is read (memory is one record and the registers).
fn replay(args: ReplayArgs) -> CmdResult {
    match args.expect.values()? {
        Some(expected) => replay_against(args, &expected),
        None => replay_against(args, &ComputeOnly),
    }
}

fn replay_against<R: Reference>(args: ReplayArgs, expected: &R) -> CmdResult {
    let mut input = Prefixed::new(open_input(&args.input)?);
    let enc = match args.from {
        Some(e) => e.into(),
        None => cel::detect(input.peek(cel::DETECT_LEN).map_err(Error::Io)?).ok_or_else(|| {
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
    let report = cel::replay(input, enc, &cfg, expected)
        .map(R::into_report)
        .map_err(|e| {
            print_rejection_json(&e, args.output.json);
            Failure::from(e)
        })?;
    let view = CelReplayView {
        replay: &report,
        encoding: enc,
        compared: ComparedWith::of(expected),
    };
    if args.output.json {
        print_json(&view.to_json());
    } else {
        print_lines(&view.lines());
    }
    Ok(())
}
