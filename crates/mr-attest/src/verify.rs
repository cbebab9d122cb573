//! The verifier: one function, [`verify`], that runs the steps in a fixed order.
//!
//! 1. **Root**: the quote's signature (TPM: by the AK; TD: the PCK chain to the trust anchor,
//!    the QE report and the quote signature) and nonce.
//! 2. **Platform**: the default rules. TD: a debug TD is refused unless allowed, the quoting
//!    enclave must be Intel's TD QE (both enforced by [`mr_rtmr::quote::verify`] and reported
//!    here as rule outcomes), the TCB status when collateral is given.
//! 3. **Registers**: select the registers the root vouches for: the quoted PCR values (checked
//!    against the quote's PCR digest); RTMR 0-2 for the CCEL, RTMR 3 only when the CCEL (or the
//!    IMA list in direct mode) extends it; the journal's backing register.
//! 4. **Boot log**: replay the PC-Client log (TPM) or the CCEL (TD) against them.
//! 5. **Journal**: replay the journal to its verified backing register; derive `mr_ima`.
//! 6. **IMA**: replay the list against the verified values of the register it extends (PCR 10,
//!    `mr_ima`, or in direct mode the RTMR after the CCEL); the no-TPM rule.
//! 7. **Boot aggregate**: with a boot log, the list's first `boot_aggregate`
//!    ([`ImaReplayReport::first_boot_aggregate`]) must equal the boot log's.
//!
//! Evidence that does not verify stops at the first step that rejects it: the result has
//! `verified: false` and a [`Failure`]; input that cannot be checked is an [`Error`].

use mr_core::log::ima::{self, ImaOptions, ImaReplayConfig, ImaReplayReport, IMA_PCR};
use mr_core::log::tcg::{self, ccel, TcgReplayConfig};
use mr_core::replay::ReplayOptions;
use mr_core::{
    ComputeOnly, ErrorClass, HashAlg, MrId, Reference, RegisterValue, Verified, VerifiedRegisters,
};
use mr_rtmr::quote::{self, QuoteError, VerifiedQuote};
use mr_tpm::{verify_quote_signature, AkPublic, SignedQuote};

use crate::error::{core_stop, Error, Failure, Step, Stop};
use crate::evidence::{
    Ccel, Evidence, ImaList, Journal, RootEvidence, TdQuoteEvidence, TpmQuoteEvidence,
    VtpmEvidence, VtpmOptions,
};
use crate::report::{
    verified_registers, AttestationResult, BootLogReport, DirectReport, ImaReport, JournalReport,
    QuoteReport, RootKind, RuleOutcome, RuleStatus,
};

/// The virtual register the guest agent extends with IMA template digests.
pub use mr_virtual::MR_IMA;

/// Verify `evidence`: see the [module documentation](self) for the steps.
///
/// Returns the [`AttestationResult`], `verified` or not; an [`Error`] only for input that
/// cannot be checked (malformed evidence, a usage error).
pub fn verify(evidence: Evidence) -> Result<AttestationResult, Error> {
    let Evidence { root, ima, policy } = evidence;
    match policy {
        Some(policy) => crate::appraisal::verify_and_appraise(root, ima, &policy, verify_root),
        None => verify_root(root, ima),
    }
}

/// Steps 1-7 for one root.
fn verify_root(root: RootEvidence, ima: Option<ImaList>) -> Result<AttestationResult, Error> {
    match root {
        RootEvidence::Tpm(q) => finish(RootKind::Tpm, |r| verify_tpm(r, q, ima)),
        RootEvidence::Td(q) => finish(RootKind::Td, |r| verify_td(r, *q, ima)),
        RootEvidence::Vtpm(q) => finish(RootKind::Vtpm, |r| verify_vtpm(r, *q, ima)),
    }
}

fn finish(
    root: RootKind,
    steps: impl FnOnce(&mut AttestationResult) -> Result<(), Stop>,
) -> Result<AttestationResult, Error> {
    let mut result = AttestationResult::new(root);
    match steps(&mut result) {
        Ok(()) => {
            result.verified = true;
            Ok(result)
        }
        Err(Stop::Rejected(failure)) => {
            result.failure = Some(*failure);
            Ok(result)
        }
        Err(Stop::Malformed(e)) => Err(e),
    }
}

/// Record a failed rule and stop with its rejection.
fn reject_rule(
    r: &mut AttestationResult,
    rule: &'static str,
    step: Step,
    reason: &str,
    message: String,
) -> Stop {
    r.rules
        .push(RuleOutcome::new(rule, RuleStatus::Fail, message.clone()));
    Stop::Rejected(Box::new(Failure::new(step, reason, message)))
}

/// The one place the verifier replays an IMA list: [`ima::verify`], which reads it once (on
/// two threads when that pays) and computes the kexec findings from the covered entries.
fn replay_ima<R: Reference>(
    list: ImaList,
    cfg: &ImaReplayConfig,
    reference: &R,
) -> Result<ImaReplayReport, mr_core::Error> {
    let options = ImaOptions::default().with_replay(cfg.clone());
    ima::verify(list.into_input(), reference, &options).map(R::into_report)
}

fn nonce_rule(checked: bool, value: &[u8], what: &str) -> RuleOutcome {
    if checked {
        RuleOutcome::new(
            "nonce",
            RuleStatus::Pass,
            format!("{what} {} matches the nonce", hex::encode(value)),
        )
    } else {
        RuleOutcome::new(
            "nonce",
            RuleStatus::NotEvaluated,
            format!(
                "{what} {} not checked: no nonce given (the quote may be a replay)",
                hex::encode(value)
            ),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// TPM root
// ---------------------------------------------------------------------------------------------

/// A short machine-readable name of a TPM quote rejection.
pub fn tpm_reason(e: &mr_tpm::Error) -> &'static str {
    use mr_tpm::Error as E;
    match e {
        E::BadSignature => "bad_signature",
        E::WrongNonce { .. } => "wrong_nonce",
        E::PcrDigestMismatch { .. } => "pcr_digest_mismatch",
        E::WrongMagic(_) => "wrong_magic",
        E::WrongType(_) => "wrong_type",
        E::KeySchemeMismatch { .. } => "key_scheme_mismatch",
        E::NotRestrictedSigningKey(_) => "not_restricted_signing_key",
        E::MissingPcrValue { .. } => "missing_pcr_value",
        E::CertificateChain(_) => "certificate_chain",
        _ => "malformed",
    }
}

fn tpm_stop(r: &mut AttestationResult, rule: &'static str, step: Step, e: mr_tpm::Error) -> Stop {
    match e.class() {
        ErrorClass::Rejected => {
            let rule = if matches!(e, mr_tpm::Error::WrongNonce { .. }) {
                "nonce"
            } else {
                rule
            };
            reject_rule(r, rule, step, tpm_reason(&e), e.to_string())
        }
        ErrorClass::Malformed | ErrorClass::Device => Stop::Malformed(Error::TpmQuote(e)),
    }
}

fn verify_tpm(
    r: &mut AttestationResult,
    ev: TpmQuoteEvidence,
    ima: Option<ImaList>,
) -> Result<(), Stop> {
    // 1. Root: the AK's certificate chain (when the operator gave roots), signature and nonce.
    if let Some(chain) = &ev.ak_chain {
        let leaf = mr_tpm::cert::certificate_der(&ev.ak).map_err(Error::Ak)?;
        let verified =
            mr_tpm::cert::verify_chain(&leaf, &chain.intermediates, &chain.roots, chain.at)
                .map_err(|e| tpm_stop(r, "ak_chain", Step::Root, e))?;
        let root = verified.root_description();
        r.rules.push(RuleOutcome::new(
            "ak_chain",
            RuleStatus::Pass,
            format!(
                "AK certificate chains to {root} ({} certificates)",
                verified.certificates.len()
            ),
        ));
        r.chain.push(format!("AK certificate → root {root}"));
    }
    let key = AkPublic::detect(&ev.ak).map_err(Error::Ak)?;
    let q: SignedQuote =
        verify_quote_signature(&ev.attest, &ev.signature, &key, ev.nonce.as_deref())
            .map_err(|e| tpm_stop(r, "signature", Step::Root, e))?;
    r.rules.push(RuleOutcome::new(
        "signature",
        RuleStatus::Pass,
        format!("signed by AK {} (hash {})", q.ak_id(), q.hash()),
    ));
    r.rules
        .push(nonce_rule(q.nonce_checked(), q.nonce(), "extraData"));
    r.chain.push(format!("TPM quote by AK {}", q.ak_id()));
    r.quote = Some(QuoteReport::Tpm(Box::new(q.clone())));

    // 2. Platform: a TPM quote has no default rules beyond the signature.
    let pcrs = ev.pcrs.clone();
    tpm_registers_and_logs(
        r,
        &q,
        &ev.ima_pcrs,
        ev.boot_log.as_deref(),
        ima,
        |r| match &pcrs {
            Some(values) => {
                let v = q
                    .verify_pcrs(values)
                    .map_err(|e| tpm_stop(r, "pcr_digest", Step::Registers, e))?;
                r.rules.push(pcr_digest_pass(&q, "the quoted values"));
                Ok(Some(v))
            }
            None => Ok(None),
        },
    )
}

// ---------------------------------------------------------------------------------------------
// vTPM root
// ---------------------------------------------------------------------------------------------

fn verify_vtpm(
    r: &mut AttestationResult,
    ev: VtpmEvidence,
    ima: Option<ImaList>,
) -> Result<(), Stop> {
    // 1. Root: the hardware report, the runtime data it binds, the AK in it, the quote the AK
    //    signed (nonce) and the PCR values it quoted (mr-vtpm checks every link).
    let verified = match &ev.options {
        VtpmOptions::AzTdx(o) => mr_vtpm::verify_az_tdx_vtpm(&ev.evidence, o),
        VtpmOptions::AzSnp(o) => mr_vtpm::verify_az_snp_vtpm(&ev.evidence, o),
    }
    .map_err(|e| match e.class() {
        ErrorClass::Rejected => {
            let rule = match e.reason() {
                "wrong_nonce" => "nonce",
                "vtpm_quote_signature" | "vtpm_quote" => "signature",
                "pcr_digest_mismatch" => "pcr_digest",
                _ => "hardware_chain",
            };
            reject_rule(r, rule, Step::Root, e.reason(), e.to_string())
        }
        ErrorClass::Malformed | ErrorClass::Device => Stop::Malformed(Error::Vtpm(e)),
    })?;
    r.rules.push(RuleOutcome::new(
        "hardware_chain",
        RuleStatus::Pass,
        verified.chain.join(" → "),
    ));
    let q = verified.quote.clone();
    r.rules.push(RuleOutcome::new(
        "signature",
        RuleStatus::Pass,
        format!("signed by AK {} (hash {})", q.ak_id(), q.hash()),
    ));
    r.rules
        .push(nonce_rule(q.nonce_checked(), q.nonce(), "extraData"));
    r.chain.extend(verified.chain.iter().cloned());
    let registers = verified.registers.clone();
    r.quote = Some(QuoteReport::Vtpm(Box::new(verified)));
    // 2. Platform: the hardware's rules (debug, VMPL, QE identity) ran in step 1.
    tpm_registers_and_logs(r, &q, &ev.ima_pcrs, ev.boot_log.as_deref(), ima, |r| {
        r.rules.push(pcr_digest_pass(&q, "the quoted values"));
        Ok(Some(registers))
    })
}

/// Steps 3-7 under a TPM quote (a TPM's or a vTPM's): the IMA PCRs must be quoted; `verify_pcrs`
/// gives the verified PCR values, if any; the boot log against them; the IMA list; the boot
/// aggregate.
fn tpm_registers_and_logs(
    r: &mut AttestationResult,
    q: &SignedQuote,
    ima_pcrs: &[u32],
    boot_log: Option<&[u8]>,
    ima: Option<ImaList>,
    verify_pcrs: impl FnOnce(&mut AttestationResult) -> Result<Option<VerifiedRegisters>, Stop>,
) -> Result<(), Stop> {
    // 3. Registers.
    let ima_selected: Vec<(u32, HashAlg)> = q
        .quote_info()
        .pcr_select
        .pcrs()
        .filter(|(p, _)| ima_pcrs.contains(p))
        .collect();
    if ima.is_some() {
        if ima_selected.is_empty() {
            let message = format!(
                "the quote selects {}, not the IMA PCR(s) {:?}: it cannot vouch for the list",
                selection_text(q),
                ima_pcrs
            );
            return Err(reject_rule(
                r,
                "ima_pcr_quoted",
                Step::Registers,
                "ima_pcr_not_quoted",
                message,
            ));
        }
        r.rules.push(RuleOutcome::new(
            "ima_pcr_quoted",
            RuleStatus::Pass,
            format!("the quote selects {}", selection_text(q)),
        ));
    }
    let verified = verify_pcrs(r)?;
    if let Some(v) = &verified {
        r.registers = verified_registers(v);
        r.provenance = Some(v.provenance().to_string());
    }

    // 4. Boot log: against the quoted PCRs it can extend (below 16, not the IMA PCRs).
    if let (Some(log), Some(v)) = (&boot_log, &verified) {
        let boot_pcrs =
            v.select(|id, _| matches!(id, MrId::Pcr(p) if *p < 16 && !ima_pcrs.contains(p)));
        let cfg = TcgReplayConfig::pc_client();
        let replay = if boot_pcrs.is_empty() {
            tcg::replay(log, &cfg, &ComputeOnly)
        } else {
            tcg::replay(log, &cfg, &boot_pcrs).map(Verified::into_report)
        }
        .map_err(|e| core_stop(Step::BootLog, "boot_log", e))?;
        r.boot_log = Some(BootLogReport {
            replay,
            against: boot_pcrs,
            table: None,
        });
    }

    // 5. No virtual registers under a TPM root. 6. IMA.
    let Some(list) = ima else {
        return Ok(());
    };
    let against: Vec<String> = ima_selected
        .iter()
        .map(|(p, a)| format!("pcr{p}:{a}"))
        .collect();
    let report = match &verified {
        Some(v) => {
            // The list replays to the quoted values of the IMA PCRs (a prefix may suffice: IMA
            // appends before it extends).
            let ima_values = v.select(
                |id, _| matches!(id, MrId::Pcr(p) if ima_selected.iter().any(|(s, _)| s == p)),
            );
            let cfg = ImaReplayConfig::default().with_banks(ima_values.banks());
            replay_ima(list, &cfg, &ima_values)
                .map_err(|e| core_stop(Step::Ima, "ima_replay", e))?
        }
        None => {
            // No quoted values given: the list's final values must be what the quote signed.
            // The quote checks the selected PCRs after the replay: entries of other registers
            // are not covered.
            let banks: Vec<HashAlg> = ima_selected.iter().map(|(_, a)| *a).collect();
            let quoted = q.quote_info().pcr_select.pcrs().map(|(p, _)| MrId::Pcr(p));
            let cfg = ImaReplayConfig::default()
                .with_banks(banks)
                .with_replay(ReplayOptions::default().with_checked_later(quoted));
            let report = replay_ima(list, &cfg, &ComputeOnly)
                .map_err(|e| core_stop(Step::Ima, "ima_replay", e))?;
            let v = q
                .verify_pcrs(&report.outcome.registers)
                .map_err(|e| match e {
                    mr_tpm::Error::MissingPcrValue { index, alg } => {
                        Stop::Malformed(Error::Usage(format!(
                            "the quote selects pcr{index} {alg}, which the IMA list does not \
                         extend: give the quoted PCR values"
                        )))
                    }
                    mr_tpm::Error::PcrDigestMismatch { .. } => {
                        let message = format!(
                            "{e} (the whole IMA list was replayed; if it ran ahead of the quote, \
                         give the quoted PCR values)"
                        );
                        reject_rule(r, "pcr_digest", Step::Ima, tpm_reason(&e), message)
                    }
                    other => tpm_stop(r, "pcr_digest", Step::Ima, other),
                })?;
            r.rules
                .push(pcr_digest_pass(q, "the IMA list's final values"));
            r.registers = verified_registers(&v);
            r.provenance = Some(v.provenance().to_string());
            // The replay had no values to check against, so it could not apply the no-TPM rule
            // itself: an all-zero boot_aggregate means the kernel extended no PCR, and whatever
            // the quote shows was put there by someone else.
            report
                .check_no_tpm(&cfg)
                .map_err(|e| core_stop(Step::Ima, "ima_replay", e))?;
            report
        }
    };
    r.rules.push(RuleOutcome::new(
        "no_tpm",
        RuleStatus::Pass,
        match report.first_no_tpm_boot {
            None => "no all-zero boot_aggregate".to_owned(),
            Some(e) => format!("all-zero boot_aggregate at entry {e} allowed"),
        },
    ));
    r.ima = Some(ImaReport {
        replay: report,
        against,
    });

    // 7. Boot aggregate: the list's first boot_aggregate against the boot log.
    if let (Some(log), Some(ima)) = (&boot_log, &r.ima) {
        let outcome = check_boot_aggregate(log, &ima.replay)
            .map_err(|e| core_stop(Step::BootAggregate, "boot_aggregate", e))?;
        let message = outcome.message("the boot log");
        match outcome {
            BootAggregateCheck::Matches { .. } => r.rules.push(RuleOutcome::new(
                "boot_aggregate",
                RuleStatus::Pass,
                message,
            )),
            BootAggregateCheck::Differs { entry, .. } => {
                let mut stop = reject_rule(
                    r,
                    "boot_aggregate",
                    Step::BootAggregate,
                    "boot_aggregate",
                    message,
                );
                if let Stop::Rejected(f) = &mut stop {
                    f.entry = Some(entry);
                }
                return Err(stop);
            }
            BootAggregateCheck::Unbound { .. } => {
                return Err(reject_rule(
                    r,
                    "boot_aggregate",
                    Step::BootAggregate,
                    "boot_aggregate",
                    message,
                ));
            }
        }
    }
    Ok(())
}

/// The `pcr_digest` rule passed: `values` hash to the quote's pcrDigest.
fn pcr_digest_pass(q: &SignedQuote, values: &str) -> RuleOutcome {
    RuleOutcome::new(
        "pcr_digest",
        RuleStatus::Pass,
        format!(
            "{values} hash to pcrDigest {}",
            hex::encode(&q.quote_info().pcr_digest)
        ),
    )
}

/// The PCR selection of a quote: `sha256:0,1,10 sha1:10`.
pub fn selection_text(q: &SignedQuote) -> String {
    q.quote_info()
        .pcr_select
        .banks
        .iter()
        .map(|b| {
            let pcrs: Vec<String> = b.pcrs().map(|p| p.to_string()).collect();
            format!("{}:{}", b.alg, pcrs.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What binds an IMA list to a PC-Client boot log: see [`check_boot_aggregate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootAggregateCheck {
    /// The list's first `boot_aggregate` equals one computed from the boot log.
    Matches {
        /// The entry (0-based) of the `boot_aggregate`.
        entry: u64,
        /// The aggregate and the rule (PCRs 0-7 or 0-9) it matched.
        found: tcg::BootAggregateMatch,
    },
    /// The list's first `boot_aggregate` differs from every value the boot log gives.
    Differs {
        /// The entry (0-based) of the `boot_aggregate`.
        entry: u64,
        /// The list's value and the boot log's candidates.
        mismatch: Box<tcg::BootAggregateMismatch>,
    },
    /// The list has no `boot_aggregate` that could bind it (see the reason).
    Unbound {
        /// Why: no entry of the IMA register, the first is not a `boot_aggregate`, or the
        /// verified values do not cover it.
        reason: String,
    },
}

impl BootAggregateCheck {
    /// One line saying what was found, naming the boot log `log` (e.g. `the boot log
    /// /path/to/binary_bios_measurements`): the matching aggregate and its rule, the recorded
    /// value with every candidate, or why nothing binds the list.
    pub fn message(&self, log: &str) -> String {
        match self {
            BootAggregateCheck::Matches { entry, found } => format!(
                "boot_aggregate of entry {entry} matches {log}: {}:{} over {} ({})",
                found.digest.alg(),
                found.digest,
                found.rule,
                found.rule.kernels(found.digest.alg())
            ),
            BootAggregateCheck::Differs { entry, mismatch } => format!(
                "boot_aggregate of entry {entry} is {}:{} but {log} gives {}",
                mismatch.recorded.alg(),
                mismatch.recorded,
                mismatch.candidates_text()
            ),
            BootAggregateCheck::Unbound { reason } => {
                format!("{log} cannot be bound to the list: {reason}")
            }
        }
    }

    /// The rejection as JSON when the aggregate differs (`{"verified": false, "boot_aggregate":
    /// {"entry", "alg", "recorded", "computed", "candidates": [{"rule", "value"}]}}`); `None`
    /// otherwise.
    pub fn differs_json(&self) -> Option<serde_json::Value> {
        let BootAggregateCheck::Differs { entry, mismatch: m } = self else {
            return None;
        };
        Some(serde_json::json!({
            "verified": false,
            "boot_aggregate": {
                "entry": entry,
                "alg": m.recorded.alg().name(),
                "recorded": m.recorded.to_hex(),
                "computed": m.candidates.first().map(|(_, d)| d.to_hex()),
                "candidates": m.candidates.iter().map(|(rule, d)| serde_json::json!({
                    "rule": rule.name(),
                    "value": d.to_hex(),
                })).collect::<Vec<_>>(),
            },
        }))
    }
}

/// Check the list's first `boot_aggregate` ([`ImaReplayReport::first_boot_aggregate`]: the first
/// entry of the IMA register, covered by the verified values) against the PC-Client `boot_log`
/// ([`tcg::verify_boot_aggregate`] with [`TcgReplayConfig::pc_client`]: PCRs 0-7 for SHA-1;
/// 0-9, or 0-7 as Linux 5.7 computed it, for other banks). An error is a boot log that cannot be
/// replayed.
pub fn check_boot_aggregate(
    boot_log: &[u8],
    report: &ImaReplayReport,
) -> Result<BootAggregateCheck, mr_core::Error> {
    let Some(first) = report.first_boot_aggregate() else {
        let reason = match &report.ima_register_start {
            None => format!("the list has no entry of the IMA register (pcr{IMA_PCR})"),
            Some(s) if s.boot_aggregate.is_none() => format!(
                "entry {}, the first of the IMA register, is not a boot_aggregate",
                s.entry
            ),
            Some(s) => format!(
                "the boot_aggregate of entry {} is not covered by the verified values",
                s.entry
            ),
        };
        return Ok(BootAggregateCheck::Unbound { reason });
    };
    match tcg::verify_boot_aggregate(boot_log, &TcgReplayConfig::pc_client(), &first.digest) {
        Ok(found) => Ok(BootAggregateCheck::Matches {
            entry: first.entry,
            found,
        }),
        Err(mr_core::Error::BootAggregate(mismatch)) => Ok(BootAggregateCheck::Differs {
            entry: first.entry,
            mismatch,
        }),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// TD root
// ---------------------------------------------------------------------------------------------

fn rtmr_error_class(e: &mr_rtmr::Error) -> ErrorClass {
    match e {
        mr_rtmr::Error::Quote(q) => q.class(),
        mr_rtmr::Error::Core(c) => c.class(),
        _ => ErrorClass::Malformed,
    }
}

/// A TD quote that did not verify: the rule it broke (signature chain, nonce, debug TD, QE
/// identity, TCB), or malformed input.
fn td_stop(r: &mut AttestationResult, e: mr_rtmr::Error) -> Stop {
    if rtmr_error_class(&e) != ErrorClass::Rejected {
        return Stop::Malformed(Error::TdQuote(e));
    }
    let (rule, step) = match &e {
        mr_rtmr::Error::Quote(QuoteError::DebugTd(_)) => ("debug_td", Step::Platform),
        mr_rtmr::Error::Quote(QuoteError::QeNotIntelTdQe { .. } | QuoteError::QeDebug) => {
            ("qe_identity", Step::Platform)
        }
        mr_rtmr::Error::Quote(QuoteError::Collateral(_)) => ("tcb_status", Step::Platform),
        mr_rtmr::Error::Quote(QuoteError::NonceMismatch { .. }) => ("nonce", Step::Root),
        _ => ("signature_chain", Step::Root),
    };
    reject_rule(r, rule, step, "td_quote", e.to_string())
}

fn td_rules(q: &VerifiedQuote, nonce_checked: bool) -> Vec<RuleOutcome> {
    let a = q.td_attributes();
    vec![
        RuleOutcome::new(
            "signature_chain",
            RuleStatus::Pass,
            q.registers().provenance().to_string(),
        ),
        nonce_rule(nonce_checked, q.report_data(), "REPORTDATA"),
        if a.is_debug() {
            RuleOutcome::new(
                "debug_td",
                RuleStatus::Warn,
                format!(
                    "td_attributes {a}: DEBUG set, accepted because the caller allowed it (the \
                     host can read and change the TD)"
                ),
            )
        } else {
            RuleOutcome::new(
                "debug_td",
                RuleStatus::Pass,
                format!("td_attributes {a}: DEBUG clear"),
            )
        },
        RuleOutcome::new(
            "qe_identity",
            RuleStatus::Pass,
            format!(
                "the quoting enclave is Intel's TD QE (MRSIGNER {}, ISVPRODID {}), not in debug \
                 mode",
                hex::encode(quote::INTEL_TD_QE_MRSIGNER),
                quote::INTEL_TD_QE_ISVPRODID
            ),
        ),
        match q.tcb_status() {
            None => RuleOutcome::new(
                "tcb_status",
                RuleStatus::NotEvaluated,
                "no collateral given",
            ),
            Some(t) if t.is_up_to_date() => {
                RuleOutcome::new("tcb_status", RuleStatus::Pass, t.status.clone())
            }
            Some(t) => RuleOutcome::new(
                "tcb_status",
                RuleStatus::Warn,
                if t.advisory_ids.is_empty() {
                    t.status.clone()
                } else {
                    format!("{} (advisories: {})", t.status, t.advisory_ids.join(", "))
                },
            ),
        },
    ]
}

/// True when the CCEL has a record that extends RTMR 3 (CC MR index 4).
fn ccel_extends_rtmr3(c: &Ccel) -> Result<bool, mr_core::Error> {
    let area = c.table.as_ref().map_or(&c.log[..], |t| t.log_area(&c.log));
    let parsed = tcg::parse(area, &c.config.parse)?;
    Ok(parsed
        .events
        .iter()
        .any(|e| e.index == 4 && !e.is_no_action()))
}

/// The RTMRs of a verified TD quote a CCEL replay is compared with: RTMR 0-2 always (the
/// firmware's), RTMR 3 only when `with_rtmr3` (the log, or the IMA list in direct mode, extends
/// it; otherwise it holds runtime measurements the CCEL does not cover). MRTD and the static
/// registers are not log-derived and are left out.
fn ccel_rtmrs(all: &VerifiedRegisters, with_rtmr3: bool) -> VerifiedRegisters {
    all.select(|id, _| match id {
        MrId::Rtmr(0..=2) => true,
        MrId::Rtmr(3) => with_rtmr3,
        _ => false,
    })
}

fn verify_td(
    r: &mut AttestationResult,
    ev: TdQuoteEvidence,
    ima: Option<ImaList>,
) -> Result<(), Stop> {
    let TdQuoteEvidence {
        quote: quote_bytes,
        options,
        journal,
        ccel,
    } = ev;
    if ima.is_some() && journal.is_none() && ccel.is_none() {
        return Err(Error::Usage(
            "an IMA list under a TD root needs the journal of mr_ima or the CCEL (direct mode)"
                .into(),
        )
        .into());
    }
    // 1-2. Root and platform rules.
    let q = quote::verify(&quote_bytes, &options).map_err(|e| td_stop(r, e))?;
    r.rules.extend(td_rules(&q, options.nonce.is_some()));
    r.chain.push(q.registers().provenance().to_string());
    let all = q.registers().clone();
    r.quote = Some(QuoteReport::Td(Box::new(q)));

    // 3. Registers.
    let direct = ima.is_some() && journal.is_none();
    let rtmrs = match &ccel {
        Some(c) => {
            let with_rtmr3 = (direct && c.ima_register == MrId::Rtmr(3))
                || ccel_extends_rtmr3(c).map_err(|e| core_stop(Step::Registers, "boot_log", e))?;
            Some(ccel_rtmrs(&all, with_rtmr3))
        }
        None => None,
    };
    let backing = match &journal {
        Some(j) => {
            let b = all.select(|id, _| *id == j.backing);
            if b.is_empty() {
                return Err(Stop::Rejected(Box::new(Failure::new(
                    Step::Registers,
                    "backing_not_quoted",
                    format!("the TD quote has no value of {}", j.backing),
                ))));
            }
            Some(b)
        }
        None => None,
    };
    for v in rtmrs.iter().chain(backing.iter()) {
        for reg in verified_registers(v) {
            if !r.registers.contains(&reg) {
                r.registers.push(reg);
            }
        }
        r.provenance = Some(v.provenance().to_string());
    }

    // 4. Boot log (CCEL). In direct mode the values are compared once, after the IMA list.
    if let (Some(c), Some(rtmrs)) = (&ccel, &rtmrs) {
        let replay = if direct {
            ccel::replay(&c.log, c.table.as_ref(), &c.config, &ComputeOnly)
        } else {
            ccel::replay(&c.log, c.table.as_ref(), &c.config, rtmrs).map(Verified::into_report)
        }
        .map_err(|e| core_stop(Step::BootLog, "boot_log", e))?;
        r.boot_log = Some(BootLogReport {
            replay,
            against: rtmrs.clone(),
            table: c.table.clone(),
        });
    }

    // 5. Journal → mr_ima.
    let ima_values = match (journal, &backing) {
        (Some(j), Some(b)) => Some(derive_mr_ima(r, j, b)?),
        _ => None,
    };

    // 6. IMA.
    let Some(list) = ima else {
        return Ok(());
    };
    match (ima_values, ccel, rtmrs) {
        (Some(values), _, _) => {
            let target = MrId::Virtual(MR_IMA.to_owned());
            let cfg = ImaReplayConfig::default()
                .with_banks(values.banks())
                .with_target(target);
            let report = replay_ima(list, &cfg, &values)
                .map_err(|e| core_stop(Step::Ima, "ima_replay", e))?;
            r.ima = Some(ImaReport {
                replay: report,
                against: values
                    .iter()
                    .map(|(id, v)| format!("{id}:{}", v.alg()))
                    .collect(),
            });
        }
        (None, Some(c), Some(rtmrs)) => {
            let ccel_report = match &r.boot_log {
                Some(b) => b.replay.clone(),
                None => return Err(Error::Usage("direct mode without a CCEL replay".into()).into()),
            };
            let d = continue_with_ima(&ccel_report, list, &c.ima_register, &rtmrs)
                .map_err(|e| core_stop(Step::Ima, "ima_replay", e))?;
            r.ima = Some(ImaReport {
                replay: d.ima,
                against: rtmrs
                    .iter()
                    .map(|(id, v)| format!("{id}:{}", v.alg()))
                    .collect(),
            });
            r.direct = Some(DirectReport {
                register: c.ima_register.clone(),
                registers: d.registers,
            });
        }
        _ => {
            return Err(Error::Usage(
                "an IMA list under a TD root needs the journal of mr_ima or the CCEL".into(),
            )
            .into())
        }
    }
    Ok(())
}

/// Step 5: replay the journal to the verified backing value and take `mr_ima`.
fn derive_mr_ima(
    r: &mut AttestationResult,
    j: Journal,
    backing: &VerifiedRegisters,
) -> Result<VerifiedRegisters, Stop> {
    let derived = mr_virtual::verify::derive(
        j.input,
        &j.backing,
        backing,
        &mr_virtual::verify::DeriveOptions::default(),
    )
    .map_err(|e| match e.class() {
        ErrorClass::Rejected => Stop::Rejected(Box::new(Failure::new(
            Step::Journal,
            "journal",
            format!("journal: {e}"),
        ))),
        ErrorClass::Malformed | ErrorClass::Device => Stop::Malformed(Error::Journal(e)),
    })?;
    r.journal = Some(JournalReport {
        backing: j.backing.clone(),
        records: derived.records,
        covered: derived.covered,
        left_over: derived.left_over,
    });
    let target = MrId::Virtual(MR_IMA.to_owned());
    let values = derived.registers.select(|id, _| *id == target);
    if values.is_empty() {
        return Err(Stop::Rejected(Box::new(Failure::new(
            Step::Journal,
            "no_mr_ima",
            format!("the journal has no record of {MR_IMA}: it cannot vouch for the list"),
        ))));
    }
    r.chain.push(format!("journal {} → {MR_IMA}", j.backing));
    r.registers.extend(verified_registers(&values));
    r.provenance = Some(values.provenance().to_string());
    Ok(values)
}

/// What [`replay_ccel_then_ima`] found.
#[derive(Clone, Debug)]
pub struct DirectReplay {
    /// The CCEL replay (computed values, not compared).
    pub ccel: tcg::TcgReplayReport,
    /// The IMA replay that continued from the CCEL's end values (compared, when values were
    /// given).
    pub ima: ImaReplayReport,
    /// The final value of every register: the CCEL's, with the IMA register's replaced.
    pub registers: Vec<RegisterValue>,
}

/// Direct mode (Intel's "IMA over RTMR" kernels, as cc-api uses them): the firmware's CCEL,
/// then the IMA list extending `ccel.ima_register` with SHA-384 template digests, continuing
/// from the CCEL's end values. One comparison: with `expected`, the IMA replay (whose start
/// values are the CCEL's end values) is compared with every expected register, so registers the
/// IMA list does not extend must equal what the CCEL replayed to, and the IMA register must
/// equal the CCEL's value extended by a prefix of the list.
///
/// [`verify`] runs this with the RTMRs of a verified TD quote; this function also takes values a
/// caller asserts.
pub fn replay_ccel_then_ima<R: Reference>(
    c: &Ccel,
    list: ImaList,
    reference: &R,
) -> Result<DirectReplay, mr_core::Error> {
    let report = ccel::replay(&c.log, c.table.as_ref(), &c.config, &ComputeOnly)?;
    continue_with_ima(&report, list, &c.ima_register, reference)
}

fn continue_with_ima<R: Reference>(
    ccel_report: &tcg::TcgReplayReport,
    list: ImaList,
    ima_register: &MrId,
    reference: &R,
) -> Result<DirectReplay, mr_core::Error> {
    let mut start = ReplayOptions::default();
    for rv in &ccel_report.outcome.registers {
        start = start.with_start(rv.id.clone(), rv.value);
    }
    let cfg = ImaReplayConfig::default()
        .with_banks([HashAlg::Sha384])
        .with_target(ima_register.clone())
        .with_replay(start);
    let ima = replay_ima(list, &cfg, reference)?;
    let mut registers = ccel_report.outcome.registers.clone();
    for rv in &ima.outcome.registers {
        match registers
            .iter_mut()
            .find(|r| r.id == rv.id && r.value.alg() == rv.value.alg())
        {
            Some(r) => r.value = rv.value,
            None => registers.push(rv.clone()),
        }
    }
    registers.sort_by(|a, b| (&a.id, a.value.alg()).cmp(&(&b.id, b.value.alg())));
    Ok(DirectReplay {
        ccel: ccel_report.clone(),
        ima,
        registers,
    })
}
