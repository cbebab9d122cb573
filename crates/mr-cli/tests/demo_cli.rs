//! `mr demo --json` on a fresh machine: a real swtpm and a simulated TD, one IMA list verified
//! under both roots, one tampered entry rejected under both; exactly one JSON object on stdout.
#![cfg(feature = "demo")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{code, mr, stderr, stdout};

#[test]
fn demo_json_verifies_under_both_roots_and_rejects_the_tampered_list_under_both() {
    let o = mr(&["demo", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Exactly one JSON object, nothing else on stdout.
    let mut objects =
        serde_json::Deserializer::from_slice(&o.stdout).into_iter::<serde_json::Value>();
    let j = objects.next().unwrap().unwrap();
    assert!(objects.next().is_none(), "{}", stdout(&o));
    assert!(j.is_object());

    for root in ["tpm", "td"] {
        let v = &j[root];
        assert_eq!(v["verified"], true, "{root}: {v}");
        assert_eq!(v["root"], root);
        assert_eq!(v["ima_entries"], 600, "{root}");
        assert_eq!(v["covered"], 600, "{root}");
        assert_eq!(v["violations"], 1, "{root}");
        assert!(v["registers"].as_array().is_some_and(|r| !r.is_empty()));
        assert!(v["reason"].is_null());
        let t = &j["tampered"][root];
        assert_eq!(t["verified"], false, "{root}: {t}");
        assert_eq!(t["reason"], "ima_replay", "{root}");
        assert!(t["message"].as_str().unwrap().contains("entry"), "{t}");
    }
    // The same entry is named under both roots.
    let entry = &j["tampered"]["tpm"]["bad_entry"]["entry"];
    assert!(entry.as_u64().is_some());
    assert_eq!(entry, &j["tampered"]["td"]["bad_entry"]["entry"]);
    // mr_ima and PCR 10 end with the same SHA-384 value when the swtpm has a SHA-384 bank.
    let sha384 = |root: &str, id: &str| {
        j[root]["registers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id && r["alg"] == "sha384")
            .map(|r| r["value"].clone())
    };
    if let Some(pcr10) = sha384("tpm", "pcr10") {
        assert_eq!(Some(pcr10), sha384("td", "mr_ima"));
    }
    assert_eq!(j["td"]["journal_records"], 600);
}

#[test]
fn demo_human_output_shows_both_verdicts_side_by_side() {
    let o = mr(&["demo", "--entries", "50"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("TPM root (swtpm)") && out.contains("TD root (simulated TD)"),
        "{out}"
    );
    let verdicts: Vec<&str> = out.lines().filter(|l| l.starts_with("verdict")).collect();
    assert_eq!(verdicts.len(), 2, "{out}");
    assert_eq!(verdicts[0].matches("VERIFIED").count(), 2, "{out}");
    assert_eq!(verdicts[1].matches("REJECTED").count(), 2, "{out}");
}
