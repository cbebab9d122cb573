//! The human-readable form of results (one line a fact, the text `mr` prints), and the JSON of
//! the results that are not an [`AttestationResult`] (a TD quote verified alone, a vTPM, a boot
//! log replay). Each result type has one rendering, so that every command prints through it.
//!
//! The text names the verifier's inputs in plain words ("matches the expected nonce", "no
//! collateral"), never by a command line's flags: a CLI maps them to its own names.

use mr_core::log::cel::{CelReplayReport, Encoding};
use mr_core::log::ima::ImaReplayReport;
use mr_core::log::tcg::ccel::CcelTable;
use mr_core::log::tcg::{LogEnd, TcgReplayReport};
use mr_core::replay::ReplayOutcome;
use mr_core::{ExpectedRegisters, MrId, Reference, RegisterValue};
use mr_rtmr::quote::{TdAttributes, VerifiedQuote};
use mr_tpm::SignedQuote;
use mr_vtpm::{VerifiedHardware, VerifiedVtpm};

use crate::report::BootLogReport;
use crate::report::{
    add_td_attributes_json, log_format_name, registers_json, tcg_replay_json, td_quote_json,
    tpm_quote_json, vtpm_hardware_json,
};
use crate::{AttestationResult, ImaReport, QuoteReport, RootKind};

/// A nonce-like field of a quote and whether it was checked: `LABEL: HEX (matches the expected
/// nonce)` or
/// a warning that the quote may be a replay.
fn nonce_line(label: &str, value: &[u8], checked: bool) -> String {
    if checked {
        format!(
            "{label}: {} (matches the expected nonce)",
            hex::encode(value)
        )
    } else {
        format!(
            "{label}: {} (NOT checked: no expected nonce given; the quote may be a replay)",
            hex::encode(value)
        )
    }
}

/// The TD attributes line: hex, the names of the set bits, and a warning for a debug TD (only
/// ever accepted when the caller allowed it).
pub fn td_attributes_line(a: TdAttributes) -> String {
    if a.is_debug() {
        format!(
            "td_attributes: {a} -- DEBUG TD accepted as the verifier allows: the host can read and \
             change its memory and registers"
        )
    } else {
        format!("td_attributes: {a}")
    }
}

/// A verified TPM quote: signature and AK, nonce, clock, PCR selection.
pub fn tpm_quote_lines(q: &SignedQuote) -> Vec<String> {
    let c = q.clock_info();
    vec![
        format!(
            "quote: signature verified (hash {}) by AK {}",
            q.hash(),
            q.ak_id()
        ),
        nonce_line("nonce", q.nonce(), q.nonce_checked()),
        format!(
            "clock: {} ms, resetCount {}, restartCount {}, safe {}",
            c.clock, c.reset_count, c.restart_count, c.safe
        ),
        format!("selection: {}", crate::verify::selection_text(q)),
    ]
}

/// A TD quote as a root of a verdict: version and provenance, report data, attributes, TCB.
fn td_quote_verdict_lines(q: &VerifiedQuote, nonce_checked: bool) -> Vec<String> {
    vec![
        format!(
            "quote: TD quote v{} verified: {}",
            q.version(),
            q.registers().provenance()
        ),
        nonce_line("report_data", q.report_data(), nonce_checked),
        td_attributes_line(q.td_attributes()),
        match q.tcb_status() {
            Some(t) => format!("tcb_status: {}", t.status),
            None => "tcb_status: not evaluated (no collateral)".to_owned(),
        },
    ]
}

/// A TD quote verified alone: body, provenance, every register as `ID:ALG:HEX`, report data,
/// attributes, TEE TCB SVNs, TCB status and advisories, trailing bytes.
pub fn td_quote_lines(v: &VerifiedQuote) -> Vec<String> {
    let body = match v.body_type() {
        3 => "TD 1.5",
        _ => "TD 1.0",
    };
    let mut lines = vec![format!(
        "TD quote v{} ({body} body) verified: {}",
        v.version(),
        v.registers().provenance()
    )];
    lines.extend(v.registers().to_values().iter().map(ToString::to_string));
    lines.push(format!("report_data: {}", hex::encode(v.report_data())));
    lines.push(td_attributes_line(v.td_attributes()));
    lines.push(format!("tee_tcb_svn: {}", hex::encode(v.tee_tcb_svn())));
    if let Some(svn2) = v.tee_tcb_svn2() {
        lines.push(format!("tee_tcb_svn2: {}", hex::encode(svn2)));
    }
    lines.push(match v.tcb_status() {
        Some(t) if t.advisory_ids.is_empty() => format!("tcb_status: {}", t.status),
        Some(t) => format!(
            "tcb_status: {} (advisories: {})",
            t.status,
            t.advisory_ids.join(", ")
        ),
        None => "tcb_status: not evaluated (no collateral)".to_owned(),
    });
    if v.trailing_bytes() > 0 {
        lines.push(format!(
            "trailing bytes after the signature data (unsigned, ignored): {}",
            v.trailing_bytes()
        ));
    }
    lines
}

/// JSON of a TD quote verified alone: [`td_quote_json`] with `verified`, `provenance` and the
/// quote's `registers`.
pub fn td_quote_verdict_json(v: &VerifiedQuote) -> serde_json::Value {
    let mut j = td_quote_json(v);
    j["verified"] = serde_json::Value::Bool(true);
    j["provenance"] = serde_json::Value::String(v.registers().provenance().to_string());
    j["registers"] = registers_json(&v.registers().to_values());
    j
}

/// A vTPM verified alone: the chain, the hardware report's TCB, the nonce, and the verified
/// registers as `ID:ALG:HEX`.
pub fn vtpm_lines(v: &VerifiedVtpm) -> Vec<String> {
    let mut lines: Vec<String> = v.chain.iter().map(|l| format!("chain: {l}")).collect();
    match &v.hardware {
        VerifiedHardware::Tdx(q) => {
            if let Some(tcb) = q.tcb_status() {
                lines.push(format!("TD quote TCB status: {}", tcb.status));
            }
        }
        VerifiedHardware::Snp(s) => {
            let r = &s.report;
            lines.push(format!(
                "SNP report: policy 0x{:016x}, reported TCB 0x{:016x}, measurement {}",
                r.policy,
                r.reported_tcb.raw,
                hex::encode(r.measurement)
            ));
        }
    }
    lines.push(nonce_line(
        "nonce",
        v.quote.nonce(),
        v.quote.nonce_checked(),
    ));
    lines.push("verified registers:".to_owned());
    lines.extend(v.registers.to_values().iter().map(ToString::to_string));
    lines
}

/// JSON of a vTPM verified alone: `verified`, `provenance`, `chain`, `quote`
/// ([`tpm_quote_json`]), `hardware` ([`vtpm_hardware_json`]), `registers`.
pub fn vtpm_json(v: &VerifiedVtpm) -> serde_json::Value {
    serde_json::json!({
        "verified": true,
        "provenance": v.registers.provenance().to_string(),
        "chain": v.chain,
        "quote": tpm_quote_json(&v.quote),
        "hardware": vtpm_hardware_json(&v.hardware),
        "registers": registers_json(&v.registers.to_values()),
    })
}

/// JSON of vTPM evidence rejected when verified alone (`verified: false`, `reason` as
/// [`mr_vtpm::Error::reason`], `message`); `None` for an error that is no rejection
/// (malformed evidence, a usage error).
pub fn vtpm_rejection_json(e: &mr_vtpm::Error) -> Option<serde_json::Value> {
    (e.class() == mr_core::ErrorClass::Rejected).then(|| {
        serde_json::json!({
            "verified": false,
            "reason": e.reason(),
            "message": e.to_string(),
        })
    })
}

/// The values a replay was compared with, and who vouches for them in words.
#[derive(Clone, Debug)]
pub struct ComparedWith<'a> {
    /// The values.
    pub values: &'a ExpectedRegisters,
    /// Their provenance, or "asserted by the caller".
    pub provenance: String,
}

impl<'a> ComparedWith<'a> {
    /// What `reference` compares with (`None` for [`mr_core::ComputeOnly`]).
    pub fn of<R: Reference>(reference: &'a R) -> Option<ComparedWith<'a>> {
        reference.expected().map(|values| ComparedWith {
            values,
            provenance: reference
                .provenance()
                .map_or_else(|| "asserted by the caller".to_string(), |p| p.to_string()),
        })
    }
}

/// A replay's final values (`ID:ALG:HEX` lines) and, when values were compared, the line saying
/// how many of the `unit`s (`records`, `events`) reached them.
pub fn outcome_lines(
    outcome: &ReplayOutcome,
    compared: Option<&ComparedWith<'_>>,
    unit: &str,
) -> Vec<String> {
    let mut lines: Vec<String> = outcome.registers.iter().map(ToString::to_string).collect();
    if let Some(c) = compared {
        lines.push(format!(
            "verified: {} values ({}) reached after {} of {} {unit}",
            c.values.len(),
            c.provenance,
            outcome.covered.unwrap_or(outcome.entries),
            outcome.entries
        ));
    }
    lines
}

impl ImaReport {
    /// The IMA replay of a verdict (the same under every root): entries, coverage, violations,
    /// boot aggregates; each line starts `ima: `.
    pub fn lines(&self) -> Vec<String> {
        let report = &self.replay;
        let mut lines = vec![format!(
            "ima: {} entries, {} covered by {}, {} left over, {} violations",
            report.entries,
            report.outcome.covered_entries().unwrap_or(0),
            self.against.join(" "),
            report.outcome.left_over(),
            report.violations
        )];
        if let Some(line) = report.outcome.not_covered_line(("entry", "entries")) {
            lines.push(format!("ima: {line}"));
        }
        lines.extend(report.boot_aggregates.iter().map(|b| {
            format!(
                "ima: boot_aggregate at entry {}: {}:{}",
                b.entry,
                b.digest.alg(),
                b.digest
            )
        }));
        lines
    }
}

impl BootLogReport {
    /// The boot log's replay in a verdict (one line, `boot_log: `): format, banks, events, the
    /// matching prefix and the values it reached (`ID:ALG`), events left over; then the events
    /// no verified value covers, if any (as the IMA lines; the JSON has the rest).
    pub fn lines(&self) -> Vec<String> {
        let r = &self.replay;
        let banks: Vec<&str> = r.banks.iter().map(|b| b.name()).collect();
        let against: Vec<String> = self
            .against
            .iter()
            .map(|(id, v)| format!("{id}:{}", v.alg()))
            .collect();
        let coverage = match r.outcome.covered {
            Some(covered) => format!(
                "{covered} covered by {}, {} left over",
                against.join(" "),
                r.outcome.left_over()
            ),
            None if against.is_empty() => {
                "computed only (no verified value of the registers it extends)".to_owned()
            }
            None => format!(
                "compared with {} after the IMA list (direct mode)",
                against.join(" ")
            ),
        };
        let mut lines = vec![format!(
            "boot_log: {} log, banks {}, {} events, {coverage}",
            log_format_name(r.format),
            banks.join(", "),
            r.outcome.entries,
        )];
        lines.extend(
            r.outcome
                .not_covered_line(("event", "events"))
                .map(|l| format!("boot_log: {l}")),
        );
        lines
    }
}

impl AttestationResult {
    /// The verdict of verified evidence, human-readable: the quote, the root and its
    /// provenance, the verified registers (`ID:ALG:HEX`), the boot log's replay
    /// ([`BootLogReport::lines`]), the journal, the IMA replay ([`ImaReport::lines`]), the
    /// appraisal, and the closing `verified:` line. For a rejected
    /// result, the failure's message is the text to show.
    pub fn verdict_lines(&self) -> Vec<String> {
        let mut lines = match &self.quote {
            Some(QuoteReport::Tpm(q)) => tpm_quote_lines(q),
            Some(QuoteReport::Td(q)) => td_quote_verdict_lines(q, self.nonce_checked()),
            Some(QuoteReport::Vtpm(q)) => q
                .chain
                .iter()
                .map(|link| format!("chain: {link}"))
                .chain(tpm_quote_lines(&q.quote))
                .collect(),
            None => Vec::new(),
        };
        lines.push(format!(
            "root: {} ({})",
            self.root.name(),
            self.provenance.as_deref().unwrap_or("no register verified")
        ));
        lines.push("verified registers:".to_owned());
        lines.extend(
            self.registers
                .iter()
                .map(|r| r.register_value().to_string()),
        );
        if let Some(b) = &self.boot_log {
            lines.extend(b.lines());
        }
        if let Some(s) = &self.journal {
            lines.push(format!(
                "journal: {} records, {} covered by {}, {} left over",
                s.records, s.covered, s.backing, s.left_over
            ));
        }
        if let Some(ima) = &self.ima {
            lines.extend(ima.lines());
        }
        if let Some(a) = &self.appraisal {
            for c in &a.checks {
                lines.push(format!("policy: {} pass: {}", c.name, c.detail));
            }
            if let Some(r) = &a.runtime {
                lines.push(format!(
                    "policy: ima.runtime_policy pass: {} covered entries allowed, {} not \
                     covered (not appraised)",
                    r.covered, r.not_covered
                ));
            }
        }
        lines.push(format!(
            "verified: the IMA list replays to the {} values",
            match self.root {
                RootKind::Tpm => "quoted PCR",
                RootKind::Td => "mr_ima value derived from the TD quote's RTMR",
                RootKind::Vtpm => "vTPM's quoted PCR",
            }
        ));
        lines
    }

    /// The verdict of a TPM quote verified alone (no log), human-readable: the AK chain, the
    /// quote ([`tpm_quote_lines`]), the PCR digest and, when it was checked, the verified
    /// registers. Empty unless the result is a verified TPM quote.
    pub fn tpm_quote_verdict_lines(&self) -> Vec<String> {
        let (true, Some(QuoteReport::Tpm(q))) = (self.verified, &self.quote) else {
            return Vec::new();
        };
        let mut lines: Vec<String> = self
            .rule("ak_chain")
            .map(|r| format!("ak: {}", r.detail))
            .into_iter()
            .collect();
        lines.extend(tpm_quote_lines(q));
        let digest = hex::encode(&q.quote_info().pcr_digest);
        if self.rule("pcr_digest").is_some() {
            lines.push(format!(
                "pcrDigest: {digest} (matches the quoted PCR values)"
            ));
            lines.push("verified registers:".to_owned());
            lines.extend(
                self.registers
                    .iter()
                    .map(|r| r.register_value().to_string()),
            );
        } else {
            lines.push(format!(
                "pcrDigest: {digest} (NOT checked: no quoted PCR values given; no register value is verified)"
            ));
        }
        lines
    }

    /// JSON of a TPM quote verified alone: [`tpm_quote_json`] with `ak_chain`, `pcrs_checked`,
    /// `registers` (`null` when no PCR value was checked) and `verified`; a rejected result is
    /// [`Self::rejection_json`].
    pub fn tpm_quote_verdict_json(&self) -> serde_json::Value {
        let (true, Some(QuoteReport::Tpm(q))) = (self.verified, &self.quote) else {
            return self.rejection_json();
        };
        let pcrs_checked = self.rule("pcr_digest").is_some();
        let mut j = tpm_quote_json(q);
        j["ak_chain"] = serde_json::json!(self.rule("ak_chain").map(|r| r.detail.clone()));
        j["pcrs_checked"] = serde_json::Value::Bool(pcrs_checked);
        j["registers"] = if pcrs_checked {
            registers_json(&self.register_values())
        } else {
            serde_json::Value::Null
        };
        j["verified"] = serde_json::Value::Bool(true);
        j
    }

    /// The boot log of a verified TD quote and CCEL (and in direct mode, the IMA list), as
    /// [`BootLogView`]; `None` unless the result verified and has a TD quote and a boot log.
    pub fn boot_log_view(&self) -> Option<BootLogView<'_>> {
        let (true, Some(QuoteReport::Td(q)), Some(boot)) =
            (self.verified, &self.quote, &self.boot_log)
        else {
            return None;
        };
        let direct = match (&self.direct, &self.ima) {
            (Some(d), Some(ima)) => Some(DirectView {
                ima: &ima.replay,
                registers: &d.registers,
                register: &d.register,
            }),
            _ => None,
        };
        Some(BootLogView {
            replay: &boot.replay,
            table: boot.table.as_ref(),
            compared: ComparedWith::of(&boot.against),
            td_attributes: Some(q.td_attributes()),
            direct,
        })
    }
}

/// Direct mode's IMA part: the IMA list replayed into `register` after the CCEL, and the final
/// values of every register.
#[derive(Clone, Debug)]
pub struct DirectView<'a> {
    /// The IMA list's replay.
    pub ima: &'a ImaReplayReport,
    /// The final values (the CCEL's, with `register`'s replaced by the IMA replay's).
    pub registers: &'a [RegisterValue],
    /// The register the IMA list extends.
    pub register: &'a MrId,
}

/// A PC-Client log or CCEL replay, with what it was compared with: the result `mr tcg replay`
/// prints, as text ([`Self::lines`]) or JSON ([`Self::to_json`]).
#[derive(Clone, Debug)]
pub struct BootLogView<'a> {
    /// The replay (in direct mode, the CCEL's).
    pub replay: &'a TcgReplayReport,
    /// The CCEL ACPI table, when one was given.
    pub table: Option<&'a CcelTable>,
    /// The values compared with (`None`: computed only).
    pub compared: Option<ComparedWith<'a>>,
    /// The TD attributes of the quote whose RTMRs the values are.
    pub td_attributes: Option<TdAttributes>,
    /// Direct mode: the IMA list replayed after the CCEL.
    pub direct: Option<DirectView<'a>>,
}

fn end_text(end: &LogEnd) -> String {
    match end {
        LogEnd::EndOfInput => "end of input".into(),
        LogEnd::Padding { offset, len, fill } => {
            format!("{len} bytes of {fill:#04x} padding at offset {offset}")
        }
    }
}

impl BootLogView<'_> {
    /// Human-readable: the TD attributes, the CCEL table, the log's format, banks, events and
    /// end, then the final values and what reached them (direct mode: the CCEL and IMA counts,
    /// the final values, and the one comparison made after the IMA list).
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .td_attributes
            .map(|a| format!("td quote {}", td_attributes_line(a)))
            .into_iter()
            .collect();
        let r = self.replay;
        if let Some(d) = &self.direct {
            let covered = d.ima.outcome.covered.unwrap_or(d.ima.entries);
            lines.push(format!(
                "ccel: {} events; ima: {} entries into {} ({} violations)",
                r.outcome.entries, d.ima.entries, d.register, d.ima.violations
            ));
            lines.extend(d.registers.iter().map(ToString::to_string));
            if let Some(c) = &self.compared {
                lines.push(format!(
                    "verified: {} values ({}) reached after all {} CCEL events and {covered} of \
                     {} IMA entries",
                    c.values.len(),
                    c.provenance,
                    r.outcome.entries,
                    d.ima.entries
                ));
            }
            return lines;
        }
        if let Some(t) = self.table {
            lines.push(format!(
                "ccel table: cc type {}, subtype {}, log area {} bytes at {:#x}",
                t.cc_type, t.cc_subtype, t.log_area_min_len, t.log_area_start
            ));
        }
        let banks: Vec<&str> = r.banks.iter().map(|b| b.name()).collect();
        lines.push(format!(
            "{} log, banks {}, {} events, ended at {}",
            log_format_name(r.format),
            banks.join(", "),
            r.outcome.entries,
            end_text(&r.end)
        ));
        if let Some(l) = r.startup_locality {
            lines.push(format!("pcr0 start locality: {l}"));
        }
        lines.extend(outcome_lines(&r.outcome, self.compared.as_ref(), "events"));
        lines.extend(r.outcome.not_covered_line(("event", "events")));
        lines.extend(
            r.incomplete
                .iter()
                .map(|p| format!("not verifiable (log incomplete): {p}")),
        );
        lines
    }

    /// JSON: [`tcg_replay_json`] with `verified` (values were compared), the `provenance` of
    /// the values, the TD attributes ([`add_td_attributes_json`]); direct mode adds the final
    /// `registers` and `ima` (`register`, `entries`, `covered`, `left_over`, `violations`).
    pub fn to_json(&self) -> serde_json::Value {
        let mut j = tcg_replay_json(self.replay, self.table);
        j["verified"] = serde_json::Value::Bool(self.compared.is_some());
        j["provenance"] = serde_json::json!(self.compared.as_ref().map(|c| &c.provenance));
        if let Some(d) = &self.direct {
            let covered = d.ima.outcome.covered.unwrap_or(d.ima.entries);
            j["registers"] = registers_json(d.registers);
            j["ima"] = serde_json::json!({
                "register": d.register.to_string(),
                "entries": d.ima.entries,
                "covered": covered,
                "left_over": d.ima.entries - covered.min(d.ima.entries),
                "violations": d.ima.violations,
            });
        }
        if let Some(a) = self.td_attributes {
            add_td_attributes_json(&mut j, a);
        }
        j
    }
}

/// A CEL replay with what it was compared with: the result `mr cel replay` prints, as text
/// ([`Self::lines`]) or JSON ([`Self::to_json`]).
#[derive(Clone, Debug)]
pub struct CelReplayView<'a> {
    /// The replay.
    pub replay: &'a CelReplayReport,
    /// The encoding the CEL was read in.
    pub encoding: Encoding,
    /// The values compared with (`None`: computed only).
    pub compared: Option<ComparedWith<'a>>,
}

impl CelReplayView<'_> {
    /// Human-readable: encoding, records, banks, the content checks, the records no verified
    /// value covers, the start locality, then the final values and what reached them.
    pub fn lines(&self) -> Vec<String> {
        let r = self.replay;
        let banks: Vec<&str> = r.banks.iter().map(|b| b.name()).collect();
        let mut lines = vec![
            format!(
                "cel ({}), {} records, banks {}",
                self.encoding,
                r.outcome.entries,
                banks.join(", ")
            ),
            format!(
                "content checks: {} verified, {} not checkable, {} violations",
                r.checks.verified, r.checks.not_checkable, r.checks.violations
            ),
        ];
        if let Some(first) = r.checks.first_not_covered {
            lines.push(format!(
                "not covered by a verified value: {} records (first: recnum {first})",
                r.checks.not_covered
            ));
        }
        if let Some(l) = r.startup_locality {
            lines.push(format!("pcr0 start locality: {l}"));
        }
        lines.extend(outcome_lines(&r.outcome, self.compared.as_ref(), "records"));
        lines
    }

    /// JSON: `encoding`, `records`, `banks`, `registers`, `verified` (values were compared),
    /// `provenance`, `covered`, `left_over`, `checks`, `startup_locality`.
    pub fn to_json(&self) -> serde_json::Value {
        let r = self.replay;
        serde_json::json!({
            "encoding": self.encoding.name(),
            "records": r.outcome.entries,
            "banks": r.banks.iter().map(|b| b.name()).collect::<Vec<_>>(),
            "registers": registers_json(&r.outcome.registers),
            "verified": self.compared.is_some(),
            "provenance": self.compared.as_ref().map(|c| &c.provenance),
            "covered": r.outcome.covered,
            "left_over": r.outcome.covered.map(|_| r.outcome.left_over()),
            "checks": {
                "verified": r.checks.verified,
                "not_checkable": r.checks.not_checkable,
                "violations": r.checks.violations,
                "not_covered": r.checks.not_covered,
                "first_not_covered": r.checks.first_not_covered,
            },
            "startup_locality": r.startup_locality,
        })
    }
}
