//! ASCII list lines (SPECS §1.3): parsing into template data, and formatting fields as text.

use std::fmt::Write as _;
use std::io::BufRead;

use crate::alg::{Digest, HashAlg, MAX_DIGEST_SIZE};
use crate::error::{Error, ParseErrorKind};
use crate::hexdigits::{self, HexCase};

use super::binary::{set_template, split_fields};
use super::reader::{column_alg, ImaReader};
use super::template::{Endian, FieldId};
use super::{FieldSpan, ListFormat, MAX_ASCII_LINE_LEN, MAX_LEGACY_NAME_LEN};

const FORMAT: &str = "ima ascii";

impl<R: BufRead> ImaReader<R> {
    /// Read one ASCII line into `self.entry`; `Ok(false)` at the end of the list.
    pub(crate) fn read_ascii(&mut self, format: ListFormat) -> Result<bool, Error> {
        let start = self.pos;
        let mut line = std::mem::take(&mut self.line);
        let result = self.read_ascii_line(format, start, &mut line);
        self.line = line;
        result
    }

    fn read_ascii_line(
        &mut self,
        format: ListFormat,
        start: u64,
        line: &mut Vec<u8>,
    ) -> Result<bool, Error> {
        let Some((consumed, _newline)) = self.src.read_line(MAX_ASCII_LINE_LEN, line)? else {
            return Err(self.error(
                FORMAT,
                "line",
                start,
                ParseErrorKind::LengthTooLarge {
                    len: MAX_ASCII_LINE_LEN as u64 + 1,
                    max: MAX_ASCII_LINE_LEN as u64,
                },
            ));
        };
        self.pos += consumed as u64;
        if consumed == 0 {
            return Ok(false);
        }
        let err = |kind: ParseErrorKind, structure: &'static str| (structure, kind);
        let text = std::str::from_utf8(line)
            .map_err(|_| self.error(FORMAT, "line", start, ParseErrorKind::InvalidUtf8))?;
        let text = text.strip_suffix('\r').unwrap_or(text);
        let parsed = (|| {
            if text.is_empty() {
                return Err(err(ParseErrorKind::Invalid("empty line".into()), "line"));
            }
            let rest = text.trim_start_matches(' ');
            let (pcr, rest) = rest.split_once(' ').ok_or_else(|| {
                err(
                    ParseErrorKind::Invalid("missing template digest".into()),
                    "pcr index",
                )
            })?;
            let pcr: u32 = pcr.parse().map_err(|_| {
                err(
                    ParseErrorKind::Invalid(format!("bad PCR index {pcr:?}")),
                    "pcr index",
                )
            })?;
            let (digest, rest) = rest.split_once(' ').ok_or_else(|| {
                err(
                    ParseErrorKind::Invalid("missing template name".into()),
                    "template digest",
                )
            })?;
            let (name, fields) = rest.split_once(' ').unwrap_or((rest, ""));
            Ok((pcr, digest, name, fields))
        })();
        let (pcr, digest, name, fields) =
            parsed.map_err(|(s, k)| self.error(FORMAT, s, start, k))?;

        // The column width is fixed by the first line.
        let column = match self.format {
            Some(f) if self.next_index > 0 => f.column,
            _ => {
                let alg = column_alg(digest.len() / 2, self.opts.column).ok_or_else(|| {
                    self.error(
                        FORMAT,
                        "template digest",
                        start,
                        ParseErrorKind::Invalid(format!(
                            "template digest of {} hex digits",
                            digest.len()
                        )),
                    )
                })?;
                self.format = Some(ListFormat {
                    column: alg,
                    ..format
                });
                alg
            }
        };
        let column = digest_from_hex(column, digest)
            .map_err(|k| self.error(FORMAT, "template digest", start, k))?;

        let endian = format.endian;
        let e = &mut self.entry;
        e.index = self.next_index;
        e.offset = start;
        e.pcr = pcr;
        e.column = column;
        e.endian = endian;
        if let Err(kind) = set_template(e, &mut self.templates, name.as_bytes()) {
            return Err(self.error(FORMAT, "template name", start, kind));
        }
        let e = &mut self.entry;
        let ids = e.format.fields();
        let count = fields.split(' ').count();
        if count != ids.len() {
            let msg = format!(
                "template {} has {} fields, the line has {count}",
                e.name,
                ids.len()
            );
            return Err(self.error(FORMAT, "template data", start, ParseErrorKind::Invalid(msg)));
        }
        e.data.clear();
        let legacy = e.legacy;
        let mut result = Ok(());
        for (i, (id, text)) in ids.iter().zip(fields.split(' ')).enumerate() {
            let at = e.data.len();
            if !legacy {
                e.data.extend_from_slice(&[0; 4]);
            }
            if let Err(k) = push_field_from_text(*id, text, endian, legacy, &mut e.data) {
                result = Err(k);
                break;
            }
            if legacy {
                e.spans[i] = FieldSpan {
                    id: *id,
                    start: at as u32,
                    len: (e.data.len() - at) as u32,
                };
            } else {
                let len = (e.data.len() - at - 4) as u32;
                e.data[at..at + 4].copy_from_slice(&endian.u32_bytes(len));
            }
        }
        if let Err(k) = result {
            return Err(self.error(FORMAT, "template data", start, k));
        }
        let e = &mut self.entry;
        if legacy {
            e.nspans = 2;
            if e.spans[0].len != 20 || e.spans[1].len > MAX_LEGACY_NAME_LEN {
                return Err(self.error(
                    FORMAT,
                    "template data",
                    start,
                    ParseErrorKind::Invalid(
                        "legacy ima entry needs a 20-byte digest and a name of at most 255 bytes"
                            .into(),
                    ),
                ));
            }
        } else {
            split_fields(e).map_err(|(_, k)| self.error(FORMAT, "template data", start, k))?;
        }
        Ok(true)
    }
}

/// Decode hex `text` into `out` (`out.len() * 2 == text.len()`); false on a non-hex digit.
#[inline]
fn decode_hex(text: &[u8], out: &mut [u8]) -> bool {
    hexdigits::decode_into(text, out, HexCase::Any)
}

fn invalid_hex(text: &str) -> ParseErrorKind {
    ParseErrorKind::Invalid(format!(
        "invalid hex {:?}",
        text.chars().take(16).collect::<String>()
    ))
}

fn push_hex(text: &str, out: &mut Vec<u8>) -> Result<(), ParseErrorKind> {
    if !text.len().is_multiple_of(2) {
        return Err(ParseErrorKind::Invalid("odd number of hex digits".into()));
    }
    let at = out.len();
    out.resize(at + text.len() / 2, 0);
    if decode_hex(text.as_bytes(), &mut out[at..]) {
        Ok(())
    } else {
        Err(invalid_hex(text))
    }
}

/// A digest of `alg` from exactly `alg.size() * 2` hex digits.
fn digest_from_hex(alg: HashAlg, text: &str) -> Result<Digest, ParseErrorKind> {
    let mut buf = [0u8; MAX_DIGEST_SIZE];
    let out = &mut buf[..alg.size()];
    if text.len() != out.len() * 2 {
        return Err(ParseErrorKind::Invalid(format!(
            "{alg} template digest of {} hex digits",
            text.len()
        )));
    }
    if !decode_hex(text.as_bytes(), out) {
        return Err(invalid_hex(text));
    }
    Digest::new(alg, out).map_err(|e| ParseErrorKind::Invalid(e.to_string()))
}

/// Append the stored bytes of field `id` rebuilt from its ASCII text.
pub(crate) fn push_field_from_text(
    id: FieldId,
    text: &str,
    endian: Endian,
    legacy: bool,
    out: &mut Vec<u8>,
) -> Result<(), ParseErrorKind> {
    match id {
        FieldId::D => push_hex(text, out),
        FieldId::N if legacy => {
            out.extend_from_slice(text.as_bytes());
            Ok(())
        }
        FieldId::N | FieldId::NNg => {
            out.extend_from_slice(text.as_bytes());
            out.push(0);
            Ok(())
        }
        _ if text.is_empty() => Ok(()),
        FieldId::XattrNames => {
            out.extend_from_slice(text.as_bytes());
            out.push(0);
            Ok(())
        }
        FieldId::DNg | FieldId::DNgV2 | FieldId::DModsig => {
            let (prefix, hex) = text
                .rsplit_once(':')
                .ok_or_else(|| ParseErrorKind::Invalid(format!("{id} field without algorithm")))?;
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(b":\0");
            push_hex(hex, out)
        }
        FieldId::IUid | FieldId::IGid => {
            let v: u32 = text
                .parse()
                .map_err(|_| ParseErrorKind::Invalid(format!("bad {id} {text:?}")))?;
            out.extend_from_slice(&endian.u32_bytes(v));
            Ok(())
        }
        FieldId::IMode => {
            let v: u16 = text
                .parse()
                .map_err(|_| ParseErrorKind::Invalid(format!("bad {id} {text:?}")))?;
            out.extend_from_slice(&endian.u16_bytes(v));
            Ok(())
        }
        FieldId::Sig
        | FieldId::Buf
        | FieldId::Modsig
        | FieldId::EvmSig
        | FieldId::XattrLengths
        | FieldId::XattrValues => push_hex(text, out),
    }
}

/// Append the ASCII text of field `id` with stored bytes `data` (as the kernel prints it).
pub(crate) fn write_field_text(id: FieldId, data: &[u8], endian: Endian, out: &mut String) {
    match id {
        FieldId::D => out.push_str(&hex::encode(data)),
        FieldId::N | FieldId::NNg | FieldId::XattrNames => {
            let t = data.strip_suffix(&[0]).unwrap_or(data);
            out.push_str(&String::from_utf8_lossy(t));
        }
        FieldId::DNg | FieldId::DNgV2 | FieldId::DModsig => {
            if let Some(nul) = data.iter().position(|b| *b == 0) {
                out.push_str(&String::from_utf8_lossy(&data[..nul]));
                out.push_str(&hex::encode(&data[nul + 1..]));
            } else {
                out.push_str(&hex::encode(data));
            }
        }
        FieldId::IUid | FieldId::IGid if data.len() == 4 => {
            let _ = write!(out, "{}", endian.u32([data[0], data[1], data[2], data[3]]));
        }
        FieldId::IMode if data.len() == 2 => {
            let _ = write!(out, "{}", endian.u16([data[0], data[1]]));
        }
        _ => out.push_str(&hex::encode(data)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hex_decoding_matches_the_hex_crate_and_rejects_non_hex() {
        let bytes: Vec<u8> = (0..=255).collect();
        for text in [hex::encode(&bytes), hex::encode_upper(&bytes)] {
            let mut out = Vec::new();
            push_hex(&text, &mut out).unwrap();
            assert_eq!(out, bytes);
        }
        for bad in ["0g", "g0", " 0", "0-", "\u{e9}"] {
            assert!(push_hex(bad, &mut Vec::new()).is_err(), "{bad:?}");
        }
        assert!(push_hex("abc", &mut Vec::new()).is_err());
        assert!(digest_from_hex(HashAlg::Sha1, &"ab".repeat(20)).is_ok());
        assert!(digest_from_hex(HashAlg::Sha1, &"ab".repeat(21)).is_err());
        assert!(digest_from_hex(HashAlg::Sha1, &"zz".repeat(20)).is_err());
    }
}
