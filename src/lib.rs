//! `mr`: measured-boot and runtime attestation for confidential computing.
//!
//! This facade re-exports the member crates:
//! - [`core`] (`mr-core`): hash algorithms, the measurement-register model, log formats and replay;
//! - [`tpm`] (`mr-tpm`, feature `tpm`): TPM PCRs and TPM quote verification;
//! - [`rtmr`] (`mr-rtmr`, feature `rtmr`): TDX RTMRs, TD quote verification, CCEL; with feature
//!   `sim`, the simulated TD (`rtmr::sim`) for test suites;
//! - [`virtual_registers`] (`mr-virtual`, feature `virtual`): virtual registers over a backing register;
//! - [`attest`] (`mr-attest`, feature `attest`): evidence per root of trust, one verifier, the
//!   attestation result (JSON, EAR).

#[cfg(feature = "attest")]
pub use mr_attest as attest;
pub use mr_core as core;
#[cfg(feature = "rtmr")]
pub use mr_rtmr as rtmr;
#[cfg(feature = "tpm")]
pub use mr_tpm as tpm;
#[cfg(feature = "virtual")]
pub use mr_virtual as virtual_registers;
