//! mr-tpm: TPM PCRs as measurement registers and TPM quotes verified in pure Rust.
#![forbid(unsafe_code)]
