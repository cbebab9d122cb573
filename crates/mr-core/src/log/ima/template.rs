//! IMA templates, template fields and their typed values (docs/formats.md#ima-templates).

use std::fmt;

use crate::alg::HashAlg;
use crate::error::ParseErrorKind;

/// Most fields a template may have (kernel `IMA_TEMPLATE_NUM_FIELDS_MAX`).
pub const MAX_TEMPLATE_FIELDS: usize = 15;

/// Longest field identifier (kernel `IMA_TEMPLATE_FIELD_ID_MAX_LEN`).
pub const MAX_FIELD_ID_LEN: usize = 16;

/// Byte order of the integers in a binary list (host order, or little endian with
/// `ima_canonical_fmt`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Endian {
    /// Little endian (x86, arm64, or any host booted with `ima_canonical_fmt`).
    #[default]
    Little,
    /// Big endian (s390x, big-endian POWER without `ima_canonical_fmt`).
    Big,
}

impl Endian {
    /// Decode a u32.
    #[inline]
    pub fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }

    /// Encode a u32.
    #[inline]
    pub fn u32_bytes(self, v: u32) -> [u8; 4] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    /// Decode a u16.
    #[inline]
    pub fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        }
    }

    /// Encode a u16.
    #[inline]
    pub fn u16_bytes(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
}

impl fmt::Display for Endian {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Endian::Little => "little",
            Endian::Big => "big",
        })
    }
}

/// A template field identifier (kernel `supported_fields[]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldId {
    /// `d`: raw file digest (SHA-1 or MD5), legacy.
    D,
    /// `n`: event name, legacy (at most 255 bytes).
    N,
    /// `d-ng`: `"<algo>:" NUL <digest>`.
    DNg,
    /// `d-ngv2`: `"<type>:<algo>:" NUL <digest>`.
    DNgV2,
    /// `n-ng`: event name (path) with its NUL.
    NNg,
    /// `sig`: the `security.ima` signature (may be empty).
    Sig,
    /// `buf`: a measured buffer (ima-buf).
    Buf,
    /// `d-modsig`: the digest an appended signature covers (`d-ng` encoding, may be empty).
    DModsig,
    /// `modsig`: an appended (PKCS#7) signature.
    Modsig,
    /// `evmsig`: a portable EVM signature.
    EvmSig,
    /// `xattrnames`: names of EVM-protected xattrs, `|`-separated, NUL-terminated.
    XattrNames,
    /// `xattrlengths`: one u32 per xattr.
    XattrLengths,
    /// `xattrvalues`: concatenated xattr values.
    XattrValues,
    /// `iuid`: inode owner (u32).
    IUid,
    /// `igid`: inode group (u32).
    IGid,
    /// `imode`: inode mode (u16).
    IMode,
}

impl FieldId {
    /// Every field id.
    pub const ALL: [FieldId; 16] = [
        FieldId::D,
        FieldId::N,
        FieldId::DNg,
        FieldId::DNgV2,
        FieldId::NNg,
        FieldId::Sig,
        FieldId::Buf,
        FieldId::DModsig,
        FieldId::Modsig,
        FieldId::EvmSig,
        FieldId::XattrNames,
        FieldId::XattrLengths,
        FieldId::XattrValues,
        FieldId::IUid,
        FieldId::IGid,
        FieldId::IMode,
    ];

    /// The kernel's field id string.
    pub const fn as_str(self) -> &'static str {
        match self {
            FieldId::D => "d",
            FieldId::N => "n",
            FieldId::DNg => "d-ng",
            FieldId::DNgV2 => "d-ngv2",
            FieldId::NNg => "n-ng",
            FieldId::Sig => "sig",
            FieldId::Buf => "buf",
            FieldId::DModsig => "d-modsig",
            FieldId::Modsig => "modsig",
            FieldId::EvmSig => "evmsig",
            FieldId::XattrNames => "xattrnames",
            FieldId::XattrLengths => "xattrlengths",
            FieldId::XattrValues => "xattrvalues",
            FieldId::IUid => "iuid",
            FieldId::IGid => "igid",
            FieldId::IMode => "imode",
        }
    }

    /// The field with id `id`, if the kernel defines it.
    pub fn from_id(id: &str) -> Option<FieldId> {
        FieldId::ALL.into_iter().find(|f| f.as_str() == id)
    }
}

impl fmt::Display for FieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ordered field list of a template (built-in or a custom format string), stored inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateFormat {
    ids: [FieldId; MAX_TEMPLATE_FIELDS],
    len: u8,
}

/// Built-in templates and their format strings (kernel `builtin_templates[]`).
pub const BUILTIN_TEMPLATES: [(&str, &str); 8] = [
    ("ima", "d|n"),
    ("ima-ng", "d-ng|n-ng"),
    ("ima-sig", "d-ng|n-ng|sig"),
    ("ima-ngv2", "d-ngv2|n-ng"),
    ("ima-sigv2", "d-ngv2|n-ng|sig"),
    ("ima-buf", "d-ng|n-ng|buf"),
    ("ima-modsig", "d-ng|n-ng|sig|d-modsig|modsig"),
    (
        "evm-sig",
        "d-ng|n-ng|evmsig|xattrnames|xattrlengths|xattrvalues|iuid|igid|imode",
    ),
];

impl TemplateFormat {
    /// The `ima-ng` format (`d-ng|n-ng`).
    pub const IMA_NG: TemplateFormat = TemplateFormat {
        ids: [
            FieldId::DNg,
            FieldId::NNg,
            FieldId::D,
            FieldId::D,
            FieldId::D,
            FieldId::D,
            FieldId::D,
            FieldId::D,
            FieldId::D,
            FieldId::D,
            FieldId::D,
            FieldId::D,
            FieldId::D,
            FieldId::D,
            FieldId::D,
        ],
        len: 2,
    };

    /// The fields of template `name`: a built-in template, or a custom format string such as
    /// `d-ng|n-ng` (what the kernel logs as the name of a template defined by `ima_template_fmt=`).
    pub fn for_name(name: &str) -> Result<TemplateFormat, ParseErrorKind> {
        let fmt = BUILTIN_TEMPLATES
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(name, |(_, f)| *f);
        TemplateFormat::parse(fmt).map_err(|_| ParseErrorKind::UnknownTemplate(truncated(name)))
    }

    /// Parse a format string (`|`-separated field ids).
    pub fn parse(fmt: &str) -> Result<TemplateFormat, ParseErrorKind> {
        let mut t = TemplateFormat {
            ids: [FieldId::D; MAX_TEMPLATE_FIELDS],
            len: 0,
        };
        for part in fmt.split('|') {
            let id = FieldId::from_id(part)
                .ok_or_else(|| ParseErrorKind::UnknownTemplate(truncated(part)))?;
            let slot = t.ids.get_mut(usize::from(t.len)).ok_or_else(|| {
                ParseErrorKind::Invalid(format!(
                    "template has more than {MAX_TEMPLATE_FIELDS} fields"
                ))
            })?;
            *slot = id;
            t.len += 1;
        }
        Ok(t)
    }

    /// The field ids, in order.
    pub fn fields(&self) -> &[FieldId] {
        &self.ids[..usize::from(self.len)]
    }
}

fn truncated(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A digest with an algorithm prefix (`d-ng`, `d-ngv2`, `d-modsig`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefixedDigest<'a> {
    /// `d-ngv2` only: the digest type (`ima` or `verity`).
    pub kind: Option<&'a str>,
    /// The algorithm name as logged (e.g. `sha256`, `md5`).
    pub algo: &'a str,
    /// The algorithm, if mr supports it.
    pub alg: Option<HashAlg>,
    /// The digest bytes.
    pub digest: &'a [u8],
}

/// The typed value of one template field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldValue<'a> {
    /// `d`: a raw digest (SHA-1 or MD5).
    RawDigest(&'a [u8]),
    /// `d-ng`, `d-ngv2`, `d-modsig`: a digest with its algorithm.
    Digest(PrefixedDigest<'a>),
    /// `n`, `n-ng`: the event name or path (without the NUL).
    Name(&'a str),
    /// `sig`, `evmsig`, `modsig`: signature bytes.
    Signature(&'a [u8]),
    /// `buf`: the measured buffer.
    Buffer(&'a [u8]),
    /// `xattrnames`: `|`-separated xattr names (without the NUL).
    XattrNames(&'a str),
    /// `xattrlengths`: one u32 per xattr, in the list's byte order.
    XattrLengths(XattrLengths<'a>),
    /// `xattrvalues`: concatenated raw xattr values.
    XattrValues(&'a [u8]),
    /// `iuid`.
    Uid(u32),
    /// `igid`.
    Gid(u32),
    /// `imode`.
    Mode(u16),
    /// An empty field (e.g. `sig` of an unsigned file, `d-modsig` without an appended signature).
    Empty,
}

/// The `xattrlengths` field: u32 lengths in the list's byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XattrLengths<'a> {
    bytes: &'a [u8],
    endian: Endian,
}

impl<'a> XattrLengths<'a> {
    /// The lengths.
    pub fn iter(&self) -> impl Iterator<Item = u32> + 'a {
        let endian = self.endian;
        self.bytes
            .chunks_exact(4)
            .map(move |c| endian.u32([c[0], c[1], c[2], c[3]]))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// One field of an entry: its id and stored bytes (exactly what the kernel hashes, e.g. `n-ng`
/// including its NUL; for the legacy `ima` template `n` is stored without NUL, as listed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// The field id.
    pub id: FieldId,
    /// The stored bytes.
    pub data: &'a [u8],
    pub(crate) endian: Endian,
}

impl<'a> Field<'a> {
    /// The typed value. Entries produced by [`super::ImaReader`] were validated when read, so this
    /// never fails for them; for other bytes an undecodable field is returned as
    /// [`FieldValue::Buffer`] of its raw bytes.
    #[inline]
    pub fn value(&self) -> FieldValue<'a> {
        // The fields every `ima-ng`/`ima-sig` entry holds, decoded here without the general
        // decoder's error paths; the result is the one `decode_field` gives.
        match self.id {
            FieldId::DNg | FieldId::DModsig => {
                if let Some(digest) = dng_fast(self.data) {
                    return FieldValue::Digest(digest);
                }
            }
            FieldId::NNg => {
                if let Some(text) = self.data.strip_suffix(&[0]) {
                    if !text.is_empty() && text.is_ascii() {
                        // ASCII is UTF-8: this cannot fail.
                        if let Ok(name) = std::str::from_utf8(text) {
                            return FieldValue::Name(name);
                        }
                    }
                }
            }
            _ => {}
        }
        decode_field(self.id, self.data, self.endian).unwrap_or(FieldValue::Buffer(self.data))
    }
}

fn utf8(b: &[u8]) -> Result<&str, ParseErrorKind> {
    std::str::from_utf8(b).map_err(|_| ParseErrorKind::InvalidUtf8)
}

/// Split `"<prefix>:" NUL <digest>` (d-ng style).
fn split_prefixed(data: &[u8]) -> Result<(&str, &[u8]), ParseErrorKind> {
    let nul = data.iter().position(|b| *b == 0).ok_or_else(|| {
        ParseErrorKind::Invalid("digest field without NUL after its algorithm".into())
    })?;
    let (prefix, rest) = data.split_at(nul);
    let prefix = prefix
        .strip_suffix(b":")
        .ok_or_else(|| ParseErrorKind::Invalid("digest field algorithm without ':'".into()))?;
    Ok((utf8(prefix)?, &rest[1..]))
}

/// The algorithm of a kernel `hash_algo_name` (exact names, no allocation).
pub(crate) fn alg_from_kernel_name(name: &str) -> Option<HashAlg> {
    match name {
        "sha1" => Some(HashAlg::Sha1),
        "sha256" => Some(HashAlg::Sha256),
        "sha384" => Some(HashAlg::Sha384),
        "sha512" => Some(HashAlg::Sha512),
        "sm3" => Some(HashAlg::Sm3_256),
        _ => HashAlg::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name)),
    }
}

fn prefixed_digest(data: &[u8], v2: bool) -> Result<PrefixedDigest<'_>, ParseErrorKind> {
    let (prefix, digest) = split_prefixed(data)?;
    let (kind, algo) = if v2 {
        let (k, a) = prefix
            .split_once(':')
            .ok_or_else(|| ParseErrorKind::Invalid("d-ngv2 field without a digest type".into()))?;
        (Some(k), a)
    } else {
        (None, prefix)
    };
    let alg = alg_from_kernel_name(algo);
    if let Some(alg) = alg {
        if digest.len() != alg.size() {
            return Err(ParseErrorKind::Invalid(format!(
                "{algo} file digest of {} bytes",
                digest.len()
            )));
        }
    }
    Ok(PrefixedDigest {
        kind,
        algo,
        alg,
        digest,
    })
}

/// `d-ng` prefixes the kernel writes, with the algorithm each names (the digest's length is the
/// algorithm's), for the fast paths of validation and decoding.
const DNG_PREFIXES: [(&[u8], &str, HashAlg); 5] = [
    (b"sha256:\0", "sha256", HashAlg::Sha256),
    (b"sha1:\0", "sha1", HashAlg::Sha1),
    (b"sha512:\0", "sha512", HashAlg::Sha512),
    (b"sha384:\0", "sha384", HashAlg::Sha384),
    (b"sm3:\0", "sm3", HashAlg::Sm3_256),
];

/// A `d-ng` field with one of [`DNG_PREFIXES`] and the digest length of its algorithm, as
/// [`prefixed_digest`] decodes it.
#[inline]
fn dng_fast(data: &[u8]) -> Option<PrefixedDigest<'_>> {
    DNG_PREFIXES.into_iter().find_map(|(prefix, algo, alg)| {
        let digest = data.strip_prefix(prefix)?;
        (digest.len() == alg.size()).then_some(PrefixedDigest {
            kind: None,
            algo,
            alg: Some(alg),
            digest,
        })
    })
}

/// Check that the stored bytes of a field decode (what [`decode_field`] would accept), with
/// fast paths for the common fields.
#[inline]
pub(crate) fn validate_field(
    id: FieldId,
    data: &[u8],
    endian: Endian,
) -> Result<(), ParseErrorKind> {
    match id {
        FieldId::D
        | FieldId::Sig
        | FieldId::Buf
        | FieldId::Modsig
        | FieldId::EvmSig
        | FieldId::XattrValues => Ok(()),
        FieldId::N | FieldId::NNg => {
            let text = data.strip_suffix(&[0]).unwrap_or(data);
            if text.is_ascii() {
                Ok(())
            } else {
                utf8(text).map(|_| ())
            }
        }
        FieldId::DNg | FieldId::DModsig if dng_fast(data).is_some() => Ok(()),
        _ => decode_field(id, data, endian).map(|_| ()),
    }
}

/// Decode the stored bytes of a field.
pub(crate) fn decode_field(
    id: FieldId,
    data: &[u8],
    endian: Endian,
) -> Result<FieldValue<'_>, ParseErrorKind> {
    let fixed = |n: usize| -> Result<(), ParseErrorKind> {
        if data.len() == n {
            Ok(())
        } else {
            Err(ParseErrorKind::Invalid(format!(
                "{id} field of {} bytes, expected {n}",
                data.len()
            )))
        }
    };
    Ok(match id {
        FieldId::D => FieldValue::RawDigest(data),
        FieldId::N | FieldId::NNg | FieldId::XattrNames => {
            if data.is_empty() {
                return Ok(FieldValue::Empty);
            }
            let text = data.strip_suffix(&[0]).unwrap_or(data);
            let text = utf8(text)?;
            if id == FieldId::XattrNames {
                FieldValue::XattrNames(text)
            } else {
                FieldValue::Name(text)
            }
        }
        _ if data.is_empty() => FieldValue::Empty,
        FieldId::DNg | FieldId::DModsig => FieldValue::Digest(prefixed_digest(data, false)?),
        FieldId::DNgV2 => FieldValue::Digest(prefixed_digest(data, true)?),
        FieldId::Sig | FieldId::EvmSig | FieldId::Modsig => FieldValue::Signature(data),
        FieldId::Buf => FieldValue::Buffer(data),
        FieldId::XattrLengths => {
            if !data.len().is_multiple_of(4) {
                return Err(ParseErrorKind::Invalid(
                    "xattrlengths field not a multiple of 4 bytes".into(),
                ));
            }
            FieldValue::XattrLengths(XattrLengths {
                bytes: data,
                endian,
            })
        }
        FieldId::XattrValues => FieldValue::XattrValues(data),
        FieldId::IUid | FieldId::IGid => {
            fixed(4)?;
            let v = endian.u32([data[0], data[1], data[2], data[3]]);
            if id == FieldId::IUid {
                FieldValue::Uid(v)
            } else {
                FieldValue::Gid(v)
            }
        }
        FieldId::IMode => {
            fixed(2)?;
            FieldValue::Mode(endian.u16([data[0], data[1]]))
        }
    })
}

/// Encode a `d-ng` field value: `"<algo>:" NUL <digest>`.
pub fn encode_digest_ng(algo: &str, digest: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(algo.len() + 2 + digest.len());
    v.extend_from_slice(algo.as_bytes());
    v.extend_from_slice(b":\0");
    v.extend_from_slice(digest);
    v
}

/// Encode a `d-ngv2` field value: `"<type>:<algo>:" NUL <digest>`.
pub fn encode_digest_ngv2(kind: &str, algo: &str, digest: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(kind.len() + algo.len() + 3 + digest.len());
    v.extend_from_slice(kind.as_bytes());
    v.push(b':');
    v.extend_from_slice(&encode_digest_ng(algo, digest));
    v
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn builtin_and_custom_formats() {
        assert_eq!(
            TemplateFormat::for_name("ima-sig").unwrap().fields(),
            &[FieldId::DNg, FieldId::NNg, FieldId::Sig]
        );
        assert_eq!(
            TemplateFormat::for_name("evm-sig").unwrap().fields().len(),
            9
        );
        assert_eq!(
            TemplateFormat::for_name("n|sig").unwrap().fields(),
            &[FieldId::N, FieldId::Sig]
        );
        assert!(matches!(
            TemplateFormat::for_name("d-ng|bogus"),
            Err(ParseErrorKind::UnknownTemplate(_))
        ));
        assert!(TemplateFormat::for_name("").is_err());
        let many = vec!["n"; 16].join("|");
        assert!(TemplateFormat::for_name(&many).is_err());
    }

    #[test]
    fn decodes_prefixed_digests() {
        let d = encode_digest_ng("sha256", &[7; 32]);
        let FieldValue::Digest(p) = decode_field(FieldId::DNg, &d, Endian::Little).unwrap() else {
            panic!("not a digest")
        };
        assert_eq!(
            (p.algo, p.alg, p.digest),
            ("sha256", Some(HashAlg::Sha256), &[7u8; 32][..])
        );
        let d = encode_digest_ngv2("verity", "sha256", &[7; 32]);
        let FieldValue::Digest(p) = decode_field(FieldId::DNgV2, &d, Endian::Little).unwrap()
        else {
            panic!("not a digest")
        };
        assert_eq!(p.kind, Some("verity"));
        assert!(decode_field(FieldId::DNg, b"sha256\0abc", Endian::Little).is_err());
        assert!(decode_field(
            FieldId::DNg,
            &encode_digest_ng("sha256", &[1; 20]),
            Endian::Little
        )
        .is_err());
        assert!(decode_field(FieldId::NNg, b"\xff\xfe\0", Endian::Little).is_err());
        assert_eq!(
            decode_field(FieldId::IMode, &[0x81, 0xa4], Endian::Big).unwrap(),
            FieldValue::Mode(0x81a4)
        );
    }

    /// `Field::value`'s fast paths give exactly the general decoder's value, and leave every
    /// other input to it: each `d-ng` prefix at, above and below its length, other and
    /// malformed prefixes, names with and without their NUL, empty, non-ASCII and invalid.
    #[test]
    fn fast_field_values_equal_the_decoder_s() {
        let mut cases: Vec<(FieldId, Vec<u8>)> = Vec::new();
        for (algo, size) in [
            ("sha256", 32),
            ("sha1", 20),
            ("sha512", 64),
            ("sha384", 48),
            ("sm3", 32),
            ("md5", 16),
            ("SHA256", 32),
            ("sha3-256", 32),
        ] {
            for len in [0, 1, size - 1, size, size + 1, 2 * size] {
                cases.push((FieldId::DNg, encode_digest_ng(algo, &vec![0x5a; len])));
                cases.push((FieldId::DModsig, encode_digest_ng(algo, &vec![0x5a; len])));
            }
        }
        for data in [
            &b""[..],
            b"sha256:",
            b"sha256\0",
            b"\0",
            b"sha256:\0",
            b":\0abc",
            b"sha256::\0abcd",
        ] {
            cases.push((FieldId::DNg, data.to_vec()));
        }
        for data in [
            &b""[..],
            b"\0",
            b"/usr/bin/ls\0",
            b"/usr/bin/ls",
            b"/a\0/b\0",
            "/\u{e9}t\u{e9}\0".as_bytes(),
            b"/\xff\xfe\0",
            b"boot_aggregate\0",
        ] {
            cases.push((FieldId::NNg, data.to_vec()));
            cases.push((FieldId::N, data.to_vec()));
        }
        for (id, data) in &cases {
            let field = Field {
                id: *id,
                data,
                endian: Endian::Little,
            };
            let general =
                decode_field(*id, data, Endian::Little).unwrap_or(FieldValue::Buffer(data));
            assert_eq!(field.value(), general, "{id} {data:?}");
        }
        let dng = encode_digest_ng("sha384", &[9; 48]);
        assert!(matches!(
            Field {
                id: FieldId::DNg,
                data: &dng,
                endian: Endian::Little
            }
            .value(),
            FieldValue::Digest(PrefixedDigest {
                algo: "sha384",
                alg: Some(HashAlg::Sha384),
                ..
            })
        ));
    }
}
