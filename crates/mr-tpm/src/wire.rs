//! A bounds-checked big-endian cursor for TPM structures, and the matching writer helpers.
//!
//! Every read names the structure it reads; every failure carries the absolute byte offset.

use crate::error::{Error, MalformedKind};

/// A cursor over TPM-marshalled (big-endian) bytes.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// Current absolute offset.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn malformed(&self, structure: &'static str, kind: MalformedKind) -> Error {
        Error::Malformed {
            structure,
            offset: self.pos,
            kind,
        }
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize, structure: &'static str) -> Result<&'a [u8], Error> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        match rest.split_at_checked(n) {
            Some((head, _)) => {
                self.pos += n;
                Ok(head)
            }
            None => Err(self.malformed(
                structure,
                MalformedKind::Truncated {
                    needed: n,
                    available: rest.len(),
                },
            )),
        }
    }

    fn array<const N: usize>(&mut self, structure: &'static str) -> Result<[u8; N], Error> {
        let bytes = self.take(N, structure)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, structure: &'static str) -> Result<u8, Error> {
        Ok(self.array::<1>(structure)?[0])
    }

    pub(crate) fn u16(&mut self, structure: &'static str) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array(structure)?))
    }

    pub(crate) fn u32(&mut self, structure: &'static str) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array(structure)?))
    }

    pub(crate) fn u64(&mut self, structure: &'static str) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.array(structure)?))
    }

    /// A TPM2B: `u16 size || bytes`, with `size <= max` (the structure's limit from the TPM spec).
    pub(crate) fn tpm2b(&mut self, structure: &'static str, max: usize) -> Result<&'a [u8], Error> {
        let at = self.pos;
        let size = usize::from(self.u16(structure)?);
        if size > max {
            return Err(Error::Malformed {
                structure,
                offset: at,
                kind: MalformedKind::SizeTooLarge { size, max },
            });
        }
        self.take(size, structure)
    }

    /// Fail unless every byte was consumed.
    pub(crate) fn finish(&self, structure: &'static str) -> Result<(), Error> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(self.malformed(structure, MalformedKind::TrailingBytes(n))),
        }
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
        let mut r = Reader::new(&[0x12, 0x34, 0x00, 0x02, 0xaa]);
        assert_eq!(r.u16("a").unwrap(), 0x1234);
        let err = r.tpm2b("b", 8).unwrap_err();
        match err {
            Error::Malformed {
                structure: "b",
                offset: 4,
                kind:
                    MalformedKind::Truncated {
                        needed: 2,
                        available: 1,
                    },
            } => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn rejects_tpm2b_over_its_limit() {
        let mut r = Reader::new(&[0x00, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(
            r.tpm2b("x", 8),
            Err(Error::Malformed {
                kind: MalformedKind::SizeTooLarge { size: 9, max: 8 },
                offset: 0,
                ..
            })
        ));
    }
}
