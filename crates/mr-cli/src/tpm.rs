//! `mr quote verify tpm`.

use clap::Args;
use mr_attest::Evidence;

use crate::args::{NonceArgs, OutputArgs, TpmQuoteArgs};
use crate::common::{print_json, print_lines, CmdResult};
use crate::verify::{malformed, verdict};

/// Arguments of `mr quote verify tpm`.
#[derive(Args)]
pub struct QuoteVerifyArgs {
    #[command(flatten)]
    pub quote: TpmQuoteArgs,
    /// Time at which the AK certificate chain (`--ak-ca`) must be valid, RFC 3339; default: now.
    #[arg(long, value_name = "RFC3339", requires = "ak_ca")]
    pub at: Option<String>,
    #[command(flatten)]
    pub nonce: NonceArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Run `mr quote verify tpm`: [`mr_attest::verify`](fn@mr_attest::verify) of the quote alone (signature, nonce, and
/// with `--pcrs` the PCR digest).
pub fn run_quote_verify(args: QuoteVerifyArgs) -> CmdResult {
    let mut quote = args.quote.evidence(
        args.nonce.value()?,
        "a TPM quote needs --attest, --sig and --ak",
    )?;
    if let (Some(at), Some(chain)) = (&args.at, quote.ak_chain.as_mut()) {
        chain.at = crate::args::parse_at(at)?
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
    }
    let result = mr_attest::verify(Evidence::tpm(quote)).map_err(malformed)?;
    if args.output.json {
        print_json(&result.tpm_quote_verdict_json());
    } else {
        print_lines(&result.tpm_quote_verdict_lines());
    }
    verdict(&result)
}
