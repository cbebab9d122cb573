//! `mr_tpm::cert::verify_chain`: an AK certificate to operator roots (the CMC vector in
//! MR_SHARED/vectors/tpmquote) and AMD's RSASSA-PSS chain (crates/mr-vtpm/tests/data), with
//! validity at a given time; every signature algorithm `verify_issued_by` takes (tests/data/certs)
//! and the path rules (an intermediate must be a CA, validity ends inclusive) on P-256 PKIs
//! made at run time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_rtmr::sim::quote::{test_certificate, TEST_NOT_AFTER_SECS, TEST_NOT_BEFORE_SECS};
use mr_tpm::cert::{
    certificate_der, certificates_der, check_validity, verify_chain, verify_issued_by,
};
use mr_tpm::Error;
use p256_v13::ecdsa::SigningKey;
use rand_core::OsRng;
use x509_cert::builder::Profile;
use x509_cert::der::Encode;

/// 2025-06-01T00:00:00Z.
const AT: u64 = 1_748_736_000;
/// 2031-01-01T00:00:00Z: after the CMC AK certificate (2027) expired.
const LATER: u64 = 1_924_992_000;

fn cmc() -> Option<serde_json::Value> {
    mr_testkit::shared_json("vectors/tpmquote/cmc/verifier_tpm_test_vectors.json")
}

fn der(v: &serde_json::Value, key: &str) -> Vec<u8> {
    certificate_der(v[key].as_str().unwrap().as_bytes()).unwrap()
}

#[test]
fn an_ak_certificate_chains_to_its_root_among_several_and_not_to_another() {
    let Some(v) = cmc() else { return };
    let ak = der(&v, "ak_cert_pem");
    let ca = der(&v, "ca_cert_pem");
    let other = der(&v, "invalid_ca_cert_pem");
    let chain = verify_chain(&ak, &[], &[other.clone(), ca.clone()], AT).unwrap();
    assert_eq!(chain.root_index, 1);
    assert_eq!(chain.certificates, vec![ak.clone(), ca.clone()]);
    assert!(chain.root_description().contains("Test Root CA"));
    for (roots, at) in [(vec![other], AT), (vec![ca.clone()], LATER), (vec![], AT)] {
        let e = verify_chain(&ak, &[], &roots, at).unwrap_err();
        assert!(matches!(e, Error::CertificateChain(_)), "{e}");
    }
    // The root itself is no leaf of a chain to nothing but itself through an AK certificate.
    let e = verify_chain(&ca, &[], &[ak], AT).unwrap_err();
    assert!(matches!(e, Error::CertificateChain(_)), "{e}");
}

const AMD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../mr-vtpm/tests/data/trustee");

#[test]
fn amds_rsassa_pss_chain_verifies_vcek_to_ask_to_ark() {
    let milan = certificates_der(
        &std::fs::read(format!("{AMD}/amd/milan_ask_ark_asvk.pem")).unwrap(),
        8,
    )
    .unwrap();
    assert_eq!(milan.len(), 3, "ASK, ARK, ASVK");
    let (ask, ark) = (&milan[0], &milan[1]);
    verify_issued_by(ark, ark).unwrap();
    verify_issued_by(ask, ark).unwrap();
    let vcek = certificates_der(
        &std::fs::read(format!("{AMD}/az-snp-vtpm/vcek.pem")).unwrap(),
        8,
    )
    .unwrap();
    let chain = verify_chain(&vcek[0], &milan, std::slice::from_ref(ark), AT).unwrap();
    assert_eq!(chain.certificates.len(), 3);
    // A changed signature byte of the VCEK breaks its link to the ASK.
    let mut bad = vcek[0].clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let e = verify_chain(&bad, &milan, std::slice::from_ref(ark), AT).unwrap_err();
    assert!(matches!(e, Error::CertificateChain(_)), "{e}");
    // Too many certificates in a bundle.
    let pem = std::fs::read(format!("{AMD}/amd/milan_ask_ark_asvk.pem")).unwrap();
    assert!(certificates_der(&pem, 2).is_err());
}

/// 2027-06-01T00:00:00Z: inside the validity of the certificates in tests/data/certs.
const AT_MADE_HERE: u64 = 1_811_808_000;

fn data_cert(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/certs/{name}.pem", env!("CARGO_MANIFEST_DIR"));
    certificate_der(&std::fs::read(path).unwrap()).unwrap()
}

/// `cert` with one bit of its signature (the last byte of the DER) changed.
fn broken_signature(cert: &[u8]) -> Vec<u8> {
    let mut bad = cert.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    bad
}

#[test]
fn rsa_pkcs1_and_pss_certificates_verify_with_the_hash_their_algorithm_names() {
    let root = data_cert("root-rsa-sha256");
    verify_issued_by(&root, &root).unwrap();
    for leaf in ["leaf-rsa-sha384", "leaf-rsa-sha512", "leaf-pss-sha512"] {
        let leaf = data_cert(leaf);
        verify_issued_by(&leaf, &root).unwrap();
        let e = verify_issued_by(&broken_signature(&leaf), &root).unwrap_err();
        assert!(matches!(e, Error::CertificateChain(_)), "{e}");
        let chain = verify_chain(&leaf, &[], std::slice::from_ref(&root), AT_MADE_HERE).unwrap();
        assert_eq!(chain.certificates, vec![leaf, root.clone()]);
    }
    let e = verify_issued_by(&broken_signature(&root), &root).unwrap_err();
    assert!(matches!(e, Error::CertificateChain(_)), "{e}");
}

#[test]
fn an_ecdsa_p384_sha384_certificate_verifies() {
    let Some(v) = cmc() else { return };
    // The CMC vector's other root is self-signed with ecdsa-with-SHA384 on P-384.
    let other = der(&v, "invalid_ca_cert_pem");
    verify_issued_by(&other, &other).unwrap();
    let e = verify_issued_by(&broken_signature(&other), &other).unwrap_err();
    assert!(matches!(e, Error::CertificateChain(_)), "{e}");
}

#[test]
fn unsupported_signature_algorithms_and_pss_with_another_mgf1_hash_are_invalid_not_mismatches() {
    // ecdsa-with-SHA512 is not one of the algorithms mr verifies: a typed refusal, not a
    // signature that happened not to verify with another hash.
    let ec = data_cert("self-ecdsa-sha512");
    let e = verify_issued_by(&ec, &ec).unwrap_err();
    assert!(
        matches!(e, Error::InvalidKey(ref m) if m.contains("unsupported")),
        "{e}"
    );
    // RSASSA-PSS over SHA-256 with MGF1 over SHA-1 (RFC 4055 defaults): refused before the
    // signature is looked at.
    let root = data_cert("root-rsa-sha256");
    let pss = data_cert("leaf-pss-sha256-mgf1-sha1");
    let e = verify_issued_by(&pss, &root).unwrap_err();
    assert!(
        matches!(e, Error::InvalidKey(ref m) if m.contains("MGF1")),
        "{e}"
    );
}

#[test]
fn a_bundle_is_its_certificate_blocks_and_a_der_certificate_is_itself() {
    let root = data_cert("root-rsa-sha256");
    let leaf = data_cert("leaf-rsa-sha384");
    // DER in: that one certificate, unchanged (also through certificate_der).
    assert_eq!(certificates_der(&root, 8).unwrap(), vec![root.clone()]);
    assert_eq!(certificate_der(&root).unwrap(), root);
    // PEM blocks of other labels (a key) and text between blocks are skipped.
    let dir = format!("{}/tests/data/certs", env!("CARGO_MANIFEST_DIR"));
    let mut bundle = b"CA bundle\n".to_vec();
    bundle.extend(std::fs::read(format!("{dir}/root-rsa-sha256.pem")).unwrap());
    bundle.extend(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
    bundle.extend(std::fs::read(format!("{dir}/leaf-rsa-sha384.pem")).unwrap());
    assert_eq!(certificates_der(&bundle, 2).unwrap(), vec![root, leaf]);
    // PEM without a CERTIFICATE block is no bundle.
    let key_only = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    let e = certificates_der(key_only, 8).unwrap_err();
    assert!(matches!(e, Error::InvalidKey(_)), "{e}");
}

/// A P-256 PKI made at run time: a root, a middle certificate it signs (a CA or not) and a
/// leaf the middle signs, each valid over its own (not before, not after).
struct Pki {
    root: Vec<u8>,
    middle: Vec<u8>,
    leaf: Vec<u8>,
}

const ROOT: &str = "CN=mr test AK Root CA";
const MIDDLE: &str = "CN=mr test AK Intermediate CA";

fn pki(middle_is_ca: bool, validity: [(u64, u64); 3]) -> Pki {
    let [root_key, middle_key, leaf_key] = [(); 3].map(|()| SigningKey::random(&mut OsRng));
    let der = |c: x509_cert::Certificate| c.to_der().unwrap();
    let root = test_certificate(
        Profile::Root,
        1,
        ROOT,
        &root_key,
        &root_key,
        validity[0].0,
        validity[0].1,
    )
    .unwrap();
    let middle_profile = if middle_is_ca {
        Profile::SubCA {
            issuer: ROOT.parse().unwrap(),
            path_len_constraint: None,
        }
    } else {
        Profile::Leaf {
            issuer: ROOT.parse().unwrap(),
            enable_key_agreement: false,
            enable_key_encipherment: false,
        }
    };
    let middle = test_certificate(
        middle_profile,
        2,
        MIDDLE,
        &middle_key,
        &root_key,
        validity[1].0,
        validity[1].1,
    )
    .unwrap();
    let leaf = test_certificate(
        Profile::Leaf {
            issuer: MIDDLE.parse().unwrap(),
            enable_key_agreement: false,
            enable_key_encipherment: false,
        },
        3,
        "CN=mr test AK",
        &leaf_key,
        &middle_key,
        validity[2].0,
        validity[2].1,
    )
    .unwrap();
    Pki {
        root: der(root),
        middle: der(middle),
        leaf: der(leaf),
    }
}

const ALWAYS: (u64, u64) = (TEST_NOT_BEFORE_SECS, TEST_NOT_AFTER_SECS);

#[test]
fn an_issuer_that_is_not_a_ca_is_no_intermediate() {
    let good = pki(true, [ALWAYS; 3]);
    let chain = verify_chain(
        &good.leaf,
        std::slice::from_ref(&good.middle),
        std::slice::from_ref(&good.root),
        AT,
    )
    .unwrap();
    assert_eq!(chain.certificates, vec![good.leaf, good.middle, good.root]);
    // Same shape, but the middle certificate is an end entity (basicConstraints without cA):
    // its signature on the leaf is valid, yet it may not issue certificates.
    let bad = pki(false, [ALWAYS; 3]);
    verify_issued_by(&bad.leaf, &bad.middle).unwrap();
    let e = verify_chain(&bad.leaf, &[bad.middle], &[bad.root], AT).unwrap_err();
    assert!(matches!(e, Error::CertificateChain(_)), "{e}");
}

#[test]
fn the_path_takes_the_intermediate_that_issued_the_certificate_not_the_first_ca() {
    let p = pki(true, [ALWAYS; 3]);
    // Another PKI's intermediate CA, listed first, with the same subject name but another key.
    let other = pki(true, [ALWAYS; 3]);
    let chain = verify_chain(
        &p.leaf,
        &[other.middle.clone(), p.middle.clone()],
        std::slice::from_ref(&p.root),
        AT,
    )
    .unwrap();
    assert_eq!(chain.certificates, vec![p.leaf, p.middle, p.root]);
}

#[test]
fn a_certificate_is_valid_from_its_first_to_its_last_second_inclusive() {
    let (from, to) = (AT - 1000, AT + 1000);
    let p = pki(true, [ALWAYS, ALWAYS, (from, to)]);
    for at in [from, to] {
        check_validity(&p.leaf, at).unwrap();
        verify_chain(
            &p.leaf,
            std::slice::from_ref(&p.middle),
            std::slice::from_ref(&p.root),
            at,
        )
        .unwrap();
    }
    for at in [from - 1, to + 1] {
        let e = check_validity(&p.leaf, at).unwrap_err();
        assert!(matches!(e, Error::CertificateChain(_)), "{e}");
    }
}

#[test]
fn every_certificate_of_the_path_must_be_valid_at_the_time() {
    let expired = (TEST_NOT_BEFORE_SECS, AT - 1);
    for validity in [
        [expired, ALWAYS, ALWAYS],
        [ALWAYS, expired, ALWAYS],
        [ALWAYS, ALWAYS, expired],
    ] {
        let p = pki(true, validity);
        let e = verify_chain(&p.leaf, &[p.middle], &[p.root], AT).unwrap_err();
        assert!(
            matches!(e, Error::CertificateChain(ref m) if m.contains("valid from")),
            "{e}"
        );
    }
}
