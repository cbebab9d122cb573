//! The two-thread appraisal (`appraise_input`, and `appraise_chunked` with small chunks) against
//! the one-thread `appraise_list`: the same `ListAppraisal` — verdicts, failures, order, counts —
//! or the same error, on every generated case scaled up to span many chunks (ASCII and binary,
//! chunk lengths that put the boundaries everywhere, keys learned from `ima-buf` entries in the
//! middle), on truncated and edited lists, on a read error, and with more failures than are
//! reported. Memory stays bounded by the chunks in flight.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{self, BufRead, BufReader, Read};

use common::{cases_in, sha256, CaseBuilder};
use mr_core::log::ima::builder::ImaListBuilder;
use mr_core::log::ima::chunks::Source;
use mr_core::log::ima::{ImaInput, ImaReader, ImaReaderOptions, ListKind, CHUNK_LEN};
use mr_core::HashAlg;
use mr_policy::{
    appraise_chunked, appraise_input, appraise_list, AppraiseOptions, ChunkedRun, DenyList,
    ListAppraisal, ListOptions, RuntimePolicy, MAX_REPORTED_FAILURES,
};
use mr_test_alloc::measure;

#[global_allocator]
static ALLOC: mr_test_alloc::CountingAlloc = mr_test_alloc::CountingAlloc;

/// A result compared as a whole: the appraisal, or the error's full debug text.
type Outcome = Result<ListAppraisal, String>;

fn policy_of(json: &serde_json::Value) -> RuntimePolicy {
    RuntimePolicy::from_json(json.to_string().as_bytes()).unwrap()
}

fn one_thread(input: impl BufRead, policy: &RuntimePolicy, options: &AppraiseOptions) -> Outcome {
    let mut reader = ImaReader::new(input, ImaReaderOptions::default());
    appraise_list(&mut reader, policy, options.clone()).map_err(|e| format!("{e:?}"))
}

/// The one-thread and the two-thread appraisal of `list` in chunks of `chunk` bytes, which must
/// agree; the result and how the two-thread run went.
fn both(
    list: &[u8],
    policy: &RuntimePolicy,
    options: &AppraiseOptions,
    chunk: usize,
) -> (Outcome, ChunkedRun) {
    let one = one_thread(list, policy, options);
    let (two, run) = appraise_chunked(
        Source::Read(list),
        policy,
        options.clone(),
        ImaReaderOptions::default(),
        chunk,
    );
    let two = two.map_err(|e| format!("{e:?}"));
    assert_eq!(one, two, "chunks of {chunk} bytes ({run:?})");
    // The list in memory, cut into chunks that borrow its bytes: the same verdicts, the same run.
    let (in_memory, run_in_memory) = appraise_chunked(
        Source::<&[u8]>::Memory(list),
        policy,
        options.clone(),
        ImaReaderOptions::default(),
        chunk,
    );
    let in_memory = in_memory.map_err(|e| format!("{e:?}"));
    assert_eq!(one, in_memory, "chunks of {chunk} bytes in memory");
    // (How many chunks were kept before an irregular one depends on which thread finished
    // first; whether the run went on alone does not.)
    assert_eq!(
        run.continued_alone, run_in_memory.continued_alone,
        "chunks of {chunk} bytes in memory"
    );
    (one, run)
}

fn repeat(list: &[u8], times: usize) -> Vec<u8> {
    list.repeat(times)
}

/// Options that exercise the deny list and the verifier's boot aggregates in every case.
fn deny_and_aggregates() -> AppraiseOptions {
    let deny = format!(
        "{}\n{}\n",
        hex::encode(sha256(b"/usr/bin/tool2").as_bytes()),
        hex::encode(sha256(b"a").as_bytes())
    );
    AppraiseOptions {
        deny_list: Some(DenyList::parse(&deny).unwrap()),
        boot_aggregates: vec![sha256(b"other pcrs").as_bytes().to_vec()],
    }
}

/// Copies of each generated case in one list: enough for dozens of 1 KiB chunks.
const COPIES: usize = 24;

#[test]
fn generated_cases_agree_in_chunks_of_every_size() {
    for kind in [ListKind::Ascii, ListKind::Binary] {
        for case in cases_in(kind) {
            let policy = policy_of(&case.policy);
            let list = repeat(&case.list, COPIES);
            for (denying, options) in [
                (false, AppraiseOptions::default()),
                (true, deny_and_aggregates()),
            ] {
                for chunk in [1024, 1537, 4096, 1 << 20] {
                    let (result, run) = both(&list, &policy, &options, chunk);
                    let failed = result.unwrap().failed;
                    // (Keys learned in one copy change the next copies' verdicts.)
                    if !denying && case.name != "ima-buf-keys" {
                        assert_eq!(
                            failed,
                            COPIES as u64 * case.expected.len() as u64,
                            "{}",
                            case.name
                        );
                    }
                    let name = case.name;
                    match (name, kind) {
                        // A legacy entry cannot be sized by the chunker: one thread from the
                        // first chunk that holds one, unless it is the last chunk.
                        ("legacy-ima", ListKind::Binary) => {}
                        // Keys are learned in the first copy; later signatures need them.
                        ("ima-buf-keys", _) => {
                            assert!(run.in_order > 0 && !run.continued_alone, "{name} {run:?}")
                        }
                        _ => assert!(
                            run.in_order == 0 && !run.continued_alone && run.kept >= 1,
                            "{name} {kind:?} {run:?}"
                        ),
                    }
                }
            }
        }
    }
}

#[test]
fn keys_learned_anywhere_give_the_one_thread_verdicts_at_every_boundary() {
    // The ima-buf-keys case once, between runs of plain entries, so that the keys are learned
    // mid-list and the boundaries fall before, inside and after the stateful entries.
    for kind in [ListKind::Ascii, ListKind::Binary] {
        let case = cases_in(kind)
            .into_iter()
            .find(|c| c.name == "ima-buf-keys")
            .unwrap();
        let plain = cases_in(kind)
            .into_iter()
            .find(|c| c.name == "altered-digest")
            .unwrap();
        let mut policy = case.policy.clone();
        for (path, digests) in plain.policy["digests"].as_object().unwrap() {
            policy["digests"][path] = digests.clone();
        }
        let policy = policy_of(&policy);
        let mut list = repeat(&plain.list, 12);
        list.extend_from_slice(&repeat(&case.list, 3));
        list.extend_from_slice(&repeat(&plain.list, 12));
        let mut in_order = 0;
        for chunk in (1024..1024 + 700).step_by(37) {
            let (result, run) = both(&list, &policy, &AppraiseOptions::default(), chunk);
            assert!(result.unwrap().failed > 0);
            assert!(!run.continued_alone && run.kept > 0, "{run:?}");
            in_order += run.in_order;
        }
        assert!(in_order > 0);
    }
}

#[test]
fn truncated_and_edited_lists_give_the_one_thread_result_or_error() {
    for kind in [ListKind::Ascii, ListKind::Binary] {
        let case = cases_in(kind)
            .into_iter()
            .find(|c| c.name == "signatures")
            .unwrap();
        let policy = policy_of(&case.policy);
        let list = repeat(&case.list, 25);
        let options = AppraiseOptions::default();
        let step = list.len() / 29;
        let mut errors = 0;
        for at in (1..list.len()).step_by(step).chain([list.len() - 1]) {
            let mut edits = vec![list[..at].to_vec()];
            for (i, byte) in [0x01u8, 0x20, 0x80].iter().enumerate() {
                let mut e = list.clone();
                e[(at + i * 7) % list.len()] ^= byte;
                edits.push(e);
            }
            let mut inserted = list.clone();
            inserted.insert(at, b'\n');
            edits.push(inserted);
            for edited in &edits {
                for chunk in [1024, 3000] {
                    if both(edited, &policy, &options, chunk).0.is_err() {
                        errors += 1;
                    }
                }
            }
        }
        assert!(
            errors > 20,
            "{kind:?}: the edits must make some lists unreadable"
        );
    }
}

/// A reader that fails once after `good` bytes, then goes on.
struct FailsOnce<'a> {
    bytes: &'a [u8],
    at: usize,
    good: usize,
    failed: bool,
}

impl Read for FailsOnce<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.failed && self.at >= self.good {
            self.failed = true;
            return Err(io::Error::other("device gone"));
        }
        let end = if self.failed {
            self.bytes.len()
        } else {
            self.good
        };
        let n = buf.len().min(end - self.at);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn a_read_error_mid_list_is_the_one_thread_error() {
    let case = cases_in(ListKind::Ascii).remove(0);
    let policy = policy_of(&case.policy);
    let list = repeat(&case.list, 60);
    let options = AppraiseOptions::default();
    for good in [0, 1, 500, 5000, list.len() / 2, list.len() - 1] {
        let input = || {
            BufReader::with_capacity(
                700,
                FailsOnce {
                    bytes: &list,
                    at: 0,
                    good,
                    failed: false,
                },
            )
        };
        let one = one_thread(input(), &policy, &options);
        let (two, _) = appraise_chunked(
            Source::Read(input()),
            &policy,
            options.clone(),
            ImaReaderOptions::default(),
            1024,
        );
        assert_eq!(
            one,
            two.map_err(|e| format!("{e:?}")),
            "error after {good} bytes"
        );
        assert!(one.is_err());
    }
}

/// A list of `n` ima-ng entries, every one allowed by the policy returned except those whose
/// number is a multiple of `fail_every` (0: none fails).
fn long_list(kind: ListKind, n: u32, fail_every: u32) -> (Vec<u8>, RuntimePolicy) {
    let mut c = CaseBuilder::with_kind(kind);
    for i in 1..n {
        let path = format!("/usr/lib/pkg{}/file{i}.so", i % 97);
        let d = c.file(&path, path.as_bytes(), false);
        if fail_every == 0 || (i + 1) % fail_every != 0 {
            c.allow(&path, d.as_bytes());
        }
    }
    let policy = policy_of(&c.policy());
    (c.list.finish(), policy)
}

#[test]
fn more_failures_than_are_reported_keep_the_first_in_list_order() {
    let (list, policy) = long_list(ListKind::Binary, 25_000, 2);
    let (result, run) = both(&list, &policy, &AppraiseOptions::default(), 4096);
    let result = result.unwrap();
    assert_eq!(result.entries, 25_000);
    assert_eq!(result.failed, 12_500);
    assert_eq!(result.failures.len(), MAX_REPORTED_FAILURES);
    assert_eq!(result.failures[0].number, 2);
    assert_eq!(
        result.failures.last().map(|f| f.number),
        Some(2 * MAX_REPORTED_FAILURES as u64)
    );
    assert!(run.kept > 10 && !run.continued_alone, "{run:?}");
}

#[test]
fn appraise_input_gives_appraise_list_s_result_on_any_number_of_threads() {
    let (list, policy) = long_list(ListKind::Ascii, 12_000, 997);
    assert!(list.len() > 2 * CHUNK_LEN, "long enough for two threads");
    let one = one_thread(&list[..], &policy, &AppraiseOptions::default()).unwrap();
    assert_eq!(one.failed, 12);
    for list_options in [
        ListOptions::default(),
        ListOptions::default().with_threads(1),
        ListOptions::default().with_threads(2),
        ListOptions::default().with_pinned_threads(true),
    ] {
        for input in [
            ImaInput::from_bytes(&list),
            ImaInput::from_reader(&list[..]),
        ] {
            let got = appraise_input(input, &policy, AppraiseOptions::default(), &list_options);
            assert_eq!(got.unwrap(), one, "{list_options:?}");
        }
    }
}

#[test]
fn memory_is_bounded_by_the_chunks_in_flight() {
    // A long, valid list: the calling thread's live memory stays a few chunks, not the list.
    let (list, policy) = long_list(ListKind::Binary, 30_000, 0);
    let options = AppraiseOptions::default();
    // The two-thread appraisal of `source` in chunks of `chunk` bytes, with the calling thread's
    // allocations measured.
    let appraise = |source: Source<'_, &[u8]>, chunk: usize| {
        measure(|| {
            appraise_chunked(
                source,
                &policy,
                options.clone(),
                ImaReaderOptions::default(),
                chunk,
            )
        })
    };
    let ((two, run), stats) = appraise(Source::Read(&list[..]), 4096);
    assert!(two.unwrap().is_allowed() && run.kept > 100);
    assert!(
        stats.peak_live < 256 << 10,
        "peak {} bytes for a {} byte list",
        stats.peak_live,
        list.len()
    );
    // In memory, the chunks borrow the list: no chunk buffer at all.
    let ((two, run), stats) = appraise(Source::Memory(&list), 4096);
    assert!(two.unwrap().is_allowed() && run.kept > 100);
    assert!(
        stats.peak_live < 64 << 10 && stats.largest < 4096,
        "peak {} bytes, largest allocation {} bytes for a {} byte list in memory",
        stats.peak_live,
        stats.largest,
        list.len()
    );

    // An entry claiming 4 GiB of template data, followed by 4 MiB: no allocation grows with
    // the claim or the input (the one-thread reader meets the entry, as appraise_list would).
    let mut b = ImaListBuilder::binary();
    b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"pcrs"));
    for i in 0..40u32 {
        b.ima_ng(
            10,
            &HashAlg::Sha256.hash(&i.to_le_bytes()),
            &format!("/b{i}"),
        );
    }
    let mut hostile = b.finish();
    hostile.extend_from_slice(&10u32.to_le_bytes());
    hostile.extend_from_slice(&[0x5A; 20]);
    hostile.extend_from_slice(&6u32.to_le_bytes());
    hostile.extend_from_slice(b"ima-ng");
    hostile.extend_from_slice(&u32::MAX.to_le_bytes());
    hostile.resize(hostile.len() + (4 << 20), 0x41);
    let one = one_thread(&hostile[..], &policy, &options);
    assert!(one.is_err());
    for source in [Source::Read(&hostile[..]), Source::Memory(&hostile)] {
        let memory = matches!(source, Source::Memory(_));
        let ((two, run), stats) = appraise(source, 1024);
        assert!(run.continued_alone);
        assert!(
            stats.largest < 64 << 10,
            "largest allocation {} bytes for a {} byte input (in memory: {memory})",
            stats.largest,
            hostile.len()
        );
        assert_eq!(
            one,
            two.map_err(|e| format!("{e:?}")),
            "in memory: {memory}"
        );
    }
}
