//! Checkpoints and incremental verification, trimmed lists, snapshot_aggregate, shards, no-TPM
//! lists and never-extended entries, on generated lists with asserted or TPM-shaped anchors
//! (the same flows under real swtpm quotes are in the root package's tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::log::ima::builder::{BuiltEntry, ImaListBuilder};
use mr_core::log::ima::checkpoint::resume;
use mr_core::log::ima::extend::{find_never_extended, NeverExtendedEntry, SearchOutcome};
use mr_core::log::ima::shards::{verify_shards, Begin, Shard};
use mr_core::log::ima::snapshot::{verify_snapshot_list, SnapshotVouch};
use mr_core::log::ima::{
    self, Anchor, Checkpoint, CheckpointKey, DigestMode, HistoryError, ImaInput, ImaOptions,
    ImaReplayConfig, ListKind, ResumeFrom,
};
use mr_core::{ComputeOnly, Reference};
use mr_core::{
    Digest, Error, ErrorClass, ExpectedRegisters, HashAlg, MrId, Provenance, RegisterValue,
    VerifiedRegisters,
};

const BANKS: [HashAlg; 2] = [HashAlg::Sha1, HashAlg::Sha256];

/// A list being written, with PCR 10 folded alongside in both banks.
struct Gen {
    b: ImaListBuilder,
    pcr: Vec<Digest>,
    n: u64,
}

impl Gen {
    fn new(kind: ListKind) -> Gen {
        let mut g = Gen {
            b: ImaListBuilder::new(kind),
            pcr: BANKS.iter().map(|a| Digest::zero(*a)).collect(),
            n: 0,
        };
        let e =
            g.b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"pcrs 0-9"));
        g.fold(&e);
        g
    }
    fn fold(&mut self, e: &BuiltEntry) {
        for v in &mut self.pcr {
            *v = v.extended(e.extend_value(v.alg(), DigestMode::PerBank).as_bytes());
        }
        self.n += 1;
    }
    fn files(&mut self, count: u64) {
        for _ in 0..count {
            let path = format!("/usr/bin/f{}", self.n);
            let e = self
                .b
                .ima_ng(10, &HashAlg::Sha256.hash(path.as_bytes()), &path);
            self.fold(&e);
        }
    }
    fn values(&self) -> Vec<RegisterValue> {
        self.pcr
            .iter()
            .map(|v| RegisterValue {
                id: MrId::Pcr(10),
                value: *v,
            })
            .collect()
    }
    fn asserted(&self) -> Anchor<ExpectedRegisters> {
        Anchor::asserted(ExpectedRegisters::from_values(self.values()).unwrap())
    }
    fn tpm(&self, ak: &str, reset: u32, restart: u32) -> Anchor {
        // As a TPM quote verifier would make them, once the quote verified.
        let v = VerifiedRegisters::from_verified_root(
            Provenance::TpmQuote { ak_name: ak.into() },
            ExpectedRegisters::from_values(self.values()).unwrap(),
        );
        Anchor::tpm(v, reset, restart).unwrap()
    }
    fn bytes(&self) -> Vec<u8> {
        self.b.as_bytes().to_vec()
    }
}

fn full_replay<R: Reference>(list: &[u8], anchor: &Anchor<R>) -> Vec<RegisterValue> {
    R::into_report(ima::replay(list, &ImaReplayConfig::default(), anchor.registers()).unwrap())
        .outcome
        .registers
}

/// The verifier's checkpoint key in these tests.
fn key() -> CheckpointKey {
    CheckpointKey::from_bytes(&[7u8; 32]).unwrap()
}

fn history(e: Error) -> HistoryError {
    match e {
        Error::History(h) => *h,
        e => panic!("expected a history error, got {e}"),
    }
}

#[test]
fn resuming_from_a_checkpoint_gives_the_values_of_a_full_replay_tail_and_full_list() {
    for kind in [ListKind::Binary, ListKind::Ascii] {
        let mut g = Gen::new(kind);
        g.files(20);
        let first = g.bytes();
        let v1 = resume(
            ImaInput::from_bytes(&first),
            ResumeFrom::Boot,
            &g.asserted(),
            &ImaOptions::default(),
        )
        .unwrap();
        let cp = v1.checkpoint.clone();
        assert_eq!(cp.entries(), 21);
        assert_eq!(cp.offset(), first.len() as u64);
        assert_eq!(
            cp.boot_aggregate(),
            Some(&HashAlg::Sha256.hash(b"pcrs 0-9"))
        );
        // Through JSON, as the verifier stores it.
        let cp = Checkpoint::open(cp.seal(&key()).as_bytes(), &key()).unwrap();
        assert_eq!(cp, v1.checkpoint);

        g.files(15);
        let list = g.bytes();
        let anchor = g.asserted();
        let tail = &list[cp.offset() as usize..];
        let t = resume(
            ImaInput::from_bytes(tail),
            ResumeFrom::Tail(&cp),
            &anchor,
            &ImaOptions::default(),
        )
        .unwrap();
        let f = resume(
            ImaInput::from_bytes(&list),
            ResumeFrom::Full(&cp),
            &anchor,
            &ImaOptions::default(),
        )
        .unwrap();
        let whole = full_replay(&list, &anchor);
        assert_eq!(t.final_registers(), whole.as_slice());
        assert_eq!(f.final_registers(), whole.as_slice());
        assert_eq!(t.first_entry, 21);
        assert_eq!(t.report.entries, 15);
        assert_eq!(t.checkpoint.entries(), 36);
        assert_eq!(t.checkpoint, f.checkpoint);
        // The tail-made checkpoint also checks the full list later.
        g.files(3);
        let list3 = g.bytes();
        let again = resume(
            ImaInput::from_bytes(&list3),
            ResumeFrom::Full(&t.checkpoint),
            &g.asserted(),
            &ImaOptions::default(),
        )
        .unwrap();
        assert_eq!(again.report.entries, 3);
        assert_eq!(
            again.final_registers(),
            full_replay(&list3, &g.asserted()).as_slice()
        );
    }
}

#[test]
fn a_quote_that_lags_the_list_places_the_checkpoint_at_the_covered_prefix() {
    let mut g = Gen::new(ListKind::Binary);
    g.files(10);
    let anchor = g.asserted();
    g.files(4); // appended, not yet quoted
    let list = g.bytes();
    let v = resume(
        ImaInput::from_bytes(&list),
        ResumeFrom::Boot,
        &anchor,
        &ImaOptions::default(),
    )
    .unwrap();
    assert_eq!(v.report.outcome.left_over(), 4);
    assert_eq!(v.checkpoint.entries(), 11);
    assert_eq!(
        v.checkpoint.registers(),
        anchor
            .registers()
            .iter()
            .map(|(id, d)| RegisterValue {
                id: id.clone(),
                value: *d
            })
            .collect::<Vec<_>>()
    );
    // The next round re-verifies the 4 left-over entries.
    g.files(2);
    let list = g.bytes();
    let r = resume(
        ImaInput::from_bytes(&list),
        ResumeFrom::Full(&v.checkpoint),
        &g.asserted(),
        &ImaOptions::default(),
    )
    .unwrap();
    assert_eq!(r.report.entries, 6);
    assert_eq!(r.checkpoint.entries(), 17);
}

#[test]
fn an_edited_entry_in_the_verified_prefix_is_refused() {
    let mut g = Gen::new(ListKind::Binary);
    g.files(8);
    let cp = resume(
        ImaInput::from_bytes(&g.bytes()),
        ResumeFrom::Boot,
        &g.asserted(),
        &ImaOptions::default(),
    )
    .unwrap()
    .into_report()
    .checkpoint;
    g.files(3);
    let mut list = g.bytes();
    let at = list.windows(11).position(|w| w == b"/usr/bin/f4").unwrap();
    list[at + 9] = b'g';
    let e = resume(
        ImaInput::from_bytes(&list),
        ResumeFrom::Full(&cp),
        &g.asserted(),
        &ImaOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(
        history(e),
        HistoryError::PrefixDiffers { entries: 9, .. }
    ));
    // A list shorter than the checkpoint.
    let short = &g.bytes()[..cp.offset() as usize / 2];
    let e = resume(
        ImaInput::from_bytes(short),
        ResumeFrom::Full(&cp),
        &g.asserted(),
        &ImaOptions::default(),
    )
    .unwrap_err();
    assert!(e.class() != ErrorClass::Device);
}

#[test]
fn a_tail_that_does_not_continue_the_checkpoint_is_refused() {
    let mut g = Gen::new(ListKind::Binary);
    g.files(8);
    let cp = resume(
        ImaInput::from_bytes(&g.bytes()),
        ResumeFrom::Boot,
        &g.asserted(),
        &ImaOptions::default(),
    )
    .unwrap()
    .into_report()
    .checkpoint;
    g.files(5);
    let anchor = g.asserted();
    let list = g.bytes();
    // The tail minus its first entry: does not reach the quote from the checkpoint's values.
    let mut other = Gen::new(ListKind::Binary);
    other.files(30);
    let foreign = other.bytes();
    let e = resume(
        ImaInput::from_bytes(&foreign[200..]),
        ResumeFrom::Tail(&cp),
        &anchor,
        &ImaOptions::default(),
    );
    assert!(e.is_err());
    let skip_one = {
        let tail = &list[cp.offset() as usize..];
        let mut r = ima::ImaReader::new(tail, ima::ImaReaderOptions::default());
        r.next_entry().unwrap();
        let second = r.next_entry().unwrap().unwrap().offset() as usize;
        tail[second..].to_vec()
    };
    let e = resume(
        ImaInput::from_bytes(&skip_one),
        ResumeFrom::Tail(&cp),
        &anchor,
        &ImaOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(
        history(e),
        HistoryError::TailDoesNotContinue { from_entry: 9, .. }
    ));
}

#[test]
fn reboots_restarts_and_other_roots_are_refused() {
    let mut g = Gen::new(ListKind::Binary);
    g.files(5);
    let cp = resume(
        ImaInput::from_bytes(&g.bytes()),
        ResumeFrom::Boot,
        &g.tpm("000bak", 3, 0),
        &ImaOptions::default(),
    )
    .unwrap()
    .into_report()
    .checkpoint;
    g.files(2);
    let list = g.bytes();
    let cfg = ImaOptions::default();
    let ok = resume(
        ImaInput::from_bytes(&list),
        ResumeFrom::Full(&cp),
        &g.tpm("000bak", 3, 0),
        &cfg,
    )
    .unwrap();
    assert!(!ok.tpm_resumed);
    let e = resume(
        ImaInput::from_bytes(&list),
        ResumeFrom::Full(&cp),
        &g.tpm("000bak", 4, 0),
        &cfg,
    )
    .unwrap_err();
    assert!(matches!(history(e), HistoryError::Rebooted { .. }));
    let e = resume(
        ImaInput::from_bytes(&list),
        ResumeFrom::Full(&cp),
        &g.tpm("000bak", 3, 1),
        &cfg,
    )
    .unwrap_err();
    assert!(matches!(
        history(e),
        HistoryError::Restarted {
            checkpoint: 0,
            now: 1
        }
    ));
    let resumed = resume(
        ImaInput::from_bytes(&list),
        ResumeFrom::Full(&cp),
        &g.tpm("000bak", 3, 1),
        &cfg.clone().with_tpm_resume_allowed(true),
    )
    .unwrap();
    assert!(resumed.tpm_resumed);
    let e = resume(
        ImaInput::from_bytes(&list),
        ResumeFrom::Full(&cp),
        &g.tpm("000bother", 3, 0),
        &cfg,
    )
    .unwrap_err();
    assert!(matches!(history(e), HistoryError::DifferentRoot { .. }));
    let e = resume(
        ImaInput::from_bytes(&list),
        ResumeFrom::Full(&cp),
        &g.asserted(),
        &cfg,
    )
    .unwrap_err();
    assert!(matches!(history(e), HistoryError::DifferentRoot { .. }));
    // A new boot: another first boot_aggregate.
    let mut h = ImaListBuilder::binary();
    h.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"other firmware"));
    let e = resume(
        ImaInput::from_bytes(h.as_bytes()),
        ResumeFrom::Full(&cp),
        &g.tpm("000bak", 3, 0),
        &cfg,
    )
    .unwrap_err();
    assert!(matches!(history(e), HistoryError::Rebooted { .. }));
}

/// A checkpoint body sealed as the format says (HMAC-SHA-256 over the label and the body's
/// exact bytes), computed here with the hmac crate: what only the key holder can make.
fn seal_body(body: &str, key: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(mr_core::log::ima::checkpoint::CHECKPOINT_MAC_LABEL);
    mac.update(body.as_bytes());
    let tag = hex::encode(mac.finalize().into_bytes());
    format!("{{\"checkpoint\":{body},\"hmac_sha256\":\"{tag}\"}}")
}

/// The body of a sealed checkpoint file, byte for byte.
fn body_of(sealed: &str) -> String {
    let start = "{\"checkpoint\":".len();
    let end = sealed.rfind(",\"hmac_sha256\"").unwrap();
    sealed[start..end].to_string()
}

#[test]
fn checkpoint_files_are_checked() {
    let mut g = Gen::new(ListKind::Binary);
    g.files(2);
    let cp = resume(
        ImaInput::from_bytes(&g.bytes()),
        ResumeFrom::Boot,
        &g.asserted(),
        &ImaOptions::default(),
    )
    .unwrap()
    .into_report()
    .checkpoint;
    let sealed = cp.seal(&key());
    let body = body_of(&sealed);
    assert!(body.contains("\"version\":2"));
    // The format is HMAC-SHA-256(key, label || body): a body sealed independently opens.
    assert_eq!(
        Checkpoint::open(seal_body(&body, &[7u8; 32]).as_bytes(), &key()).unwrap(),
        cp
    );
    // Correctly sealed (by the key holder) but not a checkpoint this version reads: malformed.
    for bad in [
        body.replace("\"version\":2", "\"version\":1"),
        body.replace("\"version\":2,", ""),
        body.replace("per-bank", "auto"),
        body.replace("\"entries\"", "\"entries_x\""),
        "[]".to_string(),
    ] {
        let e = Checkpoint::open(seal_body(&bad, &[7u8; 32]).as_bytes(), &key()).unwrap_err();
        assert_eq!(e.class(), ErrorClass::Malformed, "{bad}");
    }
    // Not a sealed file at all.
    for bad in [
        cp.to_json(),
        "{}".into(),
        sealed.replace("hmac_sha256", "mac"),
    ] {
        let e = Checkpoint::open(bad.as_bytes(), &key()).unwrap_err();
        assert!(
            matches!(history(e), HistoryError::InvalidCheckpoint(_)),
            "{bad}"
        );
    }
}

#[test]
fn a_trimmed_list_verifies_from_the_checkpoint_at_the_trim_point() {
    let mut g = Gen::new(ListKind::Ascii);
    g.files(40);
    let cp = resume(
        ImaInput::from_bytes(&g.bytes()),
        ResumeFrom::Boot,
        &g.asserted(),
        &ImaOptions::default(),
    )
    .unwrap()
    .into_report()
    .checkpoint;
    // The kernel trims the first 41 entries ("T:N" with N = 41); the list keeps only new ones.
    let before = g.bytes().len();
    g.files(7);
    let kept = g.bytes()[before..].to_vec();
    let v = resume(
        ImaInput::from_bytes(&kept),
        ResumeFrom::Tail(&cp),
        &g.asserted(),
        &ImaOptions::default(),
    )
    .unwrap();
    assert_eq!(v.checkpoint.entries(), 48);
    assert_eq!(
        v.final_registers(),
        full_replay(&g.bytes(), &g.asserted()).as_slice()
    );
    // Without the checkpoint the kept entries cannot verify from reset values.
    assert!(resume(
        ImaInput::from_bytes(&kept),
        ResumeFrom::Boot,
        &g.asserted(),
        &ImaOptions::default()
    )
    .is_err());
}

fn snapshot_text(values: &[RegisterValue]) -> String {
    let mut s = String::from("Snapshot_Attempt_Count=1;");
    let items: Vec<String> = values
        .iter()
        .map(|v| format!("{}:PCR10:{}", v.value.alg(), v.value))
        .collect();
    s.push_str(&items.join(","));
    s.push(';');
    s
}

#[test]
fn a_snapshot_aggregate_starts_a_replay_only_when_vouched_for() {
    let mut g = Gen::new(ListKind::Binary);
    g.files(12);
    let at_snapshot = g.asserted();
    let cp = resume(
        ImaInput::from_bytes(&g.bytes()),
        ResumeFrom::Boot,
        &at_snapshot,
        &ImaOptions::default(),
    )
    .unwrap()
    .into_report()
    .checkpoint;
    let before = g.bytes().len();
    let text = snapshot_text(&g.values());
    let e =
        g.b.ima_buf(10, HashAlg::Sha256, "snapshot_aggregate", text.as_bytes());
    g.fold(&e);
    g.files(5);
    let staged = g.bytes()[before..].to_vec();
    let end = g.asserted();
    let cfg = ImaOptions::default();
    let e = verify_snapshot_list(&staged, None, &cfg, &end).unwrap_err();
    assert!(matches!(history(e), HistoryError::UnanchoredStart { .. }));
    let v =
        verify_snapshot_list(&staged, Some(SnapshotVouch::Checkpoint(&cp)), &cfg, &end).unwrap();
    assert_eq!(
        v.final_registers(),
        full_replay(&g.bytes(), &end).as_slice()
    );
    let v = verify_snapshot_list(
        &staged,
        Some(SnapshotVouch::Quote(&at_snapshot)),
        &cfg,
        &end,
    )
    .unwrap();
    assert_eq!(v.report.entries, 6);

    // A forged snapshot: values chosen so that a fabricated list reaches the quote.
    let mut forged = ImaListBuilder::binary();
    let fake_start: Vec<RegisterValue> = BANKS
        .iter()
        .map(|a| RegisterValue {
            id: MrId::Pcr(10),
            value: a.hash(b"whatever the attacker needs"),
        })
        .collect();
    forged.ima_buf(
        10,
        HashAlg::Sha256,
        "snapshot_aggregate",
        snapshot_text(&fake_start).as_bytes(),
    );
    let e = verify_snapshot_list(
        forged.as_bytes(),
        Some(SnapshotVouch::Checkpoint(&cp)),
        &cfg,
        &end,
    )
    .unwrap_err();
    assert!(matches!(history(e), HistoryError::StartMismatch { .. }));
    let e = verify_snapshot_list(forged.as_bytes(), None, &cfg, &end).unwrap_err();
    assert!(matches!(history(e), HistoryError::UnanchoredStart { .. }));
}

#[test]
fn an_all_zero_boot_aggregate_is_refused_unless_allowed() {
    let mut b = ImaListBuilder::binary();
    let ba = b.boot_aggregate("ima-ng", &Digest::zero(HashAlg::Sha256));
    let f = b.ima_ng(10, &HashAlg::Sha256.hash(b"x"), "/x");
    let mut v = Digest::zero(HashAlg::Sha256);
    for e in [&ba, &f] {
        v = v.extended(
            e.extend_value(HashAlg::Sha256, DigestMode::PerBank)
                .as_bytes(),
        );
    }
    let expected = ExpectedRegisters::from_values([RegisterValue {
        id: MrId::Pcr(10),
        value: v,
    }])
    .unwrap();
    let e = ima::replay(b.as_bytes(), &ImaReplayConfig::default(), &expected).unwrap_err();
    assert!(matches!(history(e), HistoryError::NoTpm { entry: 0 }));
    let cfg = ImaReplayConfig::default().with_no_tpm_allowed(true);
    assert!(ima::replay(b.as_bytes(), &cfg, &expected).is_ok());
    // Without values there is no verdict to refuse.
    assert!(ima::replay(b.as_bytes(), &ImaReplayConfig::default(), &ComputeOnly).is_ok());
    // A TD's list replayed into a virtual register: no TPM is expected.
    let mr_ima = MrId::Virtual("mr_ima".into());
    let td = ExpectedRegisters::from_values([RegisterValue {
        id: mr_ima.clone(),
        value: v,
    }])
    .unwrap();
    let cfg = ImaReplayConfig::default().with_target(mr_ima);
    assert!(ima::replay(b.as_bytes(), &cfg, &td).is_ok());
}

#[test]
fn an_entry_logged_but_never_extended_is_named() {
    let mut g = Gen::new(ListKind::Binary);
    g.files(6);
    // Entry 7 is logged, but its extend fails.
    let saved = g.pcr.clone();
    let e =
        g.b.ima_ng(10, &HashAlg::Sha256.hash(b"lost"), "/usr/bin/lost");
    g.fold(&e);
    g.pcr = saved;
    g.files(9);
    let list = g.bytes();
    let anchor = g.asserted();
    let plain =
        ima::replay(&list[..], &ImaReplayConfig::default(), anchor.registers()).unwrap_err();
    assert!(matches!(plain, Error::Replay(_)));
    let found = find_never_extended(
        &list[..],
        &ImaReplayConfig::default(),
        anchor.registers(),
        1 << 20,
    )
    .unwrap()
    .outcome;
    let SearchOutcome::Found(f) = found else {
        panic!("{found:?}")
    };
    assert_eq!(
        (f.entry, f.register.clone(), f.covered),
        (7, MrId::Pcr(10), 17)
    );
    let cfg = ImaOptions::default().with_never_extended_search(1 << 20);
    let e = resume(ImaInput::from_bytes(&list), ResumeFrom::Boot, &anchor, &cfg).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Rejected);
    assert!(
        e.to_string()
            .contains("entry 7 was logged but never extended"),
        "{e}"
    );
    // A tiny budget (a window of the newest 5 entries, newest candidates first) does not reach
    // entry 7 and names nothing.
    let out = find_never_extended(
        &list[..],
        &ImaReplayConfig::default(),
        anchor.registers(),
        10,
    )
    .unwrap();
    assert!(
        matches!(
            out.outcome,
            SearchOutcome::BudgetExhausted { .. } | SearchOutcome::NotFound
        ),
        "{out:?}"
    );
    assert!(out.work <= 10);
    // Two lost extends: no single entry explains it.
    let mut g = Gen::new(ListKind::Binary);
    g.files(3);
    let saved = g.pcr.clone();
    g.files(2);
    g.pcr = saved;
    g.files(3);
    let out = find_never_extended(
        &g.bytes()[..],
        &ImaReplayConfig::default(),
        g.asserted().registers(),
        1 << 20,
    )
    .unwrap()
    .outcome;
    assert_eq!(out, SearchOutcome::NotFound);
}

fn shard_chain(cuts: usize, per: u64) -> (Vec<Vec<u8>>, Vec<Anchor>, Gen) {
    let mut g = Gen::new(ListKind::Binary);
    let mut lists = Vec::new();
    let mut anchors = Vec::new();
    let mut at = 0usize;
    for _ in 0..cuts {
        g.files(per);
        let bytes = g.bytes();
        lists.push(bytes[at..].to_vec());
        at = bytes.len();
        anchors.push(g.tpm("000bak", 7, 0));
    }
    (lists, anchors, g)
}

fn shards(lists: &[Vec<u8>], anchors: &[Anchor]) -> Vec<Shard> {
    lists
        .iter()
        .zip(anchors)
        .enumerate()
        .map(|(k, (l, a))| Shard {
            name: format!("shard{k}"),
            list: l.clone(),
            begin: if k == 0 {
                Begin::Boot
            } else {
                Begin::Quote(anchors[k - 1].clone())
            },
            end: a.clone(),
        })
        .collect()
}

#[test]
fn shards_chain_through_their_quotes_and_breaks_are_refused() {
    let (lists, anchors, g) = shard_chain(5, 6);
    let cfg = ImaOptions::default();
    let ok = verify_shards(&shards(&lists, &anchors), &cfg).unwrap();
    assert_eq!(ok.entries(), 31);
    assert_eq!(
        ok.last_checkpoint().registers(),
        full_replay(&g.bytes(), &anchors[4])
    );
    // Missing shard 2.
    let mut s = shards(&lists, &anchors);
    s.remove(2);
    assert!(verify_shards(&s, &cfg).is_err());
    // Swapped shards 2 and 3.
    let mut s = shards(&lists, &anchors);
    s.swap(2, 3);
    assert!(verify_shards(&s, &cfg).is_err());
    // A begin stated, not quoted (even with the right values).
    let mut s = shards(&lists, &anchors);
    s[3].begin = Begin::Claimed(
        anchors[2]
            .registers()
            .iter()
            .map(|(id, d)| RegisterValue {
                id: id.clone(),
                value: *d,
            })
            .collect(),
    );
    let e = verify_shards(&s, &cfg).unwrap_err();
    assert!(matches!(history(e), HistoryError::UnanchoredStart { .. }));
    // A begin quote from another boot.
    let mut s = shards(&lists, &anchors);
    let other_boot = {
        let v = VerifiedRegisters::from_verified_root(
            Provenance::TpmQuote {
                ak_name: "000bak".into(),
            },
            anchors[2].values().clone(),
        );
        Anchor::tpm(v, 8, 0).unwrap()
    };
    s[3].begin = Begin::Quote(other_boot);
    assert!(verify_shards(&s, &cfg).is_err());
    // A shard edited after its quote.
    let mut s = shards(&lists, &anchors);
    let at = s[1]
        .list
        .windows(9)
        .position(|w| w == b"/usr/bin/")
        .unwrap();
    s[1].list[at + 1] = b'v';
    let e = verify_shards(&s, &cfg).unwrap_err();
    assert!(matches!(
        history(e),
        HistoryError::ShardReplay { shard: 1, .. }
    ));
    // A chain that begins at a trusted checkpoint (the state after shard 1).
    let cp = verify_shards(&shards(&lists[..2], &anchors[..2]), &cfg)
        .unwrap()
        .last_checkpoint()
        .clone();
    let mut s = shards(&lists, &anchors);
    s.drain(..2);
    s[0].begin = Begin::Checkpoint(cp);
    let from_cp = verify_shards(&s, &cfg).unwrap();
    assert_eq!(from_cp.entries(), 31);
    assert_eq!(from_cp.shards[0].first_entry, 13);
    // A shard whose list breaks off inside an entry: a parse error (malformed), named.
    let mut s = shards(&lists, &anchors);
    let cut = s[2].list.len() - 3;
    s[2].list.truncate(cut);
    let e = verify_shards(&s, &cfg).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Malformed, "{e}");
    assert!(
        matches!(&e, Error::History(h) if matches!(**h, HistoryError::ShardReplay { shard: 2, ref source, .. } if matches!(**source, Error::Parse(_)))),
        "{e:?}"
    );
    // A shard with entries after its end quote.
    let mut s = shards(&lists, &anchors);
    s[1].list.extend_from_slice(&lists[2]);
    let e = verify_shards(&s, &cfg).unwrap_err();
    assert!(
        matches!(&e, Error::History(h) if matches!(**h, HistoryError::ShardReplay { shard: 1, ref source, .. } if matches!(**source, Error::History(ref n) if matches!(**n, HistoryError::NotAllCovered { .. })))),
        "{e:?}"
    );
    // The first shard cannot begin at a quote.
    let mut s = shards(&lists, &anchors);
    s.remove(0);
    s[0].begin = Begin::Quote(anchors[0].clone());
    assert!(verify_shards(&s, &cfg).is_err());
}

mod hostile {
    use super::*;
    use mr_core::log::ima::kexec::parse_kexec_buffer;
    use mr_core::log::ima::shards::ShardManifest;
    use mr_core::log::ima::snapshot::parse_snapshot_buffer;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    /// A 31-entry list, its checkpoint after 21 entries, and the final anchor.
    fn fixture() -> &'static (Vec<u8>, Checkpoint, Anchor<ExpectedRegisters>) {
        static F: OnceLock<(Vec<u8>, Checkpoint, Anchor<ExpectedRegisters>)> = OnceLock::new();
        F.get_or_init(|| {
            let mut g = Gen::new(ListKind::Binary);
            g.files(20);
            let cp = resume(
                ImaInput::from_bytes(&g.bytes()),
                ResumeFrom::Boot,
                &g.asserted(),
                &ImaOptions::default(),
            )
            .unwrap()
            .into_report()
            .checkpoint;
            g.files(10);
            (g.bytes(), cp, g.asserted())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any one changed byte, in the verified prefix or in the new entries, is refused (the
        /// lists here hold no violations, whose data IMA itself does not bind).
        #[test]
        fn any_changed_byte_of_the_list_is_refused(at in any::<prop::sample::Index>(), mask in 1u8..=255) {
            let (list, cp, anchor) = fixture();
            let mut bad = list.clone();
            let i = at.index(bad.len());
            bad[i] ^= mask;
            let r = resume(ImaInput::from_bytes(&bad), ResumeFrom::Full(cp), anchor, &ImaOptions::default());
            prop_assert!(r.is_err(), "byte {} accepted", i);
            if i >= cp.offset() as usize {
                let r = resume(ImaInput::from_bytes(&bad[cp.offset() as usize..]), ResumeFrom::Tail(cp), anchor, &ImaOptions::default());
                prop_assert!(r.is_err(), "tail byte {} accepted", i);
            }
        }

        /// Hostile checkpoint files, manifests and record buffers are typed errors, never panics.
        #[test]
        fn hostile_inputs_are_errors_not_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = Checkpoint::open(&bytes, &key());
            let _ = ShardManifest::from_json(&bytes);
            let _ = parse_kexec_buffer(&bytes);
            let _ = parse_snapshot_buffer(&bytes);
        }

        /// Any changed byte of a sealed checkpoint file is refused (forged MAC, broken JSON) or,
        /// when the file still opens (e.g. a hex digit of the MAC changed to upper case), gives
        /// back exactly the checkpoint that was sealed.
        #[test]
        fn a_tampered_checkpoint_does_not_open(at in any::<prop::sample::Index>(), mask in 1u8..=255) {
            let (_, cp, _) = fixture();
            let mut file = cp.seal(&key()).into_bytes();
            file.pop(); // the final newline: whitespace either way
            let i = at.index(file.len());
            file[i] ^= mask;
            match Checkpoint::open(&file, &key()) {
                Ok(opened) => prop_assert_eq!(&opened, cp, "byte {} changed", i),
                Err(e) => prop_assert!(matches!(history(e), HistoryError::CheckpointMac | HistoryError::InvalidCheckpoint(_))),
            }
        }
    }
}

#[test]
fn td_rooted_checkpoints_compare_the_td_boot_identity() {
    use mr_core::log::ima::checkpoint::td_boot_identity;
    let mr = |b: &[u8]| HashAlg::Sha384.hash(b);
    let id = td_boot_identity(&mr(b"mrtd"), [&mr(b"r0"), &mr(b"r1"), &mr(b"r2")]);
    let other = td_boot_identity(&mr(b"mrtd"), [&mr(b"r0"), &mr(b"other kernel"), &mr(b"r2")]);
    assert_ne!(id, other);
    let mr_ima = MrId::Virtual("mr_ima".into());
    let mut b = ImaListBuilder::binary();
    let mut v = Digest::zero(HashAlg::Sha384);
    for e in [
        b.boot_aggregate("ima-ng", &Digest::zero(HashAlg::Sha256)),
        b.ima_ng(10, &HashAlg::Sha256.hash(b"a"), "/a"),
    ] {
        v = v.extended(
            e.extend_value(HashAlg::Sha384, DigestMode::PerBank)
                .as_bytes(),
        );
    }
    let anchor = |identity: &str| {
        let td = Provenance::TdQuote {
            root: "Intel SGX Root CA".into(),
        };
        let mut values = ExpectedRegisters::new();
        values.insert(mr_ima.clone(), v).unwrap();
        let regs = VerifiedRegisters::from_verified_root(
            Provenance::Derived { from: Box::new(td) },
            values,
        );
        Anchor::td(regs, identity.to_owned()).unwrap()
    };
    let cfg =
        ImaOptions::default().with_replay(ImaReplayConfig::default().with_target(mr_ima.clone()));
    let cp = resume(
        ImaInput::from_bytes(b.as_bytes()),
        ResumeFrom::Boot,
        &anchor(&id),
        &cfg,
    )
    .unwrap()
    .into_report()
    .checkpoint;
    assert!(matches!(
        cp.root(),
        mr_core::log::ima::RootIdentity::Td { .. }
    ));
    let cp = Checkpoint::open(cp.seal(&key()).as_bytes(), &key()).unwrap();
    resume(
        ImaInput::from_bytes(b.as_bytes()),
        ResumeFrom::Full(&cp),
        &anchor(&id),
        &cfg,
    )
    .unwrap();
    let e = resume(
        ImaInput::from_bytes(b.as_bytes()),
        ResumeFrom::Full(&cp),
        &anchor(&other),
        &cfg,
    )
    .unwrap_err();
    assert!(matches!(history(e), HistoryError::Rebooted { .. }));
    // The same boot identity under another trust anchor is another root.
    let other_root = {
        let td = Provenance::TdQuote {
            root: "Another Root CA".into(),
        };
        let mut values = ExpectedRegisters::new();
        values.insert(mr_ima.clone(), v).unwrap();
        let regs = VerifiedRegisters::from_verified_root(
            Provenance::Derived { from: Box::new(td) },
            values,
        );
        Anchor::td(regs, id.clone()).unwrap()
    };
    let e = resume(
        ImaInput::from_bytes(b.as_bytes()),
        ResumeFrom::Full(&cp),
        &other_root,
        &cfg,
    )
    .unwrap_err();
    assert!(matches!(history(e), HistoryError::DifferentRoot { .. }));
    // Asserted values are not a TD quote: `Anchor::td` takes `VerifiedRegisters` only (see the
    // compile_fail example in `mr_core::trust`); values with another root's provenance are
    // refused.
    let tpm = VerifiedRegisters::from_verified_root(
        Provenance::TpmQuote {
            ak_name: "000bak".into(),
        },
        ExpectedRegisters::from_values([RegisterValue {
            id: mr_ima,
            value: v,
        }])
        .unwrap(),
    );
    assert!(Anchor::td(tpm, id).is_err());
}

#[global_allocator]
static ALLOC: mr_test_alloc::CountingAlloc = mr_test_alloc::CountingAlloc;

/// Issue 14 item 6: a checkpoint holding the genuine quoted values and the genuine entry count,
/// handed over with an empty list, verified "4242 entries" although no entry was seen. The
/// attester can rebuild every byte of such a checkpoint, but not its MAC.
#[test]
fn a_forged_checkpoint_with_the_quoted_values_and_an_empty_list_is_refused() {
    let mut g = Gen::new(ListKind::Binary);
    g.files(4241);
    let quote = g.tpm("000bak", 3, 0);
    let genuine = resume(
        ImaInput::from_bytes(&g.bytes()),
        ResumeFrom::Boot,
        &quote,
        &ImaOptions::default(),
    )
    .unwrap()
    .into_report()
    .checkpoint;
    assert_eq!(genuine.entries(), 4242);
    // What the MAC stands between: this state, if accepted, verifies an empty tail.
    let skipped = resume(
        ImaInput::from_bytes(&[]),
        ResumeFrom::Tail(&genuine),
        &quote,
        &ImaOptions::default(),
    )
    .unwrap();
    assert_eq!(skipped.checkpoint.entries(), 4242);

    // The attester rebuilds the body byte for byte and seals it with a key of its own...
    let body = body_of(&genuine.seal(&key()));
    let forged = seal_body(&body, &[0x41; 32]);
    let e = Checkpoint::open(forged.as_bytes(), &key()).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Rejected);
    assert!(matches!(history(e), HistoryError::CheckpointMac));
    // ... or with no key: an all-zero MAC, an empty one, none, an unsealed checkpoint.
    for forged in [
        format!(
            "{{\"checkpoint\":{body},\"hmac_sha256\":\"{}\"}}",
            "00".repeat(32)
        ),
        format!("{{\"checkpoint\":{body},\"hmac_sha256\":\"\"}}"),
        format!("{{\"checkpoint\":{body}}}"),
        body.clone(),
        genuine.to_json(),
    ] {
        assert!(
            Checkpoint::open(forged.as_bytes(), &key()).is_err(),
            "{forged}"
        );
    }
    // A MAC of the body alone (no domain-separation label) is another context's MAC.
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&[7u8; 32]).unwrap();
    mac.update(body.as_bytes());
    let unlabelled = format!(
        "{{\"checkpoint\":{body},\"hmac_sha256\":\"{}\"}}",
        hex::encode(mac.finalize().into_bytes())
    );
    assert!(matches!(
        history(Checkpoint::open(unlabelled.as_bytes(), &key()).unwrap_err()),
        HistoryError::CheckpointMac
    ));
}

/// Every field of a sealed checkpoint is covered by its MAC; another key opens nothing.
#[test]
fn an_altered_checkpoint_or_another_key_is_refused() {
    let mut g = Gen::new(ListKind::Binary);
    g.files(20);
    let cp = resume(
        ImaInput::from_bytes(&g.bytes()),
        ResumeFrom::Boot,
        &g.tpm("000bak", 3, 0),
        &ImaOptions::default(),
    )
    .unwrap()
    .into_report()
    .checkpoint;
    let sealed = cp.seal(&key());
    assert_eq!(Checkpoint::open(sealed.as_bytes(), &key()).unwrap(), cp);
    let value = cp.registers()[0].value.to_hex();
    for (from, to) in [
        ("\"entries\":21", "\"entries\":20"),
        ("\"reset_count\":3", "\"reset_count\":4"),
        ("\"restart_count\":0", "\"restart_count\":1"),
        (value.as_str(), &"0".repeat(value.len())),
        ("\"ak\":\"000bak\"", "\"ak\":\"000bal\""),
        (
            "\"digest_mode\":\"per-bank\"",
            "\"digest_mode\":\"padded-sha1\"",
        ),
        ("\"kind\":\"binary\"", "\"kind\":\"ascii\""),
    ] {
        assert!(sealed.contains(from), "{from} not in {sealed}");
        let altered = sealed.replacen(from, to, 1);
        let e = Checkpoint::open(altered.as_bytes(), &key()).unwrap_err();
        assert!(matches!(history(e), HistoryError::CheckpointMac), "{from}");
    }
    let other = CheckpointKey::from_bytes(&[8u8; 32]).unwrap();
    let e = Checkpoint::open(sealed.as_bytes(), &other).unwrap_err();
    assert!(matches!(history(e), HistoryError::CheckpointMac));
    // Keys are exactly 32 bytes.
    for len in [0, 16, 31, 33, 64] {
        let e = CheckpointKey::from_bytes(&vec![1u8; len]).unwrap_err();
        assert!(matches!(history(e), HistoryError::InvalidCheckpointKey(_)));
    }
    assert_eq!(format!("{:?}", key()), "CheckpointKey(..)");
}

/// Files for [`verify_manifest`]: lists served as streams of shared bytes, quotes from a
/// table; counts what is opened.
struct MemSource<'a> {
    files: std::collections::BTreeMap<String, &'a [u8]>,
    quotes: std::collections::BTreeMap<String, Anchor>,
    lists_opened: usize,
}

impl mr_core::log::ima::shards::ShardSource for MemSource<'_> {
    type Values = VerifiedRegisters;
    fn read(&mut self, path: &str) -> Result<Vec<u8>, Error> {
        let f = self
            .files
            .get(path)
            .ok_or_else(|| Error::Io(std::io::Error::other(path.to_string())))?;
        Ok(f.to_vec())
    }
    fn open_list(&mut self, path: &str) -> Result<Box<dyn std::io::BufRead + '_>, Error> {
        self.lists_opened += 1;
        let f = self
            .files
            .get(path)
            .ok_or_else(|| Error::Io(std::io::Error::other(path.to_string())))?;
        Ok(Box::new(*f))
    }
    fn quote(&mut self, spec: &mr_core::log::ima::shards::AnchorSpec) -> Result<Anchor, Error> {
        match spec {
            mr_core::log::ima::shards::AnchorSpec::TpmQuote { attest, .. } => self
                .quotes
                .get(attest)
                .cloned()
                .ok_or_else(|| Error::Io(std::io::Error::other(attest.clone()))),
            _ => Err(Error::Io(std::io::Error::other("not a quote"))),
        }
    }
}

fn quote_spec(name: &str) -> mr_core::log::ima::shards::AnchorSpec {
    mr_core::log::ima::shards::AnchorSpec::TpmQuote {
        attest: name.into(),
        sig: String::new(),
        ak: String::new(),
        nonce: String::new(),
        pcrs: String::new(),
    }
}

fn manifest(
    specs: Vec<(&str, mr_core::log::ima::shards::AnchorSpec, &str)>,
) -> mr_core::log::ima::shards::ShardManifest {
    use mr_core::log::ima::shards::{ShardManifest, ShardSpec};
    ShardManifest {
        version: 1,
        shards: specs
            .into_iter()
            .map(|(list, begin, end)| ShardSpec {
                list: list.into(),
                begin,
                end: quote_spec(end),
            })
            .collect(),
    }
}

/// A manifest names its checkpoint by path, and the attester hands over both: the checkpoint
/// must be sealed with the verifier's key, and no key is a usage error.
#[test]
fn a_manifest_checkpoint_must_be_sealed_with_the_verifiers_key() {
    use mr_core::log::ima::shards::{verify_manifest, AnchorSpec};
    let mut g = Gen::new(ListKind::Binary);
    g.files(10);
    let at = g.bytes().len();
    let cp = resume(
        ImaInput::from_bytes(&g.bytes()),
        ResumeFrom::Boot,
        &g.tpm("000bak", 3, 0),
        &ImaOptions::default(),
    )
    .unwrap()
    .into_report()
    .checkpoint;
    g.files(5);
    let all = g.bytes();
    let tail = all[at..].to_vec();
    let genuine = cp.seal(&key());
    let forged = seal_body(&body_of(&genuine), &[0x41; 32]);
    let m = manifest(vec![(
        "tail",
        AnchorSpec::Checkpoint { file: "cp".into() },
        "q",
    )]);
    let source = |cp: &'static str| MemSource {
        files: [
            ("tail".to_string(), tail.as_slice()),
            ("cp".to_string(), cp.as_bytes()),
        ]
        .into_iter()
        .collect(),
        quotes: [("q".to_string(), g.tpm("000bak", 3, 0))]
            .into_iter()
            .collect(),
        lists_opened: 0,
    };
    let genuine: &'static str = Box::leak(genuine.into_boxed_str());
    let forged: &'static str = Box::leak(forged.into_boxed_str());
    let cfg = ImaOptions::default();
    let ok = verify_manifest(&m, &mut source(genuine), &cfg, Some(&key())).unwrap();
    assert_eq!(ok.entries(), 16);
    let e = verify_manifest(&m, &mut source(forged), &cfg, Some(&key())).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Rejected);
    match history(e) {
        HistoryError::ShardReplay {
            shard: 0, source, ..
        } => {
            assert!(
                matches!(*source, Error::History(ref h) if matches!(**h, HistoryError::CheckpointMac))
            )
        }
        e => panic!("{e}"),
    }
    let mut s = source(genuine);
    let e = verify_manifest(&m, &mut s, &cfg, None).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Malformed);
    assert!(matches!(history(e), HistoryError::NoCheckpointKey(_)));
    assert_eq!(s.lists_opened, 0, "nothing is read without a key");
}

/// Issue 14 item 12: a small manifest naming one list many times read every list before
/// verifying. Now shards are streamed one by one: the first bad shard stops the verification
/// (no later list is opened) and peak memory depends neither on the lists' size nor on the
/// number of shards.
#[test]
fn shards_are_streamed_one_by_one_in_memory_independent_of_lists_and_shards() {
    use mr_core::log::ima::shards::{verify_manifest, AnchorSpec};
    let mut peaks = Vec::new();
    for files in [2_000u64, 8_000] {
        let mut g = Gen::new(ListKind::Binary);
        g.files(files);
        let list = g.bytes();
        for count in [2usize, 25] {
            // The same list, begin and end quote 25 times: shard 0 verifies, shard 1 replays the
            // list again from the end of shard 0 and cannot reach the same quote.
            let mut specs = vec![("list", AnchorSpec::Boot, "q")];
            specs.extend((1..count).map(|_| ("list", quote_spec("q"), "q")));
            let m = manifest(specs);
            let mut source = MemSource {
                files: [("list".to_string(), list.as_slice())]
                    .into_iter()
                    .collect(),
                quotes: [("q".to_string(), g.tpm("000bak", 3, 0))]
                    .into_iter()
                    .collect(),
                lists_opened: 0,
            };
            let (r, stats) = mr_test_alloc::measure(|| {
                verify_manifest(&m, &mut source, &ImaOptions::default(), None)
            });
            let e = r.unwrap_err();
            assert!(
                matches!(history(e), HistoryError::ShardReplay { shard: 1, .. }),
                "{files} entries, {count} shards"
            );
            assert_eq!(
                source.lists_opened, 2,
                "the first bad shard stops the verification"
            );
            println!(
                "{count} shards of a {} byte list: peak live {} bytes, largest allocation {}",
                list.len(),
                stats.peak_live,
                stats.largest
            );
            assert!(stats.peak_live < 64 << 10, "{stats:?}");
            peaks.push(stats.peak_live);
        }
        // The lists are much larger than what the verification holds.
        assert!(list.len() > 3 * (64 << 10), "{}", list.len());
    }
    let (lo, hi) = (peaks.iter().min().unwrap(), peaks.iter().max().unwrap());
    assert!(
        hi - lo < 32 << 10,
        "peaks {peaks:?} grow with the lists or the shards"
    );
}

/// A list of `m` identical entries after the boot_aggregate, and PCR 10 values that leave one
/// of them out in `skip_one` and are unreachable in the other bank: every candidate reaches the
/// first value, none the second (issue 14 item 10's pathological two-bank case).
fn one_bank_never_matches(m: u64, skip_one: HashAlg) -> (Vec<u8>, ExpectedRegisters) {
    let mut b = ImaListBuilder::binary();
    let ba = b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"pcrs 0-9"));
    let mut entries = vec![ba];
    for _ in 0..m {
        entries.push(b.ima_ng(10, &HashAlg::Sha256.hash(b"same"), "/usr/bin/same"));
    }
    let mut v = Digest::zero(skip_one);
    for e in &entries[..entries.len() - 1] {
        v = v.extended(e.extend_value(skip_one, DigestMode::PerBank).as_bytes());
    }
    let other = if skip_one == HashAlg::Sha1 {
        HashAlg::Sha256
    } else {
        HashAlg::Sha1
    };
    let values = ExpectedRegisters::from_values([
        RegisterValue {
            id: MrId::Pcr(10),
            value: v,
        },
        RegisterValue {
            id: MrId::Pcr(10),
            value: other.hash(b"never reached"),
        },
    ])
    .unwrap();
    (b.as_bytes().to_vec(), values)
}

/// Issue 14 item 10: with one bank that never matches, each candidate matching the other bank
/// replayed the whole list again, outside the budget (quadratic: 28 s for a 12 MB list). Every
/// hash now counts, the candidates are checked in all banks in memory, and the search stops at
/// its budget.
#[test]
fn the_never_extended_search_stays_within_its_budget_when_one_bank_never_matches() {
    let cfg = ImaReplayConfig::default();
    for skip_one in [HashAlg::Sha1, HashAlg::Sha256] {
        let (list, expected) = one_bank_never_matches(4_000, skip_one);
        assert!(ima::replay(&list[..], &cfg, &expected).is_err());
        for budget in [1u64 << 12, 1 << 16, 1 << 18] {
            let s = find_never_extended(&list[..], &cfg, &expected, budget).unwrap();
            assert!(
                s.work <= budget,
                "{skip_one}: work {} > budget {budget}",
                s.work
            );
            assert!(
                matches!(
                    s.outcome,
                    SearchOutcome::BudgetExhausted { .. } | SearchOutcome::NotFound
                ),
                "{skip_one}: {:?}",
                s.outcome
            );
        }
        // Through a verification: the plain mismatch, the search within the same bound.
        let anchor = Anchor::asserted(expected);
        let e = resume(
            ImaInput::from_bytes(&list),
            ResumeFrom::Boot,
            &anchor,
            &ImaOptions::default().with_never_extended_search(1 << 18),
        )
        .unwrap_err();
        assert!(matches!(e, Error::Replay(_)), "{e}");
    }
    // A small budget: the windows ride on the replay (no hash of their own), the search
    // spends no more than the budget and names nothing.
    let (list, expected) = one_bank_never_matches(1_000, HashAlg::Sha256);
    let s = find_never_extended(&list[..], &cfg, &expected, 100).unwrap();
    assert!(
        matches!(
            s.outcome,
            SearchOutcome::BudgetExhausted { .. } | SearchOutcome::NotFound
        ),
        "{:?}",
        s.outcome
    );
    assert!(s.work <= 100);
}

/// The window is a ring of the newest entries: after it wrapped many times, its oldest entry is
/// still a candidate (with one bank, the budget pays for exactly the window's search), in every
/// bank layout, and the entry just before it is no longer kept.
#[test]
fn the_never_extended_window_keeps_exactly_the_newest_entries_after_wrapping() {
    use mr_core::log::ima::extend::window;
    let budget = 45;
    let keep = window(budget) as u64;
    assert_eq!(keep, 10);
    let n = 97u64;
    for alg in [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384] {
        // (A lost last extend is no mismatch: the list replays to the values with one entry
        // left over.)
        for lost in [n - 2, n - 3, n - keep + 1, n - keep, n - keep - 1, n / 2] {
            let mut b = ImaListBuilder::binary();
            let mut value = Digest::zero(alg);
            for i in 0..n {
                let e = b.ima_ng(
                    10,
                    &HashAlg::Sha256.hash(&i.to_le_bytes()),
                    &format!("/f{i}"),
                );
                if i != lost {
                    value = value.extended(e.extend_value(alg, DigestMode::PerBank).as_bytes());
                }
            }
            let expected = ExpectedRegisters::from_values([RegisterValue {
                id: MrId::Pcr(10),
                value,
            }])
            .unwrap();
            let list = b.finish();
            let s = find_never_extended(&list[..], &ImaReplayConfig::default(), &expected, budget)
                .unwrap();
            assert!(s.work <= budget, "{alg} {lost}: {s:?}");
            if lost >= n - keep {
                assert_eq!(
                    s.outcome,
                    SearchOutcome::Found(NeverExtendedEntry {
                        entry: lost,
                        register: MrId::Pcr(10),
                        covered: n,
                    }),
                    "{alg} {lost}"
                );
            } else {
                assert_eq!(s.outcome, SearchOutcome::NotFound, "{alg} {lost}");
            }
        }
    }
}

/// Issue 14 item 10: the search kept a value for every entry and re-read the list into a copy
/// (1.2 GB for a 248 MB list). It now reads the list once and keeps a window bounded by the
/// budget: peak memory is the same for a list four times larger.
#[test]
fn the_never_extended_search_memory_does_not_grow_with_the_list() {
    use mr_core::log::ima::extend::DEFAULT_NEVER_EXTENDED_BUDGET;
    let mut peaks = Vec::new();
    for files in [12_000u64, 48_000] {
        let mut g = Gen::new(ListKind::Binary);
        g.files(files - 100);
        // An extend lost 100 entries before the end.
        let saved = g.pcr.clone();
        g.files(1);
        g.pcr = saved;
        g.files(100);
        let anchor = g.asserted();
        let list = g.bytes();
        let (s, stats) = mr_test_alloc::measure(|| {
            find_never_extended(
                &list[..],
                &ImaReplayConfig::default(),
                anchor.registers(),
                DEFAULT_NEVER_EXTENDED_BUDGET,
            )
            .unwrap()
        });
        let SearchOutcome::Found(f) = &s.outcome else {
            panic!("{:?}", s.outcome)
        };
        assert_eq!((f.entry, f.covered), (files - 99, files + 2));
        assert!(s.work <= DEFAULT_NEVER_EXTENDED_BUDGET);
        println!(
            "never-extended search, {} byte list: peak live {} bytes, largest allocation {}, work {}",
            list.len(),
            stats.peak_live,
            stats.largest,
            s.work
        );
        // The window (about 5 800 entries of two banks at the default budget), not the list.
        assert!(stats.peak_live < 4 << 20, "{stats:?}");
        peaks.push(stats.peak_live);
    }
    assert!(
        peaks[1] <= peaks[0] + (16 << 10),
        "peak grows with the list: {peaks:?}"
    );
}

/// A checkpoint file is read up to MAX_CHECKPOINT_LEN bytes, no more, whatever its MAC.
#[test]
fn a_checkpoint_file_larger_than_the_limit_is_refused() {
    use mr_core::log::ima::checkpoint::MAX_CHECKPOINT_LEN;
    let mut g = Gen::new(ListKind::Binary);
    g.files(2);
    let cp = resume(
        ImaInput::from_bytes(&g.bytes()),
        ResumeFrom::Boot,
        &g.asserted(),
        &ImaOptions::default(),
    )
    .unwrap()
    .into_report()
    .checkpoint;
    // Whitespace after the sealed object: still the same JSON.
    let mut file = cp.seal(&key()).into_bytes();
    file.resize(MAX_CHECKPOINT_LEN, b' ');
    assert_eq!(Checkpoint::open(&file, &key()).unwrap(), cp);
    file.push(b' ');
    match history(Checkpoint::open(&file, &key()).unwrap_err()) {
        HistoryError::InvalidCheckpoint(m) => assert!(m.contains("larger than"), "{m}"),
        e => panic!("{e}"),
    }
}

/// Two quotes with nothing measured between them: an empty shard verifies (its stream is
/// empty; the begin values must equal the end quote).
#[test]
fn an_empty_shard_between_equal_quotes_verifies() {
    let (lists, anchors, _) = shard_chain(3, 4);
    let cfg = ImaOptions::default();
    let mut s = shards(&lists, &anchors);
    s.insert(
        2,
        Shard {
            name: "empty".into(),
            list: Vec::new(),
            begin: Begin::Quote(anchors[1].clone()),
            end: anchors[1].clone(),
        },
    );
    let ok = verify_shards(&s, &cfg).unwrap();
    assert_eq!(ok.shards.len(), 4);
    assert_eq!(ok.shards[2].entries, 0);
    assert_eq!(ok.entries(), 13);
    // An empty shard whose end quote moved on does not verify.
    s[2].end = anchors[2].clone();
    assert!(verify_shards(&s, &cfg).is_err());
}

/// A quote with a bank the checkpoint holds no value for (of a register it holds) cannot resume.
#[test]
fn a_quoted_bank_the_checkpoint_lacks_is_refused() {
    let mut g = Gen::new(ListKind::Binary);
    g.files(5);
    let sha256_only = |g: &Gen| {
        Anchor::asserted(
            ExpectedRegisters::from_values(
                g.values()
                    .into_iter()
                    .filter(|r| r.value.alg() == HashAlg::Sha256),
            )
            .unwrap(),
        )
    };
    let cp = resume(
        ImaInput::from_bytes(&g.bytes()),
        ResumeFrom::Boot,
        &sha256_only(&g),
        &ImaOptions::default(),
    )
    .unwrap()
    .into_report()
    .checkpoint;
    assert!(cp.value(&MrId::Pcr(10), HashAlg::Sha1).is_none());
    g.files(3);
    let tail = g.bytes()[cp.offset() as usize..].to_vec();
    let cfg = ImaOptions::default();
    resume(
        ImaInput::from_bytes(&tail),
        ResumeFrom::Tail(&cp),
        &sha256_only(&g),
        &cfg,
    )
    .unwrap();
    let e = resume(
        ImaInput::from_bytes(&tail),
        ResumeFrom::Tail(&cp),
        &g.asserted(),
        &cfg,
    )
    .unwrap_err();
    assert!(matches!(
        history(e),
        HistoryError::BankNotInCheckpoint {
            register: MrId::Pcr(10),
            alg: HashAlg::Sha1
        }
    ));
}

/// A full list with fewer entries than the checkpoint (cut at an entry boundary) is named as
/// such; a checkpoint before the first entry (the quote still held the reset values while the
/// list extends the register) is refused.
#[test]
fn a_full_list_shorter_than_the_checkpoint_and_an_empty_prefix() {
    let mut g = Gen::new(ListKind::Binary);
    g.files(4);
    let four = g.bytes().len();
    g.files(6);
    let cp = resume(
        ImaInput::from_bytes(&g.bytes()),
        ResumeFrom::Boot,
        &g.asserted(),
        &ImaOptions::default(),
    )
    .unwrap()
    .into_report()
    .checkpoint;
    let e = resume(
        ImaInput::from_bytes(&g.bytes()[..four]),
        ResumeFrom::Full(&cp),
        &g.asserted(),
        &ImaOptions::default(),
    )
    .unwrap_err();
    match history(e) {
        HistoryError::PrefixDiffers {
            entries: 11,
            reason,
        } => {
            assert!(reason.contains("only 5 entries"), "{reason}")
        }
        e => panic!("{e}"),
    }

    let start = Gen::new(ListKind::Binary);
    let reset = Anchor::asserted(
        ExpectedRegisters::from_values(BANKS.map(|alg| RegisterValue {
            id: MrId::Pcr(10),
            value: Digest::zero(alg),
        }))
        .unwrap(),
    );
    // The quote still held PCR 10's reset value while the list already extends it: no
    // checkpoint is made of an empty prefix, the register was never extended (the replay's
    // ImaRegisterNeverExtended rule; a list that verifies with nothing covered is refused).
    let e = resume(
        ImaInput::from_bytes(&start.bytes()),
        ResumeFrom::Boot,
        &reset,
        &ImaOptions::default(),
    )
    .unwrap_err();
    match history(e) {
        HistoryError::ImaRegisterNeverExtended { entry: 0, .. } => {}
        e => panic!("{e}"),
    }
}

/// The checkpoint keeps the list's first boot_aggregate only when it is the first entry, in
/// memory and streamed.
#[test]
fn a_checkpoint_records_the_boot_aggregate_of_the_first_entry_only() {
    let cfg = ImaOptions::default();
    let (lists, anchors, _) = shard_chain(2, 3);
    let ok = verify_shards(&shards(&lists, &anchors), &cfg).unwrap();
    let ba = HashAlg::Sha256.hash(b"pcrs 0-9");
    assert_eq!(ok.last_checkpoint().boot_aggregate(), Some(&ba));
    let bytes: usize = lists.iter().map(Vec::len).sum();
    assert_eq!(ok.last_checkpoint().offset(), bytes as u64);
    let mut b = ImaListBuilder::binary();
    let mut v = BANKS.map(Digest::zero);
    for e in [
        b.ima_ng(10, &HashAlg::Sha256.hash(b"a"), "/a"),
        b.boot_aggregate("ima-ng", &ba),
    ] {
        for d in &mut v {
            *d = d.extended(e.extend_value(d.alg(), DigestMode::PerBank).as_bytes());
        }
    }
    let anchor = Anchor::asserted(
        ExpectedRegisters::from_values(v.map(|d| RegisterValue {
            id: MrId::Pcr(10),
            value: d,
        }))
        .unwrap(),
    );
    for v in [
        resume(
            ImaInput::from_bytes(b.as_bytes()),
            ResumeFrom::Boot,
            &anchor,
            &cfg,
        )
        .unwrap(),
        resume(
            ImaInput::from_reader(b.as_bytes()),
            ResumeFrom::Boot,
            &anchor,
            &cfg,
        )
        .unwrap(),
    ] {
        assert_eq!(v.checkpoint.entries(), 2);
        assert_eq!(v.checkpoint.boot_aggregate(), None);
    }
}

/// A list of entries on `pcrs` (in order, after a boot_aggregate on PCR 10), folded alongside
/// per register and bank in `mode`: the values after each entry.
struct Folded {
    list: Vec<u8>,
    /// Values after entry i (index i + 1; index 0: the reset values).
    after: Vec<Vec<RegisterValue>>,
}

fn folded(pcrs: &[u32], mode: DigestMode) -> Folded {
    let mut b = ImaListBuilder::binary();
    let mut values: std::collections::BTreeMap<(u32, HashAlg), Digest> = Default::default();
    let snapshot = |v: &std::collections::BTreeMap<(u32, HashAlg), Digest>| {
        v.iter()
            .map(|((pcr, _), d)| RegisterValue {
                id: MrId::Pcr(*pcr),
                value: *d,
            })
            .collect::<Vec<_>>()
    };
    let mut after = vec![snapshot(&values)];
    let mut fold = |e: &BuiltEntry, pcr: u32, after: &mut Vec<Vec<RegisterValue>>| {
        for alg in BANKS {
            let v = values.entry((pcr, alg)).or_insert(Digest::zero(alg));
            *v = v.extended(e.extend_value(alg, mode).as_bytes());
        }
        after.push(snapshot(&values));
    };
    let e = b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"pcrs 0-9"));
    fold(&e, 10, &mut after);
    for (i, pcr) in pcrs.iter().enumerate() {
        let path = format!("/usr/bin/g{i}");
        let e = b.ima_ng(*pcr, &HashAlg::Sha256.hash(path.as_bytes()), &path);
        fold(&e, *pcr, &mut after);
    }
    Folded {
        list: b.as_bytes().to_vec(),
        after,
    }
}

/// The values of `pcrs` after `entries` entries.
fn quoted(f: &Folded, entries: usize, pcrs: &[u32]) -> Anchor<ExpectedRegisters> {
    let values: Vec<RegisterValue> = f.after[entries]
        .iter()
        .filter(|r| pcrs.iter().any(|p| r.id == MrId::Pcr(*p)))
        .cloned()
        .collect();
    Anchor::asserted(ExpectedRegisters::from_values(values).unwrap())
}

/// The first `entries` entries of a list, as their own list.
fn first_entries(list: &[u8], entries: u64) -> Vec<u8> {
    let mut r = mr_core::log::ima::ImaReader::new(list, Default::default());
    let mut end = list.len();
    let mut n = 0;
    while let Some(e) = r.next_entry().unwrap() {
        if n == entries {
            end = e.offset() as usize;
            break;
        }
        n += 1;
    }
    list[..end].to_vec()
}

/// The checkpoint of a streamed list whose quote lags it (kept where the covered prefix may
/// end) is the checkpoint of the list cut at the quote (made from the state at its end), in
/// both digest modes and with an unquoted register in between.
#[test]
fn a_streamed_list_whose_quote_lags_it_checkpoints_at_the_covered_prefix_in_both_digest_modes() {
    let pcrs: Vec<u32> = (0..40).map(|i| if i % 7 == 3 { 11 } else { 10 }).collect();
    for (mode, options) in [
        (DigestMode::PerBank, ImaOptions::default()),
        (
            DigestMode::PaddedSha1,
            ImaOptions::default()
                .with_replay(ImaReplayConfig::default().with_digest_mode(DigestMode::Auto)),
        ),
    ] {
        let f = folded(&pcrs, mode);
        // The quote after entry 25 (PCR 10 only): entries 26.. are left over.
        let anchor = quoted(&f, 26, &[10]);
        let lagging = resume(
            ImaInput::from_reader(&f.list[..]),
            ResumeFrom::Boot,
            &anchor,
            &options,
        )
        .unwrap();
        assert_eq!(lagging.report.digest_mode, mode);
        assert!(lagging.report.outcome.left_over() > 0, "{mode:?}");
        let covered = lagging.checkpoint.entries();
        let cut = first_entries(&f.list, covered);
        let at_quote = resume(
            ImaInput::from_bytes(&cut),
            ResumeFrom::Boot,
            &anchor,
            &options,
        )
        .unwrap();
        assert_eq!(at_quote.report.outcome.left_over(), 0);
        assert_eq!(lagging.checkpoint, at_quote.checkpoint, "{mode:?}");
        assert_eq!(lagging.checkpoint.offset(), cut.len() as u64);
        // PCR 11 (not quoted) is in the checkpoint at its value at the cut.
        let pcr11 = at_quote
            .report
            .outcome
            .registers
            .iter()
            .find(|r| r.id == MrId::Pcr(11))
            .unwrap();
        assert_eq!(
            lagging.checkpoint.value(&MrId::Pcr(11), pcr11.value.alg()),
            Some(pcr11.value)
        );
        // Resuming the whole list from it continues to a later quote.
        let later = quoted(&f, f.after.len() - 1, &[10]);
        let resumed = resume(
            ImaInput::from_reader(&f.list[..]),
            ResumeFrom::Full(&lagging.checkpoint),
            &later,
            &options,
        )
        .unwrap();
        assert_eq!(resumed.checkpoint.entries(), f.after.len() as u64 - 1);
        assert_eq!(resumed.report.outcome.left_over(), 0);
    }
}

/// With quoted registers the list may leave unextended (`UnextendedPolicy::Ignore`), a point
/// where the covered prefix may end is ruled out when a register it left out is extended later:
/// the checkpoint is at the prefix the replay picks, never at the earlier point.
#[test]
fn a_prefix_end_ruled_out_by_a_later_extend_is_not_the_checkpoint() {
    use mr_core::replay::{ReplayOptions, UnextendedPolicy};
    // PCR 10 reaches its quoted value after entry 10 and stays there while PCR 11 is
    // extended (entries 11..15); PCR 10 is extended again afterwards.
    let mut pcrs = vec![10u32; 10];
    pcrs.extend([11u32; 5]);
    pcrs.extend([10u32; 5]);
    let f = folded(&pcrs, DigestMode::PerBank);
    let options = ImaOptions::default().with_replay(
        ImaReplayConfig::default()
            .with_replay(ReplayOptions::default().with_unextended(UnextendedPolicy::Ignore)),
    );
    // Quote PCR 10 after entry 10 and PCR 11 after entry 15, and PCR 12 that no entry extends.
    let mut values: Vec<RegisterValue> = quoted(&f, 16, &[10, 11])
        .values()
        .iter()
        .map(|(id, d)| RegisterValue {
            id: id.clone(),
            value: *d,
        })
        .collect();
    values.push(RegisterValue {
        id: MrId::Pcr(12),
        value: HashAlg::Sha256.hash(b"never extended"),
    });
    let anchor = Anchor::asserted(ExpectedRegisters::from_values(values).unwrap());
    assert_eq!(
        quoted(&f, 11, &[10])
            .values()
            .get(&MrId::Pcr(10), HashAlg::Sha256),
        anchor.values().get(&MrId::Pcr(10), HashAlg::Sha256),
    );
    let v = resume(
        ImaInput::from_reader(&f.list[..]),
        ResumeFrom::Boot,
        &anchor,
        &options,
    )
    .unwrap();
    assert_eq!(v.report.outcome.covered, Some(16));
    assert_eq!(v.checkpoint.entries(), 16);
    let cut = first_entries(&f.list, 16);
    assert_eq!(v.checkpoint.offset(), cut.len() as u64);
    let at_cut = resume(
        ImaInput::from_bytes(&cut),
        ResumeFrom::Boot,
        &anchor,
        &options,
    )
    .unwrap();
    assert_eq!(v.checkpoint, at_cut.checkpoint);
}

/// `ima::resume` over a stream keeps memory independent of the list's length, also when the
/// quote lags the list (the checkpoint is at the covered prefix, known only at the end), from
/// boot and from a checkpoint with the whole list.
#[test]
fn resume_streams_in_memory_independent_of_the_list() {
    let mut peaks = Vec::new();
    for files in [2_000u64, 16_000] {
        let mut g = Gen::new(ListKind::Binary);
        g.files(files / 2);
        let first = g.asserted();
        g.files(files / 4);
        let second = g.asserted();
        g.files(files / 4); // left over
        let list = g.bytes();
        let (cp, from_boot) = mr_test_alloc::measure(|| {
            resume(
                ImaInput::from_reader(&list[..]),
                ResumeFrom::Boot,
                &first,
                &ImaOptions::default(),
            )
            .unwrap()
            .checkpoint
            .clone()
        });
        let (v, resumed) = mr_test_alloc::measure(|| {
            resume(
                ImaInput::from_reader(&list[..]),
                ResumeFrom::Full(&cp),
                &second,
                &ImaOptions::default(),
            )
            .unwrap()
        });
        assert!(v.report.outcome.left_over() > 0);
        assert_eq!(v.checkpoint.entries(), 1 + files / 2 + files / 4);
        println!(
            "{} byte list: peak live {} / {} bytes",
            list.len(),
            from_boot.peak_live,
            resumed.peak_live
        );
        for stats in [from_boot, resumed] {
            assert!(stats.peak_live < 64 << 10, "{stats:?}");
            peaks.push(stats.peak_live);
        }
        assert!(list.len() > 3 * (64 << 10), "{}", list.len());
    }
    let (lo, hi) = (peaks.iter().min().unwrap(), peaks.iter().max().unwrap());
    assert!(hi - lo < 16 << 10, "peaks {peaks:?} grow with the list");
}

/// Key files: created once (32 bytes, mode 0600) and read back; a key group or others may
/// read, a file of another length, or a directory is refused as malformed input.
#[test]
fn checkpoint_key_files_are_created_private_and_checked() {
    let dir = std::env::temp_dir().join(format!("mr-ckpt-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cp.key");
    let _ = std::fs::remove_file(&path);
    let key = CheckpointKey::create_or_read_file(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), key.as_bytes());
    assert_eq!(CheckpointKey::create_or_read_file(&path).unwrap(), key);
    assert_eq!(CheckpointKey::read_file(&path).unwrap(), key);
    let class = |r: Result<CheckpointKey, Error>| {
        let e = r.unwrap_err();
        assert!(
            matches!(&e, Error::History(h) if matches!(**h, HistoryError::InvalidCheckpointKey(_))),
            "{e}"
        );
        e.class()
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = CheckpointKey::read_file(&path).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
        assert_eq!(class(Err(e)), ErrorClass::Malformed);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::write(&path, [1u8; 31]).unwrap();
    assert_eq!(
        class(CheckpointKey::read_file(&path)),
        ErrorClass::Malformed
    );
    std::fs::write(&path, [1u8; 33]).unwrap();
    assert_eq!(
        class(CheckpointKey::read_file(&path)),
        ErrorClass::Malformed
    );
    assert_eq!(class(CheckpointKey::read_file(&dir)), ErrorClass::Malformed);
    assert_eq!(
        class(CheckpointKey::read_file(&dir.join("absent.key"))),
        ErrorClass::Malformed
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A checkpoint of an empty list (no entry verified) resumed with a whole list replays every
/// entry of it (none is skipped or hidden), and a quote still at the reset values is the
/// never-extended IMA register it is from boot.
#[test]
fn a_checkpoint_at_no_entries_resumed_with_a_whole_list_replays_all_of_it() {
    let mut g = Gen::new(ListKind::Binary);
    let reset = Anchor::asserted(
        ExpectedRegisters::from_values(
            BANKS
                .iter()
                .map(|a| RegisterValue {
                    id: MrId::Pcr(10),
                    value: Digest::zero(*a),
                })
                .collect::<Vec<_>>(),
        )
        .unwrap(),
    );
    g.files(7);
    let cp = resume(
        ImaInput::from_bytes(&[]),
        ResumeFrom::Boot,
        &reset,
        &ImaOptions::default(),
    )
    .unwrap()
    .checkpoint
    .clone();
    assert_eq!(cp.entries(), 0);
    let list = g.bytes();
    let v = resume(
        ImaInput::from_reader(&list[..]),
        ResumeFrom::Full(&cp),
        &g.asserted(),
        &ImaOptions::default(),
    )
    .unwrap();
    assert_eq!(v.report.entries, 8);
    assert_eq!(v.checkpoint.entries(), 8);
    // A quote still at the reset values while the list extends the register: the register was
    // never extended, as from boot (nothing is left over unseen).
    let e = resume(
        ImaInput::from_reader(&list[..]),
        ResumeFrom::Full(&cp),
        &reset,
        &ImaOptions::default(),
    )
    .unwrap_err();
    match history(e) {
        HistoryError::TailDoesNotContinue { source, .. } => assert!(
            matches!(*source, Error::History(ref h) if matches!(**h, HistoryError::ImaRegisterNeverExtended { entry: 0, .. })),
            "{source}"
        ),
        e => panic!("{e}"),
    }
}
