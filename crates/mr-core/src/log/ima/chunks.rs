//! Work on an IMA list in chunks of whole entries, on two threads, applied in list order: the
//! scheduling shared by the two-thread replay ([`super::verify`]) and the two-thread appraisal
//! (`mr-policy`'s `appraise_input`).
//!
//! [`run_two_threads`] reads the list as chunks of whole entries (about `chunk_len` bytes each,
//! streamed, so memory is bounded by the chunks in flight, never by the list; a list already in
//! memory is cut into chunks that borrow its bytes). Each chunk is
//! *computed* — its entries read by a reader positioned as the one-thread reader would be, and
//! the caller's per-entry work done into the chunk's [`Chunk::work`] — on whichever of the two
//! threads is free; the chunks are then *applied* in list order on the calling thread, where
//! the caller keeps whatever state runs from entry to entry.
//!
//! Only regular chunks are computed. At anything out of the ordinary (a chunk the caller's
//! computation refuses, an entry that does not parse, bytes after the last whole entry, a
//! chunk whose entry count disagrees with its boundary, a legacy `ima` entry in a binary list,
//! an entry larger than a chunk, a read error) the run stops and hands back a [`Remainder`]:
//! the chunks read but not applied, the bytes read since, and the rest of the input, which
//! [`Remainder::into_reader`] turns into one reader positioned at the first entry not applied.
//! The caller continues on one thread from there, so every error is the one-thread reader's
//! own, at the same entry, and the input is read once (a pipe works, and nothing can change
//! between two reads).

use std::collections::BTreeMap;
use std::io::{self, BufRead, Read};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::Error;

use super::binary::entry_span;
use super::reader::{ImaReader, ImaReaderOptions};
use super::{ListFormat, ListKind};

/// Target size of one chunk of whole entries.
pub const CHUNK_LEN: usize = 256 * 1024;

/// Smallest chunk length [`run_two_threads`] uses (smaller requests are raised to it).
pub const MIN_CHUNK_LEN: usize = 1024;

/// Chunks waiting for the helper thread.
const QUEUE: usize = 2;

/// Computed chunks waiting for their turn to be applied (bounds memory when the helper thread
/// falls behind).
const MAX_PENDING: usize = 6;

/// What [`run_two_threads`] reads: a stream, whose chunks are read into buffers of their own,
/// or a whole list in memory, whose chunks borrow its bytes (nothing is copied). Either is also
/// a reader of the list from its start.
pub enum Source<'a, R> {
    /// A reader: a file, a pipe, a socket.
    Read(R),
    /// The whole list, in memory.
    Memory(&'a [u8]),
}

impl<R: Read> Read for Source<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Read(r) => r.read(buf),
            Source::Memory(m) => m.read(buf),
        }
    }
}

impl<R: BufRead> BufRead for Source<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            Source::Read(r) => r.fill_buf(),
            Source::Memory(m) => Ok(m),
        }
    }
    fn consume(&mut self, amt: usize) {
        match self {
            Source::Read(r) => r.consume(amt),
            Source::Memory(m) => m.consume(amt),
        }
    }
}

/// A chunk's bytes: read into a buffer of its own, or borrowed from the list in memory.
enum ChunkBytes<'a> {
    Read(Vec<u8>),
    Memory(&'a [u8]),
}

impl ChunkBytes<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            ChunkBytes::Read(v) => v,
            ChunkBytes::Memory(m) => m,
        }
    }

    /// The buffer, for a later chunk to reuse (a new, empty one for borrowed bytes).
    fn into_buffer(self) -> Vec<u8> {
        match self {
            ChunkBytes::Read(v) => v,
            ChunkBytes::Memory(_) => Vec::new(),
        }
    }
}

/// A chunk of whole entries, where it sits in the list, and the caller's work on it.
pub struct Chunk<'a, W> {
    seq: u64,
    bytes: ChunkBytes<'a>,
    first_index: u64,
    offset: u64,
    /// Entries the chunk must hold (unknown for the last chunk).
    entries: Option<u64>,
    /// Reader options of the list, with the detected format forced and no trailing bytes.
    reader: ImaReaderOptions,
    /// The caller's work on the chunk: computed on either thread, read when the chunk is
    /// applied. Reused from chunk to chunk (a computation starts by resetting it).
    pub work: W,
}

impl<W> Chunk<'_, W> {
    /// 0-based index, in the list, of the chunk's first entry.
    pub fn first_index(&self) -> u64 {
        self.first_index
    }

    /// A reader over the chunk's entries, positioned as the list's reader would be there
    /// (entry indexes and byte offsets are the list's). The chunk was computed, so its entries
    /// read as they did then.
    pub fn entries(&self) -> ImaReader<&[u8]> {
        chunk_reader(
            self.bytes.as_slice(),
            self.first_index,
            self.offset,
            &self.reader,
        )
    }
}

/// The reader of a chunk's bytes (a free function, so that a computation can borrow the bytes
/// and the work separately).
fn chunk_reader<'b>(
    bytes: &'b [u8],
    first_index: u64,
    offset: u64,
    options: &ImaReaderOptions,
) -> ImaReader<&'b [u8]> {
    let mut r = ImaReader::new(bytes, options.clone());
    // The options force the format (kind, byte order, column); the reader takes it as read.
    r.format = match (options.kind, options.endian, options.column) {
        (Some(kind), Some(endian), Some(column)) => Some(ListFormat {
            kind,
            endian,
            column,
        }),
        _ => None,
    };
    r.pos = offset;
    r.next_index = first_index;
    r
}

/// Compute `chunk` with `compute`; false when the chunk is anything but a run of regular
/// entries the computation accepted (the one-thread path then decides).
fn compute_chunk<W, C>(compute: &C, chunk: &mut Chunk<'_, W>) -> bool
where
    C: Fn(&mut ImaReader<&[u8]>, &mut W) -> bool,
{
    let mut r = chunk_reader(
        chunk.bytes.as_slice(),
        chunk.first_index,
        chunk.offset,
        &chunk.reader,
    );
    if !compute(&mut r, &mut chunk.work) {
        return false;
    }
    // The computation must have read the chunk to its end, as a whole number of entries.
    let read = r.entries() - chunk.first_index;
    matches!(r.next_entry(), Ok(None))
        && r.trailing_bytes() == 0
        && chunk.entries.is_none_or(|n| n == read)
}

/// Reads a list as chunks of whole entries.
struct Chunker<'a, R, W> {
    input: Source<'a, R>,
    chunk_len: usize,
    /// The caller's reader options (format detection; the chunks' readers force the format).
    options: ImaReaderOptions,
    format: Option<ListFormat>,
    /// Bytes read but not in a chunk: the start of the next chunk, or, once the list turned out
    /// irregular, every byte read since the last chunk (always empty for a list in memory,
    /// whose chunks start where the last one ended).
    carry: Vec<u8>,
    /// The read error that ended the input, kept for the one-thread path to meet where the
    /// input had it.
    error: Option<io::Error>,
    /// Chunks already applied, whose buffers are reused.
    spare: Vec<Chunk<'a, W>>,
    /// Bytes of the input taken so far (the end of the last window).
    read_end: usize,
    seq: u64,
    index: u64,
    offset: u64,
    done: bool,
}

/// The list is irregular where the chunker stands (an entry larger than a chunk, a legacy
/// entry, an impossible length, undetectable format) or the input failed: the bytes read since
/// the last chunk are in [`Chunker::carry`].
struct Irregular;

impl<'a, R: BufRead, W: Default> Chunker<'a, R, W> {
    fn new(input: Source<'a, R>, chunk_len: usize, options: ImaReaderOptions) -> Chunker<'a, R, W> {
        Chunker {
            input,
            chunk_len,
            options,
            format: None,
            carry: Vec::new(),
            error: None,
            spare: Vec::new(),
            read_end: 0,
            seq: 0,
            index: 0,
            offset: 0,
            done: false,
        }
    }

    /// The bytes the next chunk is cut from: the tail the last chunk left and up to
    /// `chunk_len` more bytes of the input (read into `buf`, or borrowed from the list in
    /// memory), and whether the input ends with them. A list in memory is cut exactly where
    /// the same bytes read would be. On a read error, the bytes read before it.
    #[allow(clippy::type_complexity)]
    fn window(&mut self, mut buf: Vec<u8>) -> Result<(ChunkBytes<'a>, bool), (Vec<u8>, io::Error)> {
        let want = self.chunk_len;
        match self.input {
            Source::Memory(list) => {
                let start = usize::try_from(self.offset).unwrap_or(usize::MAX);
                let end = list.len().min(self.read_end.saturating_add(want));
                let got = end.saturating_sub(self.read_end);
                self.read_end = end;
                // A chunk starts where the last one ended, never past the bytes taken; were it
                // otherwise (no clamping), the list is not read as ended but handed to the
                // one-thread path with an error.
                match list.get(start..end) {
                    Some(window) => Ok((ChunkBytes::Memory(window), got < want)),
                    None => Err((Vec::new(), outside_the_list())),
                }
            }
            Source::Read(ref mut input) => {
                buf.clear();
                buf.extend_from_slice(&self.carry);
                self.carry.clear();
                match fill(input, want, &mut buf) {
                    Ok(got) => {
                        self.read_end = self.read_end.saturating_add(got);
                        Ok((ChunkBytes::Read(buf), got < want))
                    }
                    Err(e) => Err((buf, e)),
                }
            }
        }
    }

    /// The next chunk; `Ok(None)` at the end.
    fn next(&mut self) -> Result<Option<Chunk<'a, W>>, Irregular> {
        if self.done {
            return Ok(None);
        }
        let (buf, work) = match self.spare.pop() {
            Some(c) => (c.bytes.into_buffer(), c.work),
            None => (Vec::new(), W::default()),
        };
        let (mut bytes, eof) = match self.window(buf) {
            Ok(window) => window,
            Err((buf, e)) => {
                self.error = Some(e);
                return Err(self.keep(ChunkBytes::Read(buf)));
            }
        };
        let buf = bytes.as_slice();
        if buf.is_empty() {
            self.done = true;
            return Ok(None);
        }
        let format = match self.format {
            Some(f) => f,
            None => {
                let mut r = ImaReader::new(buf, self.options.clone());
                let detected = match r.next_entry() {
                    Ok(Some(_)) => r.format(),
                    _ => None,
                };
                let Some(f) = detected else {
                    return Err(self.keep(bytes));
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
                ListKind::Binary => binary_boundary(buf, format),
                ListKind::Ascii => Some(ascii_boundary(buf)),
            };
            match boundary {
                Some((cut, n)) if n > 0 => (cut, Some(n)),
                _ => return Err(self.keep(bytes)),
            }
        };
        match &mut bytes {
            ChunkBytes::Read(buf) => {
                self.carry.extend_from_slice(&buf[cut..]);
                buf.truncate(cut);
            }
            ChunkBytes::Memory(m) => *m = m.get(..cut).unwrap_or(m),
        }
        let mut reader = self.options.clone();
        reader.kind = Some(format.kind);
        reader.endian = Some(format.endian);
        reader.column = Some(format.column);
        reader.allow_trailing_bytes = false;
        let chunk = Chunk {
            seq: self.seq,
            bytes,
            first_index: self.index,
            offset: self.offset,
            entries,
            reader,
            work,
        };
        self.seq += 1;
        self.index += entries.unwrap_or(0);
        self.offset += cut as u64;
        Ok(Some(chunk))
    }

    /// Keep the bytes read since the last chunk for the one-thread path (a list in memory
    /// keeps its bytes: the rest starts where the last chunk ended).
    fn keep(&mut self, bytes: ChunkBytes<'a>) -> Irregular {
        if let ChunkBytes::Read(buf) = bytes {
            self.carry = buf;
        }
        self.done = true;
        Irregular
    }
}

/// The error of a chunk whose place is outside the list in memory (which the chunker never
/// makes: a guard, so that such a bug could never read as the list's end).
fn outside_the_list() -> io::Error {
    io::Error::other("two-thread IMA list: a chunk outside the list")
}

/// Append up to `want` bytes of `input` to `buf`; the number appended (fewer than `want` only at
/// the end of input). On an error the bytes read before it are in `buf`.
///
/// Each `read` asks for all the bytes still wanted, straight into `buf`: a `BufReader` no
/// larger than a chunk (as [`super::ImaInput::open`] makes) then reads from the file into the
/// chunk without copying through its own buffer. (`read_to_end` starts with small reads, which
/// went through that buffer and cost a copy of the whole list: 6 % of the reading thread's time
/// in `perf` of `mr ima replay` at 100k entries.)
fn fill<R: Read>(input: &mut R, want: usize, buf: &mut Vec<u8>) -> io::Result<usize> {
    let start = buf.len();
    buf.resize(start + want, 0);
    let mut got = 0;
    let result = loop {
        let Some(free) = buf.get_mut(start + got..).filter(|f| !f.is_empty()) else {
            break Ok(());
        };
        match input.read(free) {
            Ok(0) => break Ok(()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    buf.truncate(start + got);
    result.map(|()| got)
}

/// The input after the bytes the chunker read: the read error it met, if any, then the rest.
pub struct RestOfInput<'a, R> {
    error: Option<io::Error>,
    inner: Source<'a, R>,
}

impl<R: BufRead> Read for RestOfInput<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.inner.read(buf)
    }
}

impl<R: BufRead> BufRead for RestOfInput<'_, R> {
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

/// End of the last whole binary entry in `buf` and the number of entries before it; `None` for
/// a legacy `ima` entry (its length is known only by parsing it).
fn binary_boundary(buf: &[u8], format: ListFormat) -> Option<(usize, u64)> {
    let (mut at, mut n) = (0usize, 0u64);
    while let Some(rest) = buf.get(at..) {
        // An entry cut off or with impossible lengths ends the chunk; it then starts the next
        // one, whose reader (or the one-thread path) deals with it.
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
type Done<'a, W> = (Chunk<'a, W>, bool, Duration);

/// Keep a computed chunk for its turn (or, when it was irregular, for the one-thread path);
/// false when it was irregular.
fn receive<'a, W>(
    (chunk, ok): (Chunk<'a, W>, bool),
    pending: &mut BTreeMap<u64, Chunk<'a, W>>,
) -> bool {
    pending.insert(chunk.seq, chunk);
    ok
}

/// How busy each thread has been, so that the reading thread, which also reads and applies
/// every chunk, computes chunks itself only while that keeps it no busier than the helper. (An
/// even split of the computing left the reading thread with two thirds of the work and the
/// helper idle a third of the time: `perf` of `mr ima replay` at 100k entries.) The balance
/// decides only which thread computes a chunk, never what is computed or in which order chunks
/// are applied.
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
    fn wait_for_next<'a, W>(
        &mut self,
        done: &mpsc::Receiver<Done<'a, W>>,
        pending: &mut BTreeMap<u64, Chunk<'a, W>>,
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
    fn receive<'a, W>(
        &mut self,
        (chunk, ok, took): Done<'a, W>,
        pending: &mut BTreeMap<u64, Chunk<'a, W>>,
    ) -> bool {
        self.helper += took;
        self.helper_chunks = self.helper_chunks.saturating_add(1);
        receive((chunk, ok), pending)
    }
}

/// The calling thread pinned to the CPU it runs on for the two-thread loop, and another CPU it
/// may use for the helper (`pin` of [`run_two_threads`]); the calling thread's affinity is
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

/// How [`run_two_threads`] ended.
pub enum TwoThreads<'a, R, W> {
    /// Every chunk was regular, computed and applied: the whole list, of this format.
    Complete(ListFormat),
    /// A chunk, or the input, was irregular: what was not applied, for the one-thread path.
    Irregular(Remainder<'a, R, W>),
}

/// The input of [`Remainder::into_reader`]: the bytes read but not applied, then the rest of
/// the input.
pub type RemainderInput<'a, R> = io::Chain<io::Cursor<Vec<u8>>, RestOfInput<'a, R>>;

/// What [`run_two_threads`] read but did not apply, and the rest of the input.
pub struct Remainder<'a, R, W> {
    /// The chunks read but not applied, by sequence number.
    unapplied: BTreeMap<u64, Chunk<'a, W>>,
    chunker: Chunker<'a, R, W>,
}

impl<'a, R: BufRead, W> Remainder<'a, R, W> {
    /// One reader, with `options` (the caller's reader options), of the list from the first
    /// entry not applied: the bytes of the chunks read but not applied, the bytes the chunker
    /// read since, then the rest of the input (which is never read again from the start). When
    /// entries were applied, it goes on as the reader that read them would (the list's format,
    /// its entry indexes and byte offsets), so its errors are the one-thread reader's. (For a
    /// list in memory these bytes are the list from the first entry not applied, borrowed.)
    pub fn into_reader(
        self,
        options: ImaReaderOptions,
    ) -> Result<ImaReader<RemainderInput<'a, R>>, Error> {
        let format = self.chunker.format;
        let (input, index, offset) = self.into_input()?;
        let mut reader = ImaReader::new(input, options);
        if index > 0 {
            // Entries before `index` were applied: go on as the reader that read them would.
            reader.format = format;
            reader.pos = offset;
            reader.next_index = index;
        }
        Ok(reader)
    }

    /// The bytes from the first entry not applied to the end of the input (with the read
    /// error the chunker met, where it met it), and that entry's index and byte offset.
    fn into_input(self) -> Result<(RemainderInput<'a, R>, u64, u64), Error> {
        let Remainder { unapplied, chunker } = self;
        let (seq, index, offset) = unapplied
            .values()
            .next()
            .map_or((chunker.seq, chunker.index, chunker.offset), |c| {
                (c.seq, c.first_index, c.offset)
            });
        let contiguous = unapplied.keys().copied().eq(seq..chunker.seq);
        if !contiguous {
            return Err(
                io::Error::other("two-thread IMA list: a chunk of the list was lost").into(),
            );
        }
        let (bytes, inner) = match chunker.input {
            Source::Memory(list) => {
                let from = usize::try_from(offset).unwrap_or(usize::MAX);
                let rest = list.get(from..).ok_or_else(outside_the_list)?;
                (Vec::new(), Source::Memory(rest))
            }
            Source::Read(input) => {
                let held = unapplied
                    .values()
                    .map(|c| c.bytes.as_slice().len())
                    .sum::<usize>()
                    + chunker.carry.len();
                let mut bytes = Vec::with_capacity(held);
                for c in unapplied.values() {
                    bytes.extend_from_slice(c.bytes.as_slice());
                }
                bytes.extend_from_slice(&chunker.carry);
                (bytes, Source::Read(input))
            }
        };
        let rest = RestOfInput {
            error: chunker.error,
            inner,
        };
        Ok((io::Cursor::new(bytes).chain(rest), index, offset))
    }
}

/// Read `input` in chunks of whole entries of about `chunk_len` bytes (at least
/// [`MIN_CHUNK_LEN`]), `compute` each chunk on either of two threads (the calling thread and
/// one helper), and `apply` the computed chunks on the calling thread in list order (see the
/// module documentation). `options` are the caller's reader options (the format is detected
/// from the first chunk). `apply` gets each computed chunk in list order (it may take from the
/// chunk's work; the next computation resets it). `compute` gets a reader positioned at the chunk's first entry and the
/// chunk's [`Chunk::work`] to reset and fill; it returns false to refuse the chunk (the run then
/// stops there and the chunk is the first of the [`Remainder`]); it must read the chunk's
/// entries to their end for the chunk to count as regular. With `pin`, the two threads are
/// pinned to two CPUs while they run (the calling thread's affinity is restored; see
/// `ImaOptions::pin_threads`). A list in memory ([`Source::Memory`]) is cut into chunks that
/// borrow its bytes, where the same bytes read would be cut.
///
/// Memory: at most a few chunks (their bytes and work) in flight, whatever the list's length.
pub fn run_two_threads<'a, R, W, C, A>(
    input: Source<'a, R>,
    options: ImaReaderOptions,
    chunk_len: usize,
    pin: bool,
    compute: C,
    mut apply: A,
) -> TwoThreads<'a, R, W>
where
    R: BufRead,
    W: Default + Send,
    C: Fn(&mut ImaReader<&[u8]>, &mut W) -> bool + Sync,
    A: FnMut(&mut Chunk<'a, W>),
{
    let mut chunker = Chunker::new(input, chunk_len.max(MIN_CHUNK_LEN), options);
    // The first chunk fixes the format (detection needs only its first entry).
    let (first, format) = match (chunker.next(), chunker.format) {
        (Ok(Some(c)), Some(format)) => (c, format),
        (Ok(Some(c)), None) => {
            let mut unapplied = BTreeMap::new();
            unapplied.insert(c.seq, c);
            return TwoThreads::Irregular(Remainder { unapplied, chunker });
        }
        (Ok(None) | Err(Irregular), _) => {
            return TwoThreads::Irregular(Remainder {
                unapplied: BTreeMap::new(),
                chunker,
            })
        }
    };

    let pinned = if pin { Pinned::new() } else { None };
    let helper_cpu = pinned.as_ref().map(|p| p.helper_cpu);
    let unapplied = std::thread::scope(|scope| -> Option<BTreeMap<u64, Chunk<'a, W>>> {
        let (job_tx, job_rx) = mpsc::sync_channel::<Chunk<'a, W>>(QUEUE);
        let (done_tx, done_rx) = mpsc::channel::<Done<'a, W>>();
        let compute = &compute;
        scope.spawn(move || {
            if let Some(cpu) = helper_cpu {
                pin_to(cpu);
            }
            for mut chunk in job_rx {
                let started = Instant::now();
                let ok = compute_chunk(compute, &mut chunk);
                if done_tx.send((chunk, ok, started.elapsed())).is_err() {
                    break;
                }
            }
        });
        let mut balance = Balance::new();
        let mut pending: BTreeMap<u64, Chunk<'a, W>> = BTreeMap::new();
        let mut next_apply = 0u64;
        let mut outstanding = 0usize;
        let mut reading = true;
        let mut next = Some(first);
        let regular = loop {
            while let Some(mut c) = pending.remove(&next_apply) {
                apply(&mut c);
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
                None => match chunker.next() {
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
                        let ok = compute_chunk(compute, &mut chunk);
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
            return None;
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
        Some(pending)
    });
    drop(pinned);
    match unapplied {
        None => TwoThreads::Complete(format),
        Some(unapplied) => TwoThreads::Irregular(Remainder { unapplied, chunker }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// An ASCII `ima-ng` list of `n` entries (the reader parses it; digests are not checked
    /// here).
    fn ascii_list(n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..n {
            let line = format!(
                "10 {:040x} ima-ng sha256:{:064x} /usr/lib/f{i}{}\n",
                i,
                i * 7,
                "x".repeat(i % 97)
            );
            out.extend_from_slice(line.as_bytes());
        }
        out
    }

    /// Reads at most 333 bytes per call, and fails with `fail` once `fail_at` bytes are read.
    struct Short<'a> {
        bytes: &'a [u8],
        at: usize,
        fail_at: Option<usize>,
    }

    impl Read for Short<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.fail_at.is_some_and(|f| self.at >= f) {
                return Err(io::Error::other("disk on fire"));
            }
            let end = self.bytes.len().min(self.at + 333);
            let end = self.fail_at.map_or(end, |f| end.min(f.max(self.at)));
            let n = (end - self.at).min(buf.len());
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// Every chunk the chunker makes (bytes, first index, offset, entries), then how it ended
    /// (irregular: every byte of the remainder, up to the read error, and that error); and
    /// whether every chunk borrowed its bytes.
    fn chunks_of<R: BufRead>(input: Source<'_, R>, chunk_len: usize) -> (Vec<String>, bool) {
        let mut c: Chunker<_, ()> = Chunker::new(input, chunk_len, ImaReaderOptions::default());
        let mut out = Vec::new();
        let mut borrowed = true;
        loop {
            match c.next() {
                Ok(Some(chunk)) => {
                    borrowed &= matches!(chunk.bytes, ChunkBytes::Memory(_));
                    out.push(format!(
                        "{:?} {} {} {:?}",
                        chunk.bytes.as_slice(),
                        chunk.first_index,
                        chunk.offset,
                        chunk.entries
                    ));
                }
                Ok(None) => {
                    out.push("end".into());
                    break;
                }
                Err(Irregular) => {
                    let remainder = Remainder {
                        unapplied: BTreeMap::new(),
                        chunker: c,
                    };
                    let (mut rest, index, offset) = remainder.into_input().unwrap();
                    let mut bytes = Vec::new();
                    let error = rest.read_to_end(&mut bytes).err().map(|e| e.to_string());
                    out.push(format!("irregular {index} {offset} {bytes:?} {error:?}"));
                    break;
                }
            }
        }
        (out, borrowed)
    }

    /// A list in memory is cut into the chunks the same bytes read are cut into, each borrowing
    /// the list's bytes, and leaves the same remainder where the list turns irregular (an entry
    /// larger than a chunk); read through short reads and up to a read error, the chunks are
    /// the same again.
    #[test]
    fn chunks_of_a_list_in_memory_equal_chunks_read() {
        let regular = ascii_list(400);
        let mut irregular = ascii_list(150);
        irregular.extend_from_slice(
            format!(
                "10 {:040x} ima-ng sha256:{:064x} /{}\n",
                1,
                2,
                "y".repeat(20_000)
            )
            .as_bytes(),
        );
        irregular.extend_from_slice(&ascii_list(50));
        for list in [&regular, &irregular] {
            for chunk_len in [1024, 1500, 4096, 10_000, 1 << 20] {
                let (read, copied) = chunks_of(Source::Read(&list[..]), chunk_len);
                assert!(!copied);
                assert!(read.len() > 1);
                let irregular_end = read.last().unwrap().starts_with("irregular");
                assert_eq!(
                    irregular_end,
                    list == &irregular && chunk_len < 20_000,
                    "{chunk_len}"
                );
                let (in_memory, borrowed) = chunks_of(Source::<&[u8]>::Memory(list), chunk_len);
                assert!(borrowed);
                assert_eq!(in_memory, read, "{chunk_len}");
                let short = |fail_at| {
                    io::BufReader::with_capacity(
                        700,
                        Short {
                            bytes: list,
                            at: 0,
                            fail_at,
                        },
                    )
                };
                assert_eq!(chunks_of(Source::Read(short(None)), chunk_len).0, read);
                for fail_at in [0, 100, 5000, 20_000] {
                    let (failing, _) = chunks_of(Source::Read(short(Some(fail_at))), chunk_len);
                    let end = failing.last().unwrap();
                    assert!(end.contains("disk on fire"), "{end}");
                }
            }
        }
    }

    /// Were the chunker's place ever past the list in memory, the list would not read as ended:
    /// the chunker stops with an error, and so does the remainder's reader.
    #[test]
    fn a_place_outside_a_list_in_memory_is_an_error_not_the_end() {
        let list = ascii_list(50);
        let mut c: Chunker<&[u8], ()> =
            Chunker::new(Source::Memory(&list), 1024, ImaReaderOptions::default());
        assert!(matches!(c.next(), Ok(Some(_))));
        // Past the end, with every byte taken: clamped to the list's end, this read as its end.
        c.offset = list.len() as u64 + 1;
        c.read_end = list.len();
        assert!(matches!(c.next(), Err(Irregular)));
        assert!(c
            .error
            .as_ref()
            .unwrap()
            .to_string()
            .contains("outside the list"));
        let remainder = Remainder {
            unapplied: BTreeMap::new(),
            chunker: c,
        };
        assert!(remainder
            .into_input()
            .err()
            .unwrap()
            .to_string()
            .contains("outside the list"));
    }

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
