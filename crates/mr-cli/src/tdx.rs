//! `mr quote verify tdx`.

use clap::Args;

use crate::common::{CmdResult, Failure};

/// Arguments of `mr quote verify tdx`.
#[derive(Args)]
pub struct QuoteVerifyArgs {}

/// Run `mr quote verify tdx`.
pub fn run_quote_verify(_args: QuoteVerifyArgs) -> CmdResult {
    Err(Failure::Malformed("not implemented yet".into()))
}
