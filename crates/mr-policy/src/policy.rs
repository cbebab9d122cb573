//! keylime's runtime policy, format version 1: reading, schema validation, compiled excludes.
//!
//! The schema is keylime's `RUNTIME_POLICY_SCHEMA` (`keylime/ima/ima.py`) and, for the string
//! `verification-keys`, its `IMA_KEYRING_JSON_SCHEMA` (`keylime/ima/file_signatures.py`); the
//! checks here are written from those schemas. See `docs/appraisal.md`.

use base64::Engine;
use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value};

use crate::dsse::DsseKey;
use crate::error::PolicyError;
use crate::keys::ImaKey;
use crate::table::DigestTable;

/// Largest runtime policy document accepted (256 MiB; a policy of a million paths with SHA-256
/// digests is about 150 MB).
pub const MAX_POLICY_LEN: u64 = 256 << 20;

/// Most digests accepted in one policy (all of `digests`, `keyrings` and `ima-buf` together).
pub const MAX_DIGESTS: usize = 16 << 20;

/// Longest exclude pattern, in bytes.
pub const MAX_EXCLUDE_LEN: usize = 64 << 10;

/// Size limit of the compiled exclude expression (the `regex` crate's `size_limit`); a pattern
/// that compiles to more is a [`PolicyError::Exclude`]. Matching is linear in the path's length
/// whatever the pattern (the `regex` crate has no backtracking), so no pattern can make
/// appraisal slow.
pub const MAX_REGEX_SIZE: usize = 32 << 20;

/// The format version this implementation reads (keylime's `RUNTIME_POLICY_CURRENT_VERSION`).
const SUPPORTED_VERSION: u64 = 1;

/// Highest `meta.generator` value of keylime's `RUNTIME_POLICY_GENERATOR` enum.
const MAX_GENERATOR: u64 = 3;

/// A validated runtime policy, ready for appraisal.
#[derive(Debug)]
pub struct RuntimePolicy {
    pub(crate) digests: DigestTable,
    pub(crate) keyrings: DigestTable,
    pub(crate) ima_buf: DigestTable,
    pub(crate) excludes: Vec<String>,
    pub(crate) exclude_regex: Option<Regex>,
    pub(crate) ignored_keyrings: Vec<String>,
    pub(crate) log_hash_alg: String,
    pub(crate) verification_keys: Vec<(u32, ImaKey)>,
    release: u64,
    generator: u64,
}

impl RuntimePolicy {
    /// Parse and validate a plain policy (not a DSSE envelope: see
    /// [`RuntimePolicy::from_json_signed`]). Any deviation from the schema is an error; nothing
    /// is silently dropped.
    pub fn from_json(bytes: &[u8]) -> Result<RuntimePolicy, PolicyError> {
        RuntimePolicy::from_json_signed(bytes, None)
    }

    /// Parse and validate a policy. With `key`, the document must be a DSSE envelope with a
    /// signature that verifies with `key`, and its payload is the policy; without, it must be a
    /// plain policy: an envelope whose signature nobody checks is refused, never read.
    pub fn from_json_signed(
        bytes: &[u8],
        key: Option<&DsseKey>,
    ) -> Result<RuntimePolicy, PolicyError> {
        check_len(bytes.len())?;
        check_object(bytes)?;
        // One pass: an envelope's `payload` and the policy's properties (a plain policy is read
        // straight into its tables; everything else is skipped unparsed).
        let doc: RawPolicy = parse(bytes)?;
        let envelope = dsse_payload(doc.payload.as_ref())?.is_some();
        match (envelope, key) {
            (true, Some(key)) => {
                drop(doc);
                let payload = crate::dsse::verified_payload(bytes, key)?;
                check_len(payload.len())?;
                check_object(&payload)?;
                RuntimePolicy::from_raw(parse(&payload)?)
            }
            (true, None) => Err(PolicyError::Envelope(
                "the runtime policy is a DSSE envelope: give the signer's key \
                 (--runtime-policy-key) so that its signature is verified; mr does not read \
                 an envelope unverified"
                    .into(),
            )),
            (false, Some(_)) => Err(PolicyError::Envelope(
                "a runtime policy key was given but the policy is not a DSSE envelope".into(),
            )),
            (false, None) => RuntimePolicy::from_raw(doc),
        }
    }

    /// Validate an already parsed policy document.
    pub fn from_value(value: Value) -> Result<RuntimePolicy, PolicyError> {
        if !value.is_object() {
            return Err(schema("", "not an object"));
        }
        let raw: RawPolicy = serde_json::from_value(value).map_err(json_error)?;
        RuntimePolicy::from_raw(raw)
    }

    /// Validate a read document; the `payload` of an envelope is not looked at here.
    fn from_raw(raw: RawPolicy) -> Result<RuntimePolicy, PolicyError> {
        // keylime's required properties, in its schema's order.
        let meta_value = required(raw.meta, "meta")?;
        let release_value = required(raw.release, "release")?;
        let digests = required(raw.digests, "digests")?;
        let excludes_value = required(raw.excludes, "excludes")?;
        let keyrings = required(raw.keyrings, "keyrings")?;
        let ima_value = required(raw.ima, "ima")?;
        let ima_buf = required(raw.ima_buf, "ima-buf")?;
        let verification_keys_value = required(raw.verification_keys, "verification-keys")?;
        let (version, generator) = meta(Some(&meta_value))?;
        if version != SUPPORTED_VERSION {
            return Err(PolicyError::Version(version));
        }
        let release = non_negative(Some(&release_value), "/release")?;
        let total = digests.count() + keyrings.count() + ima_buf.count();
        if total > MAX_DIGESTS {
            return Err(schema(
                "/",
                &format!("more than {MAX_DIGESTS} digests in the policy"),
            ));
        }
        let excludes = strings(Some(excludes_value), "/excludes")?;
        let exclude_regex = compile_excludes(&excludes)?;
        let Value::Object(ima) = ima_value else {
            return Err(schema("/ima", "not an object"));
        };
        for key in ["ignored_keyrings", "log_hash_alg", "dm_policy"] {
            if !ima.contains_key(key) {
                return Err(schema(
                    "/ima",
                    &format!("required property {key:?} is missing"),
                ));
            }
        }
        let ignored_keyrings = strings(
            ima.get("ignored_keyrings").cloned(),
            "/ima/ignored_keyrings",
        )?;
        let log_hash_alg = match ima.get("log_hash_alg") {
            Some(Value::String(s))
                if ["sha1", "sha256", "sha384", "sha512"].contains(&s.as_str()) =>
            {
                s.clone()
            }
            _ => {
                return Err(schema(
                    "/ima/log_hash_alg",
                    "not one of sha1, sha256, sha384, sha512",
                ))
            }
        };
        if !matches!(ima.get("dm_policy"), Some(Value::Null)) {
            return Err(schema("/ima/dm_policy", "must be null"));
        }
        let verification_keys = match &verification_keys_value {
            Value::String(s) => verification_keys(s)?,
            _ => return Err(schema("/verification-keys", "not a string")),
        };
        Ok(RuntimePolicy {
            digests,
            keyrings,
            ima_buf,
            excludes,
            exclude_regex,
            ignored_keyrings,
            log_hash_alg,
            verification_keys,
            release,
            generator,
        })
    }

    /// Read a policy file (at most [`MAX_POLICY_LEN`] bytes; the length is checked before the
    /// file is read), a DSSE envelope verified with `key` or a plain policy without (see
    /// [`RuntimePolicy::from_json_signed`]).
    pub fn from_file(
        path: &std::path::Path,
        key: Option<&DsseKey>,
    ) -> Result<RuntimePolicy, PolicyError> {
        let bytes = crate::read_bounded(path, "runtime policy", MAX_POLICY_LEN)?;
        RuntimePolicy::from_json_signed(&bytes, key)
    }

    /// `release`.
    pub fn release(&self) -> u64 {
        self.release
    }

    /// `meta.generator` (keylime's `RUNTIME_POLICY_GENERATOR`).
    pub fn generator(&self) -> u64 {
        self.generator
    }

    /// The exclude patterns as written.
    pub fn excludes(&self) -> &[String] {
        &self.excludes
    }

    /// `ima.log_hash_alg` (kept for compatibility; mr checks template digests in the list's own
    /// column algorithm).
    pub fn log_hash_alg(&self) -> &str {
        &self.log_hash_alg
    }

    /// Number of paths in `digests`.
    pub fn paths(&self) -> usize {
        self.digests.len()
    }

    /// True when `path` matches an exclude pattern (anchored at the start only, as Python's
    /// `re.match`).
    pub fn is_excluded(&self, path: &str) -> bool {
        self.exclude_regex
            .as_ref()
            .is_some_and(|r| r.is_match(path))
    }
}

fn check_len(len: usize) -> Result<(), PolicyError> {
    if len as u64 > MAX_POLICY_LEN {
        return Err(PolicyError::TooLarge {
            what: "runtime policy",
            len: len as u64,
            max: MAX_POLICY_LEN,
        });
    }
    Ok(())
}

/// The document must be a JSON object (serde would also read a struct from an array).
fn check_object(bytes: &[u8]) -> Result<(), PolicyError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ => Err(schema("", "not an object")),
    }
}

fn schema(path: &str, message: &str) -> PolicyError {
    PolicyError::Schema {
        path: if path.is_empty() {
            "/".into()
        } else {
            path.into()
        },
        message: message.into(),
    }
}

/// The payload of a DSSE envelope (keylime: a document with a truthy `payload` is an envelope).
fn dsse_payload(payload: Option<&Value>) -> Result<Option<Vec<u8>>, PolicyError> {
    let Some(payload) = payload else {
        return Ok(None);
    };
    let text = match payload {
        Value::String(s) if s.is_empty() => return Ok(None),
        Value::String(s) => s,
        Value::Null | Value::Bool(false) => return Ok(None),
        _ => return Err(PolicyError::Envelope("payload is not a string".into())),
    };
    let standard = base64::engine::general_purpose::STANDARD.decode(text);
    let bytes = match standard {
        Ok(b) => b,
        Err(_) => base64::engine::general_purpose::URL_SAFE
            .decode(text)
            .map_err(|e| PolicyError::Envelope(format!("payload is not base64: {e}")))?,
    };
    Ok(Some(bytes))
}

fn non_negative(value: Option<&Value>, path: &str) -> Result<u64, PolicyError> {
    value
        .and_then(Value::as_u64)
        .ok_or_else(|| schema(path, "not a non-negative integer"))
}

fn meta(value: Option<&Value>) -> Result<(u64, u64), PolicyError> {
    let Some(Value::Object(meta)) = value else {
        return Err(schema("/meta", "not an object"));
    };
    let version = non_negative(meta.get("version"), "/meta/version")?;
    let generator = non_negative(meta.get("generator"), "/meta/generator")?;
    if generator > MAX_GENERATOR {
        return Err(schema("/meta/generator", "greater than 3"));
    }
    if meta.get("timestamp").is_some_and(|t| !t.is_string()) {
        return Err(schema("/meta/timestamp", "not a string"));
    }
    Ok((version, generator))
}

fn strings(value: Option<Value>, path: &str) -> Result<Vec<String>, PolicyError> {
    let Some(Value::Array(items)) = value else {
        return Err(schema(path, "not an array"));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => Ok(s),
            _ => Err(schema(&format!("{path}/{i}"), "not a string")),
        })
        .collect()
}

/// Compile the excludes as keylime does: one expression `(p1)|(p2)|…` matched at the start of the
/// path only. Each pattern is first compiled on its own so that a pattern cannot close another's
/// group (keylime joins the strings, so `a)|(b` would be accepted there).
fn compile_excludes(excludes: &[String]) -> Result<Option<Regex>, PolicyError> {
    if excludes.is_empty() {
        return Ok(None);
    }
    let err = |index: usize, pattern: &str, message: String| PolicyError::Exclude {
        index,
        pattern: pattern.chars().take(80).collect(),
        message,
    };
    let mut combined = String::from(r"\A(?:");
    for (index, pattern) in excludes.iter().enumerate() {
        if pattern.len() > MAX_EXCLUDE_LEN {
            return Err(err(
                index,
                pattern,
                format!("longer than {MAX_EXCLUDE_LEN} bytes"),
            ));
        }
        build_regex(pattern).map_err(|e| err(index, pattern, e.to_string()))?;
        if index > 0 {
            combined.push('|');
        }
        combined.push_str("(?:");
        combined.push_str(pattern);
        combined.push(')');
    }
    combined.push(')');
    build_regex(&combined)
        .map(Some)
        .map_err(|e| err(0, "(all excludes combined)", e.to_string()))
}

fn build_regex(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .size_limit(MAX_REGEX_SIZE)
        .dfa_size_limit(MAX_REGEX_SIZE)
        .nest_limit(250)
        .build()
}

/// `verification-keys`: empty, or a JSON string of keylime's `IMA_KEYRING_JSON_SCHEMA`
/// (`{"meta"?: {"version": >=1}, "keyids": [int], "pubkeys": [base64 DER SubjectPublicKeyInfo]}`),
/// possibly JSON-encoded twice. Each key must load (keylime logs and skips a key that does not;
/// mr refuses the policy).
fn verification_keys(text: &str) -> Result<Vec<(u32, ImaKey)>, PolicyError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let path = "/verification-keys";
    let mut value: Value =
        serde_json::from_str(text).map_err(|e| schema(path, &format!("not JSON: {e}")))?;
    if let Value::String(inner) = &value {
        value = serde_json::from_str(inner).map_err(|e| schema(path, &format!("not JSON: {e}")))?;
    }
    let Value::Object(obj) = value else {
        return Err(schema(path, "not an object"));
    };
    keyring_meta(&obj)?;
    let keyids = match obj.get("keyids") {
        Some(Value::Array(ids)) => ids
            .iter()
            .map(|v| {
                v.as_i64()
                    .ok_or_else(|| schema(path, "keyids: not an integer"))
            })
            .collect::<Result<Vec<i64>, _>>()?,
        _ => return Err(schema(path, "keyids: missing or not an array")),
    };
    let pubkeys = match obj.get("pubkeys") {
        Some(Value::Array(keys)) => keys,
        _ => return Err(schema(path, "pubkeys: missing or not an array")),
    };
    let mut out = Vec::with_capacity(pubkeys.len().min(4096));
    for (index, key) in pubkeys.iter().enumerate() {
        let Value::String(b64) = key else {
            return Err(schema(path, "pubkeys: not a string"));
        };
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| schema(path, &format!("pubkeys/{index}: not base64: {e}")))?;
        let key = ImaKey::from_spki_der(&der)
            .map_err(|source| PolicyError::VerificationKey { index, source })?;
        // keylime: a listed keyid (0 counts as none) replaces the one computed from the key.
        let keyid = match keyids.get(index) {
            Some(&id) if id != 0 => u32::try_from(id)
                .map_err(|_| schema(path, &format!("keyids/{index}: not a 32-bit key id")))?,
            _ => key.keyid(),
        };
        out.push((keyid, key));
    }
    Ok(out)
}

fn keyring_meta(obj: &Map<String, Value>) -> Result<(), PolicyError> {
    match obj.get("meta") {
        None => Ok(()),
        Some(Value::Object(m)) => match m.get("version").and_then(Value::as_u64) {
            Some(v) if v >= 1 => Ok(()),
            _ => Err(schema(
                "/verification-keys/meta/version",
                "not an integer >= 1",
            )),
        },
        Some(_) => Err(schema("/verification-keys/meta", "not an object")),
    }
}

/// A serde error: syntax and nesting are [`PolicyError::Json`], a document of the wrong shape
/// (missing property, wrong type, bad digest) is [`PolicyError::Schema`].
fn json_error(e: serde_json::Error) -> PolicyError {
    match e.classify() {
        serde_json::error::Category::Data => schema("/", &e.to_string()),
        _ => PolicyError::Json(e.to_string()),
    }
}

/// Read the document (UTF-8 is checked once for the whole text, not string by string).
fn parse(bytes: &[u8]) -> Result<RawPolicy, PolicyError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| PolicyError::Json(format!("not UTF-8 text: {e}")))?;
    serde_json::from_str(text).map_err(json_error)
}

/// A required property of the policy (serde's message for a missing field).
fn required<T>(value: Option<T>, name: &str) -> Result<T, PolicyError> {
    value.ok_or_else(|| schema("/", &format!("missing field `{name}`")))
}

/// The document: keylime's properties (checked by [`RuntimePolicy::from_raw`]) and the
/// `payload` of a DSSE envelope; other properties are skipped unparsed, as the schema allows.
#[derive(serde::Deserialize)]
struct RawPolicy {
    payload: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    meta: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    release: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    digests: Option<DigestTable>,
    #[serde(default, deserialize_with = "present")]
    excludes: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    keyrings: Option<DigestTable>,
    #[serde(default, deserialize_with = "present")]
    ima: Option<Value>,
    #[serde(rename = "ima-buf", default, deserialize_with = "present")]
    ima_buf: Option<DigestTable>,
    #[serde(rename = "verification-keys", default, deserialize_with = "present")]
    verification_keys: Option<Value>,
}

/// A property that is present (`null` included: it is then a value of the wrong type, not a
/// missing property).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}
