//! `mr`: the command-line tool (DESIGN §6). Thin: parses arguments, calls the libraries, prints.
//!
//! Exit codes: 0 verified, 1 evidence rejected, 2 malformed input or usage error.

#![forbid(unsafe_code)]

mod common;
mod ima;
mod tcg;
mod tdx;
mod tpm;

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
    /// Quotes: TPM and TDX.
    Quote {
        #[command(subcommand)]
        command: QuoteCommand,
    },
    /// Verify an IMA list against a quote in one step (quote → verified registers → replay).
    Verify(tpm::VerifyArgs),
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
        Command::Quote {
            command: QuoteCommand::Verify { kind },
        } => match kind {
            QuoteKind::Tpm(args) => tpm::run_quote_verify(args),
            QuoteKind::Tdx(args) => tdx::run_quote_verify(args),
        },
        Command::Verify(args) => tpm::run_verify(args),
    };
    common::exit(result)
}
