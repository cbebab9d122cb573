//! Virtual measurement registers (docs/formats.md#journal): a register such as `mr_ima` whose every extend is
//! logged as a record in a journal and extended, as the hash of that record line, into a real
//! backing register (a TDX RTMR or a TPM PCR).
//!
//! Depends only on `mr-core`'s [`MeasurementRegister`]
//! trait, never on a backend crate.
//!
//! * [`record`]: the line format (`mr_ima extend sha384/<hex>`, `SYNC sha384/<hex>`, `#` comments)
//!   and its strict parser.
//! * [`journal`]: the append-only journal file, its exclusive lock, and a record iterator.
//! * [`VirtualRegister`]: the attester side. `extend` appends and `fsync`s the record, then
//!   extends the backing register with `H(line)`, all under the journal lock
//!   ([`VirtualRegister::extend_batch`] appends up to [`MAX_BATCH`] records with one `fsync`
//!   before extending them); `open` (and every later operation, since other processes may write
//!   too) reconciles the journal with the backing register.
//! * [`verify`]: the verifier side. [`verify::derive`] replays a journal against a verified
//!   backing register and yields [`VerifiedRegisters`](mr_core::VerifiedRegisters) for every
//!   virtual register in it.
//! * [`agent`]: the guest agent that follows the IMA measurement list into `mr_ima`.
//!
//! What this crate trusts: on the attester side, its own journal file and backing register (a
//! mismatch between them is an error, never papered over); on the verifier side nothing in the
//! journal: only what replays to the verified backing value is used.
//!
//! ```
//! use mr_core::{
//!     ExpectedRegisters, HashAlg, MeasurementRegister, MrId, Provenance, SoftRegister,
//!     VerifiedRegisters,
//! };
//! use mr_virtual::{derive, DeriveOptions, VirtualRegister, MR_IMA};
//!
//! // Attester: mr_ima over RTMR3 (here a register in memory), logged in a journal.
//! let dir = tempfile::tempdir()?;
//! let journal = dir.path().join("mr_ima.journal");
//! let mr_ima = VirtualRegister::open(
//!     MR_IMA,
//!     SoftRegister::new(MrId::Rtmr(3), HashAlg::Sha384),
//!     &journal,
//! )?;
//! mr_ima.extend(&HashAlg::Sha384.hash(b"first measurement"))?;
//! mr_ima.extend(&HashAlg::Sha384.hash(b"second measurement"))?;
//!
//! // Verifier: RTMR3 as a verified TD quote gives it, and the journal.
//! // (Here made by hand; a verifier gets them from `mr_rtmr`'s TD quote verification.)
//! let mut rtmr3 = ExpectedRegisters::new();
//! rtmr3.insert(MrId::Rtmr(3), mr_ima.backing().read()?)?;
//! let quoted =
//!     VerifiedRegisters::from_verified_root(Provenance::TdQuote { root: "example".into() }, rtmr3);
//! let derived = derive(
//!     std::fs::read(&journal)?.as_slice(),
//!     &MrId::Rtmr(3),
//!     &quoted,
//!     &DeriveOptions::default(),
//! )?;
//! assert_eq!(derived.covered, 2);
//! assert_eq!(derived.get(MR_IMA, HashAlg::Sha384), Some(mr_ima.read()?));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

pub mod agent;
pub mod error;
pub mod journal;
mod pipeline;
pub mod record;
pub mod verify;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use mr_core::{Digest, HashAlg, MeasurementRegister, MrId};

// The API, curated: the attester's register and agent, the verifier's derivation, the record
// format and the one error type. The modules hold the details (the journal lock, the record
// parser's bounds, the error structs).
pub use agent::{AgentProgress, ImaAgent};
pub use error::Error;
pub use journal::Journal;
pub use record::{Record, RecordError};
pub use verify::{derive, derive_and_use, DeriveOptions, Derived, DerivedRegister, TrustedStart};

use journal::{JournalLock, LineReader};
use record::RecordRef;

/// The name of the virtual register that the IMA agent extends.
pub const MR_IMA: &str = "mr_ima";

/// Most records appended (with one `fsync`) before their extends: so the journal is never more
/// than this many records ahead of the backing register, and reconciliation looks no further
/// back.
pub const MAX_BATCH: usize = 256;

/// What [`VirtualRegister::open`] found and did to bring journal and backing register together.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reconciliation {
    /// The backing register holds exactly what the journal replays to.
    Clean,
    /// The last record had been appended but not extended (a crash between the two): it was
    /// extended now.
    RedidLastExtend {
        /// The line of that record.
        line: u64,
    },
    /// The journal ended in an incomplete line (a crash while appending, before any extend):
    /// the line was cut off.
    TruncatedTornLine {
        /// The line number of the incomplete line.
        line: u64,
        /// Its bytes (without a `\n`, which it never had).
        bytes: u64,
    },
    /// A crash in the middle of a batch: its last `records` records (from line `first_line`)
    /// had been appended but not extended; they were extended now, and an incomplete last
    /// line, if any, was cut off.
    RedidLastExtends {
        /// The line of the first record extended again.
        first_line: u64,
        /// Records extended again.
        records: u64,
        /// The incomplete last line that was cut off (line number, bytes), if any.
        torn: Option<(u64, u64)>,
    },
}

/// One of the last records: what the backing register held before it, and its line digest.
#[derive(Clone, Copy, Debug)]
struct Recent {
    line: u64,
    before: Digest,
    digest: Digest,
}

/// What the attester knows of its journal up to `offset` (all complete lines before it).
#[derive(Clone, Debug)]
struct State {
    /// Bytes of complete lines replayed.
    offset: u64,
    /// Lines replayed (including blank and comment lines).
    lines: u64,
    /// Records replayed.
    records: u64,
    /// The backing value after every record.
    running: Digest,
    /// The last [`MAX_BATCH`] records, oldest first.
    recent: VecDeque<Recent>,
    /// This virtual register's value.
    value: Digest,
    /// Extend records of this virtual register.
    extends: u64,
}

impl State {
    fn new(start: Digest) -> State {
        State {
            offset: 0,
            lines: 0,
            records: 0,
            running: start,
            recent: VecDeque::with_capacity(MAX_BATCH),
            value: Digest::zero(start.alg()),
            extends: 0,
        }
    }
}

/// A torn (incomplete) last line found while catching up.
#[derive(Clone, Copy, Debug)]
struct Torn {
    line: u64,
    bytes: u64,
}

/// A virtual register over a backing register `B`, logged in a journal file.
#[derive(Debug)]
pub struct VirtualRegister<B: MeasurementRegister> {
    name: String,
    backing: B,
    journal: Journal,
    state: Mutex<State>,
    reconciliation: Reconciliation,
}

impl<B: MeasurementRegister> VirtualRegister<B> {
    /// Open the virtual register `name` over `backing`, logged in `journal` (created if
    /// missing), and reconcile the two under the journal lock:
    ///
    /// * backing value = replay(journal): [`Reconciliation::Clean`];
    /// * backing value = replay(journal without its last record): the last extend is redone
    ///   ([`Reconciliation::RedidLastExtend`]); without its last `j` records, `j` ≤
    ///   [`MAX_BATCH`] (a crash inside [`VirtualRegister::extend_batch`]): those `j` extends are
    ///   redone ([`Reconciliation::RedidLastExtends`]);
    /// * an incomplete last line (never extended: appends are extended only once whole and
    ///   `fsync`ed) is cut off ([`Reconciliation::TruncatedTornLine`]);
    /// * the register at its reset value with a journal that has records: [`Error::StaleJournal`]
    ///   (a journal of an earlier boot must not be replayed into this boot's register);
    /// * anything else is [`Error::Reconcile`] with both values, and nothing is changed.
    ///
    /// The backing register starts from its reset value ([`MrId::reset_value`]); a journal
    /// whose first record is SYNC (a rotated journal) cannot be resumed by the attester.
    pub fn open(name: &str, backing: B, journal: impl AsRef<Path>) -> Result<Self, Error> {
        if !record::is_valid_name(name) {
            return Err(Error::InvalidName(name.chars().take(80).collect()));
        }
        let journal = Journal::open(journal)?;
        let alg = backing.alg();
        let start = backing.id().reset_value(alg);
        let mut reg = VirtualRegister {
            name: name.to_owned(),
            backing,
            journal,
            state: Mutex::new(State::new(start)),
            reconciliation: Reconciliation::Clean,
        };
        let reconciliation = {
            let mut st = reg.lock_state();
            let lock = reg.journal.lock()?;
            reg.catch_up(&mut st, &lock)?
        };
        reg.reconciliation = reconciliation;
        Ok(reg)
    }

    /// What opening the register found (see [`VirtualRegister::open`]).
    pub fn reconciliation(&self) -> &Reconciliation {
        &self.reconciliation
    }

    /// Extend records of this register in the journal, as of the last operation (`open`,
    /// `read`, `extend`, [`VirtualRegister::refresh`]).
    pub fn extend_count(&self) -> u64 {
        self.lock_state().extends
    }

    /// Records (of every name) in the journal, as of the last operation.
    pub fn record_count(&self) -> u64 {
        self.lock_state().records
    }

    /// The backing register.
    pub fn backing(&self) -> &B {
        &self.backing
    }

    /// The journal.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The register's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Catch up with records other processes appended (reconciling as `open` does) and return
    /// this register's value.
    pub fn refresh(&self) -> Result<Digest, Error> {
        let mut st = self.lock_state();
        let lock = self.journal.lock()?;
        self.catch_up(&mut st, &lock)?;
        Ok(st.value)
    }

    /// Extend with `digest`, but only if the journal holds exactly `expected_count` extend
    /// records of this register (compare-and-extend: two writers of one register, such as two
    /// IMA agents, cannot both extend the same position). Returns the new count.
    pub fn extend_expecting(&self, expected_count: u64, digest: &Digest) -> Result<u64, Error> {
        self.extend_inner(Some(expected_count), std::slice::from_ref(digest))
    }

    /// Append and extend (see [`MeasurementRegister::extend`]); returns the new extend count.
    pub fn extend_logged(&self, digest: &Digest) -> Result<u64, Error> {
        self.extend_inner(None, std::slice::from_ref(digest))
    }

    /// Extend with each of `digests` in order, under one lock: append all records with one
    /// `fsync`, then extend the backing register with each. When `expected_count` is given,
    /// the journal must hold exactly that many extend records of this register first. At most
    /// [`MAX_BATCH`] digests. Returns the new extend count.
    pub fn extend_batch(
        &self,
        expected_count: Option<u64>,
        digests: &[Digest],
    ) -> Result<u64, Error> {
        if digests.len() > MAX_BATCH {
            return Err(Error::Journal {
                line: 0,
                reason: format!(
                    "a batch of {} extends is more than the limit of {MAX_BATCH}",
                    digests.len()
                ),
            });
        }
        self.extend_inner(expected_count, digests)
    }

    /// Append a `SYNC <alg>/<value>` record with the backing register's current value and
    /// extend it, like any record: a checkpoint that lets the journal's head before this line
    /// be rotated away later (a verifier then needs a [`TrustedStart`] at this value). Returns
    /// the value recorded.
    pub fn write_sync(&self) -> Result<Digest, Error> {
        let mut st = self.lock_state();
        let lock = self.journal.lock()?;
        self.catch_up(&mut st, &lock)?;
        let value = st.running;
        let line = Record::Sync { value }.to_string();
        self.append_and_extend(&mut st, &lock, &[(line, RecordRef::Sync { value })])?;
        Ok(value)
    }

    fn extend_inner(&self, expected_count: Option<u64>, digests: &[Digest]) -> Result<u64, Error> {
        let alg = self.backing.alg();
        if let Some(d) = digests.iter().find(|d| d.alg() != alg) {
            return Err(Error::WrongAlgorithm {
                register: self.id(),
                expected: alg,
                got: d.alg(),
            });
        }
        let mut st = self.lock_state();
        let lock = self.journal.lock()?;
        self.catch_up(&mut st, &lock)?;
        if let Some(expected) = expected_count {
            if st.extends != expected {
                return Err(Error::ConcurrentWriter {
                    register: self.id(),
                    expected,
                    found: st.extends,
                });
            }
        }
        let records: Vec<(String, RecordRef<'_>)> = digests
            .iter()
            .map(|digest| {
                let line = Record::Extend {
                    name: self.name.clone(),
                    digest: *digest,
                }
                .to_string();
                let record = RecordRef::Extend {
                    name: &self.name,
                    digest: *digest,
                };
                (line, record)
            })
            .collect();
        self.append_and_extend(&mut st, &lock, &records)?;
        drop(lock);
        Ok(st.extends)
    }

    /// Under the lock, after catching up: append the lines (each the text of its record) with
    /// one `fsync`, fold them into the state, then extend the backing register with each.
    fn append_and_extend(
        &self,
        st: &mut State,
        lock: &JournalLock<'_>,
        records: &[(String, RecordRef<'_>)],
    ) -> Result<(), Error> {
        if records.is_empty() {
            return Ok(());
        }
        let alg = self.backing.alg();
        lock.append_lines(records.iter().map(|(line, _)| line.as_str()))?;
        let mut digests = Vec::with_capacity(records.len());
        for (line, record) in records {
            let line_digest = alg.hash(line.as_bytes());
            let number = st.lines + 1;
            self.apply(st, number, line.len() as u64 + 1, *record, line_digest)?;
            digests.push(line_digest);
        }
        // A failure here leaves the journal ahead by the records not yet extended: the next
        // operation (in this process or after a restart) finds the backing register at a value
        // of the journal minus those records and extends them.
        for d in &digests {
            self.backing.extend(d)?;
        }
        Ok(())
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                // A panic in the middle of an update: forget the cache, replay from the start.
                let mut g = poisoned.into_inner();
                *g = State::new(self.backing.id().reset_value(self.backing.alg()));
                self.state.clear_poison();
                g
            }
        }
    }

    /// Fold one record into the state (the line is complete and already parsed).
    fn apply(
        &self,
        st: &mut State,
        line: u64,
        consumed: u64,
        record: RecordRef<'_>,
        line_digest: Digest,
    ) -> Result<(), Error> {
        let alg = self.backing.alg();
        match record {
            RecordRef::Extend { name, digest } if name == self.name => {
                if digest.alg() != alg {
                    return Err(Error::Journal {
                        line,
                        reason: format!(
                            "{name} is recorded with a {} digest, but the backing register {} is {alg}",
                            digest.alg(),
                            self.backing.id()
                        ),
                    });
                }
                st.value = st.value.extended(digest.as_bytes());
                st.extends += 1;
            }
            RecordRef::Extend { .. } => {}
            RecordRef::Sync { value } => {
                if st.records == 0 && value != st.running {
                    return Err(Error::Journal {
                        line,
                        reason: "the journal starts with SYNC (its head was rotated away): the attester cannot resume it".into(),
                    });
                }
                if value != st.running {
                    return Err(Error::SyncMismatch(Box::new(crate::error::SyncMismatch {
                        line,
                        recorded: value,
                        replayed: st.running,
                    })));
                }
            }
        }
        if st.recent.len() == MAX_BATCH {
            st.recent.pop_front();
        }
        st.recent.push_back(Recent {
            line,
            before: st.running,
            digest: line_digest,
        });
        st.running = st.running.extended(line_digest.as_bytes());
        st.records += 1;
        st.lines = line;
        st.offset += consumed;
        Ok(())
    }

    /// Under the lock: read the lines appended since `st.offset`, then reconcile with the
    /// backing register.
    fn catch_up(&self, st: &mut State, lock: &JournalLock<'_>) -> Result<Reconciliation, Error> {
        let alg = self.backing.alg();
        let len = lock.len()?;
        if len < st.offset {
            return Err(Error::Journal {
                line: st.lines,
                reason: format!(
                    "the journal shrank from {} to {len} bytes while open",
                    st.offset
                ),
            });
        }
        let mut torn = None;
        if len > st.offset {
            let mut lines = LineReader::new(lock.read_range(st.offset, len)?, st.lines);
            while let Some(line) = lines.next_line()? {
                if !line.complete {
                    torn = Some(Torn {
                        line: line.number,
                        bytes: line.consumed,
                    });
                    break;
                }
                match line.parse()? {
                    Some(record) => {
                        let d = alg.hash(line.bytes);
                        self.apply(st, line.number, line.consumed, record, d)?;
                    }
                    None => {
                        st.lines = line.number;
                        st.offset += line.consumed;
                    }
                }
            }
        }
        self.reconcile(st, lock, torn)
    }

    fn reconcile(
        &self,
        st: &mut State,
        lock: &JournalLock<'_>,
        torn: Option<Torn>,
    ) -> Result<Reconciliation, Error> {
        let actual = self.backing.read()?;
        let mismatch = |st: &State, actual: Digest| {
            Error::Reconcile(Box::new(crate::error::Reconcile {
                register: self.backing.id(),
                expected: st.running,
                previous: st.recent.back().map(|r| r.before),
                actual,
                records: st.records,
            }))
        };
        // How many of the last records the register has not seen: 0 when it holds the
        // journal's value, j when it holds the value before the last j records.
        let behind = if actual == st.running {
            0
        } else {
            match st.recent.iter().rev().position(|r| r.before == actual) {
                Some(p) => p + 1,
                None => return Err(mismatch(st, actual)),
            }
        };
        // The register at its reset value under a journal none of whose records it has seen:
        // most likely a journal kept from an earlier boot (replaying it into this boot's
        // register would be wrong); a crash before the journal's first extend looks the same,
        // and starting a new journal is right then too.
        if behind > 0 && behind as u64 == st.records {
            return Err(Error::StaleJournal {
                register: self.backing.id(),
                records: st.records,
            });
        }
        // An incomplete last line was never extended (records are extended only after the
        // whole append is written and fsynced): cut it off before anything else.
        if torn.is_some() {
            lock.truncate(st.offset)?;
        }
        let first = st.recent.len() - behind;
        let redo: Vec<Recent> = st.recent.iter().skip(first).copied().collect();
        for r in &redo {
            self.backing.extend(&r.digest)?;
        }
        if !redo.is_empty() {
            let now = self.backing.read()?;
            if now != st.running {
                return Err(mismatch(st, now));
            }
        }
        Ok(match (redo.as_slice(), torn) {
            ([], None) => Reconciliation::Clean,
            ([], Some(t)) => Reconciliation::TruncatedTornLine {
                line: t.line,
                bytes: t.bytes,
            },
            ([r], None) => Reconciliation::RedidLastExtend { line: r.line },
            ([r, ..], torn) => Reconciliation::RedidLastExtends {
                first_line: r.line,
                records: redo.len() as u64,
                torn: torn.map(|t| (t.line, t.bytes)),
            },
        })
    }
}

impl<B: MeasurementRegister> MeasurementRegister for VirtualRegister<B> {
    fn id(&self) -> MrId {
        MrId::Virtual(self.name.clone())
    }

    fn alg(&self) -> HashAlg {
        self.backing.alg()
    }

    /// The value folded from this register's records in the journal (from zero), after
    /// catching up with records other processes appended.
    fn read(&self) -> Result<Digest, mr_core::Error> {
        self.refresh().map_err(|e| e.into_core(self.id()))
    }

    /// Under the journal lock: append `<name> extend <alg>/<hex>` and `fsync`, then extend the
    /// backing register with the hash of that line.
    fn extend(&self, digest: &Digest) -> Result<(), mr_core::Error> {
        self.extend_logged(digest)
            .map(|_| ())
            .map_err(|e| e.into_core(self.id()))
    }
}
