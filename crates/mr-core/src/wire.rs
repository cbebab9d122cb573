//! The one bounded reader every binary parser of mr uses (TCG and CCEL logs, CEL-TLV and
//! CEL-CBOR, TPM structures in mr-tpm, TD quotes in mr-rtmr).
//!
//! A [`Reader`] is a cursor over a borrowed slice that knows the absolute byte offset of that
//! slice in the caller's input, the format it reads and the entry it is in. Every read is
//! checked against the bytes left before anything is split off; a length read from the input is
//! checked against a limit the caller names ([`Reader::bytes`]) and against the bytes left, so
//! nothing is ever allocated or sliced from an untrusted length. Every failure is a
//! [`ParseError`] naming the format, the structure being read, the absolute byte offset where
//! the read started, the entry (when the format has entries) and what was wrong.
//!
//! Integers are read in the byte order the format names: TCG logs and TD quotes are
//! little-endian, TPM structures and CEL-TLV big-endian.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::io::{self, BufRead, Read};

pub use crate::error::{ParseError, ParseErrorKind};

/// A bounded cursor over `buf`, which starts at absolute offset `base` of the caller's input.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
    format: &'static str,
    entry: Option<u64>,
}

impl<'a> Reader<'a> {
    /// A reader over the whole input `buf` (absolute offset 0) of format `format` (named in
    /// errors, e.g. `"tcg log"`, `"td quote"`, `"tpm"`).
    pub fn new(format: &'static str, buf: &'a [u8]) -> Reader<'a> {
        Reader::at(format, buf, 0)
    }

    /// A reader over `buf`, a part of the caller's input that starts at absolute offset `base`.
    pub fn at(format: &'static str, buf: &'a [u8], base: u64) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            base,
            format,
            entry: None,
        }
    }

    /// Name the entry (record number, from 0) that later errors are reported in.
    pub fn set_entry(&mut self, entry: Option<u64>) {
        self.entry = entry;
    }

    /// The entry named in errors.
    pub fn entry(&self) -> Option<u64> {
        self.entry
    }

    /// The format named in errors.
    pub fn format(&self) -> &'static str {
        self.format
    }

    /// Absolute offset of the next byte.
    pub fn offset(&self) -> u64 {
        self.base.saturating_add(self.pos as u64)
    }

    /// Absolute offset of `position` (a position relative to the start of this reader).
    pub fn offset_of(&self, position: usize) -> u64 {
        self.base.saturating_add(position as u64)
    }

    /// Bytes read so far (offset relative to the start of this reader).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// True when nothing is left.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The bytes left, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// A [`ParseError`] in `structure` at the current offset.
    pub fn error(&self, structure: &'static str, kind: ParseErrorKind) -> ParseError {
        self.error_at(self.offset(), structure, kind)
    }

    /// A [`ParseError`] in `structure` at absolute offset `offset`.
    pub fn error_at(
        &self,
        offset: u64,
        structure: &'static str,
        kind: ParseErrorKind,
    ) -> ParseError {
        ParseError {
            format: self.format,
            structure,
            offset,
            entry: self.entry,
            kind,
        }
    }

    /// The error of a read of `needed` bytes when fewer are left.
    fn truncated(&self, structure: &'static str, needed: u64) -> ParseError {
        self.error(
            structure,
            ParseErrorKind::Truncated {
                needed,
                available: self.remaining() as u64,
            },
        )
    }

    /// The next `n` bytes of `structure`.
    pub fn take(&mut self, n: usize, structure: &'static str) -> Result<&'a [u8], ParseError> {
        match self.rest().split_at_checked(n) {
            Some((head, _)) => {
                // n <= remaining, so pos + n <= buf.len().
                self.pos = self.pos.saturating_add(n);
                Ok(head)
            }
            None => Err(self.truncated(structure, n as u64)),
        }
    }

    /// The next `len` bytes of `structure`, where `len` was read from the input: refused with
    /// [`ParseErrorKind::LengthTooLarge`] above `max` (the caller's named limit), and with
    /// [`ParseErrorKind::Truncated`] beyond the bytes left. The error's offset is the current
    /// one (the start of the bytes); use [`Reader::error_at`] for another.
    pub fn bytes(
        &mut self,
        len: u64,
        max: u64,
        structure: &'static str,
    ) -> Result<&'a [u8], ParseError> {
        if len > max {
            return Err(self.error(structure, ParseErrorKind::LengthTooLarge { len, max }));
        }
        match usize::try_from(len) {
            Ok(n) => self.take(n, structure),
            Err(_) => Err(self.truncated(structure, len)),
        }
    }

    /// A child reader over the next `n` bytes (consumed here): same format and entry, offsets
    /// still absolute.
    pub fn sub(&mut self, n: usize, structure: &'static str) -> Result<Reader<'a>, ParseError> {
        let base = self.offset();
        let buf = self.take(n, structure)?;
        Ok(Reader {
            buf,
            pos: 0,
            base,
            format: self.format,
            entry: self.entry,
        })
    }

    /// Skip `n` bytes of `structure`.
    pub fn skip(&mut self, n: usize, structure: &'static str) -> Result<(), ParseError> {
        self.take(n, structure).map(|_| ())
    }

    /// The next `N` bytes as a reference to an array.
    pub fn array_ref<const N: usize>(
        &mut self,
        structure: &'static str,
    ) -> Result<&'a [u8; N], ParseError> {
        match self.rest().split_first_chunk::<N>() {
            Some((head, _)) => {
                self.pos = self.pos.saturating_add(N);
                Ok(head)
            }
            None => Err(self.truncated(structure, N as u64)),
        }
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(
        &mut self,
        structure: &'static str,
    ) -> Result<[u8; N], ParseError> {
        self.array_ref::<N>(structure).copied()
    }

    /// One byte.
    pub fn u8(&mut self, structure: &'static str) -> Result<u8, ParseError> {
        self.array::<1>(structure).map(|[b]| b)
    }

    /// A little-endian u16.
    pub fn u16_le(&mut self, structure: &'static str) -> Result<u16, ParseError> {
        self.array(structure).map(u16::from_le_bytes)
    }

    /// A little-endian u32.
    pub fn u32_le(&mut self, structure: &'static str) -> Result<u32, ParseError> {
        self.array(structure).map(u32::from_le_bytes)
    }

    /// A little-endian u64.
    pub fn u64_le(&mut self, structure: &'static str) -> Result<u64, ParseError> {
        self.array(structure).map(u64::from_le_bytes)
    }

    /// A big-endian u16.
    pub fn u16_be(&mut self, structure: &'static str) -> Result<u16, ParseError> {
        self.array(structure).map(u16::from_be_bytes)
    }

    /// A big-endian u32.
    pub fn u32_be(&mut self, structure: &'static str) -> Result<u32, ParseError> {
        self.array(structure).map(u32::from_be_bytes)
    }

    /// A big-endian u64.
    pub fn u64_be(&mut self, structure: &'static str) -> Result<u64, ParseError> {
        self.array(structure).map(u64::from_be_bytes)
    }

    /// Fail with [`ParseErrorKind::TrailingBytes`] unless every byte of `structure` was read.
    pub fn finish(&self, structure: &'static str) -> Result<(), ParseError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(self.error(structure, ParseErrorKind::TrailingBytes(n as u64))),
        }
    }
}

/// A `BufRead` over a streamed input whose first bytes can be looked at before it is read
/// ([`Prefixed::peek`], to detect a format): the bytes looked at are kept and read again, so the
/// input is read once, front to back, and nothing needs to be seekable. The IMA list reader and
/// the CLI's format detection use it.
#[derive(Debug)]
pub struct Prefixed<R> {
    prefix: Vec<u8>,
    at: usize,
    inner: R,
}

impl<R: BufRead> Prefixed<R> {
    /// `inner`, nothing looked at yet.
    pub fn new(inner: R) -> Prefixed<R> {
        Prefixed {
            prefix: Vec::new(),
            at: 0,
            inner,
        }
    }

    /// Look at the next `n` bytes (fewer at the end of the input) without consuming them; they
    /// are what [`Prefixed::buffered`] returns next. Memory grows with the bytes read, at most
    /// `n`.
    pub fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        self.prefix.drain(..self.at.min(self.prefix.len()));
        self.at = 0;
        let want = n.saturating_sub(self.prefix.len()) as u64;
        if want > 0 {
            self.inner
                .by_ref()
                .take(want)
                .read_to_end(&mut self.prefix)?;
        }
        Ok(self.buffered())
    }

    /// The bytes looked at and not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        self.prefix.get(self.at..).unwrap_or_default()
    }
}

impl<R: BufRead> Read for Prefixed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_from_buffer(self, buf)
    }
}

impl<R: BufRead> BufRead for Prefixed<R> {
    #[inline]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.at < self.prefix.len() {
            Ok(self.prefix.get(self.at..).unwrap_or_default())
        } else {
            self.inner.fill_buf()
        }
    }

    #[inline]
    fn consume(&mut self, amt: usize) {
        if self.at < self.prefix.len() {
            self.at = self.at.saturating_add(amt).min(self.prefix.len());
        } else {
            self.inner.consume(amt);
        }
    }
}

/// `Read::read` for a type whose reading is defined by its `BufRead` side: copy from
/// `fill_buf` and `consume` what was copied.
pub(crate) fn read_from_buffer<B: BufRead + ?Sized>(
    b: &mut B,
    buf: &mut [u8],
) -> io::Result<usize> {
    let avail = b.fill_buf()?;
    let n = avail.len().min(buf.len());
    if let (Some(to), Some(from)) = (buf.get_mut(..n), avail.get(..n)) {
        to.copy_from_slice(from);
    }
    b.consume(n);
    Ok(n)
}

/// A big-endian unsigned integer of 1..=`max_bytes` bytes (at most 8): the variable-width
/// integers of CEL-TLV.
pub fn be_uint(bytes: &[u8], max_bytes: usize) -> Result<u64, ParseErrorKind> {
    if bytes.is_empty() || bytes.len() > max_bytes.min(8) {
        return Err(ParseErrorKind::Invalid(format!(
            "integer of {} bytes (must be 1..={max_bytes})",
            bytes.len()
        )));
    }
    let mut out = [0u8; 8];
    let start = 8usize.saturating_sub(bytes.len());
    if let Some(tail) = out.get_mut(start..) {
        tail.copy_from_slice(bytes);
    }
    Ok(u64::from_be_bytes(out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_byte_orders_and_tracks_absolute_offsets() {
        let mut r = Reader::new("test", &[1, 0, 0, 2, 0, 0, 0, 3, 9, 9]);
        assert_eq!(r.u16_le("a"), Ok(1));
        assert_eq!(r.u16_be("b"), Ok(2));
        assert_eq!(r.u32_be("c"), Ok(3));
        assert_eq!(r.offset(), 8);
        let mut s = r.sub(2, "d").unwrap();
        assert_eq!(s.offset(), 8);
        assert_eq!(s.u8("e"), Ok(9));
        assert_eq!(s.offset(), 9);
        assert!(r.is_empty());
        assert_eq!(
            s.finish("d").unwrap_err().kind,
            ParseErrorKind::TrailingBytes(1)
        );
    }

    #[test]
    fn a_short_read_names_format_structure_offset_entry_and_sizes() {
        let mut r = Reader::at("test", &[1, 2, 3], 100);
        r.set_entry(Some(7));
        r.skip(1, "x").unwrap();
        let e = r.u32_le("field").unwrap_err();
        assert_eq!(
            e,
            ParseError {
                format: "test",
                structure: "field",
                offset: 101,
                entry: Some(7),
                kind: ParseErrorKind::Truncated {
                    needed: 4,
                    available: 2
                },
            }
        );
        // A failed read consumes nothing.
        assert_eq!(r.remaining(), 2);
        assert!(r.take(usize::MAX, "x").is_err());
        assert_eq!(
            e.to_string(),
            "malformed test: truncated: needs 4 bytes, 2 left in field at byte offset 101 (entry 7)"
        );
    }

    #[test]
    fn a_length_from_the_input_is_bounded_by_the_limit_then_by_what_is_left() {
        let mut r = Reader::new("test", &[0; 8]);
        assert_eq!(
            r.bytes(9, 8, "x").unwrap_err().kind,
            ParseErrorKind::LengthTooLarge { len: 9, max: 8 }
        );
        assert_eq!(
            r.bytes(u64::MAX, u64::MAX, "x").unwrap_err().kind,
            ParseErrorKind::Truncated {
                needed: u64::MAX,
                available: 8
            }
        );
        assert_eq!(r.bytes(8, 8, "x").unwrap().len(), 8);
    }

    #[test]
    fn prefixed_reads_the_bytes_looked_at_again_then_the_rest() {
        let input: &[u8] = b"0123456789";
        let mut p = Prefixed::new(input);
        assert_eq!(p.peek(4).unwrap(), b"0123");
        let mut two = [0u8; 2];
        p.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"01");
        assert_eq!(p.buffered(), b"23");
        assert_eq!(p.peek(5).unwrap(), b"23456");
        let mut rest = Vec::new();
        p.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"23456789");
        assert_eq!(p.peek(4).unwrap(), b"");
    }

    #[test]
    fn be_uint_reads_one_to_eight_bytes() {
        assert_eq!(be_uint(&[1, 2], 8), Ok(0x0102));
        assert_eq!(be_uint(&[0xff; 8], 8), Ok(u64::MAX));
        assert!(be_uint(&[], 8).is_err());
        assert!(be_uint(&[0; 5], 4).is_err());
    }
}
