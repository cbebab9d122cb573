//! An AK given as an X.509 certificate must chain to the operator's roots before its quote is
//! trusted (`TpmQuoteEvidence::with_ak_chain`): the CMC vector in MR_SHARED/vectors/tpmquote,
//! whose AK certificate is issued by its "Test Root CA" and expires in 2027.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_attest::{AkChain, Evidence, RuleStatus, Step, TpmQuoteEvidence};
use mr_core::{Digest, HashAlg, MrId, RegisterValue};
use mr_tpm::cert::certificate_der;

/// 2025-06-01T00:00:00Z.
const AT: u64 = 1_748_736_000;
/// 2031-01-01T00:00:00Z: after the AK certificate expired.
const LATER: u64 = 1_924_992_000;

fn cmc() -> Option<serde_json::Value> {
    mr_testkit::shared_json("vectors/tpmquote/cmc/verifier_tpm_test_vectors.json")
}

fn evidence(v: &serde_json::Value, roots: Vec<Vec<u8>>, at: u64) -> Evidence {
    let unhex = |k: &str| hex::decode(v[k].as_str().unwrap()).unwrap();
    let pcrs = v["pcr_summary_sha256"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, d)| RegisterValue {
            id: MrId::Pcr(k.parse().unwrap()),
            value: Digest::from_hex(HashAlg::Sha256, d[0].as_str().unwrap()).unwrap(),
        })
        .collect();
    Evidence::tpm(
        TpmQuoteEvidence::new(
            unhex("quote_tpms_attest_hex"),
            unhex("signature_tpmt_signature_hex"),
            v["ak_cert_pem"].as_str().unwrap().as_bytes().to_vec(),
        )
        .with_nonce(unhex("nonce_hex"))
        .with_pcrs(pcrs)
        .with_ak_chain(AkChain {
            roots,
            intermediates: Vec::new(),
            at,
        }),
    )
}

fn cert(v: &serde_json::Value, key: &str) -> Vec<u8> {
    certificate_der(v[key].as_str().unwrap().as_bytes()).unwrap()
}

#[test]
fn an_ak_certificate_that_chains_to_an_operator_root_verifies_and_says_so() {
    let Some(v) = cmc() else { return };
    let roots = vec![cert(&v, "invalid_ca_cert_pem"), cert(&v, "ca_cert_pem")];
    let r = mr_attest::verify(evidence(&v, roots, AT)).unwrap();
    assert!(r.verified, "{:?}", r.failure);
    let rule = r.rule("ak_chain").unwrap();
    assert_eq!(rule.status, RuleStatus::Pass);
    assert!(rule.detail.contains("Test Root CA"), "{}", rule.detail);
    assert!(
        r.chain.iter().any(|l| l.starts_with("AK certificate")),
        "{:?}",
        r.chain
    );
}

#[test]
fn an_ak_certificate_of_another_root_or_expired_or_without_roots_is_rejected_before_the_quote() {
    let Some(v) = cmc() else { return };
    for (roots, at) in [
        (vec![cert(&v, "invalid_ca_cert_pem")], AT),
        (vec![cert(&v, "ca_cert_pem")], LATER),
        (Vec::new(), AT),
    ] {
        let r = mr_attest::verify(evidence(&v, roots, at)).unwrap();
        assert!(!r.verified);
        let f = r.failure.as_ref().unwrap();
        assert_eq!(f.step, Step::Root, "{f:?}");
        assert_eq!(r.rule("ak_chain").unwrap().status, RuleStatus::Fail);
        // The quote's signature was never looked at.
        assert!(r.rule("signature").is_none());
    }
}
