//! The appraisal policy applied by `verify`: platform rules on the repository's evidence
//! (`examples/evidence`: a swtpm quote over PCR 10, a simulated TD quote with the journal of
//! `mr_ima`), on a real DCAP quote with its collateral ($MR_SHARED), and the IMA runtime policy
//! on covered and uncovered entries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use mr_attest::{
    verify, AttestationResult, Evidence, ImaList, Journal, RuleStatus, Step, TdQuoteEvidence,
    TpmQuoteEvidence, TrustTier, VerifierId,
};
use mr_core::log::ima::builder::ImaListBuilder;
use mr_core::log::ima::ImaReplayConfig;
use mr_core::log::ima::{FieldValue, ImaReader, ImaReaderOptions};
use mr_core::{ComputeOnly, HashAlg, MrId};
use mr_policy::create::PolicyBuilder;
use mr_policy::{AppraisalPolicy, DenyList};
use mr_rtmr::quote::{Collateral, VerifyOptions};
use mr_testkit::example::{hex_file, list, pcrs, read, td_options};
use serde_json::{json, Value};

fn tpm_quote() -> TpmQuoteEvidence {
    TpmQuoteEvidence::new(
        read("examples/evidence/tpm/quote.attest"),
        read("examples/evidence/tpm/quote.sig"),
        read("examples/evidence/tpm/ak.pub"),
    )
    .with_nonce(hex_file("examples/evidence/tpm/nonce.hex"))
    .with_pcrs(pcrs())
}

fn policy(doc: Value) -> AppraisalPolicy {
    AppraisalPolicy::from_json(doc.to_string().as_bytes(), Path::new("."))
        .unwrap_or_else(|e| panic!("{doc}: {e}"))
}

/// A runtime policy allowing every file, key and buffer of `list`.
fn runtime_policy_of(list: &[u8]) -> Value {
    let mut b = PolicyBuilder::new();
    b.add_list(&mut ImaReader::new(list, ImaReaderOptions::default()))
        .unwrap();
    b.to_json()
}

fn tpm(list: Vec<u8>, policy: AppraisalPolicy) -> AttestationResult {
    verify(
        Evidence::tpm(tpm_quote())
            .with_ima(ImaList::from_bytes(list))
            .with_policy(policy),
    )
    .unwrap()
}

fn rule<'a>(r: &'a AttestationResult, name: &str) -> &'a mr_attest::RuleOutcome {
    r.rule(name)
        .unwrap_or_else(|| panic!("no rule {name} in {:?}", r.rules))
}

/// The file digest and path of the 1-based entry `n` of `list`.
fn entry_digest(list: &[u8], n: u64) -> (Vec<u8>, String) {
    let mut reader = ImaReader::new(list, ImaReaderOptions::default());
    while let Some(e) = reader.next_entry().unwrap() {
        if e.index() + 1 == n {
            let digest = e
                .fields()
                .find_map(|f| match f.value() {
                    FieldValue::Digest(d) => Some(d.digest.to_vec()),
                    FieldValue::RawDigest(d) => Some(d.to_vec()),
                    _ => None,
                })
                .unwrap();
            return (digest, e.event_name().unwrap().to_owned());
        }
    }
    panic!("no entry {n}");
}

/// A list of a `boot_aggregate` and `n` files, in the SHA-256 bank.
fn built_list(n: usize) -> Vec<u8> {
    let mut b = ImaListBuilder::binary();
    b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"boot"));
    for i in 0..n {
        let path = format!("/usr/bin/tool-{i}");
        b.ima_ng(10, &HashAlg::Sha256.hash(path.as_bytes()), &path);
    }
    b.finish()
}

/// A software-signed TPM quote over PCRs 0-7 and PCR 10 as `quoted` (a list) extends it; the
/// evidence carries `list` (which may run ahead of the quote).
fn software_tpm(quoted: &[u8], list: Vec<u8>, policy: AppraisalPolicy) -> AttestationResult {
    use mr_testkit::tpm::{
        ecc_key, ecc_tpmt_public, ecdsa_signature, pcr_values, quote_attest, RESTRICTED_SIGNING,
        TPM_ALG_ECDSA, TPM_ALG_SHA256,
    };
    let cfg = ImaReplayConfig::default().with_banks([HashAlg::Sha256]);
    let report = mr_core::log::ima::replay(quoted, &cfg, &ComputeOnly).unwrap();
    let mut pcrs = pcr_values(&[0, 1, 2, 3, 4, 5, 6, 7]);
    pcrs.extend(report.outcome.registers.iter().cloned());
    let nonce = [0x5a; 32];
    let attest = quote_attest(&nonce, &pcrs).marshal();
    let key = ecc_key(7);
    let q = TpmQuoteEvidence::new(
        attest.clone(),
        ecdsa_signature(&key, &attest, HashAlg::Sha256),
        ecc_tpmt_public(&key, RESTRICTED_SIGNING, TPM_ALG_ECDSA, TPM_ALG_SHA256),
    )
    .with_nonce(nonce.to_vec())
    .with_pcrs(pcrs);
    verify(
        Evidence::tpm(q)
            .with_ima(ImaList::from_bytes(list))
            .with_policy(policy),
    )
    .unwrap()
}

#[test]
fn a_list_its_policy_allows_verifies_and_every_covered_entry_is_appraised() {
    let l = built_list(40);
    let p = policy(json!({"version": 1, "runtime_policy": runtime_policy_of(&l)}));
    let r = software_tpm(&l, l.clone(), p);
    assert!(r.verified, "{:?}", r.failure);
    assert_eq!(rule(&r, "ima.runtime_policy").status, RuleStatus::Pass);
    let rt = r.appraisal.as_ref().unwrap().runtime.as_ref().unwrap();
    assert_eq!(rt.covered, 41);
    assert_eq!(
        rt.covered,
        r.ima
            .as_ref()
            .unwrap()
            .replay
            .outcome
            .covered_entries()
            .unwrap(),
        "the appraiser counts the covered entries the replay counts"
    );
    assert_eq!((rt.failed, rt.not_covered), (0, 0));
    let ear = r.to_ear(0, VerifierId::mr(), None);
    assert_eq!(ear.submods["tpm"].trust_vector.executables, Some(2));
}

#[test]
fn a_covered_entry_the_policy_rejects_rejects_the_evidence() {
    let l = built_list(40);
    let (digest, path) = entry_digest(&l, 5);
    let p = policy(json!({"version": 1, "runtime_policy": runtime_policy_of(&l)}))
        .with_deny_list(DenyList::from_digests(&[hex::encode(&digest)]).unwrap());
    let r = software_tpm(&l, l.clone(), p);
    assert!(!r.verified);
    let f = r.failure.as_ref().unwrap();
    assert_eq!(f.step, Step::Appraisal);
    assert_eq!(f.entry, Some(4));
    assert!(f.message.contains(&path), "{}", f.message);
    assert_eq!(rule(&r, "ima.runtime_policy").status, RuleStatus::Fail);
    let rt = r.appraisal.as_ref().unwrap().runtime.as_ref().unwrap();
    assert_eq!(rt.failed, 1);
    assert_eq!(rt.failures[0].number, 5);
    assert_eq!(rt.failures[0].reason.code(), "denied");
    let ear = r.to_ear(0, VerifierId::mr(), None);
    assert_eq!(ear.submods["tpm"].status, TrustTier::Contraindicated);
    assert_eq!(ear.submods["tpm"].trust_vector.executables, Some(96));

    // A covered entry the policy does not know: unrecognized, not contraindicated.
    let smaller = runtime_policy_of(&built_list(30));
    let r = software_tpm(
        &l,
        l.clone(),
        policy(json!({"version": 1, "runtime_policy": smaller})),
    );
    assert!(!r.verified);
    let rt = r.appraisal.as_ref().unwrap().runtime.as_ref().unwrap();
    assert_eq!(rt.failed, 10);
    assert_eq!(rt.failures[0].number, 32);
    assert_eq!(rt.failures[0].reason.code(), "not-in-policy");
    let ear = r.to_ear(0, VerifierId::mr(), None);
    assert_eq!(ear.submods["tpm"].trust_vector.executables, Some(33));
}

#[test]
fn an_uncovered_entry_the_policy_rejects_does_not_change_the_verdict() {
    let quoted = built_list(40);
    let allowed = runtime_policy_of(&quoted);
    // An entry appended after the quote: no verified value covers it.
    let mut b = ImaListBuilder::binary();
    b.ima_ng(10, &HashAlg::Sha256.hash(b"evil"), "/usr/bin/evil");
    let mut longer = quoted.clone();
    longer.extend_from_slice(&b.finish());
    let r = software_tpm(
        &quoted,
        longer,
        policy(json!({"version": 1, "runtime_policy": allowed})),
    );
    assert!(r.verified, "{:?}", r.failure);
    assert_eq!(r.ima.as_ref().unwrap().replay.outcome.left_over(), 1);
    let rt = r.appraisal.as_ref().unwrap().runtime.as_ref().unwrap();
    assert_eq!((rt.covered, rt.failed), (41, 0));
    assert_eq!(rt.not_covered, 1);
    assert_eq!(
        rt.not_covered_failed, 1,
        "reported as not covered, not counted"
    );
    assert!(rule(&r, "ima.runtime_policy")
        .detail
        .contains("1 entries not covered"));
}

#[test]
fn pcr_reference_values_pass_and_fail_with_the_values_compared() {
    let pcr10 = pcrs()
        .into_iter()
        .find(|v| v.id == MrId::Pcr(10) && v.value.alg() == HashAlg::Sha256)
        .unwrap();
    let good = json!({"version": 1, "tpm": {"pcrs": {"sha256": {"10": [pcr10.value.to_hex()]}}}});
    let r = tpm(list(), policy(good));
    assert!(r.verified, "{:?}", r.failure);
    assert_eq!(rule(&r, "tpm.pcr").status, RuleStatus::Pass);

    let other = "ab".repeat(32);
    let bad = json!({"version": 1, "tpm": {"pcrs": {"sha256": {"10": [other]}}}});
    let r = tpm(list(), policy(bad));
    assert!(!r.verified);
    let d = &rule(&r, "tpm.pcr").detail;
    assert!(
        d.contains(&pcr10.value.to_hex()) && d.contains(&other),
        "{d}"
    );
    assert!(r.failure.as_ref().unwrap().message.contains("tpm.pcr"));
    // A PCR the quote does not vouch for fails: nothing to compare.
    let unquoted = json!({"version": 1, "tpm": {"pcrs": {"sha256": {"16": [other]}}}});
    let r = tpm(list(), policy(unquoted));
    assert!(!r.verified);
    // Boot-log rules without a boot log fail.
    let r = tpm(
        list(),
        policy(json!({"version": 1, "tpm": {"secure_boot": true}})),
    );
    assert!(!r.verified);
    assert_eq!(rule(&r, "tpm.boot_log").status, RuleStatus::Fail);
    // TD rules alone under a TPM root fail; with TPM rules too, the TPM section applies.
    let r = tpm(list(), policy(json!({"version": 1, "td": {}})));
    assert!(!r.verified);
    assert_eq!(rule(&r, "root").status, RuleStatus::Fail);
    let both = json!({"version": 1, "td": {"mr_td": ["00".repeat(48)]},
                      "tpm": {"pcrs": {"sha256": {"10": [pcr10.value.to_hex()]}}}});
    let r = tpm(list(), policy(both));
    assert!(r.verified, "{:?}", r.failure);
    assert!(r.rule("td.mr_td").is_none());
}

// ---------------------------------------------------------------------------------------------
// TD root: the simulated TD of examples/evidence/td.
// ---------------------------------------------------------------------------------------------

fn td(p: AppraisalPolicy) -> AttestationResult {
    let q = TdQuoteEvidence::new(read("examples/evidence/td/quote.bin"), td_options())
        .with_journal(Journal::from_bytes(read(
            "examples/evidence/td/mr_ima.journal",
        )));
    verify(
        Evidence::td(q)
            .with_ima(ImaList::from_bytes(list()))
            .with_policy(p),
    )
    .unwrap()
}

/// The TD section with `option` set to `value` (and no collateral required: the simulated
/// quote has none).
fn td_doc(option: &str, value: Value) -> Value {
    let mut td = json!({"tcb": {"require_collateral": false}});
    td[option] = value;
    json!({"version": 1, "td": td})
}

#[test]
fn every_td_option_accepts_the_quote_that_meets_it_and_refuses_one_that_breaks_it() {
    let quote = read("examples/evidence/td/quote.bin");
    let q = mr_rtmr::quote::parse(&quote).unwrap();
    let b = q.body().base();
    let h = |b: &[u8]| hex::encode(b);
    let other48 = "ee".repeat(48);
    let min_svn_above = {
        let mut s = b.tee_tcb_svn;
        s[2] = s[2].saturating_add(1);
        h(&s)
    };
    // (option, a value the quote meets, a value it breaks, the rule)
    let cases: Vec<(&str, Value, Value, &str)> = vec![
        ("mr_td", json!([h(&b.mr_td)]), json!([other48]), "td.mr_td"),
        (
            "rtmr0",
            json!([other48, h(&b.rtmr[0])]),
            json!([other48]),
            "td.rtmr0",
        ),
        (
            "rtmr1",
            json!([h(&b.rtmr[1])]),
            json!([other48]),
            "td.rtmr1",
        ),
        (
            "rtmr2",
            json!([h(&b.rtmr[2])]),
            json!([other48]),
            "td.rtmr2",
        ),
        (
            "rtmr3",
            json!([h(&b.rtmr[3])]),
            json!([other48]),
            "td.rtmr3",
        ),
        (
            "mr_config_id",
            json!([h(&b.mr_config_id)]),
            json!([other48]),
            "td.mr_config_id",
        ),
        (
            "mr_owner",
            json!([h(&b.mr_owner)]),
            json!([other48]),
            "td.mr_owner",
        ),
        (
            "mr_owner_config",
            json!([h(&b.mr_owner_config)]),
            json!([other48]),
            "td.mr_owner_config",
        ),
        (
            "mr_seam",
            json!([h(&b.mr_seam)]),
            json!([other48]),
            "td.mr_seam",
        ),
        (
            "mr_signer_seam",
            json!([h(&b.mrsigner_seam)]),
            json!([other48]),
            "td.mr_signer_seam",
        ),
        (
            "report_data",
            json!([h(&b.report_data)]),
            json!(["00".repeat(64)]),
            "td.report_data",
        ),
        (
            "td_attributes",
            json!({"value": h(&b.td_attributes)}),
            json!({"value": "0100000000000000"}),
            "td.td_attributes",
        ),
        (
            "td_attributes",
            json!({"forbidden": "0100000010000000"}),
            json!({"required": "0000000010000000"}),
            "td.td_attributes",
        ),
        (
            "xfam",
            json!({"value": h(&b.xfam)}),
            json!({"value": "ffffffffffffffff"}),
            "td.xfam",
        ),
        (
            "xfam",
            json!({"value": "e700000000000000", "mask": "ff00000000000000"}),
            json!({"value": "0000000000000000", "mask": "0100000000000000"}),
            "td.xfam",
        ),
        (
            "minimum_tee_tcb_svn",
            json!(h(&b.tee_tcb_svn)),
            json!(min_svn_above),
            "td.tee_tcb_svn",
        ),
        ("minimum_qe_svn", json!(0), json!(1), "td.qe_svn"),
        ("minimum_pce_svn", json!(0), json!(1), "td.pce_svn"),
        (
            "qe_vendor_id",
            json!(h(&q.header().qe_vendor_id)),
            json!("00".repeat(16)),
            "td.qe_vendor_id",
        ),
    ];
    for (option, meets, breaks, name) in cases {
        let r = td(policy(td_doc(option, meets.clone())));
        assert!(r.verified, "{option} = {meets}: {:?}", r.failure);
        assert_eq!(
            rule(&r, name).status,
            RuleStatus::Pass,
            "{option} = {meets}"
        );

        let r = td(policy(td_doc(option, breaks.clone())));
        assert!(!r.verified, "{option} = {breaks} accepted");
        let f = r.failure.as_ref().unwrap();
        assert_eq!(f.step, Step::Appraisal);
        assert!(f.message.contains(name), "{}", f.message);
        assert_eq!(
            rule(&r, name).status,
            RuleStatus::Fail,
            "{option} = {breaks}"
        );
    }
}

#[test]
fn without_collateral_the_default_tcb_rule_refuses_and_claims_follow() {
    let r = td(policy(json!({"version": 1, "td": {}})));
    assert!(!r.verified);
    let t = rule(&r, "td.tcb_status");
    assert_eq!(t.status, RuleStatus::Fail);
    assert!(t.detail.contains("no collateral"), "{}", t.detail);
    let ear = r.to_ear(0, VerifierId::mr(), None);
    assert_eq!(ear.submods["td"].trust_vector.hardware, Some(96));

    let r = td(policy(td_doc("mr_config_id", json!(["ee".repeat(48)]))));
    let ear = r.to_ear(0, VerifierId::mr(), None);
    assert_eq!(ear.submods["td"].trust_vector.configuration, Some(96));
    assert_eq!(ear.submods["td"].status, TrustTier::Contraindicated);
}

#[test]
fn a_covered_violation_in_the_td_list_rejects_the_evidence() {
    // The example list has a ToMToU violation (entry 501), which keylime's semantics reject;
    // mr_ima covers it, so the TD is rejected naming it.
    let l = list();
    let r = td(policy(json!({
        "version": 1,
        "td": {"tcb": {"require_collateral": false}},
        "runtime_policy": runtime_policy_of(&l),
    })));
    assert!(!r.verified);
    let rt = r.appraisal.as_ref().unwrap().runtime.as_ref().unwrap();
    assert_eq!(
        rt.covered,
        r.ima
            .as_ref()
            .unwrap()
            .replay
            .outcome
            .covered_entries()
            .unwrap()
    );
    assert_eq!(rt.failed, 1);
    assert_eq!(rt.failures[0].number, 501);
    assert_eq!(rt.failures[0].reason.code(), "violation");
    assert_eq!(r.failure.as_ref().unwrap().entry, Some(500));
}

// ---------------------------------------------------------------------------------------------
// A real DCAP quote with its collateral (dcap-qvl's sample: UpToDate, no advisories).
// ---------------------------------------------------------------------------------------------

/// Inside tdx_quote_collateral.json's validity window ($MR_SHARED EXPECTED.json).
const DCAP_NOW: u64 = 1_752_919_234;

fn dcap() -> Option<PathBuf> {
    let v = PathBuf::from(std::env::var_os("MR_SHARED")?).join("vectors/tdx/dcap-qvl");
    v.exists().then_some(v)
}

fn dcap_verify(d: &Path, p: AppraisalPolicy) -> AttestationResult {
    let collateral =
        Collateral::from_json(&std::fs::read(d.join("tdx_quote_collateral.json")).unwrap())
            .unwrap();
    let options = VerifyOptions::at_unix(DCAP_NOW)
        .with_root_der(std::fs::read(d.join("TrustedRootCA.der")).unwrap())
        .with_collateral(collateral);
    let q = TdQuoteEvidence::new(std::fs::read(d.join("tdx_quote")).unwrap(), options);
    verify(Evidence::td(q).with_policy(p)).unwrap()
}

#[test]
fn a_real_quote_passes_its_reference_values_and_fails_stricter_tcb_rules() {
    let Some(d) = dcap() else {
        eprintln!("MR_SHARED not set: skipped");
        return;
    };
    let quote = std::fs::read(d.join("tdx_quote")).unwrap();
    let q = mr_rtmr::quote::parse(&quote).unwrap();
    let mr_td = hex::encode(q.mr_td());
    let good = json!({"version": 1, "td": {
        "mr_td": [mr_td],
        "tcb": {"collateral_not_before": "2025-01-01T00:00:00Z"},
    }});
    let r = dcap_verify(&d, policy(good));
    assert!(r.verified, "{:?}", r.failure);
    assert!(rule(&r, "td.tcb_status").detail.contains("UpToDate"));
    let date = &rule(&r, "td.collateral_date").detail;
    assert!(
        date.contains("tcb_info") && date.contains("qe_identity"),
        "{date}"
    );
    let ear = r.to_ear(0, VerifierId::mr(), None);
    assert_eq!(ear.submods["td"].status, TrustTier::Affirming);

    for (doc, name) in [
        (
            json!({"version": 1, "td": {"tcb": {"statuses": ["OutOfDate"]}}}),
            "td.tcb_status",
        ),
        (
            json!({"version": 1, "td": {"tcb": {"collateral_not_before": "2030-01-01T00:00:00Z"}}}),
            "td.collateral_date",
        ),
        (
            json!({"version": 1, "td": {"mr_td": ["00".repeat(48)]}}),
            "td.mr_td",
        ),
    ] {
        let r = dcap_verify(&d, policy(doc.clone()));
        assert!(!r.verified, "{doc}");
        assert_eq!(rule(&r, name).status, RuleStatus::Fail, "{doc}");
    }
}
