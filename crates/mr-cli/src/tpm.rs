//! `mr quote verify tpm`, and the TPM quote helpers `mr verify` uses (see `verify.rs`).

use std::path::{Path, PathBuf};

use clap::Args;
use mr_core::{ErrorClass, ExpectedRegisters, MrId, RegisterValue, VerifiedRegisters};
use mr_tpm::public::MAX_KEY_FILE_SIZE;
use mr_tpm::{verify_quote_signature, AkPublic, SignedQuote};

use crate::common::{
    expected_values, parse_nonce, print_json, read_input, registers_json, CmdResult, Failure,
};

/// Largest attestation or signature file read (the parsers bound the structures far below).
pub(crate) const MAX_QUOTE_FILE: u64 = 64 * 1024;

/// Arguments of `mr quote verify tpm`.
#[derive(Args)]
pub struct QuoteVerifyArgs {
    /// TPMS_ATTEST (or TPM2B_ATTEST) as the TPM returned it, binary; `-` reads stdin.
    #[arg(long, value_name = "F")]
    pub attest: PathBuf,
    /// TPMT_SIGNATURE, binary.
    #[arg(long, value_name = "F")]
    pub sig: PathBuf,
    /// The attestation key: TPM2B_PUBLIC, TPMT_PUBLIC, PEM or DER public key, or an X.509
    /// certificate (detected).
    #[arg(long, value_name = "F")]
    pub ak: PathBuf,
    /// The nonce the quote must carry (hex). Without it the quote may be a replay.
    #[arg(long, value_name = "HEX")]
    pub nonce: Option<String>,
    /// The quoted PCR values, one `ID:ALG:HEX` per line (blank lines and `#` ignored). Without
    /// it only the signature and nonce are checked and no register value is verified.
    #[arg(long, value_name = "F")]
    pub pcrs: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Map a quote-verification error to an exit code, keeping its reason.
pub(crate) fn failure(e: &mr_tpm::Error) -> Failure {
    match e.class() {
        ErrorClass::Rejected => Failure::Rejected(e.to_string()),
        ErrorClass::Malformed | ErrorClass::Device => Failure::Malformed(e.to_string()),
    }
}

/// A short machine-readable name of a rejection reason.
pub(crate) fn reason_code(e: &mr_tpm::Error) -> &'static str {
    use mr_tpm::Error as E;
    match e {
        E::BadSignature => "bad_signature",
        E::WrongNonce { .. } => "wrong_nonce",
        E::PcrDigestMismatch { .. } => "pcr_digest_mismatch",
        E::WrongMagic(_) => "wrong_magic",
        E::WrongType(_) => "wrong_type",
        E::KeySchemeMismatch { .. } => "key_scheme_mismatch",
        E::NotRestrictedSigningKey(_) => "not_restricted_signing_key",
        E::MissingPcrValue { .. } => "missing_pcr_value",
        E::CertificateChain(_) => "certificate_chain",
        _ => "malformed",
    }
}

fn rejected_json(json: bool, e: &mr_tpm::Error) {
    if json && e.class() == ErrorClass::Rejected {
        print_json(&serde_json::json!({
            "verified": false,
            "reason": reason_code(e),
            "message": e.to_string(),
        }));
    }
}

/// The PCR values of a `--pcrs` file.
pub(crate) fn pcr_file(path: &Path) -> Result<Vec<RegisterValue>, Failure> {
    let values = expected_values(&[], &[path.to_path_buf()])?;
    let mut out = Vec::new();
    for (id, value) in values.iter().flat_map(ExpectedRegisters::iter) {
        if !matches!(id, MrId::Pcr(_)) {
            return Err(Failure::Malformed(format!(
                "{}: {id} is not a PCR",
                path.display()
            )));
        }
        out.push(RegisterValue {
            id: id.clone(),
            value: *value,
        });
    }
    Ok(out)
}

/// Read and check the quote's signature, magic, type and nonce.
fn signed_quote(
    attest: &Path,
    sig: &Path,
    ak: &Path,
    nonce: Option<&[u8]>,
    json: bool,
) -> Result<SignedQuote, Failure> {
    let attest = read_input(attest, MAX_QUOTE_FILE)?;
    let sig = read_input(sig, MAX_QUOTE_FILE)?;
    let ak_bytes = read_input(ak, MAX_KEY_FILE_SIZE as u64)?;
    let key = AkPublic::detect(&ak_bytes)
        .map_err(|e| Failure::Malformed(format!("{}: {e}", ak.display())))?;
    verify_quote_signature(&attest, &sig, &key, nonce).map_err(|e| {
        rejected_json(json, &e);
        failure(&e)
    })
}

pub(crate) fn selection_text(q: &SignedQuote) -> String {
    q.quote_info()
        .pcr_select
        .banks
        .iter()
        .map(|b| {
            let pcrs: Vec<String> = b.pcrs().map(|p| p.to_string()).collect();
            format!("{}:{}", b.alg, pcrs.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn quote_json(
    q: &SignedQuote,
    registers: Option<&[RegisterValue]>,
) -> serde_json::Value {
    let c = q.clock_info();
    serde_json::json!({
        "ak": q.ak_id(),
        "hash": q.hash().name(),
        "nonce": hex::encode(q.nonce()),
        "nonce_checked": q.nonce_checked(),
        "clock": {
            "clock": c.clock,
            "reset_count": c.reset_count,
            "restart_count": c.restart_count,
            "safe": c.safe,
        },
        "firmware_version": format!("{:016x}", q.attest().firmware_version),
        "selection": q.quote_info().pcr_select.banks.iter().map(|b| serde_json::json!({
            "alg": b.alg.name(),
            "pcrs": b.pcrs().collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "pcr_digest": hex::encode(&q.quote_info().pcr_digest),
        "pcrs_checked": registers.is_some(),
        "registers": registers.map(registers_json),
    })
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
        format!("selection: {}", selection_text(q)),
    ]
}

fn print_quote_human(q: &SignedQuote) {
    for line in quote_lines(q) {
        outln!("{line}");
    }
}

fn to_values(v: &VerifiedRegisters) -> Vec<RegisterValue> {
    v.iter()
        .map(|(id, value)| RegisterValue {
            id: id.clone(),
            value: *value,
        })
        .collect()
}

/// Run `mr quote verify tpm`.
pub fn run_quote_verify(args: QuoteVerifyArgs) -> CmdResult {
    let nonce = args.nonce.as_deref().map(parse_nonce).transpose()?;
    let pcrs = args.pcrs.as_deref().map(pcr_file).transpose()?;
    let q = signed_quote(
        &args.attest,
        &args.sig,
        &args.ak,
        nonce.as_deref(),
        args.json,
    )?;
    let verified = match &pcrs {
        Some(values) => Some(to_values(&q.verify_pcrs(values).map_err(|e| {
            rejected_json(args.json, &e);
            failure(&e)
        })?)),
        None => None,
    };
    if args.json {
        let mut v = quote_json(&q, verified.as_deref());
        v["verified"] = serde_json::Value::Bool(true);
        print_json(&v);
        return Ok(());
    }
    print_quote_human(&q);
    match &verified {
        Some(values) => {
            outln!(
                "pcrDigest: {} (matches --pcrs)",
                hex::encode(&q.quote_info().pcr_digest)
            );
            outln!("verified registers:");
            for v in values {
                outln!("{} {} {}", v.id, v.value.alg(), v.value);
            }
        }
        None => outln!(
            "pcrDigest: {} (NOT checked: no --pcrs given; no register value is verified)",
            hex::encode(&q.quote_info().pcr_digest)
        ),
    }
    Ok(())
}
