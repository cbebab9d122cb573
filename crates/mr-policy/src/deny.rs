//! Deny lists: file digests that are rejected whatever the runtime policy or a signature says.

use std::collections::HashSet;

use crate::error::PolicyError;

/// Largest deny-list file accepted (64 MiB: about half a million SHA-256 digests).
pub const MAX_DENY_LIST_LEN: u64 = 64 << 20;

/// A set of denied file digests (any algorithm; matched on the digest bytes, as the runtime
/// policy's `digests` are).
#[derive(Clone, Debug, Default)]
pub struct DenyList {
    digests: HashSet<Box<[u8]>>,
}

impl DenyList {
    /// Parse a deny list: one hex digest per line (16 to 64 bytes, either case, optionally
    /// prefixed `<alg>:`); blank lines and lines starting with `#` are ignored. Anything else is
    /// an error naming the line: a deny list is never partly applied.
    pub fn parse(text: &str) -> Result<DenyList, PolicyError> {
        if text.len() as u64 > MAX_DENY_LIST_LEN {
            return Err(PolicyError::TooLarge {
                what: "deny list",
                len: text.len() as u64,
                max: MAX_DENY_LIST_LEN,
            });
        }
        let mut digests = HashSet::new();
        for (i, line) in text.lines().enumerate() {
            let parsed = parse_line(line.trim()).map_err(|message| PolicyError::DenyList {
                line: i + 1,
                message: message.into(),
            })?;
            if let Some(bytes) = parsed {
                digests.insert(bytes);
            }
        }
        Ok(DenyList { digests })
    }

    /// Read a deny-list file (size checked before reading).
    pub fn from_file(path: &std::path::Path) -> Result<DenyList, PolicyError> {
        let bytes = crate::read_bounded(path, "deny list", MAX_DENY_LIST_LEN)?;
        let text = String::from_utf8(bytes).map_err(|e| PolicyError::Io {
            path: path.display().to_string(),
            message: format!("not UTF-8: {e}"),
        })?;
        DenyList::parse(&text)
    }

    /// A deny list of hex digests (the `deny_list` array of a policy document); an entry that
    /// is not a digest is an error naming it (1-based, as `line`).
    pub fn from_digests(digests: &[String]) -> Result<DenyList, PolicyError> {
        let mut out = DenyList::default();
        for (i, d) in digests.iter().enumerate() {
            match parse_line(d.trim()) {
                Ok(Some(bytes)) => {
                    out.digests.insert(bytes);
                }
                Ok(None) => {}
                Err(message) => {
                    return Err(PolicyError::DenyList {
                        line: i + 1,
                        message: message.into(),
                    })
                }
            }
        }
        Ok(out)
    }

    /// Add every digest of `other`.
    pub fn extend(&mut self, other: DenyList) {
        self.digests.extend(other.digests);
    }

    /// True when `digest` is denied.
    pub fn contains(&self, digest: &[u8]) -> bool {
        self.digests.contains(digest)
    }

    /// Number of denied digests.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// True when nothing is denied.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }
}

/// One line of a deny list: `None` for a blank line or a `#` comment, else the digest.
fn parse_line(line: &str) -> Result<Option<Box<[u8]>>, &'static str> {
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let hex_text = line.rsplit_once(':').map_or(line, |(_, h)| h);
    if !(32..=128).contains(&hex_text.len()) {
        return Err("not a digest of 16 to 64 bytes");
    }
    let bytes = hex::decode(hex_text).map_err(|_| "not hex")?;
    Ok(Some(bytes.into_boxed_slice()))
}
