//! Verification times given as text (a verifier's `--at`): RFC 3339, at or after the Unix
//! epoch. The library never reads the clock; the caller gives the time or takes "now" itself.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Text that is not an RFC 3339 time at or after the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an RFC 3339 time (e.g. 2025-07-19T10:00:00Z): {reason}")]
pub struct TimeError {
    /// The text given.
    pub text: String,
    /// Why it was refused.
    pub reason: String,
}

/// The time `text` names: RFC 3339 (`2025-07-19T10:00:00Z`, `…+02:00`, fractions allowed and
/// dropped; chrono's parser), at or after 1970-01-01. Never panics on any text.
pub fn parse_rfc3339(text: &str) -> Result<SystemTime, TimeError> {
    let bad = |reason: String| TimeError {
        text: text.to_owned(),
        reason,
    };
    let t = chrono::DateTime::parse_from_rfc3339(text).map_err(|e| bad(e.to_string()))?;
    let secs = u64::try_from(t.timestamp()).map_err(|_| bad("before 1970-01-01".into()))?;
    Ok(UNIX_EPOCH + Duration::from_secs(secs))
}
