//! Binary list records (docs/formats.md#ima-binary-list).

use std::io::BufRead;

use crate::alg::Digest;
use crate::error::{Error, ParseErrorKind};

use super::reader::ImaReader;
use super::template::{validate_field, Endian, FieldId, TemplateFormat, MAX_TEMPLATE_FIELDS};
use super::{
    FieldSpan, ListFormat, MAX_LEGACY_NAME_LEN, MAX_TEMPLATE_DATA_LEN, MAX_TEMPLATE_NAME_LEN,
};

const FORMAT: &str = "ima binary log";

/// Where the template name and the template data of a binary entry lie.
pub(super) struct EntrySpan {
    /// The template name.
    pub(super) name: std::ops::Range<usize>,
    /// The template data; the entry ends where it ends.
    pub(super) data: std::ops::Range<usize>,
}

/// The [`EntrySpan`] of the binary entry at the start of `buf` (digest column `width` bytes wide,
/// integers in `endian` order). `None` when `buf` does not hold the whole entry or a length is
/// out of bounds (a name of 0 or over [`MAX_TEMPLATE_NAME_LEN`] bytes, data over
/// [`MAX_TEMPLATE_DATA_LEN`]). A legacy `ima` entry has no data length, so its span is
/// meaningless: callers check the name.
#[inline]
pub(super) fn entry_span(buf: &[u8], width: usize, endian: Endian) -> Option<EntrySpan> {
    let u32_at = |at: usize| {
        buf.get(at..at + 4)
            .map(|b| endian.u32([b[0], b[1], b[2], b[3]]))
    };
    let name_len = u32_at(4 + width)?;
    if name_len == 0 || name_len > MAX_TEMPLATE_NAME_LEN {
        return None;
    }
    let name = 8 + width..8 + width + name_len as usize;
    let data_len = u32_at(name.end)?;
    if data_len > MAX_TEMPLATE_DATA_LEN {
        return None;
    }
    let data = name.end + 4..name.end + 4 + data_len as usize;
    (data.end <= buf.len()).then_some(EntrySpan { name, data })
}

/// Outcome of reading a fixed-size piece.
enum Piece {
    Ok,
    /// Clean end of input before the first byte of an entry.
    End,
}

impl<R: BufRead> ImaReader<R> {
    /// Read `buf.len()` bytes of `structure`; a short read is a truncation (or trailing bytes).
    #[inline]
    fn piece(
        &mut self,
        buf: &mut [u8],
        structure: &'static str,
        entry_start: u64,
    ) -> Result<Piece, Error> {
        let at = self.pos;
        let got = self.src.read_full(buf)?;
        self.pos += got as u64;
        if got == buf.len() {
            return Ok(Piece::Ok);
        }
        if got == 0 && at == entry_start {
            return Ok(Piece::End);
        }
        Err(self.truncated(structure, at, buf.len() as u64, got as u64))
    }

    fn truncated(&self, structure: &'static str, at: u64, needed: u64, available: u64) -> Error {
        self.error(
            FORMAT,
            structure,
            at,
            ParseErrorKind::Truncated { needed, available },
        )
    }

    /// Read one binary entry into `self.entry`; `Ok(false)` at the end of the list.
    pub(crate) fn read_binary(&mut self, format: ListFormat) -> Result<bool, Error> {
        let start = self.pos;
        match self.read_binary_inner(format) {
            Err(Error::Parse(p))
                if self.opts.allow_trailing_bytes
                    && matches!(p.kind, ParseErrorKind::Truncated { .. }) =>
            {
                self.trailing = self.pos - start;
                Ok(false)
            }
            other => other,
        }
    }

    /// The common case, without copies: the whole (non-legacy, valid) entry is in the input
    /// buffer. Returns false (having consumed nothing) to let the checked path read the entry.
    #[inline]
    fn fast_binary(&mut self, format: ListFormat, start: u64) -> bool {
        let width = format.column.size();
        let endian = format.endian;
        let Ok(avail) = self.src.fill_buf() else {
            return false;
        };
        let Some(span) = entry_span(avail, width, endian) else {
            return false;
        };
        let (Some(pcr), Some(name), Some(data), Some(col)) = (
            avail.get(..4).map(|b| endian.u32([b[0], b[1], b[2], b[3]])),
            avail.get(span.name),
            avail.get(span.data.clone()),
            avail.get(4..4 + width),
        ) else {
            return false;
        };
        let e = &mut self.entry;
        if set_template(e, &mut self.templates, name).is_err() || e.legacy {
            return false;
        }
        let end = span.data.end;
        let Ok(column) = Digest::new(format.column, col) else {
            return false;
        };
        e.data.clear();
        e.data.extend_from_slice(data);
        e.endian = endian;
        if split_fields(e).is_err() {
            return false;
        }
        e.index = self.next_index;
        e.offset = start;
        e.pcr = pcr;
        e.column = column;
        self.src.consume(end);
        self.pos += end as u64;
        true
    }

    fn read_binary_inner(&mut self, format: ListFormat) -> Result<bool, Error> {
        let start = self.pos;
        if self.fast_binary(format, start) {
            return Ok(true);
        }
        let endian = format.endian;
        let mut b4 = [0u8; 4];
        if let Piece::End = self.piece(&mut b4, "pcr index", start)? {
            return Ok(false);
        }
        let pcr = endian.u32(b4);
        let width = format.column.size();
        let mut col = [0u8; crate::alg::MAX_DIGEST_SIZE];
        self.piece(&mut col[..width], "template digest", start)?;
        let column = Digest::new(format.column, &col[..width])?;

        let at = self.pos;
        self.piece(&mut b4, "template name length", start)?;
        let name_len = endian.u32(b4);
        if name_len == 0 {
            return Err(self.error(
                FORMAT,
                "template name length",
                at,
                ParseErrorKind::Invalid("empty template name".into()),
            ));
        }
        if name_len > MAX_TEMPLATE_NAME_LEN {
            return Err(self.error(
                FORMAT,
                "template name length",
                at,
                ParseErrorKind::LengthTooLarge {
                    len: u64::from(name_len),
                    max: u64::from(MAX_TEMPLATE_NAME_LEN),
                },
            ));
        }
        let at = self.pos;
        let mut name_buf = [0u8; MAX_TEMPLATE_NAME_LEN as usize];
        self.piece(&mut name_buf[..name_len as usize], "template name", start)?;
        let name = &name_buf[..name_len as usize];
        let e = &mut self.entry;
        e.index = self.next_index;
        e.offset = start;
        e.pcr = pcr;
        e.column = column;
        e.endian = endian;
        if let Err(kind) = set_template(e, &mut self.templates, name) {
            return Err(self.error(FORMAT, "template name", at, kind));
        }
        if self.entry.legacy {
            self.read_legacy(start)
        } else {
            self.read_template_data(start)
        }
    }

    /// Legacy `ima`: `d[20] || u32 name_len || name` (no data length, name without NUL).
    fn read_legacy(&mut self, start: u64) -> Result<bool, Error> {
        let mut d = [0u8; 20];
        self.piece(&mut d, "file digest", start)?;
        let mut b4 = [0u8; 4];
        let at = self.pos;
        self.piece(&mut b4, "event name length", start)?;
        let len = self.entry.endian.u32(b4);
        if len > MAX_LEGACY_NAME_LEN {
            return Err(self.error(
                FORMAT,
                "event name length",
                at,
                ParseErrorKind::LengthTooLarge {
                    len: u64::from(len),
                    max: u64::from(MAX_LEGACY_NAME_LEN),
                },
            ));
        }
        let at = self.pos;
        let mut name = [0u8; MAX_LEGACY_NAME_LEN as usize];
        self.piece(&mut name[..len as usize], "event name", start)?;
        let name = &name[..len as usize];
        if std::str::from_utf8(name).is_err() {
            return Err(self.error(FORMAT, "event name", at, ParseErrorKind::InvalidUtf8));
        }
        let e = &mut self.entry;
        e.data.clear();
        e.data.extend_from_slice(&d);
        e.data.extend_from_slice(name);
        e.spans[0] = FieldSpan {
            id: FieldId::D,
            start: 0,
            len: 20,
        };
        e.spans[1] = FieldSpan {
            id: FieldId::N,
            start: 20,
            len,
        };
        e.nspans = 2;
        Ok(true)
    }

    fn read_template_data(&mut self, start: u64) -> Result<bool, Error> {
        let mut b4 = [0u8; 4];
        let at = self.pos;
        self.piece(&mut b4, "template data length", start)?;
        let len = self.entry.endian.u32(b4);
        if len > MAX_TEMPLATE_DATA_LEN {
            return Err(self.error(
                FORMAT,
                "template data length",
                at,
                ParseErrorKind::LengthTooLarge {
                    len: u64::from(len),
                    max: u64::from(MAX_TEMPLATE_DATA_LEN),
                },
            ));
        }
        let data_at = self.pos;
        self.entry.data.clear();
        let got = self.src.read_into(len as usize, &mut self.entry.data)?;
        self.pos += got as u64;
        if got < len as usize {
            return Err(self.truncated("template data", data_at, u64::from(len), got as u64));
        }
        split_fields(&mut self.entry)
            .map_err(|(rel, kind)| self.error(FORMAT, "template data", data_at + rel, kind))?;
        Ok(true)
    }
}

/// Point `entry` at template `name` (reusing a cached parse of recent template names).
pub(crate) fn set_template(
    entry: &mut super::ImaEntry,
    cache: &mut Vec<(String, TemplateFormat)>,
    name: &[u8],
) -> Result<(), ParseErrorKind> {
    // A fresh entry's name is empty: an empty name must not match it and skip the lookup
    // (an empty name is no template and is refused below).
    if !name.is_empty() && entry.name.as_bytes() == name {
        return Ok(());
    }
    let format = match cache.iter().find(|(n, _)| n.as_bytes() == name) {
        Some((_, f)) => *f,
        None => {
            let text = std::str::from_utf8(name).map_err(|_| ParseErrorKind::InvalidUtf8)?;
            let f = TemplateFormat::for_name(text)?;
            if cache.len() < MAX_CACHED_TEMPLATES {
                cache.push((text.to_owned(), f));
            }
            f
        }
    };
    entry.name.clear();
    // `name` was checked to be UTF-8 when it entered the cache or just above.
    entry
        .name
        .push_str(std::str::from_utf8(name).unwrap_or_default());
    entry.format = format;
    entry.legacy = name == b"ima";
    Ok(())
}

/// Distinct template names whose parsed format is kept (a list uses a handful).
const MAX_CACHED_TEMPLATES: usize = 16;

/// Walk `u32 len || bytes` fields of `entry.data` per its template, validating each field.
/// Errors carry the offset relative to the start of the template data.
pub(crate) fn split_fields(entry: &mut super::ImaEntry) -> Result<(), (u64, ParseErrorKind)> {
    let data = &entry.data[..];
    let endian = entry.endian;
    let mut at = 0usize;
    let ids = entry.format.fields();
    for (i, id) in ids.iter().enumerate() {
        let Some(l) = data.get(at..at + 4) else {
            return Err((
                at as u64,
                ParseErrorKind::Invalid(format!(
                    "template data ends before field {id} ({} of {})",
                    i + 1,
                    ids.len()
                )),
            ));
        };
        let len = endian.u32([l[0], l[1], l[2], l[3]]) as usize;
        let body = at + 4;
        let Some(field) = data.get(body..body.saturating_add(len)) else {
            return Err((
                at as u64,
                ParseErrorKind::LengthTooLarge {
                    len: len as u64,
                    max: (data.len() - body) as u64,
                },
            ));
        };
        validate_field(*id, field, endian).map_err(|k| (body as u64, k))?;
        if i < MAX_TEMPLATE_FIELDS {
            entry.spans[i] = FieldSpan {
                id: *id,
                start: body as u32,
                len: len as u32,
            };
        }
        at = body + len;
    }
    if at != data.len() {
        return Err((
            at as u64,
            ParseErrorKind::Invalid(format!(
                "{} bytes after the last field of template {}",
                data.len() - at,
                entry.name
            )),
        ));
    }
    entry.nspans = ids.len() as u8;
    Ok(())
}
