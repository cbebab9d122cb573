//! `mr ima appraise` and `mr policy create`: exit codes (0 allowed, 1 rejected with each failing
//! entry named, 2 malformed policy / list / deny list), JSON output, policies from a list and
//! from a directory tree, DSSE envelopes (refused without the signer's key).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine;
use common::{code, mr, stderr, stdout, write};
use mr_core::log::ima::builder::ImaListBuilder;
use mr_core::HashAlg;

fn list(paths: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = ImaListBuilder::binary();
    b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"pcrs"));
    for (p, content) in paths {
        b.ima_ng(10, &HashAlg::Sha256.hash(content), p);
    }
    b.finish()
}

#[test]
fn a_policy_created_from_a_list_allows_it_and_rejects_changes() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good",
        &list(&[("/bin/a", b"a"), ("/bin/b", b"b")]),
    );
    let policy = dir.path().join("policy.json");
    let o = mr(&[
        "policy",
        "create",
        "--ima-list",
        &good,
        "-o",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    let p = policy.to_str().unwrap();
    let o = mr(&["ima", "appraise", &good, "--runtime-policy", p]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert!(
        stdout(&o).contains("3 entries, 0 not allowed"),
        "{}",
        stdout(&o)
    );

    let bad = write(
        dir.path(),
        "bad",
        &list(&[("/bin/a", b"a"), ("/bin/b", b"b2"), ("/bin/c", b"c")]),
    );
    let o = mr(&["ima", "appraise", &bad, "--runtime-policy", p]);
    assert_eq!(code(&o), 1, "{o:?}");
    let out = stdout(&o);
    assert!(
        out.contains("entry 3: /bin/b (ima-ng): digest mismatch"),
        "{out}"
    );
    assert!(
        out.contains("entry 4: /bin/c (ima-ng): not in policy"),
        "{out}"
    );

    let o = mr(&["ima", "appraise", &bad, "--runtime-policy", p, "--json"]);
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["allowed"], false);
    assert_eq!(v["entries"], 4);
    assert_eq!(v["failed"], 2);
    assert_eq!(v["failures"][0]["entry"], 3);
    assert_eq!(v["failures"][0]["path"], "/bin/b");
    assert_eq!(v["failures"][0]["template"], "ima-ng");
    assert_eq!(v["failures"][0]["reason"], "digest-mismatch");
    assert_eq!(v["failures"][1]["reason"], "not-in-policy");

    // The deny list rejects an allowed digest.
    let deny = write(
        dir.path(),
        "deny",
        format!("{}\n", HashAlg::Sha256.hash(b"a").to_hex()).as_bytes(),
    );
    let o = mr(&[
        "ima",
        "appraise",
        &good,
        "--runtime-policy",
        p,
        "--deny-list",
        &deny,
        "--json",
    ]);
    assert_eq!(code(&o), 1, "{o:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["failures"][0]["entry"], 2);
    assert_eq!(v["failures"][0]["reason"], "denied");

    // The same policy inside a DSSE envelope.
    let payload = std::fs::read(&policy).unwrap();
    let envelope = serde_json::json!({
        "payloadType": "application/vnd.keylime+json",
        "payload": base64::engine::general_purpose::STANDARD.encode(payload),
        "signatures": [],
    });
    let env = write(dir.path(), "env.json", envelope.to_string().as_bytes());
    // Its signature cannot be checked without the signer's key: refused, never read unverified
    // (a signed envelope verified with its key: mr-policy tests/platform.rs).
    let o = mr(&["ima", "appraise", &good, "--runtime-policy", &env]);
    assert_eq!(code(&o), 2, "{o:?}");
    assert!(
        stderr(&o).contains("--runtime-policy-key"),
        "{}",
        stderr(&o)
    );
    // With a key, an envelope without a signature by it is refused too.
    let key = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/evidence/td/root-ca.der");
    let o = mr(&[
        "ima",
        "appraise",
        &good,
        "--runtime-policy",
        &env,
        "--runtime-policy-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2, "{o:?}");
    assert!(stderr(&o).contains("no signature"), "{}", stderr(&o));
}

#[test]
fn malformed_inputs_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good", &list(&[("/bin/a", b"a")]));
    let policy = dir.path().join("policy.json");
    assert_eq!(
        code(&mr(&[
            "policy",
            "create",
            "--ima-list",
            &good,
            "-o",
            policy.to_str().unwrap()
        ])),
        0
    );
    let p = policy.to_str().unwrap();
    let text = std::fs::read_to_string(&policy).unwrap();
    let bad_policies = [
        "not json".to_string(),
        text.replace("\"release\"", "\"relase\""),
        text.replace("\"excludes\": []", "\"excludes\": [\"(?<=x)\"]"),
        text.replace("\"version\": 1", "\"version\": 2"),
        "[".repeat(10_000),
    ];
    for (i, bad) in bad_policies.iter().enumerate() {
        let bp = write(dir.path(), &format!("bad{i}.json"), bad.as_bytes());
        let o = mr(&["ima", "appraise", &good, "--runtime-policy", &bp]);
        assert_eq!(code(&o), 2, "policy {i}: {o:?}");
        assert!(
            stdout(&o).is_empty(),
            "a bad policy printed a verdict: {}",
            stdout(&o)
        );
    }
    let mut truncated = list(&[("/bin/a", b"a")]);
    truncated.truncate(truncated.len() - 3);
    let t = write(dir.path(), "truncated", &truncated);
    assert_eq!(
        code(&mr(&["ima", "appraise", &t, "--runtime-policy", p])),
        2
    );
    let deny = write(dir.path(), "deny", b"not-hex\n");
    assert_eq!(
        code(&mr(&[
            "ima",
            "appraise",
            &good,
            "--runtime-policy",
            p,
            "--deny-list",
            &deny
        ])),
        2
    );
    assert_eq!(
        code(&mr(&[
            "ima",
            "appraise",
            &good,
            "--runtime-policy",
            "/nonexistent"
        ])),
        2
    );
    assert_eq!(code(&mr(&["policy", "create"])), 2);
}

#[test]
fn a_policy_created_from_a_tree_hashes_files_as_ima_logs_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::fs::create_dir_all(root.join("var/log")).unwrap();
    std::fs::write(root.join("usr/bin/tool"), b"tool").unwrap();
    std::fs::write(root.join("var/log/messages"), b"log").unwrap();
    std::os::unix::fs::symlink("tool", root.join("usr/bin/link")).unwrap();
    let out = dir.path().join("policy.json");
    let o = mr(&[
        "policy",
        "create",
        "--rootfs",
        root.to_str().unwrap(),
        "--exclude",
        "/var/log",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        v["digests"]["/usr/bin/tool"],
        serde_json::json!([HashAlg::Sha256.hash(b"tool").to_hex()])
    );
    assert!(v["digests"].get("/var/log/messages").is_none());
    assert!(v["digests"].get("/usr/bin/link").is_none());
    assert_eq!(v["excludes"], serde_json::json!(["/var/log"]));
    // The tree's files appraise as allowed; the excluded log too.
    let l = write(
        dir.path(),
        "list",
        &list(&[
            ("/usr/bin/tool", b"tool"),
            ("/var/log/messages", b"anything"),
        ]),
    );
    let o = mr(&[
        "ima",
        "appraise",
        &l,
        "--runtime-policy",
        out.to_str().unwrap(),
    ]);
    // The boot_aggregate is not part of a tree.
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("entry 1: boot_aggregate (ima-ng): not in policy"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("3 entries, 1 not allowed"),
        "{}",
        stdout(&o)
    );
}
