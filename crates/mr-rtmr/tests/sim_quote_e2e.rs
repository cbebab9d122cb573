//! End to end on the simulated TD: extend RTMR2 and RTMR3 through `TdxRtmr`, get a quote for a
//! nonce through the configfs-tsm client, verify it with `quote::verify` against the test root.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::{HashAlg, MeasurementRegister, MrId};
use mr_rtmr::quote::{self, QuoteError, VerifyOptions};
use mr_rtmr::rtmr::TdxRtmr;
use mr_rtmr::sim::quote::TestQuoteSigner;
use mr_rtmr::sim::SimTd;
use mr_rtmr::Error;
use mr_testkit::td::{quote_error, signer, AT};

fn sim() -> SimTd {
    SimTd::builder()
        .mrtd([0x3d; 48])
        .rtmrs([[0x10; 48], [0x11; 48], [0; 48], [0; 48]])
        .quote_provider(signer().clone())
        .build()
}

fn measure(td: &SimTd) {
    let rtmr2 = TdxRtmr::new(td.fs(), 2).unwrap();
    let rtmr3 = TdxRtmr::new(td.fs(), 3).unwrap();
    for event in ["vmlinuz", "initrd", "cmdline"] {
        rtmr2
            .extend(&HashAlg::Sha384.hash(event.as_bytes()))
            .unwrap();
    }
    rtmr3
        .extend(&HashAlg::Sha384.hash(b"mr_ima extend sha384/00"))
        .unwrap();
}

#[test]
fn quote_from_the_sim_verifies_and_carries_the_extended_rtmrs() {
    let td = sim();
    measure(&td);
    let nonce = *b"verifier nonce, 64 bytes .....................................!!";
    let report = td.report_client().get_report(&nonce).unwrap();
    assert!(td.report_instances().is_empty());

    let opts = VerifyOptions::at_unix(AT)
        .with_root_der(signer().root_der())
        .with_nonce(nonce.to_vec());
    let verified = quote::verify(&report.outblob, &opts).unwrap();
    assert_eq!(verified.report_data(), &nonce);
    let regs = verified.registers();
    for i in 0..4u8 {
        let quoted = regs.get(&MrId::Rtmr(i), HashAlg::Sha384).unwrap();
        assert_eq!(quoted.as_bytes(), &td.rtmr(i).unwrap(), "rtmr{i}");
    }
    assert_eq!(
        regs.get(&MrId::Mrtd, HashAlg::Sha384).unwrap().as_bytes(),
        &[0x3d; 48]
    );
    // RTMR2 is what an independent fold of the three events gives.
    let mut expect = mr_core::Digest::zero(HashAlg::Sha384);
    for event in ["vmlinuz", "initrd", "cmdline"] {
        expect = expect.extended(HashAlg::Sha384.hash(event.as_bytes()).as_bytes());
    }
    assert_eq!(regs.get(&MrId::Rtmr(2), HashAlg::Sha384).unwrap(), &expect);
}

#[test]
fn quote_from_the_sim_with_a_short_nonce_verifies_against_the_zero_padded_report_data() {
    let td = sim();
    measure(&td);
    let nonce = b"32-byte-nonce-from-the-verifier!";
    let report = td.report_client().get_report_for_nonce(nonce).unwrap();
    let opts = VerifyOptions::at_unix(AT)
        .with_root_der(signer().root_der())
        .with_nonce(nonce.to_vec());
    let verified = quote::verify(&report.outblob, &opts).unwrap();
    assert_eq!(&verified.report_data()[..32], nonce);
    assert_eq!(&verified.report_data()[32..], &[0; 32]);
    // A nonce that does not fit REPORTDATA is refused before any instance is created.
    let err = td
        .report_client()
        .get_report_for_nonce(&[0; 65])
        .unwrap_err();
    assert!(matches!(quote_error(err), QuoteError::NonceTooLong(65)));
    assert!(td.report_instances().is_empty());
}

#[test]
fn quote_from_the_sim_is_rejected_for_a_wrong_nonce() {
    let td = sim();
    measure(&td);
    let report = td.report_client().get_report(&[1; 64]).unwrap();
    let opts = VerifyOptions::at_unix(AT)
        .with_root_der(signer().root_der())
        .with_nonce(vec![2; 64]);
    let err = quote_error(quote::verify(&report.outblob, &opts).unwrap_err());
    assert!(matches!(err, QuoteError::NonceMismatch { .. }), "{err:?}");
}

#[test]
fn quote_from_the_sim_is_rejected_under_another_root() {
    let td = sim();
    measure(&td);
    let report = td.report_client().get_report(&[1; 64]).unwrap();
    let other = TestQuoteSigner::new().unwrap();
    for opts in [
        VerifyOptions::at_unix(AT).with_root_der(other.root_der()),
        // The default root is Intel's: a test quote must never verify under it.
        VerifyOptions::at_unix(AT),
    ] {
        let err = quote_error(quote::verify(&report.outblob, &opts).unwrap_err());
        assert!(matches!(err, QuoteError::ChainUntrusted { .. }), "{err:?}");
    }
}

#[test]
fn a_raced_quote_request_is_refused_before_verification() {
    let td = sim();
    td.inject_concurrent_write();
    let err = td.report_client().get_report(&[1; 64]).unwrap_err();
    assert!(matches!(err, Error::TsmGenerationRace { .. }), "{err:?}");
    assert!(td.report_instances().is_empty());
}
