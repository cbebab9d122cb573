//! The appraisal policy document (JSON, `version: 1`, schema `docs/policy.schema.json`): platform
//! rules for a TD root (`td`) and a TPM root (`tpm`), a reference to the IMA runtime policy
//! (`runtime_policy`, a path relative to the document or the policy inline) and a deny list.
//!
//! [`AppraisalPolicy`] is the loaded, validated document; [`TdPolicy::check`] and
//! [`TpmPolicy::check`] evaluate its rules over facts the verifier took from verified evidence
//! ([`TdFacts`], [`TpmFacts`]) and give one [`RuleCheck`] per rule, with the values compared. The
//! rules and the go-tdx-guest options they cover are listed in `docs/appraisal.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mr_core::{HashAlg, MrId, RegisterValue};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use crate::deny::DenyList;
use crate::dsse::DsseKey;
use crate::error::PolicyError;
use crate::facts::BootFacts;
use crate::policy::RuntimePolicy;

/// The format version of the appraisal policy document this implementation reads.
pub const POLICY_DOCUMENT_VERSION: u64 = 1;

/// Largest appraisal policy document accepted (16 MiB, checked before reading; an inline runtime
/// policy larger than that belongs in its own file).
pub const MAX_POLICY_DOCUMENT_LEN: u64 = 16 << 20;

/// Most values in one allowed set of the document.
pub const MAX_SET_LEN: usize = 4096;

/// The claim of an attestation result's trustworthiness vector (AR4SI) a rule bears on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Claim {
    /// What ran: reference measurements (MRTD, RTMRs, PCRs, boot images, IMA entries).
    Executables,
    /// How it is configured: TD attributes, XFAM, MRCONFIGID / MROWNER, Secure Boot state.
    Configuration,
    /// The platform it runs on: the TDX module, QE and PCE versions, TCB status, collateral.
    Hardware,
}

/// The outcome of one rule of the policy: its name, whether it held and the values compared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleCheck {
    /// The rule, e.g. `td.mr_td`, `td.tcb_status`, `tpm.pcr`, `tpm.secure_boot`.
    pub name: &'static str,
    /// The claim it bears on.
    pub claim: Claim,
    /// True when the rule held.
    pub passed: bool,
    /// The values compared (the evidence's and the policy's).
    pub detail: String,
}

impl RuleCheck {
    fn new(name: &'static str, claim: Claim, passed: bool, detail: String) -> RuleCheck {
        RuleCheck {
            name,
            claim,
            passed,
            detail,
        }
    }
}

/// `N` bytes written as `2N` hex digits (either case).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hex<const N: usize>(pub [u8; N]);

impl<'de, const N: usize> Deserialize<'de> for Hex<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; N];
        hex::decode_to_slice(&s, &mut out).map_err(|_| {
            de::Error::custom(format!(
                "expected {} hex digits, got {:?}",
                2 * N,
                s.chars().take(2 * N + 8).collect::<String>()
            ))
        })?;
        Ok(Hex(out))
    }
}

/// An optional set of allowed 48-byte values.
type Set48 = Option<Vec<Hex<48>>>;

/// The raw document, as written (every object refuses unknown fields).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument {
    version: u64,
    #[serde(default)]
    td: Option<TdPolicy>,
    #[serde(default)]
    tpm: Option<RawTpmPolicy>,
    #[serde(default)]
    runtime_policy: Option<serde_json::Value>,
    #[serde(default)]
    runtime_policy_key: Option<String>,
    #[serde(default)]
    deny_list: Option<Vec<String>>,
}

/// Rules for a TD root, over the fields of a verified TD quote (and its collateral). Every
/// option of go-tdx-guest's `validate.Options` has one (see `docs/appraisal.md`); a set holds the
/// allowed values (go-tdx-guest's `AnyMrTd` generalised to every register).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TdPolicy {
    /// Allowed MRTD values.
    pub mr_td: Option<Vec<Hex<48>>>,
    /// Allowed RTMR0 values.
    pub rtmr0: Option<Vec<Hex<48>>>,
    /// Allowed RTMR1 values.
    pub rtmr1: Option<Vec<Hex<48>>>,
    /// Allowed RTMR2 values.
    pub rtmr2: Option<Vec<Hex<48>>>,
    /// Allowed RTMR3 values.
    pub rtmr3: Option<Vec<Hex<48>>>,
    /// Allowed MRCONFIGID values.
    pub mr_config_id: Option<Vec<Hex<48>>>,
    /// Allowed MROWNER values.
    pub mr_owner: Option<Vec<Hex<48>>>,
    /// Allowed MROWNERCONFIG values.
    pub mr_owner_config: Option<Vec<Hex<48>>>,
    /// Allowed MRSEAM values (the TDX module).
    pub mr_seam: Option<Vec<Hex<48>>>,
    /// Allowed MRSIGNERSEAM values (all zero for Intel's module).
    pub mr_signer_seam: Option<Vec<Hex<48>>>,
    /// Allowed REPORTDATA values.
    pub report_data: Option<Vec<Hex<64>>>,
    /// TD attributes: DEBUG refused unless allowed, bits required and forbidden, exact value.
    #[serde(default)]
    pub td_attributes: TdAttributesPolicy,
    /// XFAM: `(xfam & mask) == (value & mask)`.
    pub xfam: Option<MaskedValue>,
    /// Minimum TEE_TCB_SVN, byte by byte (each byte of the quote's at least the policy's).
    pub minimum_tee_tcb_svn: Option<Hex<16>>,
    /// Minimum QE SVN (the quote header's, as go-tdx-guest reads it).
    pub minimum_qe_svn: Option<u16>,
    /// Minimum PCE SVN (the quote header's, as go-tdx-guest reads it).
    pub minimum_pce_svn: Option<u16>,
    /// The QE vendor id the header must carry.
    pub qe_vendor_id: Option<Hex<16>>,
    /// The TCB status from the collateral (default: collateral required, `UpToDate` only).
    #[serde(default)]
    pub tcb: TcbPolicy,
}

/// TD attributes rules. The bytes are the quote's (little-endian; bit 0 of the first byte is
/// DEBUG).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TdAttributesPolicy {
    /// Accept a debug TD (default false: DEBUG refused).
    #[serde(default)]
    pub allow_debug: bool,
    /// The exact value (go-tdx-guest `TdAttributes`).
    pub value: Option<Hex<8>>,
    /// Bits that must be set.
    pub required: Option<Hex<8>>,
    /// Bits that must be clear.
    pub forbidden: Option<Hex<8>>,
}

/// A value compared under a mask.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskedValue {
    /// The expected value.
    pub value: Hex<8>,
    /// The bits compared (default all: an exact match).
    #[serde(default = "all_ones")]
    pub mask: Hex<8>,
}

fn all_ones() -> Hex<8> {
    Hex([0xff; 8])
}

/// TCB status rules over the collateral's evaluation.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcbPolicy {
    /// Accepted TCB statuses (default `["UpToDate"]`).
    #[serde(default = "up_to_date")]
    pub statuses: Vec<String>,
    /// Advisory IDs that may apply (default none: any advisory refuses).
    #[serde(default)]
    pub advisories: Vec<String>,
    /// The oldest acceptable issue date (RFC 3339) of the collateral's TCB info and QE identity.
    pub collateral_not_before: Option<String>,
    /// Refuse a quote verified without collateral (default true: its TCB status is unknown).
    #[serde(default = "yes")]
    pub require_collateral: bool,
}

impl Default for TcbPolicy {
    fn default() -> Self {
        TcbPolicy {
            statuses: up_to_date(),
            advisories: Vec::new(),
            collateral_not_before: None,
            require_collateral: true,
        }
    }
}

fn up_to_date() -> Vec<String> {
    vec!["UpToDate".to_owned()]
}

fn yes() -> bool {
    true
}

/// What a verified TD quote says, for [`TdPolicy::check`] (taken from a quote whose signature
/// chain verified: the verifier fills it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TdFacts {
    /// MRTD.
    pub mr_td: [u8; 48],
    /// RTMR0..3.
    pub rtmr: [[u8; 48]; 4],
    /// MRCONFIGID.
    pub mr_config_id: [u8; 48],
    /// MROWNER.
    pub mr_owner: [u8; 48],
    /// MROWNERCONFIG.
    pub mr_owner_config: [u8; 48],
    /// MRSEAM.
    pub mr_seam: [u8; 48],
    /// MRSIGNERSEAM.
    pub mr_signer_seam: [u8; 48],
    /// REPORTDATA.
    pub report_data: [u8; 64],
    /// TD attributes.
    pub td_attributes: [u8; 8],
    /// XFAM.
    pub xfam: [u8; 8],
    /// TEE_TCB_SVN.
    pub tee_tcb_svn: [u8; 16],
    /// QE SVN of the quote header.
    pub qe_svn: u16,
    /// PCE SVN of the quote header.
    pub pce_svn: u16,
    /// QE vendor id of the quote header.
    pub qe_vendor_id: [u8; 16],
    /// The collateral's evaluation, when the quote was verified with collateral.
    pub tcb: Option<TcbFacts>,
}

/// The TCB evaluation of a quote's collateral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcbFacts {
    /// Intel's status name (`UpToDate`, `OutOfDate`, …).
    pub status: String,
    /// The advisory IDs that apply.
    pub advisory_ids: Vec<String>,
    /// Issue dates (RFC 3339) of the collateral's parts: `("tcb_info", …)`, `("qe_identity", …)`.
    pub issue_dates: Vec<(&'static str, String)>,
}

fn hexs(set: &[impl AsRef<[u8]>]) -> String {
    let v: Vec<String> = set.iter().map(hex::encode).collect();
    format!("{{{}}}", v.join(", "))
}

/// The allowed-set rule `name`: `value` must be one of `set`.
fn one_of<const N: usize>(
    name: &'static str,
    claim: Claim,
    value: &[u8; N],
    set: &[Hex<N>],
) -> RuleCheck {
    let passed = set.iter().any(|h| h.0 == *value);
    let allowed: Vec<[u8; N]> = set.iter().map(|h| h.0).collect();
    RuleCheck::new(
        name,
        claim,
        passed,
        format!(
            "{} {} {}",
            hex::encode(value),
            if passed { "in" } else { "not in" },
            hexs(&allowed)
        ),
    )
}

/// Seconds since the Unix epoch of an RFC 3339 date.
fn unix_seconds(date: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(date)
        .ok()
        .map(|t| t.timestamp())
}

impl TdPolicy {
    fn validate(&self) -> Result<(), PolicyError> {
        let sets: [(&str, Option<usize>); 11] = [
            ("mr_td", self.mr_td.as_ref().map(Vec::len)),
            ("rtmr0", self.rtmr0.as_ref().map(Vec::len)),
            ("rtmr1", self.rtmr1.as_ref().map(Vec::len)),
            ("rtmr2", self.rtmr2.as_ref().map(Vec::len)),
            ("rtmr3", self.rtmr3.as_ref().map(Vec::len)),
            ("mr_config_id", self.mr_config_id.as_ref().map(Vec::len)),
            ("mr_owner", self.mr_owner.as_ref().map(Vec::len)),
            (
                "mr_owner_config",
                self.mr_owner_config.as_ref().map(Vec::len),
            ),
            ("mr_seam", self.mr_seam.as_ref().map(Vec::len)),
            ("mr_signer_seam", self.mr_signer_seam.as_ref().map(Vec::len)),
            ("report_data", self.report_data.as_ref().map(Vec::len)),
        ];
        for (name, len) in sets {
            check_set_len(&format!("/td/{name}"), len)?;
        }
        check_set_len("/td/tcb/statuses", Some(self.tcb.statuses.len()))?;
        if let Some(date) = &self.tcb.collateral_not_before {
            if unix_seconds(date).is_none() {
                return Err(document(
                    "/td/tcb/collateral_not_before",
                    format!("{date:?} is not an RFC 3339 date"),
                ));
            }
        }
        Ok(())
    }

    /// Evaluate every rule of this section over `facts`; one [`RuleCheck`] per rule, in the
    /// order of the document's fields.
    pub fn check(&self, facts: &TdFacts) -> Vec<RuleCheck> {
        use Claim::{Configuration, Executables, Hardware};
        let mut out = Vec::new();
        let sets: [(&'static str, Claim, &[u8; 48], &Set48); 10] = [
            ("td.mr_td", Executables, &facts.mr_td, &self.mr_td),
            ("td.rtmr0", Executables, &facts.rtmr[0], &self.rtmr0),
            ("td.rtmr1", Executables, &facts.rtmr[1], &self.rtmr1),
            ("td.rtmr2", Executables, &facts.rtmr[2], &self.rtmr2),
            ("td.rtmr3", Executables, &facts.rtmr[3], &self.rtmr3),
            (
                "td.mr_config_id",
                Configuration,
                &facts.mr_config_id,
                &self.mr_config_id,
            ),
            (
                "td.mr_owner",
                Configuration,
                &facts.mr_owner,
                &self.mr_owner,
            ),
            (
                "td.mr_owner_config",
                Configuration,
                &facts.mr_owner_config,
                &self.mr_owner_config,
            ),
            ("td.mr_seam", Hardware, &facts.mr_seam, &self.mr_seam),
            (
                "td.mr_signer_seam",
                Hardware,
                &facts.mr_signer_seam,
                &self.mr_signer_seam,
            ),
        ];
        for (name, claim, value, set) in sets {
            if let Some(set) = set {
                out.push(one_of(name, claim, value, set));
            }
        }
        if let Some(set) = &self.report_data {
            out.push(one_of(
                "td.report_data",
                Configuration,
                &facts.report_data,
                set,
            ));
        }
        out.push(self.td_attributes.check(&facts.td_attributes));
        if let Some(x) = &self.xfam {
            let passed = facts
                .xfam
                .iter()
                .zip(x.value.0.iter().zip(x.mask.0.iter()))
                .all(|(v, (e, m))| v & m == e & m);
            out.push(RuleCheck::new(
                "td.xfam",
                Configuration,
                passed,
                format!(
                    "xfam {} {} {} under mask {}",
                    hex::encode(facts.xfam),
                    if passed { "matches" } else { "does not match" },
                    hex::encode(x.value.0),
                    hex::encode(x.mask.0)
                ),
            ));
        }
        if let Some(min) = &self.minimum_tee_tcb_svn {
            let low: Vec<usize> = (0..16)
                .filter(|i| facts.tee_tcb_svn[*i] < min.0[*i])
                .collect();
            out.push(RuleCheck::new(
                "td.tee_tcb_svn",
                Hardware,
                low.is_empty(),
                if low.is_empty() {
                    format!(
                        "tee_tcb_svn {} ≥ {} byte by byte",
                        hex::encode(facts.tee_tcb_svn),
                        hex::encode(min.0)
                    )
                } else {
                    format!(
                        "tee_tcb_svn {} < minimum {} at byte(s) {low:?}",
                        hex::encode(facts.tee_tcb_svn),
                        hex::encode(min.0)
                    )
                },
            ));
        }
        for (name, value, min) in [
            ("td.qe_svn", facts.qe_svn, self.minimum_qe_svn),
            ("td.pce_svn", facts.pce_svn, self.minimum_pce_svn),
        ] {
            if let Some(min) = min {
                let passed = value >= min;
                out.push(RuleCheck::new(
                    name,
                    Hardware,
                    passed,
                    format!(
                        "{} {value} {} minimum {min}",
                        &name[3..],
                        if passed { "≥" } else { "<" }
                    ),
                ));
            }
        }
        if let Some(v) = &self.qe_vendor_id {
            out.push(one_of(
                "td.qe_vendor_id",
                Hardware,
                &facts.qe_vendor_id,
                std::slice::from_ref(v),
            ));
        }
        out.extend(self.tcb.check(facts.tcb.as_ref()));
        out
    }
}

impl TdAttributesPolicy {
    fn check(&self, a: &[u8; 8]) -> RuleCheck {
        let mut problems = Vec::new();
        if a[0] & 1 != 0 && !self.allow_debug {
            problems.push("DEBUG is set and the policy does not allow a debug TD".to_owned());
        }
        if let Some(v) = &self.value {
            if v.0 != *a {
                problems.push(format!("not the required value {}", hex::encode(v.0)));
            }
        }
        if let Some(r) = &self.required {
            let missing: Vec<u8> = a.iter().zip(r.0).map(|(x, r)| !x & r).collect();
            if missing.iter().any(|b| *b != 0) {
                problems.push(format!("required bits {} clear", hex::encode(missing)));
            }
        }
        if let Some(f) = &self.forbidden {
            let set: Vec<u8> = a.iter().zip(f.0).map(|(x, f)| x & f).collect();
            if set.iter().any(|b| *b != 0) {
                problems.push(format!("forbidden bits {} set", hex::encode(set)));
            }
        }
        RuleCheck::new(
            "td.td_attributes",
            Claim::Configuration,
            problems.is_empty(),
            if problems.is_empty() {
                format!(
                    "td_attributes {} (DEBUG {})",
                    hex::encode(a),
                    if a[0] & 1 != 0 {
                        "set, allowed"
                    } else {
                        "clear"
                    }
                )
            } else {
                format!("td_attributes {}: {}", hex::encode(a), problems.join("; "))
            },
        )
    }
}

impl TcbPolicy {
    fn check(&self, tcb: Option<&TcbFacts>) -> Vec<RuleCheck> {
        let Some(t) = tcb else {
            return vec![RuleCheck::new(
                "td.tcb_status",
                Claim::Hardware,
                !self.require_collateral,
                if self.require_collateral {
                    "no collateral given: the TCB status is unknown and the policy requires it"
                        .to_owned()
                } else {
                    "no collateral given; the policy does not require it".to_owned()
                },
            )];
        };
        let mut out = Vec::new();
        let status_ok = self.statuses.contains(&t.status);
        let unexpected: Vec<&String> = t
            .advisory_ids
            .iter()
            .filter(|a| !self.advisories.contains(a))
            .collect();
        out.push(RuleCheck::new(
            "td.tcb_status",
            Claim::Hardware,
            status_ok && unexpected.is_empty(),
            format!(
                "status {} {} {:?}; advisories {:?}{}",
                t.status,
                if status_ok { "in" } else { "not in" },
                self.statuses,
                t.advisory_ids,
                if unexpected.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", not allowed: {unexpected:?} (allowed {:?})",
                        self.advisories
                    )
                }
            ),
        ));
        if let Some(min) = &self.collateral_not_before {
            let min_secs = unix_seconds(min).unwrap_or(i64::MAX);
            let mut problems = Vec::new();
            for (part, date) in &t.issue_dates {
                match unix_seconds(date) {
                    Some(s) if s >= min_secs => {}
                    Some(_) => problems.push(format!("{part} issued {date}")),
                    None => problems.push(format!("{part} issue date {date:?} unreadable")),
                }
            }
            if t.issue_dates.is_empty() {
                problems.push("the collateral has no issue date".to_owned());
            }
            let dates: Vec<String> = t
                .issue_dates
                .iter()
                .map(|(p, d)| format!("{p} {d}"))
                .collect();
            out.push(RuleCheck::new(
                "td.collateral_date",
                Claim::Hardware,
                problems.is_empty(),
                if problems.is_empty() {
                    format!("{} not before {min}", dates.join(", "))
                } else {
                    format!("{} before {min}", problems.join(", "))
                },
            ));
        }
        out
    }
}

/// The raw `tpm` section.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTpmPolicy {
    #[serde(default)]
    pcrs: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    secure_boot: Option<bool>,
    #[serde(default)]
    pk: Option<VariablePolicy>,
    #[serde(default)]
    kek: Option<VariablePolicy>,
    #[serde(default)]
    db: Option<VariablePolicy>,
    #[serde(default)]
    dbx: Option<VariablePolicy>,
    #[serde(default)]
    boot_applications: Option<Vec<String>>,
    #[serde(default)]
    kernel_cmdlines: Option<Vec<String>>,
}

/// Rules over the contents of a Secure Boot variable as the boot log measured it (PK, KEK, db,
/// dbx): certificates by the SHA-256 of their DER, hashes by value (hex).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariablePolicy {
    /// Certificates (SHA-256 of the DER) and hashes the variable must hold.
    #[serde(default)]
    pub required: Vec<String>,
    /// Certificates (SHA-256 of the DER) and hashes the variable must not hold.
    #[serde(default)]
    pub forbidden: Vec<String>,
}

/// Rules for a TPM root: allowed values per PCR and bank, and facts of the verified boot log.
#[derive(Clone, Debug, Default)]
pub struct TpmPolicy {
    /// Allowed values of each PCR and bank.
    pub pcrs: Vec<(u32, HashAlg, Vec<Vec<u8>>)>,
    /// The Secure Boot state the boot log must show.
    pub secure_boot: Option<bool>,
    /// Rules on the Secure Boot variables: `("pk", …)`, `("kek", …)`, `("db", …)`, `("dbx", …)`.
    pub variables: Vec<(&'static str, VariablePolicy)>,
    /// Allowed digests (of the log's bank) of the EFI applications the firmware loaded (PCR 4).
    pub boot_applications: Option<Vec<Vec<u8>>>,
    /// Allowed kernel command lines: GRUB's as it logged them, the Linux EFI stub's by the
    /// digests of its load options (the line in UTF-16LE).
    pub kernel_cmdlines: Option<Vec<String>>,
}

/// What a verified TPM quote and boot log say, for [`TpmPolicy::check`].
#[derive(Clone, Debug, Default)]
pub struct TpmFacts {
    /// The PCR values the quote vouches for.
    pub pcrs: Vec<RegisterValue>,
    /// The facts of the boot log, from the events of PCRs the quote vouches for; `None` without
    /// a verified boot log.
    pub boot: Option<BootFacts>,
}

fn decode_hex(path: &str, s: &str, len: Option<usize>) -> Result<Vec<u8>, PolicyError> {
    let bytes = hex::decode(s).map_err(|_| document(path, format!("{s:?} is not hex")))?;
    match len {
        Some(n) if bytes.len() != n => Err(document(
            path,
            format!("{s:?} is {} bytes, not {n}", bytes.len()),
        )),
        _ if bytes.is_empty() => Err(document(path, "empty value".to_owned())),
        _ => Ok(bytes),
    }
}

impl RawTpmPolicy {
    fn validate(self) -> Result<TpmPolicy, PolicyError> {
        let mut pcrs = Vec::new();
        for (bank, values) in &self.pcrs {
            let alg = HashAlg::from_name(bank)
                .ok_or_else(|| document("/tpm/pcrs", format!("unknown bank {bank:?}")))?;
            for (index, set) in values {
                let path = format!("/tpm/pcrs/{bank}/{index}");
                let pcr: u32 = index
                    .parse()
                    .ok()
                    .filter(|p| *p < 24)
                    .ok_or_else(|| document(&path, "not a PCR number (0-23)".to_owned()))?;
                check_set_len(&path, Some(set.len()))?;
                let set = set
                    .iter()
                    .map(|v| decode_hex(&path, v, Some(alg.size())))
                    .collect::<Result<Vec<_>, _>>()?;
                pcrs.push((pcr, alg, set));
            }
        }
        let mut variables = Vec::new();
        for (name, v) in [
            ("pk", self.pk),
            ("kek", self.kek),
            ("db", self.db),
            ("dbx", self.dbx),
        ] {
            if let Some(v) = v {
                for s in v.required.iter().chain(&v.forbidden) {
                    decode_hex(&format!("/tpm/{name}"), s, None)?;
                }
                variables.push((name, v));
            }
        }
        let boot_applications = match self.boot_applications {
            Some(set) => {
                check_set_len("/tpm/boot_applications", Some(set.len()))?;
                Some(
                    set.iter()
                        .map(|v| decode_hex("/tpm/boot_applications", v, None))
                        .collect::<Result<Vec<_>, _>>()?,
                )
            }
            None => None,
        };
        if let Some(set) = &self.kernel_cmdlines {
            check_set_len("/tpm/kernel_cmdlines", Some(set.len()))?;
        }
        Ok(TpmPolicy {
            pcrs,
            secure_boot: self.secure_boot,
            variables,
            boot_applications,
            kernel_cmdlines: self.kernel_cmdlines,
        })
    }
}

impl TpmPolicy {
    /// True when a rule needs the boot log.
    pub fn needs_boot_log(&self) -> bool {
        self.secure_boot.is_some()
            || !self.variables.is_empty()
            || self.boot_applications.is_some()
            || self.kernel_cmdlines.is_some()
    }

    /// Evaluate every rule of this section over `facts`; one [`RuleCheck`] per rule (one per
    /// PCR and bank).
    pub fn check(&self, facts: &TpmFacts) -> Vec<RuleCheck> {
        let mut out = Vec::new();
        for (pcr, alg, set) in &self.pcrs {
            let id = MrId::Pcr(*pcr);
            let allowed = hexs(set);
            out.push(
                match facts
                    .pcrs
                    .iter()
                    .find(|r| r.id == id && r.value.alg() == *alg)
                {
                    Some(v) => {
                        let passed = set.iter().any(|s| s.as_slice() == v.value.as_bytes());
                        RuleCheck::new(
                            "tpm.pcr",
                            Claim::Executables,
                            passed,
                            format!(
                                "pcr{pcr} {alg}: {} {} {allowed}",
                                v.value.to_hex(),
                                if passed { "in" } else { "not in" }
                            ),
                        )
                    }
                    None => RuleCheck::new(
                        "tpm.pcr",
                        Claim::Executables,
                        false,
                        format!(
                            "pcr{pcr} {alg}: no verified value (give the quoted PCR values and \
                             quote this PCR)"
                        ),
                    ),
                },
            );
        }
        if !self.needs_boot_log() {
            return out;
        }
        let Some(boot) = &facts.boot else {
            out.push(RuleCheck::new(
                "tpm.boot_log",
                Claim::Configuration,
                false,
                "the policy has boot-log rules but no boot log was verified against the quote"
                    .to_owned(),
            ));
            return out;
        };
        if let Some(want) = self.secure_boot {
            let passed = boot.secure_boot == Some(want);
            out.push(RuleCheck::new(
                "tpm.secure_boot",
                Claim::Configuration,
                passed,
                format!(
                    "SecureBoot {} (the policy requires {})",
                    match boot.secure_boot {
                        Some(true) => "enabled",
                        Some(false) => "disabled",
                        None => "not measured",
                    },
                    if want { "enabled" } else { "disabled" }
                ),
            ));
        }
        for (name, rule) in &self.variables {
            out.push(boot.check_variable(name, rule));
        }
        if let Some(set) = &self.boot_applications {
            let unknown: Vec<String> = boot
                .boot_applications
                .iter()
                .filter(|d| !set.contains(d))
                .map(hex::encode)
                .collect();
            out.push(RuleCheck::new(
                "tpm.boot_applications",
                Claim::Executables,
                unknown.is_empty() && !boot.boot_applications.is_empty(),
                if boot.boot_applications.is_empty() {
                    "the boot log measured no EFI application".to_owned()
                } else if unknown.is_empty() {
                    format!(
                        "{} in {}",
                        hexs(&boot.boot_applications),
                        hexs(set.as_slice())
                    )
                } else {
                    format!("{{{}}} not in {}", unknown.join(", "), hexs(set.as_slice()))
                },
            ));
        }
        if let Some(set) = &self.kernel_cmdlines {
            // GRUB's command lines by their text, the EFI stub's load options by their digests.
            let (mut allowed, mut unknown) = (Vec::new(), Vec::new());
            for c in &boot.kernel_cmdlines {
                if set.contains(c) {
                    allowed.push(format!("{c:?}"));
                } else {
                    unknown.push(format!("{c:?}"));
                }
            }
            for digests in &boot.load_options {
                match set
                    .iter()
                    .find(|c| BootFacts::load_options_match(digests, c))
                {
                    Some(c) => allowed.push(format!("{c:?}")),
                    None => unknown.push(match digests.first() {
                        Some(d) => format!("load options {}:{}", d.alg(), d.to_hex()),
                        None => "load options without a digest".to_owned(),
                    }),
                }
            }
            let measured = !boot.kernel_cmdlines.is_empty() || !boot.load_options.is_empty();
            out.push(RuleCheck::new(
                "tpm.kernel_cmdline",
                Claim::Configuration,
                unknown.is_empty() && measured,
                if !measured {
                    "the boot log measured no kernel command line".to_owned()
                } else if unknown.is_empty() {
                    format!("[{}] in {set:?}", allowed.join(", "))
                } else {
                    format!("[{}] not in {set:?}", unknown.join(", "))
                },
            ));
        }
        out
    }
}

fn check_set_len(path: &str, len: Option<usize>) -> Result<(), PolicyError> {
    match len {
        Some(0) => Err(document(
            path,
            "an empty set allows nothing: leave the rule out instead".to_owned(),
        )),
        Some(n) if n > MAX_SET_LEN => {
            Err(document(path, format!("more than {MAX_SET_LEN} values")))
        }
        _ => Ok(()),
    }
}

fn document(path: &str, message: String) -> PolicyError {
    PolicyError::Document {
        path: path.to_owned(),
        message,
    }
}

/// The files an appraisal policy is loaded from ([`AppraisalPolicy::from_files`]); each is
/// optional.
#[derive(Clone, Copy, Debug, Default)]
pub struct PolicyFiles<'a> {
    /// The policy document (`docs/policy.schema.json`).
    pub document: Option<&'a Path>,
    /// A keylime runtime policy (JSON, or a DSSE envelope holding one).
    pub runtime: Option<&'a Path>,
    /// The key the runtime policy's DSSE envelope is signed with (an envelope is refused
    /// without it).
    pub runtime_key: Option<&'a Path>,
    /// A deny list (one hex digest per line).
    pub deny_list: Option<&'a Path>,
}

/// A loaded, validated appraisal policy: platform rules, the runtime policy and the deny list.
#[derive(Debug, Default)]
pub struct AppraisalPolicy {
    /// Rules for a TD root.
    pub td: Option<TdPolicy>,
    /// Rules for a TPM root.
    pub tpm: Option<TpmPolicy>,
    /// The IMA runtime policy (keylime format) the covered entries must satisfy.
    pub runtime: Option<RuntimePolicy>,
    /// Digests rejected whatever the runtime policy or a signature says.
    pub deny_list: Option<DenyList>,
}

impl AppraisalPolicy {
    /// Parse and validate a document; a `runtime_policy` path is read relative to `base_dir`
    /// (and its DSSE envelope verified with `runtime_policy_key`, also relative to `base_dir`).
    /// Any deviation from the schema is an error: never a partial policy.
    pub fn from_json(bytes: &[u8], base_dir: &Path) -> Result<AppraisalPolicy, PolicyError> {
        if bytes.len() as u64 > MAX_POLICY_DOCUMENT_LEN {
            return Err(PolicyError::TooLarge {
                what: "policy document",
                len: bytes.len() as u64,
                max: MAX_POLICY_DOCUMENT_LEN,
            });
        }
        let raw: RawDocument = serde_json::from_slice(bytes)
            .map_err(|e| document("/", format!("not a policy document: {e}")))?;
        if raw.version != POLICY_DOCUMENT_VERSION {
            return Err(document(
                "/version",
                format!(
                    "version {} is not supported (version {POLICY_DOCUMENT_VERSION} is)",
                    raw.version
                ),
            ));
        }
        if let Some(td) = &raw.td {
            td.validate()?;
        }
        let tpm = raw.tpm.map(RawTpmPolicy::validate).transpose()?;
        let key = match &raw.runtime_policy_key {
            Some(p) => Some(DsseKey::from_file(&base_dir.join(p))?),
            None => None,
        };
        let runtime = match raw.runtime_policy {
            None => {
                if key.is_some() {
                    return Err(document(
                        "/runtime_policy_key",
                        "a key without a runtime policy".to_owned(),
                    ));
                }
                None
            }
            Some(serde_json::Value::String(p)) => Some(RuntimePolicy::from_file(
                &resolve(base_dir, &p),
                key.as_ref(),
            )?),
            Some(v @ serde_json::Value::Object(_)) => {
                let bytes = serde_json::to_vec(&v)
                    .map_err(|e| document("/runtime_policy", e.to_string()))?;
                Some(RuntimePolicy::from_json_signed(&bytes, key.as_ref())?)
            }
            Some(_) => {
                return Err(document(
                    "/runtime_policy",
                    "neither a path nor a policy object".to_owned(),
                ))
            }
        };
        let deny_list = match raw.deny_list {
            Some(lines) => Some(DenyList::from_digests(&lines)?),
            None => None,
        };
        Ok(AppraisalPolicy {
            td: raw.td,
            tpm,
            runtime,
            deny_list,
        })
    }

    /// Read a document (at most [`MAX_POLICY_DOCUMENT_LEN`] bytes, checked before reading);
    /// relative paths in it are relative to its directory.
    pub fn from_file(path: &Path) -> Result<AppraisalPolicy, PolicyError> {
        let bytes = crate::read_bounded(path, "policy document", MAX_POLICY_DOCUMENT_LEN)?;
        let base = path.parent().unwrap_or(Path::new("."));
        AppraisalPolicy::from_json(&bytes, base)
    }

    /// The same policy with `runtime` as its runtime policy. A document that already names one
    /// is an error: one policy must not silently replace another.
    pub fn with_runtime(mut self, runtime: RuntimePolicy) -> Result<AppraisalPolicy, PolicyError> {
        if self.runtime.is_some() {
            return Err(document(
                "/runtime_policy",
                "the policy document already names a runtime policy".to_owned(),
            ));
        }
        self.runtime = Some(runtime);
        Ok(self)
    }

    /// The policy of separate files: the document (if any), then a runtime policy (its DSSE
    /// envelope verified with `runtime_key`) that the document must not already name, then a
    /// deny list added to the document's; `None` when no file is given. A deny list applies
    /// with a runtime policy, so one without is an error ([`PolicyError::DenyListAlone`]).
    pub fn from_files(files: PolicyFiles<'_>) -> Result<Option<AppraisalPolicy>, PolicyError> {
        if files.document.is_none() && files.runtime.is_none() && files.deny_list.is_none() {
            return Ok(None);
        }
        let mut policy = match files.document {
            Some(p) => AppraisalPolicy::from_file(p)?,
            None => AppraisalPolicy::default(),
        };
        if let Some(p) = files.runtime {
            let key = files.runtime_key.map(DsseKey::from_file).transpose()?;
            policy = policy.with_runtime(RuntimePolicy::from_file(p, key.as_ref())?)?;
        }
        if let Some(p) = files.deny_list {
            policy = policy.with_deny_list(DenyList::from_file(p)?);
        }
        if policy.runtime.is_none() && policy.deny_list.is_some() {
            return Err(PolicyError::DenyListAlone);
        }
        Ok(Some(policy))
    }

    /// The same policy with `deny` added to its deny list.
    pub fn with_deny_list(mut self, deny: DenyList) -> AppraisalPolicy {
        self.deny_list = Some(match self.deny_list.take() {
            Some(mut d) => {
                d.extend(deny);
                d
            }
            None => deny,
        });
        self
    }
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}
