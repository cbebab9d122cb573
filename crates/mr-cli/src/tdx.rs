//! `mr quote verify tdx`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use mr_core::{ErrorClass, RegisterValue};
use mr_rtmr::quote::{self, Collateral, TdAttributes, VerifiedQuote, VerifyOptions};

use crate::common::{parse_nonce, print_json, read_input, registers_json, CmdResult, Failure};

/// Largest quote file accepted (hex text doubles a quote's size; real quotes are ~5-10 KiB).
pub(crate) const MAX_QUOTE_FILE: u64 = 4 << 20;
/// Largest collateral or root certificate file accepted.
pub(crate) const MAX_COLLATERAL_FILE: u64 = 4 << 20;

/// Arguments of `mr quote verify tdx`.
#[derive(Args)]
pub struct QuoteVerifyArgs {
    /// The quote: raw binary or hex text (an optional `0x` prefix and whitespace are allowed);
    /// `-` reads stdin.
    pub quote: PathBuf,
    /// DCAP collateral (dcap-qvl QuoteCollateralV3 JSON): adds the full TCB evaluation.
    #[arg(long)]
    pub collateral: Option<PathBuf>,
    /// Root CA certificate (DER or PEM) instead of the built-in Intel SGX Root CA.
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Verification time, RFC 3339 (e.g. 2025-07-19T10:00:00Z); default: now.
    #[arg(long)]
    pub at: Option<String>,
    /// Nonce, hex, at most 64 bytes: REPORTDATA must equal it zero-padded to 64 bytes.
    #[arg(long)]
    pub nonce: Option<String>,
    /// Accept a debug TD (TD attributes DEBUG set: the host can read and change it). Refused
    /// by default.
    #[arg(long)]
    pub allow_debug: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn failure(e: mr_rtmr::Error) -> Failure {
    let class = match &e {
        mr_rtmr::Error::Quote(q) => q.class(),
        mr_rtmr::Error::Core(c) => c.class(),
        _ => ErrorClass::Malformed,
    };
    match class {
        ErrorClass::Rejected => Failure::Rejected(e.to_string()),
        ErrorClass::Malformed | ErrorClass::Device => Failure::Malformed(e.to_string()),
    }
}

/// Raw bytes, or hex text decoded (detected: only hex digits and whitespace, optional `0x`).
pub(crate) fn decode_quote_file(data: Vec<u8>) -> Result<Vec<u8>, Failure> {
    let text: Vec<u8> = data
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let text = text
        .strip_prefix(b"0x")
        .or_else(|| text.strip_prefix(b"0X"))
        .unwrap_or(&text);
    if !text.is_empty() && text.iter().all(u8::is_ascii_hexdigit) {
        return hex::decode(text).map_err(|e| Failure::Malformed(format!("quote hex: {e}")));
    }
    Ok(data)
}

/// Parse `--at`: an RFC 3339 time (`2025-07-19T10:00:00Z`, `…+02:00`, fractions allowed) at or
/// after the Unix epoch.
pub(crate) fn parse_at(s: &str) -> Result<SystemTime, Failure> {
    let bad = |why: &dyn std::fmt::Display| {
        Failure::Malformed(format!(
            "--at {s:?} is not an RFC 3339 time (e.g. 2025-07-19T10:00:00Z): {why}"
        ))
    };
    let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|e| bad(&e))?;
    let secs = u64::try_from(t.timestamp()).map_err(|_| bad(&"before 1970-01-01"))?;
    Ok(UNIX_EPOCH + Duration::from_secs(secs))
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

/// Verification options from the command line's `--at` (RFC 3339; default: now — the CLI may
/// read the clock, the library never does), `--nonce` (hex), `--root` (DER or PEM),
/// `--collateral` (dcap-qvl QuoteCollateralV3 JSON) and `--allow-debug`. Shared by
/// `mr quote verify tdx`, `mr verify --td-quote` and `mr tcg replay --td-quote`.
pub(crate) fn verify_options(
    at: Option<&str>,
    nonce: Option<&str>,
    root: Option<&std::path::Path>,
    collateral: Option<&std::path::Path>,
    allow_debug: bool,
) -> Result<VerifyOptions, Failure> {
    let at = match at {
        Some(s) => parse_at(s)?,
        None => SystemTime::now(),
    };
    let mut options = VerifyOptions::new(at).allow_debug_td(allow_debug);
    if let Some(n) = nonce {
        options = options.with_nonce(parse_nonce(n)?);
    }
    if let Some(root) = root {
        let der = quote::root_der_from_der_or_pem(&read_input(root, MAX_COLLATERAL_FILE)?)
            .map_err(failure)?;
        options = options.with_root_der(der);
    }
    if let Some(c) = collateral {
        let json = read_input(c, MAX_COLLATERAL_FILE)?;
        options = options.with_collateral(Collateral::from_json(&json).map_err(failure)?);
    }
    Ok(options)
}

/// Run `mr quote verify tdx`.
pub fn run_quote_verify(args: QuoteVerifyArgs) -> CmdResult {
    let options = verify_options(
        args.at.as_deref(),
        args.nonce.as_deref(),
        args.root.as_deref(),
        args.collateral.as_deref(),
        args.allow_debug,
    )?;
    let quote_bytes = decode_quote_file(read_input(&args.quote, MAX_QUOTE_FILE)?)?;
    let verified = quote::verify(&quote_bytes, &options).map_err(failure)?;
    if args.json {
        print_json(&json(&verified));
    } else {
        print_human(&verified);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> u64 {
        match parse_at(s) {
            Ok(t) => t
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(u64::MAX),
            Err(_) => u64::MAX,
        }
    }

    #[test]
    fn rfc3339_parses_utc_offsets_and_fractions() {
        assert_eq!(secs("2025-07-19T10:00:34Z"), 1_752_919_234);
        assert_eq!(secs("2025-07-19T12:00:34+02:00"), 1_752_919_234);
        assert_eq!(secs("2025-07-19T10:00:34.999Z"), 1_752_919_234);
        assert_eq!(secs("1970-01-01T00:00:00Z"), 0);
        assert_eq!(secs("2025-07-19 10:00:34"), u64::MAX);
        assert_eq!(secs("2025-13-19T10:00:34Z"), u64::MAX);
        assert_eq!(secs("yesterday"), u64::MAX);
    }

    #[test]
    fn multi_byte_and_junk_times_are_errors_not_panics() {
        // Issue 14 item 8: the hand parser sliced the string by byte offsets and panicked on a
        // multi-byte character at a slice boundary.
        for junk in [
            "ü",
            "üüüüüüüüüüüüüüüüüüüü",
            "2025-07-19T10:00:3ü",
            "2025-07-19T10:00:34ü",
            "2025-07-19T10:00:34+0ü:00",
            "2025-07-19T10:00:34+0ü00",
            "2025-07-19T10:00:34+02:0ü",
            "2025-07-19T10:00:34.ü",
            "2025-07-19T10:00:34+99:00",
            "1969-12-31T23:59:59Z",
            "",
            "\u{0}",
        ] {
            let message = match parse_at(junk) {
                Err(Failure::Malformed(m)) => m,
                other => format!("{other:?}"),
            };
            assert!(
                message.contains("is not an RFC 3339 time"),
                "{junk:?}: {message}"
            );
        }
    }

    #[test]
    fn hex_quote_text_is_detected_and_binary_is_kept() {
        assert_eq!(
            decode_quote_file(b"0x0400\n0200".to_vec()).ok(),
            Some(vec![4, 0, 2, 0])
        );
        assert_eq!(
            decode_quote_file(vec![4, 0, 2, 0]).ok(),
            Some(vec![4, 0, 2, 0])
        );
    }
}
