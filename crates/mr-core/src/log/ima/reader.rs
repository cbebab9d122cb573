//! The streaming reader: format detection and the entry loop.

use std::io::{self, BufRead};

use crate::alg::HashAlg;
use crate::error::{Error, ParseError, ParseErrorKind};

use super::template::{Endian, TemplateFormat};
use super::{ImaEntry, ListFormat, ListKind, MAX_TEMPLATE_NAME_LEN};

/// Bytes read ahead to detect the format (one maximal entry header).
const DETECT_LEN: usize = 4 + 64 + 4 + MAX_TEMPLATE_NAME_LEN as usize + 4;

/// Largest PCR index accepted while *detecting* byte order and column width (parsing itself
/// accepts any u32).
const DETECT_MAX_PCR: u32 = 1023;

/// Reader options; `Default` auto-detects everything and rejects trailing bytes.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ImaReaderOptions {
    /// Force binary or ASCII (default: detect from the first bytes).
    pub kind: Option<ListKind>,
    /// Force the byte order of a binary list (default: detect from the first entry's PCR and
    /// length fields). For ASCII lists: the order used to rebuild template data from text
    /// (default little endian).
    pub endian: Option<Endian>,
    /// Force the algorithm of the template-digest column (default: from the first entry's
    /// width: 20 → SHA-1, 32 → SHA-256, 48 → SHA-384, 64 → SHA-512; use this for SM3 lists).
    pub column: Option<HashAlg>,
    /// Accept an incomplete final entry as trailing bytes instead of failing.
    pub allow_trailing_bytes: bool,
}

impl ImaReaderOptions {
    /// Force binary or ASCII.
    pub fn with_kind(mut self, kind: ListKind) -> Self {
        self.kind = Some(kind);
        self
    }
    /// Force the byte order.
    pub fn with_endian(mut self, endian: Endian) -> Self {
        self.endian = Some(endian);
        self
    }
    /// Force the column algorithm.
    pub fn with_column(mut self, column: HashAlg) -> Self {
        self.column = Some(column);
        self
    }
    /// Accept (and report) an incomplete final entry.
    pub fn with_trailing_bytes_allowed(mut self, allow: bool) -> Self {
        self.allow_trailing_bytes = allow;
        self
    }
}

use crate::wire::Prefixed;

impl<R: BufRead> Prefixed<R> {
    /// Fill `buf` as far as the input allows; returns the bytes read (< len only at EOF).
    #[inline]
    pub(crate) fn read_full(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            let avail = match self.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                break;
            }
            let n = avail.len().min(buf.len() - got);
            buf[got..got + n].copy_from_slice(&avail[..n]);
            self.consume(n);
            got += n;
        }
        Ok(got)
    }

    /// Append up to `len` bytes to `out`, growing it only as data arrives (never by `len` up
    /// front); returns the bytes appended.
    #[inline]
    pub(crate) fn read_into(&mut self, len: usize, out: &mut Vec<u8>) -> io::Result<usize> {
        let mut got = 0;
        while got < len {
            let avail = match self.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                break;
            }
            let n = avail.len().min(len - got);
            out.extend_from_slice(&avail[..n]);
            self.consume(n);
            got += n;
        }
        Ok(got)
    }

    /// Read one line (without the `\n`) into `out`. Returns `Some((bytes consumed, saw
    /// newline))`, or `None` when the line is longer than `max` bytes.
    pub(crate) fn read_line(
        &mut self,
        max: usize,
        out: &mut Vec<u8>,
    ) -> io::Result<Option<(usize, bool)>> {
        out.clear();
        let mut consumed = 0;
        loop {
            let avail = match self.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                return Ok(Some((consumed, false)));
            }
            let (take, done) = match avail.iter().position(|b| *b == b'\n') {
                Some(p) => (p, true),
                None => (avail.len(), false),
            };
            if out.len() + take > max {
                return Ok(None);
            }
            out.extend_from_slice(&avail[..take]);
            let used = if done { take + 1 } else { take };
            self.consume(used);
            consumed += used;
            if done {
                return Ok(Some((consumed, true)));
            }
        }
    }
}

/// Streams entries of an IMA list (binary or ASCII) from a `BufRead`, one at a time, into a
/// reused [`ImaEntry`].
///
/// ```
/// use mr_core::log::ima::{builder::ImaListBuilder, ImaReader, ImaReaderOptions};
/// use mr_core::HashAlg;
/// let mut b = ImaListBuilder::binary();
/// b.ima_ng(10, &HashAlg::Sha256.hash(b"x"), "/bin/x");
/// let list = b.finish();
/// let mut r = ImaReader::new(&list[..], ImaReaderOptions::default());
/// while let Some(e) = r.next_entry()? {
///     assert_eq!(e.event_name(), Some("/bin/x"));
///     e.verify_header().map_err(|m| mr_core::Error::from(*m))?;
/// }
/// # Ok::<(), mr_core::Error>(())
/// ```
pub struct ImaReader<R> {
    pub(crate) src: Prefixed<R>,
    pub(crate) opts: ImaReaderOptions,
    pub(crate) format: Option<ListFormat>,
    pub(crate) entry: ImaEntry,
    pub(crate) pos: u64,
    pub(crate) next_index: u64,
    pub(crate) trailing: u64,
    pub(crate) done: bool,
    pub(crate) line: Vec<u8>,
    pub(crate) templates: Vec<(String, TemplateFormat)>,
}

impl<R: BufRead> ImaReader<R> {
    /// A reader over `input`.
    pub fn new(input: R, opts: ImaReaderOptions) -> ImaReader<R> {
        ImaReader {
            src: Prefixed::new(input),
            opts,
            format: None,
            entry: ImaEntry::empty(),
            pos: 0,
            next_index: 0,
            trailing: 0,
            done: false,
            line: Vec::new(),
            templates: Vec::new(),
        }
    }

    /// The next entry, `Ok(None)` at the end of the list. An empty input is an error; after an
    /// error the reader is finished (further calls return `Ok(None)`).
    pub fn next_entry(&mut self) -> Result<Option<&ImaEntry>, Error> {
        if self.done {
            return Ok(None);
        }
        let format = match self.format {
            Some(f) => f,
            None => {
                let f = self.detect()?;
                self.format = Some(f);
                f
            }
        };
        let more = match format.kind {
            ListKind::Binary => self.read_binary(format),
            ListKind::Ascii => self.read_ascii(format),
        };
        match more {
            Ok(true) => {
                self.next_index += 1;
                Ok(Some(&self.entry))
            }
            Ok(false) => {
                self.done = true;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }

    /// The list format (known after the first call to [`ImaReader::next_entry`]).
    pub fn format(&self) -> Option<ListFormat> {
        self.format
    }

    /// Entries read so far.
    pub fn entries(&self) -> u64 {
        self.next_index
    }

    /// Bytes of an incomplete final entry that were accepted as trailing bytes (only with
    /// [`ImaReaderOptions::allow_trailing_bytes`]).
    pub fn trailing_bytes(&self) -> u64 {
        self.trailing
    }

    pub(crate) fn error(
        &self,
        format: &'static str,
        structure: &'static str,
        offset: u64,
        kind: ParseErrorKind,
    ) -> Error {
        Error::Parse(ParseError {
            format,
            structure,
            offset,
            entry: Some(self.next_index),
            kind,
        })
    }

    fn detect(&mut self) -> Result<ListFormat, Error> {
        self.src.peek(DETECT_LEN)?;
        let prefix = self.src.buffered();
        if prefix.is_empty() {
            return Err(self.error("ima log", "list", 0, ParseErrorKind::Empty));
        }
        let kind = self.opts.kind.unwrap_or(if looks_like_ascii(prefix) {
            ListKind::Ascii
        } else {
            ListKind::Binary
        });
        match kind {
            ListKind::Ascii => {
                // The column is fixed by the first line (see read_ascii).
                Ok(ListFormat {
                    kind,
                    endian: self.opts.endian.unwrap_or_default(),
                    column: self.opts.column.unwrap_or(HashAlg::Sha1),
                })
            }
            ListKind::Binary => {
                if let (Some(endian), Some(column)) = (self.opts.endian, self.opts.column) {
                    // Fully forced: no plausibility check, the entry loop validates.
                    return Ok(ListFormat {
                        kind,
                        endian,
                        column,
                    });
                }
                let (endian, column) = detect_binary(prefix, self.opts.endian, self.opts.column)
                    .map_err(|kind| self.error("ima binary log", "first entry", 0, kind))?;
                Ok(ListFormat {
                    kind,
                    endian,
                    column,
                })
            }
        }
    }
}

/// True when the input starts like an ASCII list line: optional spaces, a decimal PCR index, a
/// space, then at least 40 hex digits (or hex digits up to the end of a shorter input).
fn looks_like_ascii(prefix: &[u8]) -> bool {
    let mut i = prefix.iter().take_while(|b| **b == b' ').count();
    let digits = prefix[i..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    i += digits;
    if digits == 0 || digits > 10 || prefix.get(i) != Some(&b' ') {
        return false;
    }
    i += 1;
    let hex = prefix[i..]
        .iter()
        .take_while(|b| b.is_ascii_hexdigit())
        .count();
    hex >= 40 || (hex > 0 && i + hex == prefix.len())
}

/// The column algorithm for a digest width.
pub(crate) fn column_alg(width: usize, forced: Option<HashAlg>) -> Option<HashAlg> {
    if let Some(f) = forced {
        return (f.size() == width).then_some(f);
    }
    match width {
        20 => Some(HashAlg::Sha1),
        32 => Some(HashAlg::Sha256),
        48 => Some(HashAlg::Sha384),
        64 => Some(HashAlg::Sha512),
        _ => None,
    }
}

fn detect_binary(
    prefix: &[u8],
    endian: Option<Endian>,
    column: Option<HashAlg>,
) -> Result<(Endian, HashAlg), ParseErrorKind> {
    let endians: &[Endian] = match endian {
        Some(Endian::Little) => &[Endian::Little],
        Some(Endian::Big) => &[Endian::Big],
        None => &[Endian::Little, Endian::Big],
    };
    let widths: &[usize] = match column {
        Some(HashAlg::Sha1) => &[20],
        Some(HashAlg::Sha256 | HashAlg::Sm3_256) => &[32],
        Some(HashAlg::Sha384) => &[48],
        Some(HashAlg::Sha512) => &[64],
        None => &[20, 32, 48, 64],
    };
    let u32_at = |e: Endian, at: usize| -> Option<u32> {
        prefix
            .get(at..at + 4)
            .map(|b| e.u32([b[0], b[1], b[2], b[3]]))
    };
    let mut short = false;
    for &e in endians {
        let Some(pcr) = u32_at(e, 0) else {
            short = true;
            continue;
        };
        if pcr > DETECT_MAX_PCR && endian.is_none() {
            continue;
        }
        for &w in widths {
            let Some(len) = u32_at(e, 4 + w) else {
                short = true;
                continue;
            };
            if len == 0 || len > MAX_TEMPLATE_NAME_LEN {
                continue;
            }
            let Some(name) = prefix.get(8 + w..8 + w + len as usize) else {
                short = true;
                continue;
            };
            let Ok(name) = std::str::from_utf8(name) else {
                continue;
            };
            if TemplateFormat::for_name(name).is_ok() {
                if let Some(alg) = column_alg(w, column) {
                    return Ok((e, alg));
                }
            }
        }
    }
    if short {
        Err(ParseErrorKind::Truncated {
            needed: DETECT_LEN as u64,
            available: prefix.len() as u64,
        })
    } else {
        Err(ParseErrorKind::Invalid(
            "not an IMA list: no byte order and digest width give a known template in the first entry".into(),
        ))
    }
}
