//! `mr verify`: one verdict over an IMA list, under a TPM root (quote → verified PCR 10 → IMA
//! replay), a TD root (TD quote → verified RTMR3 → journal → derived `mr_ima` → IMA replay) or a
//! vTPM root (Azure TD quote or SNP report → HCL runtime data → AK → vTPM quote → verified PCR
//! 10 → IMA replay).
//!
//! The verification is [`mr_attest::verify`](fn@mr_attest::verify)'s; this module parses the arguments into
//! [`mr_attest::Evidence`] and prints the [`AttestationResult`] (text,
//! [`AttestationResult::verdict_lines`], or [`AttestationResult::verdict_json`]).

use std::path::PathBuf;

use clap::Args;
use mr_attest::{AttestationResult, Evidence, ImaList, Journal, VtpmEvidence, VtpmOptions};
use mr_core::{Error, MrId};
use mr_vtpm::TdxOptions;

use crate::args::{NonceArgs, OutputArgs, TdQuoteArgs, TpmQuoteArgs};
use crate::common::{
    ima_input, open_input, print_json, print_lines, read_input, CmdResult, Failure,
};
use crate::vtpm;

pub use mr_attest::MR_IMA;

/// The options of the other roots, which the TPM root's files conflict with.
const TPM_ROOT_CONFLICTS: [&str; 3] = ["td_quote", "journal", "hardware_root"];
/// The options of the roots other than `--az-snp-vtpm`, which its `--ask-ark`/`--vcek` conflict
/// with (clap waives a `requires` when a conflicting option is present, so say it both ways).
const NOT_SNP: [&str; 5] = ["td_quote", "journal", "az_tdx_vtpm", "attest", "ak"];
/// Largest boot log read (real PC-Client logs are 10-100 KiB).
const MAX_BOOT_LOG_FILE: u64 = 16 << 20;

/// Arguments of `mr verify`. The TPM quote's `--attest`/`--sig` are `--tpm-attest`/`--tpm-sig`
/// here, optional, and conflict with the other roots; the TD quote's `--collateral`/`--root`
/// need `--td-quote` or `--az-tdx-vtpm`, its `--at`/`--allow-debug` also serve `--az-snp-vtpm`.
#[derive(Args)]
#[command(
    mut_arg("attest", |a| a.long("tpm-attest").required(false).conflicts_with_all(TPM_ROOT_CONFLICTS)),
    mut_arg("sig", |a| a.long("tpm-sig").required(false).conflicts_with_all(TPM_ROOT_CONFLICTS)),
    mut_arg("ak", |a| a.required(false).conflicts_with_all(TPM_ROOT_CONFLICTS)),
    mut_arg("pcrs", |a| a.conflicts_with_all(TPM_ROOT_CONFLICTS)),
    mut_arg("ak_ca", |a| a.conflicts_with_all(TPM_ROOT_CONFLICTS)),
    mut_arg("collateral", |a| a.requires("td_quote_source")),
    mut_arg("root", |a| a.requires("td_quote_source")),
    mut_arg("at", |a| a.requires("hardware_root")),
    mut_arg("allow_debug", |a| a.requires("hardware_root")),
)]
pub struct VerifyArgs {
    /// The IMA measurement list (binary or ASCII); `-` reads stdin.
    #[arg(long, value_name = "LOG")]
    pub ima: PathBuf,
    /// TPM root: the quote over the IMA PCR.
    #[command(flatten)]
    pub tpm: TpmQuoteArgs,
    /// TPM root: PCR the IMA list extends (repeatable; default 10).
    #[arg(long, value_name = "N")]
    pub ima_pcr: Vec<u32>,
    /// TD root: a TD quote (binary or hex) over the backing RTMR of the journal.
    #[arg(
        long,
        value_name = "Q",
        requires = "journal",
        group = "td_quote_source",
        group = "hardware_root"
    )]
    pub td_quote: Option<PathBuf>,
    /// TD root: the journal of the virtual register `mr_ima` (written by `mr agent ima`).
    #[arg(long, value_name = "J", requires = "td_quote")]
    pub journal: Option<PathBuf>,
    /// TD root: the register backing the journal (default rtmr3).
    #[arg(long, value_name = "ID", requires = "td_quote")]
    pub backing: Option<String>,
    /// TD root and `--az-tdx-vtpm`: how the TD quote is verified (`--at`, `--allow-debug` also
    /// for `--az-snp-vtpm`).
    #[command(flatten)]
    pub td: TdQuoteArgs,
    /// vTPM root: the evidence and its SNP trust anchors (boxed: the arguments of the other
    /// commands are far smaller).
    #[command(flatten)]
    pub vtpm: Box<VtpmRootArgs>,
    /// TPM and vTPM roots: the PC-Client boot log of the same boot
    /// (`binary_bios_measurements`), replayed against the quoted PCRs; the IMA list's
    /// `boot_aggregate` must match it.
    #[arg(long, value_name = "F", conflicts_with = "td_quote")]
    pub boot_log: Option<PathBuf>,
    #[command(flatten)]
    pub nonce: NonceArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Appraisal policy document (JSON, docs/policy.schema.json): platform rules, runtime
    /// policy, deny list; applied once the evidence verified.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// keylime runtime policy applied to the IMA entries the quote covers.
    #[arg(long, value_name = "POLICY.json")]
    pub runtime_policy: Option<PathBuf>,
    /// The key the runtime policy's DSSE envelope is signed with (an envelope is refused
    /// without it).
    #[arg(long, value_name = "F", requires = "runtime_policy")]
    pub runtime_policy_key: Option<PathBuf>,
    /// File digests rejected even when the runtime policy or a signature allows them.
    #[arg(long, value_name = "FILE")]
    pub deny_list: Option<PathBuf>,
}

/// `mr verify`'s vTPM root: trustee's evidence JSON for Azure TDX or SEV-SNP, and the AMD
/// certificates of the SNP form (`--ask-ark`, `--vcek`: need `--az-snp-vtpm`).
#[derive(Args)]
#[command(
    mut_arg("ask_ark", |a| a.required(false).requires("az_snp_vtpm").conflicts_with_all(NOT_SNP)
        .help("`--az-snp-vtpm`: AMD's ASK and ARK certificates (PEM bundle, possibly of several \
               processor generations); the VCEK must chain to one of its ARKs")),
    mut_arg("vcek", |a| a.requires("az_snp_vtpm").conflicts_with_all(NOT_SNP)
        .help("`--az-snp-vtpm`: the VCEK (PEM or DER), when the evidence carries none")),
)]
pub struct VtpmRootArgs {
    /// vTPM root, Azure TDX: trustee's az-tdx-vtpm evidence JSON (`tpm_quote`, `hcl_report`,
    /// `td_quote`); the IMA list replays against the vTPM's PCR 10.
    #[arg(
        long,
        value_name = "EVIDENCE.json",
        group = "td_quote_source",
        group = "hardware_root",
        conflicts_with = "journal"
    )]
    pub az_tdx_vtpm: Option<PathBuf>,
    /// vTPM root, Azure SEV-SNP: trustee's az-snp-vtpm evidence JSON (`tpm_quote`,
    /// `hcl_report`, `vcek`).
    #[arg(
        long,
        value_name = "EVIDENCE.json",
        group = "hardware_root",
        requires = "ask_ark",
        conflicts_with = "journal"
    )]
    pub az_snp_vtpm: Option<PathBuf>,
    /// `--az-snp-vtpm`: AMD's certificates.
    #[command(flatten)]
    pub snp: vtpm::SnpCertArgs,
}

/// A library error (malformed input or usage error): exit code 2.
pub fn malformed(e: mr_attest::Error) -> Failure {
    Failure::Malformed(e.to_string())
}

/// The failure of a rejected result (exit code 1), `Ok` for a verified one.
pub fn verdict(v: &AttestationResult) -> CmdResult {
    match &v.failure {
        None if v.verified => Ok(()),
        None => Err(Failure::Rejected("not verified".into())),
        Some(f) => Err(Failure::Rejected(f.message.clone())),
    }
}

/// The evidence named on the command line.
fn evidence(args: &VerifyArgs) -> Result<Evidence, Failure> {
    let nonce = args.nonce.value()?;
    let list = ImaList::from(ima_input(&args.ima)?);
    let boot_log = args
        .boot_log
        .as_deref()
        .map(|p| read_input(p, MAX_BOOT_LOG_FILE))
        .transpose()?;
    if let (Some(quote), Some(journal)) = (&args.td_quote, &args.journal) {
        let backing: MrId = match &args.backing {
            Some(b) => b
                .parse()
                .map_err(|e: Error| Failure::Malformed(format!("--backing: {e}")))?,
            None => MrId::Rtmr(3),
        };
        let journal = Journal::from_reader(open_input(journal)?).with_backing(backing);
        return Ok(
            Evidence::td(args.td.evidence(quote, nonce)?.with_journal(journal)).with_ima(list),
        );
    }
    let vtpm = match (&args.vtpm.az_tdx_vtpm, &args.vtpm.az_snp_vtpm) {
        (Some(ev), _) => Some((
            ev,
            VtpmOptions::AzTdx(Box::new(TdxOptions {
                quote: args.td.options(None)?,
                nonce: nonce.clone(),
            })),
        )),
        (None, Some(ev)) => Some((
            ev,
            VtpmOptions::AzSnp(args.vtpm.snp.options(
                args.td.at.as_deref(),
                args.td.allow_debug,
                nonce.clone(),
            )?),
        )),
        _ => None,
    };
    if let Some((path, options)) = vtpm {
        let mut ev = VtpmEvidence::new(vtpm::read_evidence(path, false)?, options)
            .with_ima_pcrs(args.ima_pcr.clone());
        if let Some(log) = boot_log {
            ev = ev.with_boot_log(log);
        }
        return Ok(Evidence::vtpm(ev).with_ima(list));
    }
    let mut quote = args
        .tpm
        .evidence(
            nonce,
            "mr verify needs --tpm-attest, --tpm-sig and --ak (TPM root), --td-quote and \
             --journal (TD root), or --az-tdx-vtpm / --az-snp-vtpm (vTPM root)",
        )?
        .with_ima_pcrs(args.ima_pcr.clone());
    if let Some(log) = boot_log {
        quote = quote.with_boot_log(log);
    }
    Ok(Evidence::tpm(quote).with_ima(list))
}

/// Run `mr verify`.
pub fn run(args: VerifyArgs) -> CmdResult {
    let mut evidence = evidence(&args)?;
    if let Some(policy) = mr_policy::AppraisalPolicy::from_files(mr_policy::PolicyFiles {
        document: args.policy.as_deref(),
        runtime: args.runtime_policy.as_deref(),
        runtime_key: args.runtime_policy_key.as_deref(),
        deny_list: args.deny_list.as_deref(),
    })
    .map_err(crate::appraise::malformed)?
    {
        evidence = evidence.with_policy(policy);
    }
    let result = mr_attest::verify(evidence).map_err(malformed)?;
    if args.output.json {
        print_json(&result.verdict_json());
    } else if result.verified {
        print_lines(&result.verdict_lines());
    }
    verdict(&result)
}
