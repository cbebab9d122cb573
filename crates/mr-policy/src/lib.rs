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
//! * [`appraise_list`]: the whole loop over an [`mr_core::log::ima::ImaReader`], collecting the
//!   failing entries; memory is the policy's plus a constant.
//! * [`create`]: writing a runtime policy from a known-good list and/or a directory tree.
//!
//! The semantics and where mr differs from keylime are documented in `docs/appraisal.md`.

mod appraise;
pub mod create;
mod deny;
mod error;
mod keys;
mod policy;

pub use appraise::{
    appraise_list, AppraiseOptions, Appraiser, EntryFailure, FailureReason, ListAppraisal, Verdict,
    MAX_REPORTED_FAILURES,
};
pub use deny::{DenyList, MAX_DENY_LIST_LEN};
pub use error::PolicyError;
pub use keys::{keyid_v2, ImaKey, KeyError};
pub use policy::{RuntimePolicy, MAX_DIGESTS, MAX_EXCLUDE_LEN, MAX_POLICY_LEN, MAX_REGEX_SIZE};
