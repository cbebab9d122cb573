//! Differential test against keylime itself: on every generated case, keylime's own evaluation
//! (`keylime.ima.ima._process_measurement_list`, driven by `keylime_driver.py`) fails exactly
//! the entries mr fails. keylime 7.14.x is found in `$MR_KEYLIME_VENV` or
//! `$HOME/.cache/mr/keylime-venv` (installed by `scripts/install-deps.sh`); without it the test
//! is skipped with a message, except under CI (`CI` set), where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use mr_core::log::ima::{ImaReader, ImaReaderOptions};
use mr_policy::{appraise_list, AppraiseOptions, RuntimePolicy};

fn keylime_python() -> Option<PathBuf> {
    let venv = std::env::var_os("MR_KEYLIME_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/mr/keylime-venv"))
        })?;
    let python = venv.join("bin/python");
    python.exists().then_some(python)
}

fn python_or_skip() -> Option<PathBuf> {
    match keylime_python() {
        Some(p) => Some(p),
        None if std::env::var_os("CI").is_some() => {
            panic!("keylime venv missing under CI: run scripts/install-deps.sh")
        }
        None => {
            eprintln!(
                "SKIPPED: keylime venv not found ($MR_KEYLIME_VENV or ~/.cache/mr/keylime-venv); run scripts/install-deps.sh"
            );
            None
        }
    }
}

/// keylime's verdict: failing entry numbers, or the policy error.
fn keylime(python: &PathBuf, list: &[u8], policy: &[u8]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let list_path = dir.path().join("ascii_runtime_measurements");
    let policy_path = dir.path().join("policy.json");
    std::fs::write(&list_path, list).unwrap();
    std::fs::write(&policy_path, policy).unwrap();
    let driver = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/keylime_driver.py");
    let out = Command::new(python)
        .arg(driver)
        .arg(&list_path)
        .arg(&policy_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "driver failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn mr_failing(list: &[u8], policy: &[u8]) -> Vec<u64> {
    let policy = RuntimePolicy::from_json(policy).unwrap();
    let mut reader = ImaReader::new(list, ImaReaderOptions::default());
    let r = appraise_list(&mut reader, &policy, AppraiseOptions::default()).unwrap();
    r.failures.iter().map(|f| f.number).collect()
}

#[test]
fn keylime_fails_the_same_entries_as_mr() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let mut compared = 0;
    for case in common::cases() {
        let policy = case.policy.to_string();
        let mr = mr_failing(&case.list, policy.as_bytes());
        assert_eq!(mr, case.expected, "mr, case {}", case.name);
        let k = keylime(&python, &case.list, policy.as_bytes());
        let k_failing: Vec<u64> = serde_json::from_value(k["failing"].clone())
            .unwrap_or_else(|_| panic!("case {}: keylime said {k}", case.name));
        assert_eq!(
            k["list_failed"].as_bool(),
            Some(!k_failing.is_empty()),
            "case {}: keylime's whole-list verdict disagrees with its per-entry verdicts: {k}",
            case.name
        );
        if case.keylime_differs {
            assert_ne!(
                k_failing, mr,
                "case {}: documented difference vanished",
                case.name
            );
        } else {
            assert_eq!(k_failing, mr, "case {}: keylime {k}", case.name);
            compared += 1;
        }
    }
    assert!(compared >= 10);
}

/// keylime's documented difference on signature v3: it does not check them, so a v3-signed file
/// that is not in the allow-list fails there and passes in mr; everything else agrees.
#[test]
fn keylime_does_not_check_v3_signatures() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let case = common::cases()
        .into_iter()
        .find(|c| c.name == "signature-v3")
        .unwrap();
    let policy = case.policy.to_string();
    let k = keylime(&python, &case.list, policy.as_bytes());
    let k_failing: Vec<u64> = serde_json::from_value(k["failing"].clone()).unwrap();
    // Entry 2 is the good v3 signature: keylime fails it (no allow-list entry), mr allows it.
    let mut expected = case.expected.clone();
    expected.push(2);
    expected.sort_unstable();
    assert_eq!(k_failing, expected);
}

/// Policies both refuse, and policies keylime's schema accepts that mr refuses (documented).
#[test]
fn policy_validation_agrees_with_keylime_schema() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let base = common::CaseBuilder::new().policy();
    let list = common::CaseBuilder::new().finish("x").list;
    let mut refused_by_both = Vec::new();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut p = base.clone();
        f(&mut p);
        p
    };
    refused_by_both.push(edit(&|p| {
        p.as_object_mut().unwrap().remove("release");
    }));
    refused_by_both.push(edit(&|p| p["digests"]["/x"] = serde_json::json!([])));
    refused_by_both.push(edit(&|p| {
        p["digests"]["/x"] = serde_json::json!(["ABCDEF0123456789ABCDEF0123456789ABCDEF01"])
    }));
    refused_by_both.push(edit(&|p| p["digests"]["/x"] = serde_json::json!(["abc"])));
    refused_by_both.push(edit(&|p| p["ima"]["log_hash_alg"] = "md5".into()));
    refused_by_both.push(edit(&|p| p["ima"]["dm_policy"] = serde_json::json!({})));
    refused_by_both.push(edit(&|p| p["meta"]["generator"] = 7.into()));
    refused_by_both.push(edit(&|p| p["excludes"] = serde_json::json!([1])));
    refused_by_both.push(edit(&|p| {
        p["verification-keys"] = "{\"keyids\": []}".into()
    }));
    for p in &refused_by_both {
        let text = p.to_string();
        assert!(
            RuntimePolicy::from_json(text.as_bytes()).is_err(),
            "mr accepted {text}"
        );
        let k = keylime(&python, &list, text.as_bytes());
        assert!(
            k.get("policy_error").is_some(),
            "keylime accepted {text}: {k}"
        );
    }
    // keylime validates excludes only in its upload path, reading the key `exclude` (not
    // `excludes`), so a pattern that does not compile passes validate_runtime_policy and is
    // ignored at evaluation ("Exclude list will be ignored"); mr refuses the policy.
    let bad_regex = edit(&|p| p["excludes"] = serde_json::json!(["/usr/(lib"]));
    let text = bad_regex.to_string();
    assert!(matches!(
        RuntimePolicy::from_json(text.as_bytes()),
        Err(mr_policy::PolicyError::Exclude { index: 0, .. })
    ));
    let k = keylime(&python, &list, text.as_bytes());
    assert!(k.get("policy_error").is_none(), "{k}");
}
