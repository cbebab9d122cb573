//! `mr quote verify tdx`.

use std::path::PathBuf;

use clap::Args;
use mr_core::RegisterValue;
use mr_rtmr::quote::{self, TdAttributes, VerifiedQuote};

use crate::args::{rtmr_failure, NonceArgs, OutputArgs, TdQuoteArgs};
use crate::common::{print_json, registers_json, CmdResult};

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

/// The TD attributes line of a verdict: hex, the names of the set bits, and a warning for a
/// debug TD (only ever accepted with `--allow-debug`).
pub(crate) fn td_attributes_line(a: TdAttributes) -> String {
    if a.is_debug() {
        format!(
            "td_attributes: {a} -- DEBUG TD accepted by --allow-debug: the host can read and \
             change its memory and registers"
        )
    } else {
        format!("td_attributes: {a}")
    }
}

fn print_human(v: &VerifiedQuote) {
    let body = match v.body_type() {
        3 => "TD 1.5",
        _ => "TD 1.0",
    };
    outln!(
        "TD quote v{} ({body} body) verified: {}",
        v.version(),
        v.registers().provenance()
    );
    for (id, digest) in v.registers().iter() {
        outln!("{id}:{}:{}", digest.alg().name(), digest.to_hex());
    }
    outln!("report_data: {}", hex::encode(v.report_data()));
    outln!("{}", td_attributes_line(v.td_attributes()));
    outln!("tee_tcb_svn: {}", hex::encode(v.tee_tcb_svn()));
    if let Some(svn2) = v.tee_tcb_svn2() {
        outln!("tee_tcb_svn2: {}", hex::encode(svn2));
    }
    match v.tcb_status() {
        Some(t) if t.advisory_ids.is_empty() => outln!("tcb_status: {}", t.status),
        Some(t) => outln!(
            "tcb_status: {} (advisories: {})",
            t.status,
            t.advisory_ids.join(", ")
        ),
        None => outln!("tcb_status: not evaluated (no collateral)"),
    }
    if v.trailing_bytes() > 0 {
        outln!(
            "trailing bytes after the signature data (unsigned, ignored): {}",
            v.trailing_bytes()
        );
    }
}

/// JSON of a verified quote ([`mr_attest::report::td_quote_json`]) with `verified`,
/// `provenance` and the quote's `registers`.
pub(crate) fn json(v: &VerifiedQuote) -> serde_json::Value {
    let values: Vec<RegisterValue> = v
        .registers()
        .iter()
        .map(|(id, digest)| RegisterValue {
            id: id.clone(),
            value: *digest,
        })
        .collect();
    let mut j = serde_json::json!({
        "verified": true,
        "provenance": v.registers().provenance().to_string(),
        "registers": registers_json(&values),
    });
    if let serde_json::Value::Object(details) = mr_attest::report::td_quote_json(v) {
        for (key, value) in details {
            j[key] = value;
        }
    }
    j
}

/// Run `mr quote verify tdx`.
pub fn run_quote_verify(args: QuoteVerifyArgs) -> CmdResult {
    let evidence = args.td.evidence(&args.quote, args.nonce.value()?)?;
    let verified = quote::verify(&evidence.quote, &evidence.options).map_err(rtmr_failure)?;
    if args.output.json {
        print_json(&json(&verified));
    } else {
        print_human(&verified);
    }
    Ok(())
}
