//! The attestation result: what was verified, from which root, which registers with which
//! provenance, each log's report, each rule's outcome, and why anything failed. Serialisable to
//! JSON ([`serde::Serialize`]) and to an EAR claims set ([`AttestationResult::to_ear`]).

use mr_core::log::ima::ImaReplayReport;
use mr_core::log::tcg::ccel::CcelTable;
use mr_core::log::tcg::{IncompleteBank, LogEnd, LogFormat, TcgReplayReport};
use mr_core::{Digest, MrId, Provenance, RegisterValue, VerifiedRegisters};
use mr_rtmr::quote::{TdAttributes, VerifiedQuote};
use mr_tpm::SignedQuote;
use serde::{Serialize, Serializer};

use crate::error::Failure;

/// The root of trust of a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RootKind {
    /// A TPM quote.
    Tpm,
    /// A TD quote.
    Td,
    /// A vTPM quote whose AK a confidential VM's hardware report vouches for.
    Vtpm,
}

impl RootKind {
    /// `tpm` or `td`.
    pub fn name(self) -> &'static str {
        match self {
            RootKind::Tpm => "tpm",
            RootKind::Td => "td",
            RootKind::Vtpm => "vtpm",
        }
    }
}

/// The verified quote of a result.
#[derive(Clone, Debug)]
pub enum QuoteReport {
    /// A TPM quote whose signature (and nonce, if one was given) verified.
    Tpm(Box<SignedQuote>),
    /// A TD quote whose signature chain, platform rules (and nonce) verified.
    Td(Box<VerifiedQuote>),
    /// A vTPM quote and the hardware report that vouches for its AK, verified.
    Vtpm(Box<mr_vtpm::VerifiedVtpm>),
}

impl QuoteReport {
    /// The quote's details as JSON. TPM: `ak`, `hash`, `nonce`, `nonce_checked`, `clock`,
    /// `firmware_version`, `selection`, `pcr_digest`. TD: `version`, `body_type`,
    /// `report_data`, `tee_tcb_svn`, `tee_tcb_svn2`, `tcb_status`, `trailing_bytes`,
    /// `td_attributes`, `td_attributes_flags`, `debug_td`. vTPM: the TPM quote's, and
    /// `hardware` ([`vtpm_hardware_json`]).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            QuoteReport::Tpm(q) => tpm_quote_json(q),
            QuoteReport::Td(q) => td_quote_json(q),
            QuoteReport::Vtpm(v) => {
                let mut j = tpm_quote_json(&v.quote);
                j["hardware"] = vtpm_hardware_json(&v.hardware);
                j
            }
        }
    }
}

impl Serialize for QuoteReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// JSON of a verified TPM quote (see [`QuoteReport::to_json`]).
pub fn tpm_quote_json(q: &SignedQuote) -> serde_json::Value {
    let c = q.clock_info();
    serde_json::json!({
        "ak": q.ak_id(),
        "hash": q.hash().name(),
        "nonce": hex::encode(q.nonce()),
        "nonce_checked": q.nonce_checked(),
        "clock": {
            "clock": c.clock,
            "reset_count": c.reset_count,
            "restart_count": c.restart_count,
            "safe": c.safe,
        },
        "firmware_version": format!("{:016x}", q.attest().firmware_version),
        "selection": q.quote_info().pcr_select.banks.iter().map(|b| serde_json::json!({
            "alg": b.alg.name(),
            "pcrs": b.pcrs().collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "pcr_digest": hex::encode(&q.quote_info().pcr_digest),
    })
}

/// JSON of a verified TD quote (see [`QuoteReport::to_json`]).
pub fn td_quote_json(v: &VerifiedQuote) -> serde_json::Value {
    let mut j = serde_json::json!({
        "version": v.version(),
        "body_type": v.body_type(),
        "report_data": hex::encode(v.report_data()),
        "tee_tcb_svn": hex::encode(v.tee_tcb_svn()),
        "tee_tcb_svn2": v.tee_tcb_svn2().map(hex::encode),
        "tcb_status": v.tcb_status().map(|t| serde_json::json!({
            "status": t.status,
            "advisory_ids": t.advisory_ids,
        })),
        "trailing_bytes": v.trailing_bytes(),
    });
    add_td_attributes_json(&mut j, v.td_attributes());
    j
}

/// JSON of the hardware report behind a vTPM: `type` (`td_quote` or `snp_report`), then the TD
/// quote's details ([`td_quote_json`]), or the SNP report's `version`, `policy`, `debug_allowed`,
/// `vmpl`, `measurement`, `host_data`, `report_data`, `chip_id`, `reported_tcb`,
/// `current_tcb`, `committed_tcb`, `launch_tcb` (each with its SPLs) and the VCEK chain's
/// `vcek_root`.
pub fn vtpm_hardware_json(h: &mr_vtpm::VerifiedHardware) -> serde_json::Value {
    match h {
        mr_vtpm::VerifiedHardware::Tdx(q) => {
            let mut j = td_quote_json(q);
            j["type"] = serde_json::Value::from("td_quote");
            j
        }
        mr_vtpm::VerifiedHardware::Snp(s) => {
            let r = &s.report;
            let tcb = |t: &mr_vtpm::TcbVersion| {
                serde_json::json!({
                    "raw": format!("{:016x}", t.raw),
                    "fmc": t.fmc,
                    "bootloader": t.bootloader,
                    "tee": t.tee,
                    "snp": t.snp,
                    "microcode": t.microcode,
                })
            };
            serde_json::json!({
                "type": "snp_report",
                "version": r.version,
                "policy": format!("{:016x}", r.policy),
                "debug_allowed": r.debug_allowed(),
                "vmpl": r.vmpl,
                "guest_svn": r.guest_svn,
                "measurement": hex::encode(r.measurement),
                "host_data": hex::encode(r.host_data),
                "report_data": hex::encode(r.report_data),
                "chip_id": hex::encode(r.chip_id),
                "reported_tcb": tcb(&r.reported_tcb),
                "current_tcb": tcb(&r.current_tcb),
                "committed_tcb": tcb(&r.committed_tcb),
                "launch_tcb": tcb(&r.launch_tcb),
                "platform_info": format!("{:016x}", r.platform_info),
                "vcek_root": s.chain.root_description(),
            })
        }
    }
}

/// Add a TD's attributes to a JSON object: `td_attributes` (hex of the quote's bytes),
/// `td_attributes_flags` (names of the set bits) and `debug_td`.
pub fn add_td_attributes_json(j: &mut serde_json::Value, a: TdAttributes) {
    j["td_attributes"] = serde_json::Value::String(hex::encode(a.bytes()));
    j["td_attributes_flags"] = serde_json::json!(a.names());
    j["debug_td"] = serde_json::Value::Bool(a.is_debug());
}

pub use mr_core::register::registers_json;

/// A register value a root vouches for, with where it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedRegister {
    /// The register.
    pub id: MrId,
    /// Its value (the bank is the value's algorithm).
    pub value: Digest,
    /// What vouches for it.
    pub provenance: Provenance,
}

impl VerifiedRegister {
    /// The register and value without the provenance.
    pub fn register_value(&self) -> RegisterValue {
        RegisterValue {
            id: self.id.clone(),
            value: self.value,
        }
    }
}

impl Serialize for VerifiedRegister {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({
            "id": self.id.to_string(),
            "alg": self.value.alg().name(),
            "value": self.value.to_hex(),
            "provenance": self.provenance.to_string(),
        })
        .serialize(s)
    }
}

/// The values of `v`, each with `v`'s provenance.
pub(crate) fn verified_registers(v: &VerifiedRegisters) -> Vec<VerifiedRegister> {
    v.iter()
        .map(|(id, value)| VerifiedRegister {
            id: id.clone(),
            value: *value,
            provenance: v.provenance().clone(),
        })
        .collect()
}

/// The boot log (PC-Client log under a TPM root, CCEL under a TD root) and what it replayed to.
#[derive(Clone, Debug)]
pub struct BootLogReport {
    /// The replay.
    pub replay: TcgReplayReport,
    /// The verified values it was compared with (empty in direct mode, where the comparison is
    /// made once, after the IMA list).
    pub against: VerifiedRegisters,
    /// The CCEL ACPI table, when one was given.
    pub table: Option<CcelTable>,
}

/// `crypto-agile` or `sha1`.
pub fn log_format_name(f: LogFormat) -> &'static str {
    match f {
        LogFormat::CryptoAgile => "crypto-agile",
        LogFormat::Sha1 => "sha1",
    }
}

/// JSON of the register and bank pairs a TCG log covers only partly
/// ([`TcgReplayReport::incomplete`]): `register`, `bank`, `records`, `missing`, `first_record`,
/// `first_offset`, `first_type`.
pub fn incomplete_json(pairs: &[IncompleteBank]) -> serde_json::Value {
    pairs
        .iter()
        .map(|p| {
            serde_json::json!({
                "register": p.register.to_string(),
                "bank": p.alg.name(),
                "records": p.records,
                "missing": p.missing,
                "first_record": p.first_record,
                "first_offset": p.first_offset,
                "first_type": p.first_type.to_string(),
            })
        })
        .collect()
}

impl BootLogReport {
    /// JSON: [`tcg_replay_json`] and `against` (`ID:ALG` of the verified values).
    pub fn to_json(&self) -> serde_json::Value {
        let mut j = tcg_replay_json(&self.replay, self.table.as_ref());
        j["against"] = self
            .against
            .iter()
            .map(|(id, v)| format!("{id}:{}", v.alg()))
            .collect();
        j
    }
}

/// JSON of a PC-Client log or CCEL replay: `format`, `banks`, `events`, `end`,
/// `startup_locality`, `registers`, `covered`, `not_covered`, and the CCEL ACPI `ccel_table`
/// (`null` without one).
pub fn tcg_replay_json(r: &TcgReplayReport, table: Option<&CcelTable>) -> serde_json::Value {
    let end = match r.end {
        LogEnd::EndOfInput => serde_json::json!({"kind": "end_of_input"}),
        LogEnd::Padding { offset, len, fill } => {
            serde_json::json!({"kind": "padding", "offset": offset, "len": len, "fill": fill})
        }
    };
    serde_json::json!({
        "format": log_format_name(r.format),
        "banks": r.banks.iter().map(|b| b.name()).collect::<Vec<_>>(),
        "events": r.outcome.entries,
        "end": end,
        "startup_locality": r.startup_locality,
        "registers": registers_json(&r.outcome.registers),
        "covered": r.outcome.covered,
        "not_covered": r.outcome.not_covered_json(),
        "incomplete": incomplete_json(&r.incomplete),
        "ccel_table": table.map(|t| serde_json::json!({
            "cc_type": t.cc_type.0,
            "cc_subtype": t.cc_subtype,
            "log_area_min_len": t.log_area_min_len,
            "log_area_start": t.log_area_start,
        })),
    })
}

impl Serialize for BootLogReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// What the journal contributed under a TD root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JournalReport {
    /// The backing register the journal replayed to.
    #[serde(serialize_with = "display")]
    pub backing: MrId,
    /// Records in the journal.
    pub records: u64,
    /// Records covered by the verified backing value.
    pub covered: u64,
    /// Records after the covered prefix (written after the quote).
    pub left_over: u64,
}

fn display<T: std::fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// The IMA list's replay.
#[derive(Clone, Debug)]
pub struct ImaReport {
    /// The replay.
    pub replay: ImaReplayReport,
    /// The verified registers it was compared with, `ID:ALG`.
    pub against: Vec<String>,
}

impl ImaReport {
    /// JSON: `entries`, `covered`, `not_covered`, `left_over`, `violations`,
    /// `boot_aggregates` (`entry`, `alg`, `digest`), `banks`, `registers`, `against`.
    pub fn to_json(&self) -> serde_json::Value {
        let r = &self.replay;
        serde_json::json!({
            "entries": r.entries,
            "covered": r.outcome.covered_entries().unwrap_or(0),
            "not_covered": r.outcome.not_covered_json(),
            "left_over": r.outcome.left_over(),
            "violations": r.violations,
            "boot_aggregates": r.boot_aggregates.iter().map(|b| serde_json::json!({
                "entry": b.entry,
                "alg": b.digest.alg().name(),
                "digest": b.digest.to_hex(),
            })).collect::<Vec<_>>(),
            "banks": r.banks.iter().map(|b| b.name()).collect::<Vec<_>>(),
            "registers": registers_json(&r.outcome.registers),
            "against": self.against,
        })
    }
}

impl Serialize for ImaReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// Direct mode (the IMA list extends an RTMR after the CCEL): the final value of every register,
/// the CCEL's with the IMA register's replaced by the IMA replay's.
#[derive(Clone, Debug, Serialize)]
pub struct DirectReport {
    /// The register the IMA list extends.
    #[serde(serialize_with = "display")]
    pub register: MrId,
    /// The final values.
    #[serde(serialize_with = "register_values")]
    pub registers: Vec<RegisterValue>,
}

fn register_values<S: Serializer>(v: &[RegisterValue], s: S) -> Result<S::Ok, S::Error> {
    registers_json(v).serialize(s)
}

/// The outcome of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleStatus {
    /// The rule held.
    Pass,
    /// The rule held, with a caveat the verifier's caller should know (e.g. a debug TD
    /// accepted because the caller allowed it, a TCB that is not up to date).
    Warn,
    /// The rule failed: the evidence is rejected.
    Fail,
    /// The rule was not evaluated (e.g. no nonce given, no collateral).
    NotEvaluated,
}

/// A rule the verifier applied, with its outcome and the values it compared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleOutcome {
    /// The rule: `ak_chain`, `signature`, `nonce`, `pcr_digest`, `ima_pcr_quoted`, `signature_chain`,
    /// `debug_td`, `qe_identity`, `tcb_status`, `no_tpm`, `boot_aggregate`.
    pub name: &'static str,
    /// The outcome.
    pub status: RuleStatus,
    /// The values compared, or why the rule was not evaluated.
    pub detail: String,
}

impl RuleOutcome {
    pub(crate) fn new(name: &'static str, status: RuleStatus, detail: impl Into<String>) -> Self {
        RuleOutcome {
            name,
            status,
            detail: detail.into(),
        }
    }
}

/// The result of [`crate::verify`](fn@crate::verify): one verdict over the evidence of one root.
///
/// `verified` is true only when every step ran and passed; then `failure` is `None`. When
/// evidence is rejected, `failure` names the step, the register, the entry and why, and the
/// reports of the steps that ran before are kept.
#[derive(Clone, Debug, Serialize)]
pub struct AttestationResult {
    /// True when the evidence verified.
    pub verified: bool,
    /// The root of trust.
    pub root: RootKind,
    /// Where the values the last log was checked against come from (e.g. "derived from TD quote
    /// chained to …"); `None` when no register was verified.
    pub provenance: Option<String>,
    /// The provenance chain, root first: e.g. `["TD quote chained to …", "journal rtmr3 →
    /// mr_ima"]`.
    pub chain: Vec<String>,
    /// The verified quote (`None` when the quote did not verify).
    pub quote: Option<QuoteReport>,
    /// Every verified register value (quoted, and derived), with its provenance.
    pub registers: Vec<VerifiedRegister>,
    /// The boot log's (PC-Client log or CCEL) replay.
    pub boot_log: Option<BootLogReport>,
    /// The journal's replay (TD root with a journal).
    pub journal: Option<JournalReport>,
    /// The IMA list's replay.
    pub ima: Option<ImaReport>,
    /// Direct mode (IMA into an RTMR after the CCEL): the final values.
    pub direct: Option<DirectReport>,
    /// Every rule applied, in order.
    pub rules: Vec<RuleOutcome>,
    /// Why the evidence was rejected.
    pub failure: Option<Failure>,
    /// The appraisal policy's outcome, when evidence that verified was appraised.
    pub appraisal: Option<crate::appraisal::AppraisalReport>,
}

impl AttestationResult {
    pub(crate) fn new(root: RootKind) -> AttestationResult {
        AttestationResult {
            verified: false,
            root,
            provenance: None,
            chain: Vec::new(),
            quote: None,
            registers: Vec::new(),
            boot_log: None,
            journal: None,
            ima: None,
            direct: None,
            rules: Vec::new(),
            failure: None,
            appraisal: None,
        }
    }

    /// The verified register values without their provenance.
    pub fn register_values(&self) -> Vec<RegisterValue> {
        self.registers
            .iter()
            .map(VerifiedRegister::register_value)
            .collect()
    }

    /// The rule named `name`, if it was applied.
    pub fn rule(&self, name: &str) -> Option<&RuleOutcome> {
        self.rules.iter().find(|r| r.name == name)
    }
}

impl AttestationResult {
    /// One flat JSON object, the form `mr verify --json` prints. Verified: the quote's details
    /// at the top level ([`QuoteReport::to_json`], with `pcrs_checked` for a TPM quote and
    /// `nonce_checked` for a TD quote), then `verified`, `root`, `provenance`, `registers`,
    /// `boot_log` ([`BootLogReport::to_json`]), `ima` ([`ImaReport::to_json`]) and `journal`. Rejected: [`Self::rejection_json`].
    pub fn verdict_json(&self) -> serde_json::Value {
        if !self.verified {
            return self.rejection_json();
        }
        let mut j = match &self.quote {
            Some(q) => q.to_json(),
            None => serde_json::json!({}),
        };
        match &self.quote {
            Some(QuoteReport::Tpm(_) | QuoteReport::Vtpm(_)) => {
                j["pcrs_checked"] = serde_json::Value::Bool(true)
            }
            Some(QuoteReport::Td(_)) => {
                j["nonce_checked"] = serde_json::Value::Bool(self.nonce_checked());
            }
            None => {}
        }
        j["verified"] = serde_json::Value::Bool(true);
        j["root"] = serde_json::Value::String(self.root.name().into());
        j["provenance"] = serde_json::json!(self.provenance);
        j["registers"] = registers_json(&self.register_values());
        if let Some(b) = &self.boot_log {
            j["boot_log"] = b.to_json();
        }
        if let Some(ima) = &self.ima {
            j["ima"] = ima.to_json();
        }
        if let Some(s) = &self.journal {
            j["journal"] = serde_json::json!(s);
        }
        self.add_appraisal_json(&mut j);
        j
    }

    /// Add the appraisal policy's outcome (`appraisal`: `checks`, `runtime`), when there is one.
    fn add_appraisal_json(&self, j: &mut serde_json::Value) {
        if let Some(a) = &self.appraisal {
            j["appraisal"] = serde_json::to_value(a).unwrap_or_default();
        }
    }

    /// JSON of a rejection: `{"verified": false, "reason": ..., "message": ...}`, with a log
    /// replay's `mismatches`, `bad_entry`, `not_covered` when the rejection has them
    /// ([`crate::error::rejection_details`]); `{"verified": true}` for a verified result.
    pub fn rejection_json(&self) -> serde_json::Value {
        let Some(f) = &self.failure else {
            return serde_json::json!({"verified": self.verified});
        };
        let mut j = f
            .details
            .clone()
            .unwrap_or_else(|| serde_json::json!({"verified": false}));
        j["reason"] = serde_json::Value::String(f.reason.clone());
        j["message"] = serde_json::Value::String(f.message.clone());
        self.add_appraisal_json(&mut j);
        j
    }

    /// Whether the quote's nonce was checked (the `nonce` rule passed).
    pub fn nonce_checked(&self) -> bool {
        self.rule("nonce")
            .is_some_and(|r| r.status == RuleStatus::Pass)
    }
}
