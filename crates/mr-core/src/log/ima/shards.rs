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

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::register::RegisterValue;

use super::checkpoint::{
    resume, verify_from_boot, Anchor, Checkpoint, HistoryError, ResumeConfig, ResumeInput,
    Verification,
};

/// The manifest format version.
pub const SHARD_MANIFEST_VERSION: u32 = 1;

/// Most shards in one manifest.
pub const MAX_SHARDS: usize = 65_536;

/// Largest manifest accepted.
pub const MAX_MANIFEST_LEN: usize = 16 << 20;

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

/// Where a shard begins, resolved.
#[derive(Clone, Debug)]
pub enum Begin {
    /// Reset values at boot.
    Boot,
    /// A trusted checkpoint.
    Checkpoint(Checkpoint),
    /// A verified quote.
    Quote(Anchor),
    /// Values nobody vouches for (refused).
    Claimed(Vec<RegisterValue>),
}

/// A shard ready to verify.
#[derive(Clone, Debug)]
pub struct Shard {
    /// A name for messages (the list file).
    pub name: String,
    /// The list bytes.
    pub list: Vec<u8>,
    /// Its begin.
    pub begin: Begin,
    /// Its end quote.
    pub end: Anchor,
}

/// The result of a verified chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardsReport {
    /// Each shard's verification (entry numbers relative to its list; `first_entry` absolute).
    pub shards: Vec<Verification>,
}

impl ShardsReport {
    /// The state after the last shard (a checkpoint to continue from).
    pub fn last_checkpoint(&self) -> Option<&Checkpoint> {
        self.shards.last().map(|v| &v.checkpoint)
    }
    /// Entries verified in all.
    pub fn entries(&self) -> u64 {
        self.last_checkpoint().map_or(0, |c| c.entries)
    }
}

/// Verify a chain of shards (see the module documentation).
pub fn verify_shards(shards: &[Shard], config: &ResumeConfig) -> Result<ShardsReport, Error> {
    if shards.is_empty() {
        return Err(shard_err(0, "no shards"));
    }
    let mut done: Vec<Verification> = Vec::with_capacity(shards.len());
    for (k, shard) in shards.iter().enumerate() {
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
                    list: shard.name.clone(),
                    source: Box::new(e),
                }
                .into(),
            }
        };
        let v = match (&shard.begin, done.last()) {
            (Begin::Claimed(_), _) => {
                return Err(HistoryError::UnanchoredStart {
                    what: format!("shard {k} ({})", shard.name),
                }
                .into())
            }
            (Begin::Boot, None) => verify_from_boot(&shard.list, config, &shard.end).map_err(wrap)?,
            (Begin::Checkpoint(cp), None) => {
                resume(ResumeInput::Tail(&shard.list), cp, config, &shard.end).map_err(wrap)?
            }
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
                let prev_cp = &prev.checkpoint;
                if begin.root() != &prev_cp.root {
                    return Err(shard_err(
                        k,
                        format!(
                            "its begin quote ({}) is not the end of shard {} ({}): another root or another boot",
                            begin.root(),
                            k - 1,
                            prev_cp.root
                        ),
                    ));
                }
                let mut common = 0usize;
                for (id, value) in begin.registers().iter() {
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
                resume(ResumeInput::Tail(&shard.list), prev_cp, config, &shard.end)
                    .map_err(wrap)?
            }
        };
        if v.report.outcome.left_over() > 0 {
            return Err(shard_err(
                k,
                format!(
                    "{} entries after its end quote (a shard must end at its quote)",
                    v.report.outcome.left_over()
                ),
            ));
        }
        done.push(v);
    }
    Ok(ShardsReport { shards: done })
}

/// Reads a manifest's files and verifies its quotes.
pub trait ShardSource {
    /// The bytes of the file `path` (as written in the manifest).
    fn read(&mut self, path: &str) -> Result<Vec<u8>, Error>;
    /// Verify a quote anchor ([`AnchorSpec::TpmQuote`] or [`AnchorSpec::TdQuote`]).
    fn quote(&mut self, spec: &AnchorSpec) -> Result<Anchor, Error>;
}

/// Resolve a manifest's anchors and lists through `source` and verify the chain.
pub fn verify_manifest(
    manifest: &ShardManifest,
    source: &mut dyn ShardSource,
    config: &ResumeConfig,
) -> Result<ShardsReport, Error> {
    let mut shards = Vec::with_capacity(manifest.shards.len());
    for (k, s) in manifest.shards.iter().enumerate() {
        let begin = match &s.begin {
            AnchorSpec::Boot => Begin::Boot,
            AnchorSpec::Checkpoint { file } => {
                Begin::Checkpoint(Checkpoint::from_json(&source.read(file)?)?)
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
        let list = source.read(&s.list)?;
        shards.push(Shard {
            name: s.list.clone(),
            list,
            begin,
            end,
        });
    }
    verify_shards(&shards, config)
}
