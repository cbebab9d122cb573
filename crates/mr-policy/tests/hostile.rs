//! Hostile runtime policies and lists: each is refused with a typed error or appraised in
//! bounded time, never a panic or a partial policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::CaseBuilder;
use mr_core::log::ima::{ImaReader, ImaReaderOptions};
use mr_policy::{
    appraise_list, AppraiseOptions, ListAppraisal, PolicyError, RuntimePolicy, MAX_EXCLUDE_LEN,
};
use serde_json::json;

#[global_allocator]
static ALLOC: mr_test_alloc::CountingAlloc = mr_test_alloc::CountingAlloc;

/// `appraise_list` of a generated case against its own policy.
fn appraise_case(case: &common::Case) -> ListAppraisal {
    let policy = RuntimePolicy::from_json(case.policy.to_string().as_bytes()).unwrap();
    let mut reader = ImaReader::new(&case.list[..], ImaReaderOptions::default());
    appraise_list(&mut reader, &policy, AppraiseOptions::default()).unwrap()
}

/// The numbers of the failing entries reported.
fn failing(r: &ListAppraisal) -> Vec<u64> {
    r.failures.iter().map(|f| f.number).collect()
}

fn base() -> serde_json::Value {
    CaseBuilder::new().policy()
}

#[test]
fn deeply_nested_json_is_an_error() {
    assert!(matches!(
        RuntimePolicy::from_json("[".repeat(100_000).as_bytes()),
        Err(PolicyError::Schema { .. })
    ));
    // Nested inside a property mr reads, and inside one it skips.
    for key in ["meta", "unknown"] {
        let doc = format!("{{\"{key}\": {}}}", "[".repeat(5000));
        let r = RuntimePolicy::from_json(doc.as_bytes());
        assert!(matches!(r, Err(PolicyError::Json(_))), "{key}: {r:?}");
    }
    // A digests-object is read as it streams by: an array is refused by its type at once,
    // before its depth is looked at.
    let doc = format!("{{\"digests\": {}}}", "[".repeat(5000));
    let r = RuntimePolicy::from_json(doc.as_bytes());
    assert!(
        matches!(&r, Err(PolicyError::Schema { message, .. }) if message.contains("invalid type")),
        "{r:?}"
    );
    let doc = format!("{{\"digests\": {{\"/a\": {}}}}}", "[".repeat(5000));
    let r = RuntimePolicy::from_json(doc.as_bytes());
    assert!(matches!(r, Err(PolicyError::Schema { .. })), "{r:?}");
}

#[test]
fn catastrophic_patterns_match_in_linear_time() {
    // (a+)+$ and friends backtrack exponentially in Python's re; the regex crate is a
    // finite-automaton engine with no backtracking, so matching is linear in the path.
    let mut p = base();
    p["excludes"] = json!(["(a+)+$", "(a|aa)+b", "(.*a){20}x", "([a-z]+)*[0-9]"]);
    let policy = RuntimePolicy::from_json(p.to_string().as_bytes()).unwrap();
    let path = format!("{}!", "a".repeat(4000));
    let t = Instant::now();
    for _ in 0..100 {
        assert!(!policy.is_excluded(&path));
    }
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn oversized_patterns_are_refused() {
    let mut p = base();
    p["excludes"] = json!(["a".repeat(MAX_EXCLUDE_LEN + 1)]);
    assert!(matches!(
        RuntimePolicy::from_json(p.to_string().as_bytes()),
        Err(PolicyError::Exclude { index: 0, .. })
    ));
    // A short pattern whose compiled program is huge (counted repetition of a Unicode class).
    let mut p = base();
    p["excludes"] = json!(["ok", r"\w{1000}{1000}"]);
    match RuntimePolicy::from_json(p.to_string().as_bytes()) {
        Err(PolicyError::Exclude {
            index: 1, message, ..
        }) => {
            assert!(
                message.contains("size limit") || message.contains("exceed"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn python_only_regex_syntax_is_refused_not_misread() {
    for pattern in [r"(?=/usr)", r"(?<!x)/bin", r"(a)\1", r"/usr\Z"] {
        let mut p = base();
        p["excludes"] = json!([pattern]);
        assert!(
            matches!(
                RuntimePolicy::from_json(p.to_string().as_bytes()),
                Err(PolicyError::Exclude { .. })
            ),
            "{pattern}"
        );
    }
    // A pattern that closes another's group (keylime joins them as text) is refused.
    let mut p = base();
    p["excludes"] = json!(["/a)|(/b"]);
    assert!(RuntimePolicy::from_json(p.to_string().as_bytes()).is_err());
}

#[test]
fn giant_digest_lists_are_read_without_sizing_by_untrusted_counts() {
    // 200k digests for one path: accepted (the budget is MAX_DIGESTS), memory follows the input.
    let mut p = base();
    let many: Vec<String> = (0..200_000u32).map(|i| format!("{i:064x}")).collect();
    p["digests"]["/x"] = json!(many);
    let policy = RuntimePolicy::from_json(p.to_string().as_bytes()).unwrap();
    assert_eq!(policy.paths(), 2);
}

#[test]
fn oversized_documents_are_refused_before_parsing() {
    let big = vec![0u8; (mr_policy::MAX_POLICY_LEN + 1) as usize];
    assert!(matches!(
        RuntimePolicy::from_json(&big),
        Err(PolicyError::TooLarge { .. })
    ));
}

#[test]
fn hostile_envelopes_and_keys_are_errors() {
    for doc in [
        json!({"payload": 5}),
        json!({"payload": "!!!not base64"}),
        json!({"payload": "bm90IGpzb24="}),
    ] {
        assert!(
            RuntimePolicy::from_json(doc.to_string().as_bytes()).is_err(),
            "{doc}"
        );
    }
    let mut p = base();
    p["verification-keys"] = json!({"keyids": [], "pubkeys": ["AAAA"]})
        .to_string()
        .into();
    assert!(matches!(
        RuntimePolicy::from_json(p.to_string().as_bytes()),
        Err(PolicyError::VerificationKey { index: 0, .. })
    ));
    let mut p = base();
    p["verification-keys"] = json!({"keyids": [-1], "pubkeys": []}).to_string().into();
    assert!(RuntimePolicy::from_json(p.to_string().as_bytes()).is_ok());
}

#[test]
fn hostile_list_entries_fail_without_panicking() {
    // Garbage in ima-buf buffers, signatures of every length, a key buffer of an unknown type.
    let mut c = CaseBuilder::new();
    for len in 0..64usize {
        let junk: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
        c.signed(&format!("/j/{len}"), b"x", &junk, true);
        c.buf(&format!("buf{len}"), &junk, true);
    }
    // A signature header claiming a huge body.
    let mut sig = vec![3u8, 2, 4, 0, 0, 0, 1, 0xff, 0xff];
    sig.extend_from_slice(&[0; 16]);
    c.signed("/j/huge", b"x", &sig, true);
    let case = c.finish("junk");
    assert_eq!(failing(&appraise_case(&case)), case.expected);
}

#[test]
fn a_list_that_cannot_be_read_is_an_error_not_a_partial_verdict() {
    let case = common::cases().remove(0);
    let policy = RuntimePolicy::from_json(case.policy.to_string().as_bytes()).unwrap();
    let mut list = case.list.clone();
    list.extend_from_slice(b"10 zz ima-ng\n");
    let mut reader = ImaReader::new(&list[..], ImaReaderOptions::default());
    assert!(matches!(
        appraise_list(&mut reader, &policy, AppraiseOptions::default()),
        Err(PolicyError::List(_))
    ));
}

/// The batched lookups hold at most one batch of the list's paths: an attester's long paths,
/// near misses of the policy's names (one byte longer, one shorter, another case) and names
/// the policy has are each decided exactly, and memory does not follow the list.
#[test]
fn long_and_near_miss_paths_are_decided_exactly_with_bounded_memory() {
    let long: String = "/opt/".to_owned() + &"d/".repeat(2000) + "f";
    let mut c = CaseBuilder::new();
    let d = common::sha256(b"long");
    c.allow(&long, d.as_bytes());
    c.allow("/usr/bin/x", common::sha256(b"x").as_bytes());
    for _ in 0..40 {
        c.file(&long, b"long", false);
        c.file(&format!("{long}x"), b"long", true);
        c.file(&long[..long.len() - 1], b"long", true);
        c.file("/usr/bin/x", b"x", false);
        c.file("/usr/bin/X", b"x", true);
        c.file("/usr/bin/x", b"tampered", true);
    }
    let case = c.finish("near misses");
    let r = appraise_case(&case);
    assert_eq!(failing(&r), case.expected);
    assert!(r.failures.iter().any(|f| f.path.len() > 4000));

    // 3 000 allowed entries with 4 KB paths (a 12 MB list): live memory stays about one batch
    // of paths.
    let mut c = CaseBuilder::new();
    for i in 0..3000u32 {
        let path = format!("{long}{i}");
        let d = c.file(&path, path.as_bytes(), false);
        c.allow(&path, d.as_bytes());
    }
    let case = c.finish("long paths");
    let policy = RuntimePolicy::from_json(case.policy.to_string().as_bytes()).unwrap();
    let (r, stats) = mr_test_alloc::measure(|| {
        let mut reader = ImaReader::new(&case.list[..], ImaReaderOptions::default());
        appraise_list(&mut reader, &policy, AppraiseOptions::default()).unwrap()
    });
    // The boot_aggregate, then the 3 000.
    assert!(r.is_allowed() && r.entries == 3001, "{r:?}");
    assert!(
        stats.peak_live < 512 << 10,
        "peak {} bytes for a {} byte list",
        stats.peak_live,
        case.list.len()
    );
}
