//! CEL-JSON in libcel's dialect:
//!
//! ```text
//! {"recnum": 1, "pcr": 10 | "nv_index": n | "mr_index": n,
//!  "digests": [{"hashAlg": "sha256" | 11, "digest": "<hex>"}],
//!  "content_type": "pcclient_std" | 5, "content": {...}}
//! ```
//! Contents: `pcclient_std` `{"event_type": "ev_separator" | 4, "event_data": "<hex>"}`;
//! `ima_template` `{"template_name": "...", "template_data": "<hex>"}`; `cel` (cel_mgt)
//! `{"type": "cel_version" | 1, "data": {"major": .., "minor": ..}}` or an array of such items
//! (`firmware_end` without data, `cel_timestamp` with a number, `state_trans` with
//! `"suspend" | "hibernate" | "kexec"` or 0..=2); `systemd` `{"eventType": "phase" | 0..=3,
//! "bootId": "<32 hex>", "timestamp": n, "string": "..."}`; `ima_tlv` and other types: a hex
//! string. `mr_index` (a CC measurement-register index) is mr's name for go-tpm-tools' TLV
//! index type 108.
//!
//! Input is one record, an array of records, or a sequence of records and arrays of records
//! (libcel's `systemd-seq.json`); like json-c (which libcel uses), trailing commas and `//` or
//! `/* */` comments are accepted. A record without `recnum` is numbered by its position.
//! Unknown keys are refused, and so is `null` for a record number or an index.
//!
//! The reader streams: it scans the input once, copies one record object's text at a time
//! (comments and blanks outside strings squeezed to one space, at most twice
//! [`MAX_CEL_RECORD_LEN`]) and deserializes that text into borrowed typed fields (no `Value`
//! tree, never the whole input). Errors name the record (its position) and the byte offset of
//! its `{` in the input. The writer ([`super::CelWriter`]) emits an array with one record per
//! line.

use std::borrow::Cow;

use std::io::BufRead;

use serde::de::{Deserialize, Deserializer, Visitor};
use serde::Deserialize as DeriveDeserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::alg::HashAlg;
use crate::error::{Error, ParseErrorKind};
use crate::hexdigits::{self, HexCase};
use crate::log::tcg::EventType;

use super::tlv::KEEP_BUFFER;
use super::{
    cel_err, check_template_name, push_digest, CelIndex, CelRecord, Content, Encoding, MgtItem,
    StateTrans, SystemdEvent, CONTENT_CEL_MGT, CONTENT_IMA_TEMPLATE, CONTENT_IMA_TLV,
    CONTENT_PCCLIENT_STD, CONTENT_SYSTEMD, MAX_CEL_RECORD_LEN, MAX_CEL_VALUE_LEN, MGT_CEL_VERSION,
    MGT_FIRMWARE_END, MGT_STATE_TRANS, MGT_TIMESTAMP, SYSTEMD_EVENT_TYPES,
};

const ENC: Encoding = Encoding::Json;

/// Content type names of CEL-JSON.
const CONTENT_NAMES: [(&str, u8); 5] = [
    ("cel", CONTENT_CEL_MGT),
    ("pcclient_std", CONTENT_PCCLIENT_STD),
    ("ima_template", CONTENT_IMA_TEMPLATE),
    ("ima_tlv", CONTENT_IMA_TLV),
    ("systemd", CONTENT_SYSTEMD),
];

/// Largest record text held (comments removed, blanks squeezed): CEL-JSON spells bytes in hex.
const MAX_RECORD_TEXT: u64 = 2 * MAX_CEL_RECORD_LEN;

/// Read CEL-JSON (see the module documentation) record by record: each record object's text is
/// copied into one buffer, with comments and blanks outside strings reduced to one space and
/// commas before `}` or `]` dropped (json-c's relaxed syntax), and decoded there; `visit` gets
/// each record with the byte offset of its `{` in the input.
pub(crate) fn read<R: BufRead>(
    input: R,
    visit: &mut dyn FnMut(u64, CelRecord) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut s = Scanner {
        input,
        offset: 0,
        text: Vec::new(),
        record: 0,
    };
    let mut any = false;
    loop {
        s.skip_blank()?;
        let Some(b) = s.peek()? else { break };
        any = true;
        if b != b'[' {
            s.record(visit)?;
            continue;
        }
        let open = s.offset;
        s.bump();
        loop {
            s.skip_blank()?;
            if s.peek()? == Some(b']') {
                s.bump();
                break;
            }
            s.record(visit)?;
            s.skip_blank()?;
            match s.peek()? {
                Some(b',') => s.bump(),
                Some(b']') => {
                    s.bump();
                    break;
                }
                None => {
                    return Err(s.err(open, invalid("the input ends inside the array of records")))
                }
                Some(other) => {
                    return Err(s.err(
                        s.offset,
                        invalid(format!(
                            "{:?} after a record (expected \",\" or \"]\")",
                            char::from(other)
                        )),
                    ))
                }
            }
        }
    }
    if !any {
        return Err(cel_err(ENC, "log", 0, 0, ParseErrorKind::Empty));
    }
    Ok(())
}

/// The streaming CEL-JSON reader's state.
struct Scanner<R> {
    input: R,
    /// Offset in the input of the next byte.
    offset: u64,
    /// The text of the record being read.
    text: Vec<u8>,
    /// Position of the record being read.
    record: u64,
}

impl<R: BufRead> Scanner<R> {
    fn err(&self, at: u64, kind: ParseErrorKind) -> Error {
        cel_err(ENC, "record", at, self.record, kind)
    }

    fn peek(&mut self) -> Result<Option<u8>, Error> {
        loop {
            match self.input.fill_buf() {
                Ok(b) => return Ok(b.first().copied()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn bump(&mut self) {
        self.input.consume(1);
        self.offset += 1;
    }

    /// Skip blanks and comments between records.
    fn skip_blank(&mut self) -> Result<(), Error> {
        while let Some(b) = self.peek()? {
            if b == b'/' {
                self.bump();
                self.comment()?;
            } else if b.is_ascii_whitespace() {
                self.bump();
            } else {
                break;
            }
        }
        Ok(())
    }

    /// After a `/`: skip a `//` or `/* */` comment and return true, or return false (a lone
    /// `/`, left to the JSON parser to refuse).
    fn comment(&mut self) -> Result<bool, Error> {
        match self.peek()? {
            Some(b'/') => {
                while let Some(b) = self.peek()? {
                    if b == b'\n' {
                        break;
                    }
                    self.bump();
                }
                Ok(true)
            }
            Some(b'*') => {
                self.bump();
                let mut star = false;
                while let Some(b) = self.peek()? {
                    self.bump();
                    if star && b == b'/' {
                        return Ok(true);
                    }
                    star = b == b'*';
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn push(&mut self, b: u8, start: u64) -> Result<(), Error> {
        self.text.push(b);
        self.check_len(start)
    }

    fn check_len(&self, start: u64) -> Result<(), Error> {
        if self.text.len() as u64 > MAX_RECORD_TEXT {
            return Err(self.err(
                start,
                ParseErrorKind::LengthTooLarge {
                    len: self.text.len() as u64,
                    max: MAX_RECORD_TEXT,
                },
            ));
        }
        Ok(())
    }

    /// Read one record object and give it to `visit`.
    fn record(
        &mut self,
        visit: &mut dyn FnMut(u64, CelRecord) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let start = self.offset;
        if self.peek()? != Some(b'{') {
            return Err(self.err(start, invalid("a record must be a JSON object")));
        }
        self.text.clear();
        let mut depth = 0u64;
        while depth > 0 || self.text.is_empty() {
            let Some(b) = self.peek()? else {
                return Err(self.err(start, invalid("the input ends inside a record")));
            };
            self.bump();
            match b {
                b'"' => {
                    self.push(b, start)?;
                    self.string(start)?;
                }
                b'{' | b'[' => {
                    depth += 1;
                    self.push(b, start)?;
                }
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if self.text.last() == Some(&b' ') {
                        self.text.pop();
                    }
                    if self.text.last() == Some(&b',') {
                        self.text.pop();
                    }
                    self.push(b, start)?;
                }
                b'/' => {
                    if !self.comment()? {
                        self.push(b, start)?;
                    } else if self.text.last() != Some(&b' ') {
                        self.push(b' ', start)?;
                    }
                }
                b if b.is_ascii_whitespace() => {
                    if self.text.last() != Some(&b' ') {
                        self.push(b' ', start)?;
                    }
                }
                b => self.push(b, start)?,
            }
        }
        let n = self.record;
        let text = std::str::from_utf8(&self.text)
            .map_err(|_| self.err(start, ParseErrorKind::InvalidUtf8))?;
        let r = record_from_str(text, n).map_err(|k| self.err(start, k))?;
        visit(start, r)?;
        self.record += 1;
        if self.text.capacity() > KEEP_BUFFER {
            self.text = Vec::new();
        }
        Ok(())
    }

    /// Copy the rest of a string (after its opening quote) up to its closing quote.
    fn string(&mut self, start: u64) -> Result<(), Error> {
        loop {
            let buf = loop {
                match self.input.fill_buf() {
                    Ok(b) => break b,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            };
            if buf.is_empty() {
                return Err(self.err(start, invalid("the input ends inside a string")));
            }
            let stop = buf.iter().position(|b| *b == b'"' || *b == b'\\');
            let n = stop.map_or(buf.len(), |i| i + 1);
            let last = buf.get(n - 1).copied();
            self.text
                .extend_from_slice(buf.get(..n).unwrap_or_default());
            self.input.consume(n);
            self.offset += n as u64;
            self.check_len(start)?;
            match (stop, last) {
                (Some(_), Some(b'"')) => return Ok(()),
                (Some(_), _) => {
                    // A backslash: copy the escaped byte as it is.
                    let Some(e) = self.peek()? else { continue };
                    self.bump();
                    self.push(e, start)?;
                }
                _ => {}
            }
        }
    }
}

fn invalid(msg: impl Into<String>) -> ParseErrorKind {
    ParseErrorKind::Invalid(msg.into())
}

fn serde_err(e: serde_json::Error) -> ParseErrorKind {
    invalid(e.to_string())
}

/// A JSON number or string (names and numbers are both allowed for types and algorithms).
enum NumOrStr<'a> {
    Num(u64),
    Str(Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for NumOrStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = NumOrStr<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a non-negative integer or a name")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(NumOrStr::Num(v))
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(NumOrStr::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(NumOrStr::Str(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl NumOrStr<'_> {
    /// The number, bounded by `max`, or the value `by_name` gives the name.
    fn resolve(
        &self,
        what: &str,
        max: u64,
        by_name: impl Fn(&str) -> Option<u64>,
    ) -> Result<u64, ParseErrorKind> {
        match self {
            NumOrStr::Num(n) if *n <= max => Ok(*n),
            NumOrStr::Num(n) => Err(invalid(format!("{what}: {n} is not in 0..={max}"))),
            NumOrStr::Str(s) => by_name(s).ok_or_else(|| invalid(format!("unknown {what} {s:?}"))),
        }
    }
}

/// A present field must not be `null` (`Option` alone would take `null` for absent).
fn some_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    u64::deserialize(d).map(Some)
}

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields)]
struct RecordJ<'a> {
    #[serde(default, deserialize_with = "some_u64")]
    recnum: Option<u64>,
    #[serde(default, deserialize_with = "some_u64")]
    pcr: Option<u64>,
    #[serde(default, deserialize_with = "some_u64")]
    nv_index: Option<u64>,
    #[serde(default, deserialize_with = "some_u64")]
    mr_index: Option<u64>,
    #[serde(borrow, default)]
    digests: Option<Vec<DigestJ<'a>>>,
    #[serde(borrow)]
    content_type: Option<NumOrStr<'a>>,
    #[serde(borrow)]
    content: Option<&'a RawValue>,
}

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields)]
struct DigestJ<'a> {
    #[serde(borrow, rename = "hashAlg")]
    hash_alg: NumOrStr<'a>,
    #[serde(borrow)]
    digest: Cow<'a, str>,
}

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields)]
struct PcClientJ<'a> {
    #[serde(borrow)]
    event_type: NumOrStr<'a>,
    #[serde(borrow)]
    event_data: Cow<'a, str>,
}

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields)]
struct ImaTemplateJ<'a> {
    #[serde(borrow)]
    template_name: Cow<'a, str>,
    #[serde(borrow)]
    template_data: Cow<'a, str>,
}

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields)]
struct SystemdJ<'a> {
    #[serde(borrow, rename = "eventType")]
    event_type: NumOrStr<'a>,
    #[serde(borrow, rename = "bootId")]
    boot_id: Cow<'a, str>,
    timestamp: u64,
    #[serde(borrow)]
    string: Cow<'a, str>,
}

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields)]
struct MgtJ<'a> {
    #[serde(borrow, rename = "type")]
    typ: NumOrStr<'a>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields)]
struct CelVersionJ {
    major: u64,
    minor: u64,
}

fn hex_bytes(s: &str, what: &str) -> Result<Vec<u8>, ParseErrorKind> {
    let b = s.as_bytes();
    if b.len() / 2 > MAX_CEL_VALUE_LEN as usize {
        return Err(ParseErrorKind::LengthTooLarge {
            len: (b.len() / 2) as u64,
            max: u64::from(MAX_CEL_VALUE_LEN),
        });
    }
    if !b.len().is_multiple_of(2) {
        return Err(invalid(format!("{what}: odd number of hex digits")));
    }
    let mut out = vec![0u8; b.len() / 2];
    if !hexdigits::decode_into(b, &mut out, HexCase::Any) {
        let at = hexdigits::first_invalid(b, HexCase::Any).unwrap_or(0);
        return Err(invalid(format!(
            "{what}: invalid hex digit at position {at}"
        )));
    }
    Ok(out)
}

fn from_raw<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Result<T, ParseErrorKind> {
    serde_json::from_str(raw.get()).map_err(serde_err)
}

/// One record from its JSON text; `position` numbers records without `recnum`.
pub fn record_from_str(text: &str, position: u64) -> Result<CelRecord, ParseErrorKind> {
    let r: RecordJ<'_> = serde_json::from_str(text).map_err(serde_err)?;
    let recnum = r.recnum.unwrap_or(position);
    let max = u64::from(u32::MAX);
    let index = match (r.pcr, r.nv_index, r.mr_index) {
        (Some(v), None, None) if v <= max => CelIndex::Pcr(v as u32),
        (None, Some(v), None) if v <= max => CelIndex::NvIndex(v as u32),
        (None, None, Some(v)) if v <= max => CelIndex::CcMr(v as u32),
        (None, None, None) => return Err(invalid("missing \"pcr\", \"nv_index\" or \"mr_index\"")),
        (Some(_), None, None) | (None, Some(_), None) | (None, None, Some(_)) => {
            return Err(invalid(format!("index above {max}")))
        }
        _ => return Err(invalid("more than one index")),
    };
    let mut digests = Vec::new();
    for d in r.digests.iter().flatten() {
        let alg_id = match &d.hash_alg {
            NumOrStr::Num(n) => *n,
            NumOrStr::Str(s) => u64::from(
                HashAlg::from_name(s)
                    .ok_or_else(|| ParseErrorKind::UnknownAlgorithm(s.to_string()))?
                    .tcg_id(),
            ),
        };
        push_digest(&mut digests, alg_id, &hex_bytes(&d.digest, "digest")?)?;
    }
    let content_type = r
        .content_type
        .ok_or_else(|| invalid("missing \"content_type\""))?
        .resolve("content_type", 255, |s| {
            CONTENT_NAMES
                .iter()
                .find(|(n, _)| *n == s)
                .map(|(_, t)| u64::from(*t))
        })? as u8;
    let raw = r.content.ok_or_else(|| invalid("missing \"content\""))?;
    Ok(CelRecord {
        recnum,
        index,
        digests,
        content: content_from_raw(content_type, raw)?,
    })
}

/// One record from a JSON value (as [`record_from_str`] of its text).
pub fn record_from_value(v: &Value, position: u64) -> Result<CelRecord, ParseErrorKind> {
    record_from_str(&v.to_string(), position)
}

fn content_from_raw(content_type: u8, raw: &RawValue) -> Result<Content, ParseErrorKind> {
    Ok(match content_type {
        CONTENT_PCCLIENT_STD => {
            let c: PcClientJ<'_> = from_raw(raw)?;
            let event_type = c
                .event_type
                .resolve("event_type", u64::from(u32::MAX), |s| {
                    EventType::from_name(s).map(|t| u64::from(t.0))
                })? as u32;
            Content::PcClient {
                event_type,
                event_data: hex_bytes(&c.event_data, "event_data")?,
            }
        }
        CONTENT_IMA_TEMPLATE => {
            let c: ImaTemplateJ<'_> = from_raw(raw)?;
            check_template_name(&c.template_name)?;
            Content::ImaTemplate {
                template_name: c.template_name.into_owned(),
                template_data: hex_bytes(&c.template_data, "template_data")?,
            }
        }
        CONTENT_CEL_MGT => {
            let items: Vec<MgtJ<'_>> = if raw.get().trim_start().starts_with('[') {
                from_raw(raw)?
            } else {
                vec![from_raw(raw)?]
            };
            if items.is_empty() {
                return Err(invalid("no cel_mgt item"));
            }
            Content::Mgt(items.iter().map(mgt_item).collect::<Result<_, _>>()?)
        }
        CONTENT_SYSTEMD => {
            let c: SystemdJ<'_> = from_raw(raw)?;
            let event_type = c.event_type.resolve("systemd eventType", 3, |s| {
                SYSTEMD_EVENT_TYPES
                    .iter()
                    .position(|n| *n == s)
                    .map(|p| p as u64)
            })? as u8;
            let boot_id: [u8; 16] = hex_bytes(&c.boot_id, "bootId")?
                .try_into()
                .map_err(|_| invalid("bootId is not 16 bytes"))?;
            Content::Systemd(SystemdEvent {
                event_type,
                timestamp: c.timestamp,
                boot_id,
                string: c.string.into_owned(),
            })
        }
        CONTENT_IMA_TLV => Content::ImaTlv(hex_bytes(&from_raw::<Cow<'_, str>>(raw)?, "content")?),
        other => Content::Other {
            content_type: other,
            data: hex_bytes(&from_raw::<Cow<'_, str>>(raw)?, "content")?,
        },
    })
}

fn mgt_item(it: &MgtJ<'_>) -> Result<MgtItem, ParseErrorKind> {
    let typ = it.typ.resolve("cel item type", 255, |s| {
        Some(u64::from(match s {
            "cel_version" => MGT_CEL_VERSION,
            "firmware_end" => MGT_FIRMWARE_END,
            "cel_timestamp" => MGT_TIMESTAMP,
            "state_trans" => MGT_STATE_TRANS,
            _ => return None,
        }))
    })? as u8;
    let data = || it.data.ok_or_else(|| invalid("missing \"data\""));
    Ok(match typ {
        MGT_CEL_VERSION => {
            let v: CelVersionJ = from_raw(data()?)?;
            let max = u64::from(u16::MAX);
            if v.major > max || v.minor > max {
                return Err(invalid(format!("cel_version above {max}")));
            }
            MgtItem::CelVersion {
                major: v.major as u16,
                minor: v.minor as u16,
            }
        }
        MGT_FIRMWARE_END => {
            if it.data.is_some() {
                return Err(invalid("firmware_end carries data"));
            }
            MgtItem::FirmwareEnd
        }
        MGT_TIMESTAMP => MgtItem::Timestamp(from_raw::<u64>(data()?)?),
        MGT_STATE_TRANS => {
            let v: NumOrStr<'_> = from_raw(data()?)?;
            let n = v.resolve("state_trans", 2, |s| {
                StateTrans::from_name(s).map(|t| u64::from(t.value()))
            })?;
            MgtItem::StateTrans(StateTrans::from_value(n).ok_or_else(|| invalid("state_trans"))?)
        }
        other => return Err(invalid(format!("unknown cel item type {other}"))),
    })
}

fn content_name(t: u8) -> Value {
    CONTENT_NAMES
        .iter()
        .find(|(_, n)| *n == t)
        .map_or_else(|| json!(t), |(s, _)| json!(s))
}

fn mgt_value(it: &MgtItem) -> Value {
    match it {
        MgtItem::CelVersion { major, minor } => {
            json!({"type": "cel_version", "data": {"major": major, "minor": minor}})
        }
        MgtItem::FirmwareEnd => json!({"type": "firmware_end"}),
        MgtItem::Timestamp(t) => json!({"type": "cel_timestamp", "data": t}),
        MgtItem::StateTrans(s) => json!({"type": "state_trans", "data": s.name()}),
    }
}

/// One record as a JSON value.
pub fn record_to_value(r: &CelRecord) -> Value {
    let mut m = Map::new();
    m.insert("recnum".into(), json!(r.recnum));
    let (k, v) = match r.index {
        CelIndex::Pcr(v) => ("pcr", v),
        CelIndex::NvIndex(v) => ("nv_index", v),
        CelIndex::CcMr(v) => ("mr_index", v),
    };
    m.insert(k.into(), json!(v));
    m.insert(
        "digests".into(),
        Value::Array(
            r.digests
                .iter()
                .map(|d| json!({"hashAlg": d.alg().name(), "digest": d.to_hex()}))
                .collect(),
        ),
    );
    m.insert(
        "content_type".into(),
        content_name(r.content.content_type()),
    );
    m.insert("content".into(), content_value(&r.content));
    Value::Object(m)
}

/// The `content` member of a record.
fn content_value(c: &Content) -> Value {
    match c {
        Content::PcClient {
            event_type,
            event_data,
        } => {
            let et = match EventType(*event_type).name() {
                Some(n) => json!(n.to_ascii_lowercase()),
                None => json!(event_type),
            };
            json!({"event_type": et, "event_data": hex::encode(event_data)})
        }
        Content::ImaTemplate {
            template_name,
            template_data,
        } => json!({"template_name": template_name, "template_data": hex::encode(template_data)}),
        Content::Mgt(items) => match items.as_slice() {
            [one] => mgt_value(one),
            many => Value::Array(many.iter().map(mgt_value).collect()),
        },
        Content::Systemd(s) => json!({
            "eventType": SYSTEMD_EVENT_TYPES.get(usize::from(s.event_type)).map_or_else(|| json!(s.event_type), |n| json!(n)),
            "bootId": hex::encode(s.boot_id),
            "timestamp": s.timestamp,
            "string": s.string,
        }),
        Content::ImaTlv(d) | Content::Other { data: d, .. } => json!(hex::encode(d)),
    }
}

/// Append `s` as a JSON string.
fn push_json_str(out: &mut String, s: &str) {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&Value::String(s.to_owned()).to_string());
    }
}

/// Append `bytes` as a JSON string of lowercase hex.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2 + 2);
    out.push('"');
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out.push('"');
}

/// Append one record as compact JSON (keys in the order recnum, index, digests,
/// content_type, content). [`record_to_value`] gives the same record as a [`Value`].
pub fn write_record(r: &CelRecord, out: &mut String) {
    use std::fmt::Write as _;
    let (k, v) = match r.index {
        CelIndex::Pcr(v) => ("pcr", v),
        CelIndex::NvIndex(v) => ("nv_index", v),
        CelIndex::CcMr(v) => ("mr_index", v),
    };
    let _ = write!(out, "{{\"recnum\":{},\"{k}\":{v},\"digests\":[", r.recnum);
    for (i, d) in r.digests.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"hashAlg\":\"{}\",\"digest\":", d.alg().name());
        push_hex(out, d.as_bytes());
        out.push('}');
    }
    out.push_str("],\"content_type\":");
    out.push_str(&content_name(r.content.content_type()).to_string());
    out.push_str(",\"content\":");
    match &r.content {
        Content::ImaTemplate {
            template_name,
            template_data,
        } => {
            out.push_str("{\"template_name\":");
            push_json_str(out, template_name);
            out.push_str(",\"template_data\":");
            push_hex(out, template_data);
            out.push('}');
        }
        Content::PcClient {
            event_type,
            event_data,
        } => {
            out.push_str("{\"event_type\":");
            match EventType(*event_type).name() {
                Some(n) => push_json_str(out, &n.to_ascii_lowercase()),
                None => {
                    let _ = write!(out, "{event_type}");
                }
            }
            out.push_str(",\"event_data\":");
            push_hex(out, event_data);
            out.push('}');
        }
        Content::ImaTlv(d) | Content::Other { data: d, .. } => push_hex(out, d),
        other => out.push_str(&content_value(other).to_string()),
    }
    out.push('}');
}
