//! `mr quote verify tpm`, and the TPM quote printing `mr verify` uses (see `verify.rs`).

use clap::Args;
use mr_attest::{Evidence, QuoteReport};
use mr_tpm::SignedQuote;

use crate::args::{NonceArgs, OutputArgs, TpmQuoteArgs};
use crate::common::{print_json, registers_json, CmdResult, Failure};
use crate::verify::{malformed, verdict};

/// The `--pcrs` parser and file bound, for `mr ima replay --tpm-attest` (shards.rs).
pub(crate) use crate::args::{pcr_file, MAX_TPM_QUOTE_FILE as MAX_QUOTE_FILE};

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

/// Map a quote-verification error to an exit code, keeping its reason.
pub(crate) fn failure(e: &mr_tpm::Error) -> Failure {
    Failure::classed(e.class(), e.to_string())
}

/// The quote's details, one human-readable line each (signature, nonce, clock, selection).
pub(crate) fn quote_lines(q: &SignedQuote) -> Vec<String> {
    let c = q.clock_info();
    let nonce = if q.nonce_checked() {
        format!("nonce: {} (matches --nonce)", hex::encode(q.nonce()))
    } else {
        format!(
            "nonce: {} (NOT checked: no --nonce given; the quote may be a replay)",
            hex::encode(q.nonce())
        )
    };
    vec![
        format!(
            "quote: signature verified (hash {}) by AK {}",
            q.hash(),
            q.ak_id()
        ),
        nonce,
        format!(
            "clock: {} ms, resetCount {}, restartCount {}, safe {}",
            c.clock, c.reset_count, c.restart_count, c.safe
        ),
        format!("selection: {}", mr_attest::verify::selection_text(q)),
    ]
}

/// Run `mr quote verify tpm`: [`mr_attest::verify`] of the quote alone (signature, nonce, and
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
    let (true, Some(QuoteReport::Tpm(q))) = (result.verified, &result.quote) else {
        if args.output.json {
            print_json(&result.rejection_json());
        }
        return verdict(&result);
    };
    let pcrs_checked = result.rule("pcr_digest").is_some();
    let ak_chain = result.rule("ak_chain").map(|r| r.detail.clone());
    if args.output.json {
        let mut j = mr_attest::report::tpm_quote_json(q);
        j["ak_chain"] = serde_json::json!(ak_chain);
        j["pcrs_checked"] = serde_json::Value::Bool(pcrs_checked);
        j["registers"] = if pcrs_checked {
            registers_json(&result.register_values())
        } else {
            serde_json::Value::Null
        };
        j["verified"] = serde_json::Value::Bool(true);
        print_json(&j);
        return verdict(&result);
    }
    if let Some(chain) = &ak_chain {
        outln!("ak: {chain}");
    }
    for line in quote_lines(q) {
        outln!("{line}");
    }
    let digest = hex::encode(&q.quote_info().pcr_digest);
    if pcrs_checked {
        outln!("pcrDigest: {digest} (matches --pcrs)");
        outln!("verified registers:");
        for r in &result.registers {
            outln!("{}", r.register_value());
        }
    } else {
        outln!("pcrDigest: {digest} (NOT checked: no --pcrs given; no register value is verified)");
    }
    verdict(&result)
}
