//! `mr_tpm::cert::verify_chain`: an AK certificate to operator roots (the CMC vector in
//! MR_SHARED/vectors/tpmquote) and AMD's RSASSA-PSS chain (crates/mr-vtpm/tests/data), with
//! validity at a given time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_tpm::cert::{certificate_der, certificates_der, verify_chain, verify_issued_by};
use mr_tpm::Error;

/// 2025-06-01T00:00:00Z.
const AT: u64 = 1_748_736_000;
/// 2031-01-01T00:00:00Z: after the CMC AK certificate (2027) expired.
const LATER: u64 = 1_924_992_000;

fn cmc() -> Option<serde_json::Value> {
    let Some(dir) = std::env::var_os("MR_SHARED") else {
        eprintln!("MR_SHARED is not set: skipping the shared-vector test");
        return None;
    };
    let path =
        std::path::Path::new(&dir).join("vectors/tpmquote/cmc/verifier_tpm_test_vectors.json");
    Some(serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
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
