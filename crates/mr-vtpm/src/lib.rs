//! mr-vtpm: a TPM rooted in a confidential-VM report.
//!
//! On Azure confidential VMs (TDX and SEV-SNP) the guest sees no RTMRs but a virtual TPM run by
//! the paravisor (the "HCL"). The paravisor writes an [HCL report](hcl) whose hardware report
//! (a TDREPORT, or an SNP report) carries in REPORTDATA the SHA-256 of a runtime-data JSON
//! that holds the vTPM's attestation key `HCLAkPub`. The guest's ordinary TPM quote is signed
//! with that AK. This crate verifies the whole chain:
//!
//! ```text
//! TD quote (PCK chain → Intel root)  ┐
//!   or SNP report (VCEK → ASK → ARK) ┴→ REPORTDATA = SHA-256(runtime data) → HCLAkPub
//!                                        → TPM quote (nonce, pcrDigest) → PCRs
//! ```
//!
//! and yields the PCRs as [`mr_core::VerifiedRegisters`] with
//! [`mr_core::Provenance::VtpmQuote`], so that boot log and IMA replay run on them unchanged
//! (mr-attest's vTPM root). TD quotes are verified by mr-rtmr, the TPM quote by mr-tpm,
//! certificates by `mr_tpm::cert`; this crate parses the HCL report and the SNP report and
//! checks the bindings between the links. Pure Rust: no OpenSSL, no libtss2.
//!
//! What this crate trusts: the trust anchors the caller gives (Intel's root, or a root of its
//! choice, for TDX; the ARK/ASK bundle for SNP), nothing in the evidence.

#![forbid(unsafe_code)]

pub mod error;
pub mod evidence;
pub mod hcl;
pub mod snp;
pub mod verify;

pub use error::Error;
pub use evidence::{AzVtpmEvidence, Hardware, VtpmQuote};
pub use hcl::{HclReport, HwReportType, RuntimeData, RuntimeKey};
pub use snp::{SnpReport, TcbVersion};
pub use verify::{
    verify_az_snp_vtpm, verify_az_tdx_vtpm, SnpOptions, TdxOptions, VerifiedHardware, VerifiedSnp,
    VerifiedVtpm,
};
