//! `examples/library_verify.rs` both ways: the shipped evidence verifies under both roots, and
//! with one IMA entry edited both roots reject it naming the entry. The README's library snippet
//! is that example's code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../examples/library_verify.rs"]
mod example;

use std::path::Path;

use mr::attest::Step;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_example_evidence_verifies_under_both_roots() {
    let (tpm, td) = example::verify_examples(repo(), false).unwrap();
    let json = serde_json::json!({ "tpm": tpm, "td": td });
    for root in ["tpm", "td"] {
        assert_eq!(json[root]["verified"], true, "{:#}", json[root]);
        assert_eq!(json[root]["root"], root);
        assert_eq!(json[root]["ima"]["entries"], 600);
        assert_eq!(json[root]["ima"]["covered"], 600);
        assert!(json[root]["failure"].is_null());
    }
    // The same list ends in the SHA-256 PCR 10 value of examples/ima/expected-pcrs.txt.
    let expected = std::fs::read_to_string(repo().join("examples/ima/expected-pcrs.txt")).unwrap();
    let pcr10 = &json["tpm"]["registers"][0];
    assert!(
        expected.contains(&format!(
            "pcr10:sha256:{}",
            pcr10["value"].as_str().unwrap()
        )),
        "{pcr10}"
    );
    assert_eq!(json["td"]["registers"][1]["id"], "mr_ima");
}

#[test]
fn the_tampered_example_is_rejected_under_both_roots_naming_the_entry() {
    let (tpm, td) = example::verify_examples(repo(), true).unwrap();
    for r in [&tpm, &td] {
        assert!(!r.verified);
        let f = r.failure.as_ref().unwrap();
        assert_eq!(f.step, Step::Ima);
        assert_eq!(f.entry, Some(303));
        assert!(f.message.contains("entry 303"), "{}", f.message);
        let j = serde_json::to_value(r).unwrap();
        assert_eq!(j["verified"], false);
        assert_eq!(j["failure"]["entry"], 303);
    }
}

#[test]
fn the_readme_snippet_is_the_example() {
    let example = std::fs::read_to_string(repo().join("examples/library_verify.rs")).unwrap();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let begin = "// BEGIN README SNIPPET\n";
    let start = example.find(begin).unwrap() + begin.len();
    let end = example.find("// END README SNIPPET").unwrap();
    let snippet = &example[start..end];
    assert!(snippet.contains("pub fn verify_examples"));
    assert!(
        readme.contains(snippet),
        "README.md's \"Use mr as a library\" snippet differs from examples/library_verify.rs"
    );
}
