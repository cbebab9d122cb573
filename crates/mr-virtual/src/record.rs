//! The record format of a journal (docs/formats.md#journal): one record per `\n`-terminated UTF-8 line.
//!
//! ```text
//! mr_ima extend sha384/<hex digest>     the virtual register mr_ima was extended with <digest>
//! SYNC sha384/<hex value>               the backing register held <value> before this line
//! # anything                            a comment: kept, never extended
//!                                       (an empty line: kept, never extended)
//! ```
//!
//! The parser is strict, so that a record has exactly one spelling and the line that was hashed
//! into the backing register is exactly [`Record`]'s [`Display`](fmt::Display) form: tokens are
//! separated by one space, no leading or trailing blanks, no control characters, a known
//! algorithm in its lowercase kernel name, lowercase hex of exactly the algorithm's size, and a
//! register name of 1 to [`MAX_NAME_LEN`] characters from `[A-Za-z0-9_.-]` (not `SYNC`).

use std::fmt;

use mr_core::alg::MAX_DIGEST_SIZE;
use mr_core::hexdigits::{self, HexCase};
use mr_core::{Digest, HashAlg};

/// Longest journal line accepted, in bytes (without the `\n`). A record is at most
/// 64 + 8 + 7 + 128 bytes; comments may use the rest.
pub const MAX_LINE_LEN: usize = 4096;

/// Longest virtual register name.
pub const MAX_NAME_LEN: usize = 64;

/// The keyword of a SYNC record (also refused as a register name).
pub const SYNC_KEYWORD: &str = "SYNC";

/// The keyword of an extend record.
pub const EXTEND_KEYWORD: &str = "extend";

/// One record of a journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// The virtual register `name` was extended with `digest` (its bank is the digest's
    /// algorithm).
    Extend {
        /// The virtual register's name.
        name: String,
        /// The digest it was extended with.
        digest: Digest,
    },
    /// The backing register held `value` before this record itself was extended (lets a verifier
    /// start after a rotated-away head, and checks a replay on the way).
    Sync {
        /// The backing register's value before this line.
        value: Digest,
    },
}

/// Why a journal line is not a record. The line number is added by the caller
/// ([`crate::Error::Record`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The line is longer than [`MAX_LINE_LEN`].
    #[error("line longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// The last line of the journal has no terminating `\n` (a torn write).
    #[error("incomplete last line (no terminating newline): a torn write")]
    Incomplete,
    /// The line is not UTF-8.
    #[error("not valid UTF-8")]
    NotUtf8,
    /// A control character (tab, carriage return, ...) in a record.
    #[error("control character {0:?} in a record")]
    ControlCharacter(char),
    /// Leading, trailing or repeated blanks.
    #[error("blank at the start or end of the line, or more than one blank between tokens")]
    Whitespace,
    /// A line with the wrong number of tokens.
    #[error("expected `<name> extend <alg>/<hex>` or `SYNC <alg>/<hex>`, got {tokens} tokens")]
    Tokens {
        /// Tokens found.
        tokens: usize,
    },
    /// A record kind other than `extend`.
    #[error("unknown record kind {0:?} (expected \"extend\")")]
    UnknownKind(String),
    /// A register name outside `[A-Za-z0-9_.-]{1,64}`, or `SYNC`.
    #[error("invalid register name {0:?} (1 to 64 characters of A-Z a-z 0-9 _ . -, not SYNC)")]
    InvalidName(String),
    /// A value without `<alg>/`.
    #[error("expected <alg>/<hex>, got {0:?}")]
    MissingAlgorithm(String),
    /// An algorithm that is not a lowercase kernel name of a supported hash.
    #[error("unknown hash algorithm {0:?} (expected sha1, sha256, sha384, sha512 or sm3)")]
    UnknownAlgorithm(String),
    /// A digest whose length is not the algorithm's size.
    #[error("{alg} digest must be {expected} hex digits, got {got}")]
    DigestLength {
        /// The algorithm.
        alg: HashAlg,
        /// Hex digits required.
        expected: usize,
        /// Hex digits given.
        got: usize,
    },
    /// A digest that is not lowercase hex.
    #[error("digest is not lowercase hex")]
    NotLowercaseHex,
}

/// Cut untrusted text for an error message.
fn excerpt(s: &str) -> String {
    s.chars().take(MAX_NAME_LEN + 8).collect()
}

/// True when `name` is a valid virtual register name: `[A-Za-z0-9_.-]{1,64}`, not `SYNC`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != SYNC_KEYWORD
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A record borrowed from a line (the hot path of a verifier: no allocation per line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordRef<'a> {
    Extend { name: &'a str, digest: Digest },
    Sync { value: Digest },
}

impl RecordRef<'_> {
    pub(crate) fn to_owned(self) -> Record {
        match self {
            RecordRef::Extend { name, digest } => Record::Extend {
                name: name.to_owned(),
                digest,
            },
            RecordRef::Sync { value } => Record::Sync { value },
        }
    }
}

fn parse_value(token: &str) -> Result<Digest, RecordError> {
    let (alg_name, hex) = token
        .split_once('/')
        .ok_or_else(|| RecordError::MissingAlgorithm(excerpt(token)))?;
    let alg = HashAlg::ALL
        .into_iter()
        .find(|a| a.name() == alg_name)
        .ok_or_else(|| RecordError::UnknownAlgorithm(excerpt(alg_name)))?;
    if hex.len() != alg.size() * 2 {
        return Err(RecordError::DigestLength {
            alg,
            expected: alg.size() * 2,
            got: hex.len(),
        });
    }
    let mut bytes = [0u8; MAX_DIGEST_SIZE];
    let out = bytes.get_mut(..alg.size()).unwrap_or(&mut []);
    if !hexdigits::decode_into(hex.as_bytes(), out, HexCase::Lower) {
        return Err(RecordError::NotLowercaseHex);
    }
    Digest::new(alg, bytes.get(..alg.size()).unwrap_or(&[]))
        .map_err(|_| RecordError::NotLowercaseHex)
}

/// Parse one line (without `\n`): `Ok(None)` for an empty line or a `#` comment.
pub(crate) fn parse_ref(line: &str) -> Result<Option<RecordRef<'_>>, RecordError> {
    if line.len() > MAX_LINE_LEN {
        return Err(RecordError::TooLong { max: MAX_LINE_LEN });
    }
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    // Records are printable ASCII; only a line that is not needs the per-character check.
    if !line.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        if let Some(c) = line.chars().find(|c| c.is_control()) {
            return Err(RecordError::ControlCharacter(c));
        }
    }
    let mut tokens = [""; 3];
    let mut n = 0usize;
    for t in line.split(' ') {
        if t.is_empty() {
            return Err(RecordError::Whitespace);
        }
        if let Some(slot) = tokens.get_mut(n) {
            *slot = t;
        }
        n += 1;
    }
    match (n, tokens) {
        (2, [SYNC_KEYWORD, value, _]) => Ok(Some(RecordRef::Sync {
            value: parse_value(value)?,
        })),
        (3, [name, kind, value]) => {
            if kind != EXTEND_KEYWORD {
                return Err(RecordError::UnknownKind(excerpt(kind)));
            }
            if !is_valid_name(name) {
                return Err(RecordError::InvalidName(excerpt(name)));
            }
            Ok(Some(RecordRef::Extend {
                name,
                digest: parse_value(value)?,
            }))
        }
        (tokens, _) => Err(RecordError::Tokens { tokens }),
    }
}

/// Parse one line given as bytes (not yet known to be UTF-8).
pub(crate) fn parse_bytes(line: &[u8]) -> Result<Option<RecordRef<'_>>, RecordError> {
    if line.len() > MAX_LINE_LEN {
        return Err(RecordError::TooLong { max: MAX_LINE_LEN });
    }
    let text = std::str::from_utf8(line).map_err(|_| RecordError::NotUtf8)?;
    parse_ref(text)
}

impl Record {
    /// An extend record, checking the name.
    pub fn extend(name: &str, digest: Digest) -> Result<Record, RecordError> {
        if !is_valid_name(name) {
            return Err(RecordError::InvalidName(excerpt(name)));
        }
        Ok(Record::Extend {
            name: name.to_owned(),
            digest,
        })
    }

    /// Parse one line (without its `\n`): `Ok(None)` for an empty line or a `#` comment, which
    /// are not records and are not extended.
    ///
    /// ```
    /// use mr_virtual::record::Record;
    /// let line = format!("mr_ima extend sha384/{}", "ab".repeat(48));
    /// let r = Record::parse(&line)?.expect("a record");
    /// assert_eq!(r.to_string(), line);
    /// assert_eq!(Record::parse("# comment")?, None);
    /// assert!(Record::parse("mr_ima  extend sha384/00").is_err());
    /// # Ok::<(), mr_virtual::record::RecordError>(())
    /// ```
    pub fn parse(line: &str) -> Result<Option<Record>, RecordError> {
        Ok(parse_ref(line)?.map(RecordRef::to_owned))
    }

    /// The record's digest in the backing register's bank `alg`: `H(line without '\n')`, the
    /// value extended into the backing register.
    pub fn line_digest(&self, alg: HashAlg) -> Digest {
        alg.hash(self.to_string().as_bytes())
    }

    /// The register name of an extend record.
    pub fn name(&self) -> Option<&str> {
        match self {
            Record::Extend { name, .. } => Some(name),
            Record::Sync { .. } => None,
        }
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Record::Extend { name, digest } => {
                write!(f, "{name} {EXTEND_KEYWORD} {}/{digest}", digest.alg())
            }
            Record::Sync { value } => write!(f, "{SYNC_KEYWORD} {}/{value}", value.alg()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn hex(n: usize, c: char) -> String {
        std::iter::repeat_n(c, n).collect()
    }

    #[test]
    fn parses_extend_and_sync_records() {
        let line = format!("mr_ima extend sha384/{}", hex(96, 'a'));
        let r = Record::parse(&line).unwrap().unwrap();
        assert_eq!(
            r,
            Record::Extend {
                name: "mr_ima".into(),
                digest: Digest::new(HashAlg::Sha384, &[0xaa; 48]).unwrap()
            }
        );
        assert_eq!(r.to_string(), line);
        let line = format!("SYNC sha256/{}", hex(64, '0'));
        assert_eq!(
            Record::parse(&line).unwrap().unwrap(),
            Record::Sync {
                value: Digest::zero(HashAlg::Sha256)
            }
        );
        for alg in HashAlg::ALL {
            let line = format!("A-b.c_9 extend {}/{}", alg.name(), hex(alg.size() * 2, '7'));
            assert_eq!(Record::parse(&line).unwrap().unwrap().to_string(), line);
        }
    }

    #[test]
    fn blank_and_comment_lines_are_not_records() {
        assert_eq!(Record::parse("").unwrap(), None);
        assert_eq!(Record::parse("#").unwrap(), None);
        assert_eq!(Record::parse("# mr_ima extend sha384/zz").unwrap(), None);
    }

    #[test]
    fn line_digest_hashes_the_line_without_newline() {
        let r = Record::Sync {
            value: Digest::ones(HashAlg::Sha384),
        };
        let line = format!("SYNC sha384/{}", hex(96, 'f'));
        assert_eq!(
            r.line_digest(HashAlg::Sha384),
            HashAlg::Sha384.hash(line.as_bytes())
        );
        assert_eq!(
            r.line_digest(HashAlg::Sha256),
            HashAlg::Sha256.hash(line.as_bytes())
        );
    }

    #[test]
    fn refuses_every_kind_of_bad_line() {
        let d = hex(96, 'a');
        type Check = fn(&RecordError) -> bool;
        let cases: Vec<(String, Check)> = vec![
            (format!(" mr_ima extend sha384/{d}"), |e| {
                matches!(e, RecordError::Whitespace)
            }),
            (format!("mr_ima extend sha384/{d} "), |e| {
                matches!(e, RecordError::Whitespace)
            }),
            (format!("mr_ima  extend sha384/{d}"), |e| {
                matches!(e, RecordError::Whitespace)
            }),
            (" ".to_string(), |e| matches!(e, RecordError::Whitespace)),
            (format!("mr_ima\textend sha384/{d}"), |e| {
                matches!(e, RecordError::ControlCharacter('\t'))
            }),
            (format!("mr_ima extend sha384/{d}\r"), |e| {
                matches!(e, RecordError::ControlCharacter('\r'))
            }),
            (format!("mr_ima Extend sha384/{d}"), |e| {
                matches!(e, RecordError::UnknownKind(_))
            }),
            (format!("mr_ima sync sha384/{d}"), |e| {
                matches!(e, RecordError::UnknownKind(_))
            }),
            (format!("mr ima extend sha384/{d}"), |e| {
                matches!(e, RecordError::Tokens { tokens: 4 })
            }),
            ("mr_ima".to_string(), |e| {
                matches!(e, RecordError::Tokens { tokens: 1 })
            }),
            (format!("mr_ima sha384/{d}"), |e| {
                matches!(e, RecordError::Tokens { tokens: 2 })
            }),
            (format!("SYNC extend sha384/{d}"), |e| {
                matches!(e, RecordError::InvalidName(_))
            }),
            (format!("mr/ima extend sha384/{d}"), |e| {
                matches!(e, RecordError::InvalidName(_))
            }),
            (format!("{} extend sha384/{d}", hex(65, 'm')), |e| {
                matches!(e, RecordError::InvalidName(_))
            }),
            (format!("mr_ima extend SHA384/{d}"), |e| {
                matches!(e, RecordError::UnknownAlgorithm(_))
            }),
            (format!("mr_ima extend sha-384/{d}"), |e| {
                matches!(e, RecordError::UnknownAlgorithm(_))
            }),
            (format!("mr_ima extend md5/{}", hex(32, 'a')), |e| {
                matches!(e, RecordError::UnknownAlgorithm(_))
            }),
            (format!("mr_ima extend sha384:{d}"), |e| {
                matches!(e, RecordError::MissingAlgorithm(_))
            }),
            (format!("mr_ima extend sha384/{}", hex(64, 'a')), |e| {
                matches!(
                    e,
                    RecordError::DigestLength {
                        expected: 96,
                        got: 64,
                        ..
                    }
                )
            }),
            (format!("mr_ima extend sha384/{}", hex(96, 'A')), |e| {
                matches!(e, RecordError::NotLowercaseHex)
            }),
            (format!("mr_ima extend sha384/{}", hex(96, 'g')), |e| {
                matches!(e, RecordError::NotLowercaseHex)
            }),
            (format!("SYNC sha384/{d} x"), |e| {
                matches!(e, RecordError::UnknownKind(_))
            }),
            (format!("SYNC sha384/{}", hex(95, 'a')), |e| {
                matches!(e, RecordError::DigestLength { got: 95, .. })
            }),
            (format!("# {}", hex(MAX_LINE_LEN, 'a')), |e| {
                matches!(e, RecordError::TooLong { .. })
            }),
        ];
        for (line, want) in cases {
            let err = Record::parse(&line).expect_err(&line);
            assert!(want(&err), "{line:?} gave {err:?}");
        }
        assert_eq!(
            parse_bytes(b"mr_ima extend \xff").unwrap_err(),
            RecordError::NotUtf8
        );
    }

    #[test]
    fn extend_constructor_checks_the_name() {
        let d = Digest::zero(HashAlg::Sha384);
        assert!(Record::extend("mr_ima", d).is_ok());
        assert!(Record::extend("", d).is_err());
        assert!(Record::extend("SYNC", d).is_err());
        assert!(Record::extend("a b", d).is_err());
    }
}
