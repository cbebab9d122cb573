//! [`appraise_input`]: the appraisal of a whole list on two threads, with exactly the result of
//! the one-thread [`appraise_list`](crate::appraise_list) — the same verdicts, failures, order
//! and errors. See docs/appraisal.md, "Memory and speed".
//!
//! The only state the appraisal carries from entry to entry is the keys learned from `ima-buf`
//! keyring entries, read only when a signature's key is not one of the policy's. So the list is
//! cut into chunks of whole entries by mr-core's chunker
//! ([`mr_core::log::ima::chunks::run_two_threads`], the one the two-thread replay uses), and each
//! chunk is appraised on either thread by an appraiser of its own that has learned no key,
//! noting whether an entry taught a key or looked for a signature's key among the learned ones.
//! The chunks are then taken in list order on the calling thread, which holds the list's
//! appraiser (the learned keys): a chunk's verdicts are kept as they are unless the chunk taught
//! a key, or searched the learned keys while some had been learned before it; such a chunk is
//! appraised again, in order, by the list's appraiser. At anything irregular (an entry that does
//! not parse, trailing bytes, a read error) the list's appraiser continues on the calling thread
//! from the first entry not yet taken, over the bytes already read and the rest of the input, as
//! `appraise_list` would: its errors are the one-thread appraisal's own.
//!
//! Memory: the policy, the learned keys, the reported failures, and the few chunks in flight
//! (their bytes and their failures), whatever the list's length.

use std::io::BufRead;

use mr_core::log::ima::chunks::{run_two_threads, Chunk, Source, TwoThreads, CHUNK_LEN};
use mr_core::log::ima::{ImaInput, ImaReader, ImaReaderOptions};

use crate::appraise::{appraise_entries, AppraiseOptions, ListAppraisal, ListAppraiser};
use crate::error::PolicyError;
use crate::policy::RuntimePolicy;

/// How [`appraise_input`] reads a list. `Default`: the format detected, threads chosen by the
/// input, nothing pinned.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ListOptions {
    /// Reader options (format, trailing bytes), as for [`ImaReader::new`].
    pub reader: ImaReaderOptions,
    /// Threads: 0 (default) lets the appraisal choose (two for inputs of unknown length and
    /// for lists of at least two chunks on a machine with two cores), 1 keeps it on the calling
    /// thread, 2 or more asks for two. The result is the same either way.
    pub threads: usize,
    /// Pin the two threads to two CPUs while they run (Linux; the calling thread's affinity is
    /// restored). For a process that appraises one list at a time, such as the `mr` command;
    /// see `mr_core::log::ima::ImaOptions::pin_threads`.
    pub pin_threads: bool,
}

impl ListOptions {
    /// With these reader options.
    pub fn with_reader(mut self, reader: ImaReaderOptions) -> Self {
        self.reader = reader;
        self
    }
    /// With this many threads (see [`ListOptions::threads`]).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }
    /// Pin the two threads to two CPUs (see [`ListOptions::pin_threads`]).
    pub fn with_pinned_threads(mut self, pin: bool) -> Self {
        self.pin_threads = pin;
        self
    }
}

/// Appraise every entry of the list `input` (read once) against `policy`, on one thread or
/// two (see the module documentation and [`ListOptions::threads`]). The result, or the error,
/// is [`appraise_list`](crate::appraise_list)'s over the same list.
pub fn appraise_input(
    input: ImaInput<'_>,
    policy: &RuntimePolicy,
    options: AppraiseOptions,
    list: &ListOptions,
) -> Result<ListAppraisal, PolicyError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if !(cores >= 2 && input.wants_two_threads(list.threads)) {
        let mut reader = ImaReader::new(input.into_reader(), list.reader.clone());
        return crate::appraise_list(&mut reader, policy, options);
    }
    input.with_source(|source| appraise_two_threads(source, policy, options, list, CHUNK_LEN).0)
}

/// How the two-thread appraisal went (test support, from [`appraise_chunked`]).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkedRun {
    /// Chunks whose verdicts, computed on either thread, were kept.
    pub kept: u64,
    /// Chunks appraised again in order (they taught a key, or read learned keys).
    pub in_order: u64,
    /// True when the list's appraiser continued alone at an irregular chunk or input.
    pub continued_alone: bool,
}

/// The two-thread appraisal [`appraise_input`] chooses, on any machine, with chunks of about
/// `chunk_len` bytes (at least 1 KiB), and how it went: for tests that need many chunks from a
/// short list. Callers use [`appraise_input`].
#[doc(hidden)]
pub fn appraise_chunked<R: BufRead>(
    input: Source<'_, R>,
    policy: &RuntimePolicy,
    options: AppraiseOptions,
    reader: ImaReaderOptions,
    chunk_len: usize,
) -> (Result<ListAppraisal, PolicyError>, ChunkedRun) {
    let list = ListOptions::default().with_reader(reader);
    appraise_two_threads(input, policy, options, &list, chunk_len)
}

/// One chunk's appraisal by an appraiser that has learned no key.
#[derive(Default)]
struct ChunkVerdicts {
    verdicts: ListAppraisal,
    /// An entry taught a key: the chunk must be appraised in order by the list's appraiser
    /// (which learns it).
    taught_key: bool,
    /// A signature's key was looked for among the learned keys (none here): the verdicts stand
    /// only when no key was learned before the chunk.
    searched_learned: bool,
}

fn appraise_two_threads<R: BufRead>(
    input: Source<'_, R>,
    policy: &RuntimePolicy,
    options: AppraiseOptions,
    list: &ListOptions,
    chunk_len: usize,
) -> (Result<ListAppraisal, PolicyError>, ChunkedRun) {
    let mut run = ChunkedRun::default();
    let mut out = ListAppraisal::default();
    // A chunk appraised again in order cannot fail to read (the same bytes with the same
    // reader read whole before), but if it did, that error is the result.
    let mut failed: Option<PolicyError> = None;
    let chunk_options = &options;
    let mut appraiser = ListAppraiser::borrowing(policy, &options);
    let ended = run_two_threads(
        input,
        list.reader.clone(),
        chunk_len,
        list.pin_threads,
        |r: &mut ImaReader<&[u8]>, work: &mut ChunkVerdicts| {
            appraise_chunk(r, work, policy, chunk_options)
        },
        |chunk: &mut Chunk<'_, ChunkVerdicts>| {
            if failed.is_some() {
                return;
            }
            let work = &mut chunk.work;
            if work.taught_key || (work.searched_learned && appraiser.has_learned_keys()) {
                run.in_order += 1;
                if let Err(e) = appraise_entries(&mut chunk.entries(), &mut appraiser, &mut out) {
                    failed = Some(e);
                }
            } else {
                run.kept += 1;
                out.append(&mut work.verdicts);
            }
        },
    );
    if let Some(e) = failed {
        return (Err(e), run);
    }
    let result = match ended {
        TwoThreads::Complete(_) => Ok(out),
        TwoThreads::Irregular(remainder) => {
            run.continued_alone = true;
            remainder
                .into_reader(list.reader.clone())
                .map_err(PolicyError::from)
                .and_then(|mut reader| {
                    appraise_entries(&mut reader, &mut appraiser, &mut out).map(|()| out)
                })
        }
    };
    (result, run)
}

/// Appraise one chunk's entries into `work` with an appraiser that has learned no key; false
/// when an entry does not parse (the one-thread appraisal then decides).
fn appraise_chunk(
    r: &mut ImaReader<&[u8]>,
    work: &mut ChunkVerdicts,
    policy: &RuntimePolicy,
    options: &AppraiseOptions,
) -> bool {
    work.verdicts.entries = 0;
    work.verdicts.failed = 0;
    work.verdicts.failures.clear();
    work.taught_key = false;
    let mut appraiser = ListAppraiser::borrowing(policy, options);
    let verdicts = &mut work.verdicts;
    loop {
        let entry = match r.next_entry() {
            Ok(Some(entry)) => entry,
            Ok(None) => break,
            Err(_) => return false,
        };
        if work.taught_key {
            // The chunk is appraised again in order; its entries must still all read.
            continue;
        }
        verdicts.entries += 1;
        appraiser.push(entry, &mut |rejected| verdicts.reject(rejected));
        // The verdicts of a chunk that taught a key are not kept.
        work.taught_key = appraiser.has_learned_keys();
    }
    appraiser.finish(&mut |rejected| verdicts.reject(rejected));
    work.searched_learned = appraiser.searched_learned_keys();
    true
}
