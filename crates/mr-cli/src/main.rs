//! `mr`: the command-line tool (docs/cli.md). Thin: parses arguments, calls the libraries, prints.
//!
//! Exit codes: 0 verified, 1 evidence rejected, 2 malformed input or usage error.

#![forbid(unsafe_code)]
// Output goes through `outln!`/`out!`/`errln!` below, never `println!` and friends, which panic
// (exit 101) when the stream is closed.
#![deny(clippy::print_stdout, clippy::print_stderr)]

/// `println!` that cannot panic: a closed or failing standard output (`mr … | head`) loses the
/// text but never changes the exit code, which is the verdict (0 verified, 1 rejected,
/// 2 malformed). Defined before the modules so that every module can use it.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` that cannot panic (see `outln!`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that cannot panic (see `outln!`).
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod agent;
mod appraise;
mod args;
mod cel;
mod common;
#[cfg(feature = "demo")]
mod demo;
mod ima;
mod shards;
mod tcg;
mod tdx;
mod tpm;
mod verify;
mod vtpm;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Measured-boot and runtime attestation: replay measurement logs and verify quotes.
#[derive(Parser)]
#[command(name = "mr", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Linux IMA measurement lists.
    Ima {
        #[command(subcommand)]
        command: ima::ImaCommand,
    },
    /// TCG PC-Client event logs and the TDX CCEL.
    Tcg {
        #[command(subcommand)]
        command: tcg::TcgCommand,
    },
    /// The TCG Canonical Event Log (TLV, JSON, CBOR): convert, replay.
    Cel {
        #[command(subcommand)]
        command: cel::CelCommand,
    },
    /// Quotes: TPM, TDX and Azure vTPM.
    Quote {
        #[command(subcommand)]
        command: QuoteCommand,
    },
    /// IMA runtime policies (keylime format): create.
    Policy {
        #[command(subcommand)]
        command: appraise::PolicyCommand,
    },
    /// Verify an IMA list against a quote in one step (quote → verified registers → replay).
    Verify(verify::VerifyArgs),
    /// Guest agents: extend virtual registers from kernel lists.
    Agent {
        #[command(subcommand)]
        command: agent::AgentCommand,
    },
    /// The whole flow on a simulated TD and a real swtpm (build with the `demo` feature).
    Demo(DemoArgs),
}

/// Arguments of `mr demo`.
#[derive(clap::Args)]
struct DemoArgs {
    #[command(flatten)]
    output: args::OutputArgs,
    /// Entries in the generated IMA list.
    #[arg(long, default_value_t = 600)]
    entries: u64,
}

#[derive(Subcommand)]
enum QuoteCommand {
    /// Verify a quote.
    Verify {
        #[command(subcommand)]
        kind: QuoteKind,
    },
}

#[derive(Subcommand)]
enum QuoteKind {
    /// A TPM 2.0 quote (TPMS_ATTEST + TPMT_SIGNATURE) with its attestation key.
    Tpm(tpm::QuoteVerifyArgs),
    /// An Intel TDX (DCAP) quote, v4 or v5.
    Tdx(tdx::QuoteVerifyArgs),
    /// Azure vTPM evidence on TDX (trustee's JSON): TD quote → runtime data → AK → TPM quote.
    AzTdxVtpm(vtpm::AzTdxArgs),
    /// Azure vTPM evidence on SEV-SNP (trustee's JSON): SNP report → runtime data → AK → TPM quote.
    AzSnpVtpm(vtpm::AzSnpArgs),
}

#[cfg(feature = "demo")]
fn run_demo(args: &DemoArgs) -> common::CmdResult {
    demo::run(args.output.json, args.entries)
}

#[cfg(not(feature = "demo"))]
fn run_demo(_args: &DemoArgs) -> common::CmdResult {
    Err(common::Failure::Malformed(
        "mr demo needs mr built with the `demo` feature (swtpm and tss-esapi): run scripts/demo.sh"
            .into(),
    ))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Ima { command } => ima::run(command),
        Command::Tcg { command } => tcg::run(command),
        Command::Cel { command } => cel::run(command),
        Command::Quote {
            command: QuoteCommand::Verify { kind },
        } => match kind {
            QuoteKind::Tpm(args) => tpm::run_quote_verify(args),
            QuoteKind::Tdx(args) => tdx::run_quote_verify(args),
            QuoteKind::AzTdxVtpm(args) => vtpm::run_tdx(args),
            QuoteKind::AzSnpVtpm(args) => vtpm::run_snp(args),
        },
        Command::Policy { command } => appraise::run_policy(command),
        Command::Verify(args) => verify::run(args),
        Command::Agent { command } => agent::run(command),
        Command::Demo(args) => run_demo(&args),
    };
    common::exit(result)
}
