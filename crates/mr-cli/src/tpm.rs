//! `mr quote verify tpm` and `mr verify`.

use clap::Args;

use crate::common::{CmdResult, Failure};

/// Arguments of `mr quote verify tpm`.
#[derive(Args)]
pub struct QuoteVerifyArgs {}

/// Arguments of `mr verify`.
#[derive(Args)]
pub struct VerifyArgs {}

/// Run `mr quote verify tpm`.
pub fn run_quote_verify(_args: QuoteVerifyArgs) -> CmdResult {
    Err(Failure::Malformed("not implemented yet".into()))
}

/// Run `mr verify`.
pub fn run_verify(_args: VerifyArgs) -> CmdResult {
    Err(Failure::Malformed("not implemented yet".into()))
}
