//! Shards: an IMA list cut into pieces, each with a begin and an end anchor.
//!
//! Shard k verifies when its list, replayed from its begin values, reaches its end anchor's
//! values with every entry covered (the cut is at the quote: entries after it belong to the next
//! shard), and begin(k+1) = end(k): a begin quote must be by the same root, in the same boot
//! (same AK, resetCount and restartCount), with values equal to the end of shard k in every
//! register and bank both hold. The replay of shard k+1 starts from the full state at the end of
//! shard k (all banks), so the chain is one continuous replay cut at quotes.
//!
//! The first shard begins at boot (reset values) or at a trusted checkpoint. Begin values that
//! are only claimed ([`Begin::Claimed`], a manifest's `values` anchor) are refused, always: that
//! is the forged `snapshot_aggregate` attack, a list that "starts" wherever the attacker needs.
//! A quote as the first shard's begin is refused too: it vouches for values but not for the
//! entries that led to them.
//!
//! [`ShardManifest`] is the JSON form (`version` 1): a list of shards, each naming its list
//! file and its begin and end anchors ([`AnchorSpec`]); paths are relative to the manifest. The
//! manifest is verified through a [`ShardSource`], which reads files and turns quote anchors
//! into verified [`Anchor`]s (mr-core verifies no quotes itself: the TPM or TD crate does).
//! A checkpoint a manifest names is opened with the verifier's [`CheckpointKey`]: the manifest
//! and its files come from the attester, and an unsealed or forged checkpoint is refused.
//!
//! Memory. Shards are verified one after the other, each list read once as a stream
//! ([`resume`](super::resume)): the first bad shard stops the verification before the next list is
//! opened, and memory is one entry of one list plus a small summary per shard (the manifest
//! itself is bounded by [`MAX_MANIFEST_LEN`] and [`MAX_SHARDS`]), whatever the lists' sizes.

use std::io::BufRead;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::register::{RegisterValue, VerifiedRegisters};
use crate::trust::Reference;

use super::checkpoint::{
    resume_plain, Anchor, Checkpoint, CheckpointKey, HistoryError, ResumeFrom, RootIdentity,
    Verification, MAX_CHECKPOINT_LEN,
};
use super::verify::{ImaInput, ImaOptions};

/// The manifest format version.
pub const SHARD_MANIFEST_VERSION: u32 = 1;

/// Most shards in one manifest.
pub const MAX_SHARDS: usize = 4096;

/// Largest manifest accepted (a shard with two TPM quote anchors takes about 400 bytes).
pub const MAX_MANIFEST_LEN: usize = 4 << 20;

/// An anchor as a manifest names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AnchorSpec {
    /// Register reset values at boot (first shard only).
    Boot,
    /// A trusted checkpoint file (first shard only).
    Checkpoint {
        /// The checkpoint file.
        file: String,
    },
    /// A TPM quote: TPMS_ATTEST, TPMT_SIGNATURE, the AK, the nonce (hex) and the quoted PCR
    /// values (`ID:ALG:HEX` lines).
    TpmQuote {
        /// TPMS_ATTEST file.
        attest: String,
        /// TPMT_SIGNATURE file.
        sig: String,
        /// AK file (any format the TPM crate detects).
        ak: String,
        /// The nonce bound into the quote, hex.
        nonce: String,
        /// The quoted PCR values.
        pcrs: String,
    },
    /// A TD quote (kept open: resolved by the caller's [`ShardSource`]).
    TdQuote {
        /// The quote file.
        quote: String,
        /// The nonce bound into REPORTDATA, hex.
        #[serde(default)]
        nonce: Option<String>,
        /// Files the root needs besides the quote (journal, collateral), by name.
        #[serde(default)]
        files: std::collections::BTreeMap<String, String>,
    },
    /// Values stated without any root (`ID:ALG:HEX`): never accepted as a begin.
    Values {
        /// The values.
        registers: Vec<String>,
    },
}

/// One shard of a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardSpec {
    /// The shard's IMA list file.
    pub list: String,
    /// Where it begins.
    pub begin: AnchorSpec,
    /// Where it ends (a quote).
    pub end: AnchorSpec,
}

/// A JSON manifest of shards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardManifest {
    /// [`SHARD_MANIFEST_VERSION`].
    pub version: u32,
    /// The shards, in order.
    pub shards: Vec<ShardSpec>,
}

fn shard_err(shard: usize, reason: impl Into<String>) -> Error {
    HistoryError::Shard {
        shard,
        reason: reason.into(),
    }
    .into()
}

impl ShardManifest {
    /// Parse a manifest (version checked, at most [`MAX_SHARDS`] shards).
    pub fn from_json(text: &[u8]) -> Result<ShardManifest, Error> {
        let bad = |m: String| Error::from(HistoryError::InvalidManifest(m));
        if text.len() > MAX_MANIFEST_LEN {
            return Err(bad(format!("larger than {MAX_MANIFEST_LEN} bytes")));
        }
        let m: ShardManifest = serde_json::from_slice(text).map_err(|e| bad(e.to_string()))?;
        if m.version != SHARD_MANIFEST_VERSION {
            return Err(bad(format!(
                "version {}, this mr reads version {SHARD_MANIFEST_VERSION}",
                m.version
            )));
        }
        if m.shards.is_empty() || m.shards.len() > MAX_SHARDS {
            return Err(bad(format!(
                "{} shards (1 to {MAX_SHARDS})",
                m.shards.len()
            )));
        }
        Ok(m)
    }

    /// The manifest as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Where a shard begins, resolved (`R`: the kind of values its quotes give, see [`Anchor`]).
#[derive(Clone, Debug)]
pub enum Begin<R = VerifiedRegisters> {
    /// Reset values at boot.
    Boot,
    /// A trusted checkpoint.
    Checkpoint(Checkpoint),
    /// A verified quote.
    Quote(Anchor<R>),
    /// Values nobody vouches for (refused).
    Claimed(Vec<RegisterValue>),
}

/// A shard ready to verify, its list in memory ([`verify_shards`], feature `testing`).
#[cfg(feature = "testing")]
#[derive(Clone, Debug)]
pub struct Shard<R = VerifiedRegisters> {
    /// A name for messages (the list file).
    pub name: String,
    /// The list bytes.
    pub list: Vec<u8>,
    /// Its begin.
    pub begin: Begin<R>,
    /// Its end quote.
    pub end: Anchor<R>,
}

/// What is kept of a verified shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardSummary {
    /// Its list (the manifest's name for it).
    pub list: String,
    /// Absolute number of its first entry.
    pub first_entry: u64,
    /// Its entries.
    pub entries: u64,
    /// The root its end quote is anchored to.
    pub root: RootIdentity,
}

/// The result of a verified chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardsReport {
    /// Each shard, in order.
    pub shards: Vec<ShardSummary>,
    /// The last shard's verification (its checkpoint continues the chain).
    pub last: Verification,
}

impl ShardsReport {
    /// The state after the last shard (a checkpoint to continue from).
    pub fn last_checkpoint(&self) -> &Checkpoint {
        &self.last.checkpoint
    }
    /// Entries verified in all.
    pub fn entries(&self) -> u64 {
        self.last.checkpoint.entries()
    }
}

/// The chain verified so far: each shard is checked against the end of the one before.
struct ShardChain<'c> {
    config: &'c ImaOptions,
    shards: Vec<ShardSummary>,
    last: Option<Verification>,
}

impl<'c> ShardChain<'c> {
    fn new(config: &'c ImaOptions) -> ShardChain<'c> {
        ShardChain {
            config,
            shards: Vec::new(),
            last: None,
        }
    }

    /// Verify shard `k` (its list read once, as a stream) and append it to the chain.
    fn verify_next<R: Reference>(
        &mut self,
        k: usize,
        name: &str,
        begin: &Begin<R>,
        list: ImaInput<'_>,
        end: &Anchor<R>,
    ) -> Result<(), Error> {
        let wrap = |e: Error| -> Error {
            match e {
                Error::History(h)
                    if matches!(
                        *h,
                        HistoryError::Shard { .. } | HistoryError::UnanchoredStart { .. }
                    ) =>
                {
                    Error::History(h)
                }
                e => HistoryError::ShardReplay {
                    shard: k,
                    list: name.to_string(),
                    source: Box::new(e),
                }
                .into(),
            }
        };
        let config = self.config;
        let from = match (begin, &self.last) {
            (Begin::Claimed(_), _) => {
                return Err(HistoryError::UnanchoredStart {
                    what: format!("shard {k} ({name})"),
                }
                .into())
            }
            (Begin::Boot, None) => ResumeFrom::Boot,
            (Begin::Checkpoint(cp), None) => ResumeFrom::Tail(cp),
            (Begin::Quote(_), None) => {
                return Err(shard_err(
                    k,
                    "the first shard must begin at boot or at a trusted checkpoint: a quote vouches for values, not for the entries before them",
                ))
            }
            (Begin::Boot | Begin::Checkpoint(_), Some(_)) => {
                return Err(shard_err(
                    k,
                    "only the first shard may begin at boot or at a checkpoint",
                ))
            }
            (Begin::Quote(begin), Some(prev)) => {
                check_continues(k, begin, &prev.checkpoint)?;
                ResumeFrom::Tail(&prev.checkpoint)
            }
        };
        let v = resume_plain(list, from, end, config)
            .and_then(|v| {
                // The cut is at the quote: entries after it belong to the next shard.
                match v.report.outcome.covered {
                    Some(covered) if covered != v.report.entries => {
                        Err(HistoryError::NotAllCovered {
                            covered,
                            entries: v.report.entries,
                        }
                        .into())
                    }
                    _ => Ok(v),
                }
            })
            .map_err(wrap)?;
        self.shards.push(ShardSummary {
            list: name.to_string(),
            first_entry: v.first_entry,
            entries: v.report.entries,
            root: v.checkpoint.root().clone(),
        });
        self.last = Some(v);
        Ok(())
    }

    /// The report, vouched for by the last shard's end quote (`end`).
    fn finish<R: Reference>(
        self,
        end: Option<&Anchor<R>>,
    ) -> Result<R::Outcome<ShardsReport>, Error> {
        let (Some(last), Some(end)) = (self.last, end) else {
            return Err(shard_err(0, "no shards"));
        };
        Ok(end.registers().outcome(ShardsReport {
            shards: self.shards,
            last,
        }))
    }
}

/// A begin quote of shard `k` must be the end of shard `k - 1`: same root and boot, and the
/// same value in every register and bank both hold (at least one).
fn check_continues<R: Reference>(
    k: usize,
    begin: &Anchor<R>,
    prev_cp: &Checkpoint,
) -> Result<(), Error> {
    if begin.root() != prev_cp.root() {
        return Err(shard_err(
            k,
            format!(
                "its begin quote ({}) is not the end of shard {} ({}): another root or another boot",
                begin.root(),
                k - 1,
                prev_cp.root()
            ),
        ));
    }
    let mut common = 0usize;
    for (id, value) in begin.values().iter() {
        if let Some(p) = prev_cp.value(id, value.alg()) {
            common += 1;
            if p != *value {
                return Err(shard_err(
                    k,
                    format!(
                        "its begin {id} {} {value} differs from the end of shard {} ({p}): shards missing, swapped or out of order",
                        value.alg(),
                        k - 1
                    ),
                ));
            }
        }
    }
    if common == 0 {
        return Err(shard_err(
            k,
            format!(
                "its begin quote shares no register with the end of shard {}",
                k - 1
            ),
        ));
    }
    Ok(())
}

/// Verify a chain of shards held in memory (see the module documentation): test support
/// (feature `testing`) that drives the chain rules without files. Verifiers use
/// [`verify_manifest`], the one entry point, with a [`ShardSource`].
#[cfg(feature = "testing")]
pub fn verify_shards<R: Reference>(
    shards: &[Shard<R>],
    config: &ImaOptions,
) -> Result<R::Outcome<ShardsReport>, Error> {
    let mut chain = ShardChain::new(config);
    for (k, shard) in shards.iter().enumerate() {
        chain.verify_next(
            k,
            &shard.name,
            &shard.begin,
            ImaInput::from_bytes(&shard.list),
            &shard.end,
        )?;
    }
    chain.finish(shards.last().map(|s| &s.end))
}

/// Reads a manifest's files and verifies its quotes.
pub trait ShardSource {
    /// The kind of values its quotes give: [`VerifiedRegisters`] from a quote verifier,
    /// [`crate::ExpectedRegisters`] for values the caller asserts.
    type Values: Reference;
    /// The bytes of the small file `path` (a checkpoint; at most [`MAX_CHECKPOINT_LEN`] bytes
    /// are needed).
    fn read(&mut self, path: &str) -> Result<Vec<u8>, Error>;
    /// The list file `path`, opened once and read as a stream.
    fn open_list(&mut self, path: &str) -> Result<Box<dyn BufRead + '_>, Error>;
    /// Verify a quote anchor ([`AnchorSpec::TpmQuote`] or [`AnchorSpec::TdQuote`]).
    fn quote(&mut self, spec: &AnchorSpec) -> Result<Anchor<Self::Values>, Error>;
}

/// Resolve a manifest's anchors and lists through `source` and verify the chain, shard by
/// shard: shard k's anchors are resolved and its list streamed only after shard k - 1 verified.
/// A checkpoint anchor is opened with `key` (none given: [`HistoryError::NoCheckpointKey`],
/// before anything is read).
pub fn verify_manifest<R: Reference>(
    manifest: &ShardManifest,
    source: &mut dyn ShardSource<Values = R>,
    config: &ImaOptions,
    key: Option<&CheckpointKey>,
) -> Result<R::Outcome<ShardsReport>, Error> {
    if manifest.shards.len() > MAX_SHARDS {
        return Err(HistoryError::InvalidManifest(format!(
            "{} shards, at most {MAX_SHARDS}",
            manifest.shards.len()
        ))
        .into());
    }
    let uses_checkpoint = |a: &AnchorSpec| matches!(a, AnchorSpec::Checkpoint { .. });
    if key.is_none()
        && manifest
            .shards
            .iter()
            .any(|s| uses_checkpoint(&s.begin) || uses_checkpoint(&s.end))
    {
        return Err(
            HistoryError::NoCheckpointKey("a shard manifest with a checkpoint".into()).into(),
        );
    }
    let mut chain = ShardChain::new(config);
    let mut last_end = None;
    for (k, s) in manifest.shards.iter().enumerate() {
        let begin = match &s.begin {
            AnchorSpec::Boot => Begin::Boot,
            AnchorSpec::Checkpoint { file } => {
                let key = key.ok_or_else(|| {
                    HistoryError::NoCheckpointKey(format!("shard {k}'s checkpoint {file}"))
                })?;
                let bytes = source.read(file)?;
                if bytes.len() > MAX_CHECKPOINT_LEN {
                    return Err(shard_err(
                        k,
                        format!("checkpoint {file} larger than {MAX_CHECKPOINT_LEN} bytes"),
                    ));
                }
                let cp = Checkpoint::open(&bytes, key).map_err(|e| HistoryError::ShardReplay {
                    shard: k,
                    list: format!("checkpoint {file}"),
                    source: Box::new(e),
                })?;
                Begin::Checkpoint(cp)
            }
            AnchorSpec::Values { registers } => {
                let mut v = Vec::with_capacity(registers.len().min(256));
                for r in registers.iter().take(256) {
                    v.push(r.parse::<RegisterValue>()?);
                }
                Begin::Claimed(v)
            }
            q => Begin::Quote(source.quote(q)?),
        };
        let end = match &s.end {
            q @ (AnchorSpec::TpmQuote { .. } | AnchorSpec::TdQuote { .. }) => source.quote(q)?,
            _ => return Err(shard_err(
                k,
                "its end must be a quote (boot, checkpoints and stated values cannot end a shard)",
            )),
        };
        let list = ImaInput::from_reader(source.open_list(&s.list)?);
        chain.verify_next(k, &s.list, &begin, list, &end)?;
        last_end = Some(end);
    }
    chain.finish(last_end.as_ref())
}
