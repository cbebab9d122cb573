//! Hex text to bytes without allocation, for the parsers that read hex (ASCII IMA lists, CEL JSON,
//! journal records): 32 digits at a time in a per-byte form the compiler vectorizes, runs of
//! 8 to 31 digits 8 at a time in a 64-bit word (SWAR arithmetic), shorter ones by one table
//! lookup per digit; branch-free over a run of digits.

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
    let lower = case == HexCase::Lower;
    let n = text.len();
    if n >= 32 {
        // 32 digits at a time, the last block overlapping the one before when the length is
        // not a multiple of 32 (decoding a digit twice gives the same byte).
        let mut bad = 0u8;
        let mut at = 0;
        while at < n {
            let from = at.min(n - 32);
            let (Some(t), Some(o)) = (
                text[from..].first_chunk::<32>(),
                out[from / 2..].first_chunk_mut::<16>(),
            ) else {
                return false;
            };
            bad |= decode_block(t, o, lower);
            at = from + 32;
        }
        return bad == 0;
    }
    if n >= 8 {
        // 8 digits in a word, overlapping likewise.
        let mut valid = HIGH;
        let mut at = 0;
        while at < n {
            let from = at.min(n - 8);
            let (Some(t), Some(o)) = (
                text[from..].first_chunk::<8>(),
                out[from / 2..].first_chunk_mut::<4>(),
            ) else {
                return false;
            };
            let (v, mask) = decode_word(u64::from_le_bytes(*t), lower);
            valid &= mask;
            *o = v.to_le_bytes();
            at = from + 8;
        }
        return valid == HIGH;
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

/// Decode 32 hex digits into 16 bytes; nonzero when a byte is not a hex digit of the case.
/// Written per byte without branches or tables so that it compiles to vector instructions.
#[inline(always)]
fn decode_block(text: &[u8; 32], out: &mut [u8; 16], lower: bool) -> u8 {
    let fold = if lower { 0 } else { 0x20 };
    let mut v = [0u8; 32];
    let mut bad = 0u8;
    for (v, b) in v.iter_mut().zip(text) {
        let digit = b.wrapping_sub(b'0');
        let letter = (b | fold).wrapping_sub(b'a');
        let is_digit = digit < 10;
        bad |= u8::from(!is_digit & (letter >= 6));
        *v = if is_digit {
            digit
        } else {
            letter.wrapping_add(10)
        };
    }
    for (o, pair) in out.iter_mut().zip(v.chunks_exact(2)) {
        *o = (pair[0] << 4) | (pair[1] & 0x0F);
    }
    bad
}

/// 0x01 in every byte.
const ONES: u64 = 0x0101_0101_0101_0101;
/// 0x80 in every byte.
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Decode the eight hex digits in `x` (first digit in the low byte) into four bytes (first in
/// the low byte). The mask has 0x80 in every byte of `x` that is a hex digit of the case, 0
/// elsewhere.
#[inline(always)]
fn decode_word(x: u64, lower: bool) -> (u32, u64) {
    // With the top bit cleared, adding (0x80 - k) to a byte sets its top bit exactly when the
    // byte is >= k, and never carries into the next byte.
    let ascii = !x & HIGH;
    let x7 = x & !HIGH;
    let at_least = |k: u8| x7.wrapping_add(ONES * u64::from(0x80 - k));
    let digit = at_least(b'0') & !at_least(b'9' + 1);
    // `| 0x20` folds A-F onto a-f (and nothing else onto a-f).
    let folded = if lower { x7 } else { x7 | (ONES * 0x20) };
    let from = |k: u8| folded.wrapping_add(ONES * u64::from(0x80 - k));
    let letter = from(b'a') & !from(b'f' + 1);
    let mask = (digit | letter) & ascii & HIGH;
    // Nibble values: the low four bits, plus 9 for letters (bit 6 set, digits have it clear).
    let v = (x7 & (ONES * 0x0F)) + ((x7 >> 6) & ONES) * 9;
    // Pairs (high nibble first) into the low byte of each 16-bit group, then packed.
    let pairs = ((v & 0x00FF_00FF_00FF_00FF) << 4) | ((v >> 8) & 0x00FF_00FF_00FF_00FF);
    let packed = (pairs | (pairs >> 8)) & 0x0000_FFFF_0000_FFFF;
    let packed = (packed | (packed >> 16)) & 0xFFFF_FFFF;
    (packed as u32, mask)
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

    /// The one-lookup-per-digit decoder the word decoder must agree with.
    fn by_table(text: &[u8], out: &mut [u8], case: HexCase) -> bool {
        let t = match case {
            HexCase::Any => &ANY_CASE,
            HexCase::Lower => &LOWER_CASE,
        };
        if text.len() != out.len() * 2 {
            return false;
        }
        let mut ok = true;
        for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
            let (hi, lo) = (t[usize::from(pair[0])], t[usize::from(pair[1])]);
            ok &= hi <= 0x0F && lo <= 0x0F;
            *o = (hi << 4) | (lo & 0x0F);
        }
        ok
    }

    #[test]
    fn word_decoder_classifies_every_byte_in_every_position_like_the_table() {
        for case in [HexCase::Any, HexCase::Lower] {
            // Blocks (with an overlapping last one), words (likewise), and the table.
            let all = b"0123456789abcdefABCDEF0123456789abcdef9F0a1B2c3D4e5F6789aB";
            for len in [6, 8, 14, 16, 30, 32, 40, 58] {
                let base = &all[..len];
                for pos in 0..len {
                    for byte in 0..=255u8 {
                        let mut text = base.to_vec();
                        text[pos] = byte;
                        let mut ours = vec![0u8; len / 2];
                        let mut theirs = vec![0u8; len / 2];
                        let ok = decode_into(&text, &mut ours, case);
                        assert_eq!(ok, by_table(&text, &mut theirs, case), "{case:?} {text:?}");
                        if ok {
                            assert_eq!(ours, theirs);
                        }
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn word_decoder_agrees_with_the_table_on_any_text(
            text in proptest::collection::vec(proptest::prop_oneof![
                proptest::sample::select(b"0123456789abcdefABCDEF".to_vec()),
                proptest::num::u8::ANY,
            ], 0..160),
        ) {
            let even = &text[..text.len() & !1];
            for case in [HexCase::Any, HexCase::Lower] {
                let mut ours = vec![0u8; even.len() / 2];
                let mut theirs = vec![0u8; even.len() / 2];
                let ok = decode_into(even, &mut ours, case);
                proptest::prop_assert_eq!(ok, by_table(even, &mut theirs, case));
                if ok {
                    proptest::prop_assert_eq!(&ours, &theirs);
                }
            }
        }
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
