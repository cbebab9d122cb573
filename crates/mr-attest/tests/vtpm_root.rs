//! The vTPM root on trustee's Azure evidence (crates/mr-vtpm/tests/data): the hardware report →
//! runtime data → AK → quote chain verifies and its PCRs are what boot log and IMA replay run
//! against, as under a TPM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, UNIX_EPOCH};

use mr_attest::{verify, Evidence, ImaList, RootKind, RuleStatus, Step, VtpmEvidence, VtpmOptions};
use mr_core::{HashAlg, MrId};
use mr_rtmr::quote::VerifyOptions;
use mr_vtpm::{AzVtpmEvidence, SnpOptions, TdxOptions};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../mr-vtpm/tests/data");
const AT: u64 = 1_748_736_000;

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}/{rel}")).unwrap()
}

fn tdx(nonce: &[u8]) -> VtpmEvidence {
    let ev =
        AzVtpmEvidence::from_trustee_json(&read("trustee/az-tdx-vtpm/evidence-v1.json")).unwrap();
    VtpmEvidence::new(
        ev,
        VtpmOptions::AzTdx(Box::new(TdxOptions {
            quote: VerifyOptions::at_unix(AT),
            nonce: Some(nonce.to_vec()),
        })),
    )
}

fn snp(nonce: &[u8]) -> VtpmEvidence {
    let ev =
        AzVtpmEvidence::from_trustee_json(&read("trustee/az-snp-vtpm/evidence-v1.json")).unwrap();
    let bundle = mr_vtpm::snp::read_bundle(&read("trustee/amd/milan_ask_ark_asvk.pem")).unwrap();
    let mut o = SnpOptions::new(bundle, UNIX_EPOCH + Duration::from_secs(AT));
    o.nonce = Some(nonce.to_vec());
    VtpmEvidence::new(ev, VtpmOptions::AzSnp(o))
}

#[test]
fn azure_tdx_vtpm_evidence_verifies_as_the_vtpm_root() {
    let r = verify(Evidence::vtpm(tdx(b"challenge"))).unwrap();
    assert!(r.verified, "{:?}", r.failure);
    assert_eq!(r.root, RootKind::Vtpm);
    assert_eq!(r.registers.len(), 24);
    assert!(
        r.chain[0].starts_with("TD quote chained to"),
        "{:?}",
        r.chain
    );
    assert!(
        r.chain.iter().any(|c| c.starts_with("vTPM quote by AK")),
        "{:?}",
        r.chain
    );
    let rule = r.rules.iter().find(|o| o.name == "hardware_chain").unwrap();
    assert_eq!(rule.status, RuleStatus::Pass);
    let j = serde_json::to_value(&r).unwrap();
    assert_eq!(j["root"], "vtpm");
    assert_eq!(j["quote"]["hardware"]["type"], "td_quote");
    assert!(j["provenance"]
        .as_str()
        .unwrap()
        .starts_with("vTPM quote by AK"));
}

#[test]
fn azure_snp_vtpm_evidence_verifies_and_a_broken_link_is_a_rejection() {
    let r = verify(Evidence::vtpm(snp(b"challenge"))).unwrap();
    assert!(r.verified, "{:?}", r.failure);
    let j = serde_json::to_value(&r).unwrap();
    assert_eq!(j["quote"]["hardware"]["type"], "snp_report");

    let r = verify(Evidence::vtpm(snp(b"other"))).unwrap();
    assert!(!r.verified);
    let f = r.failure.unwrap();
    assert_eq!((f.step, f.reason.as_str()), (Step::Root, "wrong_nonce"));

    let mut ev = snp(b"challenge");
    ev.evidence.hcl_report[0x20 + 0x90] ^= 1; // the measurement
    let r = verify(Evidence::vtpm(ev)).unwrap();
    let f = r.failure.unwrap();
    assert_eq!(
        (f.step, f.reason.as_str()),
        (Step::Root, "snp_report_signature")
    );
}

#[test]
fn an_ima_list_of_another_machine_does_not_replay_to_the_vtpms_pcr10() {
    let Some(path) =
        mr_testkit::shared("vectors/ima/ima-evm-utils/sample-ascii_runtime_measurements-pcrs-8-9")
    else {
        return;
    };
    let list = std::fs::read(path).unwrap();
    let r = verify(Evidence::vtpm(tdx(b"challenge")).with_ima(ImaList::from_bytes(list))).unwrap();
    assert!(!r.verified);
    // The root verified (PCR 10 of the vTPM is what the list is replayed against) and the
    // list was refused at the IMA step.
    assert!(r
        .registers
        .iter()
        .any(|v| v.register_value().id == MrId::Pcr(10)
            && v.register_value().value.alg() == HashAlg::Sha256));
    let f = r.failure.unwrap();
    assert_eq!(f.step, Step::Ima, "{}", f.message);
}

/// A vTPM rejection as JSON (`mr quote verify az-*-vtpm --json`): reason and message; an error
/// that is no rejection has none.
#[test]
fn a_vtpm_rejection_renders_its_reason_and_message() {
    let e = mr_vtpm::Error::SnpReportSignature;
    let j = mr_attest::render::vtpm_rejection_json(&e).unwrap();
    assert_eq!(j["verified"], false);
    assert_eq!(j["reason"], e.reason());
    assert_eq!(j["message"], e.to_string());
    let usage = mr_vtpm::Error::Usage("no nonce".into());
    assert!(mr_attest::render::vtpm_rejection_json(&usage).is_none());
}
