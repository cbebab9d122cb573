//! Quotes from the simulated TD's test signer go through the real verification code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::{ErrorClass, HashAlg, MrId, Provenance};
use mr_rtmr::quote::{self, QuoteError, VerifyOptions, INTEL_SGX_ROOT_CA_DER};
use mr_rtmr::sim::quote::{QuoteFormat, TestQuoteSigner};
use mr_rtmr::sim::{QuoteProvider, TdMeasurements};
use mr_testkit::td::{distinct_measurements, quote_error, signer, AT, FORMATS};

fn measurements(nonce: &[u8]) -> TdMeasurements {
    TdMeasurements {
        rtmr: [[0xa0; 48], [0xa1; 48], [0xa2; 48], [0xa3; 48]],
        ..distinct_measurements(nonce)
    }
}

#[test]
fn test_signer_quotes_verify_against_the_test_root_with_the_right_nonce() {
    let nonce = b"fresh nonce from the verifier, 32";
    let m = measurements(nonce);
    for format in FORMATS {
        let q = signer().quote_as(&m, format).unwrap();
        let opts = VerifyOptions::at_unix(AT)
            .with_root_der(signer().root_der())
            .with_nonce(nonce.to_vec());
        let v = quote::verify(&q, &opts).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        let regs = v.registers();
        assert_eq!(
            regs.get(&MrId::Mrtd, HashAlg::Sha384).unwrap().as_bytes(),
            &m.mrtd
        );
        for i in 0..4u8 {
            assert_eq!(
                regs.get(&MrId::Rtmr(i), HashAlg::Sha384)
                    .unwrap()
                    .as_bytes(),
                &m.rtmr[usize::from(i)],
                "{format:?} rtmr{i}"
            );
        }
        assert_eq!(v.report_data(), &m.report_data);
        assert!(v.tcb_status().is_none());
        assert!(
            matches!(regs.provenance(), Provenance::TdQuote { root } if root.contains("mr test SGX Root CA"))
        );
        let (version, body_type) = match format {
            QuoteFormat::V4Td10 => (4, 2),
            QuoteFormat::V5Td10 => (5, 2),
            _ => (5, 3),
        };
        assert_eq!((v.version(), v.body_type()), (version, body_type));
        assert_eq!(v.tee_tcb_svn2().is_some(), body_type == 3);
    }
}

#[test]
fn quote_provider_uses_the_configured_format() {
    let s = TestQuoteSigner::new()
        .unwrap()
        .with_format(QuoteFormat::V5Td15);
    let q = s.quote(&measurements(b"")).unwrap();
    let p = quote::parse(&q).unwrap();
    assert_eq!((p.version(), p.body_type()), (5, 3));
    quote::verify(&q, &VerifyOptions::at_unix(AT).with_root_der(s.root_der())).unwrap();
}

#[test]
fn wrong_nonce_is_rejected() {
    let m = measurements(b"the nonce in the quote");
    for format in FORMATS {
        let q = signer().quote_as(&m, format).unwrap();
        let base = VerifyOptions::at_unix(AT).with_root_der(signer().root_der());
        for wrong in [
            &b"another nonce"[..],
            b"the nonce in the quot",
            b"the nonce in the quote\x01",
        ] {
            let e = quote_error(
                quote::verify(&q, &base.clone().with_nonce(wrong.to_vec())).unwrap_err(),
            );
            assert!(
                matches!(e, QuoteError::NonceMismatch { .. }),
                "{format:?}: {e}"
            );
            assert_eq!(e.class(), ErrorClass::Rejected);
        }
        // The exact nonce, and the same nonce with its zero padding spelled out, verify.
        quote::verify(
            &q,
            &base.clone().with_nonce(b"the nonce in the quote".to_vec()),
        )
        .unwrap();
        quote::verify(&q, &base.clone().with_nonce(m.report_data.to_vec())).unwrap();
        // More than 64 bytes cannot be a nonce.
        let e =
            quote_error(quote::verify(&q, &base.clone().with_nonce(vec![0u8; 65])).unwrap_err());
        assert!(matches!(e, QuoteError::NonceTooLong(65)), "{e}");
        assert_eq!(e.class(), ErrorClass::Malformed);
    }
}

#[test]
fn intel_root_or_a_second_test_root_rejects_test_quotes() {
    let other = TestQuoteSigner::new().unwrap();
    let q = signer()
        .quote_as(&measurements(b""), QuoteFormat::V4Td10)
        .unwrap();
    for root in [INTEL_SGX_ROOT_CA_DER, other.root_der()] {
        let e = quote_error(
            quote::verify(&q, &VerifyOptions::at_unix(AT).with_root_der(root)).unwrap_err(),
        );
        assert!(matches!(e, QuoteError::ChainUntrusted(_)), "{e}");
        assert_eq!(e.class(), ErrorClass::Rejected);
    }
    // The default root is Intel's.
    let e = quote_error(quote::verify(&q, &VerifyOptions::at_unix(AT)).unwrap_err());
    assert!(matches!(e, QuoteError::ChainUntrusted(_)), "{e}");
}

#[test]
fn test_quotes_are_rejected_outside_the_test_pki_validity() {
    let q = signer()
        .quote_as(&measurements(b""), QuoteFormat::V4Td10)
        .unwrap();
    let e = quote_error(
        quote::verify(
            &q,
            &VerifyOptions::at_unix(1_000_000_000).with_root_der(signer().root_der()),
        )
        .unwrap_err(),
    );
    assert!(matches!(e, QuoteError::CertificateNotValidAt { .. }), "{e}");
}

#[test]
fn every_flipped_signed_byte_is_rejected() {
    let m = measurements(b"n");
    for format in [QuoteFormat::V4Td10, QuoteFormat::V5Td15] {
        let q = signer().quote_as(&m, format).unwrap();
        let signed = quote::parse(&q).unwrap().signed_bytes().len();
        let opts = VerifyOptions::at_unix(AT).with_root_der(signer().root_der());
        // Every byte of the signed range (header, v5 descriptor, body) and the signature data
        // up to the PCK chain: each flip must fail, by parse or by verification.
        let end_of_qe_part = signed + 4 + 64 + 64 + 6 + 384 + 64 + 2 + 32;
        for i in (0..end_of_qe_part).step_by(7) {
            let mut bad = q.clone();
            bad[i] ^= 0x04;
            assert!(
                quote::verify(&bad, &opts).is_err(),
                "{format:?} byte {i} flipped still verifies"
            );
        }
    }
}

#[test]
fn a_wrong_qe_report_data_binding_is_rejected() {
    // Flip one byte of the QE auth data: the QE report no longer binds key || auth data.
    let q = signer()
        .quote_as(&measurements(b""), QuoteFormat::V4Td10)
        .unwrap();
    let p = quote::parse(&q).unwrap();
    let auth_at = p.signed_bytes().len() + 4 + 64 + 64 + 6 + 384 + 64 + 2;
    let mut bad = q.clone();
    bad[auth_at] ^= 1;
    let e = quote_error(
        quote::verify(
            &bad,
            &VerifyOptions::at_unix(AT).with_root_der(signer().root_der()),
        )
        .unwrap_err(),
    );
    assert_eq!(e, QuoteError::QeReportData);
}

#[test]
fn pck_chain_order_does_not_matter() {
    // Rebuild a quote whose PEM chain lists root, intermediate, leaf: same length, same verdict.
    let q = signer()
        .quote_as(&measurements(b""), QuoteFormat::V4Td10)
        .unwrap();
    let pem = signer().pck_chain_pem();
    let text = std::str::from_utf8(&pem[..pem.len() - 1]).unwrap();
    let mut certs: Vec<&str> = text
        .split_inclusive("-----END CERTIFICATE-----\n")
        .collect();
    assert_eq!(certs.len(), 3);
    certs.reverse();
    let reversed = certs.concat();
    assert_eq!(reversed.len(), text.len());
    let at = q.windows(pem.len()).position(|w| w == pem).unwrap();
    let mut q2 = q.clone();
    q2[at..at + reversed.len()].copy_from_slice(reversed.as_bytes());
    quote::verify(
        &q2,
        &VerifyOptions::at_unix(AT).with_root_der(signer().root_der()),
    )
    .unwrap();
}
