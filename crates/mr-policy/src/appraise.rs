//! Evaluation of IMA entries against a runtime policy, with keylime's semantics
//! (`keylime/ima/ima.py`: `_validate_ima_ng`, `_validate_ima_sig`, `_validate_ima_buf`,
//! `ast.Entry.invalid`) and mr's deny list on top. See `docs/appraisal.md`.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::io::BufRead;

use mr_core::log::ima::{FieldId, FieldValue, ImaEntry, ImaReader, IMA_PCR};

use crate::deny::DenyList;
use crate::error::PolicyError;
use crate::keys::{check_signature, ImaKey, KeyError, SigCheck};
use crate::policy::RuntimePolicy;
use crate::table::{DigestTable, Digests, BATCH};

/// Most failing entries [`appraise_list`] keeps (all are counted); keeps memory constant on a
/// list where every entry fails.
pub const MAX_REPORTED_FAILURES: usize = 10_000;

/// Most keys learned from `ima-buf` entries; an entry that would add more is rejected.
const MAX_LEARNED_KEYS: usize = 4096;

/// Path whose digests are extended with [`AppraiseOptions::boot_aggregates`].
const BOOT_AGGREGATE: &str = "boot_aggregate";

/// Options beside the policy.
#[derive(Clone, Debug, Default)]
pub struct AppraiseOptions {
    /// Digests rejected whatever the policy or a signature says.
    pub deny_list: Option<DenyList>,
    /// Further accepted `boot_aggregate` digests (what keylime's verifier adds from the measured
    /// boot state; mr's verifier passes the values computed from the quoted PCRs).
    pub boot_aggregates: Vec<Vec<u8>>,
}

/// Why an entry is not allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureReason {
    /// The path (or buffer name) has no entry in the policy.
    NotInPolicy,
    /// The path is in the policy, with other digests.
    DigestMismatch {
        /// The logged digest (hex).
        got: String,
    },
    /// The entry carries a signature that does not verify, and the policy does not allow its
    /// digest either.
    BadSignature {
        /// Why the signature failed.
        signature: String,
        /// Why the policy does not allow the digest.
        policy: Box<FailureReason>,
    },
    /// The file digest is in the deny list.
    Denied {
        /// The digest (hex).
        digest: String,
    },
    /// A ToMToU / open-writers violation (the file's content was not measured reliably).
    Violation,
    /// The recorded template digest does not match the entry's data.
    TemplateDigest,
    /// The entry extends a PCR other than 10.
    WrongPcr(u32),
    /// A template keylime's policy cannot appraise (only `ima`, `ima-ng`, `ima-sig`, `ima-buf`).
    UnsupportedTemplate,
    /// An `ima-buf` keyring entry whose buffer is a key mr cannot use.
    InvalidKey(String),
    /// More keys were learned from `ima-buf` entries than the limit.
    TooManyKeys,
}

impl FailureReason {
    /// A short stable code: `not-in-policy`, `digest-mismatch`, `bad-signature`, `denied`,
    /// `violation`, `template-digest`, `wrong-pcr`, `unsupported-template`, `invalid-key`,
    /// `too-many-keys`.
    pub fn code(&self) -> &'static str {
        match self {
            FailureReason::NotInPolicy => "not-in-policy",
            FailureReason::DigestMismatch { .. } => "digest-mismatch",
            FailureReason::BadSignature { .. } => "bad-signature",
            FailureReason::Denied { .. } => "denied",
            FailureReason::Violation => "violation",
            FailureReason::TemplateDigest => "template-digest",
            FailureReason::WrongPcr(_) => "wrong-pcr",
            FailureReason::UnsupportedTemplate => "unsupported-template",
            FailureReason::InvalidKey(_) => "invalid-key",
            FailureReason::TooManyKeys => "too-many-keys",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureReason::NotInPolicy => f.write_str("not in policy"),
            FailureReason::DigestMismatch { got } => {
                write!(f, "digest mismatch ({got} is not an allowed digest)")
            }
            FailureReason::BadSignature { signature, policy } => {
                write!(f, "bad signature ({signature}) and {policy}")
            }
            FailureReason::Denied { digest } => write!(f, "denied ({digest} is in the deny list)"),
            FailureReason::Violation => f.write_str("violation (ToMToU or open writers)"),
            FailureReason::TemplateDigest => {
                f.write_str("template digest does not match the entry's data")
            }
            FailureReason::WrongPcr(p) => write!(f, "extends PCR {p}, not {IMA_PCR}"),
            FailureReason::UnsupportedTemplate => {
                f.write_str("template not appraisable (ima, ima-ng, ima-sig, ima-buf are)")
            }
            FailureReason::InvalidKey(e) => write!(f, "unusable key: {e}"),
            FailureReason::TooManyKeys => {
                write!(f, "more than {MAX_LEARNED_KEYS} keys learned from the list")
            }
        }
    }
}

/// The verdict on one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The entry is acceptable.
    Allowed,
    /// The entry is not acceptable.
    Rejected(FailureReason),
}

/// One entry that is not allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryFailure {
    /// 1-based entry number in the list.
    pub number: u64,
    /// The path or buffer name (empty when the template has none).
    pub path: String,
    /// The template name.
    pub template: String,
    /// Why.
    pub reason: FailureReason,
}

impl serde::Serialize for EntryFailure {
    /// `entry`, `path`, `template`, `reason` ([`FailureReason::code`]) and `detail` (its text).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({
            "entry": self.number,
            "path": self.path,
            "template": self.template,
            "reason": self.reason.code(),
            "detail": self.reason.to_string(),
        })
        .serialize(s)
    }
}

/// An entry that is not allowed, as [`ListAppraiser`] reports it (borrowed: the caller keeps
/// what it needs).
#[derive(Debug)]
pub struct Rejected<'a> {
    /// 1-based entry number in the list.
    pub number: u64,
    /// The PCR the entry extends.
    pub pcr: u32,
    /// The path or buffer name (empty when the template has none).
    pub path: &'a str,
    /// The template name.
    pub template: &'a str,
    /// Why.
    pub reason: FailureReason,
}

impl Rejected<'_> {
    /// The owned [`EntryFailure`].
    pub fn to_failure(self) -> EntryFailure {
        EntryFailure {
            number: self.number,
            path: self.path.to_owned(),
            template: self.template.to_owned(),
            reason: self.reason,
        }
    }
}

/// The appraisal of a whole list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListAppraisal {
    /// Entries read.
    pub entries: u64,
    /// Entries not allowed (all of them, reported or not).
    pub failed: u64,
    /// The first [`MAX_REPORTED_FAILURES`] entries not allowed, in list order.
    pub failures: Vec<EntryFailure>,
}

impl ListAppraisal {
    /// True when every entry is allowed.
    pub fn is_allowed(&self) -> bool {
        self.failed == 0
    }

    /// Count a rejected entry (one already counted in `entries`), kept while fewer than
    /// [`MAX_REPORTED_FAILURES`] are.
    pub(crate) fn reject(&mut self, rejected: Rejected<'_>) {
        self.failed += 1;
        if self.failures.len() < MAX_REPORTED_FAILURES {
            self.failures.push(rejected.to_failure());
        }
    }

    /// Append `later`, the appraisal of the entries that follow this one's: counts add up, and
    /// the failures reported stay the first [`MAX_REPORTED_FAILURES`] in list order.
    /// `later` is left empty (its failures' buffer kept for reuse).
    pub(crate) fn append(&mut self, later: &mut ListAppraisal) {
        self.entries += std::mem::take(&mut later.entries);
        self.failed += std::mem::take(&mut later.failed);
        let room = MAX_REPORTED_FAILURES.saturating_sub(self.failures.len());
        self.failures.extend(later.failures.drain(..).take(room));
    }

    /// Failing entries beyond the reported ones ([`MAX_REPORTED_FAILURES`]).
    fn unreported(&self) -> u64 {
        self.failed.saturating_sub(self.failures.len() as u64)
    }

    /// Human-readable: one line per reported failure (`entry N: PATH (TEMPLATE): REASON`), how
    /// many more failed, and the count of entries and of those not allowed.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .failures
            .iter()
            .map(|f| {
                format!(
                    "entry {}: {} ({}): {}",
                    f.number, f.path, f.template, f.reason
                )
            })
            .collect();
        if self.unreported() > 0 {
            lines.push(format!("… and {} more failing entries", self.unreported()));
        }
        lines.push(format!(
            "{} entries, {} not allowed",
            self.entries, self.failed
        ));
        lines
    }

    /// JSON: `allowed`, `entries`, `failed`, `failures` (each [`EntryFailure`]'s JSON) and
    /// `failures_truncated`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "allowed": self.is_allowed(),
            "entries": self.entries,
            "failed": self.failed,
            "failures": self.failures,
            "failures_truncated": self.unreported() > 0,
        })
    }
}

/// Appraises entries one at a time. The only state carried from entry to entry is the keys
/// learned from `ima-buf` keyring entries (as keylime's verifier learns them), so entries must
/// be given in list order.
#[derive(Debug)]
pub struct Appraiser<'p> {
    policy: &'p RuntimePolicy,
    /// Owned when built by [`Appraiser::new`]; borrowed by the per-chunk appraisers of the
    /// two-thread appraisal, which must not copy a deny list per chunk.
    options: Cow<'p, AppraiseOptions>,
    /// Keyrings learned from the list, in the order first seen (searched after the policy's
    /// `verification-keys`).
    learned: Vec<(String, HashMap<u32, ImaKey>)>,
    learned_count: usize,
    /// Set when a signature's key was looked for among the learned keys (it was not one of the
    /// policy's): that verdict depends on the keys learned before the entry.
    searched_learned: Cell<bool>,
}

impl<'p> Appraiser<'p> {
    /// An appraiser for `policy`.
    pub fn new(policy: &'p RuntimePolicy, options: AppraiseOptions) -> Appraiser<'p> {
        Appraiser::with_options(policy, Cow::Owned(options))
    }

    /// An appraiser that borrows its options (one per chunk of the two-thread appraisal).
    pub(crate) fn borrowing(
        policy: &'p RuntimePolicy,
        options: &'p AppraiseOptions,
    ) -> Appraiser<'p> {
        Appraiser::with_options(policy, Cow::Borrowed(options))
    }

    fn with_options(policy: &'p RuntimePolicy, options: Cow<'p, AppraiseOptions>) -> Appraiser<'p> {
        Appraiser {
            policy,
            options,
            learned: Vec::new(),
            learned_count: 0,
            searched_learned: Cell::new(false),
        }
    }

    /// True once a key has been learned from the list.
    pub(crate) fn has_learned_keys(&self) -> bool {
        self.learned_count > 0
    }

    /// True once a verdict depended on the learned keys: a signature whose key is not one of
    /// the policy's was looked for among them (with none learned, it was not found).
    pub(crate) fn searched_learned_keys(&self) -> bool {
        self.searched_learned.get()
    }

    /// The verdict on `entry` (the next entry of the list).
    pub fn appraise(&mut self, entry: &ImaEntry) -> Verdict {
        match self.step(entry) {
            Step::Decided(verdict) => verdict,
            Step::Lookup(listed) => verdict(judge(
                self.policy.digests.get(listed.path),
                &[],
                listed.digest,
            )),
        }
    }

    /// [`Appraiser::appraise`] up to the lookup in `digests` that decides most entries, which
    /// [`ListAppraiser`] does for several entries at once.
    fn step<'e>(&mut self, entry: &'e ImaEntry) -> Step<'e> {
        match self.checks(entry) {
            Ok(None) => Step::Decided(Verdict::Allowed),
            Ok(Some(listed)) => Step::Lookup(listed),
            Err(reason) => Step::Decided(Verdict::Rejected(reason)),
        }
    }

    /// The checks of `entry` that read the entry only: allowed (`Ok(None)`), rejected, or the
    /// lookup in `digests` that decides.
    fn checks<'e>(&mut self, entry: &'e ImaEntry) -> Result<Option<Listed<'e>>, FailureReason> {
        if entry.is_violation() {
            return Err(FailureReason::Violation);
        }
        if entry.pcr() != IMA_PCR {
            return Err(FailureReason::WrongPcr(entry.pcr()));
        }
        if entry.verify_header().is_err() {
            return Err(FailureReason::TemplateDigest);
        }
        let template = entry.template_name();
        if !matches!(template, "ima" | "ima-ng" | "ima-sig" | "ima-buf") {
            return Err(FailureReason::UnsupportedTemplate);
        }
        let parts = Parts::of(entry);
        let (Some(path), Some((algo, digest))) = (parts.name, parts.digest) else {
            return Err(FailureReason::UnsupportedTemplate);
        };
        if let Some(deny) = &self.options.deny_list {
            if deny.contains(digest) {
                return Err(FailureReason::Denied {
                    digest: hex::encode(digest),
                });
            }
        }
        match template {
            "ima-sig" => self.check_ima_sig(parts.sig, path, algo, digest),
            "ima-buf" => self.check_ima_buf(parts.buf, path, digest).map(|()| None),
            "ima" => self.listed(path, digest, "ima"),
            _ => self.listed(path, digest, "ima-ng"),
        }
    }

    /// keylime `_validate_ima_ng` of `path` against `digests`, up to the lookup: excluded paths
    /// pass, `boot_aggregate` (which has further digests) is decided here.
    fn listed<'e>(
        &self,
        path: &'e str,
        digest: &'e [u8],
        template: &'static str,
    ) -> Result<Option<Listed<'e>>, FailureReason> {
        if self.policy.is_excluded(path) {
            return Ok(None);
        }
        if path == BOOT_AGGREGATE {
            return self
                .allow_listed(&self.policy.digests, path, digest)
                .map(|()| None);
        }
        Ok(Some(Listed {
            path,
            digest,
            template,
        }))
    }

    /// keylime `_validate_ima_ng`: excluded, or the digest is one of the path's.
    fn allow_listed(
        &self,
        table: &DigestTable,
        path: &str,
        digest: &[u8],
    ) -> Result<(), FailureReason> {
        if self.policy.is_excluded(path) {
            return Ok(());
        }
        let extra: &[Vec<u8>] =
            if path == BOOT_AGGREGATE && std::ptr::eq(table, &self.policy.digests) {
                &self.options.boot_aggregates
            } else {
                &[]
            };
        judge(table.get(path), extra, digest)
    }

    /// keylime `_validate_ima_sig`: excluded, or a signature that verifies with a known key, or
    /// else the allow-list.
    fn check_ima_sig<'e>(
        &self,
        sig: Option<&[u8]>,
        path: &'e str,
        algo: &str,
        digest: &'e [u8],
    ) -> Result<Option<Listed<'e>>, FailureReason> {
        let sig = match sig {
            Some(s) if !s.is_empty() => s,
            _ => return self.listed(path, digest, "ima-sig"),
        };
        if self.policy.is_excluded(path) {
            return Ok(None);
        }
        match check_signature(sig, algo, digest, |id| self.find_key(id)) {
            SigCheck::Good => Ok(None),
            SigCheck::Bad(why) => self
                .allow_listed(&self.policy.digests, path, digest)
                .map(|()| None)
                .map_err(|policy| FailureReason::BadSignature {
                    signature: why,
                    policy: Box::new(policy),
                }),
        }
    }

    /// keylime `_validate_ima_buf`: a key of a keyring (ignored keyrings pass; others must be in
    /// `keyrings`, and the key is then learned), or a buffer in `ima-buf`.
    fn check_ima_buf(
        &mut self,
        buf: Option<&[u8]>,
        name: &str,
        digest: &[u8],
    ) -> Result<(), FailureReason> {
        let buf = buf.unwrap_or_default();
        let key = ImaKey::from_buffer(buf)
            .map_err(|e: KeyError| FailureReason::InvalidKey(e.to_string()))?;
        let Some((key, keyid)) = key else {
            return self.allow_listed(&self.policy.ima_buf, name, digest);
        };
        let ignored = &self.policy.ignored_keyrings;
        if ignored.iter().any(|k| k == "*" || k == name) {
            return Ok(());
        }
        self.allow_listed(&self.policy.keyrings, name, digest)?;
        self.learn(name, key, keyid)
    }

    fn learn(
        &mut self,
        keyring: &str,
        key: ImaKey,
        keyid: Option<u32>,
    ) -> Result<(), FailureReason> {
        let keyid = keyid.filter(|id| *id != 0).unwrap_or_else(|| key.keyid());
        let pos = match self.learned.iter().position(|(n, _)| n == keyring) {
            Some(p) => p,
            None => {
                self.learned.push((keyring.to_owned(), HashMap::new()));
                self.learned.len() - 1
            }
        };
        let ring = &mut self.learned[pos].1;
        if !ring.contains_key(&keyid) {
            if self.learned_count >= MAX_LEARNED_KEYS {
                return Err(FailureReason::TooManyKeys);
            }
            self.learned_count += 1;
        }
        ring.insert(keyid, key);
        Ok(())
    }

    /// The policy's `verification-keys` first, then the learned keyrings in the order first seen.
    fn find_key(&self, keyid: u32) -> Option<&ImaKey> {
        self.policy
            .verification_keys
            .iter()
            .rev()
            .find(|(id, _)| *id == keyid)
            .map(|(_, k)| k)
            .or_else(|| {
                self.searched_learned.set(true);
                self.learned.iter().find_map(|(_, ring)| ring.get(&keyid))
            })
    }
}

/// The fields the appraisal reads, found in one pass over the entry's fields (each the first
/// of its kind, as `ImaEntry::event_name` and `ImaEntry::field` find them).
#[derive(Default)]
struct Parts<'e> {
    /// `n`/`n-ng`: the first that holds a name.
    name: Option<&'e str>,
    /// The logged file (or buffer) digest with its algorithm name: `d-ng`/`d-ngv2` as logged,
    /// `d` as `sha1` (20 bytes) or `md5` (16).
    digest: Option<(&'e str, &'e [u8])>,
    /// The first `sig` field's bytes (empty when it is).
    sig: Option<&'e [u8]>,
    /// The first `buf` field's bytes (empty when it is).
    buf: Option<&'e [u8]>,
}

impl<'e> Parts<'e> {
    fn of(entry: &'e ImaEntry) -> Parts<'e> {
        let mut parts = Parts::default();
        for f in entry.fields() {
            match f.id {
                FieldId::N | FieldId::NNg if parts.name.is_none() => {
                    if let FieldValue::Name(n) = f.value() {
                        parts.name = Some(n);
                    }
                }
                FieldId::D | FieldId::DNg | FieldId::DNgV2 if parts.digest.is_none() => {
                    parts.digest = match f.value() {
                        FieldValue::RawDigest(d) => {
                            Some((if d.len() == 16 { "md5" } else { "sha1" }, d))
                        }
                        FieldValue::Digest(p) => Some((p.algo, p.digest)),
                        _ => None,
                    };
                }
                FieldId::Sig if parts.sig.is_none() => {
                    parts.sig = Some(match f.value() {
                        FieldValue::Signature(s) => s,
                        _ => &[],
                    });
                }
                FieldId::Buf if parts.buf.is_none() => {
                    parts.buf = Some(match f.value() {
                        FieldValue::Buffer(b) => b,
                        _ => &[],
                    });
                }
                _ => {}
            }
        }
        parts
    }
}

/// keylime's allow-list decision: the digest is one of the name's (`listed`) or one of `extra`.
fn judge(
    listed: Option<Digests<'_>>,
    extra: &[Vec<u8>],
    digest: &[u8],
) -> Result<(), FailureReason> {
    if listed.is_none() && extra.is_empty() {
        return Err(FailureReason::NotInPolicy);
    }
    let found = listed.is_some_and(|mut l| l.any(|d| d == digest))
        || extra.iter().any(|d| d.as_slice() == digest);
    if found {
        Ok(())
    } else {
        Err(FailureReason::DigestMismatch {
            got: hex::encode(digest),
        })
    }
}

/// Where [`Appraiser::step`] left an entry.
enum Step<'e> {
    /// The entry's verdict.
    Decided(Verdict),
    /// The lookup that decides the entry.
    Lookup(Listed<'e>),
}

/// An entry whose verdict is decided by looking `path` up in the policy's `digests`.
struct Listed<'e> {
    path: &'e str,
    digest: &'e [u8],
    template: &'static str,
}

/// A [`Listed`] entry kept by [`Lookups`]: its number, and where its path and digest are.
#[derive(Debug)]
struct Pending {
    number: u64,
    template: &'static str,
    path: std::ops::Range<usize>,
    digest: std::ops::Range<usize>,
}

/// The lookups of consecutive [`Listed`] entries, done together ([`DigestTable::get_batch`]:
/// their cache misses overlap) and reported in list order. An entry decided without a lookup
/// must be reported after [`Lookups::resolve`], so that the order stays the list's.
#[derive(Debug, Default)]
struct Lookups {
    pending: Vec<Pending>,
    paths: String,
    digests: Vec<u8>,
}

impl Lookups {
    /// Keep entry `number`'s lookup; resolve the batch once it is full.
    fn push(
        &mut self,
        number: u64,
        listed: Listed<'_>,
        policy: &RuntimePolicy,
        rejected: &mut impl FnMut(Rejected<'_>),
    ) {
        let path = self.paths.len()..self.paths.len() + listed.path.len();
        self.paths.push_str(listed.path);
        let digest = self.digests.len()..self.digests.len() + listed.digest.len();
        self.digests.extend_from_slice(listed.digest);
        self.pending.push(Pending {
            number,
            template: listed.template,
            path,
            digest,
        });
        if self.pending.len() == BATCH {
            self.resolve(policy, rejected);
        }
    }

    /// Drop the kept entries.
    fn clear(&mut self) {
        self.pending.clear();
        self.paths.clear();
        self.digests.clear();
    }

    /// Look up the kept entries and give those not allowed to `rejected`, in order.
    fn resolve(&mut self, policy: &RuntimePolicy, rejected: &mut impl FnMut(Rejected<'_>)) {
        if self.pending.is_empty() {
            return;
        }
        let mut names: [&[u8]; BATCH] = [&[]; BATCH];
        for (name, p) in names.iter_mut().zip(&self.pending) {
            *name = self
                .paths
                .get(p.path.clone())
                .unwrap_or_default()
                .as_bytes();
        }
        let found = policy.digests.get_batch(&names[..self.pending.len()]);
        for (p, listed) in self.pending.iter().zip(found) {
            let digest = self.digests.get(p.digest.clone()).unwrap_or_default();
            if let Err(reason) = judge(listed, &[], digest) {
                rejected(Rejected {
                    number: p.number,
                    pcr: IMA_PCR,
                    path: self.paths.get(p.path.clone()).unwrap_or_default(),
                    template: p.template,
                    reason,
                });
            }
        }
        self.clear();
    }
}

/// Appraises the entries of one list in order, as [`Appraiser`] does, but looks most of them
/// up in the policy several at a time (their cache misses overlap): the loop of
/// [`appraise_list`], and of `mr verify`'s appraisal. Each entry that is not allowed is given
/// to the `rejected` callback, in list order; an entry whose lookup waits is given with a
/// later call, or by [`ListAppraiser::finish`].
#[derive(Debug)]
pub struct ListAppraiser<'p> {
    appraiser: Appraiser<'p>,
    lookups: Lookups,
}

impl<'p> ListAppraiser<'p> {
    /// An appraiser of a list for `policy`.
    pub fn new(policy: &'p RuntimePolicy, options: AppraiseOptions) -> ListAppraiser<'p> {
        ListAppraiser {
            appraiser: Appraiser::new(policy, options),
            lookups: Lookups::default(),
        }
    }

    /// A list appraiser that borrows its options (one per chunk of the two-thread appraisal).
    pub(crate) fn borrowing(
        policy: &'p RuntimePolicy,
        options: &'p AppraiseOptions,
    ) -> ListAppraiser<'p> {
        ListAppraiser {
            appraiser: Appraiser::borrowing(policy, options),
            lookups: Lookups::default(),
        }
    }

    /// Appraise `entry`, the next entry of the list.
    pub fn push(&mut self, entry: &ImaEntry, rejected: &mut impl FnMut(Rejected<'_>)) {
        let policy = self.appraiser.policy;
        match self.appraiser.step(entry) {
            Step::Lookup(listed) => {
                self.lookups
                    .push(entry.index() + 1, listed, policy, rejected);
            }
            Step::Decided(verdict) => {
                // The waiting entries come first in the list.
                self.lookups.resolve(policy, rejected);
                if let Verdict::Rejected(reason) = verdict {
                    rejected(Rejected {
                        number: entry.index() + 1,
                        pcr: entry.pcr(),
                        path: entry.event_name().unwrap_or_default(),
                        template: entry.template_name(),
                        reason,
                    });
                }
            }
        }
    }

    /// Report the entries whose lookup still waits. The appraiser can go on with the list's
    /// next entries afterwards.
    pub fn finish(&mut self, rejected: &mut impl FnMut(Rejected<'_>)) {
        self.lookups.resolve(self.appraiser.policy, rejected);
    }

    /// True once a key has been learned from the list.
    pub(crate) fn has_learned_keys(&self) -> bool {
        self.appraiser.has_learned_keys()
    }

    /// True once a verdict depended on the learned keys (see [`Appraiser`]).
    pub(crate) fn searched_learned_keys(&self) -> bool {
        self.appraiser.searched_learned_keys()
    }
}

/// Appraise every entry of a list read by `reader` (memory: the policy, the learned keys and at
/// most [`MAX_REPORTED_FAILURES`] reported failures). A list that cannot be read is an error,
/// never a partial appraisal.
pub fn appraise_list<R: BufRead>(
    reader: &mut ImaReader<R>,
    policy: &RuntimePolicy,
    options: AppraiseOptions,
) -> Result<ListAppraisal, PolicyError> {
    let mut appraiser = ListAppraiser::new(policy, options);
    let mut out = ListAppraisal::default();
    appraise_entries(reader, &mut appraiser, &mut out)?;
    Ok(out)
}

/// Appraise the entries `reader` has left with `appraiser`, in order, into `out` (the loop of
/// [`appraise_list`], also the two-thread appraisal's for the entries it appraises in order).
pub(crate) fn appraise_entries<R: BufRead>(
    reader: &mut ImaReader<R>,
    appraiser: &mut ListAppraiser<'_>,
    out: &mut ListAppraisal,
) -> Result<(), PolicyError> {
    while let Some(entry) = reader.next_entry()? {
        out.entries += 1;
        appraiser.push(entry, &mut |r| out.reject(r));
    }
    appraiser.finish(&mut |r| out.reject(r));
    Ok(())
}

/// The verdict of a check's result.
fn verdict(result: Result<(), FailureReason>) -> Verdict {
    match result {
        Ok(()) => Verdict::Allowed,
        Err(reason) => Verdict::Rejected(reason),
    }
}
