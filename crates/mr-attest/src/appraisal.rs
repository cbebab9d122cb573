//! Appraisal: the [`AppraisalPolicy`] applied to evidence that verified.
//!
//! * **Platform rules** (`td`, `tpm` sections) over the verified quote: a TD's fields
//!   ([`TdFacts`], read from the quote whose signature chain verified, with the collateral's TCB
//!   status and issue dates), a TPM's verified PCR values and the facts of the boot log that
//!   replayed to them ([`BootFacts`], from the events of verified PCRs only).
//! * **IMA runtime policy** (keylime's format) and the deny list, on the entries a quote covers
//!   only: the list is read once, so the appraiser reads a copy of the bytes the replay consumes
//!   (on its own thread, through a bounded channel) and the verdicts of entries no verified
//!   value covers (after the matching prefix, or of a register without a verified value) are
//!   dropped and counted as not covered. `boot_aggregate` entries are also allowed when they
//!   equal the aggregate of the verified PCR values (as keylime's verifier adds its measured-boot
//!   value).
//!
//! Every rule is reported ([`AppraisalReport`], and as a rule of the result); any failed rule
//! rejects the evidence at [`Step::Appraisal`], naming the rules and the values compared.

use std::io::{BufRead, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use mr_core::log::ima::{ImaReader, ImaReaderOptions};
use mr_core::log::tcg;
use mr_core::{HashAlg, MrId, RegisterValue};
use mr_policy::{
    AppraisalPolicy, AppraiseOptions, BootFacts, Claim, EntryFailure, FailureReason, ListAppraiser,
    Rejected, RuleCheck, TcbFacts, TdFacts, TpmFacts, MAX_REPORTED_FAILURES,
};
use serde::Serialize;

use crate::error::{Error, Failure, Step};
use crate::evidence::{ImaList, RootEvidence};
use crate::report::{AttestationResult, RuleOutcome, RuleStatus};

/// Bytes the replay consumes before they are handed to the appraiser.
const CHUNK: usize = 64 << 10;
/// Chunks in flight between the replay and the appraiser.
const CHANNEL_CHUNKS: usize = 16;

/// The runtime appraisal of the IMA entries the quote covers.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RuntimeAppraisal {
    /// Entries appraised and covered by the verified values.
    pub covered: u64,
    /// Entries read but not covered (after the matching prefix, or of a register without a
    /// verified value): their verdicts do not count.
    pub not_covered: u64,
    /// Covered entries not allowed (all of them, reported or not).
    pub failed: u64,
    /// The first [`MAX_REPORTED_FAILURES`] covered entries not allowed, in list order.
    pub failures: Vec<EntryFailure>,
    /// Entries not covered whose verdict would have been a rejection (reported, not counted).
    pub not_covered_failed: u64,
}

/// What the policy found: every platform rule's outcome and the runtime appraisal.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AppraisalReport {
    /// Every platform rule, with the values compared.
    pub checks: Vec<RuleCheck>,
    /// The IMA runtime appraisal, when the policy has a runtime policy and the evidence an IMA
    /// list.
    pub runtime: Option<RuntimeAppraisal>,
}

impl AppraisalReport {
    /// True when every rule held and every covered entry is allowed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed) && self.runtime.as_ref().is_none_or(|r| r.failed == 0)
    }

    /// The failed checks' claims (with the runtime appraisal as [`Claim::Executables`]).
    pub fn failed_claims(&self) -> Vec<Claim> {
        let mut out: Vec<Claim> = self
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.claim)
            .collect();
        if self.runtime.as_ref().is_some_and(|r| r.failed > 0) {
            out.push(Claim::Executables);
        }
        out
    }

    /// True when a covered entry was rejected because its digest is in the deny list.
    pub fn denied(&self) -> bool {
        self.runtime.as_ref().is_some_and(|r| {
            r.failures
                .iter()
                .any(|f| matches!(f.reason, FailureReason::Denied { .. }))
        })
    }
}

/// What the platform rules need from the evidence, taken before the verifier consumes it (used
/// only when the evidence verified).
struct PlatformInputs {
    td: Option<TdFacts>,
    /// Issue dates of the TD quote's collateral, when it has collateral.
    issue_dates: Option<Vec<(&'static str, String)>>,
    boot_log: Option<Vec<u8>>,
    /// PCR values the evidence gives (verified when the evidence verifies).
    pcrs: Vec<RegisterValue>,
    /// The IMA PCRs (TPM root); `None` under a TD root, where every entry extends the target.
    ima_pcrs: Option<Vec<u32>>,
}

fn td_facts(quote: &[u8]) -> Option<TdFacts> {
    let q = mr_rtmr::quote::parse(quote).ok()?;
    let b = q.body().base();
    let h = q.header();
    let svn = |i: usize| u16::from_le_bytes([h.reserved[i], h.reserved[i + 1]]);
    Some(TdFacts {
        mr_td: b.mr_td,
        rtmr: b.rtmr,
        mr_config_id: b.mr_config_id,
        mr_owner: b.mr_owner,
        mr_owner_config: b.mr_owner_config,
        mr_seam: b.mr_seam,
        mr_signer_seam: b.mrsigner_seam,
        report_data: b.report_data,
        td_attributes: b.td_attributes,
        xfam: b.xfam,
        tee_tcb_svn: b.tee_tcb_svn,
        qe_svn: svn(0),
        pce_svn: svn(2),
        qe_vendor_id: h.qe_vendor_id,
        tcb: None,
    })
}

impl PlatformInputs {
    fn of(root: &RootEvidence) -> PlatformInputs {
        match root {
            RootEvidence::Tpm(t) => PlatformInputs {
                td: None,
                issue_dates: None,
                boot_log: t.boot_log.clone(),
                pcrs: t.pcrs.clone().unwrap_or_default(),
                ima_pcrs: Some(t.ima_pcrs.clone()),
            },
            RootEvidence::Td(t) => PlatformInputs {
                td: td_facts(&t.quote),
                issue_dates: t.options.collateral.as_ref().map(|c| c.issue_dates()),
                boot_log: None,
                pcrs: Vec::new(),
                ima_pcrs: None,
            },
            // The vTPM's PCR values are inside the Azure evidence; boot_aggregate entries are
            // then allowed only by the runtime policy, never by a computed aggregate.
            RootEvidence::Vtpm(v) => PlatformInputs {
                td: None,
                issue_dates: None,
                boot_log: v.boot_log.clone(),
                pcrs: Vec::new(),
                ima_pcrs: Some(v.ima_pcrs.clone()),
            },
        }
    }

    /// `boot_aggregate` values of the given PCR values, for every bank that has PCRs 0-7 (SHA-1)
    /// or 0-9 (other banks).
    fn boot_aggregates(&self) -> Vec<Vec<u8>> {
        let mut banks: Vec<HashAlg> = self.pcrs.iter().map(|v| v.value.alg()).collect();
        banks.sort();
        banks.dedup();
        banks
            .into_iter()
            .filter(|alg| {
                let last = tcg::BootAggregateRule::current(*alg).last_pcr();
                (0..=last).all(|n| {
                    self.pcrs
                        .iter()
                        .any(|v| v.id == MrId::Pcr(n) && v.value.alg() == *alg)
                })
            })
            .map(|alg| tcg::boot_aggregate(&self.pcrs, alg).as_bytes().to_vec())
            .collect()
    }
}

/// Reads the list for the replay and hands every consumed byte to the appraiser.
struct Tee {
    inner: Box<dyn BufRead>,
    pending: Vec<u8>,
    tx: Option<SyncSender<Vec<u8>>>,
}

impl Tee {
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let chunk = std::mem::take(&mut self.pending);
        if let Some(tx) = &self.tx {
            if tx.send(chunk).is_err() {
                self.tx = None;
            }
        }
    }
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let avail = self.fill_buf()?;
            let n = avail.len().min(buf.len());
            buf[..n].copy_from_slice(&avail[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Tee {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        // The buffer the caller was given: filling again without consuming returns it as is.
        if let Ok(buf) = self.inner.fill_buf() {
            self.pending.extend_from_slice(&buf[..n.min(buf.len())]);
        }
        self.inner.consume(n);
        if self.pending.len() >= CHUNK {
            self.flush();
        }
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The appraiser's side of the channel.
struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let avail = self.fill_buf()?;
            let n = avail.len().min(out.len());
            out[..n].copy_from_slice(&avail[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChannelReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.pos >= self.buf.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.buf = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(&[]),
            }
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }
}

/// A failing entry of the stream, with what decides whether it is covered.
struct StreamFailure {
    index: u64,
    pcr: u32,
    failure: Option<EntryFailure>,
}

/// What the appraiser thread saw.
struct StreamAppraisal {
    /// Entries read.
    entries: u64,
    /// Failures in list order (12 bytes and more each: memory grows with the failing entries,
    /// not with the list); past twice [`MAX_REPORTED_FAILURES`] without details.
    failures: Vec<StreamFailure>,
    /// `(index, pcr)` of the entries of PCRs other than the IMA PCR (a list has few or none),
    /// to count the covered entries.
    other_pcr_entries: Vec<(u64, u32)>,
    /// Set when the list could not be read to its end (the replay may stop at the prefix).
    error: Option<mr_core::Error>,
}

fn appraise_stream(
    rx: Receiver<Vec<u8>>,
    policy: &mr_policy::RuntimePolicy,
    options: AppraiseOptions,
) -> StreamAppraisal {
    let mut channel = ChannelReader {
        rx,
        buf: Vec::new(),
        pos: 0,
    };
    let mut reader = ImaReader::new(&mut channel, ImaReaderOptions::default());
    let mut appraiser = ListAppraiser::new(policy, options);
    let mut out = StreamAppraisal {
        entries: 0,
        failures: Vec::new(),
        other_pcr_entries: Vec::new(),
        error: None,
    };
    let failures = &mut out.failures;
    let mut rejected = |r: Rejected<'_>| {
        let detailed = failures.len() < 2 * MAX_REPORTED_FAILURES;
        failures.push(StreamFailure {
            index: r.number.saturating_sub(1),
            pcr: r.pcr,
            failure: detailed.then(|| r.to_failure()),
        });
    };
    loop {
        match reader.next_entry() {
            Ok(Some(entry)) => {
                out.entries += 1;
                if entry.pcr() != mr_core::log::ima::IMA_PCR {
                    out.other_pcr_entries.push((entry.index(), entry.pcr()));
                }
                appraiser.push(entry, &mut rejected);
            }
            Ok(None) => break,
            Err(e) => {
                out.error = Some(e);
                break;
            }
        }
    }
    // The entries read before an error are appraised too (the replay may cover them).
    appraiser.finish(&mut rejected);
    drop(reader);
    // Keep the channel drained so that the replay never waits on a stopped appraiser.
    while channel.rx.recv().is_ok() {}
    out
}

/// Verify `root` and its IMA list (`run`), then apply `policy` when the evidence verified.
pub(crate) fn verify_and_appraise(
    root: RootEvidence,
    ima: Option<ImaList>,
    policy: &AppraisalPolicy,
    run: impl FnOnce(RootEvidence, Option<ImaList>) -> Result<AttestationResult, Error>,
) -> Result<AttestationResult, Error> {
    let inputs = PlatformInputs::of(&root);
    let options = AppraiseOptions {
        deny_list: policy.deny_list.clone(),
        boot_aggregates: inputs.boot_aggregates(),
    };
    let (result, stream) = std::thread::scope(|s| {
        let (ima, handle) = match (&policy.runtime, ima) {
            (Some(runtime), Some(list)) => {
                let (tx, rx) = sync_channel(CHANNEL_CHUNKS);
                let handle = s.spawn(move || appraise_stream(rx, runtime, options));
                let tee = Tee {
                    inner: list.into_reader(),
                    pending: Vec::with_capacity(CHUNK),
                    tx: Some(tx),
                };
                (Some(ImaList::from_reader(tee)), Some(handle))
            }
            (_, ima) => (ima, None),
        };
        let result = run(root, ima);
        (result, handle.map(|h| h.join()))
    });
    let mut result = result?;
    if !result.verified {
        return Ok(result);
    }
    let mut report = AppraisalReport::default();
    if let (Some(td), Some(facts)) = (&policy.td, &inputs.td) {
        let mut facts = facts.clone();
        facts.tcb = tcb_status(&result).map(|(status, advisory_ids)| TcbFacts {
            status,
            advisory_ids,
            issue_dates: inputs.issue_dates.clone().unwrap_or_default(),
        });
        report.checks.extend(td.check(&facts));
    } else if policy.td.is_some() && result.root == crate::RootKind::Td {
        return Err(Error::Usage(
            "the TD quote cannot be read for the policy".into(),
        ));
    }
    if let Some(tpm) = &policy.tpm {
        if matches!(result.root, crate::RootKind::Tpm | crate::RootKind::Vtpm) {
            let pcrs = result.register_values();
            let boot = match (&inputs.boot_log, &result.boot_log) {
                (Some(log), Some(b)) if tpm.needs_boot_log() => {
                    let verified: Vec<u32> = b
                        .against
                        .iter()
                        .filter_map(|(id, _)| match id {
                            MrId::Pcr(p) => Some(*p),
                            _ => None,
                        })
                        .collect();
                    Some(
                        BootFacts::from_log(log, |p| verified.contains(&p))
                            .map_err(|e| Error::Usage(format!("boot log facts: {e}")))?,
                    )
                }
                _ => None,
            };
            report.checks.extend(tpm.check(&TpmFacts { pcrs, boot }));
        }
    }
    // A document may hold rules for both roots; rules for the other root only fail.
    let for_this_root = match result.root {
        crate::RootKind::Td => policy.td.is_some(),
        crate::RootKind::Tpm | crate::RootKind::Vtpm => policy.tpm.is_some(),
    };
    if !for_this_root && (policy.td.is_some() || policy.tpm.is_some()) {
        report.checks.push(RuleCheck {
            name: "root",
            claim: Claim::Hardware,
            passed: false,
            detail: format!(
                "the policy has platform rules for a {} root only; the evidence has a {} root",
                if policy.td.is_some() { "TD" } else { "TPM" },
                result.root.name()
            ),
        });
    }
    if let Some(stream) = stream {
        let stream = stream.map_err(|_| Error::Usage("the runtime appraisal panicked".into()))?;
        report.runtime = Some(covered_appraisal(&result, &inputs, stream)?);
    }
    for c in &report.checks {
        result.rules.push(RuleOutcome::new(
            c.name,
            if c.passed {
                RuleStatus::Pass
            } else {
                RuleStatus::Fail
            },
            c.detail.clone(),
        ));
    }
    if let Some(r) = &report.runtime {
        result.rules.push(RuleOutcome::new(
            "ima.runtime_policy",
            if r.failed == 0 {
                RuleStatus::Pass
            } else {
                RuleStatus::Fail
            },
            format!(
                "{} covered entries appraised, {} not allowed; {} entries not covered (not \
                 appraised{})",
                r.covered,
                r.failed,
                r.not_covered,
                if r.not_covered_failed > 0 {
                    format!(", {} of them would fail", r.not_covered_failed)
                } else {
                    String::new()
                }
            ),
        ));
    }
    if !report.passed() {
        let mut reasons: Vec<String> = report
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        if let Some(r) = report.runtime.as_ref().filter(|r| r.failed > 0) {
            let first: Vec<String> = r
                .failures
                .iter()
                .take(3)
                .map(|f| {
                    format!(
                        "entry {}: {} ({}): {}",
                        f.number, f.path, f.template, f.reason
                    )
                })
                .collect();
            reasons.push(format!(
                "ima.runtime_policy: {} covered entries not allowed ({}{})",
                r.failed,
                first.join("; "),
                if r.failed > 3 { "; …" } else { "" }
            ));
        }
        result.verified = false;
        let mut failure = Failure::new(
            Step::Appraisal,
            "policy",
            format!("the policy rejects the evidence: {}", reasons.join("; ")),
        );
        failure.entry = report
            .runtime
            .as_ref()
            .and_then(|r| r.failures.first())
            .map(|f| f.number - 1);
        result.failure = Some(failure);
    }
    result.appraisal = Some(report);
    Ok(result)
}

fn tcb_status(result: &AttestationResult) -> Option<(String, Vec<String>)> {
    match &result.quote {
        Some(crate::report::QuoteReport::Td(q)) => q
            .tcb_status()
            .map(|t| (t.status.clone(), t.advisory_ids.clone())),
        _ => None,
    }
}

/// Keep the verdicts of the entries the verified values cover.
fn covered_appraisal(
    result: &AttestationResult,
    inputs: &PlatformInputs,
    stream: StreamAppraisal,
) -> Result<RuntimeAppraisal, Error> {
    let Some(ima) = &result.ima else {
        return Err(Error::Usage(
            "the runtime policy needs the IMA list's replay".into(),
        ));
    };
    let outcome = &ima.replay.outcome;
    // The matching prefix: entries after it were appended after the quote.
    let prefix = outcome.covered.unwrap_or(0);
    if let Some(e) = stream.error {
        if stream.entries < prefix {
            return Err(Error::Log {
                step: Step::Appraisal,
                source: e,
            });
        }
    }
    // Registers with a verified value: under a TPM root the IMA PCRs the replay compared
    // (`against`: `pcrN:alg`), under a TD root every entry extends the verified target.
    let verified_pcr = |pcr: u32| match &inputs.ima_pcrs {
        None => true,
        Some(_) => ima
            .against
            .iter()
            .any(|a| a.split(':').next() == Some(&format!("pcr{pcr}"))),
    };
    let covered = |index: u64, pcr: u32| index < prefix && verified_pcr(pcr);
    let mut out = RuntimeAppraisal::default();
    let appraised = stream.entries;
    let in_prefix = prefix.min(appraised);
    let others_in_prefix = stream
        .other_pcr_entries
        .iter()
        .filter(|(i, _)| *i < prefix)
        .count() as u64;
    let covered_others = stream
        .other_pcr_entries
        .iter()
        .filter(|(i, p)| covered(*i, *p))
        .count() as u64;
    let ima_pcr_entries = in_prefix.saturating_sub(others_in_prefix);
    out.covered = if verified_pcr(mr_core::log::ima::IMA_PCR) {
        ima_pcr_entries
    } else {
        0
    } + covered_others;
    out.not_covered = appraised.saturating_sub(out.covered);
    for f in stream.failures {
        if covered(f.index, f.pcr) {
            out.failed += 1;
            if out.failures.len() < MAX_REPORTED_FAILURES {
                if let Some(detail) = f.failure {
                    out.failures.push(detail);
                }
            }
        } else {
            out.not_covered_failed += 1;
        }
    }
    Ok(out)
}
