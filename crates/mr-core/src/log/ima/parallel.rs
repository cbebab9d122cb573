//! IMA replay on two threads, chunk by chunk, with exactly the result of the one-thread replay.
//! [`super::verify`] chooses it from its input and [`super::ImaOptions::threads`].
//!
//! A list is cut into chunks of whole entries (about [`super::CHUNK_LEN`] bytes each, streamed, so
//! memory does not grow with the list). The expensive, independent part of each entry (parsing,
//! the template digest in every bank, the header-digest check) is computed for whole chunks on
//! whichever thread is free; the extends, which form one chain per register and bank, are then
//! applied in list order on the calling thread through the same [`Replayer`] as the one-thread replay.
//!
//! Only regular entries run in parallel. At anything out of the ordinary (a parse error, a
//! header digest that disagrees, a violation under [`ViolationPolicy::Reject`], a legacy `ima`
//! entry, bytes after the last whole entry) the replay continues on one thread, through the same
//! replay state, from the first entry not yet applied: the bytes of the chunks already read,
//! then the rest of the input. The input is read once (a pipe works, and nothing can change
//! between two reads); every error and every report is the one-thread replay's own, and memory stays
//! bounded by the chunks in flight.

//!
//! The chunking and the two-thread scheduling are [`super::chunks`]'s, shared with the
//! appraisal; this module holds what the replay computes per chunk and how it applies it.

use std::io::BufRead;

use crate::alg::{Digest, HashAlg};
use crate::error::Error;
use crate::register::ExpectedRegisters;
use crate::trust::Reference;

use super::chunks::{run_two_threads, Chunk, Remainder, Source, TwoThreads};
use super::reader::ImaReader;
use super::replay::{
    bank_digests, replay_values, DigestMode, ImaReplayConfig, ImaReplayReport, Mark, ReplayState,
    ViolationPolicy,
};

/// The two-thread replay [`super::verify`] chooses, with chunks of about `chunk_len` bytes (at
/// least 1 KiB), for tests and fuzz targets that need many chunks from a short list; also says
/// whether the two-thread path applied every entry (false: the one-thread replay did all or
/// part of it). Verifiers call [`super::verify`]. Public only with the `testing` feature.
#[doc(hidden)]
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub fn replay_parallel_chunked<I: BufRead, R: Reference>(
    input: Source<'_, I>,
    config: &ImaReplayConfig,
    reference: &R,
    chunk_len: usize,
) -> (Result<R::Outcome<ImaReplayReport>, Error>, bool) {
    let (result, parallel) =
        replay_parallel_values(input, config, reference.expected(), chunk_len, 0, false);
    (result.map(|r| reference.outcome(r)), parallel)
}

/// [`replay_parallel_chunked`] against plain values (`None`: compute only), with the
/// never-extended search of [`replay_values`].
pub(crate) fn replay_parallel_values<R: BufRead>(
    input: Source<'_, R>,
    config: &ImaReplayConfig,
    expected: Option<&ExpectedRegisters>,
    chunk_len: usize,
    never_extended_budget: u64,
    pin: bool,
) -> (Result<ImaReplayReport, Error>, bool) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 || config.digest_mode != DigestMode::PerBank {
        return (
            replay_values(input, config, expected, never_extended_budget),
            false,
        );
    }
    let mut state = ReplayState::new(config, expected, never_extended_budget);
    let banks = state.banks.clone();
    let violations = config.violations;
    let run = run_two_threads(
        input,
        config.reader.clone(),
        chunk_len,
        pin,
        |r: &mut ImaReader<&[u8]>, out: &mut Computed| {
            compute(r, out, &banks, violations).is_some()
        },
        |chunk: &mut Chunk<'_, Computed>| apply(&mut state, chunk),
    );
    match run {
        TwoThreads::Complete(format) => (state.finish_with(format, 0), true),
        TwoThreads::Irregular(remainder) => (continue_alone(state, remainder), false),
    }
}

/// The per-entry work of one chunk, ready to be applied in order.
#[derive(Default)]
struct Computed {
    entries: u64,
    pcrs: Vec<u32>,
    /// `entries × banks` digests, entry by entry, in bank order.
    digests: Vec<Digest>,
    violations: u64,
    /// One item per entry with a [`Mark`] (`boot_aggregate`, kexec record): its place in the
    /// chunk and the mark.
    marks: Vec<(u64, Mark)>,
}

/// Read a chunk's entries and compute every entry's digests into `out`; `None` when the chunk
/// is anything but a run of regular entries (the one-thread replay then decides).
fn compute(
    r: &mut ImaReader<&[u8]>,
    out: &mut Computed,
    banks: &[HashAlg],
    violations: ViolationPolicy,
) -> Option<()> {
    out.entries = 0;
    out.violations = 0;
    out.pcrs.clear();
    out.digests.clear();
    out.marks.clear();
    while let Some(e) = r.next_entry().ok()? {
        if e.is_violation() {
            if violations == ViolationPolicy::Reject {
                return None;
            }
            out.violations += 1;
            out.digests.extend(banks.iter().map(|b| Digest::ones(*b)));
        } else {
            let at = out.digests.len();
            out.digests
                .resize(at + banks.len(), Digest::zero(HashAlg::Sha1));
            let computed = bank_digests(e, banks, &mut out.digests[at..])
                .unwrap_or_else(|| e.template_digest(e.header_digest().alg()));
            if computed != *e.header_digest() {
                return None;
            }
        }
        if let Some(mark) = Mark::of(e) {
            out.marks.push((out.pcrs.len() as u64, mark));
        }
        out.pcrs.push(e.pcr());
        out.entries += 1;
    }
    Some(())
}

/// Apply a computed chunk to the replay state, in list order.
fn apply(state: &mut ReplayState<'_>, chunk: &Chunk<'_, Computed>) {
    let c = &chunk.work;
    let nb = state.banks.len();
    let mut marks = c.marks.iter().peekable();
    for (i, pcr) in c.pcrs.iter().enumerate() {
        let digests = c.digests.get(i * nb..(i + 1) * nb).unwrap_or(&[]);
        let mark = marks.next_if(|(at, _)| *at == i as u64).map(|(_, m)| *m);
        state.apply(chunk.first_index() + i as u64, *pcr, digests, mark);
    }
    state.add_violations(c.violations);
}

/// Continue the replay on this thread from the first entry not yet applied, through the same
/// replay state: over the bytes read but not applied, then the rest of the input, which is
/// never read again from the start.
fn continue_alone<R: BufRead>(
    mut state: ReplayState<'_>,
    remainder: Remainder<'_, R, Computed>,
) -> Result<ImaReplayReport, Error> {
    let mut reader = remainder.into_reader(state.reader_options())?;
    state.run(&mut reader)?;
    state.finish(&reader)
}
