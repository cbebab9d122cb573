//! What stops a verification: a typed [`Error`] for input that cannot be checked (malformed
//! evidence, a usage error: CLI exit code 2), and a [`Failure`] in the result for evidence that
//! was checked and rejected (exit code 1). The split follows [`mr_core::ErrorClass`].

use mr_core::ErrorClass;
use serde::Serialize;

/// A step of the verifier, in the order it runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Verify the root of trust: the quote's signature (chain) and nonce.
    Root,
    /// The platform's default rules (TD: DEBUG refused unless allowed, Intel QE identity).
    Platform,
    /// Select the registers the root vouches for (quoted PCR values, backing register).
    Registers,
    /// Replay the boot log (PC-Client log or CCEL) against the selected registers.
    BootLog,
    /// Replay the journal to its backing register and derive the virtual registers.
    Journal,
    /// Replay the IMA list against the verified values of the register it extends.
    Ima,
    /// Bind the IMA list to the boot log through its first `boot_aggregate`.
    BootAggregate,
    /// Apply the appraisal policy (platform rules, IMA runtime policy) to verified evidence.
    Appraisal,
}

/// Input that cannot be checked: malformed evidence or a usage error (never a verdict on the
/// evidence). Evidence that is well formed but does not verify is not an error: it is an
/// [`crate::AttestationResult`] with `verified: false` and a [`Failure`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The attestation key is in no format mr knows.
    #[error("AK: {0}")]
    Ak(#[source] mr_tpm::Error),
    /// The TPM quote or its signature cannot be parsed.
    #[error(transparent)]
    TpmQuote(mr_tpm::Error),
    /// The TD quote, its options or collateral cannot be used.
    #[error(transparent)]
    TdQuote(mr_rtmr::Error),
    /// A TD quote file of hex text that does not decode (an odd number of digits).
    #[error("quote hex: {0}")]
    QuoteHex(#[source] hex::FromHexError),
    /// The vTPM evidence (HCL report, runtime data, evidence JSON, certificates) cannot be used.
    #[error("vTPM evidence: {0}")]
    Vtpm(#[source] mr_vtpm::Error),
    /// The journal is malformed.
    #[error("journal: {0}")]
    Journal(#[source] mr_virtual::Error),
    /// A log (boot log, CCEL, IMA list) is malformed, or reading it failed.
    #[error("{source}")]
    Log {
        /// The step that read the log.
        step: Step,
        /// What mr-core found.
        source: mr_core::Error,
    },
    /// The evidence does not say what to check (e.g. an IMA list under a TD root with neither
    /// a journal nor a CCEL), or gives values that contradict each other.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// The step that found the error.
    pub fn step(&self) -> Step {
        match self {
            Error::Ak(_)
            | Error::TpmQuote(_)
            | Error::TdQuote(_)
            | Error::QuoteHex(_)
            | Error::Vtpm(_) => Step::Root,
            Error::Journal(_) => Step::Journal,
            Error::Log { step, .. } => *step,
            Error::Usage(_) => Step::Registers,
        }
    }
}

/// Why evidence was rejected: the step, a short machine-readable reason, the message (naming the
/// register, the entry and why), and for log replays the mismatching registers and the first
/// inconsistent entry.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// The step that rejected the evidence.
    pub step: Step,
    /// Machine-readable reason: `bad_signature`, `wrong_nonce`, `pcr_digest_mismatch`,
    /// `ima_pcr_not_quoted`, `td_quote`, `backing_not_quoted`, `journal`, `no_mr_ima`,
    /// `boot_log`, `ima_replay`, `boot_aggregate`, ….
    pub reason: String,
    /// The message.
    pub message: String,
    /// The register that did not verify, when one did not.
    pub register: Option<String>,
    /// The first inconsistent entry (0-based) of the log, when there is one.
    pub entry: Option<u64>,
    /// The replay's evidence of the rejection (`mismatches`, `bad_entry`, `not_covered`,
    /// `entries`), from [`rejection_details`]; `null` for other rejections.
    pub details: Option<serde_json::Value>,
}

impl Failure {
    /// A rejection without replay details.
    pub(crate) fn new(step: Step, reason: &str, message: String) -> Failure {
        Failure {
            step,
            reason: reason.to_owned(),
            message,
            register: None,
            entry: None,
            details: None,
        }
    }

    /// A rejection by a log replay: register, entry and details from mr-core's error.
    pub(crate) fn from_core(step: Step, reason: &str, e: &mr_core::Error) -> Failure {
        let (register, entry) = match e {
            mr_core::Error::Replay(r) => (
                r.mismatches.first().map(|m| m.register.to_string()),
                r.first_bad_entry.as_ref().map(|b| b.entry),
            ),
            mr_core::Error::EntryDigest(m) => (Some(m.register.to_string()), Some(m.entry)),
            mr_core::Error::NotCovered(n) => (Some(n.register.to_string()), Some(n.entry)),
            mr_core::Error::NotVerifiable(nv) => nv.pairs.first().map_or((None, None), |p| {
                (Some(p.register.to_string()), Some(p.first_record))
            }),
            _ => (None, None),
        };
        Failure {
            step,
            reason: reason.to_owned(),
            message: e.to_string(),
            register,
            entry,
            details: rejection_details(e),
        }
    }
}

/// Why a step stopped: rejected evidence or input that cannot be checked.
#[derive(Debug)]
pub(crate) enum Stop {
    Rejected(Box<Failure>),
    Malformed(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Stop {
        Stop::Malformed(e)
    }
}

/// An mr-core error of a log replay at `step`: a rejection (`reason`) or malformed input.
pub(crate) fn core_stop(step: Step, reason: &str, e: mr_core::Error) -> Stop {
    match e.class() {
        ErrorClass::Rejected => Stop::Rejected(Box::new(Failure::from_core(step, reason, &e))),
        ErrorClass::Malformed | ErrorClass::Device => {
            Stop::Malformed(Error::Log { step, source: e })
        }
    }
}

/// JSON of an entry whose recorded digest disagrees with its data: entry, byte offset,
/// register, bank, recorded and computed digests.
pub fn bad_entry_json(m: &mr_core::error::EntryDigestMismatch) -> serde_json::Value {
    serde_json::json!({
        "entry": m.entry,
        "offset": m.offset,
        "id": m.register.to_string(),
        "alg": m.alg.name(),
        "recorded": m.recorded.to_hex(),
        "computed": m.computed.to_hex(),
    })
}

/// JSON of a replay rejection: `{"verified": false, "entries", "mismatches": [{id, alg,
/// expected, computed, events}], "bad_entry"}` for a mismatch, `bad_entry` for an entry whose
/// digest disagrees with its data, `not_covered` for an entry no verified value covers,
/// `not_verifiable` for values of register and bank pairs a TCG log covers only partly
/// ([`crate::report::incomplete_json`]); `None` for other errors.
pub fn rejection_details(e: &mr_core::Error) -> Option<serde_json::Value> {
    match e {
        mr_core::Error::Replay(r) => {
            let mismatches: Vec<serde_json::Value> = r
                .mismatches
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "id": m.register.to_string(),
                        "alg": m.alg.name(),
                        "expected": m.expected.to_hex(),
                        "computed": m.computed.to_hex(),
                        "events": m.events,
                    })
                })
                .collect();
            Some(serde_json::json!({
                "verified": false,
                "entries": r.entries_replayed,
                "mismatches": mismatches,
                "bad_entry": r.first_bad_entry.as_ref().map(bad_entry_json),
            }))
        }
        mr_core::Error::EntryDigest(m) => Some(serde_json::json!({
            "verified": false,
            "bad_entry": bad_entry_json(m),
        })),
        mr_core::Error::NotCovered(n) => Some(serde_json::json!({
            "verified": false,
            "not_covered": {
                "entry": n.entry,
                "number": n.number,
                "id": n.register.to_string(),
                "reason": n.reason,
            },
        })),
        mr_core::Error::NotVerifiable(nv) => Some(serde_json::json!({
            "verified": false,
            "not_verifiable": crate::report::incomplete_json(&nv.pairs),
        })),
        _ => None,
    }
}
