//! Hex text to bytes without allocation, for the parsers that read hex (ASCII IMA lists, CEL JSON,
//! journal records): one table lookup per digit, branch-free over a run of digits.

/// Which spellings of the digits a-f are accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HexCase {
    /// `a-f` and `A-F`.
    Any,
    /// `a-f` only (canonical encodings, where one value must have one spelling).
    Lower,
}

const fn table(upper: bool) -> [u8; 256] {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        if upper {
            t[b'A' as usize + i] = 10 + i as u8;
        }
        i += 1;
    }
    t
}

/// Value of each byte as a hex digit (either case); 0xFF for every other byte.
const ANY_CASE: [u8; 256] = table(true);
/// Value of each byte as a lowercase hex digit; 0xFF for every other byte.
const LOWER_CASE: [u8; 256] = table(false);

/// Decode the hex digits `text` into `out`, which must be exactly `text.len() / 2` bytes long
/// (an odd or mismatched length is a failure). Returns false, with `out` unspecified, when a
/// byte is not a hex digit of `case`.
#[inline]
pub fn decode_into(text: &[u8], out: &mut [u8], case: HexCase) -> bool {
    if text.len() != out.len() * 2 {
        return false;
    }
    let t = match case {
        HexCase::Any => &ANY_CASE,
        HexCase::Lower => &LOWER_CASE,
    };
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let hi = t[usize::from(pair[0])];
        let lo = t[usize::from(pair[1])];
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 0x0F);
    }
    bad & 0xF0 == 0
}

/// Position (0-based, in `text`) of the first byte that is not a hex digit of `case`, if any.
pub fn first_invalid(text: &[u8], case: HexCase) -> Option<usize> {
    let t = match case {
        HexCase::Any => &ANY_CASE,
        HexCase::Lower => &LOWER_CASE,
    };
    text.iter().position(|b| t[usize::from(*b)] > 0x0F)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn decodes_both_cases_or_lowercase_only() {
        let mut out = [0u8; 4];
        assert!(decode_into(b"00fFa9B1", &mut out, HexCase::Any));
        assert_eq!(out, [0x00, 0xff, 0xa9, 0xb1]);
        assert!(!decode_into(b"00fFa9B1", &mut out, HexCase::Lower));
        assert!(decode_into(b"00ffa9b1", &mut out, HexCase::Lower));
        assert_eq!(out, [0x00, 0xff, 0xa9, 0xb1]);
    }

    #[test]
    fn rejects_non_digits_and_wrong_lengths() {
        let mut out = [0u8; 2];
        for bad in [
            &b"0g00"[..],
            b"00 0",
            b"-100",
            b"000",
            b"00000",
            b"\xff\xff00",
        ] {
            assert!(!decode_into(bad, &mut out, HexCase::Any), "{bad:?}");
        }
        assert_eq!(first_invalid(b"00g0", HexCase::Any), Some(2));
        assert_eq!(first_invalid(b"00A0", HexCase::Lower), Some(2));
        assert_eq!(first_invalid(b"00a0", HexCase::Lower), None);
    }

    #[test]
    fn every_byte_value_is_classified_like_the_hex_crate() {
        for hi in 0..=255u8 {
            for lo in [b'0', b'a', b'F', hi] {
                let text = [hi, lo];
                let mut out = [0u8; 1];
                let ours = decode_into(&text, &mut out, HexCase::Any);
                let theirs = hex::decode(text);
                assert_eq!(ours, theirs.is_ok(), "{text:?}");
                if let Ok(v) = theirs {
                    assert_eq!(out[0], v[0]);
                }
            }
        }
    }
}
