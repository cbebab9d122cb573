//! What binds an IMA list to its boot: the first entry of the IMA register (PCR 10 unless a
//! target is set) counts only when a verified value of that register vouches for it, and a
//! verified IMA register at its reset value while the list extends it is refused unless a
//! checkpoint's start value says the replay resumes from elsewhere. Each case runs on one thread
//! (`replay`) and on two (`replay_parallel_chunked`, 1 KiB chunks), which must agree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::log::ima::builder::{BuiltEntry, ImaListBuilder};
use mr_core::log::ima::{self, DigestMode, HistoryError, ImaReplayConfig, ImaReplayReport};
use mr_core::replay::ReplayOptions;
use mr_core::{Digest, Error, ExpectedRegisters, HashAlg, MrId, Reference};

const ALG: HashAlg = HashAlg::Sha256;

/// `start` extended with the entries of `entries` that extend `pcr`.
fn value_from(start: Digest, pcr: u32, entries: &[BuiltEntry]) -> Digest {
    entries
        .iter()
        .filter(|e| e.register == MrId::Pcr(pcr))
        .fold(start, |v, e| {
            v.extended(e.extend_value(ALG, DigestMode::PerBank).as_bytes())
        })
}

fn values(pairs: &[(u32, Digest)]) -> ExpectedRegisters {
    let mut v = ExpectedRegisters::new();
    for (pcr, d) in pairs {
        v.insert(MrId::Pcr(*pcr), *d).unwrap();
    }
    v
}

/// `replay` on one thread and on two (1 KiB chunks): the same report or the same error.
fn replay_both<R: Reference>(
    list: &[u8],
    cfg: &ImaReplayConfig,
    expected: &R,
) -> Result<ImaReplayReport, Error> {
    let one = ima::replay(list, cfg, expected).map(R::into_report);
    let (two, _) = ima::replay_parallel_chunked(
        ima::chunks::Source::<&[u8]>::Memory(list),
        cfg,
        expected,
        1024,
    );
    let two = two.map(R::into_report);
    assert_eq!(format!("{one:?}"), format!("{two:?}"));
    one
}

fn never_extended_entry(err: &Error) -> Option<(MrId, u64)> {
    match err {
        Error::History(h) => match &**h {
            HistoryError::ImaRegisterNeverExtended { register, entry } => {
                Some((register.clone(), *entry))
            }
            _ => None,
        },
        _ => None,
    }
}

/// A PCR 10 `boot_aggregate` and files, with files in PCR 11 in between (40 entries: several
/// 1 KiB chunks).
fn list_with_pcr11() -> (Vec<u8>, Vec<BuiltEntry>) {
    let mut b = ImaListBuilder::binary();
    let mut entries = vec![b.boot_aggregate("ima-ng", &ALG.hash(b"this boot"))];
    for i in 0..39u32 {
        let pcr = if i % 3 == 0 { 11 } else { 10 };
        entries.push(b.ima_ng(pcr, &ALG.hash(&i.to_le_bytes()), &format!("/bin/f{i}")));
    }
    (b.finish(), entries)
}

/// Verified values for PCR 11 only: the list verifies (PCR 10 was never quoted, so its entries
/// are simply not covered), but PCR 10's `boot_aggregate` is vouched for by nothing, so it is
/// neither the list's boot aggregate nor counted, and the reset-value rule (which is about a
/// verified IMA register) does not apply.
#[test]
fn the_boot_aggregate_of_an_ima_register_without_a_verified_value_binds_nothing() {
    let (list, entries) = list_with_pcr11();
    let cfg = ImaReplayConfig::default().with_banks([ALG]);
    let pcr11 = value_from(Digest::zero(ALG), 11, &entries);
    let r = replay_both(&list, &cfg, &values(&[(11, pcr11)])).unwrap();
    // PCR 11's last entry is entry 37: the prefix is 38 entries, 13 of them covered.
    assert_eq!(r.outcome.covered, Some(38));
    let c = r.outcome.coverage.clone().unwrap();
    assert_eq!((c.entries, c.not_covered), (13, 25));
    assert_eq!(c.first_not_covered.map(|f| f.entry), Some(0));
    let start = r.ima_register_start.unwrap();
    assert_eq!(start.entry, 0);
    assert!(start.boot_aggregate.is_some());
    assert!(!start.covered, "PCR 10 has no verified value");
    assert_eq!(r.first_boot_aggregate(), None);
    assert_eq!(r.boot_aggregate_count, 0);
    assert!(r.boot_aggregates.is_empty());

    // The same list with PCR 10 verified too: its boot_aggregate binds.
    let pcr10 = value_from(Digest::zero(ALG), 10, &entries);
    let r = replay_both(&list, &cfg, &values(&[(10, pcr10), (11, pcr11)])).unwrap();
    assert!(r.ima_register_start.unwrap().covered);
    assert_eq!(r.first_boot_aggregate().map(|b| b.entry), Some(0));
    assert_eq!(r.boot_aggregate_count, 1);
}

/// A checkpoint's start value for PCR 10 that equals PCR 10's verified value: nothing after the
/// checkpoint was extended yet, so the entries are left over (the prefix rule), not refused as
/// a register the kernel never extended.
#[test]
fn a_checkpoint_start_value_at_the_verified_value_leaves_the_entries_over() {
    let (list, entries) = list_with_pcr11();
    let checkpoint = ALG.hash(b"PCR 10 at the checkpoint");
    let cfg = ImaReplayConfig::default()
        .with_banks([ALG])
        .with_replay(ReplayOptions::default().with_start(MrId::Pcr(10), checkpoint));
    let r = replay_both(&list, &cfg, &values(&[(10, checkpoint)])).unwrap();
    assert_eq!(r.outcome.covered, Some(0));
    assert_eq!(r.outcome.left_over(), entries.len() as u64);
    assert!(!r.ima_register_start.unwrap().covered);
    assert_eq!(r.first_boot_aggregate(), None);

    // The whole list from that start verifies and binds its boot_aggregate.
    let end = value_from(checkpoint, 10, &entries);
    let r = replay_both(&list, &cfg, &values(&[(10, end)])).unwrap();
    assert_eq!(r.outcome.left_over(), 0);
    assert_eq!(r.first_boot_aggregate().map(|b| b.entry), Some(0));
}

/// A start value equal to PCR 10's reset value (a checkpoint taken before any entry) is the same
/// start as none: PCR 10 verified at its reset value while the list extends it is refused.
#[test]
fn a_start_value_at_the_reset_value_keeps_the_never_extended_rule() {
    let (list, _) = list_with_pcr11();
    let reset = MrId::Pcr(10).reset_value(ALG);
    let cfg = ImaReplayConfig::default()
        .with_banks([ALG])
        .with_replay(ReplayOptions::default().with_start(MrId::Pcr(10), reset));
    let err = replay_both(&list, &cfg, &values(&[(10, reset)])).unwrap_err();
    assert_eq!(
        never_extended_entry(&err),
        Some((MrId::Pcr(10), 0)),
        "{err}"
    );
}

/// Only PCR 10's own start value matters: a start value for PCR 11 does not exempt a verified
/// PCR 10 at its reset value (both registers at their start, so the empty prefix matches).
#[test]
fn a_start_value_of_another_register_does_not_lift_the_never_extended_rule() {
    let (list, _) = list_with_pcr11();
    let eleven = ALG.hash(b"PCR 11 at the checkpoint");
    let cfg = ImaReplayConfig::default()
        .with_banks([ALG])
        .with_replay(ReplayOptions::default().with_start(MrId::Pcr(11), eleven));
    let expected = values(&[(10, MrId::Pcr(10).reset_value(ALG)), (11, eleven)]);
    let err = replay_both(&list, &cfg, &expected).unwrap_err();
    assert_eq!(
        never_extended_entry(&err),
        Some((MrId::Pcr(10), 0)),
        "{err}"
    );
}
