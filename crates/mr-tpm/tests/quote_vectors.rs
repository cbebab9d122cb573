//! Real TPM quotes from other projects (MR_SHARED/vectors/tpmquote, see PROVENANCE.md) give the
//! outcomes their sources state.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use base64::Engine as _;
use mr_core::{
    Digest, HashAlg, MeasurementRegister, MrId, Provenance, RegisterValue, SoftRegister,
};
use mr_tpm::cert::{certificate_der, verify_issued_by};
use mr_tpm::{verify_quote, verify_quote_signature, AkPublic, Attest, Error, Signature};

fn shared(rel: &str) -> Option<PathBuf> {
    mr_testkit::shared(&format!("vectors/tpmquote/{rel}"))
}

fn json(rel: &str) -> Option<serde_json::Value> {
    mr_testkit::shared_json(&format!("vectors/tpmquote/{rel}"))
}

fn b64(s: &serde_json::Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s.as_str().unwrap())
        .unwrap()
}

fn unhex(s: &serde_json::Value) -> Vec<u8> {
    hex::decode(s.as_str().unwrap()).unwrap()
}

fn sha256_pcrs(map: &serde_json::Value) -> Vec<RegisterValue> {
    map.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| RegisterValue {
            id: MrId::Pcr(k.parse().unwrap()),
            value: Digest::from_hex(HashAlg::Sha256, v[0].as_str().unwrap()).unwrap(),
        })
        .collect()
}

#[test]
fn cmc_valid_quote_verifies_and_yields_pcr1_and_pcr4() {
    let Some(v) = json("cmc/verifier_tpm_test_vectors.json") else {
        return;
    };
    let attest = unhex(&v["quote_tpms_attest_hex"]);
    let sig = unhex(&v["signature_tpmt_signature_hex"]);
    let ak = AkPublic::detect(v["ak_cert_pem"].as_str().unwrap().as_bytes()).unwrap();
    let nonce = unhex(&v["nonce_hex"]);
    let pcrs = sha256_pcrs(&v["pcr_summary_sha256"]);
    let verified = verify_quote(&attest, &sig, &ak, &nonce, &pcrs).unwrap();
    assert_eq!(verified.len(), 2);
    assert!(
        matches!(verified.provenance(), Provenance::TpmQuote { ak_name } if ak_name.starts_with("spki-sha256:"))
    );
    for p in &pcrs {
        assert_eq!(verified.get(&p.id, HashAlg::Sha256), Some(&p.value));
    }
    // The PCR values are the replay of the listed event digests.
    for (pcr, digests) in v["pcr_eventlog_sha256_event_digests"].as_object().unwrap() {
        let reg = SoftRegister::new(MrId::Pcr(pcr.parse().unwrap()), HashAlg::Sha256);
        for d in digests.as_array().unwrap() {
            reg.extend(&Digest::from_hex(HashAlg::Sha256, d.as_str().unwrap()).unwrap())
                .unwrap();
        }
        assert_eq!(
            Some(&reg.read().unwrap()),
            verified.get(&reg.id(), HashAlg::Sha256)
        );
    }
}

/// What a verified quote says about itself is what was signed and checked: the nonce it carries,
/// whether it was compared, and the AK that signed it (the provenance of its PCR values).
#[test]
fn cmc_signed_quote_reports_its_nonce_and_signer() {
    let Some(v) = json("cmc/verifier_tpm_test_vectors.json") else {
        return;
    };
    let attest = unhex(&v["quote_tpms_attest_hex"]);
    let sig = unhex(&v["signature_tpmt_signature_hex"]);
    let ak = AkPublic::detect(v["ak_cert_pem"].as_str().unwrap().as_bytes()).unwrap();
    let nonce = unhex(&v["nonce_hex"]);
    assert!(nonce.len() > 1);
    let checked = verify_quote_signature(&attest, &sig, &ak, Some(&nonce)).unwrap();
    assert_eq!(checked.nonce(), nonce.as_slice());
    assert!(checked.nonce_checked());
    assert!(ak.id().starts_with("spki-sha256:"), "{}", ak.id());
    assert_eq!(checked.ak_id(), ak.id());
    let unchecked = verify_quote_signature(&attest, &sig, &ak, None).unwrap();
    assert_eq!(unchecked.nonce(), nonce.as_slice());
    assert!(!unchecked.nonce_checked());
    let verified = checked
        .verify_pcrs(&sha256_pcrs(&v["pcr_summary_sha256"]))
        .unwrap();
    assert_eq!(
        verified.provenance(),
        &Provenance::TpmQuote {
            ak_name: ak.id().to_owned()
        }
    );
}

/// The same value given twice for one PCR is one value, not a conflict; two different values
/// are a conflict whichever comes first.
#[test]
fn cmc_repeated_pcr_values_agree_or_conflict() {
    let Some(v) = json("cmc/verifier_tpm_test_vectors.json") else {
        return;
    };
    let attest = unhex(&v["quote_tpms_attest_hex"]);
    let sig = unhex(&v["signature_tpmt_signature_hex"]);
    let ak = AkPublic::detect(v["ak_cert_pem"].as_str().unwrap().as_bytes()).unwrap();
    let nonce = unhex(&v["nonce_hex"]);
    let pcrs = sha256_pcrs(&v["pcr_summary_sha256"]);
    let mut twice = pcrs.clone();
    twice.extend(pcrs.iter().cloned());
    let verified = verify_quote(&attest, &sig, &ak, &nonce, &twice).unwrap();
    assert_eq!(verified.len(), pcrs.len());
    let mut other = pcrs[0].clone();
    other.value = Digest::ones(HashAlg::Sha256);
    for values in [
        [vec![other.clone()], pcrs.clone()].concat(),
        [pcrs.clone(), vec![other.clone()]].concat(),
    ] {
        let err = verify_quote(&attest, &sig, &ak, &nonce, &values).unwrap_err();
        assert!(matches!(err, Error::ConflictingPcrValue { .. }), "{err}");
    }
}

#[test]
fn cmc_negative_cases_are_rejected_with_their_reason() {
    let Some(v) = json("cmc/verifier_tpm_test_vectors.json") else {
        return;
    };
    let attest = unhex(&v["quote_tpms_attest_hex"]);
    let sig = unhex(&v["signature_tpmt_signature_hex"]);
    let ak = AkPublic::detect(v["ak_cert_pem"].as_str().unwrap().as_bytes()).unwrap();
    let nonce = unhex(&v["nonce_hex"]);
    let pcrs = sha256_pcrs(&v["pcr_summary_sha256"]);
    let err = verify_quote(&attest, &sig, &ak, &unhex(&v["invalid_nonce_hex"]), &pcrs).unwrap_err();
    assert!(matches!(err, Error::WrongNonce { .. }), "{err}");
    let err = verify_quote(
        &attest,
        &unhex(&v["invalid_signature_hex"]),
        &ak,
        &nonce,
        &pcrs,
    )
    .unwrap_err();
    assert!(matches!(err, Error::BadSignature), "{err}");
    let err = verify_quote(
        &attest,
        &sig,
        &ak,
        &nonce,
        &sha256_pcrs(&v["invalid_pcr_summary_sha256"]),
    )
    .unwrap_err();
    assert!(matches!(err, Error::PcrDigestMismatch { .. }), "{err}");
    // An empty expected nonce proves no freshness: a usage error, never "matches".
    let err = verify_quote(&attest, &sig, &ak, &[], &pcrs).unwrap_err();
    assert!(matches!(err, Error::EmptyNonce), "{err}");
    assert_eq!(err.class(), mr_core::ErrorClass::Malformed);
    let err = verify_quote_signature(&attest, &sig, &ak, Some(&[])).unwrap_err();
    assert!(matches!(err, Error::EmptyNonce), "{err}");

    // The AK certificate chains to the test CA, not to the other CA.
    let ak_cert = certificate_der(v["ak_cert_pem"].as_str().unwrap().as_bytes()).unwrap();
    let ca = certificate_der(v["ca_cert_pem"].as_str().unwrap().as_bytes()).unwrap();
    let other_ca = certificate_der(v["invalid_ca_cert_pem"].as_str().unwrap().as_bytes()).unwrap();
    verify_issued_by(&ak_cert, &ca).unwrap();
    let err = verify_issued_by(&ak_cert, &other_ca).unwrap_err();
    assert!(matches!(err, Error::CertificateChain(_)), "{err}");
}

#[test]
fn gta_quote_verifies_with_pem_key_and_rejects_other_nonce() {
    let Some(v) = json("global-trust-authority/quote_test_valid_quote.json") else {
        return;
    };
    let attest = b64(&v["quote_tpms_attest_b64"]);
    let sig = b64(&v["signature_tpmt_signature_b64"]);
    let ak = AkPublic::detect(v["ak_public_key_pem"].as_str().unwrap().as_bytes()).unwrap();
    let nonce = b64(&v["nonce_b64"]);
    let q = verify_quote_signature(&attest, &sig, &ak, Some(&nonce)).unwrap();
    assert_eq!(q.hash(), HashAlg::Sha256);
    assert_eq!(q.quote_info().pcr_digest.len(), 32);
    assert_eq!(
        q.quote_info().pcr_select.pcrs().collect::<Vec<_>>(),
        (0..8).map(|p| (p, HashAlg::Sha256)).collect::<Vec<_>>()
    );
    let other = base64::engine::general_purpose::STANDARD
        .decode("VGhpc0lzQURpZmZlcmVudE5vbmNlVmFsdWU=")
        .unwrap();
    let err = verify_quote_signature(&attest, &sig, &ak, Some(&other)).unwrap_err();
    assert!(matches!(err, Error::WrongNonce { .. }), "{err}");
}

fn gta_evidence(v: &serde_json::Value) -> (Vec<u8>, Vec<u8>, AkPublic, Vec<RegisterValue>) {
    let e = &v["evidence"];
    let attest = b64(&e["quote"]["quote_data"]);
    let sig = b64(&e["quote"]["signature"]);
    let ak = AkPublic::detect(&b64(&e["ak_certs"][0]["cert_data"])).unwrap();
    let alg: HashAlg = e["pcrs"]["hash_alg"].as_str().unwrap().parse().unwrap();
    let pcrs = e["pcrs"]["pcr_values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| RegisterValue {
            id: MrId::Pcr(u32::try_from(p["pcr_index"].as_u64().unwrap()).unwrap()),
            value: Digest::from_hex(alg, p["pcr_value"].as_str().unwrap()).unwrap(),
        })
        .collect();
    (attest, sig, ak, pcrs)
}

#[test]
fn gta_boot_evidence_verifies_pcrs_0_to_7() {
    let Some(v) = json("global-trust-authority/boot_test_evidence.json") else {
        return;
    };
    let (attest, sig, ak, pcrs) = gta_evidence(&v);
    let nonce = base64::engine::general_purpose::STANDARD
        .decode("ljYr8vYNYrErFHGKeiL4vg==")
        .unwrap();
    let verified = verify_quote(&attest, &sig, &ak, &nonce, &pcrs).unwrap();
    assert_eq!(verified.len(), 8);
    assert_eq!(
        verified.get(&MrId::Pcr(7), HashAlg::Sha256),
        Some(&pcrs[7].value)
    );
    // The BIOS log shipped with the evidence replays to the quoted PCRs 0-7: the whole
    // TPM-rooted boot verification (quote -> VerifiedRegisters -> log replay).
    let log =
        std::fs::read(shared("global-trust-authority/boot_binary_bios_measurements").unwrap())
            .unwrap();
    let cfg = mr_core::log::tcg::TcgReplayConfig::pc_client();
    mr_core::log::tcg::replay(&log, &cfg, &verified).unwrap();
    // A flipped quoted value no longer verifies, so nothing is replayed against it.
    let mut flipped = pcrs.clone();
    flipped[4].value = HashAlg::Sha256.hash(b"other");
    assert!(matches!(
        verify_quote(&attest, &sig, &ak, &nonce, &flipped),
        Err(Error::PcrDigestMismatch { .. })
    ));
}

#[test]
fn gta_evidence_with_a_foreign_ak_certificate_fails() {
    let Some(v) = json("global-trust-authority/common_test_evidence.json") else {
        return;
    };
    let (attest, sig, ak, pcrs) = gta_evidence(&v);
    let nonce = base64::engine::general_purpose::STANDARD
        .decode("ljYr8vYNYrErFHGKeiL4vg==")
        .unwrap();
    let err = verify_quote(&attest, &sig, &ak, &nonce, &pcrs).unwrap_err();
    assert!(matches!(err, Error::BadSignature), "{err}");
}

#[test]
fn keylime_quote_parses_and_round_trips_byte_exactly() {
    let Some(path) = shared("rust-keylime/test-quote.txt") else {
        return;
    };
    let text = std::fs::read_to_string(path).unwrap();
    let body = text.trim().strip_prefix('r').unwrap();
    let parts: Vec<&str> = body.split(':').collect();
    let dec = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap();
    let attest_bytes = dec(parts[0]);
    let sig_bytes = dec(parts[1]);
    let attest = Attest::parse(&attest_bytes).unwrap();
    assert_eq!(attest.marshal(), attest_bytes);
    assert_eq!(attest.extra_data, b"TEST");
    let q = attest.quote_info().unwrap();
    assert_eq!(
        q.pcr_select.pcrs().collect::<Vec<_>>(),
        vec![(16, HashAlg::Sha1)]
    );
    let sig = Signature::parse(&sig_bytes).unwrap();
    assert_eq!(sig.hash(), HashAlg::Sha1);
    assert_eq!(sig.marshal(), sig_bytes);
}
