//! Simulated TD quotes (`mr_rtmr::sim`): the measurements a test puts in a quote, one test
//! signer per process (its PKI takes four key generations), quote and root files for CLI tests,
//! and [`SignedTdQuotes`], verified quotes of one TD in every format.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use mr_core::VerifiedRegisters;
use mr_rtmr::quote::{self, QuoteError, VerifyOptions};
use mr_rtmr::sim::quote::{QuoteFormat, TestQuoteSigner};
use mr_rtmr::sim::TdMeasurements;

/// 2026-01-01T00:00:00Z (unix seconds): a verification time inside the test PKI's validity.
pub const AT: u64 = 1_767_225_600;
/// [`AT`] in RFC 3339, as the CLI's `--at` takes it.
pub const AT_RFC3339: &str = "2026-01-01T00:00:00Z";
/// Every quote format the test signer produces.
pub const FORMATS: [QuoteFormat; 3] = [
    QuoteFormat::V4Td10,
    QuoteFormat::V5Td10,
    QuoteFormat::V5Td15,
];

/// The test signer shared by every test of this process (the PKI is made once); clone the
/// `Arc` to make it a simulated TD's quote provider.
pub fn signer() -> &'static Arc<TestQuoteSigner> {
    static SIGNER: OnceLock<Arc<TestQuoteSigner>> = OnceLock::new();
    SIGNER.get_or_init(|| Arc::new(TestQuoteSigner::new().expect("the test PKI builds")))
}

/// The quote error inside `e`; panics (fails the test) on any other error.
pub fn quote_error(e: mr_rtmr::Error) -> QuoteError {
    match e {
        mr_rtmr::Error::Quote(q) => q,
        other => panic!("not a quote error: {other}"),
    }
}

/// A new test signer with a PKI of its own (another root than [`signer`]'s and any other).
pub fn fresh_signer() -> TestQuoteSigner {
    TestQuoteSigner::new().expect("the test PKI builds")
}

/// REPORTDATA carrying `nonce` (at most 64 bytes) left-aligned, zero-padded, as configfs-tsm
/// takes a verifier nonce.
pub fn report_data(nonce: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out.get_mut(..nonce.len())
        .expect("a nonce of at most 64 bytes")
        .copy_from_slice(nonce);
    out
}

/// Measurements with `mrtd` and `rtmr`, zero MRCONFIGID / MROWNER / MROWNERCONFIG and
/// REPORTDATA [`report_data`]`(nonce)`.
pub fn measurements(mrtd: [u8; 48], rtmr: [[u8; 48]; 4], nonce: &[u8]) -> TdMeasurements {
    TdMeasurements {
        mrtd,
        mrconfigid: [0; 48],
        mrowner: [0; 48],
        mrownerconfig: [0; 48],
        rtmr,
        report_data: report_data(nonce),
    }
}

/// Measurements in which every register has its own value (MRTD 0x11…, MRCONFIGID 0x22…,
/// MROWNER 0x33…, MROWNERCONFIG 0x44…, RTMR0-3 0x55… to 0x88…), so that a register read from
/// the wrong place shows.
pub fn distinct_measurements(nonce: &[u8]) -> TdMeasurements {
    TdMeasurements {
        mrtd: [0x11; 48],
        mrconfigid: [0x22; 48],
        mrowner: [0x33; 48],
        mrownerconfig: [0x44; 48],
        rtmr: [[0x55; 48], [0x66; 48], [0x77; 48], [0x88; 48]],
        report_data: report_data(nonce),
    }
}

/// Writes `signer`'s quote of `m` in `format` to `dir/<name>.quote` and its root certificate to
/// `dir/<name>.root.der`; returns (quote, root) paths.
pub fn write_quote(
    dir: &Path,
    name: &str,
    signer: &TestQuoteSigner,
    m: &TdMeasurements,
    format: QuoteFormat,
) -> (PathBuf, PathBuf) {
    let quote = dir.join(format!("{name}.quote"));
    let bytes = signer.quote_as(m, format).expect("the test signer quotes");
    std::fs::write(&quote, bytes).expect("write the quote");
    let root = dir.join(format!("{name}.root.der"));
    std::fs::write(&root, signer.root_der()).expect("write the root");
    (quote, root)
}

/// Quotes of one TD ([`distinct_measurements`]) in every format of [`FORMATS`], signed by a
/// fresh test signer, each checked to verify with [`SignedTdQuotes::opts`].
#[derive(Clone, Debug)]
pub struct SignedTdQuotes {
    /// Verification at `at` with the signer's root and the nonce.
    pub opts: VerifyOptions,
    /// One quote per format, in the order of [`FORMATS`].
    pub quotes: Vec<Vec<u8>>,
    /// What each quote verifies to (the same for all).
    pub registers: VerifiedRegisters,
    /// The quotes' REPORTDATA.
    pub report_data: [u8; 64],
}

impl SignedTdQuotes {
    /// Fails the test unless `verified` carries exactly these quotes' registers and REPORTDATA
    /// (what any quote that verifies under [`SignedTdQuotes::opts`] must carry).
    #[track_caller]
    pub fn assert_is_this_td(&self, verified: &quote::VerifiedQuote) {
        assert_eq!(
            verified.registers().iter().collect::<Vec<_>>(),
            self.registers.iter().collect::<Vec<_>>(),
            "a TD quote with other registers verified"
        );
        assert_eq!(verified.report_data(), &self.report_data);
    }

    /// The quotes of a TD whose REPORTDATA carries `nonce`, to be verified at unix time `at`.
    pub fn new(nonce: &[u8], at: u64) -> SignedTdQuotes {
        let signer = fresh_signer();
        let m = distinct_measurements(nonce);
        let opts = VerifyOptions::at_unix(at)
            .with_root_der(signer.root_der().to_vec())
            .with_nonce(nonce.to_vec());
        let mut quotes = Vec::new();
        let mut registers = None;
        for format in FORMATS {
            let q = signer.quote_as(&m, format).expect("the test signer quotes");
            let verified = quote::verify(&q, &opts).expect("a test quote verifies");
            registers = Some(verified.into_registers());
            quotes.push(q);
        }
        SignedTdQuotes {
            opts,
            quotes,
            registers: registers.expect("FORMATS is not empty"),
            report_data: m.report_data,
        }
    }
}
