//! CEL-TLV: every field is `u8 type || u32 big-endian length || value`; a record is four TLVs —
//! record number (type 0), index (1 PCR, 2 NV index, 108 CC MR index), digests (type 3: nested
//! TLVs whose type is the TPM_ALG_ID truncated to a byte) and the content (type = content type,
//! value = nested TLVs of that type).
//!
//! Integers are big-endian of any length up to their type's width (go-tpm-tools writes an
//! 8-byte record number and a 1-byte index, libcel the fewest bytes). The writer follows
//! go-tpm-tools for the record number and index (so go-tpm-tools can read it) and writes
//! nested integers in the fewest bytes, except the 4-byte PC-Client event type.

#![deny(clippy::indexing_slicing)]

use std::io::BufRead;

use crate::error::{Error, ParseErrorKind};
use crate::wire::{be_uint, Reader};

use super::{
    cel_err, check_template_name, push_digest, CelIndex, CelRecord, Content, Encoding, MgtItem,
    StateTrans, SystemdEvent, CONTENT_CEL_MGT, CONTENT_IMA_TEMPLATE, CONTENT_IMA_TLV,
    CONTENT_PCCLIENT_STD, CONTENT_SYSTEMD, INDEX_CCMR, INDEX_NV, INDEX_PCR, MAX_CEL_VALUE_LEN,
    MGT_CEL_VERSION, MGT_FIRMWARE_END, MGT_STATE_TRANS, MGT_TIMESTAMP,
};

/// TLV type of the record number.
pub const TYPE_RECNUM: u8 = 0;
/// TLV type of the digest list.
pub const TYPE_DIGESTS: u8 = 3;

const ENC: Encoding = Encoding::Tlv;

/// One TLV read from the input: type, absolute offset of the value, value.
struct Tlv<'a> {
    typ: u8,
    at: u64,
    value: &'a [u8],
}

/// A TLV cursor on the bounded reader (absolute offsets, the record named in errors).
struct Cursor<'a> {
    r: Reader<'a>,
}

impl<'a> Cursor<'a> {
    /// A cursor over `buf`, which starts at absolute offset `base`, inside record `record`.
    fn new(buf: &'a [u8], base: u64, record: u64) -> Cursor<'a> {
        let mut r = Reader::at(ENC.format(), buf, base);
        r.set_entry(Some(record));
        Cursor { r }
    }

    fn is_empty(&self) -> bool {
        self.r.is_empty()
    }

    fn err(&self, structure: &'static str, at: u64, kind: ParseErrorKind) -> Error {
        self.r.error_at(at, structure, kind).into()
    }

    fn next(&mut self, structure: &'static str) -> Result<Tlv<'a>, Error> {
        let at = self.r.offset();
        let [typ, len @ ..] = self.r.array::<5>(structure)?;
        let len = u32::from_be_bytes(len);
        if len > MAX_CEL_VALUE_LEN {
            return Err(self.err(
                structure,
                at.saturating_add(1),
                ParseErrorKind::LengthTooLarge {
                    len: u64::from(len),
                    max: u64::from(MAX_CEL_VALUE_LEN),
                },
            ));
        }
        let value_at = self.r.offset();
        let value = self
            .r
            .bytes(u64::from(len), u64::from(MAX_CEL_VALUE_LEN), structure)?;
        Ok(Tlv {
            typ,
            at: value_at,
            value,
        })
    }

    fn sub(&self, t: &Tlv<'a>) -> Cursor<'a> {
        let mut r = Reader::at(self.r.format(), t.value, t.at);
        r.set_entry(self.r.entry());
        Cursor { r }
    }

    /// The next TLV, which must have type `typ`.
    fn expect(&mut self, typ: u8, structure: &'static str) -> Result<Tlv<'a>, Error> {
        let at = self.r.offset();
        let t = self.next(structure)?;
        if t.typ != typ {
            return Err(self.err(
                structure,
                at,
                ParseErrorKind::Invalid(format!("TLV type {} where {typ} is required", t.typ)),
            ));
        }
        Ok(t)
    }

    fn uint(&self, t: &Tlv<'_>, max_bytes: usize, structure: &'static str) -> Result<u64, Error> {
        be_uint(t.value, max_bytes).map_err(|k| self.err(structure, t.at, k))
    }

    fn text(&self, t: &Tlv<'a>, structure: &'static str) -> Result<&'a str, Error> {
        std::str::from_utf8(t.value)
            .map_err(|_| self.err(structure, t.at, ParseErrorKind::InvalidUtf8))
    }

    fn done(&self, structure: &'static str) -> Result<(), Error> {
        Ok(self.r.finish(structure)?)
    }
}

/// True when `bytes` starts with a record-number TLV (1..=8 bytes) followed by an index TLV.
pub(crate) fn looks_like_tlv(bytes: &[u8]) -> bool {
    let mut c = Cursor::new(bytes, 0, 0);
    let Ok(recnum) = c.next("recnum") else {
        return false;
    };
    if recnum.typ != TYPE_RECNUM || recnum.value.is_empty() || recnum.value.len() > 8 {
        return false;
    }
    match c.next("index") {
        Ok(t) => {
            [INDEX_PCR, INDEX_NV, INDEX_CCMR].contains(&t.typ)
                && !t.value.is_empty()
                && t.value.len() <= 4
        }
        Err(_) => false,
    }
}

/// Append up to `n` bytes of `input` to `buf`; the number appended (below `n` only at the end of
/// the input). Memory grows with the bytes read, never with `n`.
pub(crate) fn read_up_to<R: BufRead>(
    input: &mut R,
    n: u64,
    buf: &mut Vec<u8>,
) -> Result<u64, Error> {
    let mut left = n;
    while left > 0 {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if chunk.is_empty() {
            break;
        }
        let take = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        buf.extend_from_slice(chunk.get(..take).unwrap_or_default());
        input.consume(take);
        left -= take as u64;
    }
    Ok(n - left)
}

/// Read a CEL-TLV record by record: each record's four TLVs are read into one buffer (the record
/// number at most 8 bytes, the index at most 4, the digests and the content at most
/// [`MAX_CEL_VALUE_LEN`] each) and decoded there; `visit` gets each record with its offset.
pub(crate) fn read<R: BufRead>(
    mut input: R,
    visit: &mut dyn FnMut(u64, CelRecord) -> Result<(), Error>,
) -> Result<(), Error> {
    const FIELDS: [(&str, u32); 4] = [
        ("recnum", 8),
        ("index", 4),
        ("digests", MAX_CEL_VALUE_LEN),
        ("content", MAX_CEL_VALUE_LEN),
    ];
    let mut buf = Vec::new();
    let mut offset = 0u64;
    let mut record = 0u64;
    while !input.fill_buf()?.is_empty() {
        // Fast path: the record decodes from the bytes the reader holds (all of them for a
        // slice). Otherwise (the buffer ends inside it, or it is bad) its four TLVs are copied
        // and decoded from the copy, which also gives the error of a bad record.
        let fast = {
            let avail = input.fill_buf()?;
            let mut c = Cursor::new(avail, offset, record);
            read_record(&mut c).ok().map(|r| (r, c.r.position()))
        };
        if let Some((r, len)) = fast {
            input.consume(len);
            visit(offset, r)?;
            offset += len as u64;
            record += 1;
            continue;
        }
        buf.clear();
        for (structure, max) in FIELDS {
            let at = offset + buf.len() as u64;
            let err = |at: u64, kind| cel_err(ENC, structure, at, record, kind);
            let got = read_up_to(&mut input, 5, &mut buf)?;
            let len_bytes = buf.len().checked_sub(4).and_then(|h| buf.get(h..));
            let Some(len) = len_bytes
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .filter(|_| got == 5)
            else {
                return Err(err(
                    at,
                    ParseErrorKind::Truncated {
                        needed: 5,
                        available: got,
                    },
                ));
            };
            let len = u32::from_be_bytes(len);
            if len > max {
                let kind = if max == MAX_CEL_VALUE_LEN {
                    ParseErrorKind::LengthTooLarge {
                        len: u64::from(len),
                        max: u64::from(max),
                    }
                } else {
                    ParseErrorKind::Invalid(format!("integer of {len} bytes (must be 1..={max})"))
                };
                return Err(err(at + 1, kind));
            }
            let got = read_up_to(&mut input, u64::from(len), &mut buf)?;
            if got < u64::from(len) {
                return Err(err(
                    at + 5,
                    ParseErrorKind::Truncated {
                        needed: u64::from(len),
                        available: got,
                    },
                ));
            }
        }
        let mut c = Cursor::new(&buf, offset, record);
        let r = read_record(&mut c)?;
        visit(offset, r)?;
        offset += buf.len() as u64;
        record += 1;
        if buf.capacity() > KEEP_BUFFER {
            buf = Vec::new();
        }
    }
    if record == 0 {
        return Err(cel_err(ENC, "log", 0, 0, ParseErrorKind::Empty));
    }
    Ok(())
}

/// Record buffer kept between records (a larger one, after a large record, is dropped).
pub(crate) const KEEP_BUFFER: usize = 1 << 20;

fn read_record(c: &mut Cursor<'_>) -> Result<CelRecord, Error> {
    let t = c.expect(TYPE_RECNUM, "recnum")?;
    let recnum = c.uint(&t, 8, "recnum")?;
    let t = c.next("index")?;
    let value = u32::try_from(c.uint(&t, 4, "index")?).unwrap_or(u32::MAX);
    let index = match t.typ {
        INDEX_PCR => CelIndex::Pcr(value),
        INDEX_NV => CelIndex::NvIndex(value),
        INDEX_CCMR => CelIndex::CcMr(value),
        other => {
            return Err(c.err(
                "index",
                t.at - 5,
                ParseErrorKind::Invalid(format!(
                    "index TLV type {other} (must be 1 pcr, 2 nv_index or 108 cc mr)"
                )),
            ))
        }
    };
    let t = c.expect(TYPE_DIGESTS, "digests")?;
    let mut d = c.sub(&t);
    let mut digests = Vec::new();
    while !d.is_empty() {
        let dt = d.next("digest")?;
        push_digest(&mut digests, u64::from(dt.typ), dt.value)
            .map_err(|k| d.err("digest", dt.at - 5, k))?;
    }
    let t = c.next("content")?;
    let content = read_content(c, &t)?;
    Ok(CelRecord {
        recnum,
        index,
        digests,
        content,
    })
}

fn read_content(c: &Cursor<'_>, t: &Tlv<'_>) -> Result<Content, Error> {
    let mut n = c.sub(t);
    Ok(match t.typ {
        CONTENT_PCCLIENT_STD => {
            const S: &str = "pcclient_std content";
            let et = n.expect(0, S)?;
            let event_type = n.uint(&et, 4, S)? as u32;
            let data = n.expect(1, S)?;
            n.done(S)?;
            Content::PcClient {
                event_type,
                event_data: data.value.to_vec(),
            }
        }
        CONTENT_IMA_TEMPLATE => {
            const S: &str = "ima_template content";
            let name = n.expect(0, S)?;
            let template_name = n.text(&name, S)?;
            check_template_name(template_name).map_err(|k| n.err(S, name.at, k))?;
            let data = n.expect(1, S)?;
            n.done(S)?;
            Content::ImaTemplate {
                template_name: template_name.to_owned(),
                template_data: data.value.to_vec(),
            }
        }
        CONTENT_CEL_MGT => {
            const S: &str = "cel_mgt content";
            let mut items = Vec::new();
            while !n.is_empty() {
                let it = n.next(S)?;
                items.push(read_mgt_item(&n, &it)?);
            }
            if items.is_empty() {
                return Err(n.err(S, t.at, ParseErrorKind::Invalid("no cel_mgt item".into())));
            }
            Content::Mgt(items)
        }
        CONTENT_SYSTEMD => {
            const S: &str = "systemd content";
            let et = n.expect(0, S)?;
            let event_type = n.uint(&et, 1, S)?;
            if event_type > 3 {
                return Err(n.err(
                    S,
                    et.at,
                    ParseErrorKind::Invalid(format!("systemd event type {event_type}")),
                ));
            }
            let ts = n.expect(1, S)?;
            let timestamp = n.uint(&ts, 8, S)?;
            let bid = n.expect(2, S)?;
            let boot_id: [u8; 16] = bid.value.try_into().map_err(|_| {
                n.err(
                    S,
                    bid.at,
                    ParseErrorKind::Invalid("boot id is not 16 bytes".into()),
                )
            })?;
            let st = n.expect(3, S)?;
            let string = n.text(&st, S)?.to_owned();
            n.done(S)?;
            Content::Systemd(SystemdEvent {
                event_type: event_type as u8,
                timestamp,
                boot_id,
                string,
            })
        }
        CONTENT_IMA_TLV => Content::ImaTlv(t.value.to_vec()),
        other => Content::Other {
            content_type: other,
            data: t.value.to_vec(),
        },
    })
}

fn read_mgt_item(n: &Cursor<'_>, it: &Tlv<'_>) -> Result<MgtItem, Error> {
    const S: &str = "cel_mgt item";
    Ok(match it.typ {
        MGT_CEL_VERSION => {
            let mut v = n.sub(it);
            let major = v.expect(0, S)?;
            let major = v.uint(&major, 2, S)? as u16;
            let minor = v.expect(1, S)?;
            let minor = v.uint(&minor, 2, S)? as u16;
            v.done(S)?;
            MgtItem::CelVersion { major, minor }
        }
        MGT_FIRMWARE_END => {
            if !it.value.is_empty() {
                return Err(n.err(
                    S,
                    it.at,
                    ParseErrorKind::Invalid("firmware_end carries data".into()),
                ));
            }
            MgtItem::FirmwareEnd
        }
        MGT_TIMESTAMP => MgtItem::Timestamp(n.uint(it, 8, S)?),
        MGT_STATE_TRANS => {
            let v = n.uint(it, 1, S)?;
            MgtItem::StateTrans(StateTrans::from_value(v).ok_or_else(|| {
                n.err(
                    S,
                    it.at,
                    ParseErrorKind::Invalid(format!("state_trans {v}")),
                )
            })?)
        }
        other => {
            return Err(n.err(
                S,
                it.at - 5,
                ParseErrorKind::Invalid(format!("unknown cel_mgt item type {other}")),
            ))
        }
    })
}

fn too_large(len: usize, at: usize) -> Error {
    cel_err(
        ENC,
        "value",
        at as u64,
        0,
        ParseErrorKind::LengthTooLarge {
            len: len as u64,
            max: u64::from(MAX_CEL_VALUE_LEN),
        },
    )
}

fn put(out: &mut Vec<u8>, typ: u8, value: &[u8]) -> Result<(), Error> {
    let len = u32::try_from(value.len())
        .ok()
        .filter(|l| *l <= MAX_CEL_VALUE_LEN)
        .ok_or_else(|| too_large(value.len(), out.len()))?;
    out.push(typ);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

/// Start a TLV whose value is written next; [`close`] patches its length.
fn open(out: &mut Vec<u8>, typ: u8) -> usize {
    out.push(typ);
    out.extend_from_slice(&[0xFF; 4]);
    out.len()
}

/// Patch the length of the TLV opened at `start` (the value is what was written since).
fn close(out: &mut [u8], start: usize) -> Result<(), Error> {
    let len = out.len() - start;
    let len32 = u32::try_from(len)
        .ok()
        .filter(|l| *l <= MAX_CEL_VALUE_LEN)
        .ok_or_else(|| too_large(len, start))?;
    if let Some(slot) = out.get_mut(start - 4..start) {
        slot.copy_from_slice(&len32.to_be_bytes());
    }
    Ok(())
}

/// The fewest big-endian bytes of `v` (at least one).
fn minimal(v: u64) -> Vec<u8> {
    let b = v.to_be_bytes();
    let skip = (v.leading_zeros() / 8).min(7) as usize;
    b.get(skip..).unwrap_or(&b).to_vec()
}

/// Append the content TLV of `content` (type, length, value).
fn write_content(content: &Content, out: &mut Vec<u8>) -> Result<(), Error> {
    let start = open(out, content.content_type());
    match content {
        Content::PcClient {
            event_type,
            event_data,
        } => {
            put(out, 0, &event_type.to_be_bytes())?;
            put(out, 1, event_data)?;
        }
        Content::ImaTemplate {
            template_name,
            template_data,
        } => {
            put(out, 0, template_name.as_bytes())?;
            put(out, 1, template_data)?;
        }
        Content::Mgt(items) => {
            for it in items {
                match it {
                    MgtItem::CelVersion { major, minor } => {
                        let v = open(out, MGT_CEL_VERSION);
                        put(out, 0, &minimal(u64::from(*major)))?;
                        put(out, 1, &minimal(u64::from(*minor)))?;
                        close(out, v)?;
                    }
                    MgtItem::FirmwareEnd => put(out, MGT_FIRMWARE_END, &[])?,
                    MgtItem::Timestamp(t) => put(out, MGT_TIMESTAMP, &minimal(*t))?,
                    MgtItem::StateTrans(s) => put(out, MGT_STATE_TRANS, &[s.value()])?,
                }
            }
        }
        Content::Systemd(s) => {
            put(out, 0, &[s.event_type])?;
            put(out, 1, &minimal(s.timestamp))?;
            put(out, 2, &s.boot_id)?;
            put(out, 3, s.string.as_bytes())?;
        }
        Content::ImaTlv(data) | Content::Other { data, .. } => out.extend_from_slice(data),
    }
    close(out, start)
}

/// The content TLV of `content` (type, length, value): what a COS event's digest covers.
pub fn content_tlv(content: &Content) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    write_content(content, &mut out)?;
    Ok(out)
}

/// Append one record.
pub fn encode_record(r: &CelRecord, out: &mut Vec<u8>) -> Result<(), Error> {
    put(out, TYPE_RECNUM, &r.recnum.to_be_bytes())?;
    let (typ, v) = match r.index {
        CelIndex::Pcr(v) => (INDEX_PCR, v),
        CelIndex::NvIndex(v) => (INDEX_NV, v),
        CelIndex::CcMr(v) => (INDEX_CCMR, v),
    };
    match u8::try_from(v) {
        Ok(b) => put(out, typ, &[b])?,
        Err(_) => put(out, typ, &v.to_be_bytes())?,
    }
    let d = open(out, TYPE_DIGESTS);
    for digest in &r.digests {
        put(out, digest.alg().tcg_id() as u8, digest.as_bytes())?;
    }
    close(out, d)?;
    write_content(&r.content, out)
}
