//! Only entries of a verified register are covered, and only they are used for anything (issue
//! 14 items 1 and 5): the boot_aggregate that binds a boot log is the first entry of the IMA
//! register, covered by the verified prefix, never a `boot_aggregate` named on another PCR; entries
//! of registers without a verified value are reported as not covered; the no-TPM rule is decided
//! over every entry, not over the capped list of reported boot aggregates. Each property is checked
//! on one thread (`replay`) and on two (`replay_parallel`, also in small chunks).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::log::ima::builder::{BuiltEntry, ImaListBuilder};
use mr_core::log::ima::{
    self, DigestMode, HistoryError, ImaInput, ImaOptions, ImaReplayConfig, ImaReplayReport,
    MAX_REPORTED_BOOT_AGGREGATES,
};
use mr_core::replay::{NotCovered, ReplayOptions};
use mr_core::{ComputeOnly, Reference};
use mr_core::{Digest, Error, ExpectedRegisters, HashAlg, MrId};

const ALG: HashAlg = HashAlg::Sha256;

/// The value of `pcr` after `entries` (those of other registers are skipped).
fn value_of(pcr: u32, entries: &[BuiltEntry]) -> Digest {
    entries
        .iter()
        .filter(|e| e.register == MrId::Pcr(pcr))
        .fold(Digest::zero(ALG), |v, e| {
            v.extended(e.extend_value(ALG, DigestMode::PerBank).as_bytes())
        })
}

fn pcr10(value: Digest) -> ExpectedRegisters {
    ExpectedRegisters::from_values([mr_core::RegisterValue {
        id: MrId::Pcr(10),
        value,
    }])
    .unwrap()
}

/// `replay` and `verify` on two threads (default and 1 KiB chunks) of `list`, which must agree.
fn replay_both<R: Reference>(
    list: &[u8],
    cfg: &ImaReplayConfig,
    expected: &R,
) -> Result<R::Outcome<ImaReplayReport>, Error>
where
    R::Outcome<ImaReplayReport>: std::fmt::Debug,
{
    let one = ima::replay(list, cfg, expected);
    for two in [
        ima::verify(
            ImaInput::from_bytes(list),
            expected,
            &ImaOptions::default()
                .with_replay(cfg.clone())
                .with_threads(2),
        ),
        ima::replay_parallel_chunked(ima::chunks::Source::Read(list), cfg, expected, 1024).0,
    ] {
        assert_eq!(format!("{one:?}"), format!("{two:?}"));
    }
    one
}

/// A `boot_aggregate` on PCR 11 (not quoted) that matches a good boot log, then the real PCR 10
/// `boot_aggregate` (another value) and files measured into PCR 10.
fn decoy_list() -> (Vec<u8>, Vec<BuiltEntry>, Digest, Digest) {
    let good = ALG.hash(b"the aggregate of a good boot log");
    let real = ALG.hash(b"the aggregate of this boot");
    let mut b = ImaListBuilder::binary();
    let mut entries = vec![
        b.boot_aggregate_at(11, "ima-ng", &good),
        b.boot_aggregate_at(10, "ima-ng", &real),
    ];
    for i in 0..40u32 {
        entries.push(b.ima_ng(10, &ALG.hash(&i.to_le_bytes()), &format!("/bin/f{i}")));
    }
    (b.finish(), entries, good, real)
}

#[test]
fn a_boot_aggregate_on_an_unquoted_pcr_is_not_the_lists_boot_aggregate() {
    let (list, entries, good, real) = decoy_list();
    let exp = pcr10(value_of(10, &entries));
    let cfg = ImaReplayConfig::default();
    let r = replay_both(&list, &cfg, &exp).unwrap();
    let first = r.first_boot_aggregate().expect("the PCR 10 boot_aggregate");
    assert_eq!((first.entry, first.pcr, first.digest), (1, 10, real));
    assert_ne!(first.digest, good);
    // The decoy is neither reported nor counted, and its entry is not covered.
    assert_eq!(r.boot_aggregate_count, 1);
    assert_eq!(
        r.boot_aggregates
            .iter()
            .map(|b| b.entry)
            .collect::<Vec<_>>(),
        [1]
    );
    let c = r.outcome.coverage.clone().unwrap();
    assert_eq!((c.entries, c.not_covered), (41, 1));
    assert_eq!(
        c.first_not_covered,
        Some(NotCovered {
            entry: 0,
            register: MrId::Pcr(11)
        })
    );
    assert_eq!(r.outcome.covered_entries(), Some(41));
    assert_eq!(r.outcome.covered, Some(42));

    // Without verified values nothing is covered, but the boot_aggregate is still PCR 10's.
    let r = replay_both(&list, &cfg, &ComputeOnly).unwrap();
    assert_eq!(r.first_boot_aggregate().map(|b| b.entry), Some(1));
    assert_eq!(r.outcome.coverage, None);
    assert_eq!(r.boot_aggregate_count, 2);

    // Values checked after the replay (a quote over PCR 10 only): the same split.
    let later = cfg.with_replay(ReplayOptions::default().with_checked_later([MrId::Pcr(10)]));
    let r = replay_both(&list, &later, &ComputeOnly).unwrap();
    assert_eq!(r.first_boot_aggregate().map(|b| b.entry), Some(1));
    assert_eq!(r.boot_aggregate_count, 1);
    let c = r.outcome.coverage.clone().unwrap();
    assert_eq!((c.entries, c.not_covered), (41, 1));
    assert_eq!(c.first_not_covered.map(|f| f.entry), Some(0));
}

#[test]
fn the_boot_aggregate_is_the_first_entry_of_the_ima_register_and_must_be_covered() {
    // PCR 10 starts with a file, not a boot_aggregate; the only boot_aggregate is PCR 11's.
    let mut b = ImaListBuilder::binary();
    let entries = vec![
        b.boot_aggregate_at(11, "ima-ng", &ALG.hash(b"good")),
        b.ima_ng(10, &ALG.hash(b"a"), "/bin/a"),
        b.boot_aggregate_at(10, "ima-ng", &ALG.hash(b"late")),
    ];
    let list = b.finish();
    let exp = pcr10(value_of(10, &entries));
    let r = replay_both(&list, &ImaReplayConfig::default(), &exp).unwrap();
    assert_eq!(r.first_boot_aggregate(), None);
    let start = r.ima_register_start.unwrap();
    assert_eq!(
        (start.entry, start.boot_aggregate, start.covered),
        (1, None, true)
    );

    // The PCR 10 boot_aggregate comes first but the verified value is PCR 10's reset value: the
    // matching prefix would be empty and cover nothing, so the replay is refused (the register
    // was never extended; see an_ima_register_at_its_reset_value_with_entries_in_the_list_is_refused).
    let (list, _, _, _) = decoy_list();
    let err = replay_both(
        &list,
        &ImaReplayConfig::default(),
        &pcr10(Digest::zero(ALG)),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::History(h) if matches!(**h, HistoryError::ImaRegisterNeverExtended { entry: 1, .. })),
        "{err}"
    );

    // A target register (mr_ima) takes every entry: its first entry is the list's first.
    let cfg = ImaReplayConfig::default().with_target(MrId::Virtual("mr_ima".into()));
    let r = replay_both(&list, &cfg, &ComputeOnly).unwrap();
    assert_eq!(r.first_boot_aggregate().map(|b| b.entry), Some(0));
}

#[test]
fn entries_of_unverified_registers_in_the_prefix_are_not_covered() {
    // PCR 10 and PCR 11 interleaved; PCR 10 verified after its 5th entry (prefix of 10).
    let mut b = ImaListBuilder::binary();
    let mut entries = Vec::new();
    for i in 0..20u32 {
        let pcr = if i % 2 == 0 { 10 } else { 11 };
        entries.push(b.ima_ng(pcr, &ALG.hash(&i.to_le_bytes()), &format!("/f{i}")));
    }
    let list = b.finish();
    let exp = pcr10(value_of(10, &entries[..9]));
    let r = replay_both(&list, &ImaReplayConfig::default(), &exp).unwrap();
    assert_eq!(r.outcome.covered, Some(9));
    let c = r.outcome.coverage.clone().unwrap();
    assert_eq!((c.entries, c.not_covered), (5, 4));
    assert_eq!(
        c.first_not_covered.map(|f| (f.entry, f.register)),
        Some((1, MrId::Pcr(11)))
    );
    assert_eq!(r.outcome.left_over(), 11);

    // Both registers verified: everything in the prefix is covered.
    let mut both = exp.clone();
    both.insert(MrId::Pcr(11), value_of(11, &entries[..8]))
        .unwrap();
    let r = replay_both(&list, &ImaReplayConfig::default(), &both).unwrap();
    assert_eq!(r.outcome.covered, Some(9));
    let c = r.outcome.coverage.clone().unwrap();
    assert_eq!(
        (c.entries, c.not_covered, c.first_not_covered),
        (9, 0, None)
    );
}

/// Issue 14 item 5: the all-zero boot_aggregate after 64 others is past the reported list, and
/// is still found.
#[test]
fn the_no_tpm_rule_sees_every_boot_aggregate_not_only_the_reported_ones() {
    let mut b = ImaListBuilder::binary();
    let mut entries = Vec::new();
    for i in 0..MAX_REPORTED_BOOT_AGGREGATES as u32 {
        entries.push(b.boot_aggregate("ima-ng", &ALG.hash(&i.to_le_bytes())));
    }
    let bypass = entries.len() as u64;
    entries.push(b.boot_aggregate("ima-ng", &Digest::zero(ALG)));
    entries.push(b.ima_ng(10, &ALG.hash(b"x"), "/x"));
    let list = b.finish();
    let cfg = ImaReplayConfig::default();

    let r = replay_both(&list, &cfg, &ComputeOnly).unwrap();
    assert_eq!(r.boot_aggregates.len(), MAX_REPORTED_BOOT_AGGREGATES);
    assert!(r.boot_aggregates.iter().all(|b| !b.no_tpm));
    assert_eq!(r.boot_aggregate_count, bypass + 1);
    assert_eq!(r.first_no_tpm_boot, Some(bypass));
    let err = r.check_no_tpm(&cfg).unwrap_err();
    assert!(
        matches!(&err, Error::History(h) if matches!(**h, HistoryError::NoTpm { entry } if entry == bypass)),
        "{err:?}"
    );
    assert!(r
        .check_no_tpm(&cfg.clone().with_no_tpm_allowed(true))
        .is_ok());

    // Verified against PCR 10: the replay itself refuses it.
    let exp = pcr10(value_of(10, &entries));
    let err = replay_both(&list, &cfg, &exp).unwrap_err();
    assert!(
        err.to_string().contains(&format!("entry {bypass}")),
        "{err}"
    );
    assert!(replay_both(&list, &cfg.clone().with_no_tpm_allowed(true), &exp).is_ok());
}

/// The engine under the IMA replay: its entry count, and a verified value that shares its first
/// four bytes with a value the register passes through (the cheap pre-check must not be taken
/// for the comparison).
#[test]
fn the_engine_counts_entries_and_compares_whole_values() {
    use mr_core::replay::Replayer;
    let steps: Vec<Digest> = (0..4u8).map(|i| ALG.hash(&[i])).collect();
    let after2 = steps[..2]
        .iter()
        .fold(Digest::zero(ALG), |v, d| v.extended(d.as_bytes()));
    let mut near = after2.as_bytes().to_vec();
    *near.last_mut().unwrap() ^= 1;
    let near = Digest::new(ALG, &near).unwrap();
    for (expected, verifies) in [(after2, true), (near, false)] {
        let mut r = Replayer::verifying(&pcr10(expected), ReplayOptions::default());
        assert_eq!(r.entries(), 0);
        for d in &steps {
            r.extend(&MrId::Pcr(10), d);
            r.end_entry();
        }
        assert_eq!(r.entries(), 4);
        match r.finish() {
            Ok(out) => {
                assert!(verifies);
                assert_eq!(out.covered, Some(2));
            }
            Err(e) => assert!(!verifies, "{e}"),
        }
    }
}

/// `Replayer::value`: the current value of one register in one bank, and nothing for a register
/// or bank the replay does not have.
#[test]
fn the_engine_gives_the_value_of_the_register_and_bank_asked_for() {
    use mr_core::replay::Replayer;
    let mut r = Replayer::new(ReplayOptions::default());
    let (a, b, c) = (ALG.hash(b"a"), ALG.hash(b"b"), HashAlg::Sha1.hash(b"c"));
    r.extend(&MrId::Pcr(10), &c);
    r.extend(&MrId::Pcr(10), &a);
    r.extend(&MrId::Pcr(11), &b);
    r.end_entry();
    let ten = Digest::zero(ALG).extended(a.as_bytes());
    let eleven = Digest::zero(ALG).extended(b.as_bytes());
    let ten_sha1 = Digest::zero(HashAlg::Sha1).extended(c.as_bytes());
    assert_eq!(r.value(&MrId::Pcr(10), ALG), Some(ten));
    assert_eq!(r.value(&MrId::Pcr(11), ALG), Some(eleven));
    assert_eq!(r.value(&MrId::Pcr(10), HashAlg::Sha1), Some(ten_sha1));
    assert_eq!(r.value(&MrId::Pcr(11), HashAlg::Sha1), None);
    assert_eq!(r.value(&MrId::Pcr(12), ALG), None);
}

/// A replay that does not verify names the registers that are wrong: under the shortest matching
/// prefix, those that never reached their value; under `Exact`, those that do not hold it at the
/// end.
#[test]
fn the_engine_names_only_the_registers_that_miss_their_value() {
    use mr_core::replay::{PrefixPolicy, Replayer};
    let d: Vec<Digest> = (0..3u8).map(|i| ALG.hash(&[i])).collect();
    let once = |x: &Digest| Digest::zero(ALG).extended(x.as_bytes());
    let named = |prefix: PrefixPolicy, ten: Digest, eleven: Digest| -> Vec<MrId> {
        let mut v = pcr10(ten);
        v.insert(MrId::Pcr(11), eleven).unwrap();
        let mut r = Replayer::verifying(&v, ReplayOptions::default().with_prefix(prefix));
        for (id, step) in [(10, &d[0]), (10, &d[1]), (11, &d[2])] {
            r.extend(&MrId::Pcr(id), step);
            r.end_entry();
        }
        match r.finish() {
            Err(Error::Replay(e)) => e.mismatches.into_iter().map(|m| m.register).collect(),
            other => panic!("{other:?}"),
        }
    };
    // PCR 10 held its value after entry 0 only; PCR 11 never reaches a wrong value.
    assert_eq!(
        named(
            PrefixPolicy::ShortestMatching,
            once(&d[0]),
            ALG.hash(b"never")
        ),
        [MrId::Pcr(11)]
    );
    // Exact: PCR 11 holds its value at the end, PCR 10 does not.
    assert_eq!(
        named(PrefixPolicy::Exact, once(&d[0]), once(&d[2])),
        [MrId::Pcr(10)]
    );
}

/// `ImaReplayConfig::with_banks`: the banks asked for are the banks replayed.
#[test]
fn the_configured_banks_are_replayed() {
    let (list, ..) = decoy_list();
    let cfg = ImaReplayConfig::default().with_banks([HashAlg::Sha384]);
    let r = replay_both(&list, &cfg, &ComputeOnly).unwrap();
    assert_eq!(r.banks, [HashAlg::Sha384]);
    assert!(r
        .outcome
        .registers
        .iter()
        .all(|v| v.value.alg() == HashAlg::Sha384));
}

/// Each builder of the replay configuration sets what it names, and the replay obeys it: a list
/// read with another format, byte order or column than its own is refused, a violation under
/// Reject fails, trailing bytes are accepted only when allowed.
#[test]
fn every_configuration_builder_sets_its_option_and_the_replay_obeys_it() {
    use mr_core::log::ima::template::Endian;
    use mr_core::log::ima::{ImaReaderOptions, ListKind, ViolationPolicy};
    let mut b = ImaListBuilder::binary();
    b.ima_ng(10, &HashAlg::Sha256.hash(b"a"), "/a");
    b.violation(10, "ima-ng", HashAlg::Sha256, "/b");
    b.ima_ng(10, &HashAlg::Sha256.hash(b"c"), "/c");
    let list = b.finish();
    let base = ImaReplayConfig::default();
    assert!(ima::replay(&list[..], &base, &ComputeOnly).is_ok());

    let c = base.clone().with_kind(ListKind::Ascii);
    assert_eq!(c.reader.kind, Some(ListKind::Ascii));
    assert!(ima::replay(&list[..], &c, &ComputeOnly).is_err());

    let c = base.clone().with_endian(Endian::Big);
    assert_eq!(c.reader.endian, Some(Endian::Big));
    assert!(ima::replay(&list[..], &c, &ComputeOnly).is_err());

    let c = base.clone().with_column(HashAlg::Sha256);
    assert_eq!(c.reader.column, Some(HashAlg::Sha256));
    assert!(ima::replay(&list[..], &c, &ComputeOnly).is_err());

    let reader = ImaReaderOptions::default().with_kind(ListKind::Ascii);
    let c = base.clone().with_reader(reader);
    assert_eq!(c.reader.kind, Some(ListKind::Ascii));
    assert!(ima::replay(&list[..], &c, &ComputeOnly).is_err());

    let c = base.clone().with_violations(ViolationPolicy::Reject);
    assert_eq!(c.violations, ViolationPolicy::Reject);
    assert!(ima::replay(&list[..], &c, &ComputeOnly).is_err());

    let cut = &list[..list.len() - 3];
    assert!(ima::replay(cut, &base, &ComputeOnly).is_err());
    let c = base.clone().with_trailing_bytes_allowed(true);
    assert!(c.reader.allow_trailing_bytes);
    let r = ima::replay(cut, &c, &ComputeOnly).unwrap();
    assert_eq!(r.entries, 2);
    assert!(r.trailing_bytes > 0);
}

/// A list whose template-digest column is SHA-256, replayed with SHA-1 digests zero-padded into
/// the banks (older kernels): each entry's recorded digest is checked in its own column's
/// algorithm, never against the SHA-1 digest the padded replay extends.
#[test]
fn a_sha256_column_list_replays_with_padded_sha1_digests() {
    let mut b = ImaListBuilder::binary().with_column(HashAlg::Sha256);
    for i in 0..4u8 {
        b.ima_ng(10, &HashAlg::Sha256.hash(&[i]), "/f");
    }
    let list = b.finish();
    for banks in [vec![HashAlg::Sha256], vec![HashAlg::Sha1, HashAlg::Sha256]] {
        let config = ImaReplayConfig::default()
            .with_column(HashAlg::Sha256)
            .with_banks(banks.clone())
            .with_digest_mode(DigestMode::PaddedSha1);
        let r = ima::replay(&list[..], &config, &ComputeOnly).unwrap();
        assert_eq!(r.entries, 4, "{banks:?}");
        assert_eq!(r.digest_mode, DigestMode::PaddedSha1);
        // Verifying against those values, per-bank first then padded (Auto), chooses padded.
        let mut v = ExpectedRegisters::new();
        for value in &r.outcome.registers {
            v.insert(value.id.clone(), value.value).unwrap();
        }
        let auto = ImaReplayConfig::default()
            .with_column(HashAlg::Sha256)
            .with_digest_mode(DigestMode::Auto);
        let r = ima::replay(&list[..], &auto, &v).unwrap();
        assert_eq!(r.digest_mode, DigestMode::PaddedSha1, "{banks:?}");
    }
}

/// The IMA register's first entry just past the verified prefix is not covered: a quote taken
/// before IMA's boot_aggregate was extended (PCR 10 at its reset value) vouches for nothing of it.
#[test]
fn the_ima_registers_first_entry_just_past_the_prefix_is_not_covered() {
    let mut b = ImaListBuilder::binary();
    let early = b.ima_ng(11, &HashAlg::Sha256.hash(b"early"), "/early");
    b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"aggregate"));
    b.ima_ng(10, &HashAlg::Sha256.hash(b"file"), "/file");
    let list = b.finish();
    let config = ImaReplayConfig::default().with_banks([HashAlg::Sha256]);
    // PCR 11 after its one entry, PCR 10 still at reset: the prefix is entry 0 alone.
    let pcr11 =
        Digest::zero(HashAlg::Sha256).extended(early.template_digest(HashAlg::Sha256).as_bytes());
    let mut v = ExpectedRegisters::new();
    v.insert(MrId::Pcr(10), Digest::zero(HashAlg::Sha256))
        .unwrap();
    v.insert(MrId::Pcr(11), pcr11).unwrap();
    // PCR 10's first entry is not covered and PCR 10 still holds its reset value: refused, never
    // a verdict with the IMA register's entries all left over.
    let err = ima::replay(&list[..], &config, &v).unwrap_err();
    assert!(
        matches!(&err, Error::History(h) if matches!(**h, HistoryError::ImaRegisterNeverExtended { entry: 1, .. })),
        "{err}"
    );
    // With PCR 10 after its boot_aggregate, the first entry is covered and binds.
    let pcr10_after = Digest::zero(HashAlg::Sha256).extended(
        ImaListBuilder::binary()
            .boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"aggregate"))
            .template_digest(HashAlg::Sha256)
            .as_bytes(),
    );
    let mut v = ExpectedRegisters::new();
    v.insert(MrId::Pcr(10), pcr10_after).unwrap();
    v.insert(MrId::Pcr(11), pcr11).unwrap();
    let r = ima::replay(&list[..], &config, &v).unwrap();
    assert_eq!(r.outcome.covered, Some(2));
    let start = r.ima_register_start.as_ref().unwrap();
    assert_eq!(start.entry, 1);
    assert!(start.covered);
    assert!(r.first_boot_aggregate().is_some());
}

/// The banks replayed: the verified values' banks by default (SHA-1 and SHA-256 when there are
/// none, also for an empty set), always with the verified values' banks added.
#[test]
fn the_replayed_banks_follow_the_verified_values() {
    let mut b = ImaListBuilder::binary();
    let e = b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"aggregate"));
    let list = b.finish();
    let pcr10 =
        Digest::zero(HashAlg::Sha384).extended(e.template_digest(HashAlg::Sha384).as_bytes());
    let mut only384 = ExpectedRegisters::new();
    only384.insert(MrId::Pcr(10), pcr10).unwrap();
    let empty = ExpectedRegisters::new();
    let config = ImaReplayConfig::default();
    let banks = |v: &ExpectedRegisters| ima::replay(&list[..], &config, v).unwrap().banks.clone();
    assert_eq!(
        ima::replay(&list[..], &config, &ComputeOnly).unwrap().banks,
        [HashAlg::Sha1, HashAlg::Sha256]
    );
    assert_eq!(banks(&empty), [HashAlg::Sha1, HashAlg::Sha256]);
    assert_eq!(banks(&only384), [HashAlg::Sha384]);
    let config = ImaReplayConfig::default().with_banks([HashAlg::Sha1]);
    let r = ima::replay(&list[..], &config, &only384).unwrap();
    assert_eq!(r.banks, [HashAlg::Sha1, HashAlg::Sha384]);
}

/// A verified IMA register that still holds its reset value while the list extends it: the
/// kernel's extends never reached it. An empty prefix "matches" the reset value, so without this
/// rule the list verified with 0 entries covered and every entry left over (found by trying
/// `--expect 10:sha256:<zeros>` on the shipped example list). Refused under verified and asserted
/// values, on one thread and on two; a start value given for the register (a checkpoint) keeps
/// the prefix rule.
#[test]
fn an_ima_register_at_its_reset_value_with_entries_in_the_list_is_refused() {
    let (list, entries, _, _) = decoy_list();
    let cfg = ImaReplayConfig::default().with_banks([ALG]);
    let err = replay_both(&list, &cfg, &pcr10(Digest::zero(ALG))).unwrap_err();
    match err {
        Error::History(h) => assert!(
            matches!(
                *h,
                HistoryError::ImaRegisterNeverExtended { ref register, entry: 1 } if *register == MrId::Pcr(10)
            ),
            "{h}"
        ),
        other => panic!("{other}"),
    }
    // The list's real value still verifies, every entry covered.
    let all = replay_both(&list, &cfg, &pcr10(value_of(10, &entries))).unwrap();
    assert_eq!(all.report().outcome.left_over(), 0);
    // From a checkpoint's start value equal to the verified value, nothing new was extended
    // yet: the prefix rule applies (an in-flight tail is left over, not refused).
    let start = value_of(10, &entries[..2]);
    let resumed = cfg
        .clone()
        .with_replay(ReplayOptions::default().with_start(MrId::Pcr(10), start));
    let r = replay_both(&list, &resumed, &pcr10(start.extended(b"x")));
    assert!(
        r.is_err(),
        "a value the list does not reach is still refused"
    );
}

/// A violation refused by `ViolationPolicy::Reject` is an `EntryDigest` error marked as a
/// violation, and its message says so in the library's words (no CLI flag), on one thread and
/// on two; a tampered entry keeps the recorded-versus-computed message.
#[test]
fn a_rejected_violation_says_it_is_a_violation() {
    let mut b = ImaListBuilder::binary();
    b.ima_ng(10, &ALG.hash(b"a"), "/bin/a");
    b.violation(10, "ima-ng", ALG, "/tmp/written");
    b.ima_ng(10, &ALG.hash(b"b"), "/bin/b");
    let list = b.finish();
    let reject = ImaReplayConfig::default().with_violations(ima::ViolationPolicy::Reject);
    for threads in [1, 2] {
        let options = ImaOptions::default()
            .with_replay(reject.clone())
            .with_threads(threads);
        let err = ima::verify(ImaInput::from_bytes(&list), &ComputeOnly, &options).unwrap_err();
        let Error::EntryDigest(m) = &err else {
            panic!("{threads} threads: {err}");
        };
        assert!(m.violation && m.recorded.is_zero(), "{m:?}");
        assert_eq!((m.entry, m.register.clone()), (1, MrId::Pcr(10)));
        assert_eq!(
            err.to_string(),
            format!(
                "entry 1 (byte offset {}, register pcr10) is a violation (all-zero template \
                 digest) and violations are rejected",
                m.offset
            )
        );
    }
    // Permitted (the default), the violation extends all-0xFF and the list replays.
    let options = ImaOptions::default();
    assert!(ima::verify(ImaInput::from_bytes(&list), &ComputeOnly, &options).is_ok());
    // A tampered entry is no violation: its message names both digests.
    let mut tampered = list.clone();
    let at = tampered.len() - 2; // in the last path, before its NUL
    tampered[at] ^= 1;
    let err = ima::verify(ImaInput::from_bytes(&tampered), &ComputeOnly, &options).unwrap_err();
    let Error::EntryDigest(m) = &err else {
        panic!("{err}");
    };
    assert!(!m.violation, "{m:?}");
    assert!(err.to_string().contains("but its data hashes to"), "{err}");
}
