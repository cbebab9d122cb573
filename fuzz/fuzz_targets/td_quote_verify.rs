#![no_main]
//! TD quote verification (`mr_rtmr::quote::verify`) at a fixed time against quotes made by the
//! simulated TD's `TestQuoteSigner` (a test PKI: root, platform CA, PCK, QE report, attestation
//! key), in the three formats (v4 TD 1.0, v5 TD 1.0, v5 TD 1.5). The first input byte picks the
//! format and whether the rest edits the valid quote (see edits.rs) or replaces it.
//!
//! Properties: no panic; every rejection is Malformed or Rejected, and never an internal error;
//! whatever verifies carries exactly the base quote's registers and REPORTDATA.

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mr_core::{ErrorClass, VerifiedRegisters};
use mr_rtmr::quote::{self, QuoteError, VerifyOptions};
use mr_rtmr::sim::quote::{QuoteFormat, TestQuoteSigner};
use mr_rtmr::sim::TdMeasurements;

#[path = "edits.rs"]
mod edits;

/// 2025-06-01T00:00:00Z, inside the test PKI's validity.
const AT: u64 = 1_748_736_000;
const NONCE: &[u8] = b"td quote fuzz nonce";

struct Base {
    opts: VerifyOptions,
    quotes: Vec<Vec<u8>>,
    registers: VerifiedRegisters,
    report_data: [u8; 64],
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let signer = TestQuoteSigner::new().expect("test signer");
        let mut report_data = [0u8; 64];
        report_data[..NONCE.len()].copy_from_slice(NONCE);
        let m = TdMeasurements {
            mrtd: [0x11; 48],
            mrconfigid: [0x22; 48],
            mrowner: [0x33; 48],
            mrownerconfig: [0x44; 48],
            rtmr: [[0x55; 48], [0x66; 48], [0x77; 48], [0x88; 48]],
            report_data,
        };
        let opts = VerifyOptions::at_unix(AT)
            .with_root_der(signer.root_der().to_vec())
            .with_nonce(NONCE.to_vec());
        let mut quotes = Vec::new();
        let mut registers = None;
        for f in [
            QuoteFormat::V4Td10,
            QuoteFormat::V5Td10,
            QuoteFormat::V5Td15,
        ] {
            let q = signer.quote_as(&m, f).expect("quote");
            let v = quote::verify(&q, &opts).expect("the base quote verifies");
            registers = Some(v.into_registers());
            quotes.push(q);
        }
        Base {
            opts,
            quotes,
            registers: registers.expect("three formats"),
            report_data,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let b = base();
    let (mode, rest) = data.split_first().map_or((0, &[][..]), |(m, r)| (*m, r));
    let q = &b.quotes[usize::from(mode % 3)];
    let input = if mode / 3 % 4 == 3 {
        rest.to_vec()
    } else {
        edits::apply(q, rest)
    };
    match quote::verify(&input, &b.opts) {
        Ok(v) => {
            assert_eq!(
                v.registers().iter().collect::<Vec<_>>(),
                b.registers.iter().collect::<Vec<_>>(),
                "a TD quote with other registers verified"
            );
            assert_eq!(v.report_data(), &b.report_data);
        }
        Err(mr_rtmr::Error::Quote(QuoteError::Internal(m))) => panic!("internal error: {m}"),
        Err(mr_rtmr::Error::Quote(e)) => assert!(
            matches!(e.class(), ErrorClass::Malformed | ErrorClass::Rejected),
            "rejection of class {:?}: {e}",
            e.class()
        ),
        Err(mr_rtmr::Error::Core(e)) => assert!(
            matches!(e.class(), ErrorClass::Malformed | ErrorClass::Rejected),
            "rejection of class {:?}: {e}",
            e.class()
        ),
        Err(e) => panic!("quote verification failed with a non-quote error: {e}"),
    }
});
