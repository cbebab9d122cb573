//! `mr ima appraise` and `mr policy create`: the CLI side of mr-policy (arguments, printing).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mr_core::log::ima::{ImaReader, ImaReaderOptions};
use mr_core::HashAlg;
use mr_policy::create::PolicyBuilder;
use mr_policy::{appraise_list, AppraiseOptions, DenyList, PolicyError, RuntimePolicy};
use serde_json::json;

use crate::common::{open_input, print_json, CmdResult, Failure};

/// Arguments of `mr ima appraise`.
#[derive(Args)]
pub struct AppraiseArgs {
    /// The list (binary or ASCII, detected); `-` reads stdin.
    pub log: PathBuf,
    /// keylime runtime policy (JSON, version 1, or a DSSE envelope holding one).
    #[arg(long, value_name = "POLICY.json")]
    pub runtime_policy: PathBuf,
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

/// `mr ima appraise`.
pub fn run_appraise(args: AppraiseArgs) -> CmdResult {
    let policy = RuntimePolicy::from_file(&args.runtime_policy).map_err(malformed)?;
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
