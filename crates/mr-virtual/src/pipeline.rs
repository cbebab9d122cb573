//! The journal lines of [`crate::verify::derive`], parsed and hashed on a second thread while the
//! calling thread folds them in order.
//!
//! The calling thread reads the journal once, in batches of whole lines (at most
//! [`BATCH_LINES`] lines and about [`BATCH_BYTES`] bytes each, so memory does not grow with the
//! journal). A helper thread parses each line of a batch and hashes each record line in the
//! backing register's bank (the expensive, independent part: the hex digest and two SHA-384
//! blocks per `mr_ima` record). The calling thread gets the batches back in journal order and
//! hands every line to the fold (the extends into the backing and the virtual registers, the
//! SYNC checks), so the fold sees exactly what a one-thread loop would: the same lines, in the
//! same order, and the first error — a read error, a line too long, a malformed record, or one
//! the fold refuses — by line number, with nothing after it folded.
//!
//! A journal that fits in one batch is handled on the calling thread alone (no thread is
//! started for a few lines).

use std::io::BufRead;
use std::sync::mpsc;

use mr_core::{Digest, HashAlg};

use crate::error::Error;
use crate::journal::LineReader;
use crate::record::{parse_bytes, RecordError, RecordRef};

/// Most lines in one batch (batches are large so that the two threads hand over few of them: on
/// a loaded machine every hand-over may wait for a time slice).
pub(crate) const BATCH_LINES: usize = 4096;

/// A batch is closed once it holds this many bytes (lines are never split, so a batch holds at
/// most this plus one line of [`MAX_LINE_LEN`](crate::record::MAX_LINE_LEN) bytes).
pub(crate) const BATCH_BYTES: usize = 512 * 1024;

/// Batches read and not yet folded (handed to the helper thread or waiting for the fold).
const IN_FLIGHT: usize = 3;

/// One line handed to the fold.
#[derive(Debug)]
pub(crate) enum Prepared<'a> {
    /// A blank or comment line: not a record, not extended.
    NotARecord,
    /// The last line, without its `\n` (a write in progress or torn): never a record. It is the
    /// last line handed to the fold.
    Incomplete,
    /// A record and the digest of its line in the backing bank the helper chose (the fold
    /// checks it is the bank it replays).
    Record {
        /// The parsed record.
        record: RecordRef<'a>,
        /// `H(line)` in the bank [`for_each_line`]'s `bank_for` chose.
        line_digest: Digest,
    },
}

/// A line as the helper thread left it.
#[derive(Debug)]
enum Entry {
    NotARecord,
    Incomplete,
    Invalid(RecordError),
    /// An extend record; its name is the line's first `name_len` bytes.
    Extend {
        name_len: usize,
        digest: Digest,
        line_digest: Digest,
    },
    Sync {
        value: Digest,
        line_digest: Digest,
    },
    /// Not looked at: a line after an invalid one (the fold stops there).
    Skipped,
}

/// Whole lines of the journal, in order, and what reading them ended with.
#[derive(Debug, Default)]
struct Batch {
    /// The lines' bytes, without their `\n`, one after the other.
    buf: Vec<u8>,
    /// Per line: number, end offset in `buf` (the start is the previous line's end), complete.
    lines: Vec<(u64, usize, bool)>,
    /// Filled by [`prepare`]: one entry per line.
    entries: Vec<Entry>,
    /// The error reading stopped at, after these lines (a read error, a line too long).
    error: Option<Error>,
    /// Nothing follows this batch.
    last: bool,
}

impl Batch {
    fn line(&self, i: usize) -> &[u8] {
        let start = i
            .checked_sub(1)
            .and_then(|p| self.lines.get(p))
            .map_or(0, |l| l.1);
        let end = self.lines.get(i).map_or(start, |l| l.1);
        self.buf.get(start..end).unwrap_or(&[])
    }
}

/// Read the next batch.
fn read_batch<R: BufRead>(lines: &mut LineReader<R>) -> Batch {
    let mut batch = Batch::default();
    while batch.lines.len() < BATCH_LINES && batch.buf.len() < BATCH_BYTES {
        match lines.next_line() {
            Ok(Some(line)) => {
                batch.buf.extend_from_slice(line.bytes);
                batch
                    .lines
                    .push((line.number, batch.buf.len(), line.complete));
                if !line.complete {
                    batch.last = true;
                    return batch;
                }
            }
            Ok(None) => {
                batch.last = true;
                return batch;
            }
            Err(e) => {
                batch.error = Some(e);
                batch.last = true;
                return batch;
            }
        }
    }
    batch
}

/// Parse every line of `batch` and hash every record line in the backing bank (`bank`, chosen
/// by `bank_for` from the journal's first record when it is still `None`).
fn prepare(batch: &mut Batch, bank: &mut Option<HashAlg>, bank_for: &impl Fn(HashAlg) -> HashAlg) {
    let mut entries = Vec::with_capacity(batch.lines.len());
    let mut invalid = false;
    for (i, &(_, _, complete)) in batch.lines.iter().enumerate() {
        if invalid {
            entries.push(Entry::Skipped);
            continue;
        }
        if !complete {
            entries.push(Entry::Incomplete);
            continue;
        }
        let bytes = batch.line(i);
        let entry = match parse_bytes(bytes) {
            Ok(None) => Entry::NotARecord,
            Err(reason) => {
                invalid = true;
                Entry::Invalid(reason)
            }
            Ok(Some(record)) => {
                let alg = match record {
                    RecordRef::Extend { digest, .. } => digest.alg(),
                    RecordRef::Sync { value } => value.alg(),
                };
                let bank = *bank.get_or_insert_with(|| bank_for(alg));
                let line_digest = bank.hash(bytes);
                match record {
                    RecordRef::Extend { name, digest } => Entry::Extend {
                        name_len: name.len(),
                        digest,
                        line_digest,
                    },
                    RecordRef::Sync { value } => Entry::Sync { value, line_digest },
                }
            }
        };
        entries.push(entry);
    }
    batch.entries = entries;
}

/// Hand every line of a prepared batch to `fold`, in order; then the batch's read error.
fn fold_batch<F>(mut batch: Batch, fold: &mut F) -> Result<(), Error>
where
    F: FnMut(u64, &[u8], Prepared<'_>) -> Result<(), Error>,
{
    for (i, (&(number, _, _), entry)) in batch.lines.iter().zip(&batch.entries).enumerate() {
        let bytes = batch.line(i);
        let prepared = match entry {
            Entry::NotARecord => Prepared::NotARecord,
            Entry::Incomplete => Prepared::Incomplete,
            Entry::Invalid(reason) => {
                return Err(Error::Record {
                    line: number,
                    reason: reason.clone(),
                })
            }
            Entry::Extend {
                name_len,
                digest,
                line_digest,
            } => {
                // The helper parsed this name as UTF-8 from these very bytes.
                let name = bytes
                    .get(..*name_len)
                    .and_then(|n| std::str::from_utf8(n).ok())
                    .ok_or(Error::Record {
                        line: number,
                        reason: RecordError::NotUtf8,
                    })?;
                Prepared::Record {
                    record: RecordRef::Extend {
                        name,
                        digest: *digest,
                    },
                    line_digest: *line_digest,
                }
            }
            Entry::Sync { value, line_digest } => Prepared::Record {
                record: RecordRef::Sync { value: *value },
                line_digest: *line_digest,
            },
            Entry::Skipped => {
                return Err(internal(
                    number,
                    "a line after an invalid one was not parsed",
                ))
            }
        };
        fold(number, bytes, prepared)?;
    }
    match batch.error.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn internal(line: u64, what: &str) -> Error {
    Error::Journal {
        line,
        reason: format!("internal: {what}"),
    }
}

/// Read `journal` once and hand each line to `fold` in order, with its record parsed and its
/// line hashed in the bank `bank_for` picks from the first record's algorithm (see the module
/// documentation). Returns the number of lines read, or the first
/// error by line number.
pub(crate) fn for_each_line<R, B, F>(journal: R, bank_for: B, mut fold: F) -> Result<u64, Error>
where
    R: BufRead,
    B: Fn(HashAlg) -> HashAlg + Sync,
    F: FnMut(u64, &[u8], Prepared<'_>) -> Result<(), Error>,
{
    let mut lines = LineReader::new(journal, 0);
    let mut first = read_batch(&mut lines);
    let two_threads =
        !first.last && std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
    if !two_threads {
        // One thread: prepare and fold batch after batch.
        let mut bank = None;
        loop {
            prepare(&mut first, &mut bank, &bank_for);
            let last = first.last;
            fold_batch(first, &mut fold)?;
            if last {
                return Ok(lines.lines());
            }
            first = read_batch(&mut lines);
        }
    }
    std::thread::scope(|scope| {
        let (job_tx, job_rx) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
        let (done_tx, done_rx) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
        let bank_for = &bank_for;
        let helper = scope.spawn(move || {
            let mut bank = None;
            for mut batch in job_rx {
                prepare(&mut batch, &mut bank, bank_for);
                if done_tx.send(batch).is_err() {
                    break;
                }
            }
        });
        let stopped = || internal(0, "the hashing thread stopped");
        let result = (|| {
            // Batches sent and not yet folded: at most IN_FLIGHT, so neither queue ever blocks
            // a sender, and memory stays bounded.
            let mut in_flight = 0usize;
            let mut next = Some(first);
            loop {
                while in_flight < IN_FLIGHT {
                    let Some(batch) = next.take() else { break };
                    if !batch.last {
                        // Read ahead while the helper works.
                        next = Some(read_batch(&mut lines));
                    }
                    job_tx.send(batch).map_err(|_| stopped())?;
                    in_flight += 1;
                }
                if in_flight == 0 {
                    return Ok(lines.lines());
                }
                let batch = done_rx.recv().map_err(|_| stopped())?;
                in_flight -= 1;
                fold_batch(batch, &mut fold)?;
            }
        })();
        // Stop the helper: its queue closes, and the fold's side is gone.
        drop(job_tx);
        drop(done_rx);
        match helper.join() {
            Ok(()) => result,
            Err(_) => Err(internal(0, "the hashing thread panicked")),
        }
    })
}
