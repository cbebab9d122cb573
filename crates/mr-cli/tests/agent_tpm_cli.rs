//! `mr agent ima --backing pcr:16` on a real swtpm: mr_ima journalled over a TPM PCR; a second
//! run after the list grew resumes, and PCR 16 is the replay of the journal (computed here with
//! sha2).
#![cfg(feature = "tpm-device")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{code, mr, stderr};

use mr_core::log::ima::sample::write_sample_list;
use mr_core::log::ima::ListKind;
use mr_core::HashAlg;
use mr_tpm::device::Tpm;
use mr_tpm::harness::Swtpm;
use sha2::{Digest as _, Sha256};

fn sample(entries: u64) -> Vec<u8> {
    let mut list = Vec::new();
    write_sample_list(&mut list, ListKind::Binary, entries, &[HashAlg::Sha1], 9).unwrap();
    list
}

#[test]
fn agent_over_a_tpm_pcr_resumes_and_the_pcr_is_the_journal_replay() {
    let swtpm = Swtpm::start().expect("swtpm (scripts/install-deps.sh installs it)");
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let list = dir.path().join("list");
    let run = || {
        mr(&[
            "agent",
            "ima",
            "--backing",
            "pcr:16",
            "--tcti",
            &swtpm.tcti(),
            "--journal",
            journal.to_str().unwrap(),
            "--ima-list",
            list.to_str().unwrap(),
            "--json",
        ])
    };
    std::fs::write(&list, sample(40)).unwrap();
    let o = run();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    std::fs::write(&list, sample(90)).unwrap();
    let o = run();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["new_entries"], 50);
    assert_eq!(j["total_entries"], 90);
    assert_eq!(j["backing"], "pcr16");

    let text = std::fs::read_to_string(&journal).unwrap();
    let mut pcr = [0u8; 32];
    let mut records = 0;
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        assert!(line.starts_with("mr_ima extend sha256/"), "{line}");
        let mut h = Sha256::new();
        h.update(pcr);
        h.update(Sha256::digest(line.as_bytes()));
        pcr = h.finalize().into();
        records += 1;
    }
    assert_eq!(records, 90);
    let tpm = Tpm::open(&swtpm.tcti()).unwrap();
    assert_eq!(
        tpm.read_pcr(16, HashAlg::Sha256).unwrap().as_bytes(),
        pcr.as_slice()
    );
}
