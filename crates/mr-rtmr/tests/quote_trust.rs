//! What a TD quote must prove beyond its signatures (issue 14 items 2 and 7), and the edges of
//! every check in `quote/mod.rs` and `quote/chain.rs` (each test here kills mutants that the
//! other tests let live: see the names).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::{ErrorClass, Provenance};
use mr_rtmr::quote::{
    self, QuoteError, TcbStatus, TdAttributes, VerifyOptions, INTEL_SGX_ROOT_CA_DER,
    INTEL_TD_QE_ISVPRODID, INTEL_TD_QE_MRSIGNER,
};
use mr_rtmr::sim::quote::{
    pem_chain, test_certificate, QuoteFormat, TestQuoteSigner, TEST_NOT_AFTER_SECS,
    TEST_NOT_BEFORE_SECS,
};
use mr_rtmr::sim::TdMeasurements;
use mr_testkit::td::{measurements, quote_error, signer, AT};
use p256::ecdsa::SigningKey;
use rand_core::OsRng;
use sha2::{Digest as _, Sha256};
use x509_cert::builder::Profile;
use x509_cert::der::{DecodePem, Encode};
use x509_cert::Certificate;

const DEBUG_TD: [u8; 8] = [1, 0, 0, 0x10, 0, 0, 0, 0];

fn m() -> TdMeasurements {
    measurements(
        [0x11; 48],
        [[0xa0; 48], [0xa1; 48], [0xa2; 48], [0xa3; 48]],
        b"",
    )
}

fn opts(s: &TestQuoteSigner) -> VerifyOptions {
    VerifyOptions::at_unix(AT).with_root_der(s.root_der())
}

fn refused(q: &[u8], o: &VerifyOptions) -> QuoteError {
    let e = quote_error(quote::verify(q, o).unwrap_err());
    assert_eq!(e.class(), ErrorClass::Rejected, "{e}");
    e
}

/// A signer like `s` (same QE report and attestation key) embedding `pem` as its chain.
trait WithChain {
    fn with_chain(&self, pem: Vec<u8>) -> TestQuoteSigner;
}

impl WithChain for TestQuoteSigner {
    fn with_chain(&self, pem: Vec<u8>) -> TestQuoteSigner {
        self.clone().with_pck_chain_pem(pem)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// --- Item 2: QE identity and debug TD, without collateral ---

#[test]
fn the_sim_qe_report_carries_intel_s_td_qe_identity_and_passes_by_default() {
    let q = signer().quote_as(&m(), QuoteFormat::V4Td10).unwrap();
    let p = quote::parse(&q).unwrap();
    let r = p.signature_data().qe_report;
    assert_eq!(r.mr_signer, INTEL_TD_QE_MRSIGNER);
    assert_eq!(r.isv_prod_id.get(), INTEL_TD_QE_ISVPRODID);
    assert_eq!(
        hex(&INTEL_TD_QE_MRSIGNER),
        "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5"
    );
    let v = quote::verify(&q, &opts(signer())).unwrap();
    assert_eq!(v.td_attributes(), TdAttributes::from_bytes([0; 8]));
    assert!(!v.td_attributes().is_debug());
}

#[test]
fn a_debug_td_is_refused_by_default_and_accepted_only_when_allowed() {
    let s = TestQuoteSigner::new().unwrap().with_td_attributes(DEBUG_TD);
    for format in [QuoteFormat::V4Td10, QuoteFormat::V5Td15] {
        let q = s.quote_as(&m(), format).unwrap();
        let e = refused(&q, &opts(&s));
        assert_eq!(
            e,
            QuoteError::DebugTd("0100001000000000 (DEBUG, SEPT_VE_DISABLE)".into())
        );
        // The library's neutral words: no CLI flag (mr maps them back to --allow-debug).
        assert!(
            e.to_string()
                .ends_with("refused unless debug TDs are allowed"),
            "{e}"
        );
        let e = refused(&q, &opts(&s).allow_debug_td(false));
        assert!(matches!(e, QuoteError::DebugTd(_)), "{e}");
        let v = quote::verify(&q, &opts(&s).allow_debug_td(true)).unwrap();
        assert!(v.td_attributes().is_debug());
        assert_eq!(v.td_attributes().bytes(), &DEBUG_TD);
    }
    // Allowing debug TDs does not refuse the others.
    let q = signer().quote_as(&m(), QuoteFormat::V4Td10).unwrap();
    let v = quote::verify(&q, &opts(signer()).allow_debug_td(true)).unwrap();
    assert!(!v.td_attributes().is_debug());
}

#[test]
fn a_td_with_other_attributes_than_debug_is_not_a_debug_td() {
    // Every TD attribute bit but DEBUG set: verified, and shown.
    let s = TestQuoteSigner::new()
        .unwrap()
        .with_td_attributes((u64::MAX - 1).to_le_bytes());
    let q = s.quote_as(&m(), QuoteFormat::V4Td10).unwrap();
    let v = quote::verify(&q, &opts(&s)).unwrap();
    assert!(!v.td_attributes().is_debug());
    assert_eq!(v.td_attributes().names().len(), 63);
}

#[test]
fn a_qe_report_of_another_enclave_is_refused_even_when_debug_tds_are_allowed() {
    // The PCK key signs the report of any enclave allowed the provisioning key.
    let other_signer = TestQuoteSigner::new()
        .unwrap()
        .with_qe_report(|r| r.mr_signer[31] ^= 1);
    let other_product = TestQuoteSigner::new()
        .unwrap()
        .with_qe_report(|r| r.isv_prod_id = 1.into());
    for (s, mr_signer, isv_prod_id) in [
        (
            &other_signer,
            {
                let mut x = INTEL_TD_QE_MRSIGNER;
                x[31] ^= 1;
                x
            },
            2,
        ),
        (&other_product, INTEL_TD_QE_MRSIGNER, 1),
    ] {
        let q = s.quote_as(&m(), QuoteFormat::V4Td10).unwrap();
        let e = refused(&q, &opts(s).allow_debug_td(true));
        assert_eq!(
            e,
            QuoteError::QeNotIntelTdQe {
                mr_signer: hex(&mr_signer),
                isv_prod_id
            }
        );
        assert!(e.to_string().contains(&hex(&INTEL_TD_QE_MRSIGNER)), "{e}");
    }
}

#[test]
fn a_quoting_enclave_in_debug_mode_is_refused() {
    let s = TestQuoteSigner::new()
        .unwrap()
        .with_qe_report(|r| r.attributes[0] |= quote::SGX_ATTRIBUTES_DEBUG);
    let q = s.quote_as(&m(), QuoteFormat::V5Td10).unwrap();
    assert_eq!(
        refused(&q, &opts(&s).allow_debug_td(true)),
        QuoteError::QeDebug
    );
    // Other attribute bits (here: all of the second byte) are not the debug bit.
    let s = TestQuoteSigner::new()
        .unwrap()
        .with_qe_report(|r| r.attributes[1] = 0xff);
    let q = s.quote_as(&m(), QuoteFormat::V5Td10).unwrap();
    quote::verify(&q, &opts(&s)).unwrap();
}

#[test]
fn the_qe_identity_is_checked_only_on_an_authenticated_report() {
    // A QE report edited after the PCK key signed it fails on the signature, not the identity.
    let q = signer().quote_as(&m(), QuoteFormat::V4Td10).unwrap();
    let p = quote::parse(&q).unwrap();
    let at = p.signed_bytes().len() + 4 + 64 + 64 + 6 + 256; // ISVPRODID
    let mut bad = q.clone();
    bad[at] ^= 3;
    assert_eq!(
        refused(&bad, &opts(signer())),
        QuoteError::QeReportSignature
    );
}

// --- Item 7: the embedded root ---

/// A chain leaf, intermediate, root (in that order) with fresh keys.
struct Pki {
    root: Certificate,
    platform: Certificate,
    leaf: Certificate,
}

fn pki(platform_profile: impl FnOnce(&str) -> Profile, root_validity: (u64, u64)) -> Pki {
    let root_key = SigningKey::random(&mut OsRng);
    let platform_key = SigningKey::random(&mut OsRng);
    let leaf_key = SigningKey::random(&mut OsRng);
    let root_subject = "CN=mr test SGX Root CA,O=mr simulated TD";
    let platform_subject = "CN=mr test SGX PCK Platform CA,O=mr simulated TD";
    let root = test_certificate(
        Profile::Root,
        1,
        root_subject,
        &root_key,
        &root_key,
        root_validity.0,
        root_validity.1,
    )
    .unwrap();
    let platform = test_certificate(
        platform_profile(root_subject),
        2,
        platform_subject,
        &platform_key,
        &root_key,
        TEST_NOT_BEFORE_SECS,
        TEST_NOT_AFTER_SECS,
    )
    .unwrap();
    let leaf = test_certificate(
        Profile::Leaf {
            issuer: platform_subject.parse().unwrap(),
            enable_key_agreement: false,
            enable_key_encipherment: false,
        },
        3,
        "CN=mr test SGX PCK Certificate,O=mr simulated TD",
        &leaf_key,
        &platform_key,
        TEST_NOT_BEFORE_SECS,
        TEST_NOT_AFTER_SECS,
    )
    .unwrap();
    Pki {
        root,
        platform,
        leaf,
    }
}

fn sub_ca(issuer: &str) -> Profile {
    Profile::SubCA {
        issuer: issuer.parse().unwrap(),
        path_len_constraint: Some(0),
    }
}

fn full_validity() -> (u64, u64) {
    (TEST_NOT_BEFORE_SECS, TEST_NOT_AFTER_SECS)
}

/// The signer's chain, split into its three DER certificates (leaf, intermediate, root).
fn signer_chain(s: &TestQuoteSigner) -> Vec<Certificate> {
    let pem = s.pck_chain_pem();
    let text = std::str::from_utf8(&pem[..pem.len() - 1]).unwrap();
    text.split_inclusive("-----END CERTIFICATE-----\n")
        .map(|c| Certificate::from_pem(c).unwrap())
        .collect()
}

#[test]
fn a_substituted_embedded_root_with_the_anchor_s_subject_is_refused() {
    // Issue 14 item 7: the walk stops at the intermediate (signed by the anchor) and never
    // looked at the root the chain carries.
    let s = TestQuoteSigner::new().unwrap();
    let certs = signer_chain(&s);
    let impostor = pki(sub_ca, full_validity()).root; // same subject, another key
    let chain = pem_chain(&[&certs[0], &certs[1], &impostor]).unwrap();
    let bad = s.with_chain(chain);
    let q = bad.quote_as(&m(), QuoteFormat::V4Td10).unwrap();
    let e = refused(&q, &opts(&s));
    let impostor_der = impostor.to_der().unwrap();
    assert_eq!(
        e,
        QuoteError::EmbeddedRootMismatch {
            subject: "CN=mr test SGX Root CA,O=mr simulated TD".into(),
            embedded: hex(&Sha256::digest(&impostor_der)),
            anchor: hex(&Sha256::digest(s.root_der())),
        }
    );
}

#[test]
fn an_altered_embedded_root_is_refused() {
    // One byte of the root's validity changed: its self-signature no longer verifies, but no
    // signature was ever checked on it. Byte equality catches it.
    let s = TestQuoteSigner::new().unwrap();
    let mut certs = signer_chain(&s);
    let mut der = certs[2].to_der().unwrap();
    let validity = der.windows(13).position(|w| w == b"491231235959Z").unwrap();
    der[validity + 1] = b'8'; // 2049 -> 2048
    certs[2] = x509_cert::der::Decode::from_der(&der).unwrap();
    let chain = pem_chain(&[&certs[0], &certs[1], &certs[2]]).unwrap();
    let q = s
        .with_chain(chain)
        .quote_as(&m(), QuoteFormat::V4Td10)
        .unwrap();
    let e = refused(&q, &opts(&s));
    assert!(matches!(e, QuoteError::EmbeddedRootMismatch { .. }), "{e}");
    assert!(e.to_string().contains("is not the trust anchor"), "{e}");
}

#[test]
fn a_second_copy_of_the_root_that_differs_is_refused() {
    // The genuine root and an impostor under the same name: every copy must be the anchor.
    let s = TestQuoteSigner::new().unwrap();
    let certs = signer_chain(&s);
    let impostor = pki(sub_ca, full_validity()).root;
    for order in [[2usize, 3], [3, 2]] {
        let all = [&certs[0], &certs[1], &certs[2], &impostor];
        let chain = pem_chain(&[all[0], all[1], all[order[0]], all[order[1]]]).unwrap();
        let q = s
            .with_chain(chain)
            .quote_as(&m(), QuoteFormat::V4Td10)
            .unwrap();
        let e = refused(&q, &opts(&s));
        assert!(matches!(e, QuoteError::EmbeddedRootMismatch { .. }), "{e}");
    }
}

#[test]
fn a_chain_without_its_root_is_refused() {
    let s = TestQuoteSigner::new().unwrap();
    let certs = signer_chain(&s);
    let chain = pem_chain(&[&certs[0], &certs[1]]).unwrap();
    let q = s
        .with_chain(chain)
        .quote_as(&m(), QuoteFormat::V4Td10)
        .unwrap();
    match refused(&q, &opts(&s)) {
        QuoteError::ChainUntrusted(m) => assert!(m.contains("does not include its root"), "{m}"),
        e => panic!("{e}"),
    }
}

// --- The chain's other rules, at their edges ---

#[test]
fn an_issuer_that_is_not_a_ca_is_refused() {
    // The intermediate is an end-entity certificate (basic constraints CA false).
    let p = pki(
        |_| Profile::Leaf {
            issuer: "CN=mr test SGX Root CA,O=mr simulated TD".parse().unwrap(),
            enable_key_agreement: false,
            enable_key_encipherment: false,
        },
        full_validity(),
    );
    let chain = pem_chain(&[&p.leaf, &p.platform, &p.root]).unwrap();
    let root = p.root.to_der().unwrap();
    let q = signer()
        .with_chain(chain)
        .quote_as(&m(), QuoteFormat::V4Td10)
        .unwrap();
    match refused(&q, &VerifyOptions::at_unix(AT).with_root_der(root)) {
        QuoteError::ChainUntrusted(m) => assert!(m.contains("is not a CA"), "{m}"),
        e => panic!("{e}"),
    }
}

#[test]
fn a_certificate_not_signed_by_its_named_issuer_is_refused() {
    // The leaf of one PKI under the intermediate and root of another, same names.
    let a = pki(sub_ca, full_validity());
    let b = pki(sub_ca, full_validity());
    let chain = pem_chain(&[&a.leaf, &b.platform, &b.root]).unwrap();
    let q = signer()
        .with_chain(chain)
        .quote_as(&m(), QuoteFormat::V4Td10)
        .unwrap();
    let root = b.root.to_der().unwrap();
    match refused(&q, &VerifyOptions::at_unix(AT).with_root_der(root)) {
        QuoteError::ChainUntrusted(m) => assert!(m.contains("does not verify"), "{m}"),
        e => panic!("{e}"),
    }
}

#[test]
fn an_own_chain_under_its_own_root_passes_the_chain_and_fails_on_the_qe_report() {
    // Control for the two tests above: the same construction, done right, gets past the chain.
    let p = pki(sub_ca, full_validity());
    let chain = pem_chain(&[&p.leaf, &p.platform, &p.root]).unwrap();
    let q = signer()
        .with_chain(chain)
        .quote_as(&m(), QuoteFormat::V4Td10)
        .unwrap();
    let root = p.root.to_der().unwrap();
    assert_eq!(
        refused(&q, &VerifyOptions::at_unix(AT).with_root_der(root)),
        QuoteError::QeReportSignature
    );
}

#[test]
fn validity_is_inclusive_at_both_ends() {
    // RFC 5280 §4.1.2.5: valid from notBefore through notAfter, both included.
    let q = signer().quote_as(&m(), QuoteFormat::V4Td10).unwrap();
    let at = |secs| VerifyOptions::at_unix(secs).with_root_der(signer().root_der());
    quote::verify(&q, &at(TEST_NOT_BEFORE_SECS)).unwrap();
    quote::verify(&q, &at(TEST_NOT_AFTER_SECS)).unwrap();
    for secs in [TEST_NOT_BEFORE_SECS - 1, TEST_NOT_AFTER_SECS + 1] {
        match refused(&q, &at(secs)) {
            QuoteError::CertificateNotValidAt {
                at,
                not_before,
                not_after,
                ..
            } => {
                assert_eq!(
                    (at, not_before, not_after),
                    (secs, TEST_NOT_BEFORE_SECS, TEST_NOT_AFTER_SECS)
                );
            }
            e => panic!("{secs}: {e}"),
        }
    }
}

#[test]
fn an_expired_trust_anchor_is_refused_while_the_chain_below_is_valid() {
    // Root valid 2020-2029, the certificates it issued until 2049: at 2035 the anchor is out.
    let p = pki(sub_ca, (TEST_NOT_BEFORE_SECS, 1_893_455_999));
    let chain = pem_chain(&[&p.leaf, &p.platform, &p.root]).unwrap();
    let q = signer()
        .with_chain(chain)
        .quote_as(&m(), QuoteFormat::V4Td10)
        .unwrap();
    let root = p.root.to_der().unwrap();
    match refused(
        &q,
        &VerifyOptions::at_unix(2_051_222_400).with_root_der(root),
    ) {
        QuoteError::CertificateNotValidAt { subject, .. } => {
            assert_eq!(subject, "CN=mr test SGX Root CA,O=mr simulated TD")
        }
        e => panic!("{e}"),
    }
}

#[test]
fn the_provenance_names_the_anchor_and_its_fingerprint() {
    let q = signer().quote_as(&m(), QuoteFormat::V4Td10).unwrap();
    let v = quote::verify(&q, &opts(signer())).unwrap();
    let fp = Sha256::digest(signer().root_der());
    assert_eq!(
        v.registers().provenance(),
        &Provenance::TdQuote {
            root: format!(
                "CN=mr test SGX Root CA,O=mr simulated TD (sha256 {})",
                hex(&fp[..8])
            )
        }
    );
}

// --- Nonce, accessors, TCB status ---

#[test]
fn a_nonce_of_64_bytes_fits_and_65_does_not() {
    let mut mm = m();
    mm.report_data = [0x5a; 64];
    let q = signer().quote_as(&mm, QuoteFormat::V4Td10).unwrap();
    quote::verify(&q, &opts(signer()).with_nonce(vec![0x5a; 64])).unwrap();
    assert_eq!(
        quote_error(quote::verify(&q, &opts(signer()).with_nonce(vec![0x5a; 65])).unwrap_err()),
        QuoteError::NonceTooLong(65)
    );
    assert_eq!(quote::nonce_report_data(&[0x5a; 64]).unwrap(), [0x5a; 64]);
    assert_eq!(
        quote_error(quote::nonce_report_data(&[0; 65]).unwrap_err()),
        QuoteError::NonceTooLong(65)
    );
    let mut expected = [0u8; 64];
    expected[..3].copy_from_slice(b"abc");
    assert_eq!(quote::nonce_report_data(b"abc").unwrap(), expected);
    // An empty nonce proves no freshness: refused (a usage error), never "matches".
    assert_eq!(
        quote_error(quote::nonce_report_data(b"").unwrap_err()),
        QuoteError::EmptyNonce
    );
    let mut zero = m();
    zero.report_data = [0; 64];
    let q = signer().quote_as(&zero, QuoteFormat::V4Td10).unwrap();
    let err = quote::verify(&q, &opts(signer()).with_nonce(Vec::new())).unwrap_err();
    let err = quote_error(err);
    assert_eq!(err, QuoteError::EmptyNonce);
    assert_eq!(err.class(), mr_core::ErrorClass::Malformed);
}

#[test]
fn accessors_return_the_quote_s_fields() {
    for (format, version, body_type) in [
        (QuoteFormat::V4Td10, 4, 2),
        (QuoteFormat::V5Td10, 5, 2),
        (QuoteFormat::V5Td15, 5, 3),
    ] {
        let mut q = signer().quote_as(&m(), format).unwrap();
        let v = quote::verify(&q, &opts(signer())).unwrap();
        assert_eq!((v.version(), v.body_type()), (version, body_type));
        let svn = [0x03, 0, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(v.tee_tcb_svn(), &svn);
        assert_eq!(v.tee_tcb_svn2(), (body_type == 3).then_some(&svn));
        assert_eq!(v.trailing_bytes(), 0);
        assert!(v.tcb_status().is_none());
        q.extend_from_slice(&[0; 5]);
        assert_eq!(
            quote::verify(&q, &opts(signer())).unwrap().trailing_bytes(),
            5
        );
    }
}

#[test]
fn only_up_to_date_is_up_to_date() {
    let status = |s: &str| TcbStatus {
        status: s.into(),
        advisory_ids: vec![],
    };
    assert!(status("UpToDate").is_up_to_date());
    for s in [
        "OutOfDate",
        "SWHardeningNeeded",
        "ConfigurationNeeded",
        "TDRelaunchAdvised",
        "",
    ] {
        assert!(!status(s).is_up_to_date(), "{s}");
    }
}

#[test]
fn a_root_file_is_read_as_der_or_as_its_first_pem_certificate() {
    let der = INTEL_SGX_ROOT_CA_DER;
    assert_eq!(quote::root_der_from_der_or_pem(der).unwrap(), der);
    let s = TestQuoteSigner::new().unwrap();
    let certs = signer_chain(&s);
    let mut pem = b"# a CA bundle\n".to_vec();
    pem.extend_from_slice(&pem_chain(&[&certs[2], &certs[1]]).unwrap());
    assert_eq!(quote::root_der_from_der_or_pem(&pem).unwrap(), s.root_der());
    let e = quote_error(
        quote::root_der_from_der_or_pem(b"-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap_err(),
    );
    assert!(matches!(e, QuoteError::RootCertificate(_)), "{e}");
}

#[test]
fn an_attestation_key_that_is_no_p256_point_is_refused_as_such() {
    // x and y above the field prime: a point on no curve. The QE report binds it (signed by
    // the PCK key as the QE would), so the key itself is what step 5 refuses.
    let bad_key = [0xff; 64];
    let auth = {
        let q = signer().quote_as(&m(), QuoteFormat::V4Td10).unwrap();
        quote::parse(&q)
            .unwrap()
            .signature_data()
            .qe_auth_data
            .to_vec()
    };
    let binding = Sha256::new()
        .chain_update(bad_key)
        .chain_update(&auth)
        .finalize();
    let s = (**signer())
        .clone()
        .with_qe_report(|r| r.report_data[..32].copy_from_slice(&binding));
    let mut q = s.quote_as(&m(), QuoteFormat::V4Td10).unwrap();
    let key = *quote::parse(&q).unwrap().signature_data().attestation_key;
    let at = q.windows(64).position(|w| w == key).unwrap();
    q[at..at + 64].copy_from_slice(&bad_key);
    let e = refused(&q, &opts(&s));
    assert!(matches!(e, QuoteError::AttestationKey), "{e}");
}
