//! The guest agent: follows the IMA measurement list into a virtual register (`mr_ima`).
//!
//! For each list entry the agent computes the template digest in the register's bank (SHA-384
//! over an RTMR; a violation extends all-0xFF of the bank size, as IMA does) and extends the
//! virtual register once. It resumes after a restart without skipping or repeating an entry:
//! the number of the register's extend records in the journal is the number of entries already
//! done, and the agent checks that the list's first entries are exactly the recorded ones (a
//! list that does not continue the journal, e.g. a new boot with an old journal, is an error)
//! before it extends the rest.
//!
//! New entries are extended in batches of up to [`MAX_BATCH`]: their records are appended with
//! one `fsync`, then the backing register is extended with each.
//!
//! Within one process, repeated [`ImaAgent::sync`] calls skip the bytes already processed
//! (after re-reading the last processed entry and checking its digest), so following a growing
//! list costs one pass over the new entries.

use std::io::{self, BufReader, Read};

use mr_core::log::ima::{ImaEntry, ImaReader, ImaReaderOptions, ListFormat};
use mr_core::{Digest, HashAlg, MeasurementRegister, MrId};

use crate::error::Error;
use crate::record::Record;
use crate::{VirtualRegister, MAX_BATCH};

/// The register an agent's virtual register is journalled over, named `rtmrN` (0-3), or
/// `pcr:N` or `pcrN` (0-23); any case. Anything else is [`Error::InvalidBacking`].
pub fn parse_backing(text: &str) -> Result<MrId, Error> {
    let t = text.to_ascii_lowercase();
    match t.replacen("pcr:", "pcr", 1).parse() {
        Ok(MrId::Pcr(n)) if n <= 23 && t.starts_with("pcr") => Ok(MrId::Pcr(n)),
        Ok(MrId::Rtmr(n)) => Ok(MrId::Rtmr(n)),
        _ => Err(Error::InvalidBacking(text.to_owned())),
    }
}

/// What one [`ImaAgent::sync`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentProgress {
    /// Entries extended by this call.
    pub new_entries: u64,
    /// Entries of the list now recorded in the journal.
    pub total_entries: u64,
    /// Bytes of an incomplete final entry left for the next call (a list being written).
    pub trailing_bytes: u64,
}

/// Where the last sync ended in the list (for skipping on the next call).
#[derive(Clone, Copy, Debug)]
struct ListPosition {
    format: ListFormat,
    /// Byte offset of the last processed entry.
    last_offset: u64,
    /// Its digest in the register's bank.
    last_digest: Digest,
    /// Entries processed (the last one's index + 1).
    entries: u64,
}

/// The IMA agent over a virtual register (see the module documentation).
#[derive(Debug)]
pub struct ImaAgent<B: MeasurementRegister> {
    reg: VirtualRegister<B>,
    position: Option<ListPosition>,
}

/// The value IMA extends for `entry` in bank `alg` (per-bank template digest; all-0xFF for a
/// violation), after checking the entry's recorded template digest against its data.
pub fn entry_digest(entry: &ImaEntry, alg: HashAlg) -> Result<Digest, Error> {
    if entry.is_violation() {
        return Ok(Digest::ones(alg));
    }
    let digest = entry.template_digest(alg);
    let checked = if entry.header_digest().alg() == alg {
        entry.check_header(&digest)
    } else {
        entry.verify_header()
    };
    checked.map_err(|m| Error::Core(mr_core::Error::from(*m)))?;
    Ok(digest)
}

impl<B: MeasurementRegister> ImaAgent<B> {
    /// An agent extending `reg` (normally the virtual register [`crate::MR_IMA`]).
    pub fn new(reg: VirtualRegister<B>) -> Self {
        ImaAgent {
            reg,
            position: None,
        }
    }

    /// The virtual register.
    pub fn register(&self) -> &VirtualRegister<B> {
        &self.reg
    }

    /// Give back the virtual register.
    pub fn into_register(self) -> VirtualRegister<B> {
        self.reg
    }

    /// Read the IMA list (binary or ASCII, from its start) and extend the register with every
    /// entry not yet recorded; check that the recorded ones are the list's first entries.
    pub fn sync(&mut self, list: impl Read) -> Result<AgentProgress, Error> {
        self.reg.refresh()?;
        let done = self.reg.extend_count();
        let input = BufReader::with_capacity(1 << 16, list);
        match self.position {
            Some(pos) if pos.entries == done && done > 0 => self.sync_from(input, pos),
            _ => self.sync_full(input, done),
        }
    }

    fn reader_options() -> ImaReaderOptions {
        // A list being written may end in a partial entry: leave it for the next call.
        ImaReaderOptions::default().with_trailing_bytes_allowed(true)
    }

    /// Extend the pending entries (one journal append and `fsync` for the batch), and move the
    /// list position past them.
    fn flush(&mut self, pending: &mut Pending) -> Result<(), Error> {
        if pending.digests.is_empty() {
            return Ok(());
        }
        let n = pending.digests.len() as u64;
        self.reg
            .extend_batch(Some(pending.first), &pending.digests)?;
        if let (Some(format), Some(last_digest)) = (pending.format, pending.digests.last()) {
            self.position = Some(ListPosition {
                format,
                last_offset: pending.last_offset,
                last_digest: *last_digest,
                entries: pending.first + n,
            });
        }
        pending.first += n;
        pending.digests.clear();
        Ok(())
    }

    /// Queue `digest` of the entry at `offset`; flush a full batch.
    fn push(
        &mut self,
        pending: &mut Pending,
        format: Option<ListFormat>,
        offset: u64,
        digest: Digest,
    ) -> Result<(), Error> {
        pending.format = format;
        pending.last_offset = offset;
        pending.digests.push(digest);
        if pending.digests.len() >= MAX_BATCH {
            self.flush(pending)?;
        }
        Ok(())
    }

    /// From the list's start: compare the first `done` entries with the journal, extend the rest.
    fn sync_full(
        &mut self,
        input: BufReader<impl Read>,
        done: u64,
    ) -> Result<AgentProgress, Error> {
        let alg = self.reg.alg();
        let mut recorded = self.reg.journal().records()?;
        let name = self.reg.name().to_owned();
        let mut reader = ImaReader::new(input, Self::reader_options());
        let mut index = 0u64;
        let mut pending = Pending::new(done);
        loop {
            let entry = match reader.next_entry() {
                Ok(Some(e)) => e,
                Ok(None) => break,
                // An empty list is a list of no entries (IMA not yet started, or a new file).
                Err(mr_core::Error::Parse(p))
                    if index == 0 && p.kind == mr_core::error::ParseErrorKind::Empty =>
                {
                    break
                }
                Err(e) => {
                    self.flush(&mut pending)?;
                    return Err(e.into());
                }
            };
            let digest = match entry_digest(entry, alg) {
                Ok(d) => d,
                Err(e) => {
                    self.flush(&mut pending)?;
                    return Err(e);
                }
            };
            let offset = entry.offset();
            let format = reader.format();
            if index < done {
                let (line, want) = next_extend_of(&mut recorded, &name)?;
                if want != digest {
                    return Err(Error::ListDiverges(Box::new(crate::error::ListDiverges {
                        entry: index,
                        line,
                        recorded: want,
                        computed: digest,
                    })));
                }
                if let Some(format) = format {
                    self.position = Some(ListPosition {
                        format,
                        last_offset: offset,
                        last_digest: digest,
                        entries: index + 1,
                    });
                }
            } else {
                self.push(&mut pending, format, offset, digest)?;
            }
            index += 1;
        }
        self.flush(&mut pending)?;
        if index < done {
            return Err(Error::ListShorter {
                entries: index,
                recorded: done,
            });
        }
        Ok(AgentProgress {
            new_entries: index.saturating_sub(done),
            total_entries: index,
            trailing_bytes: reader.trailing_bytes(),
        })
    }

    /// Skip to the last processed entry, check it, and extend what follows.
    fn sync_from(
        &mut self,
        mut input: BufReader<impl Read>,
        pos: ListPosition,
    ) -> Result<AgentProgress, Error> {
        // Whatever happens, the next call re-checks from the start unless this one goes on.
        self.position = None;
        let alg = self.reg.alg();
        let last = pos.entries - 1;
        let changed = |reason: String| Error::ListChanged {
            entry: last,
            offset: pos.last_offset,
            reason,
        };
        let skipped = io::copy(&mut (&mut input).take(pos.last_offset), &mut io::sink())
            .map_err(Error::io("reading the IMA list"))?;
        if skipped < pos.last_offset {
            return Err(changed(format!("the list now has only {skipped} bytes")));
        }
        let opts = Self::reader_options()
            .with_kind(pos.format.kind)
            .with_endian(pos.format.endian)
            .with_column(pos.format.column);
        let mut reader = ImaReader::new(input, opts);
        match reader.next_entry() {
            Ok(Some(e)) => {
                let digest = entry_digest(e, alg).map_err(|e| changed(e.to_string()))?;
                if digest != pos.last_digest {
                    return Err(changed(format!(
                        "its template digest is {digest}, the journal recorded {}",
                        pos.last_digest
                    )));
                }
            }
            Ok(None) => return Err(changed("the list ends before it".into())),
            Err(e) => return Err(changed(e.to_string())),
        }
        self.position = Some(pos);
        let mut pending = Pending::new(pos.entries);
        loop {
            let step = match reader.next_entry() {
                Ok(Some(entry)) => {
                    entry_digest(entry, alg).map(|d| Some((pos.last_offset + entry.offset(), d)))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(e.into()),
            };
            match step {
                Ok(Some((offset, digest))) => {
                    self.push(&mut pending, Some(pos.format), offset, digest)?
                }
                Ok(None) => break,
                Err(e) => {
                    self.flush(&mut pending)?;
                    return Err(e);
                }
            }
        }
        self.flush(&mut pending)?;
        Ok(AgentProgress {
            new_entries: pending.first - pos.entries,
            total_entries: pending.first,
            trailing_bytes: reader.trailing_bytes(),
        })
    }
}

/// Entries read but not yet extended.
struct Pending {
    format: Option<ListFormat>,
    digests: Vec<Digest>,
    /// Index of the first pending entry (= the register's extend count before them).
    first: u64,
    /// Byte offset of the last pending entry.
    last_offset: u64,
}

impl Pending {
    fn new(first: u64) -> Pending {
        Pending {
            format: None,
            digests: Vec::with_capacity(MAX_BATCH),
            first,
            last_offset: 0,
        }
    }
}

/// The next extend record of `name` in the journal.
fn next_extend_of(
    records: &mut impl Iterator<Item = Result<(u64, Record), Error>>,
    name: &str,
) -> Result<(u64, Digest), Error> {
    for r in records.by_ref() {
        if let (line, Record::Extend { name: n, digest }) = r? {
            if n == name {
                return Ok((line, digest));
            }
        }
    }
    Err(Error::Journal {
        line: 0,
        reason: format!("the journal has fewer extend records of {name} than counted"),
    })
}
