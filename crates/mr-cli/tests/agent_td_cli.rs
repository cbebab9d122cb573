//! `mr agent ima` against a simulated TD's sysfs in a directory (`--sysfs-root DIR
//! --simulated-td`): it resumes after a restart without skipping or repeating an entry, and RTMR3
//! is the replay of the journal (computed here with sha2). Then `mr verify` under the TD root
//! (TD quote → RTMR3 → journal → mr_ima → IMA replay) accepts the evidence and rejects a
//! dropped, edited or reordered journal record, a journal from another TD, a stale quote and a
//! tampered IMA entry, each with exit 1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{arg, code, mr, stderr, stdout, write};

use std::path::{Path, PathBuf};
use std::process::Output;

use mr_core::log::ima::sample::write_sample_list;
use mr_core::log::ima::ListKind;
use mr_core::HashAlg;
use mr_rtmr::rtmr::MEASUREMENTS_DIR;
use mr_rtmr::sim::quote::QuoteFormat;
use mr_testkit::journal::mr_ima_digests;
use mr_testkit::td::{fresh_signer, measurements, write_quote};
use sha2::{Digest as _, Sha384};

const AT: &str = "2026-01-01T00:00:00Z";

/// A directory laid out like a TD's sysfs, every register zero.
fn sim_td(root: &Path) {
    let dir = root.join(MEASUREMENTS_DIR);
    std::fs::create_dir_all(&dir).unwrap();
    for name in [
        "mrtd:sha384",
        "mrconfigid",
        "mrowner",
        "mrownerconfig",
        "rtmr0:sha384",
        "rtmr1:sha384",
        "rtmr2:sha384",
        "rtmr3:sha384",
    ] {
        std::fs::write(dir.join(name), [0u8; 48]).unwrap();
    }
}

fn rtmr3(root: &Path) -> [u8; 48] {
    std::fs::read(root.join(MEASUREMENTS_DIR).join("rtmr3:sha384"))
        .unwrap()
        .try_into()
        .unwrap()
}

fn sample(entries: u64, seed: u64) -> Vec<u8> {
    let mut list = Vec::new();
    write_sample_list(&mut list, ListKind::Binary, entries, &[HashAlg::Sha1], seed).unwrap();
    list
}

fn agent(root: &Path, journal: &Path, list: &Path) -> Output {
    mr(&[
        "agent",
        "ima",
        "--backing",
        "rtmr3",
        "--journal",
        journal.to_str().unwrap(),
        "--ima-list",
        list.to_str().unwrap(),
        "--sysfs-root",
        root.to_str().unwrap(),
        "--simulated-td",
        "--json",
    ])
}

/// RTMR3 after extending SHA-384 of every record line of `journal` from zero (docs/formats.md#journal).
fn replay_journal(journal: &str) -> [u8; 48] {
    let mut v = [0u8; 48];
    for line in journal.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut h = Sha384::new();
        h.update(v);
        h.update(Sha384::digest(line.as_bytes()));
        v = h.finalize().into();
    }
    v
}

struct Td {
    root: tempfile::TempDir,
    journal: PathBuf,
    list: PathBuf,
}

/// A simulated TD whose agent has taken `entries` entries of the sample list `seed`, in two
/// runs (the list grew between them).
fn td_with_agent(entries: u64, seed: u64) -> Td {
    let root = tempfile::tempdir().unwrap();
    sim_td(root.path());
    let journal = root.path().join("mr_ima.journal");
    let list = root.path().join("binary_runtime_measurements");
    let first = sample(entries / 2, seed);
    let all = sample(entries, seed);
    assert!(all.starts_with(&first));
    std::fs::write(&list, &first).unwrap();
    let o = agent(root.path(), &journal, &list);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    std::fs::write(&list, &all).unwrap();
    let o = agent(root.path(), &journal, &list);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    Td {
        root,
        journal,
        list,
    }
}

#[test]
fn agent_resumes_after_the_list_grew_without_skipping_or_repeating() {
    let root = tempfile::tempdir().unwrap();
    sim_td(root.path());
    let journal = root.path().join("journal");
    let list = root.path().join("list");
    let first = sample(300, 11);
    let all = sample(700, 11);
    assert!(all.starts_with(&first));

    std::fs::write(&list, &first).unwrap();
    let o = agent(root.path(), &journal, &list);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["new_entries"], 300);
    assert_eq!(j["total_entries"], 300);

    // Nothing new: nothing extended.
    let o = agent(root.path(), &journal, &list);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["new_entries"], 0);
    assert_eq!(j["total_entries"], 300);

    std::fs::write(&list, &all).unwrap();
    let o = agent(root.path(), &journal, &list);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["new_entries"], 400);
    assert_eq!(j["total_entries"], 700);

    let text = std::fs::read_to_string(&journal).unwrap();
    let records: Vec<&str> = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(records.len(), 700);
    // Record i carries entry i's SHA-384 template digest: none skipped, none repeated.
    for (i, (line, d)) in records.iter().zip(mr_ima_digests(&all)).enumerate() {
        assert_eq!(
            *line,
            format!("mr_ima extend sha384/{}", d.to_hex()),
            "record {i}"
        );
    }
    assert_eq!(rtmr3(root.path()), replay_journal(&text));
    // The other RTMRs are untouched.
    let rtmr2 = std::fs::read(root.path().join(MEASUREMENTS_DIR).join("rtmr2:sha384")).unwrap();
    assert_eq!(rtmr2, [0u8; 48]);
}

#[test]
fn agent_refuses_a_register_extended_behind_its_back() {
    let t = td_with_agent(40, 3);
    // Someone extends RTMR3 without a journal record.
    let path = t.root.path().join(MEASUREMENTS_DIR).join("rtmr3:sha384");
    let mut h = Sha384::new();
    h.update(std::fs::read(&path).unwrap());
    h.update([0x42u8; 48]);
    std::fs::write(&path, h.finalize()).unwrap();
    let o = agent(t.root.path(), &t.journal, &t.list);
    assert_ne!(code(&o), 0, "{}", stdout(&o));
    assert!(stderr(&o).contains("rtmr3"), "{}", stderr(&o));
}

#[test]
fn agent_without_a_tpm_device_build_or_bad_backing_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = mr(&[
        "agent",
        "ima",
        "--backing",
        "mr_ima",
        "--journal",
        dir.path().join("j").to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--backing"), "{}", stderr(&o));
}

/// Quote files of a TD whose RTMR3 is `rtmr3`, with REPORTDATA = `nonce`.
struct Quote {
    quote: String,
    root: String,
}

fn td_quote(dir: &Path, name: &str, rtmr3: [u8; 48], nonce: &[u8]) -> Quote {
    // A signer of its own per call: another TD's quote must not verify under this root.
    let m = measurements([7; 48], [[0; 48], [0; 48], [0; 48], rtmr3], nonce);
    let (quote, root) = write_quote(dir, name, &fresh_signer(), &m, QuoteFormat::V5Td15);
    Quote {
        quote: arg(&quote).to_owned(),
        root: arg(&root).to_owned(),
    }
}

fn verify_td(list: &Path, journal: &Path, q: &Quote, nonce: &[u8], json: bool) -> Output {
    let nonce = hex::encode(nonce);
    let mut args = vec![
        "verify",
        "--ima",
        list.to_str().unwrap(),
        "--td-quote",
        &q.quote,
        "--root",
        &q.root,
        "--at",
        AT,
        "--nonce",
        &nonce,
        "--journal",
        journal.to_str().unwrap(),
    ];
    if json {
        args.push("--json");
    }
    mr(&args)
}

fn edit_journal(journal: &Path, out: &Path, f: impl FnOnce(&mut Vec<String>)) -> PathBuf {
    let mut lines: Vec<String> = std::fs::read_to_string(journal)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    f(&mut lines);
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(out, text).unwrap();
    out.to_owned()
}

#[test]
fn verify_under_the_td_root_accepts_the_agents_evidence_and_rejects_tampering() {
    let t = td_with_agent(600, 5);
    let dir = t.root.path();
    let nonce = b"verifier nonce 1";
    let q = td_quote(dir, "td", rtmr3(dir), nonce);

    let o = verify_td(&t.list, &t.journal, &q, nonce, true);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["verified"], true);
    assert_eq!(j["root"], "td");
    assert_eq!(j["ima"]["entries"], 600);
    assert_eq!(j["ima"]["covered"], 600);
    assert_eq!(j["ima"]["violations"], 1);
    assert_eq!(j["ima"]["against"][0], "mr_ima:sha384");
    assert_eq!(j["journal"]["records"], 600);
    assert_eq!(j["journal"]["backing"], "rtmr3");
    let ids: Vec<&str> = j["registers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["rtmr3", "mr_ima"]);
    assert!(j["provenance"]
        .as_str()
        .unwrap()
        .starts_with("derived from TD quote"));
    // The verdict shows the TD attributes (issue 14 item 2).
    assert_eq!(j["td_attributes"], "0000000000000000");
    assert_eq!(j["debug_td"], false);

    // Human output says which root and what it covered.
    let o = verify_td(&t.list, &t.journal, &q, nonce, false);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("journal: 600 records")
            && stdout(&o).contains("td_attributes: 0000000000000000 (none)"),
        "{}",
        stdout(&o)
    );

    // A dropped, an edited and a reordered journal record.
    let dropped = edit_journal(&t.journal, &dir.join("dropped"), |l| {
        l.remove(100);
    });
    let edited = edit_journal(&t.journal, &dir.join("edited"), |l| {
        let line = &mut l[100];
        let last = line.pop().unwrap();
        line.push(if last == '0' { '1' } else { '0' });
    });
    let reordered = edit_journal(&t.journal, &dir.join("reordered"), |l| l.swap(100, 101));
    for journal in [&dropped, &edited, &reordered] {
        let o = verify_td(&t.list, journal, &q, nonce, true);
        assert_eq!(code(&o), 1, "{}: {}", journal.display(), stderr(&o));
        assert!(stderr(&o).contains("journal"), "{}", stderr(&o));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["verified"], false);
        assert_eq!(j["reason"], "journal");
    }

    // The journal (and list) of another TD, with this TD's quote.
    let other = td_with_agent(600, 6);
    let o = verify_td(&other.list, &other.journal, &q, nonce, false);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    // This TD's list with another TD's journal.
    let o = verify_td(&t.list, &other.journal, &q, nonce, false);
    assert_eq!(code(&o), 1, "{}", stderr(&o));

    // A stale quote: the verifier asks for another nonce.
    let o = verify_td(&t.list, &t.journal, &q, b"verifier nonce 2", true);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["reason"], "td_quote");

    // A quote from another signer's root is not trusted.
    let stranger = td_quote(dir, "stranger", rtmr3(dir), nonce);
    let mixed = Quote {
        quote: stranger.quote.clone(),
        root: q.root.clone(),
    };
    let o = verify_td(&t.list, &t.journal, &mixed, nonce, false);
    assert_eq!(code(&o), 1, "{}", stderr(&o));

    // One IMA entry tampered (a byte of a file path): the entry is named.
    let mut list = std::fs::read(&t.list).unwrap();
    let at = list.windows(6).position(|w| w == b"/file-").unwrap() + 1;
    list[at] = b'F';
    let bad = dir.join("tampered_list");
    std::fs::write(&bad, list).unwrap();
    let o = verify_td(&bad, &t.journal, &q, nonce, true);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["reason"], "ima_replay");
    assert!(j["bad_entry"]["entry"].as_u64().is_some(), "{j}");
    assert!(stderr(&o).contains("mr_ima"), "{}", stderr(&o));
}

#[test]
fn verify_needs_one_complete_root() {
    let dir = tempfile::tempdir().unwrap();
    let list = write(dir.path(), "list", &sample(3, 1));
    // --td-quote without --journal, and neither root.
    let o = mr(&["verify", "--ima", &list, "--td-quote", &list]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = mr(&["verify", "--ima", &list]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--td-quote"), "{}", stderr(&o));
}

fn journal_records(journal: &Path) -> usize {
    std::fs::read_to_string(journal)
        .map(|t| t.lines().filter(|l| l.starts_with("mr_ima extend")).count())
        .unwrap_or(0)
}

fn wait_for_records(journal: &Path, n: usize) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if journal_records(journal) >= n {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

#[test]
fn agent_follow_picks_up_entries_appended_while_it_runs() {
    let root = tempfile::tempdir().unwrap();
    sim_td(root.path());
    let journal = root.path().join("journal");
    let list = root.path().join("list");
    let first = sample(100, 21);
    let all = sample(250, 21);
    std::fs::write(&list, &first).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mr"))
        .args([
            "agent",
            "ima",
            "--backing",
            "rtmr3",
            "--journal",
            journal.to_str().unwrap(),
            "--ima-list",
            list.to_str().unwrap(),
            "--sysfs-root",
            root.path().to_str().unwrap(),
            "--simulated-td",
            "--follow",
            "--interval-ms",
            "20",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(root.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let first_ok = wait_for_records(&journal, 100);
    // The kernel's list grows (written beside it and renamed: the agent never sees half of it).
    let tmp = root.path().join("list.new");
    std::fs::write(&tmp, &all).unwrap();
    std::fs::rename(&tmp, &list).unwrap();
    let all_ok = wait_for_records(&journal, 250);
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    let err = std::fs::read_to_string(root.path().join("stderr")).unwrap();
    assert!(
        first_ok && all_ok && still_running,
        "{first_ok} {all_ok} {still_running}: {err}"
    );
    // Killed at any point (possibly between appending records and extending them): a restart
    // reconciles journal and RTMR3, and nothing is left to do.
    let o = agent(root.path(), &journal, &list);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["new_entries"], 0);
    assert_eq!(j["total_entries"], 250);
    assert_eq!(journal_records(&journal), 250);
    let text = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(rtmr3(root.path()), replay_journal(&text));
}
