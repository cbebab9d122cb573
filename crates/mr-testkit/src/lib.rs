//! Test support for mr, shared by the test suites, benchmarks and fuzz targets of the workspace
//! (a dev-dependency only; `publish = false`). One builder per fixture:
//!
//! - [`tpm`]: TPM quotes signed in software (a fixed P-256 or a fresh RSA attestation key given
//!   as a TPMT_PUBLIC, a TPMS_ATTEST over chosen PCR values), and [`tpm::SoftwareQuote`], the
//!   fixed signed quote the hostile-input tests, the fuzz target and the benchmark start from;
//! - [`td`]: simulated TD quotes (`mr_rtmr::sim`, enabled here): one test signer per process,
//!   measurements, quote and root files, [`td::SignedTdQuotes`] in every format;
//! - [`example`]: the example evidence the repository ships (`examples/`) and the one-byte
//!   edit of an IMA list the rejection tests make;
//! - [`journal`]: a valid `mr_ima` journal over RTMR3 with its backing and virtual values;
//! - [`vtpm`]: Azure-style vTPM evidence (runtime data, HCL report, trustee's JSON) around a
//!   simulated TD;
//! - [`shared`] and [`shared_json`]: the real-world vectors and tools of `$MR_SHARED` (never
//!   copied into the repository), or a skipped test when it is not set;
//! - `demo` (feature `swtpm`): the scenario of `mr demo`, one IMA list measured into a real
//!   swtpm's PCR 10 and a simulated TD's `mr_ima`, and the quotes of both roots.
//!
//! A dev-dependency on this crate also turns on the test-support features of the production
//! crates for the test build: `mr-core/testing` (`mr_core::log::ima::builder`, the IMA list
//! builder, and `mr_core::log::ima::sample`, synthetic lists; they stay in mr-core because its
//! own unit tests use them) and `mr-rtmr/sim` (the simulated TD and its test quote signer).
//!
//! The allocation cap of the hostile-input tests is `mr_test_alloc::AllocStats::assert_within`
//! (that crate holds the counting allocator and the one unsafe impl of the test suite).
//!
//! Helpers panic on failure (`expect`): a fixture that cannot be built is a broken test set-up.
#![forbid(unsafe_code)]
#![allow(clippy::expect_used, clippy::panic)]

#[cfg(feature = "swtpm")]
pub mod demo;
pub mod example;
pub mod journal;
pub mod td;
pub mod tpm;
pub mod vtpm;

/// `$MR_SHARED/<rel>`: the real-world vectors (`vectors/…`) and tools the tests read, never
/// copied into the repository. `None`, with a note on stderr that the test is skipped, when
/// `MR_SHARED` is not set.
pub fn shared(rel: &str) -> Option<std::path::PathBuf> {
    match std::env::var_os("MR_SHARED") {
        Some(dir) => Some(std::path::PathBuf::from(dir).join(rel)),
        None => {
            eprintln!("MR_SHARED is not set: skipping this test ({rel})");
            None
        }
    }
}

/// The JSON file `$MR_SHARED/<rel>` ([`shared`]), parsed.
pub fn shared_json(rel: &str) -> Option<serde_json::Value> {
    let path = shared(rel)?;
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Some(serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// Standard base64 with line breaks and other white space (vectors stored as their projects keep
/// them), decoded.
pub fn base64_text(text: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let text: Vec<u8> = text
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("the vector is valid base64")
}
