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
//! Input is one record, an array of records, or a sequence of records (libcel's
//! `systemd-seq.json`); like json-c (which libcel uses), trailing commas and `//` or `/* */`
//! comments are accepted. A record without `recnum` is numbered by its position. Unknown keys
//! are refused. Errors name the record (its position) and the byte offset, in the input without
//! its comments, of the JSON value that holds it (the array for records inside an array). The
//! writer emits an array with one record per line.

use serde::de::value::MapAccessDeserializer;
use serde::de::{
    Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::{json, Map, Value};

use crate::alg::HashAlg;
use crate::error::{Error, ParseErrorKind};
use crate::log::tcg::EventType;

use super::{
    cel_err, check_template_name, push_digest, CelIndex, CelRecord, Content, Encoding, MgtItem,
    StateTrans, SystemdEvent, CONTENT_CEL_MGT, CONTENT_IMA_TEMPLATE, CONTENT_IMA_TLV,
    CONTENT_PCCLIENT_STD, CONTENT_SYSTEMD, MAX_CEL_VALUE_LEN, MGT_CEL_VERSION, MGT_FIRMWARE_END,
    MGT_STATE_TRANS, MGT_TIMESTAMP, SYSTEMD_EVENT_TYPES,
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

/// Remove `//` and `/* */` comments and commas that directly precede `}` or `]`, outside
/// strings (json-c's relaxed syntax). Byte offsets of what remains shift by the bytes removed.
fn relax(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    let mut in_string = false;
    while let Some(&b) = input.get(i) {
        if in_string {
            out.push(b);
            if b == b'\\' {
                if let Some(&n) = input.get(i + 1) {
                    out.push(n);
                    i += 1;
                }
            } else if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match (b, input.get(i + 1)) {
            (b'"', _) => {
                in_string = true;
                out.push(b);
            }
            (b'/', Some(b'/')) => {
                while input.get(i).is_some_and(|c| *c != b'\n') {
                    i += 1;
                }
                continue;
            }
            (b'/', Some(b'*')) => {
                i += 2;
                while i < input.len()
                    && !(input.get(i) == Some(&b'*') && input.get(i + 1) == Some(&b'/'))
                {
                    i += 1;
                }
                i += 2;
                continue;
            }
            (b'}' | b']', _) => {
                // Drop a comma (and blanks after it) just before the closing bracket.
                let mut j = out.len();
                while j > 0 && out.get(j - 1).is_some_and(|c| c.is_ascii_whitespace()) {
                    j -= 1;
                }
                if j > 0 && out.get(j - 1) == Some(&b',') {
                    out.remove(j - 1);
                }
                out.push(b);
            }
            _ => out.push(b),
        }
        i += 1;
    }
    out
}

/// Decode CEL-JSON (see the module documentation).
pub fn decode(bytes: &[u8]) -> Result<Vec<CelRecord>, Error> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(cel_err(ENC, "log", 0, 0, ParseErrorKind::Empty));
    }
    let relaxed = relax(bytes);
    let mut records = Vec::new();
    // Top-level values are delimited without building them (IgnoredAny), then each is converted
    // record by record as it is read (`RecordSink`): a `Value` tree of a whole array would take
    // 32 bytes per element, 16 times the input for an array of one-digit numbers.
    let mut stream = serde_json::Deserializer::from_slice(&relaxed).into_iter::<IgnoredAny>();
    loop {
        let at = stream.byte_offset();
        let Some(v) = stream.next() else { break };
        let json_err = |e: serde_json::Error, n: usize| {
            cel_err(
                ENC,
                "json",
                at as u64,
                n as u64,
                ParseErrorKind::Invalid(e.to_string()),
            )
        };
        v.map_err(|e| json_err(e, records.len()))?;
        let value = relaxed.get(at..stream.byte_offset()).unwrap_or_default();
        let mut de = serde_json::Deserializer::from_slice(value);
        let sink = RecordSink { out: &mut records };
        match sink.deserialize(&mut de) {
            Ok(None) => {}
            Ok(Some((n, kind))) => return Err(cel_err(ENC, "record", at as u64, n, kind)),
            Err(e) => return Err(json_err(e, records.len())),
        }
    }
    Ok(records)
}

/// Converts one top-level JSON value (a record or an array of records) into records as it is
/// read; the first record that does not convert stops it (the rest of the array is skipped
/// without being built) and is returned with its position.
struct RecordSink<'r> {
    out: &'r mut Vec<CelRecord>,
}

impl RecordSink<'_> {
    fn one<E>(self, v: Value) -> Result<Option<(u64, ParseErrorKind)>, E> {
        let n = self.out.len() as u64;
        match record_from_value(&v, n) {
            Ok(r) => {
                self.out.push(r);
                Ok(None)
            }
            Err(k) => Ok(Some((n, k))),
        }
    }
}

impl<'de> DeserializeSeed<'de> for RecordSink<'_> {
    type Value = Option<(u64, ParseErrorKind)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordSink<'_> {
    type Value = Option<(u64, ParseErrorKind)>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a CEL record or an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while let Some(item) = seq.next_element::<Value>()? {
            let n = self.out.len() as u64;
            match record_from_value(&item, n) {
                Ok(r) => self.out.push(r),
                Err(k) => {
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    return Ok(Some((n, k)));
                }
            }
        }
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let v = Value::deserialize(MapAccessDeserializer::new(map))?;
        self.one(v)
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.one(Value::from(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.one(Value::from(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.one(Value::from(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.one(Value::from(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.one(Value::from(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        self.one(Value::Null)
    }
}

fn invalid(msg: impl Into<String>) -> ParseErrorKind {
    ParseErrorKind::Invalid(msg.into())
}

fn uint(v: &Value, what: &str, max: u64) -> Result<u64, ParseErrorKind> {
    match v.as_u64() {
        Some(n) if n <= max => Ok(n),
        _ => Err(invalid(format!(
            "{what}: {v} is not an integer in 0..={max}"
        ))),
    }
}

fn hex_bytes(v: &Value, what: &str) -> Result<Vec<u8>, ParseErrorKind> {
    let s = v
        .as_str()
        .ok_or_else(|| invalid(format!("{what} is not a hex string")))?;
    if s.len() / 2 > MAX_CEL_VALUE_LEN as usize {
        return Err(ParseErrorKind::LengthTooLarge {
            len: (s.len() / 2) as u64,
            max: u64::from(MAX_CEL_VALUE_LEN),
        });
    }
    hex::decode(s).map_err(|e| invalid(format!("{what}: {e}")))
}

fn field<'v>(m: &'v Map<String, Value>, key: &str) -> Result<&'v Value, ParseErrorKind> {
    m.get(key)
        .ok_or_else(|| invalid(format!("missing {key:?}")))
}

fn only_keys(m: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), ParseErrorKind> {
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(invalid(format!("unknown key {k:?} in {what}"))),
        None => Ok(()),
    }
}

/// One record from a JSON value; `position` numbers records without `recnum`.
pub fn record_from_value(v: &Value, position: u64) -> Result<CelRecord, ParseErrorKind> {
    let m = v
        .as_object()
        .ok_or_else(|| invalid("a record is not a JSON object"))?;
    only_keys(
        m,
        &[
            "recnum",
            "pcr",
            "nv_index",
            "mr_index",
            "digests",
            "content_type",
            "content",
        ],
        "record",
    )?;
    let recnum = match m.get("recnum") {
        Some(r) => uint(r, "recnum", u64::MAX)?,
        None => position,
    };
    let indexes: Vec<CelIndex> = [
        ("pcr", CelIndex::Pcr as fn(u32) -> CelIndex),
        ("nv_index", CelIndex::NvIndex),
        ("mr_index", CelIndex::CcMr),
    ]
    .iter()
    .filter_map(|(k, f)| m.get(*k).map(|v| (k, f, v)))
    .map(|(k, f, v)| uint(v, k, u64::from(u32::MAX)).map(|n| f(n as u32)))
    .collect::<Result<_, _>>()?;
    let index = match indexes.as_slice() {
        [one] => *one,
        [] => return Err(invalid("missing \"pcr\", \"nv_index\" or \"mr_index\"")),
        _ => return Err(invalid("more than one index")),
    };
    let mut digests = Vec::new();
    if let Some(d) = m.get("digests") {
        let list = d
            .as_array()
            .ok_or_else(|| invalid("\"digests\" is not an array"))?;
        for item in list {
            let o = item
                .as_object()
                .ok_or_else(|| invalid("a digest is not an object"))?;
            only_keys(o, &["hashAlg", "digest"], "digest")?;
            let alg = field(o, "hashAlg")?;
            let alg_id = match alg {
                Value::String(s) => u64::from(
                    HashAlg::from_name(s)
                        .ok_or_else(|| ParseErrorKind::UnknownAlgorithm(s.clone()))?
                        .tcg_id(),
                ),
                other => uint(other, "hashAlg", u64::from(u16::MAX))?,
            };
            let bytes = hex_bytes(field(o, "digest")?, "digest")?;
            push_digest(&mut digests, alg_id, &bytes)?;
        }
    }
    let ct = field(m, "content_type")?;
    let content_type = match ct {
        Value::String(s) => CONTENT_NAMES
            .iter()
            .find(|(n, _)| n == s)
            .map(|(_, t)| *t)
            .ok_or_else(|| invalid(format!("unknown content_type {s:?}")))?,
        other => uint(other, "content_type", 255)? as u8,
    };
    let content = content_from_value(content_type, field(m, "content")?)?;
    Ok(CelRecord {
        recnum,
        index,
        digests,
        content,
    })
}

fn content_from_value(content_type: u8, c: &Value) -> Result<Content, ParseErrorKind> {
    let obj = || {
        c.as_object()
            .ok_or_else(|| invalid("\"content\" is not an object"))
    };
    Ok(match content_type {
        CONTENT_PCCLIENT_STD => {
            let m = obj()?;
            only_keys(m, &["event_type", "event_data"], "pcclient_std content")?;
            let event_type = match field(m, "event_type")? {
                Value::String(s) => {
                    EventType::from_name(s)
                        .ok_or_else(|| invalid(format!("unknown event_type {s:?}")))?
                        .0
                }
                other => uint(other, "event_type", u64::from(u32::MAX))? as u32,
            };
            Content::PcClient {
                event_type,
                event_data: hex_bytes(field(m, "event_data")?, "event_data")?,
            }
        }
        CONTENT_IMA_TEMPLATE => {
            let m = obj()?;
            only_keys(
                m,
                &["template_name", "template_data"],
                "ima_template content",
            )?;
            let name = field(m, "template_name")?
                .as_str()
                .ok_or_else(|| invalid("template_name is not a string"))?;
            check_template_name(name)?;
            Content::ImaTemplate {
                template_name: name.to_owned(),
                template_data: hex_bytes(field(m, "template_data")?, "template_data")?,
            }
        }
        CONTENT_CEL_MGT => {
            let items = match c {
                Value::Array(a) => a.iter().map(mgt_item).collect::<Result<Vec<_>, _>>()?,
                Value::Object(_) => vec![mgt_item(c)?],
                _ => return Err(invalid("cel content is neither an object nor an array")),
            };
            if items.is_empty() {
                return Err(invalid("no cel_mgt item"));
            }
            Content::Mgt(items)
        }
        CONTENT_SYSTEMD => {
            let m = obj()?;
            only_keys(
                m,
                &["eventType", "bootId", "timestamp", "string"],
                "systemd content",
            )?;
            let event_type = match field(m, "eventType")? {
                Value::String(s) => SYSTEMD_EVENT_TYPES
                    .iter()
                    .position(|n| n == s)
                    .ok_or_else(|| invalid(format!("unknown systemd eventType {s:?}")))?
                    as u8,
                other => uint(other, "eventType", 3)? as u8,
            };
            let boot_id: [u8; 16] = hex_bytes(field(m, "bootId")?, "bootId")?
                .try_into()
                .map_err(|_| invalid("bootId is not 16 bytes"))?;
            Content::Systemd(SystemdEvent {
                event_type,
                timestamp: uint(field(m, "timestamp")?, "timestamp", u64::MAX)?,
                boot_id,
                string: field(m, "string")?
                    .as_str()
                    .ok_or_else(|| invalid("string is not a string"))?
                    .to_owned(),
            })
        }
        CONTENT_IMA_TLV => Content::ImaTlv(hex_bytes(c, "content")?),
        other => Content::Other {
            content_type: other,
            data: hex_bytes(c, "content")?,
        },
    })
}

fn mgt_item(v: &Value) -> Result<MgtItem, ParseErrorKind> {
    let m = v
        .as_object()
        .ok_or_else(|| invalid("a cel item is not an object"))?;
    only_keys(m, &["type", "data"], "cel item")?;
    let typ = match field(m, "type")? {
        Value::String(s) => match s.as_str() {
            "cel_version" => MGT_CEL_VERSION,
            "firmware_end" => MGT_FIRMWARE_END,
            "cel_timestamp" => MGT_TIMESTAMP,
            "state_trans" => MGT_STATE_TRANS,
            other => return Err(invalid(format!("unknown cel item type {other:?}"))),
        },
        other => uint(other, "type", 255)? as u8,
    };
    let data = || field(m, "data");
    Ok(match typ {
        MGT_CEL_VERSION => {
            let d = data()?
                .as_object()
                .ok_or_else(|| invalid("cel_version data is not an object"))?;
            only_keys(d, &["major", "minor"], "cel_version")?;
            MgtItem::CelVersion {
                major: uint(field(d, "major")?, "major", u64::from(u16::MAX))? as u16,
                minor: uint(field(d, "minor")?, "minor", u64::from(u16::MAX))? as u16,
            }
        }
        MGT_FIRMWARE_END => {
            if m.contains_key("data") {
                return Err(invalid("firmware_end carries data"));
            }
            MgtItem::FirmwareEnd
        }
        MGT_TIMESTAMP => MgtItem::Timestamp(uint(data()?, "cel_timestamp", u64::MAX)?),
        MGT_STATE_TRANS => MgtItem::StateTrans(match data()? {
            Value::String(s) => StateTrans::from_name(s)
                .ok_or_else(|| invalid(format!("unknown state_trans {s:?}")))?,
            other => StateTrans::from_value(uint(other, "state_trans", 2)?)
                .ok_or_else(|| invalid("state_trans"))?,
        }),
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

/// Encode records as a CEL-JSON array, one record per line.
pub fn encode(records: &[CelRecord]) -> Vec<u8> {
    let mut out = String::with_capacity(records.len() * 400 + 4);
    out.push('[');
    for (i, r) in records.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        write_record(r, &mut out);
    }
    out.push_str("\n]\n");
    out.into_bytes()
}
