//! Appraisal of IMA measurement lists against a keylime-compatible runtime policy.
//!
//! mr proves that a list is the one a quote vouches for; this crate answers the next question:
//! is every entry it describes acceptable? The answer is order-independent and per entry:
//!
//! * [`RuntimePolicy`]: keylime's runtime policy, format version 1 (plain JSON or inside a DSSE
//!   envelope), validated against keylime's schema; a bad policy is a [`PolicyError`], never a
//!   partial policy. Its size is capped ([`MAX_POLICY_LEN`]).
//! * [`DenyList`]: file digests that are rejected whatever the policy or a signature says.
//! * [`Appraiser`]: a pure, streaming evaluation — one [`Verdict`] per entry, with keylime's
//!   semantics (excludes anchored at the start like Python's `re.match`, digests per path,
//!   `ima`/`ima-ng`/`ima-sig`/`ima-buf`, signatures v2 and v3, keys learned from `ima-buf`
//!   entries of trusted keyrings, ignored keyrings). No I/O, no CLI logic: the verifier feeds it
//!   entries (all of a list, or only those a quote covers).
//! * [`ListAppraiser`]: the same verdicts for the entries of one list in order, looking most
//!   of them up in the policy several at a time (the loop of `appraise_list` and of `mr
//!   verify`'s appraisal); rejected entries come back in list order as [`Rejected`].
//! * [`appraise_list`]: the whole loop over an [`mr_core::log::ima::ImaReader`], collecting the
//!   failing entries; memory is the policy's plus a constant. [`appraise_input`] gives the same
//!   result from a list it reads once, on two threads when the list is long enough.
//! * [`create`]: writing a runtime policy from a known-good list and/or a directory tree.
//! * [`AppraisalPolicy`]: the appraisal policy document (`docs/policy.schema.json`): platform
//!   rules for a TD root ([`TdPolicy`]) and a TPM root ([`TpmPolicy`], with facts of the boot
//!   log, [`BootFacts`]), the runtime policy (a path or inline, its DSSE envelope verified with
//!   a [`DsseKey`]) and a deny list. Each rule gives a [`RuleCheck`] with the values compared.
//!
//! The semantics and where mr differs from keylime are documented in `docs/appraisal.md`.

mod appraise;
pub mod create;
mod deny;
mod dsse;
mod error;
mod facts;
mod keys;
mod platform;
mod policy;
mod table;
mod two_threads;

pub use appraise::{
    appraise_list, AppraiseOptions, Appraiser, EntryFailure, FailureReason, ListAppraisal,
    ListAppraiser, Rejected, Verdict, MAX_REPORTED_FAILURES,
};
pub use deny::{DenyList, MAX_DENY_LIST_LEN};
pub use dsse::{pae, DsseKey};
pub use error::PolicyError;
pub use facts::{BootFacts, SignatureDb, Variable};
pub use keys::{keyid_v2, ImaKey, KeyError};
pub use platform::{
    AppraisalPolicy, Claim, Hex, MaskedValue, PolicyFiles, RuleCheck, TcbFacts, TcbPolicy,
    TdAttributesPolicy, TdFacts, TdPolicy, TpmFacts, TpmPolicy, VariablePolicy,
    MAX_POLICY_DOCUMENT_LEN, MAX_SET_LEN, POLICY_DOCUMENT_VERSION,
};
pub use policy::{RuntimePolicy, MAX_DIGESTS, MAX_EXCLUDE_LEN, MAX_POLICY_LEN, MAX_REGEX_SIZE};
pub use two_threads::{appraise_chunked, appraise_input, ChunkedRun, ListOptions};

/// Read a file of at most `max` bytes (the length is checked before reading, and the read is
/// bounded in case the file grows).
pub(crate) fn read_bounded(
    path: &std::path::Path,
    what: &'static str,
    max: u64,
) -> Result<Vec<u8>, PolicyError> {
    let io = |e: std::io::Error| PolicyError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len > max {
        return Err(PolicyError::TooLarge { what, len, max });
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, max + 1), &mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(PolicyError::TooLarge {
            what,
            len: bytes.len() as u64,
            max,
        });
    }
    Ok(bytes)
}
