//! The life of an IMA list on the command line: checkpoints for `mr ima replay`
//! (`--save-checkpoint`, `--from-checkpoint [--tail]`, a TPM quote as the anchor) and
//! `mr ima shards verify MANIFEST`.
//!
//! A checkpoint is written only after a successful verification, and records the root that
//! vouched for it: with `--tpm-attest/--tpm-sig/--ak/--pcrs/--nonce` the quote's AK and
//! resetCount/restartCount (a later resume after a reboot is refused); with `--expect` the
//! values are asserted and no boot identity is recorded.
//!
//! Checkpoints are sealed with the verifier's key (`--checkpoint-key FILE`, 32 bytes, created
//! with mode 0600 by the first `--save-checkpoint`; refused when group or others can read it):
//! mr-core opens a checkpoint only when its HMAC-SHA-256 verifies (docs/checkpoints.md).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use mr_attest::shards::{check_resumed_boot_aggregate, open_checkpoint, save_checkpoint};
use mr_attest::AnchorError;
use mr_core::log::ima::checkpoint::MAX_CHECKPOINT_LEN;
use mr_core::log::ima::extend::DEFAULT_NEVER_EXTENDED_BUDGET;
use mr_core::log::ima::{resume, Anchor, CheckpointKey, ImaOptions, ImaReplayConfig, ResumeFrom};
use mr_core::{ExpectedRegisters, Reference};

use crate::args::{NonceArgs, OutputArgs, TpmQuoteFiles};
use crate::common::{
    file_failure, ima_input, print_json, read_input, rejection_json, CmdResult, Failure,
};

/// Checkpoint, quote-anchor and extend-failure options of `mr ima replay`. The anchor's quote
/// files are `--tpm-attest`, `--tpm-sig`, `--ak`, `--pcrs`, all needed with the nonce.
#[derive(Args, Default)]
#[command(
    mut_arg("attest", |a| a.long("tpm-attest").required(false)
        .help("Anchor: TPMS_ATTEST of a TPM quote over the IMA PCR (instead of --expect)")
        .requires_all(["sig", "ak", "pcrs", "nonce"])
        .conflicts_with_all(["expect", "expect_file"])),
    mut_arg("sig", |a| a.long("tpm-sig").required(false).requires("attest")
        .help("Anchor: TPMT_SIGNATURE of the quote")),
    mut_arg("ak", |a| a.required(false).requires("attest")),
    mut_arg("pcrs", |a| a.requires("attest")
        .help("Anchor: the quoted PCR values (`ID:ALG:HEX` lines)")),
    mut_arg("nonce", |a| a.requires("attest").help("Anchor: the nonce the quote must carry (hex)")),
)]
pub struct HistoryArgs {
    /// After a successful verification, write the verifier's state (a versioned JSON checkpoint)
    /// to F: entries and bytes verified, the prefix digest, register values, boot identity.
    #[arg(long, value_name = "F")]
    pub save_checkpoint: Option<PathBuf>,
    /// The verifier's checkpoint key: checkpoints are sealed and opened with it (HMAC-SHA-256).
    /// Created (32 random bytes, mode 0600) by the first --save-checkpoint; must not be
    /// readable by group or others. Required by --save-checkpoint and --from-checkpoint.
    #[arg(long, value_name = "FILE")]
    pub checkpoint_key: Option<PathBuf>,
    /// Resume from the checkpoint F: only entries after it are replayed, from its values. The
    /// list is the whole list (its prefix is checked against the checkpoint) unless --tail.
    #[arg(long, value_name = "F", conflicts_with = "start")]
    pub from_checkpoint: Option<PathBuf>,
    /// With --from-checkpoint: LOG holds only the bytes after the checkpoint (a trimmed or
    /// staged list, or an agent's delta).
    #[arg(long, requires = "from_checkpoint")]
    pub tail: bool,
    /// Accept a list whose boot_aggregate is all zero (booted without a TPM: nothing was
    /// extended by the kernel). Refused by default when verifying.
    #[arg(long)]
    pub allow_no_tpm: bool,
    /// Accept a changed TPM restartCount since the checkpoint (TPM Resume) when the replay from
    /// the checkpoint still reaches the quote. Refused by default (a TPM Restart resets PCRs).
    #[arg(long, requires = "from_checkpoint")]
    pub allow_tpm_resume: bool,
    /// Anchor: a TPM quote over the IMA PCR (instead of --expect).
    #[command(flatten)]
    pub tpm: TpmQuoteFiles,
    /// Anchor: the nonce the quote must carry.
    #[command(flatten)]
    pub nonce: NonceArgs,
    /// When the list does not reach the expected values, look for the one entry that was logged
    /// but never extended, within this many extend operations (0: do not look).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_NEVER_EXTENDED_BUDGET)]
    pub never_extended_budget: u64,
}

impl HistoryArgs {
    /// True when `mr ima replay` must take the checkpoint path (in memory, anchored).
    pub fn active(&self) -> bool {
        self.save_checkpoint.is_some()
            || self.from_checkpoint.is_some()
            || self.tpm.attest.is_some()
    }
}

/// The key `--checkpoint-key` names (created by the first `--save-checkpoint`), or the usage
/// error for `what` without one.
fn required_key(path: Option<&Path>, what: &str, create: bool) -> Result<CheckpointKey, Failure> {
    let path = path.ok_or_else(|| Failure::Malformed(format!(
        "{what} needs the verifier's checkpoint key: pass --checkpoint-key FILE (created with mode 0600 by the first --save-checkpoint)"
    )))?;
    let key = if create {
        CheckpointKey::create_or_read_file(path)
    } else {
        CheckpointKey::read_file(path)
    };
    Ok(key?)
}

/// The anchor of `mr ima replay` with history options: a verified TPM quote or asserted values.
enum ReplayAnchor {
    Quote(Anchor),
    Asserted(Anchor<ExpectedRegisters>),
}

fn anchor(args: &crate::ima::ReplayArgs) -> Result<ReplayAnchor, Failure> {
    let h = &args.history;
    if let (Some(_), Some(ak)) = (&h.tpm.attest, &h.tpm.ak) {
        let quote = h.tpm.evidence(h.nonce.value()?, "")?;
        return quote
            .anchor()
            .map(ReplayAnchor::Quote)
            .map_err(|e| match e {
                AnchorError::Ak(e) => Failure::Malformed(format!("{}: {e}", ak.display())),
                e => Failure::classed(e.class(), e.to_string()),
            });
    }
    let Some(expected) = args.expect.values()? else {
        return Err(Failure::Malformed(
            "checkpoints need verified values: a TPM quote (--tpm-attest ...) or --expect".into(),
        ));
    };
    Ok(ReplayAnchor::Asserted(Anchor::asserted(expected)))
}

/// `mr ima replay` with checkpoints or a quote anchor.
pub fn replay(args: &crate::ima::ReplayArgs, mut cfg: ImaReplayConfig) -> CmdResult {
    let h = &args.history;
    cfg.allow_no_tpm = h.allow_no_tpm;
    // Usage first: no key, no checkpoint (exit 2 before anything is read).
    let key = if h.save_checkpoint.is_some() || h.from_checkpoint.is_some() {
        let what = if h.from_checkpoint.is_some() {
            "--from-checkpoint"
        } else {
            "--save-checkpoint"
        };
        let create = h.save_checkpoint.is_some() && h.from_checkpoint.is_none();
        Some(required_key(h.checkpoint_key.as_deref(), what, create)?)
    } else {
        None
    };
    match anchor(args)? {
        ReplayAnchor::Quote(a) => replay_anchored(args, cfg, key.as_ref(), &a),
        ReplayAnchor::Asserted(a) => replay_anchored(args, cfg, key.as_ref(), &a),
    }
}

fn replay_anchored<R: Reference>(
    args: &crate::ima::ReplayArgs,
    cfg: ImaReplayConfig,
    key: Option<&CheckpointKey>,
    anchor: &Anchor<R>,
) -> CmdResult {
    let h = &args.history;
    let rc = ImaOptions::default()
        .with_replay(cfg)
        .with_tpm_resume_allowed(h.allow_tpm_resume)
        .with_never_extended_search(h.never_extended_budget);
    let checkpoint = match (&h.from_checkpoint, key) {
        (Some(f), Some(key)) => Some(
            open_checkpoint(&read_input(f, MAX_CHECKPOINT_LEN as u64)?, f, key)
                .map_err(file_failure)?,
        ),
        _ => None,
    };
    let from = match &checkpoint {
        Some(cp) if h.tail => ResumeFrom::Tail(cp),
        Some(cp) => ResumeFrom::Full(cp),
        None => ResumeFrom::Boot,
    };
    let result = resume(ima_input(&args.log)?, from, anchor, &rc);
    let v = match result.map(R::into_report) {
        Ok(v) => v,
        Err(e) => {
            if args.output.json {
                print_json(&rejection_json(&e).unwrap_or_else(
                    || serde_json::json!({"verified": false, "reason": e.to_string()}),
                ));
            }
            return Err(e.into());
        }
    };
    if let Some(boot_log) = &args.boot_log {
        crate::ima::check_boot_aggregate(boot_log, args.output.json, |log| {
            check_resumed_boot_aggregate(log, &v).map_err(file_failure)
        })?;
    }
    if let (Some(f), Some(key)) = (&h.save_checkpoint, key) {
        save_checkpoint(&v.checkpoint, f, key).map_err(file_failure)?;
    }
    if args.output.json {
        print_json(&v.to_json());
    } else {
        out!("{}", v.to_text());
        // Several boots in one list (kexec): possibly lost entries, found by the replay.
        for f in &v.report.kexec.findings {
            outln!("warning: {f}");
        }
        if let Some(f) = &h.save_checkpoint {
            outln!(
                "checkpoint saved: {} ({} entries, {} bytes verified)",
                f.display(),
                v.checkpoint.entries(),
                v.checkpoint.offset()
            );
        }
    }
    Ok(())
}

/// `mr ima shards` subcommands.
#[derive(Subcommand)]
pub enum ShardsCommand {
    /// Verify a JSON manifest of IMA list shards, each with begin and end anchors (quotes).
    Verify(ShardsVerifyArgs),
}

/// Arguments of `mr ima shards verify`.
#[derive(Args)]
pub struct ShardsVerifyArgs {
    /// The manifest (`{"version": 1, "shards": [{"list": F, "begin": A, "end": A}]}`; anchors
    /// `{"kind": "boot"}`, `{"kind": "checkpoint", "file": F}`, `{"kind": "tpm_quote",
    /// "attest": F, "sig": F, "ak": F, "nonce": HEX, "pcrs": F}`); paths relative to it.
    pub manifest: PathBuf,
    /// Accept a TPM restartCount change between shards when the replay still matches.
    #[arg(long)]
    pub allow_tpm_resume: bool,
    /// Accept lists booted without a TPM (all-zero boot_aggregate).
    #[arg(long)]
    pub allow_no_tpm: bool,
    /// The verifier's checkpoint key (see `mr ima replay --checkpoint-key`): required when the
    /// manifest begins at a checkpoint, which must be sealed with it.
    #[arg(long, value_name = "FILE")]
    pub checkpoint_key: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Run an `mr ima shards` subcommand.
pub fn run(command: ShardsCommand) -> CmdResult {
    match command {
        ShardsCommand::Verify(args) => verify(args),
    }
}

fn verify(args: ShardsVerifyArgs) -> CmdResult {
    let key = args
        .checkpoint_key
        .as_deref()
        .map(CheckpointKey::read_file)
        .transpose()?;
    let cfg = ImaOptions::default()
        .with_replay(ImaReplayConfig::default().with_no_tpm_allowed(args.allow_no_tpm))
        .with_tpm_resume_allowed(args.allow_tpm_resume);
    let report = match mr_attest::verify_manifest_file(&args.manifest, &cfg, key.as_ref()) {
        Ok(r) => r.into_report(),
        Err(e) => {
            if args.output.json {
                print_json(&serde_json::json!({"verified": false, "reason": e.to_string()}));
            }
            return Err(file_failure(e));
        }
    };
    if args.output.json {
        print_json(&report.to_json());
    } else {
        out!("{}", report.to_text());
    }
    Ok(())
}
