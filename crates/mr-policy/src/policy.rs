//! keylime's runtime policy, format version 1: reading, schema validation, compiled excludes.
//!
//! The schema is keylime's `RUNTIME_POLICY_SCHEMA` (`keylime/ima/ima.py`) and, for the string
//! `verification-keys`, its `IMA_KEYRING_JSON_SCHEMA` (`keylime/ima/file_signatures.py`); the
//! checks here are written from those schemas. See `docs/appraisal.md`.

use std::collections::HashMap;

use base64::Engine;
use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value};

use crate::error::PolicyError;
use crate::keys::ImaKey;

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

/// Accepted digests of one name, decoded from lowercase hex.
pub(crate) type DigestList = Vec<Box<[u8]>>;

/// A validated runtime policy, ready for appraisal.
#[derive(Debug)]
pub struct RuntimePolicy {
    pub(crate) digests: HashMap<Box<str>, DigestList>,
    pub(crate) keyrings: HashMap<Box<str>, DigestList>,
    pub(crate) ima_buf: HashMap<Box<str>, DigestList>,
    pub(crate) excludes: Vec<String>,
    pub(crate) exclude_regex: Option<Regex>,
    pub(crate) ignored_keyrings: Vec<String>,
    pub(crate) log_hash_alg: String,
    pub(crate) verification_keys: Vec<(u32, ImaKey)>,
    release: u64,
    generator: u64,
}

impl RuntimePolicy {
    /// Parse and validate a policy: plain JSON, or a DSSE envelope whose `payload` is the policy
    /// (the envelope's signatures are not checked here). Any deviation from the schema is an
    /// error; nothing is silently dropped.
    pub fn from_json(bytes: &[u8]) -> Result<RuntimePolicy, PolicyError> {
        check_len(bytes.len())?;
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| PolicyError::Json(e.to_string()))?;
        let value = match dsse_payload(&value)? {
            Some(payload) => {
                check_len(payload.len())?;
                serde_json::from_slice(&payload)
                    .map_err(|e| PolicyError::Json(format!("DSSE payload: {e}")))?
            }
            None => value,
        };
        RuntimePolicy::from_value(value)
    }

    /// Validate an already parsed policy document.
    pub fn from_value(value: Value) -> Result<RuntimePolicy, PolicyError> {
        let Value::Object(mut top) = value else {
            return Err(schema("", "not an object"));
        };
        for key in [
            "meta",
            "release",
            "digests",
            "excludes",
            "keyrings",
            "ima",
            "ima-buf",
            "verification-keys",
        ] {
            if !top.contains_key(key) {
                return Err(schema("", &format!("required property {key:?} is missing")));
            }
        }
        let (version, generator) = meta(top.get("meta"))?;
        if version != SUPPORTED_VERSION {
            return Err(PolicyError::Version(version));
        }
        let release = non_negative(top.get("release"), "/release")?;
        let mut budget = MAX_DIGESTS;
        let digests = digests_object(top.remove("digests"), "/digests", &mut budget)?;
        let keyrings = digests_object(top.remove("keyrings"), "/keyrings", &mut budget)?;
        let ima_buf = digests_object(top.remove("ima-buf"), "/ima-buf", &mut budget)?;
        let excludes = strings(top.remove("excludes"), "/excludes")?;
        let exclude_regex = compile_excludes(&excludes)?;
        let Some(Value::Object(ima)) = top.remove("ima") else {
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
        let verification_keys = match top.get("verification-keys") {
            Some(Value::String(s)) => verification_keys(s)?,
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
    /// file is read).
    pub fn from_file(path: &std::path::Path) -> Result<RuntimePolicy, PolicyError> {
        let io = |e: std::io::Error| PolicyError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len > MAX_POLICY_LEN {
            return Err(PolicyError::TooLarge {
                what: "runtime policy",
                len,
                max: MAX_POLICY_LEN,
            });
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, MAX_POLICY_LEN + 1),
            &mut bytes,
        )
        .map_err(io)?;
        RuntimePolicy::from_json(&bytes)
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
fn dsse_payload(value: &Value) -> Result<Option<Vec<u8>>, PolicyError> {
    let Some(payload) = value.get("payload") else {
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

/// A keylime `digests-object`: `{name: [hex, ...]}` with at least one digest per name, each
/// matching `^[0-9a-f]{40,128}$`.
fn digests_object(
    value: Option<Value>,
    path: &str,
    budget: &mut usize,
) -> Result<HashMap<Box<str>, DigestList>, PolicyError> {
    let Some(Value::Object(map)) = value else {
        return Err(schema(path, "not an object"));
    };
    let mut out = HashMap::with_capacity(map.len());
    for (name, list) in map {
        let Value::Array(items) = list else {
            return Err(schema(&format!("{path}/{name}"), "not an array"));
        };
        if items.is_empty() {
            return Err(schema(&format!("{path}/{name}"), "empty digest list"));
        }
        let mut digests = Vec::with_capacity(items.len().min(*budget));
        for (i, item) in items.iter().enumerate() {
            *budget = budget.checked_sub(1).ok_or_else(|| {
                schema(
                    path,
                    &format!("more than {MAX_DIGESTS} digests in the policy"),
                )
            })?;
            let hex_text = match item {
                Value::String(s) if is_policy_hex(s) => s,
                _ => {
                    return Err(schema(
                        &format!("{path}/{name}/{i}"),
                        "not 40 to 128 lowercase hex digits",
                    ))
                }
            };
            // An odd number of digits is valid for the schema but can never equal a digest's hex;
            // it is kept out of the set (keylime keeps it and never matches it).
            if let Ok(bytes) = hex::decode(hex_text) {
                digests.push(bytes.into_boxed_slice());
            }
        }
        out.insert(name.into_boxed_str(), digests);
    }
    Ok(out)
}

fn is_policy_hex(s: &str) -> bool {
    (40..=128).contains(&s.len()) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
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
