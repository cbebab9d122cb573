//! The attester side: extend/read against independent folds, crash safety at every step, torn
//! lines, foreign extends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;

use common::*;
use mr_core::{Digest, HashAlg, MeasurementRegister, MrId, SoftRegister};
use mr_virtual::{Error, Reconciliation, VirtualRegister, MR_IMA};

#[test]
fn extends_fold_into_the_backing_register_and_the_virtual_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let reg = VirtualRegister::open(
        MR_IMA,
        SoftRegister::new(MrId::Rtmr(3), HashAlg::Sha384),
        &path,
    )
    .unwrap();
    assert_eq!(reg.reconciliation(), &Reconciliation::Clean);
    assert_eq!(reg.id(), MrId::Virtual("mr_ima".into()));
    assert_eq!(reg.alg(), HashAlg::Sha384);
    assert_eq!(reg.read().unwrap(), Digest::zero(HashAlg::Sha384));

    let ms: Vec<[u8; 48]> = (0..20).map(measurement).collect();
    for m in &ms {
        reg.extend(&digest(m)).unwrap();
    }
    let lines: Vec<String> = ms.iter().map(|m| extend_line("mr_ima", m)).collect();
    assert_eq!(journal_lines(&path), lines);
    assert_eq!(reg.backing().read().unwrap().as_bytes(), fold_lines(&lines));
    assert_eq!(reg.read().unwrap().as_bytes(), fold_digests(&ms));
    assert_eq!(reg.extend_count(), 20);
    assert_eq!(reg.record_count(), 20);

    // A wrong-bank digest is refused and leaves no record.
    let err = reg
        .extend(&HashAlg::Sha256.hash(b"x"))
        .expect_err("a SHA-256 digest into a SHA-384 register");
    assert!(err.to_string().contains("sha256"), "{err}");
    assert_eq!(journal_lines(&path).len(), 20);

    // Reopening over the same (still extended) register is clean and reads the same value.
    let backing = SoftRegister::with_value(MrId::Rtmr(3), reg.backing().read().unwrap());
    drop(reg);
    let again = VirtualRegister::open(MR_IMA, backing, &path).unwrap();
    assert_eq!(again.reconciliation(), &Reconciliation::Clean);
    assert_eq!(again.read().unwrap().as_bytes(), fold_digests(&ms));
    assert_eq!(again.extend_count(), 20);
}

#[test]
fn several_virtual_registers_share_one_backing_register() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let rtmr = SharedRtmr::new();
    let ima = VirtualRegister::open(MR_IMA, rtmr.clone(), &path).unwrap();
    let other = VirtualRegister::open("mr_app.v1", rtmr.clone(), &path).unwrap();
    let mut lines = Vec::new();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..10 {
        let m = measurement(i);
        if i % 3 == 0 {
            other.extend(&digest(&m)).unwrap();
            lines.push(extend_line("mr_app.v1", &m));
            b.push(m);
        } else {
            ima.extend(&digest(&m)).unwrap();
            lines.push(extend_line("mr_ima", &m));
            a.push(m);
        }
    }
    assert_eq!(journal_lines(&path), lines);
    assert_eq!(rtmr.read().unwrap().as_bytes(), fold_lines(&lines));
    assert_eq!(ima.read().unwrap().as_bytes(), fold_digests(&a));
    assert_eq!(other.read().unwrap().as_bytes(), fold_digests(&b));
    assert_eq!(ima.extend_count(), a.len() as u64);
    assert_eq!(other.extend_count(), b.len() as u64);
}

#[test]
fn comments_and_blank_lines_are_kept_but_not_extended() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    std::fs::write(&path, "# mr journal\n\n").unwrap();
    let reg = VirtualRegister::open(MR_IMA, SharedRtmr::new(), &path).unwrap();
    assert_eq!(reg.reconciliation(), &Reconciliation::Clean);
    reg.extend(&digest(&measurement(1))).unwrap();
    let lines = journal_lines(&path);
    assert_eq!(lines.len(), 3);
    assert_eq!(
        reg.backing().read().unwrap().as_bytes(),
        fold_lines(&lines[2..])
    );
}

#[test]
fn invalid_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["", "SYNC", "a b", "mr/ima", &"x".repeat(65)] {
        let err = VirtualRegister::open(name, SharedRtmr::new(), dir.path().join("j")).unwrap_err();
        assert!(matches!(err, Error::InvalidName(_)), "{name:?}: {err}");
    }
}

/// A crash between the journal append and the backing extend, injected at every step: the
/// reopened register redoes exactly that extend; no record is lost or extended twice.
#[test]
fn a_failure_between_append_and_extend_at_every_step_reconciles() {
    const N: u64 = 8;
    let ms: Vec<[u8; 48]> = (0..N).map(measurement).collect();
    let all_lines: Vec<String> = ms.iter().map(|m| extend_line("mr_ima", m)).collect();
    for k in 1..=N {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let rtmr = SharedRtmr::new();
        {
            let reg = VirtualRegister::open(MR_IMA, FailingRegister::new(rtmr.clone(), k), &path)
                .unwrap();
            for (i, m) in ms.iter().enumerate().take(k as usize) {
                let r = reg.extend(&digest(m));
                if i as u64 + 1 == k {
                    assert!(r.is_err(), "extend {k} must fail");
                } else {
                    r.unwrap();
                }
            }
            // The "crash": the journal has k records, the register only k-1 extends.
            assert_eq!(journal_lines(&path), all_lines[..k as usize]);
            assert_eq!(
                rtmr.read().unwrap().as_bytes(),
                fold_lines(&all_lines[..k as usize - 1])
            );
        }
        if k == 1 {
            // A crash before the journal's first extend looks exactly like a journal of an
            // earlier boot over a reset register: refused, and a new journal starts over.
            let err = VirtualRegister::open(MR_IMA, rtmr.clone(), &path).unwrap_err();
            assert!(
                matches!(err, Error::StaleJournal { records: 1, .. }),
                "{err}"
            );
            assert!(rtmr.read().unwrap().is_zero());
            std::fs::remove_file(&path).unwrap();
            let reg = VirtualRegister::open(MR_IMA, rtmr.clone(), &path).unwrap();
            for m in &ms {
                reg.extend(&digest(m)).unwrap();
            }
            assert_eq!(journal_lines(&path), all_lines);
            assert_eq!(rtmr.read().unwrap().as_bytes(), fold_lines(&all_lines));
            continue;
        }
        let reg = VirtualRegister::open(MR_IMA, rtmr.clone(), &path).unwrap();
        assert_eq!(
            reg.reconciliation(),
            &Reconciliation::RedidLastExtend { line: k },
            "k = {k}"
        );
        assert_eq!(
            rtmr.read().unwrap().as_bytes(),
            fold_lines(&all_lines[..k as usize])
        );
        for m in &ms[k as usize..] {
            reg.extend(&digest(m)).unwrap();
        }
        assert_eq!(journal_lines(&path), all_lines, "k = {k}");
        assert_eq!(rtmr.read().unwrap().as_bytes(), fold_lines(&all_lines));
        assert_eq!(reg.read().unwrap().as_bytes(), fold_digests(&ms));
        assert_eq!(reg.extend_count(), N);
    }
}

/// The same failure, but the process goes on (no restart): the next extend reconciles first.
#[test]
fn a_failed_extend_is_redone_by_the_next_operation_in_the_same_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let rtmr = SharedRtmr::new();
    let reg = VirtualRegister::open(MR_IMA, FailingRegister::new(rtmr.clone(), 2), &path).unwrap();
    let ms: Vec<[u8; 48]> = (0..4).map(measurement).collect();
    reg.extend(&digest(&ms[0])).unwrap();
    assert!(reg.extend(&digest(&ms[1])).is_err());
    reg.extend(&digest(&ms[2])).unwrap();
    reg.extend(&digest(&ms[3])).unwrap();
    let lines: Vec<String> = ms.iter().map(|m| extend_line("mr_ima", m)).collect();
    assert_eq!(journal_lines(&path), lines);
    assert_eq!(rtmr.read().unwrap().as_bytes(), fold_lines(&lines));
    assert_eq!(reg.read().unwrap().as_bytes(), fold_digests(&ms));
}

#[test]
fn a_torn_last_line_is_cut_off_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let rtmr = SharedRtmr::new();
    let ms: Vec<[u8; 48]> = (0..3).map(measurement).collect();
    {
        let reg = VirtualRegister::open(MR_IMA, rtmr.clone(), &path).unwrap();
        reg.extend(&digest(&ms[0])).unwrap();
        reg.extend(&digest(&ms[1])).unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let torn = &extend_line("mr_ima", &ms[2])[..30];
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(torn.as_bytes())
        .unwrap();
    let reg = VirtualRegister::open(MR_IMA, rtmr.clone(), &path).unwrap();
    assert_eq!(
        reg.reconciliation(),
        &Reconciliation::TruncatedTornLine { line: 3, bytes: 30 }
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    reg.extend(&digest(&ms[2])).unwrap();
    let lines: Vec<String> = ms.iter().map(|m| extend_line("mr_ima", m)).collect();
    assert_eq!(journal_lines(&path), lines);
    assert_eq!(rtmr.read().unwrap().as_bytes(), fold_lines(&lines));
    assert_eq!(reg.read().unwrap().as_bytes(), fold_digests(&ms));
}

#[test]
fn a_torn_line_after_an_unextended_record_is_cut_off_and_the_record_redone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let rtmr = SharedRtmr::new();
    {
        let reg =
            VirtualRegister::open(MR_IMA, FailingRegister::new(rtmr.clone(), 2), &path).unwrap();
        reg.extend(&digest(&measurement(0))).unwrap();
        assert!(reg.extend(&digest(&measurement(1))).is_err());
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"mr_ima ext")
        .unwrap();
    // As a crash in the middle of writing a batch leaves it: the complete records are redone
    // and the torn line is cut off.
    let reg = VirtualRegister::open(MR_IMA, rtmr.clone(), &path).unwrap();
    assert_eq!(
        reg.reconciliation(),
        &Reconciliation::RedidLastExtends {
            first_line: 2,
            records: 1,
            torn: Some((3, 10))
        }
    );
    let lines: Vec<String> = (0..2)
        .map(|i| extend_line("mr_ima", &measurement(i)))
        .collect();
    assert_eq!(journal_lines(&path), lines);
    assert_eq!(rtmr.read().unwrap().as_bytes(), fold_lines(&lines));
}

#[test]
fn a_foreign_extend_of_the_backing_register_is_reported_with_both_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let rtmr = SharedRtmr::new();
    let ms: Vec<[u8; 48]> = (0..3).map(measurement).collect();
    let lines: Vec<String> = ms.iter().map(|m| extend_line("mr_ima", m)).collect();
    let reg = VirtualRegister::open(MR_IMA, rtmr.clone(), &path).unwrap();
    for m in &ms {
        reg.extend(&digest(m)).unwrap();
    }
    // Someone extends RTMR3 without logging.
    rtmr.extend(&digest(&measurement(99))).unwrap();
    let actual = rtmr.read().unwrap();
    let check = |err: Error| match err {
        Error::Reconcile(r) => {
            assert_eq!(r.register, MrId::Rtmr(3));
            assert_eq!(r.expected.as_bytes(), fold_lines(&lines));
            assert_eq!(r.previous.unwrap().as_bytes(), fold_lines(&lines[..2]));
            assert_eq!(r.actual, actual);
            assert_eq!(r.records, 3);
        }
        other => panic!("expected a reconcile error, got {other}"),
    };
    // While open: the next extend refuses (and appends nothing) ...
    check(
        reg.extend_logged(&digest(&measurement(3)))
            .expect_err("foreign extend"),
    );
    assert_eq!(journal_lines(&path), lines);
    // ... and so does a reopen.
    drop(reg);
    let err = VirtualRegister::open(MR_IMA, rtmr.clone(), &path).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("without logging"), "{text}");
    assert!(text.contains(&actual.to_hex()), "{text}");
    check(err);
}

#[test]
fn a_journal_of_another_boot_is_refused() {
    // The register was reset (a reboot) but the old journal is still there.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    {
        let reg = VirtualRegister::open(MR_IMA, SharedRtmr::new(), &path).unwrap();
        for i in 0..3 {
            reg.extend(&digest(&measurement(i))).unwrap();
        }
    }
    let before = std::fs::read(&path).unwrap();
    let rtmr = SharedRtmr::new();
    let err = VirtualRegister::open(MR_IMA, rtmr.clone(), &path).unwrap_err();
    assert!(
        matches!(err, Error::StaleJournal { records: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("earlier boot"), "{err}");
    // Nothing was replayed into the new boot's register, nothing changed in the journal.
    assert!(rtmr.read().unwrap().is_zero());
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_bad_line_in_the_journal_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let good = extend_line("mr_ima", &measurement(0));
    std::fs::write(&path, format!("{good}\n# ok\nmr_ima extend sha384/XYZ\n")).unwrap();
    let err = VirtualRegister::open(MR_IMA, SharedRtmr::new(), &path).unwrap_err();
    assert!(matches!(err, Error::Record { line: 3, .. }), "{err}");
    assert!(err.to_string().starts_with("journal line 3:"), "{err}");
}

#[test]
fn sync_records_are_extended_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let rtmr = SharedRtmr::new();
    let reg = VirtualRegister::open(MR_IMA, rtmr.clone(), &path).unwrap();
    reg.extend(&digest(&measurement(0))).unwrap();
    let before = rtmr.read().unwrap();
    assert_eq!(reg.write_sync().unwrap(), before);
    reg.extend(&digest(&measurement(1))).unwrap();
    let lines = journal_lines(&path);
    assert_eq!(lines[1], format!("SYNC sha384/{}", before.to_hex()));
    assert_eq!(rtmr.read().unwrap().as_bytes(), fold_lines(&lines));
    assert_eq!(
        reg.read().unwrap().as_bytes(),
        fold_digests(&[measurement(0), measurement(1)])
    );
    drop(reg);
    assert_eq!(
        VirtualRegister::open(MR_IMA, rtmr.clone(), &path)
            .unwrap()
            .reconciliation(),
        &Reconciliation::Clean
    );

    // A SYNC line that does not hold the replayed value is refused with its line.
    let bad = format!(
        "{}\nSYNC sha384/{}\n",
        lines[0],
        Digest::ones(HashAlg::Sha384).to_hex()
    );
    std::fs::write(&path, bad).unwrap();
    let err = VirtualRegister::open(MR_IMA, SharedRtmr::new(), &path).unwrap_err();
    match err {
        Error::SyncMismatch(s) => {
            assert_eq!(s.line, 2);
            assert_eq!(s.recorded, Digest::ones(HashAlg::Sha384));
            assert_eq!(s.replayed.as_bytes(), fold_lines(&lines[..1]));
        }
        other => panic!("{other}"),
    }

    // The attester cannot resume a rotated journal (first record SYNC).
    std::fs::write(&path, format!("# rotated\n{}\n", lines[1])).unwrap();
    let err = VirtualRegister::open(MR_IMA, SharedRtmr::new(), &path).unwrap_err();
    assert!(matches!(err, Error::Journal { line: 2, .. }), "{err}");
}

#[test]
fn the_journal_lock_excludes_a_second_handle() {
    // A second Journal on the same file (another open file description, as in another
    // process) waits for the lock.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let reg = VirtualRegister::open(MR_IMA, SharedRtmr::new(), &path).unwrap();
    let other = mr_virtual::Journal::open(&path).unwrap();
    let guard = other.lock().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            reg.extend(&digest(&measurement(0))).unwrap();
            tx.send(()).unwrap();
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            rx.try_recv().is_err(),
            "extend went ahead under a held lock"
        );
        assert!(journal_lines(&path).is_empty());
        drop(guard);
        rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    });
    assert_eq!(journal_lines(&path).len(), 1);
}

/// A failure at every extend inside a batch (the records were appended with one fsync): the
/// reopened register extends exactly the records the register had not seen.
#[test]
fn a_failure_inside_a_batch_at_every_step_reconciles() {
    const B: u64 = 6;
    let ms: Vec<[u8; 48]> = (0..B + 2).map(measurement).collect();
    let all_lines: Vec<String> = ms.iter().map(|m| extend_line("mr_ima", m)).collect();
    for k in 1..=B {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let rtmr = SharedRtmr::new();
        {
            // Extend 1 succeeds (a record the register has seen), then a batch of B whose
            // k-th extend (extend k+1 overall) fails.
            let reg =
                VirtualRegister::open(MR_IMA, FailingRegister::new(rtmr.clone(), k + 1), &path)
                    .unwrap();
            reg.extend(&digest(&ms[0])).unwrap();
            let batch: Vec<Digest> = ms[1..=B as usize].iter().map(digest).collect();
            assert!(reg.extend_batch(Some(1), &batch).is_err());
            assert_eq!(journal_lines(&path), all_lines[..=B as usize]);
            assert_eq!(
                rtmr.read().unwrap().as_bytes(),
                fold_lines(&all_lines[..k as usize])
            );
        }
        let reg = VirtualRegister::open(MR_IMA, rtmr.clone(), &path).unwrap();
        let unseen = B - k + 1;
        let want = if unseen == 1 {
            Reconciliation::RedidLastExtend { line: B + 1 }
        } else {
            Reconciliation::RedidLastExtends {
                first_line: k + 1,
                records: unseen,
                torn: None,
            }
        };
        assert_eq!(reg.reconciliation(), &want, "k = {k}");
        assert_eq!(
            rtmr.read().unwrap().as_bytes(),
            fold_lines(&all_lines[..=B as usize])
        );
        let rest: Vec<Digest> = ms[B as usize + 1..].iter().map(digest).collect();
        assert_eq!(reg.extend_batch(Some(B + 1), &rest).unwrap(), B + 2);
        assert_eq!(journal_lines(&path), all_lines);
        assert_eq!(rtmr.read().unwrap().as_bytes(), fold_lines(&all_lines));
        assert_eq!(reg.read().unwrap().as_bytes(), fold_digests(&ms));
    }
}

#[test]
fn batches_are_bounded_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let reg = VirtualRegister::open(MR_IMA, SharedRtmr::new(), &path).unwrap();
    let too_many = vec![digest(&measurement(0)); mr_virtual::MAX_BATCH + 1];
    assert!(reg.extend_batch(None, &too_many).is_err());
    let two = [digest(&measurement(0)), HashAlg::Sha256.hash(b"x")];
    assert!(matches!(
        reg.extend_batch(None, &two),
        Err(Error::WrongAlgorithm { .. })
    ));
    assert!(matches!(
        reg.extend_batch(Some(5), &two[..1]),
        Err(Error::ConcurrentWriter {
            expected: 5,
            found: 0,
            ..
        })
    ));
    assert!(journal_lines(&path).is_empty());
    assert_eq!(reg.extend_batch(Some(0), &[]).unwrap(), 0);
}
