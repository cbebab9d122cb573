//! `mr ima ...`: Linux IMA measurement lists.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use mr_attest::BootAggregateCheck;
use mr_core::log::ima::{
    DigestMode, Endian, ImaOptions, ImaReplayConfig, ListKind, ViolationPolicy,
};
use mr_core::replay::{PrefixPolicy, ReplayOptions};
use mr_core::{ComputeOnly, Error, HashAlg, Reference, RegisterValue};

use crate::args::{ExpectArgs, OutputArgs};
use crate::common::{ima_input, print_json, print_rejection_json, CmdResult, Failure};

/// `mr ima` subcommands.
#[derive(Subcommand)]
pub enum ImaCommand {
    /// Replay a measurement list (binary or ASCII, detected) and print or check PCR values.
    Replay(Box<ReplayArgs>),
    /// Appraise every entry against a keylime runtime policy (exit 0 all allowed, 1 some not).
    Appraise(Box<crate::appraise::AppraiseArgs>),
    /// IMA list shards anchored by quotes.
    Shards {
        #[command(subcommand)]
        command: crate::shards::ShardsCommand,
    },
}

/// Format override.
#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// `binary_runtime_measurements[_<alg>]`.
    Binary,
    /// `ascii_runtime_measurements[_<alg>]`.
    Ascii,
}

/// Byte-order override.
#[derive(Clone, Copy, ValueEnum)]
pub enum EndianArg {
    /// Little endian (x86, arm64, `ima_canonical_fmt`).
    Little,
    /// Big endian host without `ima_canonical_fmt`.
    Big,
}

/// Arguments of `mr ima replay`.
#[derive(Args)]
pub struct ReplayArgs {
    /// The list (`/sys/kernel/security/ima/binary_runtime_measurements`, an `ascii_...` file or
    /// a per-bank `..._<alg>` file); `-` reads stdin.
    pub log: PathBuf,
    /// Replay this bank (repeatable; default: the banks of --expect, else sha1 and sha256).
    #[arg(long, value_name = "ALG")]
    pub bank: Vec<HashAlg>,
    #[command(flatten)]
    pub expect: ExpectArgs,
    /// Extend non-SHA-1 banks with the SHA-1 template digest zero-padded (kernels before 5.8).
    #[arg(long, conflicts_with = "auto")]
    pub padded: bool,
    /// Try per-bank and padded SHA-1 digests in one pass; report which one matched.
    #[arg(long)]
    pub auto: bool,
    /// The whole list must replay to the expected values (default: the shortest matching
    /// prefix, since IMA appends entries before extending the PCR).
    #[arg(long)]
    pub exact: bool,
    /// Start value `ID:ALG:HEX` of a register (repeatable; default: its reset value).
    #[arg(long, value_name = "ID:ALG:HEX")]
    pub start: Vec<String>,
    /// Reject the list if it holds a violation (default: extend all-0xFF, as the kernel).
    #[arg(long)]
    pub reject_violations: bool,
    /// Force the list format (default: detected).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Force the byte order of a binary list (default: detected from the first entry).
    #[arg(long, value_enum)]
    pub endian: Option<EndianArg>,
    /// Force the algorithm of the template-digest column (default: from its width; needed for
    /// sm3 lists).
    #[arg(long, value_name = "ALG")]
    pub column: Option<HashAlg>,
    /// Accept an incomplete final entry as trailing bytes (reported) instead of failing.
    #[arg(long)]
    pub allow_trailing_bytes: bool,
    /// The PC-Client event log of the same boot (`binary_bios_measurements`): replayed, and the
    /// boot_aggregate computed from its PCRs (0-7 for SHA-1, 0-9 otherwise) must equal the
    /// list's first boot_aggregate entry (exit 1 with both values when it does not).
    #[arg(long, value_name = "F")]
    pub boot_log: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Checkpoints, a TPM quote as the anchor, no-TPM lists, never-extended entries.
    #[command(flatten)]
    pub history: crate::shards::HistoryArgs,
}

/// Run an `mr ima` subcommand.
pub fn run(command: ImaCommand) -> CmdResult {
    match command {
        ImaCommand::Replay(args) => replay(*args),
        ImaCommand::Shards { command } => crate::shards::run(command),
        ImaCommand::Appraise(args) => crate::appraise::run_appraise(*args),
    }
}

fn config(args: &ReplayArgs) -> Result<ImaReplayConfig, Failure> {
    let mut opts = ReplayOptions::default();
    if args.exact {
        opts = opts.with_prefix(PrefixPolicy::Exact);
    }
    for s in &args.start {
        let rv: RegisterValue = s
            .parse()
            .map_err(|e: Error| Failure::Malformed(format!("--start: {e}")))?;
        opts = opts.with_start(rv.id, rv.value);
    }
    let mode = if args.padded {
        DigestMode::PaddedSha1
    } else if args.auto {
        DigestMode::Auto
    } else {
        DigestMode::PerBank
    };
    let mut cfg = ImaReplayConfig::default()
        .with_banks(args.bank.clone())
        .with_digest_mode(mode)
        .with_replay(opts)
        .with_trailing_bytes_allowed(args.allow_trailing_bytes);
    if args.reject_violations {
        cfg = cfg.with_violations(ViolationPolicy::Reject);
    }
    if let Some(f) = args.format {
        cfg = cfg.with_kind(match f {
            FormatArg::Binary => ListKind::Binary,
            FormatArg::Ascii => ListKind::Ascii,
        });
    }
    if let Some(e) = args.endian {
        cfg = cfg.with_endian(match e {
            EndianArg::Little => Endian::Little,
            EndianArg::Big => Endian::Big,
        });
    }
    if let Some(c) = args.column {
        cfg = cfg.with_column(c);
    }
    Ok(cfg)
}

fn replay(args: ReplayArgs) -> CmdResult {
    let cfg = config(&args)?.with_no_tpm_allowed(args.history.allow_no_tpm);
    if args.history.active() {
        return crate::shards::replay(&args, cfg);
    }
    match args.expect.values()? {
        Some(expected) => replay_against(&args, &cfg, &expected),
        None => replay_against(&args, &cfg, &ComputeOnly),
    }
}

fn replay_against<R: Reference>(
    args: &ReplayArgs,
    cfg: &ImaReplayConfig,
    reference: &R,
) -> CmdResult {
    let expected = reference.expected();
    // One replay per process: its two threads may have the machine's CPUs to themselves.
    let options = ImaOptions::default()
        .with_replay(cfg.clone())
        .with_never_extended_search(args.history.never_extended_budget)
        .with_pinned_threads(true);
    let result =
        mr_core::log::ima::verify(ima_input(&args.log)?, reference, &options).map(R::into_report);
    match result {
        Ok(report) => {
            if let Some(boot_log) = &args.boot_log {
                check_boot_aggregate(boot_log, args.output.json, |log| {
                    Ok(mr_attest::check_boot_aggregate(log, &report)?)
                })?;
            }
            if args.output.json {
                print_json(&report.to_json(expected.is_some()));
            } else {
                out!("{}", report.to_text(expected.is_some()));
                // Several boots (kexec): possibly lost entries, found by the replay.
                for f in &report.kexec.findings {
                    outln!("warning: {f}");
                }
            }
            Ok(())
        }
        Err(e) => {
            print_rejection_json(&e, args.output.json);
            Err(e.into())
        }
    }
}

/// `--boot-log`: the list's boot_aggregate against the PC-Client log's PCRs, checked by `check`
/// ([`mr_attest::check_boot_aggregate`] or [`mr_attest::shards::check_resumed_boot_aggregate`]).
pub(crate) fn check_boot_aggregate(
    boot_log: &std::path::Path,
    json: bool,
    check: impl FnOnce(&[u8]) -> Result<BootAggregateCheck, Failure>,
) -> CmdResult {
    let check = check(&crate::common::read_input(boot_log, 16 << 20)?)?;
    match &check {
        BootAggregateCheck::Matches { .. } => {
            if !json {
                outln!("{}", check.message("the boot log"));
            }
            Ok(())
        }
        BootAggregateCheck::Differs { .. } => {
            if let Some(j) = check.differs_json().filter(|_| json) {
                print_json(&j);
            }
            Err(Failure::Rejected(
                check.message(&format!("the boot log {}", boot_log.display())),
            ))
        }
        BootAggregateCheck::Unbound { reason } => {
            Err(Failure::Rejected(format!("--boot-log: {reason}")))
        }
    }
}
