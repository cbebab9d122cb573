//! The TD rules of an appraisal policy on verified quotes, at their boundaries: a simulated TD
//! whose attributes carry SEPT_VE_DISABLE is refused by a policy forbidding that bit and passes
//! one requiring it (and the TD without it the reverse); a real DCAP quote ($MR_SHARED,
//! dcap-qvl's sample) passes when the oldest accepted collateral date is its collateral's issue
//! date and is refused one second later.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use mr_attest::{verify, AttestationResult, Evidence, RuleStatus, Step, TdQuoteEvidence};
use mr_policy::AppraisalPolicy;
use mr_rtmr::quote::{Collateral, VerifyOptions};
use mr_rtmr::sim::quote::{QuoteFormat, TestQuoteSigner};
use mr_testkit::td::{measurements, AT};
use serde_json::{json, Value};

/// SEPT_VE_DISABLE: TD attribute bit 28 (bit 4 of the fourth byte of the quote's field).
const SEPT_VE_DISABLE: [u8; 8] = [0, 0, 0, 0x10, 0, 0, 0, 0];

fn policy(doc: Value) -> AppraisalPolicy {
    AppraisalPolicy::from_json(doc.to_string().as_bytes(), Path::new("."))
        .unwrap_or_else(|e| panic!("{doc}: {e}"))
}

/// `td_attributes` rules alone (the simulated quote has no collateral).
fn attributes_policy(rule: Value) -> AppraisalPolicy {
    policy(json!({"version": 1, "td": {
        "td_attributes": rule,
        "tcb": {"require_collateral": false},
    }}))
}

/// A quote of a simulated TD with `attributes`, verified and appraised under `p`.
fn simulated_td(attributes: [u8; 8], p: AppraisalPolicy) -> AttestationResult {
    let signer = TestQuoteSigner::new()
        .unwrap()
        .with_td_attributes(attributes);
    let quote = signer
        .quote_as(
            &measurements([1; 48], [[2; 48]; 4], b"nonce"),
            QuoteFormat::V4Td10,
        )
        .unwrap();
    let options = VerifyOptions::at_unix(AT).with_root_der(signer.root_der());
    verify(Evidence::td(TdQuoteEvidence::new(quote, options)).with_policy(p)).unwrap()
}

fn attributes_rule(r: &AttestationResult) -> &mr_attest::RuleOutcome {
    r.rule("td.td_attributes")
        .unwrap_or_else(|| panic!("no td.td_attributes in {:?}", r.rules))
}

#[test]
fn a_forbidden_td_attribute_refuses_the_quote_and_a_required_one_passes_it() {
    let bit = hex::encode(SEPT_VE_DISABLE);
    let forbidden = json!({ "forbidden": bit });
    let required = json!({ "required": bit });

    let r = simulated_td(SEPT_VE_DISABLE, attributes_policy(forbidden.clone()));
    assert!(!r.verified, "a TD with a forbidden attribute verified");
    let f = r.failure.as_ref().unwrap();
    assert_eq!(f.step, Step::Appraisal);
    assert!(f.message.contains("td.td_attributes"), "{}", f.message);
    let a = attributes_rule(&r);
    assert_eq!(a.status, RuleStatus::Fail);
    assert!(
        a.detail.contains(&format!("forbidden bits {bit} set")),
        "{}",
        a.detail
    );
    let r = simulated_td(SEPT_VE_DISABLE, attributes_policy(required.clone()));
    assert!(r.verified, "{:?}", r.failure);
    assert_eq!(attributes_rule(&r).status, RuleStatus::Pass);
    let r = simulated_td(SEPT_VE_DISABLE, attributes_policy(json!({ "value": bit })));
    assert!(r.verified, "{:?}", r.failure);

    // The TD without the bit: the reverse.
    let r = simulated_td([0; 8], attributes_policy(forbidden));
    assert!(r.verified, "{:?}", r.failure);
    assert_eq!(attributes_rule(&r).status, RuleStatus::Pass);
    let r = simulated_td([0; 8], attributes_policy(required));
    assert!(!r.verified);
    let a = attributes_rule(&r);
    assert_eq!(a.status, RuleStatus::Fail);
    assert!(
        a.detail.contains(&format!("required bits {bit} clear")),
        "{}",
        a.detail
    );
}

/// Inside tdx_quote_collateral.json's validity window ($MR_SHARED EXPECTED.json).
const DCAP_NOW: u64 = 1_752_919_234;

fn dcap() -> Option<PathBuf> {
    let v = PathBuf::from(std::env::var_os("MR_SHARED")?).join("vectors/tdx/dcap-qvl");
    v.exists().then_some(v)
}

#[test]
fn collateral_issued_at_the_oldest_accepted_date_passes_and_one_second_later_refuses() {
    let Some(d) = dcap() else {
        eprintln!("MR_SHARED not set: skipped");
        return;
    };
    let collateral_json = std::fs::read(d.join("tdx_quote_collateral.json")).unwrap();
    // The issue dates as the collateral states them (its TCB info and QE identity documents).
    let raw: Value = serde_json::from_slice(&collateral_json).unwrap();
    let issued = |part: &str| -> String {
        let doc: Value = serde_json::from_str(raw[part].as_str().unwrap()).unwrap();
        doc["issueDate"].as_str().unwrap().to_owned()
    };
    // Both are whole-second UTC dates (`YYYY-MM-DDTHH:MM:SSZ`), so they order as text.
    let oldest = issued("tcb_info").min(issued("qe_identity"));
    assert!(oldest.len() == 20 && oldest.ends_with('Z'), "{oldest}");
    // One second later (the vector's seconds are below 59: no carry).
    let seconds: u8 = oldest[17..19].parse().unwrap();
    assert!(seconds < 59, "{oldest}");
    let one_second_later = format!("{}{:02}Z", &oldest[..17], seconds + 1);
    let appraise = |not_before: &str| {
        let options = VerifyOptions::at_unix(DCAP_NOW)
            .with_root_der(std::fs::read(d.join("TrustedRootCA.der")).unwrap())
            .with_collateral(Collateral::from_json(&collateral_json).unwrap());
        let q = TdQuoteEvidence::new(std::fs::read(d.join("tdx_quote")).unwrap(), options);
        let p = policy(json!({"version": 1, "td": {"tcb": {"collateral_not_before": not_before}}}));
        verify(Evidence::td(q).with_policy(p)).unwrap()
    };
    let r = appraise(&oldest);
    assert!(r.verified, "{:?}", r.failure);
    assert_eq!(
        r.rule("td.collateral_date").unwrap().status,
        RuleStatus::Pass
    );
    let r = appraise(&one_second_later);
    assert!(!r.verified);
    let rule = r.rule("td.collateral_date").unwrap();
    assert_eq!(rule.status, RuleStatus::Fail);
    assert!(
        rule.detail
            .contains(&format!("issued {oldest} before {one_second_later}")),
        "{}",
        rule.detail
    );
}
