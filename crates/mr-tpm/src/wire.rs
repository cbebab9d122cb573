//! TPM-marshalled (big-endian) structures read with the one bounded reader of mr
//! ([`mr_core::wire::Reader`]), and the matching writer helper.
//!
//! Every read names the structure it reads; every failure is a [`ParseError`] of format
//! [`FORMAT`] with the absolute byte offset.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use mr_core::wire::{ParseError, ParseErrorKind, Reader};

use crate::error::Error;

/// The format named in parse errors of TPM structures.
pub(crate) const FORMAT: &str = "tpm";

/// A reader over a whole TPM structure (absolute offset 0).
pub(crate) fn reader(bytes: &[u8]) -> Reader<'_> {
    Reader::new(FORMAT, bytes)
}

/// A malformed TPM structure at absolute offset `offset`.
pub(crate) fn malformed(structure: &'static str, offset: u64, kind: ParseErrorKind) -> Error {
    Error::Parse(ParseError {
        format: FORMAT,
        structure,
        offset,
        entry: None,
        kind,
    })
}

/// TPM2B reads on the bounded reader.
pub(crate) trait Tpm2b<'a> {
    /// A TPM2B: `u16 size || bytes`, with `size <= max` (the structure's limit from the TPM
    /// spec).
    fn tpm2b(&mut self, structure: &'static str, max: usize) -> Result<&'a [u8], ParseError>;
}

impl<'a> Tpm2b<'a> for Reader<'a> {
    fn tpm2b(&mut self, structure: &'static str, max: usize) -> Result<&'a [u8], ParseError> {
        let at = self.offset();
        let size = self.u16_be(structure)?;
        if usize::from(size) > max {
            return Err(self.error_at(
                at,
                structure,
                ParseErrorKind::LengthTooLarge {
                    len: u64::from(size),
                    max: max as u64,
                },
            ));
        }
        self.take(usize::from(size), structure)
    }
}

/// Append a TPM2B (`u16 size || bytes`); bytes longer than `u16::MAX` are cut (never produced by
/// the parsers, whose limits are far smaller).
pub(crate) fn put_tpm2b(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes.get(..usize::from(len)).unwrap_or(bytes));
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_and_reports_offsets() {
        let mut r = reader(&[0x12, 0x34, 0x00, 0x02, 0xaa]);
        assert_eq!(r.u16_be("a").unwrap(), 0x1234);
        let err = r.tpm2b("b", 8).unwrap_err();
        assert_eq!(
            (err.structure, err.offset, err.kind),
            (
                "b",
                4,
                ParseErrorKind::Truncated {
                    needed: 2,
                    available: 1,
                }
            )
        );
    }

    #[test]
    fn rejects_tpm2b_over_its_limit() {
        let mut r = reader(&[0x00, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let err = r.tpm2b("x", 8).unwrap_err();
        assert_eq!(
            (err.offset, err.kind),
            (0, ParseErrorKind::LengthTooLarge { len: 9, max: 8 })
        );
    }
}
