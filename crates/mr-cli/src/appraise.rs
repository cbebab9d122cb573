//! `mr ima appraise` and `mr policy create`: the CLI side of mr-policy (arguments, printing),
//! and the loading of `mr verify`'s appraisal policy.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use mr_core::log::ima::{ImaReader, ImaReaderOptions};
use mr_core::HashAlg;
use mr_policy::create::PolicyBuilder;
use mr_policy::{
    appraise_list, AppraisalPolicy, AppraiseOptions, DenyList, DsseKey, PolicyError, RuntimePolicy,
};
use serde_json::json;

use crate::common::{open_input, print_json, CmdResult, Failure};

/// Arguments of `mr ima appraise`.
#[derive(Args)]
pub struct AppraiseArgs {
    /// The list (binary or ASCII, detected); `-` reads stdin.
    pub log: PathBuf,
    /// keylime runtime policy (JSON, version 1, or a DSSE envelope holding one, verified with
    /// --runtime-policy-key).
    #[arg(long, value_name = "POLICY.json")]
    pub runtime_policy: PathBuf,
    /// The key the runtime policy's DSSE envelope is signed with (an envelope is refused
    /// without it).
    #[arg(long, value_name = "F")]
    pub runtime_policy_key: Option<PathBuf>,
    /// File digests to reject even when the policy or a signature allows them (one hex digest
    /// per line).
    #[arg(long, value_name = "FILE")]
    pub deny_list: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `mr policy` subcommands.
#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Write a runtime policy from a known-good IMA list and/or a directory tree.
    Create(CreateArgs),
}

/// Arguments of `mr policy create`.
#[derive(Args)]
pub struct CreateArgs {
    /// A known-good measurement list: every file, key and buffer it measured is allowed.
    #[arg(long, value_name = "LIST")]
    pub ima_list: Option<PathBuf>,
    /// A directory tree taken as `/`: every regular file is hashed as IMA would log it.
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// Digest algorithm for --rootfs (IMA's `ima_hash`).
    #[arg(long, value_name = "ALG", default_value = "sha256")]
    pub alg: HashAlg,
    /// Exclude pattern (repeatable; matched at the start of the path): written to the policy,
    /// and matching files under --rootfs are not hashed.
    #[arg(long, value_name = "REGEX")]
    pub exclude: Vec<String>,
    /// Write the policy here (default: stdout).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

fn malformed(e: PolicyError) -> Failure {
    Failure::Malformed(e.to_string())
}

/// The appraisal policy of `mr verify`: the document `--policy`, with the runtime policy
/// `--runtime-policy` (verified with `--runtime-policy-key`) and the deny list `--deny-list`;
/// `None` when none is given.
pub fn appraisal_policy(
    document: Option<&Path>,
    runtime: Option<&Path>,
    key: Option<&Path>,
    deny_list: Option<&Path>,
) -> Result<Option<AppraisalPolicy>, Failure> {
    if document.is_none() && runtime.is_none() && deny_list.is_none() {
        return Ok(None);
    }
    let mut policy = match document {
        Some(p) => AppraisalPolicy::from_file(p).map_err(malformed)?,
        None => AppraisalPolicy::default(),
    };
    if let Some(p) = runtime {
        policy = policy
            .with_runtime(load_runtime_policy(p, key)?)
            .map_err(malformed)?;
    }
    if let Some(p) = deny_list {
        policy = policy.with_deny_list(DenyList::from_file(p).map_err(malformed)?);
    }
    if policy.runtime.is_none() && policy.deny_list.is_some() {
        return Err(Failure::Malformed(
            "a deny list applies with a runtime policy: give --runtime-policy or a policy \
             document that names one"
                .into(),
        ));
    }
    Ok(Some(policy))
}

fn load_runtime_policy(path: &Path, key: Option<&Path>) -> Result<RuntimePolicy, Failure> {
    let key = key.map(DsseKey::from_file).transpose().map_err(malformed)?;
    RuntimePolicy::from_file(path, key.as_ref()).map_err(malformed)
}

/// `mr ima appraise`.
pub fn run_appraise(args: AppraiseArgs) -> CmdResult {
    let policy = load_runtime_policy(&args.runtime_policy, args.runtime_policy_key.as_deref())?;
    let deny_list = match &args.deny_list {
        Some(path) => Some(DenyList::from_file(path).map_err(malformed)?),
        None => None,
    };
    let input = open_input(&args.log)?;
    let mut reader = ImaReader::new(input, ImaReaderOptions::default());
    let options = AppraiseOptions {
        deny_list,
        ..AppraiseOptions::default()
    };
    let result = appraise_list(&mut reader, &policy, options).map_err(malformed)?;
    if args.json {
        let failures: Vec<_> = result
            .failures
            .iter()
            .map(|f| {
                json!({
                    "entry": f.number,
                    "path": f.path,
                    "template": f.template,
                    "reason": f.reason.code(),
                    "detail": f.reason.to_string(),
                })
            })
            .collect();
        print_json(&json!({
            "allowed": result.is_allowed(),
            "entries": result.entries,
            "failed": result.failed,
            "failures": failures,
            "failures_truncated": result.failed > result.failures.len() as u64,
        }));
    } else {
        for f in &result.failures {
            outln!(
                "entry {}: {} ({}): {}",
                f.number,
                f.path,
                f.template,
                f.reason
            );
        }
        if result.failed > result.failures.len() as u64 {
            outln!(
                "… and {} more failing entries",
                result.failed - result.failures.len() as u64
            );
        }
        outln!("{} entries, {} not allowed", result.entries, result.failed);
    }
    if result.is_allowed() {
        Ok(())
    } else {
        Err(Failure::Rejected(format!(
            "{} of {} entries are not allowed by the runtime policy",
            result.failed, result.entries
        )))
    }
}

/// `mr policy …`.
pub fn run_policy(command: PolicyCommand) -> CmdResult {
    match command {
        PolicyCommand::Create(args) => create(args),
    }
}

fn create(args: CreateArgs) -> CmdResult {
    if args.ima_list.is_none() && args.rootfs.is_none() {
        return Err(Failure::Malformed(
            "mr policy create needs --ima-list and/or --rootfs".into(),
        ));
    }
    let mut builder = PolicyBuilder::new()
        .with_excludes(args.exclude)
        .map_err(malformed)?;
    if let Some(list) = &args.ima_list {
        let mut reader = ImaReader::new(open_input(list)?, ImaReaderOptions::default());
        builder.add_list(&mut reader).map_err(malformed)?;
    }
    if let Some(root) = &args.rootfs {
        let summary = builder.add_tree(root, args.alg).map_err(malformed)?;
        errln!(
            "mr: {} files hashed, {} excluded, {} links or special files skipped",
            summary.files,
            summary.excluded,
            summary.skipped
        );
    }
    let text = format!("{:#}\n", builder.to_json());
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| Failure::Malformed(format!("cannot write {}: {e}", path.display()))),
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(text.as_bytes())
                .map_err(|e| Failure::Malformed(format!("cannot write the policy: {e}")))
        }
    }
}
