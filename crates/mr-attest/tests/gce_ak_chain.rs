//! GCE Shielded VM AK certificates and Google's roots (`tests/data/go-tpm-tools`, see
//! `tests/data/PROVENANCE.md`): the AK certificates go-tpm-tools tests with chain, through the
//! intermediates go-tpm-tools ships, to the root of their family (`mr_tpm::cert::verify_chain`,
//! as openssl verify says too), and `TpmQuoteEvidence::with_ak_chain` checks that chain before
//! the quote. A missing intermediate, another family's root, a time before the certificate and
//! a changed signature byte are each refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_attest::{AkChain, Evidence, RuleStatus, Step, TpmQuoteEvidence};
use mr_testkit::tpm::SoftwareQuote;
use mr_tpm::cert::{certificate_der, verify_chain};

/// 2025-06-01T00:00:00Z: inside every certificate's validity.
const AT: u64 = 1_748_736_000;
/// 2022-01-01T00:00:00Z: before the AK certificates were issued (2022-10 and 2022-11).
const BEFORE: u64 = 1_640_995_200;

fn der(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/data/go-tpm-tools/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    certificate_der(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

/// (AK certificates, intermediates, root) of one family of GCE trust anchors.
struct Family {
    aks: [&'static str; 2],
    intermediates: Vec<Vec<u8>>,
    root: Vec<u8>,
    root_name: &'static str,
}

fn families() -> [Family; 2] {
    [
        Family {
            aks: ["pca_tpm_rsa_sign_cert.pem", "pca_tpm_ecc_sign_cert.pem"],
            intermediates: vec![der("gcp_ek_ak_ca_intermediate_v3.crt")],
            root: der("gcp_ek_ak_ca_root.crt"),
            root_name: "EK/AK CA Root",
        },
        Family {
            aks: ["uca_tpm_rsa_sign_cert.pem", "uca_tpm_ecc_sign_cert.pem"],
            intermediates: vec![
                der("tpm_ek_intermediate_2.crt"),
                der("tpm_ek_intermediate_3.crt"),
            ],
            root: der("tpm_ek_root_1.cer"),
            root_name: "tpm_ek_v1_cloud_host_root-signer",
        },
    ]
}

#[test]
fn gce_ak_certificates_chain_to_googles_roots() {
    for f in families() {
        for ak in f.aks {
            let chain = verify_chain(
                &der(ak),
                &f.intermediates,
                &[der("tpm_ek_root_1.cer"), der("gcp_ek_ak_ca_root.crt")],
                AT,
            )
            .unwrap_or_else(|e| panic!("{ak}: {e}"));
            assert_eq!(chain.certificates.len(), 3, "{ak}");
            assert_eq!(chain.certificates.last(), Some(&f.root), "{ak}");
            assert!(
                chain.root_description().contains(f.root_name),
                "{ak}: {}",
                chain.root_description()
            );
        }
    }
}

#[test]
fn gce_ak_certificates_without_their_intermediate_root_or_time_or_intact_signature_are_refused() {
    let [pca, uca] = families();
    for (f, other) in [(&pca, &uca), (&uca, &pca)] {
        for ak in f.aks {
            let leaf = der(ak);
            let refused = |what: &str, leaf: &[u8], inter: &[Vec<u8>], root: &[u8], at: u64| {
                let e = verify_chain(leaf, inter, &[root.to_vec()], at)
                    .err()
                    .unwrap_or_else(|| panic!("{ak}, {what}: verified"));
                assert_eq!(
                    e.class(),
                    mr_core::ErrorClass::Rejected,
                    "{ak}, {what}: {e}"
                );
            };
            refused("no intermediate", &leaf, &[], &f.root, AT);
            refused(
                "the other family's root",
                &leaf,
                &other.intermediates,
                &other.root,
                AT,
            );
            refused(
                "the other family's root, with its own intermediates",
                &leaf,
                &[f.intermediates.clone(), other.intermediates.clone()].concat(),
                &other.root,
                AT,
            );
            refused(
                "before it was issued",
                &leaf,
                &f.intermediates,
                &f.root,
                BEFORE,
            );
            let mut changed = leaf.clone();
            let n = changed.len();
            changed[n - 8] ^= 0x01; // inside the signature, the last field
            refused(
                "a changed signature byte",
                &changed,
                &f.intermediates,
                &f.root,
                AT,
            );
        }
    }
}

/// `with_ak_chain` on a quote whose AK is the GCE certificate: the chain passes (rule `ak_chain`,
/// named in the result's chain), then the quote is checked against the certificate's key — this
/// quote was signed by another key, so its signature fails. With another family's root the
/// chain fails and the quote is never looked at.
#[test]
fn with_ak_chain_checks_the_gce_chain_before_the_quote() {
    let [pca, uca] = families();
    let q = SoftwareQuote::new();
    let evidence = |roots: Vec<Vec<u8>>| {
        Evidence::tpm(
            TpmQuoteEvidence::new(
                q.attest.clone(),
                q.signature.clone(),
                der("pca_tpm_ecc_sign_cert.pem"),
            )
            .with_ak_chain(AkChain {
                roots,
                intermediates: pca.intermediates.clone(),
                at: AT,
            }),
        )
    };
    let r = mr_attest::verify(evidence(vec![pca.root.clone()])).unwrap();
    assert!(!r.verified);
    let rule = r.rule("ak_chain").unwrap();
    assert_eq!(rule.status, RuleStatus::Pass);
    assert!(rule.detail.contains("EK/AK CA Root"), "{}", rule.detail);
    assert!(r.chain.iter().any(|l| l.starts_with("AK certificate")));
    let f = r.failure.as_ref().unwrap();
    assert_eq!(f.step, Step::Root);
    assert_eq!(f.reason, "bad_signature", "{}", f.message);
    assert_eq!(r.rule("signature").unwrap().status, RuleStatus::Fail);

    let r = mr_attest::verify(evidence(vec![uca.root.clone()])).unwrap();
    assert!(!r.verified);
    assert_eq!(r.rule("ak_chain").unwrap().status, RuleStatus::Fail);
    assert!(r.rule("signature").is_none());
}
