//! ASCII list lines (docs/formats.md#ima-ascii-list): parsing into template data, and formatting fields as text.

use std::fmt::Write as _;
use std::io::BufRead;

use crate::alg::{Digest, HashAlg, MAX_DIGEST_SIZE};
use crate::error::{Error, ParseErrorKind};
use crate::hexdigits::{self, HexCase};

use super::binary::{set_template, split_fields};
use super::reader::{column_alg, ImaReader};
use super::template::{validate_field, Endian, FieldId};
use super::{FieldSpan, ListFormat, MAX_ASCII_LINE_LEN, MAX_LEGACY_NAME_LEN};

const FORMAT: &str = "ima ascii log";

impl<R: BufRead> ImaReader<R> {
    /// Read one ASCII line into `self.entry`; `Ok(false)` at the end of the list.
    ///
    /// Two paths with one meaning. The fast path takes a well-formed line of a list whose column
    /// width is known (every line after the first) straight from the input buffer: one walk
    /// over the line, hex decoded into the entry's buffer, no copy of the line. Anything it does
    /// not accept (the first line, a line split across input buffers, an error of any kind, an
    /// unusual spelling such as `+10` or the legacy `ima` template) goes to the general path,
    /// which is the only one that reports errors. A line the fast path accepts is one the
    /// general path accepts with the same entry (tested on generated and mutated lists).
    pub(crate) fn read_ascii(&mut self, format: ListFormat) -> Result<bool, Error> {
        let start = self.pos;
        if self.next_index > 0 && fast_path_enabled() {
            match self.fast_ascii(format, start) {
                Fast::Read => return Ok(true),
                Fast::Io(e) => return Err(e.into()),
                Fast::Declined => {}
            }
        }
        let mut line = std::mem::take(&mut self.line);
        let result = self.read_ascii_line(format, start, &mut line);
        self.line = line;
        result
    }

    /// The fast path: a whole line in the input buffer, parsed in place (see `read_ascii`).
    #[inline]
    fn fast_ascii(&mut self, format: ListFormat, start: u64) -> Fast {
        let avail = match self.src.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Fast::Declined,
            Err(e) => return Fast::Io(e),
        };
        // A line longer than the limit is the general path's to refuse; bounding the view also
        // bounds what the fast path builds before it would find that out.
        let avail = &avail[..avail.len().min(MAX_ASCII_LINE_LEN + 1)];
        let Some(used) = parse_line(avail, format, &mut self.entry, &mut self.templates) else {
            return Fast::Declined;
        };
        self.entry.index = self.next_index;
        self.entry.offset = start;
        #[cfg(test)]
        FAST_READS.with(|n| n.set(n.get() + 1));
        self.src.consume(used);
        self.pos += used as u64;
        Fast::Read
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

/// Outcome of the fast path.
enum Fast {
    /// An entry was read.
    Read,
    /// Nothing consumed; the general path reads the line.
    Declined,
    /// The input failed (as the general path would report it).
    Io(std::io::Error),
}

#[cfg(not(test))]
#[inline(always)]
fn fast_path_enabled() -> bool {
    true
}

#[cfg(test)]
thread_local! {
    /// Unit tests turn the fast path off to compare it with the general path.
    static FAST_PATH: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

#[cfg(test)]
thread_local! {
    /// Lines the fast path read (so tests can check that they exercised it).
    static FAST_READS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
fn fast_path_enabled() -> bool {
    FAST_PATH.with(|f| f.get())
}

/// Position of the first byte of `hay` that is `a` or `b` (memchr's `memchr2`), with 0x80 when
/// a byte before it is not ASCII and 0 when all are (the callers OR it into the line's flag).
#[inline(always)]
fn scan(hay: &[u8], a: u8, b: u8) -> Option<(usize, u8)> {
    let p = memchr::memchr2(a, b, hay)?;
    let ascii = hay.get(..p).is_some_and(<[u8]>::is_ascii);
    Some((p, if ascii { 0 } else { 0x80 }))
}

/// Position of the first `needle` in `hay`.
#[cfg(test)]
fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    scan(hay, needle, needle).map(|(p, _)| p)
}

/// The fast path's parse of the line at the start of `avail` (a list of `format`) into `e` (all
/// but `index` and `offset`): the bytes the line takes with its `\n`, or `None` when it is not
/// a line the fast path accepts (then `e` holds unspecified contents and the general path must
/// read the line).
///
/// One walk over the line, column by column; hex runs whose length is known (the template
/// digest, a `d-ng` digest of a known algorithm) are decoded without a search for their end.
/// Each step accepts only what the general path accepts with the same result: a PCR index of
/// decimal digits that fits a u32; the list's width of hex digits then a space; exactly as
/// many space-separated field texts as the template has fields, the last one ending the line
/// (an optional `\r` before the `\n` stripped, as there); per field, exactly the text the
/// general path's rules decode, and stored bytes that pass the same validation
/// (`validate_field`); a line of at most `MAX_ASCII_LINE_LEN` bytes, valid UTF-8.
#[inline]
fn parse_line(
    avail: &[u8],
    format: ListFormat,
    e: &mut super::ImaEntry,
    templates: &mut Vec<(String, super::template::TemplateFormat)>,
) -> Option<usize> {
    // OR of the bytes not already known to be ASCII (digits, hex digits, delimiters).
    let mut high = 0u8;
    let mut i = avail.iter().take_while(|b| **b == b' ').count();

    // PCR index: decimal digits, then a space.
    let digits = i;
    let mut pcr: u32 = 0;
    loop {
        match *avail.get(i)? {
            b' ' if i > digits => break,
            b @ b'0'..=b'9' => {
                pcr = pcr.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
                i += 1;
            }
            _ => return None,
        }
    }
    i += 1;

    // Template digest: the list's width of hex digits, then a space.
    let width = format.column.size();
    let hex = avail.get(i..i + width * 2)?;
    if avail.get(i + width * 2) != Some(&b' ') {
        return None;
    }
    let mut buf = [0u8; MAX_DIGEST_SIZE];
    if !decode_hex(hex, &mut buf[..width]) {
        return None;
    }
    let column = Digest::new(format.column, &buf[..width]).ok()?;
    i += width * 2 + 1;

    // Template name, then a space (a line that ends after the name is left to the general
    // path, as is the legacy `ima` template).
    let (len, bits) = scan(&avail[i..], b' ', b'\n')?;
    high |= bits;
    if avail[i + len] != b' ' {
        return None;
    }
    set_template(e, templates, &avail[i..i + len]).ok()?;
    if e.legacy {
        return None;
    }
    i += len + 1;

    e.pcr = pcr;
    e.column = column;
    e.endian = format.endian;
    let endian = format.endian;
    let ids = e.format.fields();
    let last = ids.len().checked_sub(1)?;
    e.data.clear();
    let mut line_end = None;
    for (k, id) in ids.iter().enumerate() {
        // The field's text is avail[i..end]; the byte at `delim` is ' ' or '\n'.
        let at = e.data.len() + 4;
        e.data.extend_from_slice(&[0; 4]);
        let prefixed = matches!(id, FieldId::DNg | FieldId::DNgV2 | FieldId::DModsig);
        let known = if prefixed {
            known_digest(avail, i, *id == FieldId::DNgV2)
        } else {
            None
        };
        let delim = if let Some((colon, size, bits)) = known {
            // `algo:` then exactly the algorithm's hex digits, then ' ' or '\n': the digits
            // hold no delimiter, so this is where the general path's split ends the text; and
            // no ':', so `colon` is the last one, where it splits the text.
            high |= bits;
            let delim = colon + 1 + size * 2;
            if !matches!(avail.get(delim), Some(b' ' | b'\n')) {
                return None;
            }
            e.data.extend_from_slice(&avail[i..colon]);
            e.data.extend_from_slice(b":\0");
            if !push_hex_fast(&avail[colon + 1..delim], &mut e.data) {
                return None;
            }
            delim
        } else {
            let (len, bits) = scan(&avail[i..], b' ', b'\n')?;
            high |= bits;
            let delim = i + len;
            // Only the line's end sheds a '\r'.
            let end = if avail[delim] == b'\n' && len > 0 && avail[delim - 1] == b'\r' {
                delim - 1
            } else {
                delim
            };
            if !push_field_fast(*id, &avail[i..end], endian, &mut e.data) {
                return None;
            }
            delim
        };
        // Exactly one text per field: a space after all but the last, the line's end after it.
        match (avail[delim], k == last) {
            (b' ', false) => i = delim + 1,
            (b'\n', true) => line_end = Some(delim),
            _ => return None,
        }
        let len = e.data.len() - at;
        let len32 = u32::try_from(len).ok()?;
        e.data[at - 4..at].copy_from_slice(&endian.u32_bytes(len32));
        // n / n-ng / xattrnames are valid UTF-8 text and a NUL, which always validates.
        if !matches!(id, FieldId::N | FieldId::NNg | FieldId::XattrNames)
            && validate_field(*id, &e.data[at..], endian).is_err()
        {
            return None;
        }
        if let Some(span) = e.spans.get_mut(k) {
            *span = FieldSpan {
                id: *id,
                start: at as u32,
                len: len32,
            };
        }
    }
    let end = line_end?;
    if end > MAX_ASCII_LINE_LEN || (high >= 0x80 && std::str::from_utf8(&avail[..end]).is_err()) {
        return None;
    }
    e.nspans = ids.len() as u8;
    Some(end + 1)
}

/// For a digest field starting at `avail[i]` spelled `algo:` (`type:algo:` for d-ngv2) with
/// one of the usual kernel algorithm names: the position of the colon before the digits, the
/// digest size, and the OR of the prefix bytes. `None` when the prefix is anything else (or holds a
/// delimiter): the field is then read by searching for its end.
#[inline(always)]
fn known_digest(avail: &[u8], i: usize, v2: bool) -> Option<(usize, usize, u8)> {
    let mut colons = if v2 { 2 } else { 1 };
    let mut algo = i;
    let mut bits = 0u8;
    let mut j = i;
    loop {
        let b = *avail.get(j)?;
        match b {
            b':' => {
                colons -= 1;
                if colons == 0 {
                    break;
                }
                algo = j + 1;
            }
            b' ' | b'\n' => return None,
            _ => bits |= b,
        }
        j += 1;
    }
    // Only where the digits end is guessed from the name; the bytes are validated as for any
    // other spelling.
    let size = match &avail[algo..j] {
        b"sha256" | b"sm3" => 32,
        b"sha1" => 20,
        b"sha512" => 64,
        b"sha384" => 48,
        _ => return None,
    };
    Some((j, size, bits))
}

/// Append hex `text` decoded; false for an odd length or a non-hex digit.
#[inline]
fn push_hex_fast(text: &[u8], out: &mut Vec<u8>) -> bool {
    if !text.len().is_multiple_of(2) {
        return false;
    }
    let at = out.len();
    out.resize(at + text.len() / 2, 0);
    decode_hex(text, &mut out[at..])
}

/// The fast path's `push_field_from_text` (non-legacy templates): false where the general
/// path would fail, or where it is not sure to agree (then the general path decides).
#[inline]
fn push_field_fast(id: FieldId, text: &[u8], endian: Endian, out: &mut Vec<u8>) -> bool {
    match id {
        FieldId::N | FieldId::NNg => {
            out.extend_from_slice(text);
            out.push(0);
            true
        }
        _ if text.is_empty() => true,
        FieldId::XattrNames => {
            out.extend_from_slice(text);
            out.push(0);
            true
        }
        FieldId::DNg | FieldId::DNgV2 | FieldId::DModsig => {
            // The general path splits at the last ':'. A colon followed only by hex digits
            // is the last one; try the first colon (the second for d-ngv2's `type:algo:`).
            let colon = |t: &[u8]| t.iter().position(|b| *b == b':');
            let Some(c) = colon(text) else {
                return false;
            };
            let c = if id == FieldId::DNgV2 {
                match text.get(c + 1..).and_then(colon) {
                    Some(d) => c + 1 + d,
                    None => return false,
                }
            } else {
                c
            };
            out.extend_from_slice(&text[..c]);
            out.extend_from_slice(b":\0");
            push_hex_fast(&text[c + 1..], out)
        }
        FieldId::IUid | FieldId::IGid | FieldId::IMode => {
            let Ok(text) = std::str::from_utf8(text) else {
                return false;
            };
            push_field_from_text(id, text, endian, false, out).is_ok()
        }
        FieldId::D
        | FieldId::Sig
        | FieldId::Buf
        | FieldId::Modsig
        | FieldId::EvmSig
        | FieldId::XattrLengths
        | FieldId::XattrValues => push_hex_fast(text, out),
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
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::log::ima::builder::ImaListBuilder;
    use crate::log::ima::sample::write_sample_list;
    use crate::log::ima::template::{encode_digest_ng, encode_digest_ngv2, TemplateFormat};
    use crate::log::ima::{ImaReaderOptions, ListKind};
    use proptest::prelude::*;
    use std::io::BufReader;

    /// Everything the reader put in the entry that can be observed.
    #[derive(Debug, PartialEq)]
    struct Seen {
        index: u64,
        offset: u64,
        pcr: u32,
        column: Digest,
        name: String,
        format: TemplateFormat,
        legacy: bool,
        data: Vec<u8>,
        spans: Vec<(FieldId, u32, u32)>,
        endian: Endian,
    }

    /// The entries (and the error, in full) the reader gives for `input`, with the fast path
    /// on or off; and how many lines the fast path read.
    fn read_all<R: BufRead>(
        input: R,
        opts: &ImaReaderOptions,
        fast: bool,
    ) -> (Vec<Seen>, Option<String>, u64) {
        FAST_PATH.with(|f| f.set(fast));
        FAST_READS.with(|n| n.set(0));
        let mut r = ImaReader::new(input, opts.clone());
        let mut seen = Vec::new();
        let error = loop {
            match r.next_entry() {
                Ok(Some(e)) => seen.push(Seen {
                    index: e.index,
                    offset: e.offset,
                    pcr: e.pcr,
                    column: e.column,
                    name: e.name.clone(),
                    format: e.format,
                    legacy: e.legacy,
                    data: e.data.clone(),
                    spans: e.spans[..usize::from(e.nspans)]
                        .iter()
                        .map(|s| (s.id, s.start, s.len))
                        .collect(),
                    endian: e.endian,
                }),
                Ok(None) => break None,
                Err(e) => break Some(format!("{e:?}")),
            }
        };
        FAST_PATH.with(|f| f.set(true));
        (seen, error, FAST_READS.with(|n| n.get()))
    }

    /// Same entries and the same error with and without the fast path, whole and through small
    /// input buffers (lines split across buffers). Returns the fast path's line count (whole).
    fn assert_paths_agree(list: &[u8], opts: &ImaReaderOptions, buffers: &[usize]) -> u64 {
        let (general, general_err, none) = read_all(list, opts, false);
        assert_eq!(none, 0);
        let (fast, fast_err, fast_reads) = read_all(list, opts, true);
        assert_eq!(fast_err, general_err);
        assert_eq!(fast, general);
        for cap in buffers {
            let (fast, fast_err, _) = read_all(BufReader::with_capacity(*cap, list), opts, true);
            assert_eq!(fast_err, general_err, "buffer {cap}");
            assert_eq!(fast, general, "buffer {cap}");
        }
        fast_reads
    }

    /// Every template and field type, several PCRs, digest algorithms, and names.
    fn varied_list(kind: ListKind, endian: Endian, column: HashAlg) -> Vec<u8> {
        let mut b = ImaListBuilder::new(kind)
            .with_endian(endian)
            .with_column(column);
        b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"pcrs"));
        for (i, alg) in HashAlg::ALL.into_iter().enumerate() {
            let pcr = [10, 0, 9, 11, 4_294_967_295][i % 5];
            b.ima_ng(pcr, &alg.hash(&[i as u8]), &format!("/usr/lib/f{i}.so"));
        }
        b.ima_ng(
            10,
            &HashAlg::Sha1.hash(b"x"),
            "/caf\u{e9}/na\u{ef}ve \u{1F600}",
        );
        b.ima_ng(10, &HashAlg::Sha256.hash(b"y"), "a\0b:c|d");
        b.ima_ng(10, &HashAlg::Sha256.hash(b"z"), "");
        b.ima_sig(
            10,
            &HashAlg::Sha256.hash(b"s"),
            "/bin/s",
            &[3, 2, 4, 0xAB, 0xCD],
        );
        b.ima_sig(10, &HashAlg::Sha512.hash(b"t"), "/bin/t", &[]);
        b.ima_buf(10, HashAlg::Sha256, "kexec-cmdline", b"root=/dev/vda1 ro");
        b.ima_buf(10, HashAlg::Sha1, "key", &[0u8; 300]);
        b.violation(10, "ima-ng", HashAlg::Sha256, "/var/log/v");
        b.violation(10, "ima-sig", HashAlg::Sha1, "/var/log/w");
        b.violation(10, "ima", HashAlg::Sha1, "/var/log/x");
        b.legacy_ima(10, &[7; 20], "/bin/legacy").unwrap();
        b.legacy_ima(10, &[8; 20], "").unwrap();
        let md5 = [b"md5:\0".as_slice(), &[5u8; 16]].concat();
        b.entry(10, "ima-ng", &[&md5, b"/md5\0"]).unwrap();
        let v2 = encode_digest_ngv2("verity", "sha256", &[9; 32]);
        b.entry(10, "ima-ngv2", &[&v2, b"/v2\0"]).unwrap();
        let v2 = encode_digest_ngv2("ima", "sha1", &[9; 20]);
        b.entry(10, "ima-sigv2", &[&v2, b"/v2s\0", &[1, 2]])
            .unwrap();
        let dng = encode_digest_ng("sha256", &[1; 32]);
        let dmod = encode_digest_ng("sha256", &[2; 32]);
        b.entry(
            10,
            "ima-modsig",
            &[&dng, b"/m\0", &[], &dmod, &[0x30, 0x82]],
        )
        .unwrap();
        b.entry(10, "ima-modsig", &[&dng, b"/m2\0", &[], &[], &[]])
            .unwrap();
        let uid = endian.u32_bytes(1000);
        let gid = endian.u32_bytes(0);
        let mode = endian.u16_bytes(0o100_644);
        let lens = [endian.u32_bytes(3), endian.u32_bytes(1)].concat();
        b.entry(
            10,
            "evm-sig",
            &[
                &dng,
                b"/evm\0",
                &[5, 6],
                b"security.ima|security.selinux\0",
                &lens,
                b"abcd",
                &uid,
                &gid,
                &mode,
            ],
        )
        .unwrap();
        b.entry(
            10,
            "evm-sig",
            &[&dng, b"/e\0", &[], &[], &[], &[], &[], &[], &[]],
        )
        .unwrap();
        b.entry(10, "d-ng|n-ng|buf|iuid", &[&dng, b"/c\0", b"b", &uid])
            .unwrap();
        b.entry(10, "n|sig", &[b"plain\0", &[0xEE]]).unwrap();
        b.entry(10, "d|buf", &[&[1, 2, 3], &[]]).unwrap();
        b.finish()
    }

    fn opts(endian: Endian) -> ImaReaderOptions {
        ImaReaderOptions::default().with_endian(endian)
    }

    #[test]
    fn fast_path_reads_generated_lists_as_the_general_path_does() {
        for endian in [Endian::Little, Endian::Big] {
            for column in [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha512] {
                let list = varied_list(ListKind::Ascii, endian, column);
                let lines = list.iter().filter(|b| **b == b'\n').count() as u64;
                let fast = assert_paths_agree(&list, &opts(endian), &[1, 7, 64, 200, 4096]);
                // All but the first line, the three legacy ones, and the second line when it
                // straddles the end of the bytes read ahead for format detection.
                assert!(fast >= lines - 5, "{endian} {column}: {fast} of {lines}");
            }
        }
        let mut list = Vec::new();
        write_sample_list(&mut list, ListKind::Ascii, 3000, &[HashAlg::Sha1], 3).unwrap();
        let fast = assert_paths_agree(&list, &ImaReaderOptions::default(), &[333, 8192]);
        assert!(fast >= 2998, "{fast}");
    }

    #[test]
    fn fast_path_reads_respellings_as_the_general_path_does() {
        let list = varied_list(ListKind::Ascii, Endian::Little, HashAlg::Sha1);
        let text = String::from_utf8(list).unwrap();
        let crlf = text.replace('\n', "\r\n");
        let upper: String = text
            .lines()
            .map(|l| {
                let mut cols: Vec<String> = l.split(' ').map(str::to_owned).collect();
                let hex = |t: &str| t.bytes().all(|b| b.is_ascii_hexdigit());
                for c in cols.iter_mut() {
                    if let Some((algo, digest)) = c.rsplit_once(':').filter(|(_, d)| hex(d)) {
                        *c = format!("{algo}:{}", digest.to_uppercase());
                    } else if hex(c) {
                        *c = c.to_uppercase();
                    }
                }
                cols.join(" ") + "\n"
            })
            .collect();
        let padded: String = text
            .lines()
            .map(|l| format!("   0{}\n", l.trim_start()))
            .collect();
        let plus: String = text
            .lines()
            .map(|l| format!("+{}\n", l.trim_start()))
            .collect();
        let no_final_newline = text.trim_end_matches('\n').to_owned();
        // `+10` is left to the general path (u32 parsing accepts it; no kernel writes it), and
        // so is a last line without its newline.
        for (variant, fast_path) in [
            (crlf, true),
            (upper, true),
            (padded, true),
            (plus, false),
            (no_final_newline, true),
        ] {
            let forced = opts(Endian::Little).with_kind(ListKind::Ascii);
            let lines = variant.lines().count() as u64;
            let fast = assert_paths_agree(variant.as_bytes(), &forced, &[5, 100]);
            let least = if fast_path { lines - 6 } else { 0 };
            assert!(fast >= least, "{fast} of {lines}: {variant}");
            assert_paths_agree(variant.as_bytes(), &opts(Endian::Little), &[]);
        }
    }

    #[test]
    fn fast_path_leaves_lines_at_and_over_the_length_limit_to_the_general_path() {
        let mut b = ImaListBuilder::ascii();
        b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"pcrs"));
        b.ima_buf(10, HashAlg::Sha256, "small", b"x");
        let head = String::from_utf8(b.finish()).unwrap();
        let dng = format!("sha256:{}", "ab".repeat(32));
        let prefix = format!("10 {} ima-buf {dng} big ", "cd".repeat(20));
        for len in [
            MAX_ASCII_LINE_LEN,
            MAX_ASCII_LINE_LEN + 1,
            MAX_ASCII_LINE_LEN + 2,
        ] {
            let digits = (len - prefix.len()) & !1;
            let mut list = head.clone();
            list.push_str(&prefix);
            list.push_str(&"e".repeat(digits));
            list.push_str(&"e".repeat(len - prefix.len() - digits));
            list.push('\n');
            list.push_str(head.lines().nth(1).unwrap());
            list.push('\n');
            assert_paths_agree(list.as_bytes(), &ImaReaderOptions::default(), &[8192]);
            let (_, err, _) = read_all(list.as_bytes(), &ImaReaderOptions::default(), true);
            if len > MAX_ASCII_LINE_LEN {
                assert!(err.unwrap().contains("LengthTooLarge"));
            }
        }
    }

    /// Edits that make lines malformed (or different but valid) in every way the format can
    /// break.
    #[derive(Clone, Debug)]
    enum Edit {
        Set(usize, u8),
        Insert(usize, u8),
        Delete(usize),
        Truncate(usize),
        DoubleSpace(usize),
        Upper(usize, usize),
    }

    const EDIT_BYTES: &[u8] = b" \r\n:0 9afAFgG+-|x\0\x7f\x80\xc3\xa9\xff";

    fn edit() -> impl Strategy<Value = Edit> {
        let byte = proptest::sample::select(EDIT_BYTES.to_vec());
        prop_oneof![
            (any::<usize>(), byte.clone()).prop_map(|(p, b)| Edit::Set(p, b)),
            (any::<usize>(), byte).prop_map(|(p, b)| Edit::Insert(p, b)),
            any::<usize>().prop_map(Edit::Delete),
            any::<usize>().prop_map(Edit::Truncate),
            any::<usize>().prop_map(Edit::DoubleSpace),
            (any::<usize>(), 1..200usize).prop_map(|(p, n)| Edit::Upper(p, n)),
        ]
    }

    fn apply(list: &mut Vec<u8>, e: &Edit) {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % len };
        match *e {
            Edit::Set(p, b) if !list.is_empty() => {
                let p = at(p, list.len());
                list[p] = b;
            }
            Edit::Insert(p, b) => list.insert(at(p, list.len() + 1), b),
            Edit::Delete(p) if !list.is_empty() => {
                list.remove(at(p, list.len()));
            }
            Edit::Truncate(p) => list.truncate(at(p, list.len() + 1)),
            Edit::DoubleSpace(p) => {
                let spaces: Vec<usize> = (0..list.len()).filter(|i| list[*i] == b' ').collect();
                if !spaces.is_empty() {
                    list.insert(spaces[at(p, spaces.len())], b' ');
                }
            }
            Edit::Upper(p, n) if !list.is_empty() => {
                let p = at(p, list.len());
                let end = (p + n).min(list.len());
                list[p..end].make_ascii_uppercase();
            }
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(600))]

        #[test]
        fn fast_path_gives_the_general_paths_entries_and_errors_on_edited_lists(
            edits in proptest::collection::vec(edit(), 1..4),
            column in proptest::sample::select(vec![HashAlg::Sha1, HashAlg::Sha256]),
            cap in 1..300usize,
        ) {
            let mut list = varied_list(ListKind::Ascii, Endian::Little, column);
            for e in &edits {
                apply(&mut list, e);
            }
            assert_paths_agree(&list, &opts(Endian::Little), &[cap]);
            assert_paths_agree(&list, &opts(Endian::Little).with_kind(ListKind::Ascii), &[]);
        }

        #[test]
        fn scan_finds_the_first_of_two_bytes_and_whether_the_bytes_before_are_ascii(
            hay in proptest::collection::vec(
                proptest::sample::select(b"ab \n\x80\xff".to_vec()), 0..200),
        ) {
            for (a, b) in [(b'\n', b'\n'), (b' ', b' '), (b' ', b'\n'), (b'\n', b'a')] {
                let want = hay
                    .iter()
                    .position(|x| *x == a || *x == b)
                    .map(|p| (p, hay[..p].iter().fold(0u8, |acc, x| acc | x) & 0x80));
                prop_assert_eq!(scan(&hay, a, b), want);
            }
            prop_assert_eq!(find_byte(&hay, b' '), hay.iter().position(|x| *x == b' '));
        }
    }

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
