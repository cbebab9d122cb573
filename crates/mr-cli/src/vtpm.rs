//! `mr quote verify az-tdx-vtpm` and `mr quote verify az-snp-vtpm`: Azure vTPM evidence
//! (trustee's evidence JSON), verified link by link with mr-vtpm (docs/attestation.md#vtpm-root).

use std::path::PathBuf;
use std::time::SystemTime;

use clap::Args;
use mr_attest::render;
use mr_vtpm::{AzVtpmEvidence, SnpOptions, TdxOptions, VerifiedVtpm};

use crate::args::{parse_at, NonceArgs, OutputArgs, TdQuoteArgs, MAX_COLLATERAL_FILE};
use crate::common::{print_json, print_lines, read_input, CmdResult, Failure};

/// Largest evidence JSON read (trustee's are 8-40 KB).
pub(crate) const MAX_EVIDENCE_FILE: u64 = 1 << 20;

/// Arguments of `mr quote verify az-tdx-vtpm`.
#[derive(Args)]
pub struct AzTdxArgs {
    /// The evidence: trustee's az-tdx-vtpm JSON (`tpm_quote`, `hcl_report`, `td_quote`).
    pub evidence: PathBuf,
    /// How the TD quote inside the evidence is verified.
    #[command(flatten)]
    pub td: TdQuoteArgs,
    /// The nonce the vTPM quote's extraData must equal.
    #[command(flatten)]
    pub nonce: NonceArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Arguments of `mr quote verify az-snp-vtpm`.
#[derive(Args)]
pub struct AzSnpArgs {
    /// The evidence: trustee's az-snp-vtpm JSON (`tpm_quote`, `hcl_report`, `vcek`).
    pub evidence: PathBuf,
    #[command(flatten)]
    pub certs: SnpCertArgs,
    /// Verification time, RFC 3339 (e.g. 2025-07-19T10:00:00Z); default: now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// Accept a guest policy that allows debugging. Refused by default.
    #[arg(long)]
    pub allow_debug: bool,
    /// The nonce the vTPM quote's extraData must equal.
    #[command(flatten)]
    pub nonce: NonceArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// AMD's certificates of SEV-SNP evidence (`mr quote verify az-snp-vtpm`; `mr verify` makes
/// them optional and dependent on `--az-snp-vtpm`).
#[derive(Args)]
pub struct SnpCertArgs {
    /// AMD's ASK and ARK certificates (PEM bundle, possibly of several processor generations):
    /// the VCEK must chain to one of its self-signed ARKs.
    #[arg(long, value_name = "F", required = true)]
    pub ask_ark: Option<PathBuf>,
    /// The VCEK (PEM or DER), when the evidence carries none.
    #[arg(long, value_name = "F")]
    pub vcek: Option<PathBuf>,
}

/// An mr-vtpm error as a command failure; with `--json`, a rejection prints its reason.
fn failure(e: &mr_vtpm::Error, json: bool) -> Failure {
    if let Some(j) = render::vtpm_rejection_json(e).filter(|_| json) {
        print_json(&j);
    }
    Failure::classed(e.class(), e.to_string())
}

/// trustee's evidence JSON in file `path`; with `json`, a rejection prints its reason.
pub(crate) fn read_evidence(path: &std::path::Path, json: bool) -> Result<AzVtpmEvidence, Failure> {
    let bytes = read_input(path, MAX_EVIDENCE_FILE)?;
    AzVtpmEvidence::from_trustee_json(&bytes).map_err(|e| failure(&e, json))
}

/// Run `mr quote verify az-tdx-vtpm`.
pub fn run_tdx(args: AzTdxArgs) -> CmdResult {
    let json = args.output.json;
    let quote = args.td.options(None)?;
    let nonce = args.nonce.value()?;
    let ev = read_evidence(&args.evidence, json)?;
    let v = mr_vtpm::verify_az_tdx_vtpm(&ev, &TdxOptions { quote, nonce })
        .map_err(|e| failure(&e, json))?;
    print(&v, json);
    Ok(())
}

impl SnpCertArgs {
    /// How SEV-SNP vTPM evidence is verified: these certificates, the time `at` (RFC 3339;
    /// default now), the debug policy and the nonce.
    pub fn options(
        &self,
        at: Option<&str>,
        allow_debug: bool,
        nonce: Option<Vec<u8>>,
    ) -> Result<SnpOptions, Failure> {
        let Some(ask_ark) = &self.ask_ark else {
            return Err(Failure::Malformed(
                "SEV-SNP evidence needs --ask-ark".into(),
            ));
        };
        let at = at.map_or_else(|| Ok(SystemTime::now()), parse_at)?;
        let bundle = mr_vtpm::snp::read_bundle(&read_input(ask_ark, MAX_COLLATERAL_FILE)?)
            .map_err(|e| failure(&e, false))?;
        let mut options = SnpOptions::new(bundle, at);
        options.nonce = nonce;
        options.allow_debug = allow_debug;
        if let Some(path) = &self.vcek {
            let der = mr_tpm::cert::certificate_der(&read_input(path, MAX_COLLATERAL_FILE)?)
                .map_err(|e| Failure::Malformed(format!("--vcek: {e}")))?;
            options.vcek = Some(der);
        }
        Ok(options)
    }
}

/// Run `mr quote verify az-snp-vtpm`.
pub fn run_snp(args: AzSnpArgs) -> CmdResult {
    let options = args
        .certs
        .options(args.at.as_deref(), args.allow_debug, args.nonce.value()?)?;
    let json = args.output.json;
    let ev = read_evidence(&args.evidence, json)?;
    let v = mr_vtpm::verify_az_snp_vtpm(&ev, &options).map_err(|e| failure(&e, json))?;
    print(&v, json);
    Ok(())
}

fn print(v: &VerifiedVtpm, json: bool) {
    if json {
        print_json(&render::vtpm_json(v));
    } else {
        print_lines(&render::vtpm_lines(v));
    }
}
