//! `mr quote verify tdx`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use mr_core::{ErrorClass, RegisterValue};
use mr_rtmr::quote::{self, Collateral, VerifiedQuote, VerifyOptions};

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

/// DER, or the first PEM certificate.
pub(crate) fn decode_root_file(data: Vec<u8>) -> Result<Vec<u8>, Failure> {
    let Some(start) = data.windows(11).position(|w| w == b"-----BEGIN ") else {
        return Ok(data);
    };
    let text = std::str::from_utf8(&data[start..])
        .map_err(|_| Failure::Malformed("root certificate PEM is not UTF-8".into()))?;
    let mut b64 = String::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN ") {
            inside = true;
        } else if line.starts_with("-----END ") {
            break;
        } else if inside {
            b64.push_str(line);
        }
    }
    base64_decode(&b64).ok_or_else(|| Failure::Malformed("root certificate PEM: bad base64".into()))
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parse RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`) into a time.
pub(crate) fn parse_rfc3339(s: &str) -> Result<SystemTime, Failure> {
    let bad = || {
        Failure::Malformed(format!(
            "--at {s:?} is not an RFC 3339 time (e.g. 2025-07-19T10:00:00Z)"
        ))
    };
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, Failure> {
        let t = s.get(r).ok_or_else(bad)?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse::<i64>().map_err(|_| bad())
    };
    let (y, mo, d, h, mi, sec) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && &rest[3..4] == ":" =>
        {
            let oh = num(s.len() - 5..s.len() - 3)?;
            let om = num(s.len() - 2..s.len())?;
            let o = oh * 3600 + om * 60;
            if rest.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return Err(bad()),
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset;
    let secs = u64::try_from(secs).map_err(|_| bad())?;
    Ok(UNIX_EPOCH + Duration::from_secs(secs))
}

fn print_human(v: &VerifiedQuote) {
    let body = match v.body_type() {
        3 => "TD 1.5",
        _ => "TD 1.0",
    };
    println!(
        "TD quote v{} ({body} body) verified: {}",
        v.version(),
        v.registers().provenance()
    );
    for (id, digest) in v.registers().iter() {
        println!("{id}:{}:{}", digest.alg().name(), digest.to_hex());
    }
    println!("report_data: {}", hex::encode(v.report_data()));
    println!("td_attributes: {}", hex::encode(v.td_attributes()));
    println!("tee_tcb_svn: {}", hex::encode(v.tee_tcb_svn()));
    if let Some(svn2) = v.tee_tcb_svn2() {
        println!("tee_tcb_svn2: {}", hex::encode(svn2));
    }
    match v.tcb_status() {
        Some(t) if t.advisory_ids.is_empty() => println!("tcb_status: {}", t.status),
        Some(t) => println!(
            "tcb_status: {} (advisories: {})",
            t.status,
            t.advisory_ids.join(", ")
        ),
        None => println!("tcb_status: not evaluated (no collateral)"),
    }
    if v.trailing_bytes() > 0 {
        println!(
            "trailing bytes after the signature data (unsigned, ignored): {}",
            v.trailing_bytes()
        );
    }
}

pub(crate) fn json(v: &VerifiedQuote) -> serde_json::Value {
    let values: Vec<RegisterValue> = v
        .registers()
        .iter()
        .map(|(id, digest)| RegisterValue {
            id: id.clone(),
            value: *digest,
        })
        .collect();
    serde_json::json!({
        "verified": true,
        "provenance": v.registers().provenance().to_string(),
        "registers": registers_json(&values),
        "version": v.version(),
        "body_type": v.body_type(),
        "report_data": hex::encode(v.report_data()),
        "td_attributes": hex::encode(v.td_attributes()),
        "tee_tcb_svn": hex::encode(v.tee_tcb_svn()),
        "tee_tcb_svn2": v.tee_tcb_svn2().map(hex::encode),
        "tcb_status": v.tcb_status().map(|t| serde_json::json!({
            "status": t.status,
            "advisory_ids": t.advisory_ids,
        })),
        "trailing_bytes": v.trailing_bytes(),
    })
}

/// Verification options from the command line's `--at` (RFC 3339; default: now — the CLI may
/// read the clock, the library never does), `--nonce` (hex), `--root` (DER or PEM) and
/// `--collateral` (dcap-qvl QuoteCollateralV3 JSON). Shared by `mr quote verify tdx` and
/// `mr tcg replay --td-quote`.
pub(crate) fn verify_options(
    at: Option<&str>,
    nonce: Option<&str>,
    root: Option<&std::path::Path>,
    collateral: Option<&std::path::Path>,
) -> Result<VerifyOptions, Failure> {
    let at = match at {
        Some(s) => parse_rfc3339(s)?,
        None => SystemTime::now(),
    };
    let mut options = VerifyOptions::new(at);
    if let Some(n) = nonce {
        options = options.with_nonce(parse_nonce(n)?);
    }
    if let Some(root) = root {
        options = options.with_root_der(decode_root_file(read_input(root, MAX_COLLATERAL_FILE)?)?);
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
        match parse_rfc3339(s) {
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

    #[test]
    fn base64_decodes_pem_body() {
        assert_eq!(base64_decode("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64_decode("a$"), None);
    }
}
