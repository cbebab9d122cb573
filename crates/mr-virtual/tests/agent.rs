//! The IMA agent: a list synced into mr_ima over RTMR3 gives the value mr-core's IMA replay
//! computes; resuming after a restart neither skips nor repeats; a list that does not continue
//! the journal is refused; the verifier derives mr_ima and the list replays against it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use mr_core::ComputeOnly;
use mr_core::ExpectedRegisters;
use std::path::Path;

use common::*;
use mr_core::log::ima::builder::ImaListBuilder;
use mr_core::log::ima::sample::write_sample_list;
use mr_core::log::ima::{self, ImaReader, ImaReaderOptions, ImaReplayConfig, ListKind};
use mr_core::{Digest, HashAlg, MeasurementRegister, MrId, Provenance, VerifiedRegisters};
use mr_virtual::verify::{derive, DeriveOptions};
use mr_virtual::{Error, ImaAgent, VirtualRegister, MR_IMA};

fn sample(kind: ListKind, entries: u64, seed: u64) -> Vec<u8> {
    let mut list = Vec::new();
    write_sample_list(&mut list, kind, entries, &[HashAlg::Sha384], seed).unwrap();
    list
}

/// mr_ima as mr-core's IMA replay computes it (every entry extends mr_ima, SHA-384 per-bank
/// template digests, violations as all-0xFF).
fn replayed_mr_ima(list: &[u8]) -> Digest {
    let config = ImaReplayConfig::default()
        .with_banks([HashAlg::Sha384])
        .with_target(MrId::Virtual("mr_ima".into()));
    let report = ima::replay(list, &config, &ComputeOnly).unwrap();
    report
        .outcome
        .registers
        .iter()
        .find(|r| r.id == MrId::Virtual("mr_ima".into()) && r.value.alg() == HashAlg::Sha384)
        .unwrap()
        .value
}

/// Byte offset of entry `n` of `list`.
fn offset_of(list: &[u8], n: u64) -> usize {
    let mut r = ImaReader::new(list, ImaReaderOptions::default());
    while let Some(e) = r.next_entry().unwrap() {
        if e.index() == n {
            return e.offset() as usize;
        }
    }
    panic!("no entry {n}");
}

fn agent(rtmr: &SharedRtmr, journal: &Path) -> ImaAgent<SharedRtmr> {
    ImaAgent::new(VirtualRegister::open(MR_IMA, rtmr.clone(), journal).unwrap())
}

#[test]
fn one_sync_gives_the_value_of_the_ima_replay() {
    // 1200 entries: boot_aggregate, ima-ng, ima-sig, ima-buf and two violations.
    let list = sample(ListKind::Binary, 1200, 11);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let rtmr = SharedRtmr::new();
    let mut a = agent(&rtmr, &path);
    let p = a.sync(&list[..]).unwrap();
    assert_eq!(
        (p.new_entries, p.total_entries, p.trailing_bytes),
        (1200, 1200, 0)
    );
    let mr_ima = a.register().read().unwrap();
    assert_eq!(mr_ima, replayed_mr_ima(&list));
    assert_eq!(a.register().extend_count(), 1200);
    let lines = journal_lines(&path);
    assert_eq!(lines.len(), 1200);
    assert_eq!(rtmr.read().unwrap().as_bytes(), fold_lines(&lines));
    // Nothing new: nothing extended.
    let p = a.sync(&list[..]).unwrap();
    assert_eq!((p.new_entries, p.total_entries), (0, 1200));
    assert_eq!(journal_lines(&path).len(), 1200);
}

#[test]
fn a_restart_resumes_without_skipping_or_repeating() {
    let list = sample(ListKind::Binary, 700, 3);
    let half = offset_of(&list, 350);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let rtmr = SharedRtmr::new();
    {
        let mut a = agent(&rtmr, &path);
        let p = a.sync(&list[..half]).unwrap();
        assert_eq!((p.new_entries, p.total_entries), (350, 350));
    }
    // A new process: a new agent over the reopened register reads the whole list again.
    let mut a = agent(&rtmr, &path);
    assert_eq!(a.register().extend_count(), 350);
    let p = a.sync(&list[..]).unwrap();
    assert_eq!((p.new_entries, p.total_entries), (350, 700));
    assert_eq!(a.register().read().unwrap(), replayed_mr_ima(&list));

    // The same as one sync of the whole list, over a fresh register.
    let dir2 = tempfile::tempdir().unwrap();
    let rtmr2 = SharedRtmr::new();
    let mut b = agent(&rtmr2, &dir2.path().join("journal"));
    b.sync(&list[..]).unwrap();
    assert_eq!(b.register().read().unwrap(), a.register().read().unwrap());
    assert_eq!(rtmr2.read().unwrap(), rtmr.read().unwrap());
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(dir2.path().join("journal")).unwrap()
    );
}

#[test]
fn repeated_syncs_in_one_process_follow_a_growing_list() {
    let list = sample(ListKind::Binary, 900, 5);
    let dir = tempfile::tempdir().unwrap();
    let rtmr = SharedRtmr::new();
    let mut a = agent(&rtmr, &dir.path().join("journal"));
    let mut done = 0;
    for (n, cut) in [(1u64, 0usize), (300, 7), (301, 0), (899, 100), (900, 0)] {
        // The list as the kernel has it so far, possibly mid-way through the next entry.
        let end = if n == 900 {
            list.len()
        } else {
            offset_of(&list, n) + cut
        };
        let p = a.sync(&list[..end]).unwrap();
        assert_eq!(p.new_entries, n - done, "at {n}");
        assert_eq!(p.total_entries, n);
        assert_eq!(p.trailing_bytes, cut as u64);
        done = n;
    }
    assert_eq!(a.register().read().unwrap(), replayed_mr_ima(&list));
}

#[test]
fn ascii_lists_give_the_same_value() {
    let bin = sample(ListKind::Binary, 400, 9);
    let ascii = sample(ListKind::Ascii, 400, 9);
    let dir = tempfile::tempdir().unwrap();
    let mut a = agent(&SharedRtmr::new(), &dir.path().join("a"));
    a.sync(&ascii[..offset_of(&ascii, 200)]).unwrap();
    a.sync(&ascii[..]).unwrap();
    let mut b = agent(&SharedRtmr::new(), &dir.path().join("b"));
    b.sync(&bin[..]).unwrap();
    assert_eq!(a.register().read().unwrap(), b.register().read().unwrap());
    assert_eq!(a.register().read().unwrap(), replayed_mr_ima(&bin));
}

#[test]
fn a_list_that_does_not_continue_the_journal_is_refused() {
    let old = sample(ListKind::Binary, 300, 1);
    let new = sample(ListKind::Binary, 300, 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let rtmr = SharedRtmr::new();
    agent(&rtmr, &path).sync(&old[..]).unwrap();
    let before = std::fs::read(&path).unwrap();

    // Another list (both start with the same boot_aggregate: entry 1 differs).
    let err = agent(&rtmr, &path).sync(&new[..]).unwrap_err();
    match &err {
        Error::ListDiverges(d) => {
            assert_eq!(d.entry, 1);
            assert_eq!(d.line, 2);
        }
        other => panic!("{other}"),
    }
    assert_eq!(err.class(), mr_core::ErrorClass::Rejected);
    // A shorter list (an earlier boot's, or the list of a fresh boot).
    let err = agent(&rtmr, &path)
        .sync(&old[..offset_of(&old, 100)])
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ListShorter {
                entries: 100,
                recorded: 300
            }
        ),
        "{err}"
    );
    // Within one process, a list replaced behind the agent's back is caught too.
    let mut a = agent(&rtmr, &path);
    a.sync(&old[..]).unwrap();
    let err = a.sync(&new[..]).unwrap_err();
    assert!(
        matches!(err, Error::ListChanged { entry: 299, .. }),
        "{err}"
    );
    // ... and the next sync of that agent checks the whole list again.
    let err = a.sync(&new[..]).unwrap_err();
    assert!(
        matches!(&err, Error::ListDiverges(d) if d.entry == 1),
        "{err}"
    );
    // A list truncated behind the agent's back.
    let mut a = agent(&rtmr, &path);
    a.sync(&old[..]).unwrap();
    let err = a.sync(&old[..100]).unwrap_err();
    assert!(matches!(err, Error::ListChanged { .. }), "{err}");
    // Nothing was extended by the refused syncs.
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_tampered_entry_is_refused_by_the_agent() {
    let mut list = sample(ListKind::Binary, 50, 4);
    // Flip a byte inside entry 10's template data (the path's last byte).
    let at = offset_of(&list, 11) - 1;
    list[at] ^= 0x01;
    let dir = tempfile::tempdir().unwrap();
    let mut a = agent(&SharedRtmr::new(), &dir.path().join("journal"));
    let err = a.sync(&list[..]).unwrap_err();
    assert!(
        matches!(&err, Error::Core(mr_core::Error::EntryDigest(e)) if e.entry == 10),
        "{err}"
    );
    assert_eq!(a.register().extend_count(), 10);
}

#[test]
fn an_empty_list_extends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = agent(&SharedRtmr::new(), &dir.path().join("journal"));
    let p = a.sync(&b""[..]).unwrap();
    assert_eq!((p.new_entries, p.total_entries), (0, 0));
    assert_eq!(a.register().read().unwrap(), Digest::zero(HashAlg::Sha384));
}

#[test]
fn violations_extend_all_ones() {
    let mut b = ImaListBuilder::binary();
    b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"pcrs"));
    let v = b.violation(10, "ima-ng", HashAlg::Sha256, "/tmp/f");
    let list = b.finish();
    let dir = tempfile::tempdir().unwrap();
    let mut a = agent(&SharedRtmr::new(), &dir.path().join("journal"));
    a.sync(&list[..]).unwrap();
    assert!(v.violation);
    let last = journal_lines(&dir.path().join("journal")).pop().unwrap();
    assert_eq!(last, format!("mr_ima extend sha384/{}", "ff".repeat(48)));
    assert_eq!(a.register().read().unwrap(), replayed_mr_ima(&list));
}

#[test]
fn the_verifier_derives_mr_ima_and_the_list_replays_against_it() {
    let list = sample(ListKind::Binary, 500, 21);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let rtmr = SharedRtmr::new();
    let mut a = agent(&rtmr, &path);
    a.sync(&list[..offset_of(&list, 480)]).unwrap();
    // The quote is taken here; the agent goes on.
    let mut rtmr3 = ExpectedRegisters::new();
    rtmr3.insert(MrId::Rtmr(3), rtmr.read().unwrap()).unwrap();
    let quoted = VerifiedRegisters::from_verified_root(
        Provenance::TdQuote {
            root: "test".into(),
        },
        rtmr3,
    );
    a.sync(&list[..]).unwrap();

    let journal = std::fs::read(&path).unwrap();
    let d = derive(
        &journal[..],
        &MrId::Rtmr(3),
        &quoted,
        &DeriveOptions::default(),
    )
    .unwrap();
    assert_eq!((d.records, d.covered, d.left_over), (500, 480, 20));
    let config = ImaReplayConfig::default().with_target(MrId::Virtual("mr_ima".into()));
    let report = ima::replay(&list[..], &config, &d.registers).unwrap();
    assert_eq!(report.outcome.covered, Some(480));
    assert_eq!(report.entries, 500);

    // A tampered list does not replay against the derived mr_ima.
    let mut tampered = list.clone();
    let at = offset_of(&list, 101) - 1;
    tampered[at] ^= 0x01;
    assert!(ima::replay(&tampered[..], &config, &d.registers).is_err());
}

#[test]
fn an_agent_crash_inside_a_batch_resumes_exactly() {
    let list = sample(ListKind::Binary, 1000, 8);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let rtmr = SharedRtmr::new();
    {
        // The 300th extend fails: the batch holding it was appended but only partly extended.
        let reg =
            VirtualRegister::open(MR_IMA, FailingRegister::new(rtmr.clone(), 300), &path).unwrap();
        let mut a = ImaAgent::new(reg);
        assert!(a.sync(&list[..]).is_err());
        assert!(a.register().extend_count() >= 300);
    }
    let mut a = agent(&rtmr, &path);
    assert!(matches!(
        a.register().reconciliation(),
        mr_virtual::Reconciliation::RedidLastExtends { .. }
            | mr_virtual::Reconciliation::RedidLastExtend { .. }
    ));
    let p = a.sync(&list[..]).unwrap();
    assert_eq!(p.total_entries, 1000);
    assert_eq!(a.register().read().unwrap(), replayed_mr_ima(&list));
    let lines = journal_lines(&path);
    assert_eq!(lines.len(), 1000);
    assert_eq!(rtmr.read().unwrap().as_bytes(), fold_lines(&lines));
}

#[test]
fn two_agents_on_one_journal_never_extend_an_entry_twice() {
    let list = sample(ListKind::Binary, 600, 12);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let rtmr = SharedRtmr::new();
    let mut a = agent(&rtmr, &path);
    let mut b = agent(&rtmr, &path);
    assert_eq!(
        a.sync(&list[..offset_of(&list, 200)]).unwrap().new_entries,
        200
    );
    // B sees A's 200 records, checks them against the list and adds the rest.
    let p = b.sync(&list[..]).unwrap();
    assert_eq!((p.new_entries, p.total_entries), (400, 600));
    // A notices the journal moved on (its position is stale), re-checks, adds nothing.
    let p = a.sync(&list[..]).unwrap();
    assert_eq!((p.new_entries, p.total_entries), (0, 600));
    let lines = journal_lines(&path);
    assert_eq!(lines.len(), 600);
    assert_eq!(rtmr.read().unwrap().as_bytes(), fold_lines(&lines));
    assert_eq!(a.register().read().unwrap(), replayed_mr_ima(&list));
    // A direct compare-and-extend at a stale position is refused.
    let err = a
        .register()
        .extend_expecting(599, &Digest::zero(HashAlg::Sha384))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ConcurrentWriter {
                expected: 599,
                found: 600,
                ..
            }
        ),
        "{err}"
    );
}

/// `mr agent ima --backing`: an RTMR (0-3) or a PCR (0-23, `pcr:N` or `pcrN`), any case;
/// anything else is refused as malformed. (Moved from the CLI's unit tests with the parser.)
#[test]
fn backing_names_parse() {
    use mr_virtual::agent::parse_backing;
    assert_eq!(parse_backing("rtmr3").ok(), Some(MrId::Rtmr(3)));
    assert_eq!(parse_backing("RTMR0").ok(), Some(MrId::Rtmr(0)));
    assert_eq!(parse_backing("pcr:10").ok(), Some(MrId::Pcr(10)));
    assert_eq!(parse_backing("pcr16").ok(), Some(MrId::Pcr(16)));
    for bad in [
        "rtmr4", "pcr:24", "pcr:", "mr_ima", "", "10", "mrtd", "pcr:pcr1",
    ] {
        let e = parse_backing(bad).unwrap_err();
        assert!(matches!(e, Error::InvalidBacking(_)), "{bad}: {e}");
        assert_eq!(e.class(), mr_core::ErrorClass::Malformed);
        assert_eq!(
            e.to_string(),
            format!("{bad:?}: expected rtmr3 (rtmr0..rtmr3) or pcr:N")
        );
    }
}
