//! The PEM finder: locate the first RFC 7468 block in text (a key file, a certificate, a CA
//! bundle with comments around its blocks) and decode it with `pem-rfc7468`.

use std::ops::Range;

use crate::CryptoError;

/// `-----BEGIN ` (RFC 7468 §2, pre-encapsulation boundary).
const BEGIN: &[u8] = b"-----BEGIN ";
/// `-----END ` (RFC 7468 §2, post-encapsulation boundary).
const END: &[u8] = b"-----END ";
/// The five dashes that close a boundary line.
const DASHES: &[u8] = b"-----";

/// One decoded PEM block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PemBlock {
    /// The label (`CERTIFICATE`, `PUBLIC KEY`, `RSA PUBLIC KEY`, …).
    pub label: String,
    /// The decoded contents (DER).
    pub der: Vec<u8>,
    /// Where the block (BEGIN line to the end of the END line) is in the input.
    pub span: Range<usize>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// True when `input`, after leading ASCII whitespace, starts with a PEM BEGIN line.
pub fn starts_with_pem(input: &[u8]) -> bool {
    input
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .and_then(|start| input.get(start..))
        .is_some_and(|t| t.starts_with(BEGIN))
}

/// The first PEM block in `text`, or `Ok(None)` when `text` has no BEGIN line. Text before and
/// after the block is ignored (see [`PemBlock::span`] to refuse it). A BEGIN line without its
/// END line, bad base64 or a label mismatch between the two lines is [`CryptoError::Pem`].
pub fn first_block(text: &[u8]) -> Result<Option<PemBlock>, CryptoError> {
    let Some(begin) = find(text, BEGIN) else {
        return Ok(None);
    };
    let rest = text.get(begin..).unwrap_or_default();
    let end_line = find(rest, END).ok_or_else(|| CryptoError::Pem("no END line".into()))?;
    let after_end = end_line.saturating_add(END.len());
    let close = rest
        .get(after_end..)
        .and_then(|t| find(t, DASHES))
        .ok_or_else(|| CryptoError::Pem("END line not closed".into()))?;
    let block_len = after_end.saturating_add(close).saturating_add(DASHES.len());
    let block = rest.get(..block_len).unwrap_or_default();
    let (label, der) =
        pem_rfc7468::decode_vec(block).map_err(|e| CryptoError::Pem(e.to_string()))?;
    Ok(Some(PemBlock {
        label: label.to_owned(),
        der,
        span: begin..begin.saturating_add(block_len),
    }))
}

/// `input` as DER: when it holds a PEM BEGIN line, the contents of its first block, which must
/// be labelled `label`; otherwise `input` as it is (the caller's DER parser judges it).
pub fn der_from_der_or_pem(input: &[u8], label: &str) -> Result<Vec<u8>, CryptoError> {
    match first_block(input)? {
        None => Ok(input.to_vec()),
        Some(block) if block.label == label => Ok(block.der),
        Some(block) => Err(CryptoError::Pem(format!(
            "expected a {label}, found {:?}",
            block.label
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const BLOCK: &str = "-----BEGIN PUBLIC KEY-----\nAAEC\n-----END PUBLIC KEY-----";

    #[test]
    fn a_block_is_found_inside_text_and_its_span_points_at_it() {
        let text = format!("# comment\n{BLOCK}\ntrailer\n");
        let b = first_block(text.as_bytes()).unwrap().unwrap();
        assert_eq!(b.label, "PUBLIC KEY");
        assert_eq!(b.der, vec![0, 1, 2]);
        assert_eq!(&text[b.span], BLOCK);
    }

    #[test]
    fn no_begin_line_is_none_and_broken_blocks_are_errors() {
        assert_eq!(first_block(b"\x30\x03\x02\x01\x00").unwrap(), None);
        for bad in [
            "-----BEGIN PUBLIC KEY-----\nAAEC\n",
            "-----BEGIN PUBLIC KEY-----\nAAEC\n-----END PUBLIC KEY",
            "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----",
            "-----BEGIN PUBLIC KEY-----\nAAEC\n-----END CERTIFICATE-----",
        ] {
            assert!(
                matches!(first_block(bad.as_bytes()), Err(CryptoError::Pem(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn der_or_pem_checks_the_label_and_passes_der_through() {
        assert_eq!(
            der_from_der_or_pem(b"\x30\x00", "CERTIFICATE").unwrap(),
            b"\x30\x00"
        );
        assert_eq!(
            der_from_der_or_pem(BLOCK.as_bytes(), "PUBLIC KEY").unwrap(),
            vec![0, 1, 2]
        );
        assert!(der_from_der_or_pem(BLOCK.as_bytes(), "CERTIFICATE").is_err());
        assert!(starts_with_pem(format!(" \n{BLOCK}").as_bytes()));
        assert!(!starts_with_pem(b"x-----BEGIN "));
    }
}
