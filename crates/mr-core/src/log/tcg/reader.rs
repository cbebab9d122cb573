//! A bounded little-endian cursor over a TCG log: every read is checked against what remains,
//! and every position is known as an absolute byte offset (for error messages).

/// Bytes needed and bytes available when a read runs past the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Short {
    /// Bytes the read needed.
    pub(crate) needed: u64,
    /// Bytes that were left.
    pub(crate) available: u64,
}

/// A cursor over `buf`, which starts at absolute offset `base` of the caller's input.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> Reader<'a> {
    /// A cursor over the whole of `buf` (absolute offset 0).
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            base: 0,
        }
    }

    /// Absolute offset of the next byte.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// True when nothing is left.
    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Take `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Short> {
        let short = Short {
            needed: n as u64,
            available: self.remaining() as u64,
        };
        let end = self.pos.checked_add(n).ok_or(short)?;
        let bytes = self.buf.get(self.pos..end).ok_or(short)?;
        self.pos = end;
        Ok(bytes)
    }

    /// Take exactly `N` bytes as an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Short> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// A little-endian u8.
    pub(crate) fn u8(&mut self) -> Result<u8, Short> {
        Ok(self.array::<1>()?[0])
    }

    /// A little-endian u16.
    pub(crate) fn u16(&mut self) -> Result<u16, Short> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// A little-endian u32.
    pub(crate) fn u32(&mut self) -> Result<u32, Short> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// A little-endian u64.
    pub(crate) fn u64(&mut self) -> Result<u64, Short> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A bounded child reader over the next `n` bytes (which are consumed here).
    pub(crate) fn sub(&mut self, n: usize) -> Result<Reader<'a>, Short> {
        let base = self.offset();
        let buf = self.take(n)?;
        Ok(Reader { buf, pos: 0, base })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_and_tracks_offsets() {
        let mut r = Reader::new(&[1, 0, 2, 0, 0, 0, 9, 9]);
        assert_eq!(r.u16(), Ok(1));
        assert_eq!(r.u32(), Ok(2));
        assert_eq!(r.offset(), 6);
        let mut s = r.sub(2).unwrap();
        assert_eq!(s.offset(), 6);
        assert_eq!(s.u8(), Ok(9));
        assert_eq!(s.offset(), 7);
        assert!(r.is_empty());
    }

    #[test]
    fn rejects_reads_past_the_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(
            r.u32(),
            Err(Short {
                needed: 4,
                available: 3
            })
        );
        assert!(r.take(usize::MAX).is_err());
        assert_eq!(r.remaining(), 3);
    }
}
