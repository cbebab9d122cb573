//! mr's verdicts on the generated cases (the entries that must fail, by construction), the deny
//! list, and the reasons reported.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{cases, ima_signature, keyid, keys, sha256, CaseBuilder, Signer};
use mr_core::log::ima::{ImaReader, ImaReaderOptions};
use mr_policy::{
    appraise_list, AppraiseOptions, DenyList, FailureReason, ListAppraisal, RuntimePolicy,
};

fn run(list: &[u8], policy: &serde_json::Value, options: AppraiseOptions) -> ListAppraisal {
    let policy = RuntimePolicy::from_json(policy.to_string().as_bytes()).unwrap();
    let mut reader = ImaReader::new(list, ImaReaderOptions::default());
    appraise_list(&mut reader, &policy, options).unwrap()
}

fn failing(a: &ListAppraisal) -> Vec<u64> {
    a.failures.iter().map(|f| f.number).collect()
}

#[test]
fn generated_cases_fail_exactly_the_expected_entries() {
    for case in cases() {
        let result = run(&case.list, &case.policy, AppraiseOptions::default());
        assert_eq!(failing(&result), case.expected, "case {}", case.name);
        assert_eq!(
            result.failed,
            case.expected.len() as u64,
            "case {}",
            case.name
        );
        assert_eq!(
            result.is_allowed(),
            case.expected.is_empty(),
            "case {}",
            case.name
        );
    }
}

#[test]
fn binary_and_ascii_lists_get_the_same_verdicts() {
    // The same entries written as a binary list.
    let mut c = CaseBuilder::new();
    c.list = mr_core::log::ima::builder::ImaListBuilder::binary();
    c.list.boot_aggregate("ima-ng", &sha256(b"pcrs 0-9"));
    let d = c.file("/a", b"a", false);
    c.allow("/a", d.as_bytes());
    c.file("/b", b"b", true);
    let case = c.finish("binary");
    assert_eq!(
        failing(&run(&case.list, &case.policy, AppraiseOptions::default())),
        vec![3]
    );
}

#[test]
fn reasons_name_what_failed() {
    let k = keys();
    let mut c = CaseBuilder::new();
    c.verification_keys = vec![k.rsa_spki.clone()];
    c.file("/missing", b"m", true);
    c.allow("/changed", sha256(b"old").as_bytes());
    c.file("/changed", b"new", true);
    let sig = ima_signature(
        Signer::Rsa,
        sha256(b"s").as_bytes(),
        2,
        keyid(&k.rsa_spki) ^ 7,
    );
    c.signed("/signed", b"s", &sig, true);
    c.violation("/v");
    let case = c.finish("reasons");
    let r = run(&case.list, &case.policy, AppraiseOptions::default());
    let reasons: Vec<(&str, &str, &str)> = r
        .failures
        .iter()
        .map(|f| (f.path.as_str(), f.template.as_str(), f.reason.code()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("/missing", "ima-ng", "not-in-policy"),
            ("/changed", "ima-ng", "digest-mismatch"),
            ("/signed", "ima-sig", "bad-signature"),
            ("/v", "ima-ng", "violation"),
        ]
    );
    let FailureReason::BadSignature { signature, policy } = &r.failures[2].reason else {
        panic!("not a bad signature");
    };
    assert!(signature.contains("no key with id"), "{signature}");
    assert_eq!(**policy, FailureReason::NotInPolicy);
    assert_eq!(
        r.failures[1].reason,
        FailureReason::DigestMismatch {
            got: hex::encode(sha256(b"new").as_bytes())
        }
    );
}

#[test]
fn deny_list_overrides_allow_list_signatures_and_excludes() {
    let k = keys();
    let mut c = CaseBuilder::new();
    c.verification_keys = vec![k.rsa_spki.clone()];
    c.excludes = vec!["/excluded".into()];
    let d = c.file("/usr/bin/listed", b"evil", true);
    c.allow("/usr/bin/listed", d.as_bytes());
    let sig = ima_signature(
        Signer::Rsa,
        sha256(b"evil").as_bytes(),
        2,
        keyid(&k.rsa_spki),
    );
    c.signed("/usr/bin/signed", b"evil", &sig, true);
    c.file("/excluded/x", b"evil", true);
    let d = c.file("/usr/bin/fine", b"good", false);
    c.allow("/usr/bin/fine", d.as_bytes());
    let case = c.finish("deny");
    // Without the deny list only the unlisted entries would fail.
    assert!(run(&case.list, &case.policy, AppraiseOptions::default()).is_allowed());
    let deny = DenyList::parse(&format!(
        "# known bad\n\nsha256:{}\n{}\n",
        hex::encode(sha256(b"evil").as_bytes()),
        hex::encode(sha256(b"unrelated").as_bytes()).to_uppercase()
    ))
    .unwrap();
    assert_eq!(deny.len(), 2);
    let r = run(
        &case.list,
        &case.policy,
        AppraiseOptions {
            deny_list: Some(deny),
            ..AppraiseOptions::default()
        },
    );
    assert_eq!(failing(&r), case.expected);
    assert!(r.failures.iter().all(|f| f.reason.code() == "denied"));
}

#[test]
fn malformed_deny_lists_are_refused_naming_the_line() {
    for (text, line) in [
        ("zz\n", 1),
        ("\n# c\nabcd\n", 3),
        (&"a".repeat(130) as &str, 1),
    ] {
        match DenyList::parse(text) {
            Err(mr_policy::PolicyError::DenyList { line: l, .. }) => assert_eq!(l, line, "{text}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

#[test]
fn boot_aggregates_from_the_verifier_are_accepted() {
    let mut c = CaseBuilder::new();
    c.digests.clear();
    c.expected.push(1);
    let case = c.finish("boot-aggregate");
    assert_eq!(
        failing(&run(&case.list, &case.policy, AppraiseOptions::default())),
        vec![1]
    );
    let r = run(
        &case.list,
        &case.policy,
        AppraiseOptions {
            boot_aggregates: vec![sha256(b"pcrs 0-9").as_bytes().to_vec()],
            ..AppraiseOptions::default()
        },
    );
    assert!(r.is_allowed());
    let r = run(
        &case.list,
        &case.policy,
        AppraiseOptions {
            boot_aggregates: vec![sha256(b"other").as_bytes().to_vec()],
            ..AppraiseOptions::default()
        },
    );
    assert_eq!(r.failures[0].reason.code(), "digest-mismatch");
}

#[test]
fn a_tampered_template_digest_is_rejected() {
    let mut c = CaseBuilder::new();
    let d = c.file("/a", b"a", false);
    c.allow("/a", d.as_bytes());
    let case = c.finish("tampered");
    let text = String::from_utf8(case.list).unwrap();
    // Change the path in the second line without fixing its template digest.
    let tampered = text.replacen(" /a", " /b", 1);
    let mut policy = case.policy.clone();
    policy["digests"]["/b"] = policy["digests"]["/a"].clone();
    let r = run(tampered.as_bytes(), &policy, AppraiseOptions::default());
    assert_eq!(failing(&r), vec![2]);
    assert_eq!(r.failures[0].reason, FailureReason::TemplateDigest);
}

/// A policy document written as text (duplicate names and escapes are not expressible through
/// `serde_json::Value`).
fn policy_text(digests: &str) -> String {
    format!(
        r#"{{"meta": {{"version": 1, "generator": 1}}, "release": 0, "digests": {{{digests}}},
        "excludes": [], "keyrings": {{}}, "ima": {{"ignored_keyrings": [], "log_hash_alg": "sha1",
        "dm_policy": null}}, "ima-buf": {{}}, "verification-keys": ""}}"#
    )
}

#[test]
fn policy_tables_keep_each_name_and_digest_exactly() {
    let mut c = CaseBuilder::new();
    let h = |content: &[u8]| hex::encode(sha256(content).as_bytes());
    let agg = hex::encode(sha256(b"pcrs 0-9").as_bytes());
    c.file("/a", b"a", false); // second of two digests of different lengths
    c.file("/b", b"b", true); // only an odd-length digest: never matches
    c.file("/c", b"c", false); // given twice: the last list counts
    c.file("/d", b"d", true); // given twice: the last list counts
    c.file("/e", b"e", false); // name written with escapes
    c.file("/\u{e9}t\u{e9}", b"f", false); // non-ASCII name, escaped
    c.file("/f2", b"f2", true); // the policy names /f only
    c.file("/g", b"g", true); // the policy names /g2 only
    let odd = &h(b"b")[..63];
    let digests = format!(
        r#""boot_aggregate": ["{agg}"], "/a": ["{sha1}", "{a}"], "/b": ["{odd}"],
        "/c": ["{zero}"], "/c": ["{c}"], "/d": ["{d}"], "/d": ["{zero}"],
        "\u002f\u0065": ["{e}"], "/\u00e9t\u00e9": ["{f}"], "/f": ["{f2}"], "/g2": ["{g}"]"#,
        sha1 = "11".repeat(20),
        a = h(b"a"),
        zero = "00".repeat(32),
        c = h(b"c"),
        d = h(b"d"),
        e = h(b"e"),
        f = h(b"f"),
        f2 = h(b"f2"),
        g = h(b"g"),
    );
    let text = policy_text(&digests);
    let policy = RuntimePolicy::from_json(text.as_bytes()).unwrap();
    assert_eq!(policy.paths(), 9);
    let case = c.finish("tables");
    let mut reader = ImaReader::new(&case.list[..], ImaReaderOptions::default());
    let result = appraise_list(&mut reader, &policy, AppraiseOptions::default()).unwrap();
    assert_eq!(failing(&result), case.expected);
    let reasons: Vec<&str> = result.failures.iter().map(|f| f.reason.code()).collect();
    assert_eq!(
        reasons,
        [
            "digest-mismatch",
            "digest-mismatch",
            "not-in-policy",
            "not-in-policy"
        ]
    );

    // Digests the schema refuses: upper case, too short, too long, a non-hex digit in either
    // half of a byte or as an odd last digit, an empty list, a non-string.
    let bad = [
        format!("\"{}\"", "AB".repeat(20)),
        format!("\"{}\"", "a".repeat(39)),
        format!("\"{}\"", "a".repeat(130)),
        format!("\"{}g{}\"", "a".repeat(20), "a".repeat(21)),
        format!("\"{}g\"", "a".repeat(41)),
        format!("\"{}g\"", "a".repeat(40)),
        format!("\"{} \"", "a".repeat(40)),
        String::new(),
        "5".to_owned(),
    ];
    for digest in bad {
        let text = policy_text(&format!(r#""/x": [{digest}]"#));
        let r = RuntimePolicy::from_json(text.as_bytes());
        assert!(
            matches!(r, Err(mr_policy::PolicyError::Schema { .. })),
            "{digest}: {r:?}"
        );
    }
}

/// `appraise_list` looks the entries up several at a time; `Appraiser::appraise` (what
/// `mr verify` calls for each verified entry) one by one. Both must give every entry the same
/// verdict, and the list loop must report the failures in list order, on every generated case
/// (ASCII and binary) repeated so that lookups wait in full and partial batches between
/// entries decided without one (signatures, keys, violations, excluded paths, denied digests,
/// boot aggregates).
#[test]
fn one_appraisal_per_entry_gives_the_list_loop_s_verdicts_in_order() {
    use mr_core::log::ima::ListKind;
    use mr_policy::{Appraiser, EntryFailure, Verdict};
    let deny = format!("{}\n", hex::encode(sha256(b"/usr/bin/tool2").as_bytes()));
    let options = AppraiseOptions {
        deny_list: Some(DenyList::parse(&deny).unwrap()),
        boot_aggregates: vec![sha256(b"other pcrs").as_bytes().to_vec()],
    };
    for kind in [ListKind::Ascii, ListKind::Binary] {
        for case in common::cases_in(kind) {
            let policy = RuntimePolicy::from_json(case.policy.to_string().as_bytes()).unwrap();
            for copies in [1, 3, 40] {
                let list = case.list.repeat(copies);
                let mut reader = ImaReader::new(&list[..], ImaReaderOptions::default());
                let batched = appraise_list(&mut reader, &policy, options.clone()).unwrap();

                let mut appraiser = Appraiser::new(&policy, options.clone());
                let mut reader = ImaReader::new(&list[..], ImaReaderOptions::default());
                let mut one_by_one = ListAppraisal::default();
                while let Some(entry) = reader.next_entry().unwrap() {
                    one_by_one.entries += 1;
                    if let Verdict::Rejected(reason) = appraiser.appraise(entry) {
                        one_by_one.failed += 1;
                        one_by_one.failures.push(EntryFailure {
                            number: entry.index() + 1,
                            path: entry.event_name().unwrap_or_default().to_owned(),
                            template: entry.template_name().to_owned(),
                            reason,
                        });
                    }
                }
                assert_eq!(batched, one_by_one, "case {} x{copies}", case.name);
            }
        }
    }
}
