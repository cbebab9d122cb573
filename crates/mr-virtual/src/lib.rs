//! Virtual measurement registers (DESIGN §5): a register such as `mr_ima` whose every extend is
//! logged as a record in a journal and extended, as the hash of that record line, into a real
//! backing register (a TDX RTMR or a TPM PCR).
//!
//! Depends only on `mr-core`'s [`MeasurementRegister`](mr_core::register::MeasurementRegister)
//! trait, never on a backend crate.

#![forbid(unsafe_code)]
