//! Builds valid IMA lists (binary or ASCII) entry by entry, computing each entry's template
//! digests as the kernel does, so callers can also extend registers alongside (tests,
//! benchmarks, demos).
//!
//! ```
//! use mr_core::log::ima::builder::ImaListBuilder;
//! use mr_core::log::ima::DigestMode;
//! use mr_core::{Digest, HashAlg};
//! let mut b = ImaListBuilder::binary();
//! let mut pcr10 = Digest::zero(HashAlg::Sha256);
//! let e = b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"pcrs 0-9"));
//! pcr10 = pcr10.extended(e.extend_value(HashAlg::Sha256, DigestMode::PerBank).as_bytes());
//! let e = b.violation(10, "ima-ng", HashAlg::Sha256, "/tmp/f");
//! pcr10 = pcr10.extended(e.extend_value(HashAlg::Sha256, DigestMode::PerBank).as_bytes());
//! let list: Vec<u8> = b.finish();
//! # let _ = (list, pcr10);
//! ```

use crate::alg::{Digest, HashAlg};
use crate::error::{Error, ParseErrorKind};
use crate::register::MrId;

use super::ascii::write_field_text;
use super::template::{encode_digest_ng, Endian, TemplateFormat};
use super::{
    DigestMode, ListKind, LEGACY_NAME_HASH_LEN, MAX_LEGACY_NAME_LEN, MAX_TEMPLATE_DATA_LEN,
    ZERO_PAD,
};

/// Writes a measurement list.
#[derive(Clone, Debug)]
pub struct ImaListBuilder {
    kind: ListKind,
    endian: Endian,
    column: HashAlg,
    out: Vec<u8>,
    entries: u64,
}

/// One entry written by the builder, with what it extends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltEntry {
    /// The register.
    pub register: MrId,
    /// The template name.
    pub template: String,
    /// Template data as hashed (legacy `ima`: digest || name without NUL).
    pub template_data: Vec<u8>,
    /// Legacy `ima` template.
    pub legacy: bool,
    /// A violation (all-zero recorded digest; extends all-0xFF).
    pub violation: bool,
}

impl BuiltEntry {
    /// The template digest in `alg` (the digest of the data, also for violations).
    pub fn template_digest(&self, alg: HashAlg) -> Digest {
        if self.legacy {
            let name_len = self.template_data.len().saturating_sub(20);
            let pad = ZERO_PAD
                .get(..LEGACY_NAME_HASH_LEN.saturating_sub(name_len))
                .unwrap_or(&[]);
            alg.hash_parts(&[&self.template_data, pad])
        } else {
            alg.hash(&self.template_data)
        }
    }

    /// The digest recorded in the list's column (zero for a violation).
    pub fn recorded_digest(&self, column: HashAlg) -> Digest {
        if self.violation {
            Digest::zero(column)
        } else {
            self.template_digest(column)
        }
    }

    /// The value the kernel extends into bank `alg` ([`DigestMode::Auto`] is treated as
    /// per-bank).
    pub fn extend_value(&self, alg: HashAlg, mode: DigestMode) -> Digest {
        let padded =
            |src: &[u8]| Digest::zero_padded(alg, src).unwrap_or_else(|_| Digest::zero(alg));
        match (self.violation, mode) {
            (true, DigestMode::PaddedSha1) => padded(&[0xFF; 20]),
            (true, _) => Digest::ones(alg),
            (false, DigestMode::PaddedSha1) => {
                padded(self.template_digest(HashAlg::Sha1).as_bytes())
            }
            (false, _) => self.template_digest(alg),
        }
    }
}

impl ImaListBuilder {
    /// A binary list, little endian, SHA-1 column (`binary_runtime_measurements`).
    pub fn binary() -> ImaListBuilder {
        ImaListBuilder {
            kind: ListKind::Binary,
            endian: Endian::Little,
            column: HashAlg::Sha1,
            out: Vec::new(),
            entries: 0,
        }
    }

    /// An ASCII list, SHA-1 column (`ascii_runtime_measurements`).
    pub fn ascii() -> ImaListBuilder {
        ImaListBuilder {
            kind: ListKind::Ascii,
            ..ImaListBuilder::binary()
        }
    }

    /// A list of `kind`.
    pub fn new(kind: ListKind) -> ImaListBuilder {
        match kind {
            ListKind::Binary => ImaListBuilder::binary(),
            ListKind::Ascii => ImaListBuilder::ascii(),
        }
    }

    /// Byte order of integers (binary lists; ASCII lists only use it for `iuid`/`igid`/`imode`
    /// and the hashed field lengths).
    pub fn with_endian(mut self, endian: Endian) -> Self {
        self.endian = endian;
        self
    }

    /// Column algorithm: SHA-1 for the classic files, the bank's for `..._<alg>` lists.
    pub fn with_column(mut self, column: HashAlg) -> Self {
        self.column = column;
        self
    }

    /// Reserve room for `bytes` of output.
    pub fn with_capacity(mut self, bytes: usize) -> Self {
        self.out.reserve(bytes);
        self
    }

    /// Entries written.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// The list so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.out
    }

    /// The list.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }

    /// The first entry of a boot: `boot_aggregate` in PCR 10 with `template` (`ima-ng`,
    /// `ima-sig`, or legacy `ima`, which records the aggregate only if it is SHA-1, else zeros).
    pub fn boot_aggregate(&mut self, template: &str, aggregate: &Digest) -> BuiltEntry {
        self.boot_aggregate_at(10, template, aggregate)
    }

    /// [`ImaListBuilder::boot_aggregate`] in another PCR (kernel `CONFIG_IMA_MEASURE_PCR_IDX`).
    pub fn boot_aggregate_at(
        &mut self,
        pcr: u32,
        template: &str,
        aggregate: &Digest,
    ) -> BuiltEntry {
        if template == "ima" {
            let d = if aggregate.alg() == HashAlg::Sha1 {
                aggregate.as_bytes()
            } else {
                &[0; 20]
            };
            return self.legacy_entry(pcr, d, "boot_aggregate", false);
        }
        let dng = encode_digest_ng(aggregate.alg().name(), aggregate.as_bytes());
        let mut fields: Vec<&[u8]> = vec![&dng, b"boot_aggregate\0"];
        if template == "ima-sig" {
            fields.push(b"");
        }
        self.raw_entry(
            pcr,
            if template == "ima-sig" {
                "ima-sig"
            } else {
                "ima-ng"
            },
            &fields,
            false,
        )
    }

    /// An `ima-ng` file measurement. Spaces in `path` become `_`, as in the kernel.
    pub fn ima_ng(&mut self, pcr: u32, file_digest: &Digest, path: &str) -> BuiltEntry {
        let dng = encode_digest_ng(file_digest.alg().name(), file_digest.as_bytes());
        let name = name_field(path);
        self.raw_entry(pcr, "ima-ng", &[&dng, &name], false)
    }

    /// An `ima-sig` file measurement (`sig` may be empty).
    pub fn ima_sig(
        &mut self,
        pcr: u32,
        file_digest: &Digest,
        path: &str,
        sig: &[u8],
    ) -> BuiltEntry {
        let dng = encode_digest_ng(file_digest.alg().name(), file_digest.as_bytes());
        let name = name_field(path);
        self.raw_entry(pcr, "ima-sig", &[&dng, &name, sig], false)
    }

    /// An `ima-buf` buffer measurement (kexec command line, critical data, keys); the buffer
    /// digest is computed with `alg`.
    pub fn ima_buf(&mut self, pcr: u32, alg: HashAlg, event_name: &str, buf: &[u8]) -> BuiltEntry {
        let dng = encode_digest_ng(alg.name(), alg.hash(buf).as_bytes());
        let name = name_field(event_name);
        self.raw_entry(pcr, "ima-buf", &[&dng, &name, buf], false)
    }

    /// A legacy `ima` entry: 20-byte digest and a name of at most 255 bytes (longer names are
    /// refused, like the kernel, which never logs them).
    pub fn legacy_ima(
        &mut self,
        pcr: u32,
        digest: &[u8; 20],
        name: &str,
    ) -> Result<BuiltEntry, Error> {
        if name.len() > MAX_LEGACY_NAME_LEN as usize {
            return Err(too_long(name.len() as u64, u64::from(MAX_LEGACY_NAME_LEN)));
        }
        Ok(self.legacy_entry(pcr, digest, &name.replace(' ', "_"), false))
    }

    /// A ToMToU / open-writers violation for `path`: template `ima-ng`, `ima-sig` or `ima`; the
    /// file digest is zeros of `ima_hash` and the recorded template digest is all zero.
    pub fn violation(
        &mut self,
        pcr: u32,
        template: &str,
        ima_hash: HashAlg,
        path: &str,
    ) -> BuiltEntry {
        if template == "ima" {
            let name: String = path.chars().take(MAX_LEGACY_NAME_LEN as usize).collect();
            let mut name = name;
            while name.len() > MAX_LEGACY_NAME_LEN as usize {
                name.pop();
            }
            return self.legacy_entry(pcr, &[0; 20], &name, true);
        }
        let zeros = [0u8; crate::alg::MAX_DIGEST_SIZE];
        let dng = encode_digest_ng(ima_hash.name(), &zeros[..ima_hash.size()]);
        let name = name_field(path);
        if template == "ima-sig" {
            self.raw_entry(pcr, "ima-sig", &[&dng, &name, b""], true)
        } else {
            self.raw_entry(pcr, "ima-ng", &[&dng, &name], true)
        }
    }

    /// Any template (built-in name or format string) with raw field values (stored bytes, e.g.
    /// `n-ng` with its NUL). The legacy `ima` template is not accepted here (see
    /// [`ImaListBuilder::legacy_ima`]).
    pub fn entry(
        &mut self,
        pcr: u32,
        template: &str,
        fields: &[&[u8]],
    ) -> Result<BuiltEntry, Error> {
        let parse_err = |kind: ParseErrorKind| {
            Error::Parse(crate::error::ParseError {
                format: "ima builder log",
                structure: "template",
                offset: 0,
                entry: None,
                kind,
            })
        };
        if template == "ima" {
            return Err(parse_err(ParseErrorKind::UnknownTemplate(
                "ima (use legacy_ima)".into(),
            )));
        }
        let format = TemplateFormat::for_name(template).map_err(parse_err)?;
        if format.fields().len() != fields.len() {
            return Err(parse_err(ParseErrorKind::Invalid(format!(
                "template {template} has {} fields, {} given",
                format.fields().len(),
                fields.len()
            ))));
        }
        let total: usize = fields.iter().map(|f| 4 + f.len()).sum();
        if total > MAX_TEMPLATE_DATA_LEN as usize {
            return Err(too_long(total as u64, u64::from(MAX_TEMPLATE_DATA_LEN)));
        }
        Ok(self.raw_entry(pcr, template, fields, false))
    }

    fn raw_entry(
        &mut self,
        pcr: u32,
        template: &str,
        fields: &[&[u8]],
        violation: bool,
    ) -> BuiltEntry {
        let mut data = Vec::with_capacity(fields.iter().map(|f| 4 + f.len()).sum());
        for f in fields {
            data.extend_from_slice(&self.endian.u32_bytes(f.len() as u32));
            data.extend_from_slice(f);
        }
        let e = BuiltEntry {
            register: MrId::Pcr(pcr),
            template: template.to_owned(),
            template_data: data,
            legacy: false,
            violation,
        };
        self.write(pcr, &e, fields);
        e
    }

    fn legacy_entry(&mut self, pcr: u32, digest: &[u8], name: &str, violation: bool) -> BuiltEntry {
        let mut data = digest.to_vec();
        data.extend_from_slice(name.as_bytes());
        let e = BuiltEntry {
            register: MrId::Pcr(pcr),
            template: "ima".to_owned(),
            template_data: data,
            legacy: true,
            violation,
        };
        self.write(pcr, &e, &[digest, name.as_bytes()]);
        e
    }

    fn write(&mut self, pcr: u32, e: &BuiltEntry, fields: &[&[u8]]) {
        let recorded = e.recorded_digest(self.column);
        let endian = self.endian;
        match self.kind {
            ListKind::Binary => {
                let out = &mut self.out;
                out.extend_from_slice(&endian.u32_bytes(pcr));
                out.extend_from_slice(recorded.as_bytes());
                out.extend_from_slice(&endian.u32_bytes(e.template.len() as u32));
                out.extend_from_slice(e.template.as_bytes());
                if e.legacy {
                    let name = fields.get(1).copied().unwrap_or(&[]);
                    out.extend_from_slice(fields.first().copied().unwrap_or(&[]));
                    out.extend_from_slice(&endian.u32_bytes(name.len() as u32));
                    out.extend_from_slice(name);
                } else {
                    out.extend_from_slice(&endian.u32_bytes(e.template_data.len() as u32));
                    out.extend_from_slice(&e.template_data);
                }
            }
            ListKind::Ascii => {
                let mut line = format!("{pcr:2} {recorded} {}", e.template);
                let ids = TemplateFormat::for_name(&e.template)
                    .map(|f| f.fields().to_vec())
                    .unwrap_or_default();
                for (id, data) in ids.iter().zip(fields) {
                    line.push(' ');
                    write_field_text(*id, data, endian, &mut line);
                }
                line.push('\n');
                self.out.extend_from_slice(line.as_bytes());
            }
        }
        self.entries += 1;
    }
}

fn name_field(path: &str) -> Vec<u8> {
    let mut v: Vec<u8> = path
        .bytes()
        .map(|b| if b == b' ' { b'_' } else { b })
        .collect();
    v.push(0);
    v
}

fn too_long(len: u64, max: u64) -> Error {
    Error::Parse(crate::error::ParseError {
        format: "ima builder log",
        structure: "entry",
        offset: 0,
        entry: None,
        kind: ParseErrorKind::LengthTooLarge { len, max },
    })
}
