//! `mr quote verify tdx`.

use std::path::PathBuf;

use clap::Args;
use mr_attest::render;
use mr_rtmr::quote;

use crate::args::{rtmr_failure, NonceArgs, OutputArgs, TdQuoteArgs};
use crate::common::{print_json, print_lines, CmdResult};

/// Arguments of `mr quote verify tdx`.
#[derive(Args)]
pub struct QuoteVerifyArgs {
    /// The quote: raw binary or hex text (an optional `0x` prefix and whitespace are allowed);
    /// `-` reads stdin.
    pub quote: PathBuf,
    #[command(flatten)]
    pub td: TdQuoteArgs,
    #[command(flatten)]
    pub nonce: NonceArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Run `mr quote verify tdx`.
pub fn run_quote_verify(args: QuoteVerifyArgs) -> CmdResult {
    let evidence = args.td.evidence(&args.quote, args.nonce.value()?)?;
    let verified = quote::verify(&evidence.quote, &evidence.options).map_err(rtmr_failure)?;
    if args.output.json {
        print_json(&render::td_quote_verdict_json(&verified));
    } else {
        print_lines(&render::td_quote_lines(&verified));
    }
    Ok(())
}
