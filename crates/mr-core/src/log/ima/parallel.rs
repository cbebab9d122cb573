//! IMA replay on two threads, chunk by chunk, with exactly the result of the one-thread replay.
//! [`super::verify`] chooses it from its input and [`super::ImaOptions::threads`].
//!
//! A list is cut into chunks of whole entries (about [`CHUNK_LEN`] bytes each, streamed, so
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

use std::collections::BTreeMap;
use std::io::{self, BufRead, Read};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::alg::{Digest, HashAlg};
use crate::error::Error;
use crate::register::ExpectedRegisters;
use crate::trust::Reference;

use super::binary::entry_span;
use super::reader::{ImaReader, ImaReaderOptions};
use super::replay::{
    bank_digests, replay_values, DigestMode, ImaReplayConfig, ImaReplayReport, Mark, ReplayState,
    ViolationPolicy,
};
use super::{ListFormat, ListKind};

/// Target size of one chunk of whole entries.
pub const CHUNK_LEN: usize = 256 * 1024;

/// Chunks waiting for the helper thread.
const QUEUE: usize = 2;

/// Computed chunks waiting for their turn to be applied (bounds memory when the helper thread
/// falls behind).
const MAX_PENDING: usize = 6;

/// The two-thread replay [`super::verify`] chooses, with chunks of about `chunk_len` bytes (at
/// least 1 KiB), for tests and fuzz targets that need many chunks from a short list; also says
/// whether the two-thread path applied every entry (false: the one-thread replay did all or
/// part of it). Verifiers call [`super::verify`]. Public only with the `testing` feature.
#[doc(hidden)]
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub fn replay_parallel_chunked<I: BufRead, R: Reference>(
    input: I,
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
    input: R,
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
    try_parallel(
        input,
        config,
        expected,
        chunk_len.max(1024),
        never_extended_budget,
        pin,
    )
}

/// A chunk of whole entries and where it sits in the list.
struct Chunk {
    seq: u64,
    bytes: Vec<u8>,
    first_index: u64,
    offset: u64,
    /// Entries the chunk must hold (unknown for the last chunk).
    entries: Option<u64>,
    /// The computed entries (buffers reused from chunk to chunk).
    out: Computed,
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

/// What the chunks of one list share.
struct Plan<'a> {
    format: ListFormat,
    reader: ImaReaderOptions,
    banks: &'a [HashAlg],
    violations: ViolationPolicy,
}

impl Plan<'_> {
    /// Parse a chunk and compute every entry's digests into `chunk.out`; false when the chunk
    /// is anything but a run of regular entries (the one-thread replay then decides).
    fn compute(&self, chunk: &mut Chunk) -> bool {
        self.compute_into(chunk).is_some()
    }

    fn compute_into(&self, chunk: &mut Chunk) -> Option<()> {
        let mut r = ImaReader::new(&chunk.bytes[..], self.reader.clone());
        r.format = Some(self.format);
        r.pos = chunk.offset;
        r.next_index = chunk.first_index;
        let out = &mut chunk.out;
        out.entries = 0;
        out.violations = 0;
        out.pcrs.clear();
        out.digests.clear();
        out.marks.clear();
        while let Some(e) = r.next_entry().ok()? {
            if e.is_violation() {
                if self.violations == ViolationPolicy::Reject {
                    return None;
                }
                out.violations += 1;
                out.digests
                    .extend(self.banks.iter().map(|b| Digest::ones(*b)));
            } else {
                let at = out.digests.len();
                out.digests
                    .resize(at + self.banks.len(), Digest::zero(HashAlg::Sha1));
                let computed = bank_digests(e, self.banks, &mut out.digests[at..])
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
        if r.trailing_bytes() != 0 || chunk.entries.is_some_and(|n| n != out.entries) {
            return None;
        }
        Some(())
    }
}

/// Apply a computed chunk to the replay state, in list order.
fn apply(state: &mut ReplayState<'_>, chunk: &Chunk) {
    let c = &chunk.out;
    let nb = state.banks.len();
    let mut marks = c.marks.iter().peekable();
    for (i, pcr) in c.pcrs.iter().enumerate() {
        let digests = c.digests.get(i * nb..(i + 1) * nb).unwrap_or(&[]);
        let mark = marks.next_if(|(at, _)| *at == i as u64).map(|(_, m)| *m);
        state.apply(chunk.first_index + i as u64, *pcr, digests, mark);
    }
    state.add_violations(c.violations);
}

/// Reads a list as chunks of whole entries.
struct Chunker<R> {
    input: R,
    chunk_len: usize,
    format: Option<ListFormat>,
    /// Bytes read but not in a chunk: the start of the next chunk, or, once the list turned out
    /// irregular, every byte read since the last chunk.
    carry: Vec<u8>,
    /// The read error that ended the input, kept for the one-thread replay to meet where the
    /// input had it.
    error: Option<io::Error>,
    /// Chunks already applied, whose buffers are reused.
    spare: Vec<Chunk>,
    seq: u64,
    index: u64,
    offset: u64,
    done: bool,
}

/// The list is irregular where the chunker stands (an entry larger than a chunk, a legacy
/// entry, an impossible length, undetectable format) or the input failed: the bytes read since
/// the last chunk are in [`Chunker::carry`].
struct Irregular;

impl<R: BufRead> Chunker<R> {
    fn new(input: R, chunk_len: usize) -> Chunker<R> {
        Chunker {
            input,
            chunk_len,
            format: None,
            carry: Vec::new(),
            error: None,
            spare: Vec::new(),
            seq: 0,
            index: 0,
            offset: 0,
            done: false,
        }
    }

    /// Up to `chunk_len` more bytes after the carried-over tail; true at the end of input. On
    /// an error the bytes read before it are in `buf`.
    ///
    /// Each `read` asks for all the bytes still wanted, straight into `buf`: a `BufReader` no
    /// larger than a chunk (as [`super::ImaInput::open`] makes) then reads from the file into
    /// the chunk without copying through its own buffer. (`read_to_end` starts with small
    /// reads, which went through that buffer and cost a copy of the whole list: 6 % of the
    /// reading thread's time in `perf` of `mr ima replay` at 100k entries.)
    fn fill(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        buf.clear();
        buf.extend_from_slice(&self.carry);
        self.carry.clear();
        let start = buf.len();
        let want = self.chunk_len;
        buf.resize(start + want, 0);
        let mut got = 0;
        let result = loop {
            let Some(free) = buf.get_mut(start + got..).filter(|f| !f.is_empty()) else {
                break Ok(());
            };
            match self.input.read(free) {
                Ok(0) => break Ok(()),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        buf.truncate(start + got);
        result.map(|()| got < want)
    }

    /// The next chunk; `Ok(None)` at the end.
    fn next(&mut self, config: &ImaReplayConfig) -> Result<Option<Chunk>, Irregular> {
        if self.done {
            return Ok(None);
        }
        let (mut buf, out) = match self.spare.pop() {
            Some(c) => (c.bytes, c.out),
            None => (Vec::new(), Computed::default()),
        };
        let eof = match self.fill(&mut buf) {
            Ok(eof) => eof,
            Err(e) => {
                self.error = Some(e);
                return Err(self.keep(buf));
            }
        };
        if buf.is_empty() {
            self.done = true;
            return Ok(None);
        }
        let format = match self.format {
            Some(f) => f,
            None => {
                let mut r = ImaReader::new(&buf[..], config.reader.clone());
                let detected = match r.next_entry() {
                    Ok(Some(_)) => r.format(),
                    _ => None,
                };
                let Some(f) = detected else {
                    return Err(self.keep(buf));
                };
                self.format = Some(f);
                f
            }
        };
        let (cut, entries) = if eof {
            self.done = true;
            (buf.len(), None)
        } else {
            let boundary = match format.kind {
                ListKind::Binary => binary_boundary(&buf, format),
                ListKind::Ascii => Some(ascii_boundary(&buf)),
            };
            match boundary {
                Some((cut, n)) if n > 0 => (cut, Some(n)),
                _ => return Err(self.keep(buf)),
            }
        };
        self.carry.extend_from_slice(&buf[cut..]);
        buf.truncate(cut);
        let chunk = Chunk {
            seq: self.seq,
            bytes: buf,
            first_index: self.index,
            offset: self.offset,
            entries,
            out,
        };
        self.seq += 1;
        self.index += entries.unwrap_or(0);
        self.offset += cut as u64;
        Ok(Some(chunk))
    }

    /// Keep `buf` (every byte read since the last chunk) for the one-thread replay.
    fn keep(&mut self, buf: Vec<u8>) -> Irregular {
        self.carry = buf;
        self.done = true;
        Irregular
    }
}

/// The input after the bytes the chunker read: the read error it met, if any, then the rest.
struct Rest<R> {
    error: Option<io::Error>,
    inner: R,
}

impl<R: BufRead> Read for Rest<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.inner.read(buf)
    }
}

impl<R: BufRead> BufRead for Rest<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.inner.consume(amt);
    }
}

/// Keep a computed chunk for its turn (or, when it was irregular, for the one-thread replay);
/// false when it was irregular.
fn receive((chunk, ok): (Chunk, bool), pending: &mut BTreeMap<u64, Chunk>) -> bool {
    pending.insert(chunk.seq, chunk);
    ok
}

/// End of the last whole binary entry in `buf` and the number of entries before it; `None` for
/// a legacy `ima` entry (its length is known only by parsing it).
fn binary_boundary(buf: &[u8], format: ListFormat) -> Option<(usize, u64)> {
    let (mut at, mut n) = (0usize, 0u64);
    while let Some(rest) = buf.get(at..) {
        // An entry cut off or with impossible lengths ends the chunk; it then starts the next
        // one, whose reader (or the one-thread replay) deals with it.
        let Some(span) = entry_span(rest, format.column.size(), format.endian) else {
            break;
        };
        if rest.get(span.name) == Some(b"ima".as_slice()) {
            return None;
        }
        at += span.data.end;
        n += 1;
    }
    Some((at, n))
}

/// End of the last whole ASCII line in `buf` and the number of lines before it.
fn ascii_boundary(buf: &[u8]) -> (usize, u64) {
    match buf.iter().rposition(|b| *b == b'\n') {
        Some(p) => (p + 1, count_newlines(&buf[..=p])),
        None => (0, 0),
    }
}

/// Number of `\n` in `bytes`, 64 bytes per step (a per-block `u8` count the compiler turns into
/// vector compares; a plain `filter().count()` ran a byte at a time and cost 11 % of a replay).
fn count_newlines(bytes: &[u8]) -> u64 {
    let (blocks, rest) = bytes.as_chunks::<64>();
    let mut n = 0u64;
    for block in blocks {
        let in_block = block
            .iter()
            .fold(0u8, |a, b| a.wrapping_add(u8::from(*b == b'\n')));
        n += u64::from(in_block);
    }
    n + rest.iter().filter(|b| **b == b'\n').count() as u64
}

/// A chunk back from the helper: the chunk, whether it was regular, and the time it took.
type Done = (Chunk, bool, Duration);

/// How busy each thread of the two-thread replay has been, so that the reading thread, which
/// also reads and applies every chunk, computes chunks itself only while that keeps it no busier
/// than the helper. (An even split of the computing left the reading thread with two thirds of
/// the work and the helper idle a third of the time: `perf` of `mr ima replay` at 100k entries.)
/// The balance decides only which thread computes a chunk, never what is computed or in which
/// order chunks are applied.
struct Balance {
    started: Instant,
    /// Time the reading thread spent blocked waiting for the helper.
    waited: Duration,
    /// Time the helper spent computing the chunks it returned, and how many.
    helper: Duration,
    helper_chunks: u32,
}

impl Balance {
    fn new() -> Balance {
        Balance {
            started: Instant::now(),
            waited: Duration::ZERO,
            helper: Duration::ZERO,
            helper_chunks: 0,
        }
    }

    /// True when computing one more chunk here keeps this thread's busy time within the
    /// helper's, counting the `queued` chunks the helper still has to compute.
    fn compute_here(&self, queued: usize) -> bool {
        let Some(per_chunk) = self.helper.checked_div(self.helper_chunks) else {
            // No chunk back yet: the helper's pace is unknown, its first result is near.
            return false;
        };
        let queued = u32::try_from(queued).unwrap_or(u32::MAX);
        let busy_here = self.started.elapsed().saturating_sub(self.waited);
        busy_here + per_chunk <= self.helper + per_chunk.saturating_mul(queued)
    }

    /// Block until the helper returns a chunk (the wait is not busy time) and record it into
    /// `pending`; false when it was irregular or the helper stopped.
    fn wait_for_next(
        &mut self,
        done: &mpsc::Receiver<Done>,
        pending: &mut BTreeMap<u64, Chunk>,
        outstanding: &mut usize,
    ) -> bool {
        let started = Instant::now();
        let msg = done.recv();
        self.waited += started.elapsed();
        match msg {
            Ok(msg) => {
                *outstanding -= 1;
                self.receive(msg, pending)
            }
            Err(_) => false,
        }
    }

    /// Record a chunk back from the helper into `pending`; false when it was irregular.
    fn receive(&mut self, (chunk, ok, took): Done, pending: &mut BTreeMap<u64, Chunk>) -> bool {
        self.helper += took;
        self.helper_chunks = self.helper_chunks.saturating_add(1);
        receive((chunk, ok), pending)
    }
}

/// The calling thread pinned to the CPU it runs on for the two-thread loop, and another CPU it
/// may use for the helper ([`super::ImaOptions::pin_threads`]); the calling thread's affinity is
/// restored on drop. Left to itself, the scheduler often runs both threads on one CPU: each
/// hand-over of a chunk wakes the other thread on the waker's CPU, and the idle CPU takes
/// milliseconds to pull one of them back. In `mr ima replay` of 100k entries that made the
/// two-thread loop take 29–43 ms from run to run on an idle 2-CPU machine, 28–29 ms pinned.
struct Pinned {
    #[cfg(target_os = "linux")]
    restore: rustix::thread::CpuSet,
    helper_cpu: usize,
}

impl Pinned {
    /// `None` (nothing changed) when the thread may run on fewer than two CPUs or the affinity
    /// cannot be read or set.
    #[cfg(target_os = "linux")]
    fn new() -> Option<Pinned> {
        use rustix::thread::{sched_getaffinity, sched_getcpu, sched_setaffinity, CpuSet};
        let allowed = sched_getaffinity(None).ok()?;
        let here = sched_getcpu();
        if !allowed.is_set(here) {
            return None;
        }
        let helper_cpu = (1..CpuSet::MAX_CPU)
            .map(|i| (here + i) % CpuSet::MAX_CPU)
            .find(|c| allowed.is_set(*c))?;
        let mut only_here = CpuSet::new();
        only_here.set(here);
        sched_setaffinity(None, &only_here).ok()?;
        Some(Pinned {
            restore: allowed,
            helper_cpu,
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn new() -> Option<Pinned> {
        None
    }
}

#[cfg(target_os = "linux")]
impl Drop for Pinned {
    fn drop(&mut self) {
        // Nothing better to do if it fails: the thread keeps running, on one CPU.
        let _ = rustix::thread::sched_setaffinity(None, &self.restore);
    }
}

/// Pin the calling thread (the helper) to `cpu`; a failure leaves it where the scheduler puts
/// it.
fn pin_to(cpu: usize) {
    #[cfg(target_os = "linux")]
    {
        let mut set = rustix::thread::CpuSet::new();
        set.set(cpu);
        let _ = rustix::thread::sched_setaffinity(None, &set);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
}

/// How the two-thread loop ended.
enum Flow {
    /// Every chunk was regular and applied.
    Complete,
    /// A chunk, or the input, was irregular: the chunks read but not applied, by sequence
    /// number.
    Irregular(BTreeMap<u64, Chunk>),
}

/// The two-thread replay (see the module documentation); true when it applied every entry.
fn try_parallel<R: BufRead>(
    input: R,
    config: &ImaReplayConfig,
    expected: Option<&ExpectedRegisters>,
    chunk_len: usize,
    never_extended_budget: u64,
    pin: bool,
) -> (Result<ImaReplayReport, Error>, bool) {
    let mut state = ReplayState::new(config, expected, never_extended_budget);
    let mut chunker = Chunker::new(input, chunk_len);
    // The first chunk fixes the format (detection needs only its first entry).
    let (first, format) = match (chunker.next(config), chunker.format) {
        (Ok(Some(c)), Some(format)) => (c, format),
        (Ok(Some(c)), None) => {
            let mut unapplied = BTreeMap::new();
            unapplied.insert(c.seq, c);
            return (continue_alone(state, unapplied, chunker, None), false);
        }
        (Ok(None) | Err(Irregular), _) => {
            return (continue_alone(state, BTreeMap::new(), chunker, None), false)
        }
    };
    let mut reader = config.reader.clone();
    reader.kind = Some(format.kind);
    reader.endian = Some(format.endian);
    reader.column = Some(format.column);
    reader.allow_trailing_bytes = false;
    let plan = Plan {
        format,
        reader,
        banks: &state.banks.clone(),
        violations: config.violations,
    };

    let pinned = if pin { Pinned::new() } else { None };
    let helper_cpu = pinned.as_ref().map(|p| p.helper_cpu);
    let flow = std::thread::scope(|scope| -> Flow {
        let (job_tx, job_rx) = mpsc::sync_channel::<Chunk>(QUEUE);
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let plan = &plan;
        scope.spawn(move || {
            if let Some(cpu) = helper_cpu {
                pin_to(cpu);
            }
            for mut chunk in job_rx {
                let started = Instant::now();
                let ok = plan.compute(&mut chunk);
                if done_tx.send((chunk, ok, started.elapsed())).is_err() {
                    break;
                }
            }
        });
        let mut balance = Balance::new();
        let mut pending: BTreeMap<u64, Chunk> = BTreeMap::new();
        let mut next_apply = 0u64;
        let mut outstanding = 0usize;
        let mut reading = true;
        let mut next = Some(first);
        let regular = loop {
            while let Some(c) = pending.remove(&next_apply) {
                apply(&mut state, &c);
                chunker.spare.push(c);
                next_apply += 1;
            }
            match done_rx.try_recv() {
                Ok(msg) => {
                    outstanding -= 1;
                    if !balance.receive(msg, &mut pending) {
                        break false;
                    }
                    continue;
                }
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => break false,
            }
            if (!reading && next.is_none()) || pending.len() >= MAX_PENDING {
                if outstanding == 0 {
                    // Nothing in flight: done, or a chunk is missing (the one thread decides).
                    break pending.is_empty();
                }
                if !balance.wait_for_next(&done_rx, &mut pending, &mut outstanding) {
                    break false;
                }
                continue;
            }
            let chunk = match next.take() {
                Some(c) => c,
                None => match chunker.next(config) {
                    Ok(Some(c)) => c,
                    Ok(None) => {
                        reading = false;
                        continue;
                    }
                    Err(Irregular) => break false,
                },
            };
            match job_tx.try_send(chunk) {
                Ok(()) => outstanding += 1,
                Err(mpsc::TrySendError::Full(mut chunk)) => {
                    // The helper has work queued: this thread computes the chunk itself only
                    // when that keeps it no busier than the helper (it also reads and applies
                    // every chunk); otherwise it waits for the helper's next chunk (applied at
                    // the top of the loop) and offers this one again.
                    if balance.compute_here(outstanding) {
                        let ok = plan.compute(&mut chunk);
                        if !receive((chunk, ok), &mut pending) {
                            break false;
                        }
                    } else {
                        next = Some(chunk);
                        if !balance.wait_for_next(&done_rx, &mut pending, &mut outstanding) {
                            break false;
                        }
                    }
                }
                Err(mpsc::TrySendError::Disconnected(chunk)) => {
                    pending.insert(chunk.seq, chunk);
                    break false;
                }
            }
        };
        if regular {
            return Flow::Complete;
        }
        // Take back every chunk read but not applied: the helper finishes the ones it has.
        drop(job_tx);
        while outstanding > 0 {
            let Ok((chunk, _, _)) = done_rx.recv() else {
                break;
            };
            outstanding -= 1;
            pending.insert(chunk.seq, chunk);
        }
        if let Some(c) = next {
            pending.insert(c.seq, c);
        }
        Flow::Irregular(pending)
    });
    drop(pinned);
    match flow {
        Flow::Complete => (state.finish_with(format, 0), true),
        Flow::Irregular(unapplied) => (
            continue_alone(state, unapplied, chunker, Some(format)),
            false,
        ),
    }
}

/// Continue the replay on this thread from the first entry not yet applied: over the bytes of
/// the chunks read but not applied (`unapplied`, which must be the chunks from there on), the
/// bytes the chunker holds, then the rest of the input, which is never read again from the
/// start.
fn continue_alone<R: BufRead>(
    mut state: ReplayState<'_>,
    unapplied: BTreeMap<u64, Chunk>,
    chunker: Chunker<R>,
    format: Option<ListFormat>,
) -> Result<ImaReplayReport, Error> {
    let (seq, index, offset) = unapplied
        .values()
        .next()
        .map_or((chunker.seq, chunker.index, chunker.offset), |c| {
            (c.seq, c.first_index, c.offset)
        });
    let contiguous = unapplied.keys().copied().eq(seq..chunker.seq);
    if !contiguous {
        return Err(io::Error::other("two-thread IMA replay: a chunk of the list was lost").into());
    }
    let held = unapplied.values().map(|c| c.bytes.len()).sum::<usize>() + chunker.carry.len();
    let mut bytes = Vec::with_capacity(held);
    for c in unapplied.values() {
        bytes.extend_from_slice(&c.bytes);
    }
    bytes.extend_from_slice(&chunker.carry);
    let rest = Rest {
        error: chunker.error,
        inner: chunker.input,
    };
    let mut reader = ImaReader::new(io::Cursor::new(bytes).chain(rest), state.reader_options());
    if index > 0 {
        // Entries before `index` were applied: go on as the reader that read them would.
        reader.format = format;
        reader.pos = offset;
        reader.next_index = index;
    }
    state.run(&mut reader)?;
    state.finish(&reader)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newline_count_matches_a_byte_by_byte_count() {
        let mut bytes: Vec<u8> = (0..5000u32)
            .map(|i| {
                if i % 7 == 0 || i % 61 == 3 {
                    b'\n'
                } else {
                    (i % 251) as u8
                }
            })
            .collect();
        bytes.extend_from_slice(&[b'\n'; 300]);
        for len in (0..bytes.len()).step_by(13).chain([bytes.len()]) {
            for start in [0, 1, 63, 64, 65] {
                let part = bytes.get(start..len).unwrap_or(&[]);
                let naive = part.iter().filter(|b| **b == b'\n').count() as u64;
                assert_eq!(count_newlines(part), naive, "{start}..{len}");
            }
        }
    }
}
