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
pub mod wire;

// The types a verifier needs, at the top; the rest stays in the modules.

// Registers, values and where they come from.
pub use alg::{Digest, HashAlg};
pub use register::{
    ExpectedRegisters, MeasurementRegister, MrId, Provenance, RegisterValue, SoftRegister,
    VerifiedRegisters,
};
// What a replay was compared with decides the type of its result.
pub use trust::{Checked, ComputeOnly, Reference, Verified};
// Errors.
pub use error::{Error, ErrorClass};
// Replays of each log format: configuration and report.
pub use log::cel::{CelReplayConfig, CelReplayReport};
pub use log::ima::{
    Anchor, Checkpoint, CheckpointKey, ImaInput, ImaOptions, ImaReplayConfig, ImaReplayReport,
    Verification,
};
pub use log::tcg::{TcgReplayConfig, TcgReplayReport};
pub use replay::{PrefixPolicy, ReplayOptions, ReplayOutcome};
