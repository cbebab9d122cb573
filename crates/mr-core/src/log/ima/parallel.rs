//! IMA replay on two threads, chunk by chunk, with exactly the result of [`replay()`].
//!
//! A list is cut into chunks of whole entries (about [`CHUNK_LEN`] bytes each, streamed, so
//! memory does not grow with the list). The expensive, independent part of each entry (parsing,
//! the template digest in every bank, the header-digest check) is computed for whole chunks on
//! whichever thread is free; the extends, which form one chain per register and bank, are then
//! applied in list order on the calling thread through the same [`Replayer`] as [`replay()`].
//!
//! Only the success path runs in parallel. Anything out of the ordinary (a parse error, a header
//! digest that disagrees, a violation under [`ViolationPolicy::Reject`], a legacy `ima`
//! entry, bytes after the last whole entry, a replay that does not verify, another digest mode)
//! makes the list be replayed once more by [`replay()`] on one thread, so every error and every
//! report is [`replay()`]'s own.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Read};
use std::sync::mpsc;

use crate::alg::{Digest, HashAlg};
use crate::error::Error;
use crate::register::{MrId, VerifiedRegisters};
use crate::replay::Replayer;

use super::binary::entry_span;
use super::reader::{ImaReader, ImaReaderOptions};
use super::replay::{
    bank_digests, is_boot_aggregate, replay, replayed_banks, BootAggregate, BootAggregateTally,
    DigestMode, ImaReplayConfig, ImaReplayReport, ViolationPolicy,
};
use super::{ListFormat, ListKind};

/// Target size of one chunk of whole entries.
pub const CHUNK_LEN: usize = 256 * 1024;

/// Chunks waiting for the helper thread.
const QUEUE: usize = 2;

/// Computed chunks waiting for their turn to be applied (bounds memory when the helper thread
/// falls behind).
const MAX_PENDING: usize = 6;

/// [`replay()`] on two threads for lists that can be read twice (`open` is called once, and once
/// more when the list must be replayed on one thread; see the module documentation). The result,
/// report or error, is always equal to [`replay()`]'s; on a machine with one core, or for
/// [`DigestMode`]s other than [`DigestMode::PerBank`], this is [`replay()`].
///
/// ```
/// use mr_core::log::ima::{self, builder::ImaListBuilder, ImaReplayConfig};
/// use mr_core::HashAlg;
/// let mut b = ImaListBuilder::binary();
/// for i in 0..1000 {
///     b.ima_ng(10, &HashAlg::Sha256.hash(&[i as u8]), &format!("/bin/f{i}"));
/// }
/// let list = b.finish();
/// let cfg = ImaReplayConfig::default();
/// let two = ima::replay_parallel(|| Ok::<_, std::io::Error>(&list[..]), &cfg, None)?;
/// assert_eq!(two, ima::replay(&list[..], &cfg, None)?);
/// # Ok::<(), mr_core::Error>(())
/// ```
pub fn replay_parallel<R, F>(
    open: F,
    config: &ImaReplayConfig,
    expected: Option<&VerifiedRegisters>,
) -> Result<ImaReplayReport, Error>
where
    R: BufRead,
    F: Fn() -> io::Result<R>,
{
    replay_parallel_chunked(open, config, expected, CHUNK_LEN).0
}

/// [`replay_parallel`] with chunks of about `chunk_len` bytes (at least 1 KiB), for tests that
/// need many chunks from a short list; also says whether the two-thread path gave the result
/// (false: [`replay()`] on one thread did).
#[doc(hidden)]
pub fn replay_parallel_chunked<R, F>(
    open: F,
    config: &ImaReplayConfig,
    expected: Option<&VerifiedRegisters>,
    chunk_len: usize,
) -> (Result<ImaReplayReport, Error>, bool)
where
    R: BufRead,
    F: Fn() -> io::Result<R>,
{
    let sequential = || replay(open()?, config, expected);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 || config.digest_mode != DigestMode::PerBank {
        return (sequential(), false);
    }
    let input = match open() {
        Ok(i) => i,
        Err(e) => return (Err(e.into()), false),
    };
    match try_parallel(input, config, expected, chunk_len.max(1024)) {
        Ok(Some(report)) => (Ok(report), true),
        // Irregular input, an I/O error or a replay that does not verify: one thread decides.
        Ok(None) | Err(_) => (sequential(), false),
    }
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
    /// One item per `boot_aggregate` entry (`None` when its digest does not decode).
    boot_aggregates: Vec<Option<BootAggregate>>,
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
        out.boot_aggregates.clear();
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
            out.pcrs.push(e.pcr());
            if is_boot_aggregate(e) {
                out.boot_aggregates.push(e.boot_aggregate());
            }
            out.entries += 1;
        }
        if r.trailing_bytes() != 0 || chunk.entries.is_some_and(|n| n != out.entries) {
            return None;
        }
        Some(())
    }
}

/// The in-order half: extends into the replayer and the report's counters.
struct Applier<'a> {
    replayer: Replayer,
    target: Option<&'a MrId>,
    banks: &'a [HashAlg],
    violations: u64,
    aggregates: BootAggregateTally,
}

impl Applier<'_> {
    fn apply(&mut self, c: &Computed) {
        let nb = self.banks.len();
        for (i, pcr) in c.pcrs.iter().enumerate() {
            let pcr_reg;
            let reg = match self.target {
                Some(t) => t,
                None => {
                    pcr_reg = MrId::Pcr(*pcr);
                    &pcr_reg
                }
            };
            for d in c.digests.get(i * nb..(i + 1) * nb).unwrap_or(&[]) {
                self.replayer.extend(reg, d);
            }
            self.replayer.end_entry();
        }
        self.violations += c.violations;
        for ba in &c.boot_aggregates {
            self.aggregates.note(*ba);
        }
    }
}

/// Reads a list as chunks of whole entries.
struct Chunker<R> {
    input: R,
    chunk_len: usize,
    format: Option<ListFormat>,
    carry: Vec<u8>,
    /// Chunks already applied, whose buffers are reused.
    spare: Vec<Chunk>,
    seq: u64,
    index: u64,
    offset: u64,
    done: bool,
}

impl<R: BufRead> Chunker<R> {
    /// Up to `chunk_len` more bytes after the carried-over tail; true at the end of input.
    fn fill(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        buf.clear();
        buf.extend_from_slice(&self.carry);
        self.carry.clear();
        let want = self.chunk_len as u64;
        // `read_to_end` reads into spare capacity without zeroing it first.
        let got = (&mut self.input).take(want).read_to_end(buf)?;
        Ok((got as u64) < want)
    }

    /// The next chunk; `Ok(None)` at the end, `Err(None)` when the list is irregular (an entry
    /// larger than a chunk, a legacy entry, an impossible length, undetectable format).
    fn next(&mut self, config: &ImaReplayConfig) -> Result<Option<Chunk>, Option<io::Error>> {
        if self.done {
            return Ok(None);
        }
        let (mut buf, out) = match self.spare.pop() {
            Some(c) => (c.bytes, c.out),
            None => (Vec::new(), Computed::default()),
        };
        let eof = self.fill(&mut buf).map_err(Some)?;
        if buf.is_empty() {
            self.done = true;
            return Ok(None);
        }
        let format = match self.format {
            Some(f) => f,
            None => {
                let mut r = ImaReader::new(&buf[..], config.reader.clone());
                match r.next_entry() {
                    Ok(Some(_)) => {}
                    _ => return Err(None),
                }
                let f = r.format().ok_or(None)?;
                self.format = Some(f);
                f
            }
        };
        let (cut, entries) = if eof {
            self.done = true;
            (buf.len(), None)
        } else {
            let (cut, n) = match format.kind {
                ListKind::Binary => binary_boundary(&buf, format).ok_or(None)?,
                ListKind::Ascii => ascii_boundary(&buf),
            };
            if n == 0 {
                return Err(None);
            }
            (cut, Some(n))
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
}

/// Keep a computed chunk for its turn; false when the chunk was irregular.
fn receive((chunk, ok): (Chunk, bool), pending: &mut BTreeMap<u64, Chunk>) -> bool {
    if ok {
        pending.insert(chunk.seq, chunk);
    }
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

/// The two-thread replay; `Ok(None)` when the one-thread replay must decide.
fn try_parallel<R: BufRead>(
    input: R,
    config: &ImaReplayConfig,
    expected: Option<&VerifiedRegisters>,
    chunk_len: usize,
) -> io::Result<Option<ImaReplayReport>> {
    let banks = replayed_banks(config, expected);
    let mut chunker = Chunker {
        input,
        chunk_len,
        format: None,
        carry: Vec::new(),
        spare: Vec::new(),
        seq: 0,
        index: 0,
        offset: 0,
        done: false,
    };
    // The first chunk fixes the format (detection needs only its first entry).
    let first = match chunker.next(config) {
        Ok(Some(c)) => c,
        Ok(None) | Err(None) => return Ok(None),
        Err(Some(e)) => return Err(e),
    };
    let Some(format) = chunker.format else {
        return Ok(None);
    };
    let mut reader = config.reader.clone();
    reader.kind = Some(format.kind);
    reader.endian = Some(format.endian);
    reader.column = Some(format.column);
    reader.allow_trailing_bytes = false;
    let plan = Plan {
        format,
        reader,
        banks: &banks,
        violations: config.violations,
    };
    let mut applier = Applier {
        replayer: match expected {
            Some(v) => Replayer::verifying(v, config.replay.clone()),
            None => Replayer::new(config.replay.clone()),
        },
        target: config.target.as_ref(),
        banks: &banks,
        violations: 0,
        aggregates: BootAggregateTally::default(),
    };

    let complete = std::thread::scope(|scope| -> io::Result<bool> {
        let (job_tx, job_rx) = mpsc::sync_channel::<Chunk>(QUEUE);
        let (done_tx, done_rx) = mpsc::channel::<(Chunk, bool)>();
        let plan = &plan;
        scope.spawn(move || {
            for mut chunk in job_rx {
                let ok = plan.compute(&mut chunk);
                if done_tx.send((chunk, ok)).is_err() {
                    break;
                }
            }
        });
        let mut pending: BTreeMap<u64, Chunk> = BTreeMap::new();
        let mut next_apply = 0u64;
        let mut outstanding = 0usize;
        let mut reading = true;
        let mut next = Some(first);
        loop {
            while let Some(c) = pending.remove(&next_apply) {
                applier.apply(&c.out);
                chunker.spare.push(c);
                next_apply += 1;
            }
            match done_rx.try_recv() {
                Ok(msg) => {
                    outstanding -= 1;
                    if !receive(msg, &mut pending) {
                        return Ok(false);
                    }
                    continue;
                }
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => return Ok(false),
            }
            if (!reading && next.is_none()) || pending.len() >= MAX_PENDING {
                if outstanding == 0 {
                    if pending.is_empty() {
                        break;
                    }
                    // Nothing in flight and nothing applicable: a chunk went missing.
                    return Ok(false);
                }
                match done_rx.recv() {
                    Ok(msg) => {
                        outstanding -= 1;
                        if !receive(msg, &mut pending) {
                            return Ok(false);
                        }
                    }
                    Err(_) => return Ok(false),
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
                    Err(None) => return Ok(false),
                    Err(Some(e)) => return Err(e),
                },
            };
            match job_tx.try_send(chunk) {
                Ok(()) => outstanding += 1,
                Err(mpsc::TrySendError::Full(mut chunk)) => {
                    let ok = plan.compute(&mut chunk);
                    if !receive((chunk, ok), &mut pending) {
                        return Ok(false);
                    }
                }
                Err(mpsc::TrySendError::Disconnected(_)) => return Ok(false),
            }
        }
        Ok(true)
    })?;
    if !complete {
        return Ok(None);
    }
    let Applier {
        replayer,
        violations,
        aggregates,
        ..
    } = applier;
    let Ok(outcome) = replayer.finish() else {
        return Ok(None);
    };
    if aggregates.check_no_tpm(config, expected.is_some()).is_err() {
        return Ok(None);
    }
    Ok(Some(ImaReplayReport {
        entries: outcome.entries,
        outcome,
        violations,
        boot_aggregates: aggregates.reported,
        boot_aggregate_count: aggregates.count,
        digest_mode: DigestMode::PerBank,
        format,
        trailing_bytes: 0,
        banks,
    }))
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
