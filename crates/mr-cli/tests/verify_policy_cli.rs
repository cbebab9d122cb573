//! `mr verify … --policy / --runtime-policy / --deny-list` on the repository's TD evidence
//! (`examples/evidence/td`: a simulated TD quote, the journal of `mr_ima`, the example list):
//! exit 0 when every rule holds, 1 naming the failed rule and the values compared, 2 for a
//! policy that cannot be used.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;

use common::{code, mr, stderr, stdout, write};
use serde_json::{json, Value};

fn ex(p: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(p)
        .to_str()
        .unwrap()
        .to_owned()
}

fn verify_td(extra: &[&str]) -> std::process::Output {
    let at: i64 = std::fs::read_to_string(ex("evidence/td/at.txt"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let at = chrono::DateTime::from_timestamp(at, 0)
        .unwrap()
        .to_rfc3339();
    let nonce = std::fs::read_to_string(ex("evidence/td/nonce.hex")).unwrap();
    let mut args = vec![
        "verify".to_owned(),
        "--ima".into(),
        ex("ima/binary_runtime_measurements"),
        "--td-quote".into(),
        ex("evidence/td/quote.bin"),
        "--journal".into(),
        ex("evidence/td/mr_ima.journal"),
        "--root".into(),
        ex("evidence/td/root-ca.der"),
        "--at".into(),
        at,
        "--nonce".into(),
        nonce.trim().to_owned(),
        "--json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    mr(&args)
}

fn mr_td() -> String {
    let q = std::fs::read(ex("evidence/td/quote.bin")).unwrap();
    hex::encode(mr_rtmr::quote::parse(&q).unwrap().mr_td())
}

#[test]
fn platform_rules_pass_or_reject_naming_the_rule_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let good =
        json!({"version": 1, "td": {"mr_td": [mr_td()], "tcb": {"require_collateral": false}}});
    let p = write(dir.path(), "good.json", good.to_string().as_bytes());
    let o = verify_td(&["--policy", &p]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let checks = j["appraisal"]["checks"].as_array().unwrap();
    assert!(checks
        .iter()
        .any(|c| c["name"] == "td.mr_td" && c["passed"] == true));

    let other = "ee".repeat(48);
    let bad = json!({"version": 1, "td": {"mr_td": [other], "tcb": {"require_collateral": false}}});
    let p = write(dir.path(), "bad.json", bad.to_string().as_bytes());
    let o = verify_td(&["--policy", &p]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["reason"], "policy");
    let msg = j["message"].as_str().unwrap();
    assert!(
        msg.contains("td.mr_td") && msg.contains(&mr_td()) && msg.contains(&other),
        "{msg}"
    );

    // A document that breaks the schema, a deny list without a runtime policy: exit 2.
    let p = write(dir.path(), "v2.json", br#"{"version": 2}"#);
    assert_eq!(code(&verify_td(&["--policy", &p])), 2);
    let deny = write(dir.path(), "deny", b"");
    let o = verify_td(&["--deny-list", &deny]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("give --runtime-policy or a policy document"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_runtime_policy_appraises_the_covered_entries() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("runtime.json");
    let o = mr(&[
        "policy",
        "create",
        "--ima-list",
        &ex("ima/binary_runtime_measurements"),
        "-o",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    // The example list has a ToMToU violation at entry 501: rejected, named.
    let o = verify_td(&["--runtime-policy", policy.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["reason"], "policy");
    let failures = &j["appraisal"]["runtime"]["failures"];
    assert_eq!(failures[0]["entry"], 501);
    assert_eq!(failures[0]["reason"], "violation");
}
