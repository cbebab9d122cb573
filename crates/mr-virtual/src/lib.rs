//! Virtual measurement registers (DESIGN §5): a register such as `mr_ima` whose every extend is
//! logged as a record in a journal and extended, as the hash of that record line, into a real
//! backing register (a TDX RTMR or a TPM PCR).
//!
//! Depends only on `mr-core`'s [`MeasurementRegister`](mr_core::register::MeasurementRegister)
//! trait, never on a backend crate.
//!
//! * [`record`]: the line format (`mr_ima extend sha384/<hex>`, `SYNC sha384/<hex>`, `#` comments)
//!   and its strict parser.
//! * [`journal`]: the append-only journal file, its exclusive lock, and a record iterator.
//! * [`VirtualRegister`]: the attester side. `extend` appends and `fsync`s the record, then
//!   extends the backing register with `H(line)`, all under the journal lock; `open` (and every
//!   later operation, since other processes may write too) reconciles the journal with the
//!   backing register.
//! * [`verify`]: the verifier side. [`verify::derive`] replays a journal against a verified
//!   backing register and yields [`VerifiedRegisters`](mr_core::VerifiedRegisters) for every
//!   virtual register in it.
//! * [`agent`]: the guest agent that follows the IMA measurement list into `mr_ima`.
//!
//! What this crate trusts: on the attester side, its own journal file and backing register (a
//! mismatch between them is an error, never papered over); on the verifier side nothing in the
//! journal: only what replays to the verified backing value is used.

#![forbid(unsafe_code)]

pub mod agent;
pub mod error;
pub mod journal;
pub mod record;
pub mod verify;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use mr_core::{Digest, HashAlg, MeasurementRegister, MrId};

pub use agent::{AgentProgress, ImaAgent};
pub use error::Error;
pub use journal::{Journal, JournalLock};
pub use record::{Record, RecordError};
pub use verify::{derive, DeriveOptions, Derived, DerivedRegister, TrustedStart};

use journal::LineReader;
use record::RecordRef;

/// The name of the virtual register that the IMA agent extends.
pub const MR_IMA: &str = "mr_ima";

/// What [`VirtualRegister::open`] found and did to bring journal and backing register together.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// The backing value before the last record.
    previous: Digest,
    /// The last record's line and digest.
    last: Option<(u64, Digest)>,
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
            previous: start,
            last: None,
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
    ///   ([`Reconciliation::RedidLastExtend`]);
    /// * an incomplete last line (never extended) is cut off
    ///   ([`Reconciliation::TruncatedTornLine`]);
    /// * anything else is [`Error::Reconcile`] with both values.
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
        self.extend_inner(Some(expected_count), digest)
    }

    /// Append and extend (see [`MeasurementRegister::extend`]); returns the new extend count.
    pub fn extend_logged(&self, digest: &Digest) -> Result<u64, Error> {
        self.extend_inner(None, digest)
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
        self.append_and_extend(&mut st, &lock, &line, RecordRef::Sync { value })?;
        Ok(value)
    }

    /// Under the lock, after catching up: append `line` (the text of `record`), fold it into the
    /// state, then extend the backing register.
    fn append_and_extend(
        &self,
        st: &mut State,
        lock: &JournalLock<'_>,
        line: &str,
        record: RecordRef<'_>,
    ) -> Result<(), Error> {
        let bytes = lock.append_line(line)?;
        let line_digest = self.backing.alg().hash(line.as_bytes());
        let number = st.lines + 1;
        self.apply(st, number, bytes, record, line_digest)?;
        // A failure here leaves the journal one record ahead: the next operation (in this
        // process or after a restart) finds backing = replay(journal minus last) and redoes it.
        self.backing.extend(&line_digest)?;
        Ok(())
    }

    fn extend_inner(&self, expected_count: Option<u64>, digest: &Digest) -> Result<u64, Error> {
        let alg = self.backing.alg();
        if digest.alg() != alg {
            return Err(Error::WrongAlgorithm {
                register: self.id(),
                expected: alg,
                got: digest.alg(),
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
        let line = Record::Extend {
            name: self.name.clone(),
            digest: *digest,
        }
        .to_string();
        let record = RecordRef::Extend {
            name: &self.name,
            digest: *digest,
        };
        self.append_and_extend(&mut st, &lock, &line, record)?;
        drop(lock);
        Ok(st.extends)
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
                if st.records == 0 {
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
        st.previous = st.running;
        st.running = st.running.extended(line_digest.as_bytes());
        st.last = Some((line, line_digest));
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
        let mismatch = |actual: Digest| {
            Error::Reconcile(Box::new(crate::error::Reconcile {
                register: self.backing.id(),
                expected: st.running,
                previous: st.last.map(|_| st.previous),
                actual,
                records: st.records,
            }))
        };
        if actual == st.running {
            return match torn {
                None => Ok(Reconciliation::Clean),
                Some(t) => {
                    lock.truncate(st.offset)?;
                    Ok(Reconciliation::TruncatedTornLine {
                        line: t.line,
                        bytes: t.bytes,
                    })
                }
            };
        }
        match st.last {
            // A torn line is appended only after the record before it was extended (a writer
            // reconciles before it appends), so both at once are not a crash of this protocol.
            Some((line, digest)) if actual == st.previous && torn.is_none() => {
                self.backing.extend(&digest)?;
                let now = self.backing.read()?;
                if now != st.running {
                    return Err(mismatch(now));
                }
                Ok(Reconciliation::RedidLastExtend { line })
            }
            _ => Err(mismatch(actual)),
        }
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
