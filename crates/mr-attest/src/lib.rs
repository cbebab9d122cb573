//! `mr-attest`: verify attestation evidence with one call.
//!
//! A verifier gives [`verify`](fn@verify) the [`Evidence`] of one root of trust — a TPM quote
//! ([`TpmQuoteEvidence`]) or a TD quote ([`TdQuoteEvidence`], with the journal of `mr_ima` and/or
//! the CCEL) — and the IMA list that goes with it ([`ImaList`]). The verifier runs the steps in a
//! fixed order (root → platform rules → registers → boot log → journal → IMA → boot aggregate,
//! see [`mod@verify`]) and returns one [`AttestationResult`]: what was verified, from which
//! root, which registers with which provenance, each log's report, each rule's outcome, and why
//! anything failed. The result serialises to JSON (`serde`) and to an EAR claims set
//! ([`AttestationResult::to_ear`]), and reads as text ([`AttestationResult::verdict_lines`],
//! [`mod@render`]).
//!
//! Rejected evidence is a result with `verified: false` and a [`Failure`]; input that cannot be
//! checked (malformed, a usage error) is an [`Error`].
//!
//! ```no_run
//! use mr_attest::{verify, Evidence, ImaList, TpmQuoteEvidence};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let quote = TpmQuoteEvidence::new(
//!     std::fs::read("quote.attest")?,
//!     std::fs::read("quote.sig")?,
//!     std::fs::read("ak.pub")?,
//! )
//! .with_nonce(hex::decode("00112233")?);
//! let list = ImaList::from_reader(std::io::BufReader::new(std::fs::File::open(
//!     "/sys/kernel/security/ima/binary_runtime_measurements",
//! )?));
//! let result = verify(Evidence::tpm(quote).with_ima(list))?;
//! println!("{}", serde_json::to_string_pretty(&result)?);
//! # Ok(())
//! # }
//! ```

pub mod appraisal;
pub mod ear;
pub mod error;
pub mod evidence;
pub mod render;
pub mod report;
pub mod shards;
pub mod summary;
pub mod time;
pub mod verify;

pub use appraisal::{AppraisalReport, RuntimeAppraisal};
pub use ear::{EarClaims, TrustTier, TrustVector, VerifierId, EAR_PROFILE};
pub use error::{Error, Failure, Step};
pub use evidence::{
    AkChain, Ccel, Evidence, ImaList, Journal, RootEvidence, TdQuoteEvidence, TpmQuoteEvidence,
    VtpmEvidence, VtpmOptions,
};
pub use render::{BootLogView, CelReplayView, ComparedWith, DirectView};
pub use report::{
    AttestationResult, BootLogReport, DirectReport, ImaReport, JournalReport, QuoteReport,
    RootKind, RuleOutcome, RuleStatus, VerifiedRegister,
};
pub use shards::{verify_manifest_file, AnchorError, FileError, ManifestDir};
pub use verify::{
    check_boot_aggregate, replay_ccel_then_ima, verify, BootAggregateCheck, DirectReplay, MR_IMA,
};
