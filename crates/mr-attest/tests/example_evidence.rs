//! The verifier on the evidence the repository ships (`examples/evidence`, made by
//! `examples/make_evidence.rs`: a swtpm quote over PCR 10 and a simulated TD quote with the
//! journal of `mr_ima`), and on edits of it: every step's rejection names its step, rule,
//! register and entry, and the EAR claims follow.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_attest::{
    verify, AttestationResult, Error, Evidence, ImaList, Journal, RuleStatus, Step,
    TdQuoteEvidence, TpmQuoteEvidence, TrustTier, VerifierId,
};

use mr_core::MrId;
use mr_rtmr::quote::VerifyOptions;
use mr_testkit::example::{hex_file, list, pcrs, read, tampered_list, td_options};

fn tpm_quote() -> TpmQuoteEvidence {
    TpmQuoteEvidence::new(
        read("examples/evidence/tpm/quote.attest"),
        read("examples/evidence/tpm/quote.sig"),
        read("examples/evidence/tpm/ak.pub"),
    )
    .with_nonce(hex_file("examples/evidence/tpm/nonce.hex"))
}

fn journal() -> Journal {
    Journal::from_bytes(read("examples/evidence/td/mr_ima.journal"))
}

fn td(options: VerifyOptions, journal: Journal, list: Vec<u8>) -> AttestationResult {
    let q =
        TdQuoteEvidence::new(read("examples/evidence/td/quote.bin"), options).with_journal(journal);
    verify(Evidence::td(q).with_ima(ImaList::from_bytes(list))).unwrap()
}

fn tpm(q: TpmQuoteEvidence, list: Vec<u8>) -> AttestationResult {
    verify(Evidence::tpm(q).with_ima(ImaList::from_bytes(list))).unwrap()
}

fn status(r: &AttestationResult, rule: &str) -> Option<RuleStatus> {
    r.rule(rule).map(|o| o.status)
}

#[test]
fn tpm_root_verifies_the_list_against_the_quoted_pcr10() {
    let r = tpm(tpm_quote().with_pcrs(pcrs()), list());
    assert!(r.verified, "{:?}", r.failure);
    assert_eq!(r.register_values(), pcrs());
    let ima = r.ima.as_ref().unwrap();
    assert_eq!(ima.replay.entries, 600);
    assert_eq!(ima.replay.outcome.covered_entries(), Some(600));
    assert_eq!(ima.against, ["pcr10:sha256"]);
    for rule in [
        "signature",
        "nonce",
        "ima_pcr_quoted",
        "pcr_digest",
        "no_tpm",
    ] {
        assert_eq!(status(&r, rule), Some(RuleStatus::Pass), "{rule}");
    }
    assert!(r.chain[0].starts_with("TPM quote by AK "), "{:?}", r.chain);

    let ear = r.to_ear(1_767_225_600, VerifierId::mr(), None);
    let a = &ear.submods["tpm"];
    assert_eq!(a.status, TrustTier::Affirming);
    assert_eq!(a.trust_vector.instance_identity, Some(2));
    // Integrity is not approval: no executables claim without reference values.
    assert_eq!(a.trust_vector.executables, None);
    let j = serde_json::to_value(&ear).unwrap();
    assert_eq!(j["eat_profile"], "tag:github.com,2023:veraison/ear");
    assert_eq!(j["submods"]["tpm"]["ear.status"], "affirming");
    assert_eq!(
        j["submods"]["tpm"]["ear.trustworthiness-vector"]["instance-identity"],
        2
    );
    assert_eq!(
        j["ear.verifier-id"]["build"],
        format!("mr-attest {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn tpm_root_without_pcr_values_checks_the_lists_final_values_against_the_quote() {
    let r = tpm(tpm_quote(), list());
    assert!(r.verified, "{:?}", r.failure);
    assert_eq!(r.register_values(), pcrs());
    // The list may not run ahead of the quote without quoted values: the list with entries
    // appended (here, itself again) gives other final values.
    let mut longer = list();
    longer.extend_from_slice(&list());
    let r = tpm(tpm_quote(), longer);
    assert!(!r.verified);
    let f = r.failure.as_ref().unwrap();
    assert_eq!(f.reason, "pcr_digest_mismatch");
    assert_eq!(status(&r, "pcr_digest"), Some(RuleStatus::Fail));
}

#[test]
fn tpm_rejections_name_the_step_and_rule() {
    // Another nonce: the root step, rule `nonce`.
    let r = tpm(
        tpm_quote()
            .with_nonce(b"another".to_vec())
            .with_pcrs(pcrs()),
        list(),
    );
    let f = r.failure.as_ref().unwrap();
    assert_eq!((f.step, f.reason.as_str()), (Step::Root, "wrong_nonce"));
    assert_eq!(status(&r, "nonce"), Some(RuleStatus::Fail));
    assert!(r.quote.is_none() && r.registers.is_empty() && r.ima.is_none());
    let ear = r.to_ear(0, VerifierId::mr(), None);
    assert_eq!(ear.submods["tpm"].status, TrustTier::Contraindicated);
    assert_eq!(ear.submods["tpm"].trust_vector.instance_identity, Some(99));

    // A PCR value the quote did not sign: the registers step.
    let mut wrong = pcrs();
    wrong[0].value = wrong[0].value.extended(b"x");
    let r = tpm(tpm_quote().with_pcrs(wrong), list());
    let f = r.failure.as_ref().unwrap();
    assert_eq!(
        (f.step, f.reason.as_str()),
        (Step::Registers, "pcr_digest_mismatch")
    );

    // The IMA list extends a PCR the quote does not select.
    let r = tpm(
        tpm_quote().with_pcrs(pcrs()).with_ima_pcrs(vec![11]),
        list(),
    );
    let f = r.failure.as_ref().unwrap();
    assert_eq!(
        (f.step, f.reason.as_str()),
        (Step::Registers, "ima_pcr_not_quoted")
    );
    assert_eq!(status(&r, "ima_pcr_quoted"), Some(RuleStatus::Fail));

    // An AK in no known format is malformed input, not a verdict.
    let bad = TpmQuoteEvidence::new(
        read("examples/evidence/tpm/quote.attest"),
        read("examples/evidence/tpm/quote.sig"),
        b"not a key".to_vec(),
    );
    let e = verify(Evidence::tpm(bad).with_ima(ImaList::from_bytes(list()))).unwrap_err();
    assert!(matches!(e, Error::Ak(_)), "{e}");
    assert_eq!(e.step(), Step::Root);
}

#[test]
fn a_tampered_entry_is_named_under_both_roots_and_contraindicates_executables() {
    let results = [
        tpm(tpm_quote().with_pcrs(pcrs()), tampered_list()),
        td(td_options(), journal(), tampered_list()),
    ];
    for (r, register) in results.iter().zip(["pcr10", "mr_ima"]) {
        assert!(!r.verified);
        let f = r.failure.as_ref().unwrap();
        assert_eq!(f.step, Step::Ima);
        assert_eq!(f.reason, "ima_replay");
        assert_eq!(f.entry, Some(303), "{}", f.message);
        assert_eq!(f.register.as_deref(), Some(register));
        assert!(f.message.contains("entry 303"), "{}", f.message);
        assert_eq!(f.details.as_ref().unwrap()["bad_entry"]["entry"], 303);
        // The steps before the failure are kept.
        assert!(r.quote.is_some() && !r.registers.is_empty());
        let ear = r.to_ear(0, VerifierId::mr(), None);
        let a = &ear.submods[r.root.name()];
        assert_eq!(a.status, TrustTier::Contraindicated);
        assert_eq!(a.trust_vector.executables, Some(99));
        assert_eq!(a.trust_vector.instance_identity, Some(2));
    }
}

#[test]
fn td_root_verifies_the_list_against_mr_ima_derived_from_rtmr3() {
    let r = td(td_options(), journal(), list());
    assert!(r.verified, "{:?}", r.failure);
    let ids: Vec<String> = r.registers.iter().map(|v| v.id.to_string()).collect();
    assert_eq!(ids, ["rtmr3", "mr_ima"]);
    assert_eq!(r.chain.len(), 2);
    assert!(
        r.chain[0].starts_with("TD quote chained to "),
        "{:?}",
        r.chain
    );
    assert_eq!(r.chain[1], "journal rtmr3 → mr_ima");
    assert!(r
        .provenance
        .as_deref()
        .unwrap()
        .starts_with("derived from TD quote"));
    let j = r.journal.as_ref().unwrap();
    assert_eq!((j.records, j.covered, j.left_over), (600, 600, 0));
    assert_eq!(r.ima.as_ref().unwrap().against, ["mr_ima:sha384"]);
    for rule in ["signature_chain", "nonce", "debug_td", "qe_identity"] {
        assert_eq!(status(&r, rule), Some(RuleStatus::Pass), "{rule}");
    }
    assert_eq!(status(&r, "tcb_status"), Some(RuleStatus::NotEvaluated));

    let ear = r.to_ear(1_767_225_600, VerifierId::mr(), Some("policy/1".into()));
    let a = &ear.submods["td"];
    assert_eq!(a.status, TrustTier::Affirming);
    assert_eq!(a.trust_vector.instance_identity, Some(2));
    assert_eq!(a.trust_vector.hardware, Some(2));
    assert_eq!(a.trust_vector.runtime_opaque, Some(2));
    assert_eq!(a.policy_id.as_deref(), Some("policy/1"));

    let j = serde_json::to_value(&r).unwrap();
    assert_eq!(j["verified"], true);
    assert_eq!(j["root"], "td");
    assert_eq!(j["registers"][1]["id"], "mr_ima");
    assert_eq!(j["ima"]["covered"], 600);
    assert_eq!(j["journal"]["backing"], "rtmr3");
    assert_eq!(j["quote"]["debug_td"], false);
}

#[test]
fn td_rejections_name_the_step_and_rule() {
    // Another nonce.
    let r = td(
        td_options().with_nonce(b"another".to_vec()),
        journal(),
        list(),
    );
    let f = r.failure.as_ref().unwrap();
    assert_eq!((f.step, f.reason.as_str()), (Step::Root, "td_quote"));
    assert_eq!(status(&r, "nonce"), Some(RuleStatus::Fail));

    // A time before the test PKI's validity (2019): the chain does not verify.
    let early = VerifyOptions::at_unix(1_546_300_800)
        .with_root_der(read("examples/evidence/td/root-ca.der"));
    let r = td(early, journal(), list());
    assert_eq!(status(&r, "signature_chain"), Some(RuleStatus::Fail));
    assert_eq!(r.failure.as_ref().unwrap().step, Step::Root);

    // The Intel root instead of the test root.
    let intel = VerifyOptions::at_unix(1_767_225_600);
    let r = td(intel, journal(), list());
    assert!(!r.verified);
    let ear = r.to_ear(0, VerifierId::mr(), None);
    assert_eq!(ear.submods["td"].trust_vector.instance_identity, Some(99));

    // A journal over a register the quote does not have.
    let r = td(td_options(), journal().with_backing(MrId::Pcr(10)), list());
    let f = r.failure.as_ref().unwrap();
    assert_eq!(
        (f.step, f.reason.as_str()),
        (Step::Registers, "backing_not_quoted")
    );

    // A journal whose last record was edited no longer replays to RTMR 3.
    let mut text = String::from_utf8(read("examples/evidence/td/mr_ima.journal")).unwrap();
    let last = text.trim_end().rfind('/').unwrap() + 1;
    let edited = if &text[last..=last] == "0" { "1" } else { "0" };
    text.replace_range(last..=last, edited);
    let r = td(td_options(), Journal::from_bytes(text), list());
    assert!(!r.verified);
    let f = r.failure.as_ref().unwrap();
    assert_eq!(f.step, Step::Journal, "{}", f.message);
    assert_eq!(f.reason, "journal");
    let ear = r.to_ear(0, VerifierId::mr(), None);
    assert_eq!(ear.submods["td"].trust_vector.executables, Some(99));

    // An IMA list under a TD root with neither a journal nor a CCEL: a usage error.
    let q = TdQuoteEvidence::new(read("examples/evidence/td/quote.bin"), td_options());
    let e = verify(Evidence::td(q).with_ima(ImaList::from_bytes(list()))).unwrap_err();
    assert!(matches!(e, Error::Usage(_)), "{e}");
}

#[test]
fn a_boot_log_of_another_boot_does_not_bind_the_list() {
    let Some(v) = mr_testkit::shared("vectors") else {
        return;
    };
    let bios = std::fs::read(v.join("ima/ima-evm-utils/sample-binary_bios_measurements-pcrs-8-9"))
        .unwrap();
    let r = tpm(tpm_quote().with_pcrs(pcrs()).with_boot_log(bios), list());
    assert!(!r.verified);
    let f = r.failure.as_ref().unwrap();
    assert_eq!(
        (f.step, f.reason.as_str()),
        (Step::BootAggregate, "boot_aggregate")
    );
    assert_eq!(f.entry, Some(0));
    assert!(
        f.message
            .contains("boot_aggregate of entry 0 is sha256:7b6436b0"),
        "{}",
        f.message
    );
    assert_eq!(status(&r, "boot_aggregate"), Some(RuleStatus::Fail));
    // The boot log was replayed (the quote selects no boot PCR to compare it with) and the IMA
    // list verified before the binding failed.
    let boot = r.boot_log.as_ref().unwrap();
    assert!(boot.against.is_empty());
    assert!(boot.replay.outcome.entries > 100);
    assert!(r.ima.is_some());
}
