//! `mr verify`: one verdict over an IMA list, under a TPM root (quote → verified PCR 10 → IMA
//! replay) or a TD root (TD quote → verified RTMR3 → journal → derived `mr_ima` → IMA replay).
//!
//! The verification is [`mr_attest::verify`]'s; this module parses the arguments into
//! [`mr_attest::Evidence`] and prints the [`AttestationResult`] (text,
//! [`AttestationResult::verdict_lines`], or [`AttestationResult::verdict_json`]).

use std::path::PathBuf;

use clap::Args;
use mr_attest::{AttestationResult, Evidence, ImaList, Journal};
use mr_core::{Error, MrId};

use crate::args::{NonceArgs, OutputArgs, TdQuoteArgs, TpmQuoteArgs};
use crate::common::{ima_input, open_input, print_json, print_lines, CmdResult, Failure};

pub use mr_attest::MR_IMA;

/// Arguments of `mr verify`. The TPM quote's `--attest`/`--sig` are `--tpm-attest`/`--tpm-sig`
/// here, optional, and conflict with the TD root; the TD quote's options need `--td-quote`.
#[derive(Args)]
#[command(
    mut_arg("attest", |a| a.long("tpm-attest").required(false).conflicts_with_all(["td_quote", "journal"])),
    mut_arg("sig", |a| a.long("tpm-sig").required(false)),
    mut_arg("ak", |a| a.required(false)),
    mut_group("TdQuoteArgs", |g| g.requires("td_quote")),
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
    #[arg(long, value_name = "Q", requires = "journal")]
    pub td_quote: Option<PathBuf>,
    /// TD root: the journal of the virtual register `mr_ima` (written by `mr agent ima`).
    #[arg(long, value_name = "J", requires = "td_quote")]
    pub journal: Option<PathBuf>,
    /// TD root: the register backing the journal (default rtmr3).
    #[arg(long, value_name = "ID", requires = "td_quote")]
    pub backing: Option<String>,
    /// TD root: how the quote is verified.
    #[command(flatten)]
    pub td: TdQuoteArgs,
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
    let quote = match (&args.td_quote, &args.journal) {
        (Some(quote), Some(journal)) => {
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
        _ => args.tpm.evidence(
            nonce,
            "mr verify needs --tpm-attest, --tpm-sig and --ak (TPM root) or --td-quote and \
             --journal (TD root)",
        )?,
    };
    Ok(Evidence::tpm(quote.with_ima_pcrs(args.ima_pcr.clone())).with_ima(list))
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
