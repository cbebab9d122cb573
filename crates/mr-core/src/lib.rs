//! mr-core: hash algorithms, the measurement-register model, measurement-log parsers and the
//! replay engine of mr.
//!
//! Pure Rust, no device I/O, no `unsafe`. What this crate trusts: nothing in its inputs. Every
//! parser bounds every length it reads; a log that does not verify is an [`Error`] naming the
//! register, the entry and the reason. What the caller must ensure: that the
//! [`register::VerifiedRegisters`] it replays against really come from a checked root of trust
//! (a TPM or TD quote verified by `mr-tpm` / `mr-rtmr`).
//!
//! Pipeline: a root of trust yields `VerifiedRegisters` → a log parser ([`log`]) yields
//! entries → the format turns entries into extend steps for the one [`replay`] engine → a
//! [`replay::ReplayOutcome`] or a structured error.

#![forbid(unsafe_code)]

pub mod alg;
pub mod error;
pub mod hexdigits;
pub mod log;
pub mod register;
pub mod replay;
pub mod trust;

pub use alg::{Digest, HashAlg};
pub use error::{Error, ErrorClass};
pub use register::{
    ExpectedRegisters, MeasurementRegister, MrId, Provenance, RegisterValue, SoftRegister,
    VerifiedRegisters,
};
pub use trust::{Checked, ComputeOnly, Reference, Verified};
