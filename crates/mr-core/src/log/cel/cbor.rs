//! CEL-CBOR: records as integer-keyed maps (docs/formats.md#cel-cbor, from a third-party implementation
//! citing "CEL v1.1 §5.2" — not checked against the TCG text):
//!
//! ```text
//! {0: recnum, 1: pcr | 2: nv_index | 108: cc mr index,
//!  3: [{0: TPM_ALG_ID, 1: digest bstr}, ...], 9: content_type, 10: content}
//! ```
//! Contents: `pcclient_std` `{0: event_type, 1: event_data bstr}`; `ima_template`
//! `{0: template_name tstr, 1: template_data bstr}`; `cel_mgt` an array of one-entry maps
//! `{item type: data}` (`{1: {0: major, 1: minor}}`, `{2: null}`, `{80: timestamp}`,
//! `{81: state}`) — mr's choice, mirroring the TLV nesting; `systemd` `{0: type, 1: timestamp,
//! 2: boot id bstr, 3: string tstr}`; `ima_tlv` and other types: a bstr. The log is an array of
//! records or a CBOR sequence of records (and of such arrays); [`super::CelWriter`] writes a
//! sequence, which needs no count up front.
//!
//! The reader accepts only definite lengths, bounds every length by the bytes left and by
//! [`MAX_CEL_VALUE_LEN`], limits nesting to [`MAX_DEPTH`], and refuses unknown keys, floats,
//! tags and duplicate keys. It streams: one record item at a time is copied from the input (at
//! most [`MAX_CEL_RECORD_LEN`] bytes) and decoded straight into a record (no intermediate tree).
//! Errors name the record (its position) and the byte offset of the item that is malformed. The writer uses the shortest integer heads (deterministic CBOR).

#![deny(clippy::indexing_slicing)]

use std::io::BufRead;

use crate::alg::Digest;
use crate::error::{Error, ParseErrorKind};

use super::tlv::{read_up_to, KEEP_BUFFER};
use crate::wire::Reader;

use super::{
    cel_err, check_template_name, push_digest, CelIndex, CelRecord, Content, Encoding, MgtItem,
    StateTrans, SystemdEvent, CONTENT_CEL_MGT, CONTENT_IMA_TEMPLATE, CONTENT_IMA_TLV,
    CONTENT_PCCLIENT_STD, CONTENT_SYSTEMD, INDEX_CCMR, INDEX_NV, INDEX_PCR, MAX_CEL_RECORD_LEN,
    MAX_CEL_VALUE_LEN, MGT_CEL_VERSION, MGT_FIRMWARE_END, MGT_STATE_TRANS, MGT_TIMESTAMP,
};

/// Deepest nesting of arrays and maps accepted (a record needs 4).
pub const MAX_DEPTH: usize = 8;

/// Array elements allocated ahead of reading them (arrays grow past this as they are read).
const PREALLOCATE_MAX: u64 = 1024;

/// Most entries in one map (a record map has 5; duplicate-key detection stays cheap).
pub const MAX_MAP_ENTRIES: u64 = 16;

const ENC: Encoding = Encoding::Cbor;

/// Record map keys.
const KEY_RECNUM: u64 = 0;
const KEY_DIGESTS: u64 = 3;
const KEY_CONTENT_TYPE: u64 = 9;
const KEY_CONTENT: u64 = 10;

/// CBOR major types used by CEL.
const MAJOR_UINT: u8 = 0;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const MAJOR_TAG: u8 = 6;
const MAJOR_SIMPLE: u8 = 7;
/// The simple value `null` (initial byte 0xf6).
const NULL: u8 = 0xf6;

fn major_name(m: u8) -> &'static str {
    match m {
        0 => "an unsigned integer",
        1 => "a negative integer",
        2 => "a byte string",
        3 => "a text string",
        4 => "an array",
        5 => "a map",
        6 => "a tag",
        _ => "a simple value or float",
    }
}

/// A CBOR cursor on the bounded reader that decodes straight into records (no intermediate
/// tree). Positions (`pos`, `at`) are relative to the start of the record item.
#[derive(Clone)]
struct Cbor<'a> {
    w: Reader<'a>,
}

impl<'a> Cbor<'a> {
    /// A cursor over `buf`, which starts at absolute offset `base`, inside record `record`.
    fn new(buf: &'a [u8], base: u64, record: u64) -> Cbor<'a> {
        let mut w = Reader::at(ENC.format(), buf, base);
        w.set_entry(Some(record));
        Cbor { w }
    }

    fn pos(&self) -> usize {
        self.w.position()
    }

    fn err_at(&self, at: usize, structure: &'static str, kind: ParseErrorKind) -> Error {
        self.w
            .error_at(self.w.offset_of(at), structure, kind)
            .into()
    }

    fn left(&self) -> u64 {
        self.w.remaining() as u64
    }

    fn byte(&mut self) -> Result<u8, Error> {
        Ok(self.w.u8("cbor item")?)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], Error> {
        Ok(self.w.bytes(n, u64::MAX, "cbor item")?)
    }

    /// The major type and argument of the next item (definite lengths only).
    fn head(&mut self) -> Result<(u8, u64), Error> {
        let at = self.pos();
        let ib = self.byte()?;
        let (major, ai) = (ib >> 5, ib & 0x1f);
        let arg = match ai {
            0..=23 => u64::from(ai),
            24 => u64::from(self.byte()?),
            25 => u64::from(self.w.u16_be("cbor item")?),
            26 => u64::from(self.w.u32_be("cbor item")?),
            27 => self.w.u64_be("cbor item")?,
            _ => {
                return Err(self.err_at(
                    at,
                    "cbor item",
                    ParseErrorKind::Invalid(format!(
                        "CBOR initial byte {ib:#04x} (indefinite lengths and reserved values are not accepted)"
                    )),
                ))
            }
        };
        Ok((major, arg))
    }

    /// The next item's head, which must be of major type `want`.
    fn expect(&mut self, want: u8, what: &'static str) -> Result<u64, Error> {
        let at = self.pos();
        let (major, arg) = self.head()?;
        if major != want {
            return Err(self.err_at(
                at,
                what,
                ParseErrorKind::Invalid(format!(
                    "{what} is {} where {} is required",
                    major_name(major),
                    major_name(want)
                )),
            ));
        }
        Ok(arg)
    }

    fn uint(&mut self, what: &'static str, max: u64) -> Result<u64, Error> {
        let at = self.pos();
        let v = self.expect(MAJOR_UINT, what)?;
        if v > max {
            return Err(self.err_at(
                at,
                what,
                ParseErrorKind::Invalid(format!("{what} {v} is above {max}")),
            ));
        }
        Ok(v)
    }

    fn string(&mut self, major: u8, what: &'static str) -> Result<&'a [u8], Error> {
        let at = self.pos();
        let n = self.expect(major, what)?;
        if n > u64::from(MAX_CEL_VALUE_LEN) {
            return Err(self.err_at(
                at,
                what,
                ParseErrorKind::LengthTooLarge {
                    len: n,
                    max: u64::from(MAX_CEL_VALUE_LEN),
                },
            ));
        }
        self.take(n)
    }

    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], Error> {
        self.string(MAJOR_BYTES, what)
    }

    fn text(&mut self, what: &'static str) -> Result<&'a str, Error> {
        let at = self.pos();
        let b = self.string(MAJOR_TEXT, what)?;
        std::str::from_utf8(b).map_err(|_| self.err_at(at, what, ParseErrorKind::InvalidUtf8))
    }

    /// A map head: its number of entries (at most [`MAX_MAP_ENTRIES`]).
    fn map(&mut self, what: &'static str) -> Result<u64, Error> {
        let at = self.pos();
        let n = self.expect(MAJOR_MAP, what)?;
        if n > MAX_MAP_ENTRIES {
            return Err(self.err_at(
                at,
                what,
                ParseErrorKind::LengthTooLarge {
                    len: n,
                    max: MAX_MAP_ENTRIES,
                },
            ));
        }
        Ok(n)
    }

    /// An array head: its number of elements (each takes a byte at least).
    fn array(&mut self, what: &'static str) -> Result<u64, Error> {
        let at = self.pos();
        let n = self.expect(MAJOR_ARRAY, what)?;
        if n > self.left() {
            return Err(self.err_at(
                at,
                what,
                ParseErrorKind::LengthTooLarge {
                    len: n,
                    max: self.left(),
                },
            ));
        }
        Ok(n)
    }

    /// Skip one well-formed item (used to find a record's content before its type is known).
    fn skip(&mut self, depth: usize) -> Result<(), Error> {
        let at = self.pos();
        if depth >= MAX_DEPTH {
            return Err(self.err_at(
                at,
                "cbor item",
                ParseErrorKind::Invalid(format!("nesting deeper than {MAX_DEPTH}")),
            ));
        }
        let (major, arg) = self.head()?;
        match major {
            MAJOR_UINT => Ok(()),
            MAJOR_BYTES | MAJOR_TEXT => self.take(arg).map(|_| ()),
            MAJOR_ARRAY | MAJOR_MAP => {
                let per = if major == MAJOR_MAP { 2 } else { 1 };
                if arg.saturating_mul(per) > self.left() {
                    return Err(self.err_at(
                        at,
                        "cbor item",
                        ParseErrorKind::LengthTooLarge {
                            len: arg,
                            max: self.left() / per,
                        },
                    ));
                }
                for _ in 0..arg * per {
                    self.skip(depth + 1)?;
                }
                Ok(())
            }
            MAJOR_SIMPLE if arg == 22 => Ok(()),
            _ => Err(self.err_at(
                at,
                "cbor item",
                ParseErrorKind::Invalid(format!("{} (not used by CEL)", major_name(major))),
            )),
        }
    }

    fn invalid(&self, at: usize, what: &'static str, msg: String) -> Error {
        self.err_at(at, what, ParseErrorKind::Invalid(msg))
    }
}

/// Read CEL-CBOR (arrays of records and records, in sequence) record by record: each record
/// item is copied into one buffer (well-formed, definite lengths, nesting at most
/// [`MAX_DEPTH`], at most [`MAX_CEL_RECORD_LEN`] bytes) and decoded there; `visit` gets each
/// record with its offset. An outer array's count is not checked against the input left (it
/// is not known): a count beyond the records given ends in a truncation error.
pub(crate) fn read<R: BufRead>(
    mut input: R,
    visit: &mut dyn FnMut(u64, CelRecord) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut c = Copier {
        offset: 0,
        record: 0,
        buf: Vec::new(),
    };
    let mut any = false;
    while let Some(&ib) = input.fill_buf()?.first() {
        any = true;
        let mut records = 1;
        if ib >> 5 == MAJOR_ARRAY {
            // An outer array of records: its head, then its records.
            c.buf.clear();
            records = c.head(&mut input)?.1;
            c.offset += c.buf.len() as u64;
        }
        for _ in 0..records {
            // Fast path: the record decodes from the bytes the reader holds (all of them for a
            // slice). Otherwise (the buffer ends inside it, or it is bad) it is copied item by
            // item and decoded from the copy, which also gives the error of a bad record.
            let fast = {
                let avail = input.fill_buf()?;
                let mut r = Cbor::new(avail, c.offset, c.record);
                record(&mut r)
                    .ok()
                    .filter(|_| r.pos() as u64 <= MAX_CEL_RECORD_LEN)
                    .map(|rec| (rec, r.pos()))
            };
            let (rec, len) = match fast {
                Some((rec, len)) => {
                    input.consume(len);
                    (rec, len)
                }
                None => {
                    c.buf.clear();
                    c.item(&mut input, 0)?;
                    let mut r = Cbor::new(&c.buf, c.offset, c.record);
                    (record(&mut r)?, c.buf.len())
                }
            };
            visit(c.offset, rec)?;
            c.offset += len as u64;
            c.record += 1;
            if c.buf.capacity() > KEEP_BUFFER {
                c.buf = Vec::new();
            }
        }
    }
    if !any {
        return Err(cel_err(ENC, "log", 0, 0, ParseErrorKind::Empty));
    }
    Ok(())
}

/// Copies one CBOR item at a time from the input into `buf`, checking only its framing (the
/// record decoder checks the rest).
struct Copier {
    /// Offset in the input of `buf`'s first byte.
    offset: u64,
    record: u64,
    buf: Vec<u8>,
}

impl Copier {
    fn err(&self, at: usize, kind: ParseErrorKind) -> Error {
        cel_err(ENC, "cbor item", self.offset + at as u64, self.record, kind)
    }

    /// Copy exactly `n` bytes.
    fn copy<R: BufRead>(&mut self, input: &mut R, n: u64) -> Result<(), Error> {
        let at = self.buf.len();
        if at as u64 + n > MAX_CEL_RECORD_LEN {
            return Err(self.err(
                0,
                ParseErrorKind::LengthTooLarge {
                    len: at as u64 + n,
                    max: MAX_CEL_RECORD_LEN,
                },
            ));
        }
        let got = read_up_to(input, n, &mut self.buf)?;
        if got < n {
            return Err(self.err(
                at,
                ParseErrorKind::Truncated {
                    needed: n,
                    available: got,
                },
            ));
        }
        Ok(())
    }

    /// Copy an item's head; its major type and argument.
    fn head<R: BufRead>(&mut self, input: &mut R) -> Result<(u8, u64), Error> {
        let at = self.buf.len();
        self.copy(input, 1)?;
        let ib = self.buf.get(at).copied().unwrap_or(0);
        let (major, ai) = (ib >> 5, ib & 0x1f);
        let extra = match ai {
            0..=23 => return Ok((major, u64::from(ai))),
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            _ => {
                return Err(self.err(
                    at,
                    ParseErrorKind::Invalid(format!(
                        "CBOR initial byte {ib:#04x} (indefinite lengths and reserved values are not accepted)"
                    )),
                ))
            }
        };
        self.copy(input, extra)?;
        let arg = self
            .buf
            .get(at + 1..)
            .unwrap_or_default()
            .iter()
            .fold(0, |v, b| (v << 8) | u64::from(*b));
        Ok((major, arg))
    }

    /// Copy one well-formed item.
    fn item<R: BufRead>(&mut self, input: &mut R, depth: usize) -> Result<(), Error> {
        let at = self.buf.len();
        if depth >= MAX_DEPTH {
            return Err(self.err(
                at,
                ParseErrorKind::Invalid(format!("nesting deeper than {MAX_DEPTH}")),
            ));
        }
        let (major, arg) = self.head(input)?;
        match major {
            MAJOR_BYTES | MAJOR_TEXT => {
                if arg > u64::from(MAX_CEL_VALUE_LEN) {
                    return Err(self.err(
                        at,
                        ParseErrorKind::LengthTooLarge {
                            len: arg,
                            max: u64::from(MAX_CEL_VALUE_LEN),
                        },
                    ));
                }
                self.copy(input, arg)
            }
            MAJOR_ARRAY | MAJOR_MAP => {
                let items = if major == MAJOR_MAP {
                    arg.saturating_mul(2)
                } else {
                    arg
                };
                // Each item is a byte at least: the record bound stops a huge count.
                for _ in 0..items {
                    self.item(input, depth + 1)?;
                }
                Ok(())
            }
            MAJOR_TAG => Err(self.err(
                at,
                ParseErrorKind::Invalid(format!("{} (not used by CEL)", major_name(major))),
            )),
            _ => Ok(()),
        }
    }
}

/// Set a once-only field.
fn once<T>(slot: &mut Option<T>, v: T, r: &Cbor<'_>, at: usize, key: u64) -> Result<(), Error> {
    if slot.is_some() {
        return Err(r.invalid(at, "record", format!("duplicate key {key}")));
    }
    *slot = Some(v);
    Ok(())
}

fn record(r: &mut Cbor<'_>) -> Result<CelRecord, Error> {
    const S: &str = "record";
    let start = r.pos();
    let n = r.map(S)?;
    let mut recnum = None;
    let mut index = None;
    let mut digests: Option<Vec<Digest>> = None;
    let mut content_type = None;
    let mut content_at = None;
    for _ in 0..n {
        let at = r.pos();
        let key = r.uint("record key", u64::MAX)?;
        match key {
            KEY_RECNUM => {
                let v = r.uint("recnum", u64::MAX)?;
                once(&mut recnum, v, r, at, key)?;
            }
            k if k == u64::from(INDEX_PCR)
                || k == u64::from(INDEX_NV)
                || k == u64::from(INDEX_CCMR) =>
            {
                let v = r.uint("index", u64::from(u32::MAX))? as u32;
                let i = match k {
                    1 => CelIndex::Pcr(v),
                    2 => CelIndex::NvIndex(v),
                    _ => CelIndex::CcMr(v),
                };
                if index.is_some() {
                    return Err(r.invalid(at, S, "more than one index".into()));
                }
                index = Some(i);
            }
            KEY_DIGESTS => {
                let count = r.array("digests")?;
                let mut list = Vec::with_capacity(count.min(HASH_ALGS) as usize);
                for _ in 0..count {
                    let d_at = r.pos();
                    if r.map("digest")? != 2 {
                        return Err(r.invalid(
                            d_at,
                            "digest",
                            "a digest map must have 2 entries".into(),
                        ));
                    }
                    let (mut alg, mut value) = (None, None);
                    for _ in 0..2 {
                        let k_at = r.pos();
                        match r.uint("digest key", u64::MAX)? {
                            0 => once(
                                &mut alg,
                                r.uint("hashAlg", u64::from(u16::MAX))?,
                                r,
                                k_at,
                                0,
                            )?,
                            1 => once(&mut value, r.bytes("digest")?, r, k_at, 1)?,
                            other => {
                                return Err(r.invalid(
                                    k_at,
                                    "digest",
                                    format!("unknown key {other} in a digest"),
                                ))
                            }
                        }
                    }
                    let (Some(alg), Some(value)) = (alg, value) else {
                        return Err(r.invalid(
                            d_at,
                            "digest",
                            "digest map without key 0 or 1".into(),
                        ));
                    };
                    push_digest(&mut list, alg, value).map_err(|k| r.err_at(d_at, "digest", k))?;
                }
                once(&mut digests, list, r, at, key)?;
            }
            KEY_CONTENT_TYPE => {
                let v = r.uint("content_type", 255)? as u8;
                once(&mut content_type, v, r, at, key)?;
            }
            KEY_CONTENT => {
                once(&mut content_at, r.clone(), r, at, key)?;
                r.skip(1)?;
            }
            other => return Err(r.invalid(at, S, format!("unknown key {other} in a record"))),
        }
    }
    let missing = |what: &str| r.invalid(start, S, format!("record without {what}"));
    let recnum = recnum.ok_or_else(|| missing("recnum (key 0)"))?;
    let index = index.ok_or_else(|| missing("an index (key 1, 2 or 108)"))?;
    let content_type = content_type.ok_or_else(|| missing("content_type (key 9)"))?;
    let mut content_reader = content_at.ok_or_else(|| missing("content (key 10)"))?;
    let content = content(&mut content_reader, content_type)?;
    Ok(CelRecord {
        recnum,
        index,
        digests: digests.unwrap_or_default(),
        content,
    })
}

/// Hash algorithms mr knows (a digest list has at most one of each).
const HASH_ALGS: u64 = 5;

/// Read a map of exactly the integer keys `keys` (any order) and call `f` for each entry.
fn keyed_map<'a>(
    r: &mut Cbor<'a>,
    keys: &[u64],
    what: &'static str,
    mut f: impl FnMut(&mut Cbor<'a>, u64) -> Result<(), Error>,
) -> Result<(), Error> {
    let at = r.pos();
    let n = r.map(what)?;
    if n != keys.len() as u64 {
        return Err(r.invalid(
            at,
            what,
            format!("{what} has {n} entries, {} required", keys.len()),
        ));
    }
    let mut seen = 0u32;
    for _ in 0..n {
        let k_at = r.pos();
        let k = r.uint("key", u64::MAX)?;
        let Some(i) = keys.iter().position(|x| *x == k) else {
            return Err(r.invalid(k_at, what, format!("unknown key {k} in {what}")));
        };
        if seen & (1 << i) != 0 {
            return Err(r.invalid(k_at, what, format!("duplicate key {k} in {what}")));
        }
        seen |= 1 << i;
        f(r, k)?;
    }
    Ok(())
}

fn content(r: &mut Cbor<'_>, content_type: u8) -> Result<Content, Error> {
    let at = r.pos();
    Ok(match content_type {
        CONTENT_PCCLIENT_STD => {
            let (mut et, mut data) = (0u32, &[][..]);
            keyed_map(r, &[0, 1], "pcclient_std content", |r, k| {
                if k == 0 {
                    et = r.uint("event_type", u64::from(u32::MAX))? as u32;
                } else {
                    data = r.bytes("event_data")?;
                }
                Ok(())
            })?;
            Content::PcClient {
                event_type: et,
                event_data: data.to_vec(),
            }
        }
        CONTENT_IMA_TEMPLATE => {
            let (mut name, mut data) = ("", &[][..]);
            keyed_map(r, &[0, 1], "ima_template content", |r, k| {
                if k == 0 {
                    let n_at = r.pos();
                    name = r.text("template_name")?;
                    check_template_name(name).map_err(|e| r.err_at(n_at, "template_name", e))?;
                } else {
                    data = r.bytes("template_data")?;
                }
                Ok(())
            })?;
            Content::ImaTemplate {
                template_name: name.to_owned(),
                template_data: data.to_vec(),
            }
        }
        CONTENT_CEL_MGT => {
            let n = r.array("cel_mgt content")?;
            if n == 0 {
                return Err(r.invalid(at, "cel_mgt content", "no cel_mgt item".into()));
            }
            let mut items = Vec::with_capacity(n.min(PREALLOCATE_MAX) as usize);
            for _ in 0..n {
                let i_at = r.pos();
                if r.map("cel_mgt item")? != 1 {
                    return Err(r.invalid(
                        i_at,
                        "cel_mgt item",
                        "a cel_mgt item map must have one entry".into(),
                    ));
                }
                let k_at = r.pos();
                let typ = r.uint("cel_mgt item type", 255)? as u8;
                items.push(match typ {
                    MGT_CEL_VERSION => {
                        let (mut major, mut minor) = (0u16, 0u16);
                        keyed_map(r, &[0, 1], "cel_version", |r, k| {
                            let v = r.uint("cel_version", u64::from(u16::MAX))? as u16;
                            if k == 0 {
                                major = v;
                            } else {
                                minor = v;
                            }
                            Ok(())
                        })?;
                        MgtItem::CelVersion { major, minor }
                    }
                    MGT_FIRMWARE_END => {
                        let n_at = r.pos();
                        if r.byte()? != NULL {
                            return Err(r.invalid(
                                n_at,
                                "cel_mgt item",
                                "firmware_end carries data".into(),
                            ));
                        }
                        MgtItem::FirmwareEnd
                    }
                    MGT_TIMESTAMP => MgtItem::Timestamp(r.uint("cel_timestamp", u64::MAX)?),
                    MGT_STATE_TRANS => MgtItem::StateTrans(
                        StateTrans::from_value(r.uint("state_trans", 2)?)
                            .ok_or_else(|| r.invalid(k_at, "state_trans", "state_trans".into()))?,
                    ),
                    other => {
                        return Err(r.invalid(
                            k_at,
                            "cel_mgt item",
                            format!("unknown cel_mgt item type {other}"),
                        ))
                    }
                });
            }
            Content::Mgt(items)
        }
        CONTENT_SYSTEMD => {
            let mut ev = SystemdEvent {
                event_type: 0,
                timestamp: 0,
                boot_id: [0; 16],
                string: String::new(),
            };
            keyed_map(r, &[0, 1, 2, 3], "systemd content", |r, k| {
                match k {
                    0 => ev.event_type = r.uint("systemd event type", 3)? as u8,
                    1 => ev.timestamp = r.uint("timestamp", u64::MAX)?,
                    2 => {
                        let b_at = r.pos();
                        ev.boot_id = r.bytes("boot id")?.try_into().map_err(|_| {
                            r.invalid(b_at, "boot id", "boot id is not 16 bytes".into())
                        })?;
                    }
                    _ => ev.string = r.text("string")?.to_owned(),
                }
                Ok(())
            })?;
            Content::Systemd(ev)
        }
        CONTENT_IMA_TLV => Content::ImaTlv(r.bytes("ima_tlv content")?.to_vec()),
        other => Content::Other {
            content_type: other,
            data: r.bytes("content")?.to_vec(),
        },
    })
}

/// Append a head (major type + argument) in its shortest form.
fn head(out: &mut Vec<u8>, major: u8, v: u64) {
    let m = major << 5;
    if v < 24 {
        out.push(m | v as u8);
    } else if v <= u64::from(u8::MAX) {
        out.extend_from_slice(&[m | 24, v as u8]);
    } else if v <= u64::from(u16::MAX) {
        out.push(m | 25);
        out.extend_from_slice(&(v as u16).to_be_bytes());
    } else if v <= u64::from(u32::MAX) {
        out.push(m | 26);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

fn put_uint(out: &mut Vec<u8>, v: u64) {
    head(out, 0, v);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    head(out, 2, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_text(out: &mut Vec<u8>, t: &str) {
    head(out, 3, t.len() as u64);
    out.extend_from_slice(t.as_bytes());
}

/// Append one record map.
pub fn encode_record(r: &CelRecord, out: &mut Vec<u8>) {
    head(out, 5, 5);
    put_uint(out, KEY_RECNUM);
    put_uint(out, r.recnum);
    let (k, v) = match r.index {
        CelIndex::Pcr(v) => (INDEX_PCR, v),
        CelIndex::NvIndex(v) => (INDEX_NV, v),
        CelIndex::CcMr(v) => (INDEX_CCMR, v),
    };
    put_uint(out, u64::from(k));
    put_uint(out, u64::from(v));
    put_uint(out, KEY_DIGESTS);
    head(out, 4, r.digests.len() as u64);
    for d in &r.digests {
        head(out, 5, 2);
        put_uint(out, 0);
        put_uint(out, u64::from(d.alg().tcg_id()));
        put_uint(out, 1);
        put_bytes(out, d.as_bytes());
    }
    put_uint(out, KEY_CONTENT_TYPE);
    put_uint(out, u64::from(r.content.content_type()));
    put_uint(out, KEY_CONTENT);
    match &r.content {
        Content::PcClient {
            event_type,
            event_data,
        } => {
            head(out, 5, 2);
            put_uint(out, 0);
            put_uint(out, u64::from(*event_type));
            put_uint(out, 1);
            put_bytes(out, event_data);
        }
        Content::ImaTemplate {
            template_name,
            template_data,
        } => {
            head(out, 5, 2);
            put_uint(out, 0);
            put_text(out, template_name);
            put_uint(out, 1);
            put_bytes(out, template_data);
        }
        Content::Mgt(items) => {
            head(out, 4, items.len() as u64);
            for it in items {
                head(out, 5, 1);
                put_uint(out, u64::from(it.type_number()));
                match it {
                    MgtItem::CelVersion { major, minor } => {
                        head(out, 5, 2);
                        put_uint(out, 0);
                        put_uint(out, u64::from(*major));
                        put_uint(out, 1);
                        put_uint(out, u64::from(*minor));
                    }
                    MgtItem::FirmwareEnd => out.push(0xf6),
                    MgtItem::Timestamp(t) => put_uint(out, *t),
                    MgtItem::StateTrans(s) => put_uint(out, u64::from(s.value())),
                }
            }
        }
        Content::Systemd(s) => {
            head(out, 5, 4);
            put_uint(out, 0);
            put_uint(out, u64::from(s.event_type));
            put_uint(out, 1);
            put_uint(out, s.timestamp);
            put_uint(out, 2);
            put_bytes(out, &s.boot_id);
            put_uint(out, 3);
            put_text(out, &s.string);
        }
        Content::ImaTlv(d) | Content::Other { data: d, .. } => put_bytes(out, d),
    }
}
