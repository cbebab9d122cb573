//! `replay_parallel` (chunks parsed and hashed on two threads, extends applied in order) gives
//! exactly what `replay` gives on one: the same report for lists that verify, and the same error
//! for every list that does not. Most checks run with small chunks (1 KiB, 4 KiB: dozens to
//! hundreds of chunks per list) as well as the default size.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::log::ima::builder::ImaListBuilder;
use mr_core::log::ima::chunks::Source;
use mr_core::log::ima::sample::write_sample_list;
use mr_core::log::ima::{
    self, DigestMode, Endian, ImaInput, ImaOptions, ImaReplayConfig, ListKind, ViolationPolicy,
};
use mr_core::replay::{PrefixPolicy, ReplayOptions};
use mr_core::{ComputeOnly, Reference};
use std::io::{BufReader, Read};

use mr_core::{Digest, ExpectedRegisters, HashAlg, MrId, RegisterValue};

/// An input that can be read once, as a pipe: `bytes` in reads of at most 1000 bytes, then an
/// I/O error at byte `fail_at` (if given) or the end; after that, every read returns 0. It
/// cannot be rewound or reopened.
struct OnePass {
    bytes: Vec<u8>,
    at: usize,
    fail_at: Option<usize>,
    ended: bool,
}

impl OnePass {
    fn new(bytes: &[u8], fail_at: Option<usize>) -> OnePass {
        OnePass {
            bytes: bytes.to_vec(),
            at: 0,
            fail_at,
            ended: false,
        }
    }
}

impl Read for OnePass {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.ended {
            return Ok(0);
        }
        let end = self
            .fail_at
            .unwrap_or(self.bytes.len())
            .min(self.bytes.len());
        if self.at == end {
            self.ended = true;
            if self.fail_at.is_some() {
                return Err(std::io::Error::other("gone"));
            }
            return Ok(0);
        }
        let n = buf.len().min(1000).min(end - self.at);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

const BANKS: [HashAlg; 3] = [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384];

fn list(kind: ListKind, entries: u64, seed: u64) -> (Vec<u8>, Vec<RegisterValue>) {
    let mut out = Vec::new();
    let s = write_sample_list(&mut out, kind, entries, &BANKS, seed).unwrap();
    (out, s.expected)
}

fn expected(values: &[RegisterValue], banks: &[HashAlg]) -> ExpectedRegisters {
    ExpectedRegisters::from_values(
        values
            .iter()
            .filter(|v| banks.contains(&v.value.alg()))
            .cloned(),
    )
    .unwrap()
}

const CHUNKS: [usize; 3] = [1024, 4096, ima::CHUNK_LEN];

/// Both replays of `bytes`, compared for every chunk size: equal reports, or equal errors.
fn same<R: Reference>(bytes: &[u8], cfg: &ImaReplayConfig, exp: &R, what: &str) -> bool {
    let one = ima::replay(bytes, cfg, exp).map(R::into_report);
    // Read into chunk buffers, and cut from the list in memory (chunks borrow its bytes).
    let sources = || [Source::Read(bytes), Source::Memory(bytes)];
    for (chunk, source) in CHUNKS.into_iter().flat_map(|c| sources().map(|s| (c, s))) {
        let memory = matches!(source, Source::Memory(_));
        let what = &format!("{what}{}", if memory { ", in memory" } else { "" });
        let (two, parallel) = ima::replay_parallel_chunked(source, cfg, exp, chunk);
        let two = two.map(R::into_report);
        match (&one, &two) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b, "{what}, chunks of {chunk}");
                // Regular lists that verify take the two-thread path (else this test would
                // only compare the one-thread replay with itself).
                // (A legacy `ima` entry has no data length, so the chunk cutter leaves such
                // lists to one thread unless the whole list is one chunk.)
                let regular = a.trailing_bytes == 0 && cfg.digest_mode == DigestMode::PerBank;
                if !what.starts_with("legacy") {
                    assert_eq!(
                        parallel, regular,
                        "{what}, chunks of {chunk}: parallel path"
                    );
                }
            }
            (Err(a), Err(b)) => {
                assert_eq!(a.to_string(), b.to_string(), "{what}, chunks of {chunk}");
                assert_eq!(
                    format!("{a:?}"),
                    format!("{b:?}"),
                    "{what}, chunks of {chunk}"
                );
            }
            _ => panic!("{what}, chunks of {chunk}: one thread {one:?}, two threads {two:?}"),
        }
    }
    one.is_ok()
}

#[test]
fn verifying_lists_give_the_same_report_on_two_threads() {
    for kind in [ListKind::Binary, ListKind::Ascii] {
        let (bytes, values) = list(kind, 3000, 3);
        let cfg = ImaReplayConfig::default();
        for banks in [&BANKS[..2], &BANKS[..], &BANKS[1..], &BANKS[..1]] {
            let exp = expected(&values, banks);
            assert!(same(&bytes, &cfg, &exp, "verifying"));
            assert!(same(
                &bytes,
                &cfg.clone().with_banks(banks.to_vec()),
                &ComputeOnly,
                "computing"
            ));
        }
    }
}

#[test]
fn a_list_ahead_of_its_values_reports_the_same_covered_prefix() {
    let (head, values) = list(ListKind::Binary, 300, 5);
    let (longer, _) = list(ListKind::Binary, 1310, 5);
    assert!(longer.starts_with(&head));
    let exp = expected(&values, &BANKS[..2]);
    let report = ima::verify(
        ImaInput::from_bytes(&longer),
        &exp,
        &ImaOptions::default().with_threads(2),
    )
    .unwrap();
    assert_eq!(report.outcome.covered, Some(300));
    assert_eq!(report.entries, 1310);
    assert!(same(&longer, &ImaReplayConfig::default(), &exp, "ahead"));
    let exact = ImaReplayConfig::default()
        .with_replay(ReplayOptions::default().with_prefix(PrefixPolicy::Exact));
    assert!(!same(&longer, &exact, &exp, "exact"));
}

#[test]
fn rejected_lists_give_the_same_error_on_two_threads() {
    let (bytes, values) = list(ListKind::Binary, 600, 9);
    let exp = expected(&values, &BANKS[..2]);
    let cfg = ImaReplayConfig::default();
    // Every byte of one entry in the middle flipped in turn (header digest, data, lengths), and
    // bytes spread over the whole list (so in every chunk, at chunk edges too).
    let start = bytes.len() / 2;
    let spread = (0..bytes.len()).step_by(bytes.len() / 97);
    let mut rejected = 0;
    let mut tried = 0;
    for i in (start..start + 120).chain(spread) {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        tried += 1;
        if !same(&bad, &cfg, &exp, &format!("byte {i}")) {
            rejected += 1;
        }
    }
    // Only bytes inside violation entries (whose data no digest covers) can change unnoticed.
    assert!(
        rejected * 10 >= tried * 9,
        "{rejected} of {tried} edits rejected"
    );
    // A wrong value in the second half's bank only, and in the first half's only.
    for alg in [HashAlg::Sha256, HashAlg::Sha1] {
        let mut wrong = exp.clone();
        let mut v = ExpectedRegisters::new();
        for (id, d) in wrong.iter() {
            let d = if d.alg() == alg {
                Digest::ones(alg)
            } else {
                *d
            };
            v.insert(id.clone(), d).unwrap();
        }
        wrong = v;
        assert!(!same(&bytes, &cfg, &wrong, "wrong value"));
    }
    // Padded and auto modes take the one-thread path and still agree.
    for mode in [DigestMode::PaddedSha1, DigestMode::Auto] {
        same(&bytes, &cfg.clone().with_digest_mode(mode), &exp, "mode");
    }
    // A target register (mr_ima) and a list that cannot be opened.
    let target = cfg.clone().with_target(MrId::Virtual("mr_ima".into()));
    same(&bytes, &target, &ComputeOnly, "target");
    let err = ima::verify(
        ImaInput::from_reader(BufReader::new(OnePass::new(&[], Some(0)))),
        &exp,
        &ImaOptions::default()
            .with_replay(cfg.clone())
            .with_threads(2),
    )
    .unwrap_err();
    assert!(err.to_string().contains("gone"), "{err}");
}

#[test]
fn ascii_lists_with_edits_anywhere_give_the_same_error() {
    let (bytes, values) = list(ListKind::Ascii, 500, 11);
    let exp = expected(&values, &BANKS[..2]);
    let cfg = ImaReplayConfig::default();
    assert!(same(&bytes, &cfg, &exp, "clean"));
    for i in (0..bytes.len()).step_by(bytes.len() / 61) {
        for edit in [b'0', b' ', b'\n', 0xC3] {
            let mut bad = bytes.clone();
            if bad[i] == edit {
                continue;
            }
            bad[i] = edit;
            same(&bad, &cfg, &exp, &format!("byte {i} to {edit:#x}"));
        }
    }
}

#[test]
fn cut_lists_give_the_same_error_or_trailing_bytes() {
    for kind in [ListKind::Binary, ListKind::Ascii] {
        let (bytes, _) = list(kind, 300, 13);
        let trailing = ImaReplayConfig::default().with_trailing_bytes_allowed(true);
        for cut in (1..bytes.len())
            .step_by(bytes.len() / 37)
            .chain([bytes.len() - 1])
        {
            let cut_list = &bytes[..cut];
            same(
                cut_list,
                &ImaReplayConfig::default(),
                &ComputeOnly,
                &format!("cut at {cut}"),
            );
            same(
                cut_list,
                &trailing,
                &ComputeOnly,
                &format!("cut at {cut}, trailing allowed"),
            );
        }
        same(&[], &ImaReplayConfig::default(), &ComputeOnly, "empty");
    }
}

/// A list with kexec boots (more boot aggregates than a report keeps), violations, ima-buf and
/// ima-sig entries, and entries in PCR 11.
fn mixed_list(kind: ListKind, zero_aggregate: bool) -> Vec<u8> {
    let mut b = ImaListBuilder::new(kind);
    for boot in 0..(ima::MAX_REPORTED_BOOT_AGGREGATES as u32 + 10) {
        let agg = if zero_aggregate && boot == 3 {
            Digest::zero(HashAlg::Sha256)
        } else {
            HashAlg::Sha256.hash(&boot.to_le_bytes())
        };
        b.boot_aggregate("ima-ng", &agg);
        for i in 0..40u32 {
            let d = HashAlg::Sha256.hash(&(boot * 1000 + i).to_le_bytes());
            match i % 8 {
                0 => b.violation(10, "ima-ng", HashAlg::Sha256, &format!("/tmp/v{i}")),
                1 => b.ima_buf(10, HashAlg::Sha256, "kexec-cmdline", b"console=ttyS0"),
                2 => b.ima_sig(10, &d, &format!("/bin/s{i}"), &[0x03, 0x02, 0x01]),
                3 => b.ima_ng(11, &d, &format!("/etc/p11/{i}")),
                _ => b.ima_ng(10, &d, &format!("/usr/bin/f{boot}_{i}")),
            };
        }
    }
    b.finish()
}

#[test]
fn kexec_boots_violations_and_several_pcrs_give_the_same_report() {
    for kind in [ListKind::Binary, ListKind::Ascii] {
        let bytes = mixed_list(kind, false);
        let cfg = ImaReplayConfig::default();
        let report = ima::replay(&bytes[..], &cfg, &ComputeOnly).unwrap();
        assert!(report.boot_aggregate_count > ima::MAX_REPORTED_BOOT_AGGREGATES as u64);
        assert!(report.violations > 0);
        assert!(same(&bytes, &cfg, &ComputeOnly, "mixed"));
        let values: Vec<RegisterValue> = report.outcome.registers.to_vec();
        let exp = ExpectedRegisters::from_values(values).unwrap();
        assert!(same(&bytes, &cfg, &exp, "mixed, verifying"));
        let reject = cfg.clone().with_violations(ViolationPolicy::Reject);
        assert!(!same(&bytes, &reject, &exp, "violations rejected"));
        let target = cfg.clone().with_target(MrId::Virtual("mr_ima".into()));
        assert!(same(&bytes, &target, &ComputeOnly, "mixed, into mr_ima"));

        // A boot without a TPM (all-zero aggregate) in the middle: refused against PCR values,
        // accepted when allowed.
        let no_tpm = mixed_list(kind, true);
        let report = ima::replay(&no_tpm[..], &cfg, &ComputeOnly).unwrap();
        let exp = ExpectedRegisters::from_values(report.outcome.registers.iter().cloned()).unwrap();
        assert!(!same(&no_tpm, &cfg, &exp, "no TPM"));
        let allow = cfg.clone().with_no_tpm_allowed(true);
        assert!(same(&no_tpm, &allow, &exp, "no TPM allowed"));
    }
}

#[test]
fn legacy_and_big_endian_lists_take_the_same_path_to_the_same_result() {
    let mut legacy = ImaListBuilder::binary();
    legacy.boot_aggregate("ima", &HashAlg::Sha1.hash(b"agg"));
    for i in 0..200u32 {
        legacy
            .legacy_ima(10, &[i as u8; 20], &format!("/bin/l{i}"))
            .unwrap();
        legacy.ima_ng(10, &HashAlg::Sha256.hash(&i.to_le_bytes()), "/x");
    }
    let legacy = legacy.finish();
    assert!(same(
        &legacy,
        &ImaReplayConfig::default(),
        &ComputeOnly,
        "legacy"
    ));

    let mut big = ImaListBuilder::binary().with_endian(Endian::Big);
    for i in 0..2000u32 {
        big.ima_ng(
            10,
            &HashAlg::Sha256.hash(&i.to_le_bytes()),
            &format!("/b/{i}"),
        );
    }
    let big = big.finish();
    assert!(same(
        &big,
        &ImaReplayConfig::default(),
        &ComputeOnly,
        "big endian"
    ));

    let mut col = ImaListBuilder::binary().with_column(HashAlg::Sha256);
    for i in 0..2000u32 {
        col.ima_ng(
            10,
            &HashAlg::Sha256.hash(&i.to_le_bytes()),
            &format!("/c/{i}"),
        );
    }
    let col = col.finish();
    let cfg = ImaReplayConfig::default().with_banks([HashAlg::Sha256, HashAlg::Sha384]);
    assert!(same(&col, &cfg, &ComputeOnly, "sha256 column"));
}

/// The one-thread replay of `bytes` as `replay()` reads it from a `OnePass` input, against the
/// two-thread replay reading its own `OnePass` input (each input read once).
fn same_once<R: Reference>(
    bytes: &[u8],
    fail_at: Option<usize>,
    cfg: &ImaReplayConfig,
    exp: &R,
    what: &str,
) -> Result<ima::ImaReplayReport, mr_core::Error> {
    let one =
        ima::replay(BufReader::new(OnePass::new(bytes, fail_at)), cfg, exp).map(R::into_report);
    for chunk in CHUNKS {
        let input = BufReader::new(OnePass::new(bytes, fail_at));
        let (two, _) = ima::replay_parallel_chunked(Source::Read(input), cfg, exp, chunk);
        let two = two.map(R::into_report);
        match (&one, &two) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}, chunks of {chunk}"),
            (Err(a), Err(b)) => assert_eq!(
                format!("{a:?}"),
                format!("{b:?}"),
                "{what}, chunks of {chunk}"
            ),
            _ => panic!("{what}, chunks of {chunk}: one thread {one:?}, two threads {two:?}"),
        }
    }
    one
}

/// Issue 14 item 3: the two-thread replay met something irregular after its first chunk and fell
/// back to reading the input again, so a pipe's first chunk was never verified. Every input is
/// now read once: whatever is irregular where, the result is the one-thread replay's.
#[test]
fn an_input_read_once_gives_the_one_thread_result_whatever_is_irregular() {
    let (bytes, values) = list(ListKind::Binary, 3000, 21);
    let exp = expected(&values, &BANKS[..2]);
    let cfg = ImaReplayConfig::default();
    assert!(bytes.len() > 4 * 1024 * 4, "several chunks of 4 KiB");
    same_once(&bytes, None, &cfg, &exp, "clean").unwrap();

    // A bad template digest in the third chunk (and in the first, and late in the list).
    for at in [bytes.len() / 100, 2 * 4096 + 100, bytes.len() * 3 / 4] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x01;
        let err = same_once(&bad, None, &cfg, &exp, &format!("byte {at} flipped"));
        assert!(err.is_err(), "byte {at} flipped: {err:?}");
    }
    // Trailing bytes, with and without the option.
    let mut trailing = bytes.clone();
    trailing.extend_from_slice(&[1, 2, 3]);
    assert!(same_once(&trailing, None, &cfg, &exp, "trailing").is_err());
    let allowed = cfg.clone().with_trailing_bytes_allowed(true);
    let r = same_once(&trailing, None, &allowed, &exp, "trailing allowed").unwrap();
    assert_eq!(r.trailing_bytes, 3);
    // An I/O error after several chunks, and before the first byte.
    for fail_at in [0, 10, 3 * 4096 + 17, bytes.len() - 1] {
        let err = same_once(&bytes, Some(fail_at), &cfg, &exp, "I/O error").unwrap_err();
        assert!(err.to_string().contains("gone"), "{fail_at}: {err}");
    }
    // The list replayed against the values of its tail only: not a prefix, rejected.
    let tail = &bytes[bytes.len() / 2..];
    assert!(same_once(tail, None, &cfg, &exp, "tail").is_err());
}

/// A legacy `ima` entry after the first chunk (the chunk cutter cannot size it) and a violation
/// under `ViolationPolicy::Reject` in the third chunk: the replay continues on one thread from
/// the bytes already read.
#[test]
fn legacy_entries_and_rejected_violations_after_the_first_chunk_continue_on_one_thread() {
    let mut b = ImaListBuilder::binary();
    for i in 0..400u32 {
        if i == 150 {
            b.legacy_ima(10, &[0x11; 20], "/bin/legacy").unwrap();
        } else if i == 300 {
            b.violation(10, "ima-ng", HashAlg::Sha256, "/bin/violated");
        } else {
            b.ima_ng(
                10,
                &HashAlg::Sha256.hash(&i.to_le_bytes()),
                &format!("/bin/f{i}"),
            );
        }
    }
    let bytes = b.finish();
    let one = ima::replay(&bytes[..], &ImaReplayConfig::default(), &ComputeOnly).unwrap();
    let r = same_once(
        &bytes,
        None,
        &ImaReplayConfig::default(),
        &ComputeOnly,
        "legacy",
    )
    .unwrap();
    assert_eq!(r, one);
    assert_eq!(r.violations, 1);
    let reject = ImaReplayConfig::default().with_violations(ViolationPolicy::Reject);
    let err = same_once(&bytes, None, &reject, &ComputeOnly, "violation rejected").unwrap_err();
    assert!(err.to_string().contains("entry 300"), "{err}");
}
