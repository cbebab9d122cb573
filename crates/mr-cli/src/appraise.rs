//! `mr ima appraise` and `mr policy create`: the CLI side of mr-policy (arguments, printing).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mr_core::log::ima::{ImaReader, ImaReaderOptions};
use mr_core::HashAlg;
use mr_policy::create::PolicyBuilder;
use mr_policy::{
    appraise_input, AppraisalPolicy, AppraiseOptions, ListOptions, PolicyError, PolicyFiles,
};

use crate::args::OutputArgs;
use crate::common::{ima_input, open_input, print_json, print_lines, CmdResult, Failure};

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
    #[command(flatten)]
    pub output: OutputArgs,
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

/// A policy error (malformed input or usage error): exit code 2.
pub fn malformed(e: PolicyError) -> Failure {
    Failure::Malformed(e.to_string())
}

/// `mr ima appraise`: the runtime policy and deny list loaded as `mr verify` loads them
/// ([`AppraisalPolicy::from_files`]), then [`appraise_input`] (two threads on a long list).
pub fn run_appraise(args: AppraiseArgs) -> CmdResult {
    let policy = AppraisalPolicy::from_files(PolicyFiles {
        runtime: Some(&args.runtime_policy),
        runtime_key: args.runtime_policy_key.as_deref(),
        deny_list: args.deny_list.as_deref(),
        ..PolicyFiles::default()
    })
    .map_err(malformed)?;
    let Some(AppraisalPolicy {
        runtime: Some(runtime),
        deny_list,
        ..
    }) = policy
    else {
        return Err(Failure::Malformed("no runtime policy loaded".into()));
    };
    let input = open_list(&args.log)?;
    let options = AppraiseOptions {
        deny_list,
        ..AppraiseOptions::default()
    };
    // One appraisal per process: pinning keeps the scheduler from running both threads on one
    // CPU (as for `mr ima replay`).
    let list = ListOptions::default().with_pinned_threads(true);
    let result = appraise_input(input, &runtime, options, &list).map_err(malformed)?;
    if args.output.json {
        print_json(&result.to_json());
    } else {
        print_lines(&result.lines());
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

/// The list named on the command line, opened once as `mr ima replay` opens it
/// ([`ima_input`]: a file is read in chunk-sized reads, its length decides whether two threads
/// are worth starting), with an open error worded as `mr ima appraise` always worded it
/// (`cannot open PATH: …`, without the library's `i/o error:` prefix).
fn open_list(path: &std::path::Path) -> Result<mr_core::ImaInput<'static>, Failure> {
    if path == std::path::Path::new("-") {
        return ima_input(path);
    }
    mr_core::ImaInput::open(path).map_err(|e| match e {
        mr_core::Error::Io(io) => Failure::Malformed(io.to_string()),
        other => Failure::Malformed(other.to_string()),
    })
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
