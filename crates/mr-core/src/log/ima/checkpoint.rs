//! Checkpoints: the verifier's state after a verified prefix of an IMA list, and incremental
//! verification from it (keylime's "incremental attestation", made explicit and checkable).
//!
//! A [`Checkpoint`] records, at the end of the prefix a root of trust vouched for:
//! * `entries` and `offset`: entries and bytes of the list verified so far (counted from the
//!   first entry of the boot, also when the list was trimmed since);
//! * `prefix_digest`: a hash chain over the raw bytes of every verified entry,
//!   `c(0) = 32 zero bytes`, `c(i+1) = SHA-256(c(i) || bytes of entry i)`; a chain (not one hash
//!   of the whole prefix) so that a checkpoint made from a tail can be extended without the
//!   prefix bytes, and a full list can be checked against it whatever runs produced it;
//! * `registers`: the running value of every register and bank the list extends;
//! * the boot identity: the first `boot_aggregate`, and the root's view of the boot
//!   ([`RootIdentity`]: TPM AK with resetCount and restartCount, or a TD quote identity);
//! * the list format and digest mode, which a resumed replay is held to.
//!
//! One entry point, [`resume`], verifies a list and makes the checkpoint at the end of the
//! prefix its anchor covers; where the list starts is stated by the caller ([`ResumeFrom`]),
//! nothing is guessed:
//! * [`ResumeFrom::Boot`]: the whole list from the registers' reset values;
//! * [`ResumeFrom::Full`]: the whole list; the first `entries` entries must hash to
//!   `prefix_digest` (else [`HistoryError::PrefixDiffers`]), and only the entries after them
//!   are replayed, from the checkpoint's register values;
//! * [`ResumeFrom::Tail`]: only the bytes after the checkpoint (what a trimmed or staged list
//!   keeps, or what an agent sends); they are replayed from the checkpoint's values and must
//!   reach the new quote (else [`HistoryError::TailDoesNotContinue`]).
//!
//! The list ([`ImaInput`]) is read once, as a stream, in memory independent of its length.
//!
//! Reboots. A TPM quote's `resetCount` changes on every TPM Reset (TPM2_Startup(CLEAR) after a
//! power cycle or reboot): PCRs were reset and the list restarted, so the checkpoint no longer
//! applies ([`HistoryError::Rebooted`]). `restartCount` changes on TPM Restart (Startup(CLEAR)
//! after Shutdown(STATE), e.g. resume from hibernation: PCRs reset) and on TPM Resume
//! (Startup(STATE) after Shutdown(STATE), e.g. S3 suspend: PCRs preserved); TPM 2.0 Part 1
//! ("TPM Reset, Restart and Resume"). The counters cannot tell the two apart, so a changed
//! restartCount is refused by default ([`HistoryError::Restarted`]); with
//! [`ImaOptions::allow_tpm_resume`] it is accepted when, and only when, the replay from the
//! checkpoint's values still reaches the new quote (PCRs were preserved). The counters are
//! compared only between quotes by the same AK (they are obfuscated per key outside the
//! endorsement and platform hierarchies), so another AK is [`HistoryError::DifferentRoot`].
//!
//! Integrity. A checkpoint lets the verifier skip the entries before it, so it is state the
//! verifier must authenticate itself: a checkpoint file is sealed ([`Checkpoint::seal`]) with
//! HMAC-SHA-256 under a [`CheckpointKey`] only the verifier holds, and the only way to get a
//! [`Checkpoint`] from bytes is [`Checkpoint::open`], which verifies the MAC (in constant time)
//! before it reads a single field. A [`Checkpoint`] value can otherwise only come out of a
//! verification ([`resume`]): its fields are private, so no caller can
//! build or alter one. See `docs/checkpoints.md` for what an attester can and cannot do with a
//! checkpoint it hands over.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::path::Path;
use std::rc::Rc;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::alg::{Digest, HashAlg};
use crate::error::{Error, ErrorClass};
use crate::register::{
    ExpectedRegisters, MrId, Provenance, RegisterValue, VerifiedRegisters, NO_VALUES,
};
use crate::trust::Reference;

use super::reader::ImaReader;
use super::replay::{DigestMode, ImaReplayConfig, ImaReplayReport, ReplayState};
use super::template::Endian;
use super::text::mode_name;
use super::verify::{ImaInput, ImaOptions};
use super::{ListFormat, ListKind};

/// The checkpoint format version this code writes and reads (2: sealed with HMAC-SHA-256).
pub const CHECKPOINT_VERSION: u32 = 2;

/// Domain-separation label: the MAC is HMAC-SHA-256(key, label || checkpoint bytes), so a MAC
/// computed with the same key for anything else (another format, another version) never
/// verifies a checkpoint. Fixed length, NUL-terminated: the split is unambiguous.
pub const CHECKPOINT_MAC_LABEL: &[u8] = b"mr checkpoint v2 HMAC-SHA-256\0";

/// Length of a [`CheckpointKey`] in bytes (the HMAC-SHA-256 block-size-independent key length
/// recommended by RFC 2104: the hash output length).
pub const CHECKPOINT_KEY_LEN: usize = 32;

/// The verifier's secret key that seals and opens checkpoint files.
#[derive(Clone, PartialEq, Eq)]
pub struct CheckpointKey([u8; CHECKPOINT_KEY_LEN]);

impl CheckpointKey {
    /// A key from exactly [`CHECKPOINT_KEY_LEN`] bytes (e.g. a key file's contents).
    pub fn from_bytes(bytes: &[u8]) -> Result<CheckpointKey, Error> {
        let key: [u8; CHECKPOINT_KEY_LEN] = bytes.try_into().map_err(|_| {
            HistoryError::InvalidCheckpointKey(format!(
                "{} bytes, a checkpoint key is {CHECKPOINT_KEY_LEN}",
                bytes.len()
            ))
        })?;
        Ok(CheckpointKey(key))
    }

    /// The key bytes (to write a newly generated key to its file).
    pub fn as_bytes(&self) -> &[u8; CHECKPOINT_KEY_LEN] {
        &self.0
    }

    /// Read the key file at `path`: a regular file of exactly [`CHECKPOINT_KEY_LEN`] bytes that
    /// group and others cannot read (on Unix). Anything else is
    /// [`HistoryError::InvalidCheckpointKey`] (malformed input): a key others may have read
    /// authenticates nothing.
    pub fn read_file(path: &Path) -> Result<CheckpointKey, Error> {
        let shown = path.display();
        let invalid = |m: String| Error::from(HistoryError::InvalidCheckpointKey(m));
        let file = File::open(path).map_err(|e| {
            invalid(format!(
                "{shown}: {e} (a key is created when the first checkpoint is saved)"
            ))
        })?;
        let meta = file
            .metadata()
            .map_err(|e| invalid(format!("{shown}: {e}")))?;
        if !meta.is_file() {
            return Err(invalid(format!("{shown} is not a regular file")));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(invalid(format!(
                    "{shown} has mode {mode:03o}: group or others may read it (chmod 600 {shown})"
                )));
            }
        }
        let mut bytes = Vec::with_capacity(CHECKPOINT_KEY_LEN + 1);
        file.take(CHECKPOINT_KEY_LEN as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| invalid(format!("cannot read {shown}: {e}")))?;
        CheckpointKey::from_bytes(&bytes).map_err(|e| invalid(format!("{shown}: {e}")))
    }

    /// The key file at `path`, created first when it does not exist: [`CHECKPOINT_KEY_LEN`]
    /// bytes from the operating system's random number generator, written to a file created
    /// exclusively with mode 0600 (a file created meanwhile by another run is used as it is).
    /// Then read as [`CheckpointKey::read_file`] does.
    pub fn create_or_read_file(path: &Path) -> Result<CheckpointKey, Error> {
        let shown = path.display();
        let invalid = |m: String| Error::from(HistoryError::InvalidCheckpointKey(m));
        if !path.exists() {
            let mut key = [0u8; CHECKPOINT_KEY_LEN];
            getrandom::getrandom(&mut key)
                .map_err(|e| invalid(format!("no randomness for a new key: {e}")))?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(mut f) => f
                    .write_all(&key)
                    .and_then(|()| f.sync_all())
                    .map_err(|e| invalid(format!("cannot write {shown}: {e}")))?,
                // Created meanwhile by another run: use that one.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(invalid(format!("cannot create {shown}: {e}"))),
            }
        }
        CheckpointKey::read_file(path)
    }

    fn mac(&self, body: &[u8]) -> Hmac<sha2::Sha256> {
        // HMAC takes keys of any length: new_from_slice cannot fail.
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(CHECKPOINT_MAC_LABEL);
        mac.update(body);
        mac
    }
}

impl fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CheckpointKey(..)")
    }
}

/// A sealed checkpoint file: the checkpoint's JSON, and the MAC over its exact bytes.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedJson<'a> {
    #[serde(borrow)]
    checkpoint: &'a RawValue,
    hmac_sha256: String,
}

/// Largest checkpoint file accepted (it holds a few register values; 1 MiB is generous).
pub const MAX_CHECKPOINT_LEN: usize = 1 << 20;

/// Most register values in a checkpoint (24 PCRs in 5 banks, with room to spare).
pub const MAX_CHECKPOINT_REGISTERS: usize = 256;

/// What a root of trust says about the boot it measured: compared between a checkpoint (or a
/// shard's anchor) and a later quote to detect a reboot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RootIdentity {
    /// A TPM quote: the AK (its Name, hex, as in [`Provenance::TpmQuote`]) and the quote's
    /// TPMS_CLOCK_INFO counters.
    Tpm {
        /// The attestation key's Name (hex).
        ak: String,
        /// TPMS_CLOCK_INFO.resetCount.
        reset_count: u32,
        /// TPMS_CLOCK_INFO.restartCount.
        restart_count: u32,
    },
    /// A TD quote: the trust anchor and a digest of the TD's boot-time measurements (e.g.
    /// SHA-384 over MRTD || RTMR0 || RTMR1 || RTMR2), hex.
    Td {
        /// The trust anchor (as in [`Provenance::TdQuote`]).
        root: String,
        /// The boot identity digest (hex).
        identity: String,
    },
    /// Values asserted by the caller: there is no boot identity to compare.
    Asserted,
}

impl fmt::Display for RootIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootIdentity::Tpm {
                ak,
                reset_count,
                restart_count,
            } => write!(
                f,
                "TPM AK {ak} (resetCount {reset_count}, restartCount {restart_count})"
            ),
            RootIdentity::Td { root, identity } => {
                write!(f, "TD quote chained to {root} (boot identity {identity})")
            }
            RootIdentity::Asserted => f.write_str("values asserted by the caller"),
        }
    }
}

/// Register values with the boot identity of the root that vouched for them: what a checkpoint
/// is made from and what a resumed verification is checked against. `R` is
/// [`VerifiedRegisters`] (a quote's values: [`Anchor::tpm`], [`Anchor::td`]) or
/// [`ExpectedRegisters`] (values the caller asserts: [`Anchor::asserted`]); a verification
/// against it returns `R`'s outcome ([`crate::trust`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor<R = VerifiedRegisters> {
    registers: R,
    root: RootIdentity,
}

impl Anchor<VerifiedRegisters> {
    /// Verified values and identity; the identity must name the same root as the values'
    /// provenance (a TPM identity with the AK of a [`Provenance::TpmQuote`], a TD identity with
    /// the root of a [`Provenance::TdQuote`]).
    pub fn new(registers: VerifiedRegisters, root: RootIdentity) -> Result<Anchor, Error> {
        let fits = match (registers.provenance().root(), &root) {
            (Provenance::TpmQuote { ak_name }, RootIdentity::Tpm { ak, .. }) => ak_name == ak,
            (Provenance::TdQuote { root: r }, RootIdentity::Td { root, .. }) => r == root,
            _ => false,
        };
        if !fits {
            return Err(HistoryError::AnchorMismatch {
                provenance: registers.provenance().to_string(),
                root: root.to_string(),
            }
            .into());
        }
        Ok(Anchor { registers, root })
    }

    /// Values from a verified TPM quote ([`Provenance::TpmQuote`]) with the quote's resetCount
    /// and restartCount.
    pub fn tpm(
        registers: VerifiedRegisters,
        reset_count: u32,
        restart_count: u32,
    ) -> Result<Anchor, Error> {
        let ak = match registers.provenance() {
            Provenance::TpmQuote { ak_name } => ak_name.clone(),
            p => {
                return Err(HistoryError::AnchorMismatch {
                    provenance: p.to_string(),
                    root: "a TPM quote".into(),
                }
                .into())
            }
        };
        Anchor::new(
            registers,
            RootIdentity::Tpm {
                ak,
                reset_count,
                restart_count,
            },
        )
    }

    /// Values from a verified TD quote ([`Provenance::TdQuote`], or values derived from one, such
    /// as `mr_ima`) with the TD's boot identity (see [`td_boot_identity`]).
    pub fn td(registers: VerifiedRegisters, identity: String) -> Result<Anchor, Error> {
        let root = match registers.provenance().root() {
            Provenance::TdQuote { root } => root.clone(),
            _ => {
                return Err(HistoryError::AnchorMismatch {
                    provenance: registers.provenance().to_string(),
                    root: "a TD quote".into(),
                }
                .into())
            }
        };
        Anchor::new(registers, RootIdentity::Td { root, identity })
    }
}

impl Anchor<ExpectedRegisters> {
    /// Values asserted by the caller (no boot identity: [`RootIdentity::Asserted`]).
    pub fn asserted(registers: ExpectedRegisters) -> Anchor<ExpectedRegisters> {
        Anchor {
            registers,
            root: RootIdentity::Asserted,
        }
    }
}

impl<R: Reference> Anchor<R> {
    /// The values, with their provenance when verified.
    pub fn registers(&self) -> &R {
        &self.registers
    }

    /// The values a replay compares with.
    pub fn values(&self) -> &ExpectedRegisters {
        // Only verified or expected values make an anchor: both have values.
        self.registers.expected().unwrap_or(&NO_VALUES)
    }

    /// Where the values come from, in words (recorded in checkpoints).
    fn provenance_text(&self) -> String {
        self.registers
            .provenance()
            .map_or_else(|| "asserted by the caller".to_string(), |p| p.to_string())
    }

    /// The root's boot identity.
    pub fn root(&self) -> &RootIdentity {
        &self.root
    }
}

/// A TD's boot identity for [`RootIdentity::Td`]: SHA-384 over MRTD || RTMR0 || RTMR1 ||
/// RTMR2 (the build-time measurement and the firmware, boot loader and kernel registers, which
/// do not change after boot), hex. A TD reboot that measures the same software gives the same
/// identity; the continuity of the runtime register (RTMR3 or `mr_ima`), which restarts from
/// zero, is what refuses a resumed checkpoint then.
pub fn td_boot_identity(mrtd: &Digest, rtmr: [&Digest; 3]) -> String {
    let [r0, r1, r2] = rtmr;
    HashAlg::Sha384
        .hash_parts(&[mrtd.as_bytes(), r0.as_bytes(), r1.as_bytes(), r2.as_bytes()])
        .to_hex()
}

/// Why a list's history is refused (or a checkpoint cannot be used).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// The checkpoint file is not a checkpoint this version reads.
    #[error("checkpoint: {0}")]
    InvalidCheckpoint(String),
    /// The checkpoint's MAC does not verify under the verifier's key: forged, altered, or
    /// sealed with another key.
    #[error("checkpoint: its HMAC-SHA-256 does not verify under the checkpoint key (forged, altered, or sealed with another key)")]
    CheckpointMac,
    /// A checkpoint key that cannot be used.
    #[error("checkpoint key: {0}")]
    InvalidCheckpointKey(String),
    /// A checkpoint is needed but no key was given to open it.
    #[error("{0} needs the verifier's checkpoint key (give its key file)")]
    NoCheckpointKey(String),
    /// The shard manifest is not one this version reads.
    #[error("shard manifest: {0}")]
    InvalidManifest(String),
    /// The identity given does not belong to the values' provenance.
    #[error("anchor: values come from {provenance} but the boot identity is {root}")]
    AnchorMismatch {
        /// The provenance of the values.
        provenance: String,
        /// The identity given with them.
        root: String,
    },
    /// The new evidence comes from another root than the checkpoint's.
    #[error("the checkpoint was anchored to {checkpoint}, the new evidence to {now}: counters and values cannot be compared")]
    DifferentRoot {
        /// The checkpoint's root.
        checkpoint: String,
        /// The new evidence's root.
        now: String,
    },
    /// The machine rebooted since the checkpoint (TPM resetCount, TD identity or first
    /// boot_aggregate changed).
    #[error("rebooted since the checkpoint: {what}")]
    Rebooted {
        /// What changed.
        what: String,
    },
    /// The TPM's restartCount changed (restart or resume) and resumes were not allowed.
    #[error("the TPM was restarted or resumed since the checkpoint (restartCount {checkpoint} -> {now}); not accepted without allow_tpm_resume")]
    Restarted {
        /// restartCount at the checkpoint.
        checkpoint: u32,
        /// restartCount now.
        now: u32,
    },
    /// The list's first entries are not the verified prefix.
    #[error("the list's first {entries} entries differ from the verified prefix of the checkpoint: {reason}")]
    PrefixDiffers {
        /// Entries in the checkpoint's prefix.
        entries: u64,
        /// How they differ.
        reason: String,
    },
    /// A streamed list must end at its quote: entries after the covered ones.
    #[error("the evidence covers {covered} of the {entries} entries: a streamed list (a shard) must end at its quote")]
    NotAllCovered {
        /// Entries covered by the evidence.
        covered: u64,
        /// Entries in the list.
        entries: u64,
    },
    /// The entries after the checkpoint do not replay from its values to the new evidence.
    #[error(
        "the entries after the checkpoint (from entry {from_entry}) do not continue it: {source}"
    )]
    TailDoesNotContinue {
        /// Absolute number of the first entry after the checkpoint.
        from_entry: u64,
        /// The replay failure (entry numbers relative to the tail).
        source: Box<Error>,
    },
    /// The new evidence has a bank the checkpoint has no value for.
    #[error("the checkpoint has no {alg} value for {register}, which the evidence quotes")]
    BankNotInCheckpoint {
        /// The register.
        register: MrId,
        /// The bank.
        alg: HashAlg,
    },
    /// A list booted without a TPM (all-zero boot_aggregate: no PCR was extended by the
    /// kernel) offered as verified; refused unless explicitly allowed.
    #[error("entry {entry}: all-zero boot_aggregate: the kernel found no TPM and extended no PCR (TPM bypass); refused unless no-TPM lists are explicitly allowed")]
    NoTpm {
        /// The boot_aggregate entry.
        entry: u64,
    },
    /// The IMA register's verified value is the value it started from although the list
    /// extends it: the kernel's first extend (its boot_aggregate, made when IMA initialises,
    /// before any quote can be taken) never reached the register, so no entry is vouched for.
    #[error("{register} holds the value it started from although the list extends it from entry {entry}: the kernel's extends never reached it and no entry of the list is covered")]
    ImaRegisterNeverExtended {
        /// The IMA register.
        register: MrId,
        /// Its first entry in the list.
        entry: u64,
    },
    /// One entry of the list was logged but its extend never reached the register.
    #[error("entry {entry} was logged but never extended into {register}: without it the list replays to the verified values ({covered} entries covered)")]
    NeverExtended {
        /// The entry (absolute number).
        entry: u64,
        /// The register it should have extended.
        register: MrId,
        /// Entries covered by the verified values once it is left out.
        covered: u64,
    },
    /// A replay start value that no root vouches for (e.g. a `snapshot_aggregate` or a shard's
    /// begin values that are only claimed).
    #[error(
        "{what}: start values are only claimed, not vouched for by a quote or a trusted checkpoint"
    )]
    UnanchoredStart {
        /// What claimed them.
        what: String,
    },
    /// A claimed start value that differs from the vouched value.
    #[error("{what}: claimed {register} {alg} {claimed} but the anchor vouches for {vouched}")]
    StartMismatch {
        /// What claimed it.
        what: String,
        /// The register.
        register: MrId,
        /// The bank.
        alg: HashAlg,
        /// Claimed value.
        claimed: Digest,
        /// Vouched value.
        vouched: String,
    },
    /// A shard chain that does not hold together.
    #[error("shard {shard}: {reason}")]
    Shard {
        /// The shard (0-based).
        shard: usize,
        /// What is wrong.
        reason: String,
    },
    /// A shard whose replay from its begin values does not reach its end anchor.
    #[error("shard {shard} ({list}): {source}")]
    ShardReplay {
        /// The shard (0-based).
        shard: usize,
        /// Its list.
        list: String,
        /// The failure.
        source: Box<Error>,
    },
}

impl HistoryError {
    /// Malformed input (checkpoint file) or rejected evidence.
    pub fn class(&self) -> ErrorClass {
        match self {
            HistoryError::InvalidCheckpoint(_)
            | HistoryError::InvalidCheckpointKey(_)
            | HistoryError::NoCheckpointKey(_)
            | HistoryError::InvalidManifest(_)
            | HistoryError::AnchorMismatch { .. } => ErrorClass::Malformed,
            HistoryError::TailDoesNotContinue { source, .. }
            | HistoryError::ShardReplay { source, .. } => match source.class() {
                ErrorClass::Malformed => ErrorClass::Malformed,
                _ => ErrorClass::Rejected,
            },
            _ => ErrorClass::Rejected,
        }
    }
}

/// The verifier's state after a verified prefix (see the module documentation). Made only by a
/// verification or by [`Checkpoint::open`] of a sealed file; read through its accessors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Entries verified (from the first entry of the boot).
    entries: u64,
    /// Bytes of the list they take (from the start of the boot's list).
    offset: u64,
    /// Hash chain over the raw bytes of the verified entries (SHA-256).
    prefix_digest: Digest,
    /// Running value of every register and bank, after the verified entries.
    registers: Vec<RegisterValue>,
    /// The first `boot_aggregate` of the list (the boot's firmware state).
    boot_aggregate: Option<Digest>,
    /// The root that vouched for the values, with its boot identity.
    root: RootIdentity,
    /// Human-readable provenance of the values (e.g. `TPM quote by AK 000b...`).
    provenance: String,
    /// Format of the list (a resumed list is read with it).
    format: ListFormat,
    /// The digest mode that verified (a resumed replay uses it).
    digest_mode: DigestMode,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointJson {
    version: u32,
    entries: u64,
    offset: u64,
    prefix_digest: String,
    registers: Vec<String>,
    boot_aggregate: Option<String>,
    root: RootIdentity,
    provenance: String,
    format: FormatJson,
    digest_mode: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatJson {
    kind: String,
    endian: String,
    column: String,
}

fn bad(msg: impl Into<String>) -> Error {
    HistoryError::InvalidCheckpoint(msg.into()).into()
}

/// `ALG:HEX` of a digest.
fn alg_hex(d: &Digest) -> String {
    format!("{}:{}", d.alg(), d)
}

fn parse_alg_hex(s: &str) -> Result<Digest, Error> {
    let (alg, hex) = s
        .split_once(':')
        .ok_or_else(|| bad(format!("digest {s:?} is not ALG:HEX")))?;
    let alg: HashAlg = alg.parse().map_err(|e: Error| bad(e.to_string()))?;
    Digest::from_hex(alg, hex).map_err(|e| bad(e.to_string()))
}

impl Checkpoint {
    /// The checkpoint's fields as pretty JSON, for reports. Not a file to load: files are
    /// [`Checkpoint::seal`]ed.
    pub fn to_json(&self) -> String {
        // Serialising plain strings and numbers cannot fail.
        serde_json::to_string_pretty(&self.json()).unwrap_or_default()
    }

    /// The checkpoint file: its canonical JSON (compact, fields in a fixed order), sealed with
    /// HMAC-SHA-256 under `key` over [`CHECKPOINT_MAC_LABEL`] and exactly those bytes.
    pub fn seal(&self, key: &CheckpointKey) -> String {
        let body = serde_json::to_string(&self.json()).unwrap_or_default();
        let mac = key.mac(body.as_bytes()).finalize().into_bytes();
        // `body` is JSON we just wrote: RawValue accepts it.
        let checkpoint = RawValue::from_string(body).unwrap_or_else(|_| unreachable!());
        let sealed = SealedJson {
            checkpoint: &checkpoint,
            hmac_sha256: hex::encode(mac),
        };
        let mut text = serde_json::to_string(&sealed).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Open a checkpoint file written by [`Checkpoint::seal`]: the MAC is checked (constant
    /// time) over the exact bytes of the checkpoint before any of them is interpreted, then the
    /// version must be [`CHECKPOINT_VERSION`], every field must parse, no register and bank may
    /// appear twice. A forged, altered or foreign checkpoint is
    /// [`HistoryError::CheckpointMac`].
    pub fn open(file: &[u8], key: &CheckpointKey) -> Result<Checkpoint, Error> {
        if file.len() > MAX_CHECKPOINT_LEN {
            return Err(bad(format!(
                "{} bytes, larger than {MAX_CHECKPOINT_LEN}",
                file.len()
            )));
        }
        let sealed: SealedJson<'_> = serde_json::from_slice(file)
            .map_err(|e| bad(format!("not a sealed checkpoint file: {e}")))?;
        let mac = hex::decode(&sealed.hmac_sha256)
            .map_err(|e| bad(format!("hmac_sha256 is not hex: {e}")))?;
        let body = sealed.checkpoint.get().as_bytes();
        key.mac(body)
            .verify_slice(&mac)
            .map_err(|_| HistoryError::CheckpointMac)?;
        Checkpoint::from_json(body)
    }

    fn json(&self) -> CheckpointJson {
        CheckpointJson {
            version: CHECKPOINT_VERSION,
            entries: self.entries,
            offset: self.offset,
            prefix_digest: self.prefix_digest.to_hex(),
            registers: self.registers.iter().map(|r| r.to_string()).collect(),
            boot_aggregate: self.boot_aggregate.as_ref().map(alg_hex),
            root: self.root.clone(),
            provenance: self.provenance.clone(),
            format: FormatJson {
                kind: match self.format.kind {
                    ListKind::Binary => "binary".into(),
                    ListKind::Ascii => "ascii".into(),
                },
                endian: self.format.endian.to_string(),
                column: self.format.column.name().into(),
            },
            digest_mode: mode_name(self.digest_mode).into(),
        }
    }

    /// The checkpoint's fields from the JSON [`Checkpoint::seal`] wrote (MAC already checked).
    fn from_json(text: &[u8]) -> Result<Checkpoint, Error> {
        if text.len() > MAX_CHECKPOINT_LEN {
            return Err(bad(format!(
                "{} bytes, larger than {MAX_CHECKPOINT_LEN}",
                text.len()
            )));
        }
        let v: serde_json::Value =
            serde_json::from_slice(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        match v.get("version").and_then(serde_json::Value::as_u64) {
            Some(n) if n == u64::from(CHECKPOINT_VERSION) => {}
            Some(n) => {
                return Err(bad(format!(
                    "version {n}, this mr reads version {CHECKPOINT_VERSION}"
                )))
            }
            None => return Err(bad("no version field")),
        }
        let j: CheckpointJson = serde_json::from_value(v).map_err(|e| bad(e.to_string()))?;
        if j.registers.len() > MAX_CHECKPOINT_REGISTERS {
            return Err(bad("too many register values"));
        }
        let prefix_digest =
            Digest::from_hex(HashAlg::Sha256, &j.prefix_digest).map_err(|e| bad(e.to_string()))?;
        let mut registers: Vec<RegisterValue> = Vec::with_capacity(j.registers.len());
        for r in &j.registers {
            let rv: RegisterValue = r.parse().map_err(|e: Error| bad(e.to_string()))?;
            if registers
                .iter()
                .any(|o| o.id == rv.id && o.value.alg() == rv.value.alg())
            {
                return Err(bad(format!("{} {} given twice", rv.id, rv.value.alg())));
            }
            registers.push(rv);
        }
        let boot_aggregate = j.boot_aggregate.as_deref().map(parse_alg_hex).transpose()?;
        let kind = match j.format.kind.as_str() {
            "binary" => ListKind::Binary,
            "ascii" => ListKind::Ascii,
            k => return Err(bad(format!("unknown list kind {k:?}"))),
        };
        let endian = match j.format.endian.as_str() {
            "little" => Endian::Little,
            "big" => Endian::Big,
            e => return Err(bad(format!("unknown byte order {e:?}"))),
        };
        let column = HashAlg::from_name(&j.format.column)
            .ok_or_else(|| bad(format!("unknown column algorithm {:?}", j.format.column)))?;
        let digest_mode = match j.digest_mode.as_str() {
            "per-bank" => DigestMode::PerBank,
            "padded-sha1" => DigestMode::PaddedSha1,
            m => return Err(bad(format!("digest mode {m:?} (per-bank or padded-sha1)"))),
        };
        if j.entries > 0 && j.offset == 0 {
            return Err(bad("entries verified but no bytes"));
        }
        Ok(Checkpoint {
            entries: j.entries,
            offset: j.offset,
            prefix_digest,
            registers,
            boot_aggregate,
            root: j.root,
            provenance: j.provenance,
            format: ListFormat {
                kind,
                endian,
                column,
            },
            digest_mode,
        })
    }

    /// A start at the beginning of a list whose start values `registers` a quote vouches for
    /// (checked by the caller: a `snapshot_aggregate` equal to the quoted values).
    pub(crate) fn vouched_start(
        registers: Vec<RegisterValue>,
        anchor: &Anchor<impl Reference>,
        format: ListFormat,
        digest_mode: DigestMode,
    ) -> Checkpoint {
        Checkpoint {
            entries: 0,
            offset: 0,
            prefix_digest: prefix_chain_start(),
            registers,
            boot_aggregate: None,
            root: anchor.root().clone(),
            provenance: anchor.provenance_text(),
            format,
            digest_mode,
        }
    }

    /// Entries verified (from the first entry of the boot).
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Bytes of the list they take (from the start of the boot's list).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Hash chain over the raw bytes of the verified entries (SHA-256).
    pub fn prefix_digest(&self) -> &Digest {
        &self.prefix_digest
    }

    /// Running value of every register and bank, after the verified entries.
    pub fn registers(&self) -> &[RegisterValue] {
        &self.registers
    }

    /// The first `boot_aggregate` of the list (the boot's firmware state).
    pub fn boot_aggregate(&self) -> Option<&Digest> {
        self.boot_aggregate.as_ref()
    }

    /// The root that vouched for the values, with its boot identity.
    pub fn root(&self) -> &RootIdentity {
        &self.root
    }

    /// Human-readable provenance of the values.
    pub fn provenance(&self) -> &str {
        &self.provenance
    }

    /// Format of the list (a resumed list is read with it).
    pub fn format(&self) -> ListFormat {
        self.format
    }

    /// The digest mode that verified (a resumed replay uses it).
    pub fn digest_mode(&self) -> DigestMode {
        self.digest_mode
    }

    /// The register values as start values of a replay.
    pub fn start_values(&self) -> BTreeMap<(MrId, HashAlg), Digest> {
        self.registers
            .iter()
            .map(|r| ((r.id.clone(), r.value.alg()), r.value))
            .collect()
    }

    /// The value of `id` in bank `alg`.
    pub fn value(&self, id: &MrId, alg: HashAlg) -> Option<Digest> {
        self.registers
            .iter()
            .find(|r| r.id == *id && r.value.alg() == alg)
            .map(|r| r.value)
    }
}

/// The start of the prefix hash chain.
pub fn prefix_chain_start() -> Digest {
    Digest::zero(HashAlg::Sha256)
}

/// One step of the prefix hash chain: `SHA-256(chain || entry bytes)`.
pub fn prefix_chain_step(chain: &Digest, entry_bytes: &[u8]) -> Digest {
    HashAlg::Sha256.hash_parts(&[chain.as_bytes(), entry_bytes])
}

/// A verification that produced a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// The replay of the part of the list that was replayed (the whole list from boot, or the
    /// entries after the checkpoint); its entry numbers are relative to `first_entry`.
    pub report: ImaReplayReport,
    /// Absolute number of the first replayed entry (0 from boot, the checkpoint's entries when
    /// resumed).
    pub first_entry: u64,
    /// The new checkpoint, at the end of the prefix the evidence covers.
    pub checkpoint: Checkpoint,
    /// True when a changed TPM restartCount was accepted (TPM Resume).
    pub tpm_resumed: bool,
}

impl Verification {
    /// Final values after the whole list (also the entries left over after the covered
    /// prefix): the same as a full replay from boot gives.
    pub fn final_registers(&self) -> &[RegisterValue] {
        &self.report.outcome.registers
    }
}

/// Where the list given to [`resume`] starts, and so what it is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResumeFrom<'c> {
    /// The whole list since boot, replayed from the registers' reset values (this makes the
    /// first checkpoint).
    Boot,
    /// The whole list since boot, of which the checkpoint verified a prefix: its first entries
    /// must hash to the checkpoint's prefix chain and end at its byte offset (else
    /// [`HistoryError::PrefixDiffers`]); only the entries after them are replayed, from the
    /// checkpoint's values.
    Full(&'c Checkpoint),
    /// Only the bytes after the checkpoint (a trimmed or staged list, or an agent's delta),
    /// replayed from the checkpoint's values (else [`HistoryError::TailDoesNotContinue`]).
    Tail(&'c Checkpoint),
}

impl ResumeFrom<'_> {
    /// The checkpoint resumed from, if any.
    pub fn checkpoint(&self) -> Option<&Checkpoint> {
        match self {
            ResumeFrom::Boot => None,
            ResumeFrom::Full(cp) | ResumeFrom::Tail(cp) => Some(cp),
        }
    }
}

/// Verify an IMA list against `anchor` from boot or from a checkpoint (see [`ResumeFrom`]) and
/// make the checkpoint at the end of the prefix the anchor covers: the one entry point for a
/// verification that keeps state (compare [`super::verify`], which keeps none).
///
/// From a checkpoint, the anchor's root must be able to continue it ([`HistoryError::Rebooted`],
/// [`HistoryError::Restarted`], [`HistoryError::DifferentRoot`]), and every quoted bank of a
/// register the checkpoint holds must have a value there ([`HistoryError::BankNotInCheckpoint`]);
/// the replay is held to the checkpoint's format and digest mode and starts from its values, so
/// `options.replay` must have no start values.
///
/// The input is read once, as a stream, on the calling thread: each entry is hashed into the
/// prefix chain as it passes, and the state a checkpoint needs (prefix chain, byte offset,
/// register values) is kept at every point where the covered prefix may end, in each digest
/// mode tried (at most one point per verified register and bank; see
/// [`crate::replay::Replayer::covered_prefix_candidate`]). Memory is one entry, the reader's
/// read-ahead and those few states, whatever the list's length. The never-extended search of
/// [`ImaOptions::never_extended_budget`] rides on the same pass.
pub fn resume<R: Reference>(
    input: ImaInput<'_>,
    from: ResumeFrom<'_>,
    anchor: &Anchor<R>,
    options: &ImaOptions,
) -> Result<R::Outcome<Verification>, Error> {
    resume_plain(input, from, anchor, options).map(|v| anchor.registers().outcome(v))
}

/// [`resume`] without the trust wrapper, for the crate's composites (shards, snapshots).
pub(crate) fn resume_plain(
    input: ImaInput<'_>,
    from: ResumeFrom<'_>,
    anchor: &Anchor<impl Reference>,
    options: &ImaOptions,
) -> Result<Verification, Error> {
    if !options.replay.replay.start.is_empty() {
        return Err(bad(
            "start values come from the checkpoint (or are the reset values at boot)",
        ));
    }
    let (base, tpm_resumed, replay_cfg) = match from.checkpoint() {
        None => (boot_base(), false, options.replay.clone()),
        Some(cp) => {
            let (tpm_resumed, cfg) = resume_setup(cp, options, anchor)?;
            (base_of(cp), tpm_resumed, cfg)
        }
    };
    let prefix = match from {
        ResumeFrom::Full(cp) => Some(cp),
        _ => None,
    };
    let (reader, _) = input.into_parts();
    let mut v = run(
        reader,
        prefix,
        &replay_cfg,
        anchor,
        &base,
        options.never_extended_budget,
    )?;
    v.tpm_resumed = tpm_resumed;
    Ok(v)
}

struct Base {
    entries: u64,
    offset: u64,
    chain: Digest,
    boot_aggregate: Option<Digest>,
    resumed: bool,
}

fn boot_base() -> Base {
    Base {
        entries: 0,
        offset: 0,
        chain: prefix_chain_start(),
        boot_aggregate: None,
        resumed: false,
    }
}

fn base_of(checkpoint: &Checkpoint) -> Base {
    Base {
        entries: checkpoint.entries,
        offset: checkpoint.offset,
        chain: checkpoint.prefix_digest,
        boot_aggregate: checkpoint.boot_aggregate,
        resumed: true,
    }
}

/// Check that `anchor`'s root may continue `cp`; returns true for an accepted TPM resume.
fn check_root(
    cp: &Checkpoint,
    anchor: &Anchor<impl Reference>,
    allow_resume: bool,
) -> Result<bool, Error> {
    match (&cp.root, anchor.root()) {
        (
            RootIdentity::Tpm {
                ak: a0,
                reset_count: r0,
                restart_count: s0,
            },
            RootIdentity::Tpm {
                ak: a1,
                reset_count: r1,
                restart_count: s1,
            },
        ) if a0 == a1 => {
            if r0 != r1 {
                return Err(HistoryError::Rebooted {
                    what: format!("TPM resetCount {r0} -> {r1}"),
                }
                .into());
            }
            if s0 != s1 {
                if !allow_resume {
                    return Err(HistoryError::Restarted {
                        checkpoint: *s0,
                        now: *s1,
                    }
                    .into());
                }
                return Ok(true);
            }
            Ok(false)
        }
        (
            RootIdentity::Td {
                root: t0,
                identity: i0,
            },
            RootIdentity::Td {
                root: t1,
                identity: i1,
            },
        ) if t0 == t1 => {
            if i0 != i1 {
                return Err(HistoryError::Rebooted {
                    what: format!("TD boot identity {i0} -> {i1}"),
                }
                .into());
            }
            Ok(false)
        }
        (RootIdentity::Asserted, RootIdentity::Asserted) => Ok(false),
        (a, b) => Err(HistoryError::DifferentRoot {
            checkpoint: a.to_string(),
            now: b.to_string(),
        }
        .into()),
    }
}

/// The checks every resume makes before reading the list (the root may continue the
/// checkpoint, every quoted bank has a start value), and the replay configuration held to the
/// checkpoint's format, digest mode and values. Returns true for an accepted TPM resume.
fn resume_setup(
    checkpoint: &Checkpoint,
    config: &ImaOptions,
    anchor: &Anchor<impl Reference>,
) -> Result<(bool, ImaReplayConfig), Error> {
    if !config.replay.replay.start.is_empty() {
        return Err(bad("start values come from the checkpoint"));
    }
    let tpm_resumed = check_root(checkpoint, anchor, config.allow_tpm_resume)?;
    // Every quoted bank of a register the checkpoint holds must have a start value there.
    for (id, value) in anchor.values().iter() {
        let alg = value.alg();
        let known_register = checkpoint.registers.iter().any(|r| r.id == *id);
        if known_register && checkpoint.value(id, alg).is_none() {
            return Err(HistoryError::BankNotInCheckpoint {
                register: id.clone(),
                alg,
            }
            .into());
        }
    }
    let mut replay_cfg = config.replay.clone();
    replay_cfg.reader.kind = Some(checkpoint.format.kind);
    replay_cfg.reader.endian = Some(checkpoint.format.endian);
    replay_cfg.reader.column = Some(checkpoint.format.column);
    replay_cfg.digest_mode = checkpoint.digest_mode;
    let mut banks: Vec<HashAlg> = checkpoint.registers.iter().map(|r| r.value.alg()).collect();
    banks.extend(replay_cfg.banks.iter().copied());
    banks.sort();
    banks.dedup();
    replay_cfg.banks = banks;
    replay_cfg.replay.start = checkpoint.start_values();
    Ok((tpm_resumed, replay_cfg))
}

/// The list as [`resume`] reads it: entries through an [`ImaReader`] over a [`Tee`], and the
/// prefix chain of the entries read.
type TeeReader<'a> = ImaReader<Tee<Box<dyn BufRead + 'a>>>;

/// Read the list once from `input`: (with `prefix`) check its first entries against the
/// checkpoint, replay the rest from `replay_cfg`'s start values against `anchor`, and make the
/// checkpoint at the end of the covered prefix.
fn run<'a>(
    mut input: Box<dyn BufRead + 'a>,
    prefix: Option<&Checkpoint>,
    replay_cfg: &ImaReplayConfig,
    anchor: &Anchor<impl Reference>,
    base: &Base,
    budget: u64,
) -> Result<Verification, Error> {
    // An empty stream is an empty list or tail (nothing measured between two quotes); the
    // reader refuses empty input, so look before it does.
    let empty = input.fill_buf().map_err(Error::Io)?.is_empty();
    let taken = Rc::new(RefCell::new(Vec::new()));
    let mut chain = PrefixChain {
        taken: Rc::clone(&taken),
        taken_at: 0,
        chain: base.chain,
        entries: 0,
        end: 0,
    };
    let mut reader: TeeReader<'a> = ImaReader::new(
        Tee {
            inner: input,
            taken,
        },
        replay_cfg.reader.clone(),
    );
    if let Some(cp) = prefix {
        check_prefix(&mut reader, &mut chain, cp, empty)?;
    }
    let mut state = ReplayState::new(replay_cfg, Some(anchor.values()), budget);
    let mut ends = PrefixEnds::default();
    ends.note(&state, &chain);
    let replayed = if empty {
        let format = ListFormat {
            kind: replay_cfg.reader.kind.unwrap_or(ListKind::Binary),
            endian: replay_cfg.reader.endian.unwrap_or_default(),
            column: replay_cfg.reader.column.unwrap_or(HashAlg::Sha1),
        };
        state.finish_with(format, 0)
    } else {
        let read = (|| {
            while let Some(e) = reader.next_entry()? {
                let from = e.offset();
                state.entry(e);
                chain.entry(from, reader.pos)?;
                ends.note(&state, &chain);
            }
            Ok::<(), Error>(())
        })();
        read.and_then(|()| state.finish(&reader))
    };
    let report = replayed.map_err(|e| failure(e, base))?;
    if chain.entries != report.entries {
        return Err(bad(
            "the entries hashed into the prefix chain are not the entries replayed",
        ));
    }
    let covered = report.outcome.covered.unwrap_or(report.entries);
    let at_end = if covered == report.entries {
        PrefixEnd {
            mode: report.digest_mode,
            entries: covered,
            end: chain.end,
            chain: chain.chain,
            registers: report.outcome.registers.clone(),
            unextended: Vec::new(),
        }
    } else {
        ends.take(report.digest_mode, covered)
            .ok_or_else(|| bad("no state was kept at the end of the covered prefix"))?
    };
    let registers = with_start_values(at_end.registers, &replay_cfg.replay.start);
    Ok(verified(
        base,
        report,
        covered,
        at_end.end,
        at_end.chain,
        registers,
        anchor,
    ))
}

/// Check that the first entries `reader` returns are the checkpoint's verified prefix (hashed
/// into `chain` as they pass); then the reader and the chain count the rest as a list of its
/// own (entry numbers and byte offsets from the checkpoint).
fn check_prefix(
    reader: &mut TeeReader<'_>,
    chain: &mut PrefixChain,
    cp: &Checkpoint,
    empty: bool,
) -> Result<(), Error> {
    let differs = |reason: String| -> Error {
        HistoryError::PrefixDiffers {
            entries: cp.entries,
            reason,
        }
        .into()
    };
    chain.chain = prefix_chain_start();
    if cp.entries > 0 && empty {
        return Err(differs("the list has only 0 entries".into()));
    }
    while chain.entries < cp.entries {
        let Some(e) = reader.next_entry()? else {
            return Err(differs(format!(
                "the list has only {} entries",
                chain.entries
            )));
        };
        let from = e.offset();
        if chain.entries == 0 {
            if let Some(then) = cp.boot_aggregate {
                let now = e.boot_aggregate().map(|b| b.digest);
                if now != Some(then) {
                    return Err(HistoryError::Rebooted {
                        what: format!(
                            "the list's first boot_aggregate is {} , the checkpoint's {}",
                            now.map_or_else(|| "missing".to_string(), |d| alg_hex(&d)),
                            alg_hex(&then)
                        ),
                    }
                    .into());
                }
            }
        }
        chain.entry(from, reader.pos)?;
    }
    if chain.chain != cp.prefix_digest {
        return Err(differs(
            "their bytes do not hash to the checkpoint's prefix digest".into(),
        ));
    }
    if chain.end != cp.offset {
        return Err(differs(format!(
            "they take {} bytes, the checkpoint says {}",
            chain.end, cp.offset
        )));
    }
    reader.pos = 0;
    reader.next_index = 0;
    chain.taken_at = 0;
    chain.entries = 0;
    chain.end = 0;
    Ok(())
}

/// The register values of a checkpoint: `values`, and the start values of registers the
/// replayed part did not touch, ordered by register then bank.
fn with_start_values(
    mut values: Vec<RegisterValue>,
    start: &BTreeMap<(MrId, HashAlg), Digest>,
) -> Vec<RegisterValue> {
    for ((id, alg), v) in start {
        if !values.iter().any(|r| r.id == *id && r.value.alg() == *alg) {
            values.push(RegisterValue {
                id: id.clone(),
                value: *v,
            });
        }
    }
    values.sort_by(|a, b| (&a.id, a.value.alg()).cmp(&(&b.id, b.value.alg())));
    values
}

/// The state a checkpoint needs where the covered prefix may end.
struct PrefixEnd {
    /// The digest mode of the replay that may end there.
    mode: DigestMode,
    /// Entries of the replayed part before it.
    entries: u64,
    /// Byte offset after them (in the replayed part).
    end: u64,
    /// The prefix chain after them.
    chain: Digest,
    /// Every register value there.
    registers: Vec<RegisterValue>,
    /// Verified registers that held another value there and had not been extended: the
    /// prefix is the covered one only if none of them is extended later.
    unextended: Vec<(MrId, HashAlg)>,
}

/// The points of a streamed replay where the covered prefix may end (see
/// [`crate::replay::Replayer::covered_prefix_candidate`]). A point is kept only when no
/// earlier kept point of the same mode leaves out the same registers (that one would be chosen
/// first), and the registers left out shrink from one kept point to the next: at most one point
/// per verified register and bank, plus the start, whatever the list's length.
#[derive(Default)]
struct PrefixEnds {
    ends: Vec<PrefixEnd>,
}

impl PrefixEnds {
    /// Note the point after the entries `chain` has hashed, for each replay of `state` that may
    /// end its covered prefix there.
    fn note(&mut self, state: &ReplayState<'_>, chain: &PrefixChain) {
        for (mode, r) in state.replayers() {
            let Some(unextended) = r.covered_prefix_candidate() else {
                continue;
            };
            // Points that a later extend ruled out.
            self.ends.retain(|e| {
                e.mode != mode || !e.unextended.iter().any(|(id, alg)| r.extended(id, *alg))
            });
            // The kept points of this mode leave out a superset of `unextended`: the same
            // number means the same registers.
            if self
                .ends
                .iter()
                .any(|e| e.mode == mode && e.unextended.len() == unextended.len())
            {
                continue;
            }
            self.ends.push(PrefixEnd {
                mode,
                entries: chain.entries,
                end: chain.end,
                chain: chain.chain,
                registers: r.values(),
                unextended,
            });
        }
    }

    /// The state kept for the replay in `mode` after `entries` entries.
    fn take(self, mode: DigestMode, entries: u64) -> Option<PrefixEnd> {
        self.ends
            .into_iter()
            .find(|e| e.mode == mode && e.entries == entries)
    }
}

/// The verification and its checkpoint after `covered` entries of the replayed part, which
/// take `end` bytes and leave the prefix chain at `chain` and the registers at `registers`.
/// The first boot_aggregate is kept only when it is the boot's first entry and covered.
fn verified(
    base: &Base,
    report: ImaReplayReport,
    covered: u64,
    end: u64,
    chain: Digest,
    registers: Vec<RegisterValue>,
    anchor: &Anchor<impl Reference>,
) -> Verification {
    let boot_aggregate = base.boot_aggregate.or_else(|| {
        report
            .first_boot_aggregate()
            .filter(|b| b.entry == 0)
            .map(|b| b.digest)
    });
    let checkpoint = Checkpoint {
        entries: base.entries + covered,
        offset: base.offset + end,
        prefix_digest: chain,
        registers,
        boot_aggregate,
        root: anchor.root().clone(),
        provenance: anchor.provenance_text(),
        format: report.format,
        digest_mode: report.digest_mode,
    };
    Verification {
        report,
        first_entry: base.entries,
        checkpoint,
        tpm_resumed: false,
    }
}

/// A replay failure as the caller sees it: after a checkpoint, a rejection says the entries
/// after it do not continue it (a named never-extended entry stays as it is).
fn failure(e: Error, base: &Base) -> Error {
    if !base.resumed {
        return e;
    }
    match e {
        // Entry numbers of the replayed part are relative to the checkpoint.
        Error::History(h) if matches!(*h, HistoryError::NeverExtended { .. }) => match *h {
            HistoryError::NeverExtended {
                entry,
                register,
                covered,
            } => HistoryError::NeverExtended {
                entry: base.entries + entry,
                register,
                covered: base.entries + covered,
            }
            .into(),
            h => Error::History(Box::new(h)),
        },
        e if e.class() == ErrorClass::Rejected => HistoryError::TailDoesNotContinue {
            from_entry: base.entries,
            source: Box::new(e),
        }
        .into(),
        e => e,
    }
}

/// The bytes an [`ImaReader`] consumes, kept until [`PrefixChain::cut`] has hashed them as
/// entries.
struct Tee<R> {
    inner: R,
    taken: Rc<RefCell<Vec<u8>>>,
}

impl<R: BufRead> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.taken.borrow_mut().extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Tee<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        // The bytes fill_buf returned are still buffered: this does no I/O.
        if let Ok(buf) = self.inner.fill_buf() {
            let n = n.min(buf.len());
            self.taken.borrow_mut().extend_from_slice(&buf[..n]);
        }
        self.inner.consume(n);
    }
}

/// The prefix chain of a list read once through a [`Tee`]: each entry's bytes are hashed and
/// dropped as soon as the reader has returned it. Memory is one entry and the reader's
/// read-ahead, whatever the list's length.
struct PrefixChain {
    taken: Rc<RefCell<Vec<u8>>>,
    /// Stream offset of `taken[0]`.
    taken_at: u64,
    /// The prefix chain after the entries hashed.
    chain: Digest,
    /// Entries hashed into the chain.
    entries: u64,
    /// Offset after the last entry hashed.
    end: u64,
}

impl PrefixChain {
    /// Hash the stream's bytes `[from, to)` as one entry and drop every byte before `to`.
    fn entry(&mut self, from: u64, to: u64) -> Result<(), Error> {
        let at = self.taken_at;
        let rel = |x: u64| x.checked_sub(at).and_then(|d| usize::try_from(d).ok());
        let mut taken = self.taken.borrow_mut();
        let (a, b) = rel(from)
            .zip(rel(to))
            .filter(|(a, b)| a <= b && *b <= taken.len())
            .ok_or_else(|| bad("entry offsets outside the bytes read"))?;
        self.chain = prefix_chain_step(&self.chain, taken.get(a..b).unwrap_or_default());
        taken.drain(..b);
        self.taken_at = to;
        self.entries += 1;
        self.end = to;
        Ok(())
    }
}
