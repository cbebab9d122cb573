//! Facts of a PC-Client boot log that platform policies appraise (as go-attestation's
//! `ParseSecurebootState` reports them, plus the boot loader's kernel command line):
//!
//! * Secure Boot enabled: the `SecureBoot` variable (EFI global variable GUID) measured into
//!   PCR 7 as `EV_EFI_VARIABLE_DRIVER_CONFIG` with the value 1;
//! * the contents of `PK`, `KEK` (EFI global variable GUID), `db` and `dbx` (EFI image security
//!   database GUID) from the same events: `EFI_SIGNATURE_LIST`s (UEFI specification, "Signature
//!   Database") of X.509 certificates (reported as the SHA-256 of their DER) and SHA-256 hashes;
//! * the EFI applications the firmware loaded (`EV_EFI_BOOT_SERVICES_APPLICATION` in PCR 4): one
//!   digest each, of the SHA-256 bank when the log has it, else of its first bank;
//! * the kernel command lines a boot loader measured into PCR 8 as `EV_IPL` text
//!   `kernel_cmdline: …` (GRUB), kept only when the event's digest is the hash of the command
//!   line;
//! * the digests of the Linux EFI stub's load options (`EV_EVENT_TAG` 0x8F3B22ED in PCR 9). The
//!   stub logs the fixed text `LOADED_IMAGE::LoadOptions` as the event's data and measures the
//!   load options themselves (the kernel command line, UTF-16LE), so that command line is known
//!   only by its digests: the event's data says nothing about it and is never read as one.
//!
//! Facts come only from events of the PCRs the caller says are verified (the boot log replayed
//! to quoted values); a variable whose event data does not hash to its digest is not measured.

use mr_core::log::tcg::{self, DataCheck, EventData, EventType, ParseOptions};
use mr_core::{Digest, HashAlg};
use sha2::Digest as _;

use crate::error::PolicyError;
use crate::platform::{Claim, RuleCheck, VariablePolicy};

/// `EFI_GLOBAL_VARIABLE` (UEFI specification).
const EFI_GLOBAL_VARIABLE: &str = "8be4df61-93ca-11d2-aa0d-00e098032b8c";
/// `EFI_IMAGE_SECURITY_DATABASE_GUID` (UEFI specification).
const EFI_IMAGE_SECURITY_DATABASE: &str = "d719b2cb-3d3a-4596-a3bc-dad00e67656f";
/// `EFI_CERT_X509_GUID`.
const EFI_CERT_X509: &str = "a5c059a1-94e4-4aa7-87b5-ab155c2bf072";
/// `EFI_CERT_SHA256_GUID`.
const EFI_CERT_SHA256: &str = "c1c41626-504c-4092-aca9-41f936934328";
/// Linux EFI stub's tagged event id of the load options (the kernel command line).
const LINUX_EFI_LOAD_OPTIONS_EVENT: u32 = 0x8F3B_22ED;
/// GRUB's prefix of the kernel command line event.
const GRUB_CMDLINE_PREFIX: &[u8] = b"kernel_cmdline: ";

/// The contents of a signature database variable (PK, KEK, db, dbx).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignatureDb {
    /// SHA-256 of the DER of each X.509 certificate.
    pub certs: Vec<[u8; 32]>,
    /// Each SHA-256 hash entry.
    pub hashes: Vec<[u8; 32]>,
    /// Entries of other signature types (not appraised).
    pub other: u64,
}

impl SignatureDb {
    fn contains(&self, value: &[u8]) -> bool {
        self.certs.iter().any(|c| c == value) || self.hashes.iter().any(|h| h == value)
    }
}

/// A measured Secure Boot variable: its contents, or why they cannot be trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Variable {
    /// The signature lists, decoded.
    Measured(SignatureDb),
    /// The event data does not hash to its digest, or its signature lists are malformed.
    Unverifiable(String),
}

/// What a verified boot log says (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootFacts {
    /// `Some(true)` when `SecureBoot` = 1 was measured, `Some(false)` for another value, `None`
    /// when it was not measured.
    pub secure_boot: Option<bool>,
    /// `pk`, `kek`, `db`, `dbx` as measured (the last event of each).
    pub variables: Vec<(&'static str, Variable)>,
    /// The digest of each EFI application loaded, in log order.
    pub boot_applications: Vec<Vec<u8>>,
    /// The kernel command lines measured (and checked against their digests).
    pub kernel_cmdlines: Vec<String>,
    /// `kernel_cmdline:` events whose digest is not the hash of their text.
    pub unverified_cmdlines: u64,
    /// The digests of each load-options event of the Linux EFI stub, in log order (see the
    /// module documentation).
    pub load_options: Vec<Vec<Digest>>,
}

/// True when `digests` are not empty and each is the hash of `bytes` in its bank.
fn digests_are_hashes_of(digests: &[Digest], bytes: &[u8]) -> bool {
    !digests.is_empty() && digests.iter().all(|d| d.alg().hash(bytes) == *d)
}

fn boot_log_error(e: mr_core::Error) -> PolicyError {
    PolicyError::BootLog(e.to_string())
}

impl BootFacts {
    /// The facts of the PC-Client log `log`, from the events of the PCRs for which `verified`
    /// is true.
    pub fn from_log(log: &[u8], verified: impl Fn(u32) -> bool) -> Result<BootFacts, PolicyError> {
        let parsed = tcg::parse(log, &ParseOptions::default()).map_err(boot_log_error)?;
        let uintn = parsed.spec_id.as_ref().map(|s| s.uintn_size);
        let mut facts = BootFacts::default();
        for e in parsed.events.iter().filter(|e| !e.is_no_action()) {
            if !verified(e.index) {
                continue;
            }
            match (e.index, e.event_type) {
                (7, EventType::EV_EFI_VARIABLE_DRIVER_CONFIG) => {
                    let checked = matches!(e.data_check(), DataCheck::Verified(_));
                    let EventData::Variable(v) = e.decode(uintn).map_err(boot_log_error)? else {
                        continue;
                    };
                    let guid = v.guid_string();
                    let name = match (guid.as_str(), v.name.as_str()) {
                        (EFI_GLOBAL_VARIABLE, "SecureBoot") => {
                            if checked {
                                facts.secure_boot = Some(v.data == [1]);
                            }
                            continue;
                        }
                        (EFI_GLOBAL_VARIABLE, "PK") => "pk",
                        (EFI_GLOBAL_VARIABLE, "KEK") => "kek",
                        (EFI_IMAGE_SECURITY_DATABASE, "db") => "db",
                        (EFI_IMAGE_SECURITY_DATABASE, "dbx") => "dbx",
                        _ => continue,
                    };
                    let value = if checked {
                        match signature_lists(v.data) {
                            Ok(db) => Variable::Measured(db),
                            Err(why) => Variable::Unverifiable(why),
                        }
                    } else {
                        Variable::Unverifiable(format!(
                            "the data of event {} does not hash to its digest",
                            e.record
                        ))
                    };
                    facts.variables.retain(|(n, _)| *n != name);
                    facts.variables.push((name, value));
                }
                (4, EventType::EV_EFI_BOOT_SERVICES_APPLICATION) => {
                    let d = e
                        .digest(HashAlg::Sha256)
                        .or_else(|| e.digests.first())
                        .map(|d| d.as_bytes().to_vec());
                    if let Some(d) = d {
                        facts.boot_applications.push(d);
                    }
                }
                (8, EventType::EV_IPL) => {
                    let Some(text) = e.data.strip_prefix(GRUB_CMDLINE_PREFIX) else {
                        continue;
                    };
                    let trimmed = text.strip_suffix(b"\0").unwrap_or(text);
                    if digests_are_hashes_of(&e.digests, trimmed)
                        || digests_are_hashes_of(&e.digests, text)
                    {
                        facts
                            .kernel_cmdlines
                            .push(String::from_utf8_lossy(trimmed).into_owned());
                    } else {
                        facts.unverified_cmdlines += 1;
                    }
                }
                (9, EventType::EV_EVENT_TAG) => {
                    if let Ok(EventData::Tagged { id, .. }) = e.decode(uintn) {
                        if id == LINUX_EFI_LOAD_OPTIONS_EVENT {
                            facts.load_options.push(e.digests.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(facts)
    }

    /// True when `digests` (of one load-options event) are the hashes of `cmdline` as the
    /// Linux EFI stub measures it: UTF-16LE, with or without its terminating NUL.
    pub(crate) fn load_options_match(digests: &[Digest], cmdline: &str) -> bool {
        let mut bytes: Vec<u8> = cmdline.encode_utf16().flat_map(u16::to_le_bytes).collect();
        if digests_are_hashes_of(digests, &bytes) {
            return true;
        }
        bytes.extend_from_slice(&[0, 0]);
        digests_are_hashes_of(digests, &bytes)
    }

    /// The rule on variable `name` (`pk`, `kek`, `db`, `dbx`).
    pub(crate) fn check_variable(&self, name: &'static str, rule: &VariablePolicy) -> RuleCheck {
        let rule_name = match name {
            "pk" => "tpm.pk",
            "kek" => "tpm.kek",
            "db" => "tpm.db",
            _ => "tpm.dbx",
        };
        let fail = |detail: String| RuleCheck {
            name: rule_name,
            claim: Claim::Configuration,
            passed: false,
            detail,
        };
        let db = match self.variables.iter().find(|(n, _)| *n == name) {
            None => return fail(format!("{name} was not measured into a verified PCR 7")),
            Some((_, Variable::Unverifiable(why))) => return fail(format!("{name}: {why}")),
            Some((_, Variable::Measured(db))) => db,
        };
        let decoded = |s: &String| hex::decode(s).unwrap_or_default();
        let missing: Vec<&String> = rule
            .required
            .iter()
            .filter(|r| !db.contains(&decoded(r)))
            .collect();
        let present: Vec<&String> = rule
            .forbidden
            .iter()
            .filter(|f| db.contains(&decoded(f)))
            .collect();
        let summary = format!(
            "{name} holds {} certificate(s), {} hash(es), {} other",
            db.certs.len(),
            db.hashes.len(),
            db.other
        );
        RuleCheck {
            name: rule_name,
            claim: Claim::Configuration,
            passed: missing.is_empty() && present.is_empty(),
            detail: if missing.is_empty() && present.is_empty() {
                format!("{summary}: every required value present, no forbidden one")
            } else {
                format!("{summary}: missing {missing:?}, forbidden present {present:?}")
            },
        }
    }
}

/// Decode a variable's `EFI_SIGNATURE_LIST`s.
fn signature_lists(mut data: &[u8]) -> Result<SignatureDb, String> {
    let mut db = SignatureDb::default();
    while !data.is_empty() {
        let header: &[u8; 28] = data
            .first_chunk()
            .ok_or("a signature list shorter than its header")?;
        let guid = guid_string(&header[..16]);
        let u32_at = |i: usize| {
            u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]) as usize
        };
        let (list_size, header_size, sig_size) = (u32_at(16), u32_at(20), u32_at(24));
        if list_size < 28 || list_size > data.len() {
            return Err(format!(
                "a signature list of {list_size} bytes in {} remaining",
                data.len()
            ));
        }
        let body = data
            .get(28 + header_size.min(list_size)..list_size)
            .ok_or("a signature header larger than its list")?;
        if sig_size <= 16 || body.len() % sig_size != 0 {
            return Err(format!(
                "signatures of {sig_size} bytes do not fill a list body of {} bytes",
                body.len()
            ));
        }
        for sig in body.chunks_exact(sig_size) {
            let value = &sig[16..];
            match guid.as_str() {
                EFI_CERT_X509 => db.certs.push(sha2::Sha256::digest(value).into()),
                EFI_CERT_SHA256 => db.hashes.push(
                    value
                        .try_into()
                        .map_err(|_| format!("a SHA-256 entry of {} bytes", value.len()))?,
                ),
                _ => db.other += 1,
            }
        }
        data = &data[list_size..];
    }
    Ok(db)
}

fn guid_string(g: &[u8]) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{}-{}",
        u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
        u16::from_le_bytes([g[4], g[5]]),
        u16::from_le_bytes([g[6], g[7]]),
        hex::encode(&g[8..10]),
        hex::encode(&g[10..16])
    )
}
