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
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let hex_text = line.rsplit_once(':').map_or(line, |(_, h)| h);
            let err = |message: &str| PolicyError::DenyList {
                line: i + 1,
                message: message.into(),
            };
            if !(32..=128).contains(&hex_text.len()) {
                return Err(err("not a digest of 16 to 64 bytes"));
            }
            let bytes = hex::decode(hex_text).map_err(|_| err("not hex"))?;
            digests.insert(bytes.into_boxed_slice());
        }
        Ok(DenyList { digests })
    }

    /// Read a deny-list file (size checked before reading).
    pub fn from_file(path: &std::path::Path) -> Result<DenyList, PolicyError> {
        let io = |e: std::io::Error| PolicyError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len > MAX_DENY_LIST_LEN {
            return Err(PolicyError::TooLarge {
                what: "deny list",
                len,
                max: MAX_DENY_LIST_LEN,
            });
        }
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(file, MAX_DENY_LIST_LEN + 1),
            &mut text,
        )
        .map_err(io)?;
        DenyList::parse(&text)
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
