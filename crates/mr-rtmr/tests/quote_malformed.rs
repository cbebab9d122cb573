//! Malformed TD quotes: typed errors, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::error::ParseErrorKind;
use mr_core::ErrorClass;
use mr_rtmr::quote::{self, QuoteError, VerifyOptions};
use mr_rtmr::sim::quote::{QuoteFormat, TestQuoteSigner};
use mr_rtmr::sim::TdMeasurements;
use mr_testkit::td::{measurements, quote_error, signer, AT};

fn m() -> TdMeasurements {
    measurements([1; 48], [[2; 48], [3; 48], [4; 48], [5; 48]], &[6; 64])
}

fn opts() -> VerifyOptions {
    VerifyOptions::at_unix(AT).with_root_der(signer().root_der())
}

/// The parts of a quote, to re-assemble with one part changed.
struct Parts {
    signed: Vec<u8>,
    quote_sig: Vec<u8>,
    key: Vec<u8>,
    outer_type: u16,
    qe_report: Vec<u8>,
    qe_sig: Vec<u8>,
    auth: Vec<u8>,
    inner_type: u16,
    chain: Vec<u8>,
}

impl Parts {
    fn of(q: &[u8]) -> Parts {
        let p = quote::parse(q).unwrap();
        let s = p.signature_data();
        Parts {
            signed: p.signed_bytes().to_vec(),
            quote_sig: s.quote_signature.to_vec(),
            key: s.attestation_key.to_vec(),
            outer_type: 6,
            qe_report: s.qe_report_bytes.to_vec(),
            qe_sig: s.qe_report_signature.to_vec(),
            auth: s.qe_auth_data.to_vec(),
            inner_type: 5,
            chain: s.pck_cert_chain.to_vec(),
        }
    }

    fn assemble(&self) -> Vec<u8> {
        let mut cert = self.qe_report.clone();
        cert.extend_from_slice(&self.qe_sig);
        cert.extend_from_slice(&(self.auth.len() as u16).to_le_bytes());
        cert.extend_from_slice(&self.auth);
        cert.extend_from_slice(&self.inner_type.to_le_bytes());
        cert.extend_from_slice(&(self.chain.len() as u32).to_le_bytes());
        cert.extend_from_slice(&self.chain);
        let mut sig = self.quote_sig.clone();
        sig.extend_from_slice(&self.key);
        sig.extend_from_slice(&self.outer_type.to_le_bytes());
        sig.extend_from_slice(&(cert.len() as u32).to_le_bytes());
        sig.extend_from_slice(&cert);
        let mut q = self.signed.clone();
        q.extend_from_slice(&(sig.len() as u32).to_le_bytes());
        q.extend_from_slice(&sig);
        q
    }
}

#[test]
fn reassembled_parts_are_the_original_quote() {
    let q = signer().quote_as(&m(), QuoteFormat::V5Td15).unwrap();
    assert_eq!(Parts::of(&q).assemble(), q);
}

#[test]
fn every_truncation_is_a_typed_malformed_error() {
    for format in [
        QuoteFormat::V4Td10,
        QuoteFormat::V5Td10,
        QuoteFormat::V5Td15,
    ] {
        let q = signer().quote_as(&m(), format).unwrap();
        for len in 0..q.len() {
            let e = quote_error(quote::parse(&q[..len]).unwrap_err());
            assert_eq!(
                e.class(),
                ErrorClass::Malformed,
                "{format:?} len {len}: {e}"
            );
            assert!(
                matches!(e, QuoteError::Parse(_)),
                "{format:?} len {len}: {e}"
            );
            // verify fails the same way.
            assert!(quote::verify(&q[..len], &opts()).is_err());
        }
        assert!(quote::parse(&q).is_ok());
    }
}

#[test]
fn empty_input_is_reported_as_empty() {
    match quote_error(quote::parse(&[]).unwrap_err()) {
        QuoteError::Parse(p) => assert_eq!(p.kind, ParseErrorKind::Empty),
        e => panic!("{e}"),
    }
}

#[test]
fn lying_sig_data_len_is_refused() {
    let q = signer().quote_as(&m(), QuoteFormat::V4Td10).unwrap();
    let at = quote::parse(&q).unwrap().signed_bytes().len();
    let real = u32::from_le_bytes(q[at..at + 4].try_into().unwrap());
    for lie in [real + 1, real + 1000, u32::MAX, real - 1, real / 2, 0] {
        let mut bad = q.clone();
        bad[at..at + 4].copy_from_slice(&lie.to_le_bytes());
        let e = quote_error(quote::parse(&bad).unwrap_err());
        assert!(matches!(e, QuoteError::Parse(_)), "len {lie}: {e}");
        assert_eq!(e.class(), ErrorClass::Malformed);
    }
    // Too long a length that still fits (because of trailing bytes) leaves unused bytes inside
    // the signature data: refused, not silently accepted.
    let mut bad = q.clone();
    bad[at..at + 4].copy_from_slice(&(real + 3).to_le_bytes());
    bad.extend_from_slice(&[0, 0, 0]);
    let e = quote_error(quote::parse(&bad).unwrap_err());
    match e {
        QuoteError::Parse(p) => assert_eq!(
            (p.structure, p.kind),
            ("signature data", ParseErrorKind::TrailingBytes(3))
        ),
        e => panic!("{e}"),
    }
}

#[test]
fn lying_inner_lengths_are_refused() {
    let q = signer().quote_as(&m(), QuoteFormat::V4Td10).unwrap();
    let base = quote::parse(&q).unwrap().signed_bytes().len() + 4;
    // outer certification data size @ +130, QE auth size @ +134+384+64, inner size after that.
    let outer_size_at = base + 130;
    let auth_size_at = base + 134 + 384 + 64;
    let inner_size_at = auth_size_at + 2 + 32 + 2;
    for (at, width) in [(outer_size_at, 4), (auth_size_at, 2), (inner_size_at, 4)] {
        for lie in [0u32, 1, 0xffff, u32::MAX] {
            let mut bad = q.clone();
            let bytes = lie.to_le_bytes();
            bad[at..at + width].copy_from_slice(&bytes[..width]);
            let r = quote::parse(&bad);
            let e = quote_error(r.unwrap_err());
            assert_eq!(e.class(), ErrorClass::Malformed, "field @{at} = {lie}: {e}");
        }
    }
}

#[test]
fn unsupported_versions_key_types_and_tee_types_are_refused() {
    let q = signer().quote_as(&m(), QuoteFormat::V4Td10).unwrap();
    for version in [0u16, 1, 3, 6, 0xffff] {
        let mut bad = q.clone();
        bad[0..2].copy_from_slice(&version.to_le_bytes());
        assert_eq!(
            quote_error(quote::parse(&bad).unwrap_err()),
            QuoteError::UnsupportedVersion(version)
        );
    }
    let mut bad = q.clone();
    bad[2] = 3;
    assert_eq!(
        quote_error(quote::parse(&bad).unwrap_err()),
        QuoteError::UnsupportedKeyType(3)
    );
    let mut bad = q.clone();
    bad[4] = 0;
    assert_eq!(
        quote_error(quote::parse(&bad).unwrap_err()),
        QuoteError::NotTdx(0)
    );
}

#[test]
fn unknown_body_types_and_sizes_are_refused() {
    let q = signer().quote_as(&m(), QuoteFormat::V5Td10).unwrap();
    for body_type in [0u16, 1, 4, 99, 0xffff] {
        let mut bad = q.clone();
        bad[48..50].copy_from_slice(&body_type.to_le_bytes());
        let e = quote_error(quote::parse(&bad).unwrap_err());
        assert_eq!(e, QuoteError::UnsupportedBodyType(body_type));
        assert_eq!(e.class(), ErrorClass::Malformed);
    }
    // TD 1.0 body declared as TD 1.5 (size 584 for type 3), and odd sizes.
    let mut bad = q.clone();
    bad[48..50].copy_from_slice(&3u16.to_le_bytes());
    assert!(matches!(
        quote_error(quote::parse(&bad).unwrap_err()),
        QuoteError::BodySize {
            body_type: 3,
            expected: 648,
            got: 584
        }
    ));
    for size in [0u32, 583, 585, u32::MAX] {
        let mut bad = q.clone();
        bad[50..54].copy_from_slice(&size.to_le_bytes());
        assert!(matches!(
            quote_error(quote::parse(&bad).unwrap_err()),
            QuoteError::BodySize { .. }
        ));
    }
}

#[test]
fn certification_data_of_the_wrong_type_is_refused() {
    let q = signer().quote_as(&m(), QuoteFormat::V4Td10).unwrap();
    for outer in [1u16, 4, 5, 7] {
        let mut p = Parts::of(&q);
        p.outer_type = outer;
        let e = quote_error(quote::parse(&p.assemble()).unwrap_err());
        assert!(
            matches!(e, QuoteError::CertificationDataType { expected: 6, got, .. } if got == outer),
            "{e}"
        );
    }
    for inner in [1u16, 2, 3, 4, 6] {
        let mut p = Parts::of(&q);
        p.inner_type = inner;
        let e = quote_error(quote::parse(&p.assemble()).unwrap_err());
        assert!(
            matches!(e, QuoteError::CertificationDataType { expected: 5, got, .. } if got == inner),
            "{e}"
        );
        assert_eq!(e.class(), ErrorClass::Malformed);
    }
}

#[test]
fn garbage_pem_in_the_cert_chain_is_a_typed_error() {
    let q = signer().quote_as(&m(), QuoteFormat::V4Td10).unwrap();
    let good = Parts::of(&q).chain;
    let text = String::from_utf8(good[..good.len() - 1].to_vec()).unwrap();
    let garbage: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\0\0\0".to_vec(),
        b"not a pem chain at all".to_vec(),
        b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".to_vec(),
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
        // Truncated base64 inside the first certificate.
        text.replacen("MII", "MI", 1).into_bytes(),
        // A missing END line.
        text.replacen("-----END CERTIFICATE-----", "", 1)
            .into_bytes(),
        // Nine certificates.
        text.repeat(3).into_bytes(),
        vec![0xff; 300],
    ];
    for g in garbage {
        let mut p = Parts::of(&q);
        p.chain = g.clone();
        let e = quote_error(quote::verify(&p.assemble(), &opts()).unwrap_err());
        assert!(
            matches!(e, QuoteError::CertChainEncoding(_)),
            "{:?}: {e}",
            String::from_utf8_lossy(&g)
        );
        assert_eq!(e.class(), ErrorClass::Malformed);
    }
}

#[test]
fn a_chain_without_the_pck_leaf_or_with_a_foreign_leaf_is_untrusted() {
    let q = signer().quote_as(&m(), QuoteFormat::V4Td10).unwrap();
    let other = TestQuoteSigner::new().unwrap();
    let text = String::from_utf8(Parts::of(&q).chain).unwrap();
    let certs: Vec<&str> = text
        .split_inclusive("-----END CERTIFICATE-----\n")
        .collect();
    // Only intermediate + root: the "leaf" is then the platform CA, not a PCK certificate.
    let mut p = Parts::of(&q);
    p.chain = format!("{}{}", certs[1], certs[2]).into_bytes();
    let e = quote_error(quote::verify(&p.assemble(), &opts()).unwrap_err());
    assert!(matches!(e, QuoteError::ChainUntrusted(_)), "{e}");
    // Another PKI's chain with our root: the walk finds no path.
    let mut p = Parts::of(&q);
    p.chain = other.pck_chain_pem().to_vec();
    let e = quote_error(quote::verify(&p.assemble(), &opts()).unwrap_err());
    assert!(matches!(e, QuoteError::ChainUntrusted(_)), "{e}");
    // Another PKI's chain with its own root: the chain is fine, the QE report signature is not.
    let e = quote_error(
        quote::verify(
            &p.assemble(),
            &VerifyOptions::at_unix(AT).with_root_der(other.root_der()),
        )
        .unwrap_err(),
    );
    assert_eq!(e, QuoteError::QeReportSignature);
}

#[test]
fn bad_root_der_and_bad_collateral_are_malformed() {
    let q = signer().quote_as(&m(), QuoteFormat::V4Td10).unwrap();
    let e = quote_error(
        quote::verify(
            &q,
            &VerifyOptions::at_unix(AT).with_root_der(b"not der".to_vec()),
        )
        .unwrap_err(),
    );
    assert!(matches!(e, QuoteError::RootCertificate(_)), "{e}");
    let e = quote_error(quote::Collateral::from_json(b"{\"tcb_info\": 1}").unwrap_err());
    assert!(matches!(e, QuoteError::CollateralEncoding(_)), "{e}");
    assert_eq!(e.class(), ErrorClass::Malformed);
}

#[test]
fn a_replaced_attestation_key_is_not_bound_by_the_qe_report() {
    let q = signer().quote_as(&m(), QuoteFormat::V4Td10).unwrap();
    let mut p = Parts::of(&q);
    p.key = vec![0x42; 64];
    let e = quote_error(quote::verify(&p.assemble(), &opts()).unwrap_err());
    // The QE report no longer binds this key, which is checked first.
    assert_eq!(e, QuoteError::QeReportData);
}

#[test]
fn pseudo_random_corruption_never_panics() {
    let q = signer().quote_as(&m(), QuoteFormat::V5Td15).unwrap();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..300 {
        let mut bad = q.clone();
        for _ in 0..(next() % 4 + 1) {
            let i = (next() % bad.len() as u64) as usize;
            bad[i] = next() as u8;
        }
        let cut = (next() % (bad.len() as u64 + 1)) as usize;
        let _ = quote::verify(&bad[..cut], &opts());
    }
}
