//! Argument groups shared by several commands, declared once and flattened into each
//! (`#[command(flatten)]`): the verification options of a TD quote, the files of a TPM quote, the
//! nonce, the expected values and the output format. Each group turns itself into the library's
//! evidence or options; commands that name a flag differently or make it depend on another
//! adjust the flattened argument with `mut_arg` (e.g. `mr verify`'s `--tpm-attest`).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use mr_attest::shards::{pcr_values, MAX_REGISTER_FILE, MAX_TPM_QUOTE_FILE};
use mr_attest::{TdQuoteEvidence, TpmQuoteEvidence};
use mr_core::{ExpectedRegisters, RegisterValue};
use mr_rtmr::quote::{self, Collateral, VerifyOptions};
use mr_tpm::MAX_KEY_FILE_SIZE;

use crate::common::{expected_values, file_failure, read_input, Failure};

/// Largest TD quote file accepted (hex text doubles a quote's size; real quotes are ~5-10 KiB).
pub const MAX_TD_QUOTE_FILE: u64 = 4 << 20;
/// Largest collateral or root certificate file accepted.
pub const MAX_COLLATERAL_FILE: u64 = 4 << 20;

/// `--json`.
#[derive(Args, Clone, Copy, Debug)]
pub struct OutputArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `--nonce`: the verifier's nonce a quote must carry.
#[derive(Args, Debug, Default)]
pub struct NonceArgs {
    /// The nonce the quote must carry (hex). TPM: `extraData`; TD: REPORTDATA zero-padded to
    /// 64 bytes. Without it the quote may be a replay.
    #[arg(long, value_name = "HEX")]
    pub nonce: Option<String>,
}

impl NonceArgs {
    /// The decoded nonce ([`parse_nonce`]), if one was given.
    pub fn value(&self) -> Result<Option<Vec<u8>>, Failure> {
        self.nonce.as_deref().map(parse_nonce).transpose()
    }
}

/// Decode a `--nonce` value: hex, optionally `0x`-prefixed, at least one byte.
pub fn parse_nonce(text: &str) -> Result<Vec<u8>, Failure> {
    let t = text.strip_prefix("0x").unwrap_or(text);
    let nonce = hex::decode(t).map_err(|e| Failure::Malformed(format!("--nonce: {e}")))?;
    if nonce.is_empty() {
        return Err(Failure::Malformed(
            "--nonce is empty: an empty nonce proves no freshness; give the verifier's nonce"
                .into(),
        ));
    }
    Ok(nonce)
}

/// `--expect` / `--expect-file`: values the caller asserts.
#[derive(Args, Debug)]
pub struct ExpectArgs {
    /// Expected value `ID:ALG:HEX` (repeatable), e.g. `0:sha256:…` or `rtmr1:sha384:…`.
    #[arg(long, value_name = "ID:ALG:HEX")]
    pub expect: Vec<String>,
    /// File of expected values, one `ID:ALG:HEX` per line (blank lines and `#` ignored).
    #[arg(long, value_name = "F")]
    pub expect_file: Vec<PathBuf>,
}

impl ExpectArgs {
    /// The asserted values, `None` when none was given.
    pub fn values(&self) -> Result<Option<ExpectedRegisters>, Failure> {
        expected_values(&self.expect, &self.expect_file)
    }
}

/// How a TD quote is verified: trust anchor, time, collateral, debug policy (the nonce is
/// [`NonceArgs`]). The quote file itself is named by each command (`QUOTE`, `--td-quote`).
#[derive(Args, Debug)]
pub struct TdQuoteArgs {
    /// TD quote: DCAP collateral (dcap-qvl QuoteCollateralV3 JSON): adds the full TCB
    /// evaluation.
    #[arg(long, value_name = "F")]
    pub collateral: Option<PathBuf>,
    /// TD quote: root CA certificate (DER or PEM) instead of the built-in Intel SGX Root CA.
    #[arg(long, value_name = "F")]
    pub root: Option<PathBuf>,
    /// TD quote: verification time, RFC 3339 (e.g. 2025-07-19T10:00:00Z); default: now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// TD quote: accept a debug TD (TD attributes DEBUG set: the host can read and change it).
    /// Refused by default.
    #[arg(long)]
    pub allow_debug: bool,
}

impl TdQuoteArgs {
    /// Verification options: `--at` (default: now — the CLI may read the clock, the library
    /// never does), `nonce`, `--root` (DER or PEM), `--collateral`, `--allow-debug`.
    pub fn options(&self, nonce: Option<Vec<u8>>) -> Result<VerifyOptions, Failure> {
        let at = match &self.at {
            Some(s) => parse_at(s)?,
            None => SystemTime::now(),
        };
        let mut options = VerifyOptions::new(at).allow_debug_td(self.allow_debug);
        if let Some(n) = nonce {
            options = options.with_nonce(n);
        }
        if let Some(root) = &self.root {
            let der = quote::root_der_from_der_or_pem(&read_input(root, MAX_COLLATERAL_FILE)?)
                .map_err(rtmr_failure)?;
            options = options.with_root_der(der);
        }
        if let Some(c) = &self.collateral {
            let json = read_input(c, MAX_COLLATERAL_FILE)?;
            options = options.with_collateral(Collateral::from_json(&json).map_err(rtmr_failure)?);
        }
        Ok(options)
    }

    /// The evidence of the TD quote in file `quote` (binary or hex text), verified with
    /// [`Self::options`].
    pub fn evidence(
        &self,
        quote: &Path,
        nonce: Option<Vec<u8>>,
    ) -> Result<TdQuoteEvidence, Failure> {
        let options = self.options(nonce)?;
        TdQuoteEvidence::from_file_bytes(read_input(quote, MAX_TD_QUOTE_FILE)?, options)
            .map_err(crate::verify::malformed)
    }
}

/// A TD quote error as a command failure: rejected (exit 1) or malformed (exit 2).
pub fn rtmr_failure(e: mr_rtmr::Error) -> Failure {
    let class = match &e {
        mr_rtmr::Error::Quote(q) => q.class(),
        mr_rtmr::Error::Core(c) => c.class(),
        _ => mr_core::ErrorClass::Malformed,
    };
    Failure::classed(class, e.to_string())
}

/// Parse `--at` ([`mr_attest::time::parse_rfc3339`]).
pub fn parse_at(s: &str) -> Result<SystemTime, Failure> {
    mr_attest::time::parse_rfc3339(s).map_err(|e| Failure::Malformed(format!("--at {e}")))
}

/// The files of a TPM quote (the nonce is [`NonceArgs`]). `mr quote verify tpm` takes them as
/// declared; `mr verify` renames `--attest`/`--sig` to `--tpm-attest`/`--tpm-sig` and makes
/// them optional (a TD root needs none), as does `mr ima replay` for its quote anchor.
#[derive(Args, Debug, Default)]
pub struct TpmQuoteFiles {
    /// TPM quote: TPMS_ATTEST (or TPM2B_ATTEST) as the TPM returned it, binary; `-` reads
    /// stdin.
    #[arg(long, value_name = "F", required = true)]
    pub attest: Option<PathBuf>,
    /// TPM quote: TPMT_SIGNATURE, binary.
    #[arg(long, value_name = "F", required = true)]
    pub sig: Option<PathBuf>,
    /// TPM quote: the attestation key: TPM2B_PUBLIC, TPMT_PUBLIC, PEM or DER public key, or an
    /// X.509 certificate (detected).
    #[arg(long, value_name = "F", required = true)]
    pub ak: Option<PathBuf>,
    /// TPM quote: the quoted PCR values, one `ID:ALG:HEX` per line (blank lines and `#`
    /// ignored). Without it `mr quote verify tpm` checks only the signature and nonce, and
    /// `mr verify` requires the IMA list's final values to be what the quote signed.
    #[arg(long, value_name = "F")]
    pub pcrs: Option<PathBuf>,
}

impl TpmQuoteFiles {
    /// The evidence: the three files read, the nonce, the `--pcrs` values. `missing` is the
    /// error when a file is not given (clap requires them where the command always needs them).
    pub fn evidence(
        &self,
        nonce: Option<Vec<u8>>,
        missing: &str,
    ) -> Result<TpmQuoteEvidence, Failure> {
        let file = |p: &Option<PathBuf>, max: u64| match p {
            Some(p) => read_input(p, max),
            None => Err(Failure::Malformed(missing.to_owned())),
        };
        let attest = file(&self.attest, MAX_TPM_QUOTE_FILE)?;
        let sig = file(&self.sig, MAX_TPM_QUOTE_FILE)?;
        let ak = file(&self.ak, MAX_KEY_FILE_SIZE as u64)?;
        let mut quote = TpmQuoteEvidence::new(attest, sig, ak);
        if let Some(n) = nonce {
            quote = quote.with_nonce(n);
        }
        if let Some(p) = &self.pcrs {
            quote = quote.with_pcrs(pcr_file(p)?);
        }
        Ok(quote)
    }
}

/// A TPM quote's files ([`TpmQuoteFiles`]) and the certificate chain its AK must have.
#[derive(Args, Debug)]
pub struct TpmQuoteArgs {
    /// The quote's files.
    #[command(flatten)]
    pub files: TpmQuoteFiles,
    /// TPM quote: the AK (`--ak`) must be an X.509 certificate that chains to one of these
    /// root certificates (PEM bundle or DER; repeatable), every certificate valid now; checked
    /// before the quote.
    #[arg(long, value_name = "F")]
    pub ak_ca: Vec<PathBuf>,
    /// TPM quote: intermediate CA certificates between the AK certificate and `--ak-ca` (PEM
    /// bundle or DER; repeatable).
    #[arg(long, value_name = "F", requires = "ak_ca")]
    pub ak_intermediate: Vec<PathBuf>,
}

/// Most certificates read from one `--ak-ca` or `--ak-intermediate` file.
const MAX_BUNDLE_CERTIFICATES: usize = 64;

/// The certificates of every file in `paths` (PEM bundles or one DER certificate each).
fn certificate_files(paths: &[PathBuf], flag: &str) -> Result<Vec<Vec<u8>>, Failure> {
    let mut out = Vec::new();
    for p in paths {
        let bytes = read_input(p, MAX_COLLATERAL_FILE)?;
        let certs = mr_tpm::cert::certificates_der(&bytes, MAX_BUNDLE_CERTIFICATES)
            .map_err(|e| Failure::Malformed(format!("{flag} {}: {e}", p.display())))?;
        out.extend(certs);
    }
    Ok(out)
}

impl TpmQuoteArgs {
    /// The evidence of [`TpmQuoteFiles::evidence`], with the AK chain of `--ak-ca`.
    pub fn evidence(
        &self,
        nonce: Option<Vec<u8>>,
        missing: &str,
    ) -> Result<TpmQuoteEvidence, Failure> {
        let mut quote = self.files.evidence(nonce, missing)?;
        if !self.ak_ca.is_empty() {
            let at = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            quote = quote.with_ak_chain(mr_attest::AkChain {
                roots: certificate_files(&self.ak_ca, "--ak-ca")?,
                intermediates: certificate_files(&self.ak_intermediate, "--ak-intermediate")?,
                at,
            });
        }
        Ok(quote)
    }
}

/// The PCR values of a `--pcrs` file ([`mr_attest::shards::pcr_values`]).
pub fn pcr_file(path: &Path) -> Result<Vec<RegisterValue>, Failure> {
    pcr_values(&read_input(path, MAX_REGISTER_FILE)?, path).map_err(file_failure)
}
