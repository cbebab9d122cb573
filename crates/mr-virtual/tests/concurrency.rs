//! Two processes extending one virtual register at once (this test binary re-executed as the
//! children) leave a journal that replays to the shared backing register.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use mr_core::ExpectedRegisters;
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::*;
use mr_core::{HashAlg, MeasurementRegister, MrId, Provenance, VerifiedRegisters};
use mr_virtual::verify::{derive, DeriveOptions};
use mr_virtual::{Reconciliation, Record, VirtualRegister, MR_IMA};

/// Extends per child.
const N: u64 = 60;
const CHILD_ENV: &str = "MR_VIRTUAL_TEST_CHILD";
const DIR_ENV: &str = "MR_VIRTUAL_TEST_DIR";
const TEST_NAME: &str = "two_processes_extending_one_register_leave_a_journal_that_replays";

fn child_measurement(child: u64, i: u64) -> [u8; 48] {
    sha384(&[b"child", &child.to_le_bytes(), &i.to_le_bytes()])
}

/// The child role: open the shared register and extend it N times.
fn child(child: u64, dir: PathBuf) {
    let backing = FileRegister {
        path: dir.join("rtmr3"),
    };
    let reg = VirtualRegister::open(MR_IMA, backing, dir.join("journal")).unwrap();
    for i in 0..N {
        reg.extend(&digest(&child_measurement(child, i))).unwrap();
        if i % 7 == 0 {
            // Let the other process in now and then.
            std::thread::yield_now();
        }
    }
}

#[test]
fn two_processes_extending_one_register_leave_a_journal_that_replays() {
    if let Ok(which) = std::env::var(CHILD_ENV) {
        let dir = PathBuf::from(std::env::var(DIR_ENV).unwrap());
        child(which.parse().unwrap(), dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let backing = FileRegister::create(&dir.path().join("rtmr3"));
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (1..=2u64)
        .map(|c| {
            Command::new(&exe)
                .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, c.to_string())
                .env(DIR_ENV, dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // The children's own test-harness output stays out of ours unless one fails.
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a child failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let path = dir.path().join("journal");
    let lines = journal_lines(&path);
    assert_eq!(lines.len() as u64, 2 * N);
    assert_eq!(backing.read().unwrap().as_bytes(), fold_lines(&lines));

    // Every extend of both children is there exactly once, each child's in its own order.
    let records: Vec<[u8; 48]> = lines
        .iter()
        .map(|l| match Record::parse(l).unwrap().unwrap() {
            Record::Extend { name, digest } => {
                assert_eq!(name, "mr_ima");
                digest.as_bytes().try_into().unwrap()
            }
            other => panic!("unexpected {other}"),
        })
        .collect();
    let unique: HashSet<[u8; 48]> = records.iter().copied().collect();
    assert_eq!(unique.len() as u64, 2 * N);
    for c in 1..=2u64 {
        let mine: Vec<[u8; 48]> = records
            .iter()
            .copied()
            .filter(|r| (0..N).any(|i| child_measurement(c, i) == *r))
            .collect();
        let want: Vec<[u8; 48]> = (0..N).map(|i| child_measurement(c, i)).collect();
        assert_eq!(mine, want, "child {c}'s extends out of order or missing");
    }

    // The journal reconciles cleanly and derives mr_ima = the fold in journal order.
    let reg = VirtualRegister::open(
        MR_IMA,
        FileRegister {
            path: backing.path.clone(),
        },
        &path,
    )
    .unwrap();
    assert_eq!(reg.reconciliation(), &Reconciliation::Clean);
    assert_eq!(reg.read().unwrap().as_bytes(), fold_digests(&records));
    let mut rtmr3 = ExpectedRegisters::new();
    rtmr3
        .insert(MrId::Rtmr(3), backing.read().unwrap())
        .unwrap();
    let v = VerifiedRegisters::from_verified_root(
        Provenance::TdQuote {
            root: "test".into(),
        },
        rtmr3,
    );
    let d = derive(
        std::fs::read(&path).unwrap().as_slice(),
        &MrId::Rtmr(3),
        &v,
        &DeriveOptions::default(),
    )
    .unwrap();
    assert_eq!(d.covered, 2 * N);
    assert_eq!(
        d.get("mr_ima", HashAlg::Sha384).unwrap().as_bytes(),
        fold_digests(&records)
    );
}
