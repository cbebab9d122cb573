//! The resume rules of `log::ima::checkpoint` that the other checkpoint tests leave open (found
//! by cargo mutants): what a checkpoint records of its anchor (provenance, digest mode), the
//! roots named when they differ, an empty list against a checkpoint, the start values a resumed
//! replay leaves untouched, and a never-extended entry named by its absolute number after a
//! checkpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::log::ima::builder::{BuiltEntry, ImaListBuilder};
use mr_core::log::ima::checkpoint::resume;
use mr_core::log::ima::{
    Anchor, Checkpoint, DigestMode, HistoryError, ImaInput, ImaOptions, ImaReplayConfig, ResumeFrom,
};
use mr_core::{
    Digest, Error, ExpectedRegisters, HashAlg, MrId, Provenance, RegisterValue, VerifiedRegisters,
};
use std::collections::BTreeMap;

/// A binary list being written, with the registers it extends folded alongside in `banks`.
struct List {
    b: ImaListBuilder,
    banks: Vec<HashAlg>,
    mode: DigestMode,
    values: BTreeMap<(u32, HashAlg), Digest>,
    n: u64,
}

impl List {
    /// A list whose first entry is a boot_aggregate (PCR 10).
    fn new(banks: &[HashAlg], mode: DigestMode) -> List {
        let mut l = List {
            b: ImaListBuilder::binary(),
            banks: banks.to_vec(),
            mode,
            values: BTreeMap::new(),
            n: 0,
        };
        let e =
            l.b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"pcrs 0-9"));
        l.fold(10, &e);
        l
    }

    /// Extend `pcr` with `e` in every bank.
    fn fold(&mut self, pcr: u32, e: &BuiltEntry) {
        for alg in self.banks.clone() {
            let v = self
                .values
                .entry((pcr, alg))
                .or_insert_with(|| Digest::zero(alg));
            *v = v.extended(e.extend_value(alg, self.mode).as_bytes());
        }
        self.n += 1;
    }

    /// `count` file entries on `pcr`.
    fn files(&mut self, pcr: u32, count: u64) {
        for _ in 0..count {
            let path = format!("/usr/bin/r{}", self.n);
            let e = self
                .b
                .ima_ng(pcr, &HashAlg::Sha256.hash(path.as_bytes()), &path);
            self.fold(pcr, &e);
        }
    }

    /// One file entry on PCR 10 that is logged but whose extend never reaches the register.
    fn lost(&mut self) {
        self.b
            .ima_ng(10, &HashAlg::Sha256.hash(b"lost"), "/usr/bin/lost");
        self.n += 1;
    }

    /// The current values of `pcrs`.
    fn values(&self, pcrs: &[u32]) -> Vec<RegisterValue> {
        self.values
            .iter()
            .filter(|((p, _), _)| pcrs.contains(p))
            .map(|((p, _), d)| RegisterValue {
                id: MrId::Pcr(*p),
                value: *d,
            })
            .collect()
    }

    fn asserted(&self, pcrs: &[u32]) -> Anchor<ExpectedRegisters> {
        Anchor::asserted(ExpectedRegisters::from_values(self.values(pcrs)).unwrap())
    }

    fn tpm(&self, ak: &str, pcrs: &[u32]) -> Anchor {
        let v = VerifiedRegisters::from_verified_root(
            Provenance::TpmQuote { ak_name: ak.into() },
            ExpectedRegisters::from_values(self.values(pcrs)).unwrap(),
        );
        Anchor::tpm(v, 1, 2).unwrap()
    }

    fn bytes(&self) -> Vec<u8> {
        self.b.as_bytes().to_vec()
    }
}

const BOTH: [HashAlg; 2] = [HashAlg::Sha1, HashAlg::Sha256];

fn history(e: Error) -> HistoryError {
    match e {
        Error::History(h) => *h,
        e => panic!("expected a history error, got {e}"),
    }
}

fn from_boot<R: mr_core::Reference>(list: &[u8], anchor: &Anchor<R>) -> Checkpoint {
    resume(
        ImaInput::from_bytes(list),
        ResumeFrom::Boot,
        anchor,
        &ImaOptions::default(),
    )
    .map(|o| R::into_report(o).checkpoint)
    .unwrap()
}

/// Resume from `cp` over the bytes of `list` after it (a tail), against `anchor`.
fn resume_tail<R: mr_core::Reference>(
    list: &List,
    cp: &Checkpoint,
    anchor: &Anchor<R>,
    options: &ImaOptions,
) -> Result<R::Outcome<mr_core::log::ima::Verification>, Error> {
    let bytes = list.bytes();
    let tail = &bytes[cp.offset() as usize..];
    resume(
        ImaInput::from_bytes(tail),
        ResumeFrom::Tail(cp),
        anchor,
        options,
    )
}

/// A checkpoint records the provenance of the anchor's values in words: the caller's assertion,
/// or the quote and its AK.
#[test]
fn a_checkpoint_records_the_provenance_of_its_anchor() {
    let mut l = List::new(&BOTH, DigestMode::PerBank);
    l.files(10, 3);
    let asserted = from_boot(&l.bytes(), &l.asserted(&[10]));
    assert_eq!(asserted.provenance(), "asserted by the caller");
    let quoted = from_boot(&l.bytes(), &l.tpm("000bfeed", &[10]));
    assert_eq!(quoted.provenance(), "TPM quote by AK 000bfeed");
    assert_eq!(
        quoted.provenance(),
        Provenance::TpmQuote {
            ak_name: "000bfeed".into()
        }
        .to_string()
    );
}

/// A checkpoint records the digest mode that verified: padded SHA-1 for a list of a kernel
/// before 5.8 (found by Auto), per-bank otherwise.
#[test]
fn a_checkpoint_records_the_digest_mode_that_verified() {
    let auto = ImaOptions::default()
        .with_replay(ImaReplayConfig::default().with_digest_mode(DigestMode::Auto));
    for mode in [DigestMode::PaddedSha1, DigestMode::PerBank] {
        let mut l = List::new(&BOTH, mode);
        l.files(10, 4);
        let v = resume(
            ImaInput::from_bytes(&l.bytes()),
            ResumeFrom::Boot,
            &l.asserted(&[10]),
            &auto,
        )
        .unwrap();
        assert_eq!(v.report.digest_mode, mode);
        assert_eq!(v.checkpoint.digest_mode(), mode);
    }
}

/// Evidence from another root than the checkpoint's is refused, naming both roots as their
/// boot identities read.
#[test]
fn another_root_is_named_with_both_identities() {
    let mut l = List::new(&BOTH, DigestMode::PerBank);
    l.files(10, 3);
    let cp = from_boot(&l.bytes(), &l.asserted(&[10]));
    let e = resume_tail(&l, &cp, &l.tpm("000bfeed", &[10]), &ImaOptions::default()).unwrap_err();
    match history(e) {
        HistoryError::DifferentRoot { checkpoint, now } => {
            assert_eq!(checkpoint, "values asserted by the caller");
            assert_eq!(now, "TPM AK 000bfeed (resetCount 1, restartCount 2)");
        }
        e => panic!("{e}"),
    }
}

/// An empty whole list is the verified prefix of a checkpoint made before any entry (and
/// verifies), never of a checkpoint after entries (PrefixDiffers, "only 0 entries").
#[test]
fn an_empty_whole_list_against_a_checkpoint() {
    let reset = Anchor::asserted(
        ExpectedRegisters::from_values(BOTH.map(|alg| RegisterValue {
            id: MrId::Pcr(10),
            value: Digest::zero(alg),
        }))
        .unwrap(),
    );
    let empty_cp = from_boot(&[], &reset);
    assert_eq!(empty_cp.entries(), 0);
    let v = resume(
        ImaInput::from_bytes(&[]),
        ResumeFrom::Full(&empty_cp),
        &reset,
        &ImaOptions::default(),
    )
    .unwrap();
    assert_eq!(v.report.entries, 0);
    assert_eq!(v.checkpoint, empty_cp);

    let mut l = List::new(&BOTH, DigestMode::PerBank);
    l.files(10, 3);
    let cp = from_boot(&l.bytes(), &l.asserted(&[10]));
    assert_eq!(cp.entries(), 4);
    let e = resume(
        ImaInput::from_bytes(&[]),
        ResumeFrom::Full(&cp),
        &l.asserted(&[10]),
        &ImaOptions::default(),
    )
    .unwrap_err();
    match history(e) {
        HistoryError::PrefixDiffers { entries, reason } => {
            assert_eq!(entries, 4);
            assert_eq!(reason, "the list has only 0 entries");
        }
        e => panic!("{e}"),
    }
}

/// A register the checkpoint holds but the resumed part does not extend keeps its value in the
/// new checkpoint; a register the resumed part extends is there once per bank (one bank and two).
#[test]
fn a_resumed_checkpoint_keeps_the_values_the_tail_does_not_touch_once_each() {
    // PCR 11 is extended before the checkpoint only, and not quoted.
    let mut l = List::new(&BOTH, DigestMode::PerBank);
    l.files(11, 2);
    l.files(10, 3);
    let cp = from_boot(&l.bytes(), &l.asserted(&[10]));
    let pcr11 = l.values(&[11]);
    assert_eq!(
        cp.value(&MrId::Pcr(11), HashAlg::Sha1),
        Some(pcr11[0].value)
    );
    l.files(10, 4);
    let v = resume_tail(&l, &cp, &l.asserted(&[10]), &ImaOptions::default()).unwrap();
    assert_eq!(v.checkpoint.entries(), 10);
    assert_eq!(v.checkpoint.registers(), l.values(&[10, 11]).as_slice());

    // One bank (SHA-1): PCR 10 once, at its value after the tail.
    let mut l = List::new(&[HashAlg::Sha1], DigestMode::PerBank);
    l.files(10, 3);
    let cp = from_boot(&l.bytes(), &l.asserted(&[10]));
    assert_eq!(cp.registers(), l.values(&[10]).as_slice());
    l.files(10, 2);
    let v = resume_tail(&l, &cp, &l.asserted(&[10]), &ImaOptions::default()).unwrap();
    assert_eq!(v.checkpoint.registers(), l.values(&[10]).as_slice());
    assert_eq!(v.checkpoint.registers().len(), 1);
}

/// After a checkpoint, an entry of the tail logged but never extended is named by its absolute
/// number, with the absolute count of entries covered without it (not wrapped as a tail that
/// does not continue the checkpoint).
#[test]
fn a_never_extended_entry_after_a_checkpoint_is_named_by_its_absolute_number() {
    let mut l = List::new(&BOTH, DigestMode::PerBank);
    l.files(10, 4);
    let cp = from_boot(&l.bytes(), &l.asserted(&[10]));
    assert_eq!(cp.entries(), 5);
    // Tail: 3 entries, the lost one (absolute entry 8), 4 more.
    l.files(10, 3);
    l.lost();
    l.files(10, 4);
    let options = ImaOptions::default().with_never_extended_search(1 << 20);
    let e = resume_tail(&l, &cp, &l.asserted(&[10]), &options).unwrap_err();
    match history(e) {
        HistoryError::NeverExtended {
            entry,
            register,
            covered,
        } => {
            assert_eq!(entry, 8);
            assert_eq!(register, MrId::Pcr(10));
            assert_eq!(covered, 13);
        }
        e => panic!("{e}"),
    }
}
