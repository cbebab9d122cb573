//! CEL-CBOR: records as integer-keyed maps (SPECS §7.3, from a third-party implementation
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
//! records or a CBOR sequence of records.
//!
//! The reader accepts only definite lengths, bounds every length by the bytes left and by
//! [`MAX_CEL_VALUE_LEN`], limits nesting to [`MAX_DEPTH`], and refuses unknown keys, floats,
//! tags and duplicate keys. Errors name the record (its position) and the byte offset of the
//! record (or of the item that is malformed). The writer uses the shortest integer heads (deterministic CBOR).

use crate::error::{Error, ParseErrorKind};

use super::{
    cel_err, check_template_name, push_digest, CelIndex, CelRecord, Content, Encoding, MgtItem,
    StateTrans, SystemdEvent, CONTENT_CEL_MGT, CONTENT_IMA_TEMPLATE, CONTENT_IMA_TLV,
    CONTENT_PCCLIENT_STD, CONTENT_SYSTEMD, INDEX_CCMR, INDEX_NV, INDEX_PCR, MAX_CEL_VALUE_LEN,
    MGT_CEL_VERSION, MGT_FIRMWARE_END, MGT_STATE_TRANS, MGT_TIMESTAMP,
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

/// A decoded CBOR data item (the subset CEL uses).
#[derive(Clone, Debug, PartialEq)]
enum Item<'a> {
    Uint(u64),
    Bytes(&'a [u8]),
    Text(&'a str),
    Array(Vec<Item<'a>>),
    Map(Vec<(Item<'a>, Item<'a>)>),
    Null,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    record: u64,
}

impl<'a> Reader<'a> {
    fn err(&self, kind: ParseErrorKind) -> Error {
        cel_err(ENC, "cbor item", self.pos as u64, self.record, kind)
    }

    fn byte(&mut self) -> Result<u8, Error> {
        let b = *self.buf.get(self.pos).ok_or_else(|| {
            self.err(ParseErrorKind::Truncated {
                needed: 1,
                available: 0,
            })
        })?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], Error> {
        let left = (self.buf.len() - self.pos.min(self.buf.len())) as u64;
        if n > left {
            return Err(self.err(ParseErrorKind::Truncated {
                needed: n,
                available: left,
            }));
        }
        let s = self.buf.get(self.pos..self.pos + n as usize).unwrap_or(&[]);
        self.pos += n as usize;
        Ok(s)
    }

    /// The argument of an initial byte with additional information `ai`.
    fn argument(&mut self, ai: u8) -> Result<u64, Error> {
        Ok(match ai {
            0..=23 => u64::from(ai),
            24 => u64::from(self.byte()?),
            25 => u64::from(u16::from_be_bytes(
                self.take(2)?.try_into().unwrap_or([0; 2]),
            )),
            26 => u64::from(u32::from_be_bytes(
                self.take(4)?.try_into().unwrap_or([0; 4]),
            )),
            27 => u64::from_be_bytes(self.take(8)?.try_into().unwrap_or([0; 8])),
            _ => {
                return Err(self.err(ParseErrorKind::Invalid(format!(
                    "CBOR additional information {ai} (indefinite lengths are not accepted)"
                ))))
            }
        })
    }

    fn item(&mut self, depth: usize) -> Result<Item<'a>, Error> {
        let at = self.pos;
        let ib = self.byte()?;
        let (major, ai) = (ib >> 5, ib & 0x1f);
        let len_ok = |r: &Self, n: u64| -> Result<u64, Error> {
            if n > u64::from(MAX_CEL_VALUE_LEN) {
                return Err(r.err(ParseErrorKind::LengthTooLarge {
                    len: n,
                    max: u64::from(MAX_CEL_VALUE_LEN),
                }));
            }
            Ok(n)
        };
        Ok(match major {
            0 => Item::Uint(self.argument(ai)?),
            2 => {
                let n = self.argument(ai)?;
                Item::Bytes(self.take(len_ok(self, n)?)?)
            }
            3 => {
                let n = self.argument(ai)?;
                let s = self.take(len_ok(self, n)?)?;
                Item::Text(
                    std::str::from_utf8(s).map_err(|_| self.err(ParseErrorKind::InvalidUtf8))?,
                )
            }
            4 | 5 => {
                if depth >= MAX_DEPTH {
                    return Err(self.err(ParseErrorKind::Invalid(format!(
                        "nesting deeper than {MAX_DEPTH}"
                    ))));
                }
                let n = self.argument(ai)?;
                if major == 5 && n > MAX_MAP_ENTRIES {
                    return Err(self.err(ParseErrorKind::LengthTooLarge {
                        len: n,
                        max: MAX_MAP_ENTRIES,
                    }));
                }
                // Every element takes at least one byte: bound the count by what is left.
                let left = (self.buf.len() - self.pos) as u64;
                let per = if major == 5 { 2 } else { 1 };
                if n.saturating_mul(per) > left {
                    return Err(self.err(ParseErrorKind::LengthTooLarge {
                        len: n,
                        max: left / per,
                    }));
                }
                if major == 4 {
                    // Grown as elements are read; the preallocation is capped.
                    let mut v = Vec::with_capacity(n.min(PREALLOCATE_MAX) as usize);
                    for _ in 0..n {
                        v.push(self.item(depth + 1)?);
                    }
                    Item::Array(v)
                } else {
                    let mut v: Vec<(Item<'a>, Item<'a>)> = Vec::with_capacity(n as usize);
                    for _ in 0..n {
                        let k = self.item(depth + 1)?;
                        if v.iter().any(|(e, _)| *e == k) {
                            return Err(self
                                .err(ParseErrorKind::Invalid(format!("duplicate map key {k:?}"))));
                        }
                        let val = self.item(depth + 1)?;
                        v.push((k, val));
                    }
                    Item::Map(v)
                }
            }
            7 if ai == 22 => Item::Null,
            _ => {
                self.pos = at;
                return Err(self.err(ParseErrorKind::Invalid(format!(
                    "CBOR initial byte {ib:#04x} (negative integers, tags, floats and simple values other than null are not used by CEL)"
                ))));
            }
        })
    }
}

/// Decode CEL-CBOR (an array of records or a sequence of records).
pub fn decode(bytes: &[u8]) -> Result<Vec<CelRecord>, Error> {
    let mut r = Reader {
        buf: bytes,
        pos: 0,
        record: 0,
    };
    if bytes.is_empty() {
        return Err(r.err(ParseErrorKind::Empty));
    }
    let mut records = Vec::new();
    while r.pos < bytes.len() {
        let at = r.pos as u64;
        let ib = *bytes.get(r.pos).unwrap_or(&0);
        if ib >> 5 == 4 {
            // An outer array of records: read its head, then each record at its own offset.
            r.pos += 1;
            let n = r.argument(ib & 0x1f)?;
            let left = (bytes.len() - r.pos) as u64;
            if n > left {
                return Err(r.err(ParseErrorKind::LengthTooLarge { len: n, max: left }));
            }
            for _ in 0..n {
                let rec_at = r.pos as u64;
                let item = r.item(1)?;
                let k = records.len() as u64;
                records.push(record(&item).map_err(|e| cel_err(ENC, "record", rec_at, k, e))?);
                r.record = records.len() as u64;
            }
            continue;
        }
        // One record of a sequence.
        let item = r.item(0)?;
        let k = records.len() as u64;
        if !matches!(item, Item::Map(_)) {
            return Err(cel_err(
                ENC,
                "log",
                at,
                k,
                ParseErrorKind::Invalid("neither a record map nor an array of records".into()),
            ));
        }
        records.push(record(&item).map_err(|e| cel_err(ENC, "record", at, k, e))?);
        r.record = records.len() as u64;
    }
    Ok(records)
}

fn invalid(msg: impl Into<String>) -> ParseErrorKind {
    ParseErrorKind::Invalid(msg.into())
}

fn map<'i, 'a>(it: &'i Item<'a>, what: &str) -> Result<&'i [(Item<'a>, Item<'a>)], ParseErrorKind> {
    match it {
        Item::Map(m) => Ok(m),
        _ => Err(invalid(format!("{what} is not a map"))),
    }
}

/// The map's entries by integer key; any other key is refused.
fn keyed<'i, 'a>(
    m: &'i [(Item<'a>, Item<'a>)],
    allowed: &[u64],
    what: &str,
) -> Result<Vec<(u64, &'i Item<'a>)>, ParseErrorKind> {
    m.iter()
        .map(|(k, v)| match k {
            Item::Uint(k) if allowed.contains(k) => Ok((*k, v)),
            other => Err(invalid(format!("unknown key {other:?} in {what}"))),
        })
        .collect()
}

fn get<'i, 'a>(
    entries: &[(u64, &'i Item<'a>)],
    key: u64,
    what: &str,
) -> Result<&'i Item<'a>, ParseErrorKind> {
    entries
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
        .ok_or_else(|| invalid(format!("{what}: missing key {key}")))
}

fn uint(it: &Item<'_>, what: &str, max: u64) -> Result<u64, ParseErrorKind> {
    match it {
        Item::Uint(n) if *n <= max => Ok(*n),
        _ => Err(invalid(format!("{what} is not an integer in 0..={max}"))),
    }
}

fn bytes<'a>(it: &Item<'a>, what: &str) -> Result<&'a [u8], ParseErrorKind> {
    match it {
        Item::Bytes(b) => Ok(b),
        _ => Err(invalid(format!("{what} is not a byte string"))),
    }
}

fn text<'a>(it: &Item<'a>, what: &str) -> Result<&'a str, ParseErrorKind> {
    match it {
        Item::Text(t) => Ok(t),
        _ => Err(invalid(format!("{what} is not a text string"))),
    }
}

fn record(it: &Item<'_>) -> Result<CelRecord, ParseErrorKind> {
    let e = keyed(
        map(it, "record")?,
        &[
            KEY_RECNUM,
            u64::from(INDEX_PCR),
            u64::from(INDEX_NV),
            u64::from(INDEX_CCMR),
            KEY_DIGESTS,
            KEY_CONTENT_TYPE,
            KEY_CONTENT,
        ],
        "record",
    )?;
    let recnum = uint(get(&e, KEY_RECNUM, "record")?, "recnum", u64::MAX)?;
    let idx: Vec<CelIndex> = e
        .iter()
        .filter_map(|(k, v)| {
            let f: fn(u32) -> CelIndex = match u8::try_from(*k).ok()? {
                INDEX_PCR => CelIndex::Pcr,
                INDEX_NV => CelIndex::NvIndex,
                INDEX_CCMR => CelIndex::CcMr,
                _ => return None,
            };
            Some(uint(v, "index", u64::from(u32::MAX)).map(|n| f(n as u32)))
        })
        .collect::<Result<_, _>>()?;
    let index = match idx.as_slice() {
        [one] => *one,
        [] => return Err(invalid("no index (key 1, 2 or 108)")),
        _ => return Err(invalid("more than one index")),
    };
    let mut digests = Vec::new();
    if let Ok(d) = get(&e, KEY_DIGESTS, "record") {
        let Item::Array(list) = d else {
            return Err(invalid("digests are not an array"));
        };
        for de in list {
            let de = keyed(map(de, "digest")?, &[0, 1], "digest")?;
            let alg = uint(get(&de, 0, "digest")?, "hashAlg", u64::from(u16::MAX))?;
            push_digest(&mut digests, alg, bytes(get(&de, 1, "digest")?, "digest")?)?;
        }
    }
    let content_type = uint(get(&e, KEY_CONTENT_TYPE, "record")?, "content_type", 255)? as u8;
    let content = content(content_type, get(&e, KEY_CONTENT, "record")?)?;
    Ok(CelRecord {
        recnum,
        index,
        digests,
        content,
    })
}

fn content(content_type: u8, c: &Item<'_>) -> Result<Content, ParseErrorKind> {
    Ok(match content_type {
        CONTENT_PCCLIENT_STD => {
            let e = keyed(
                map(c, "pcclient_std content")?,
                &[0, 1],
                "pcclient_std content",
            )?;
            Content::PcClient {
                event_type: uint(
                    get(&e, 0, "pcclient_std")?,
                    "event_type",
                    u64::from(u32::MAX),
                )? as u32,
                event_data: bytes(get(&e, 1, "pcclient_std")?, "event_data")?.to_vec(),
            }
        }
        CONTENT_IMA_TEMPLATE => {
            let e = keyed(
                map(c, "ima_template content")?,
                &[0, 1],
                "ima_template content",
            )?;
            let name = text(get(&e, 0, "ima_template")?, "template_name")?;
            check_template_name(name)?;
            Content::ImaTemplate {
                template_name: name.to_owned(),
                template_data: bytes(get(&e, 1, "ima_template")?, "template_data")?.to_vec(),
            }
        }
        CONTENT_CEL_MGT => {
            let Item::Array(list) = c else {
                return Err(invalid("cel_mgt content is not an array"));
            };
            if list.is_empty() {
                return Err(invalid("no cel_mgt item"));
            }
            let mut items = Vec::with_capacity(list.len());
            for it in list {
                let e = keyed(
                    map(it, "cel_mgt item")?,
                    &[
                        u64::from(MGT_CEL_VERSION),
                        u64::from(MGT_FIRMWARE_END),
                        u64::from(MGT_TIMESTAMP),
                        u64::from(MGT_STATE_TRANS),
                    ],
                    "cel_mgt item",
                )?;
                let [(k, v)] = e.as_slice() else {
                    return Err(invalid("a cel_mgt item map must have one entry"));
                };
                items.push(match u8::try_from(*k).unwrap_or(0) {
                    MGT_CEL_VERSION => {
                        let ve = keyed(map(v, "cel_version")?, &[0, 1], "cel_version")?;
                        MgtItem::CelVersion {
                            major: uint(get(&ve, 0, "cel_version")?, "major", u64::from(u16::MAX))?
                                as u16,
                            minor: uint(get(&ve, 1, "cel_version")?, "minor", u64::from(u16::MAX))?
                                as u16,
                        }
                    }
                    MGT_FIRMWARE_END => match v {
                        Item::Null => MgtItem::FirmwareEnd,
                        _ => return Err(invalid("firmware_end carries data")),
                    },
                    MGT_TIMESTAMP => MgtItem::Timestamp(uint(v, "cel_timestamp", u64::MAX)?),
                    _ => MgtItem::StateTrans(
                        StateTrans::from_value(uint(v, "state_trans", 2)?)
                            .ok_or_else(|| invalid("state_trans"))?,
                    ),
                });
            }
            Content::Mgt(items)
        }
        CONTENT_SYSTEMD => {
            let e = keyed(map(c, "systemd content")?, &[0, 1, 2, 3], "systemd content")?;
            Content::Systemd(SystemdEvent {
                event_type: uint(get(&e, 0, "systemd")?, "event type", 3)? as u8,
                timestamp: uint(get(&e, 1, "systemd")?, "timestamp", u64::MAX)?,
                boot_id: bytes(get(&e, 2, "systemd")?, "boot id")?
                    .try_into()
                    .map_err(|_| invalid("boot id is not 16 bytes"))?,
                string: text(get(&e, 3, "systemd")?, "string")?.to_owned(),
            })
        }
        CONTENT_IMA_TLV => Content::ImaTlv(bytes(c, "ima_tlv content")?.to_vec()),
        other => Content::Other {
            content_type: other,
            data: bytes(c, "content")?.to_vec(),
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

/// Encode records as a CBOR array.
pub fn encode(records: &[CelRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * 200 + 9);
    head(&mut out, 4, records.len() as u64);
    for r in records {
        encode_record(r, &mut out);
    }
    out
}
