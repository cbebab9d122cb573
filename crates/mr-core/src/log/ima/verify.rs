//! Verify a list from boot: the one entry point ([`verify`]), its input ([`ImaInput`]) and its
//! options ([`ImaOptions`], which checkpoints and shards share).
//!
//! The list is read exactly once, whatever it is (a file, a pipe, stdin, bytes): the input is
//! taken by value, and every analysis of the list (the replay, the kexec findings, the
//! never-extended search) is made during that one pass, from the entries the replay applies. On
//! two threads, a fallback to one thread replays the bytes already read, never the source
//! again (docs/threat-model.md, "every input is read once").

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use crate::error::Error;
use crate::register::ExpectedRegisters;
use crate::trust::Reference;

use super::chunks::{Source, CHUNK_LEN};
use super::parallel::replay_parallel_values;
use super::replay::{replay_values, ImaReplayConfig, ImaReplayReport};

/// Read-ahead of a list opened from a path: one chunk of the two-thread replay, so that a chunk
/// is read with one `read` call (a 100k-entry list, 11.5 MB: about 45 calls instead of 176).
const FILE_BUFFER: usize = CHUNK_LEN;

/// An IMA measurement list to verify, read once: a file, any reader (stdin, a pipe, a socket)
/// or bytes in memory. [`verify`] (and the other verifications) take it by value, so it cannot
/// be read twice.
pub struct ImaInput<'a> {
    source: InputSource<'a>,
    /// Length in bytes, when the input is a regular file or bytes (decides whether two threads
    /// are worth starting).
    len: Option<u64>,
}

/// Where an [`ImaInput`]'s bytes come from.
enum InputSource<'a> {
    /// A file or a stream, read as the pass goes.
    Reader(Box<dyn BufRead + 'a>),
    /// The whole list in memory: a two-thread pass cuts it into chunks that borrow its bytes.
    Memory(Cow<'a, [u8]>),
}

impl std::fmt::Debug for ImaInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImaInput")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl<'a> ImaInput<'a> {
    /// Open the list at `path` (a regular file, or a FIFO, a character device, `/dev/stdin`:
    /// all are read once, as a stream).
    pub fn open(path: &Path) -> Result<ImaInput<'static>, Error> {
        let named = |e: io::Error| {
            Error::Io(io::Error::new(
                e.kind(),
                format!("cannot open {}: {e}", path.display()),
            ))
        };
        let file = File::open(path).map_err(named)?;
        let len = file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        Ok(ImaInput {
            source: InputSource::Reader(Box::new(BufReader::with_capacity(FILE_BUFFER, file))),
            len,
        })
    }

    /// A list read from `reader` (stdin, a pipe, a socket), streamed: never held in memory.
    pub fn from_reader(reader: impl BufRead + 'a) -> ImaInput<'a> {
        ImaInput {
            source: InputSource::Reader(Box::new(reader)),
            len: None,
        }
    }

    /// A list in memory.
    pub fn from_bytes(bytes: &'a [u8]) -> ImaInput<'a> {
        ImaInput {
            source: InputSource::Memory(Cow::Borrowed(bytes)),
            len: Some(bytes.len() as u64),
        }
    }

    /// A list in memory, owned.
    pub fn from_vec(bytes: Vec<u8>) -> ImaInput<'static> {
        let len = Some(bytes.len() as u64);
        ImaInput {
            source: InputSource::Memory(Cow::Owned(bytes)),
            len,
        }
    }

    /// The input's length in bytes, when it is a regular file or bytes in memory (`None` for
    /// a stream); a caller that may use two threads decides from it whether they are worth
    /// starting.
    pub fn byte_len(&self) -> Option<u64> {
        self.len
    }

    /// Run `pass` (a two-thread pass, [`super::chunks::run_two_threads`]) over this input as a
    /// chunk source: a list in memory ([`ImaInput::from_bytes`], [`ImaInput::from_vec`]) as
    /// [`Source::Memory`], whose chunks borrow its bytes; a file or stream as [`Source::Read`].
    pub fn with_source<T>(self, pass: impl FnOnce(Source<'_, Box<dyn BufRead + 'a>>) -> T) -> T {
        match self.source {
            InputSource::Memory(bytes) => pass(Source::Memory(&bytes)),
            InputSource::Reader(reader) => pass(Source::Read(reader)),
        }
    }

    /// Whether a pass over this input asks for two threads, given a `threads` setting (0:
    /// choose — two for inputs of unknown length and for lists of at least two chunks; 1: one;
    /// 2 or more: two). The caller still needs a machine with two cores.
    pub fn wants_two_threads(&self, threads: usize) -> bool {
        match threads {
            0 => self.len.is_none_or(|l| l >= 2 * CHUNK_LEN as u64),
            1 => false,
            _ => true,
        }
    }

    /// The reader, for the one pass over the list, and the input's length when known.
    pub(crate) fn into_parts(self) -> (Box<dyn BufRead + 'a>, Option<u64>) {
        let len = self.len;
        (self.into_reader(), len)
    }

    /// The reader, for a caller that passes the bytes through on their way to the one
    /// verification (an appraiser reading a copy of what the replay consumes); the input is
    /// consumed, so it is still read once.
    pub fn into_reader(self) -> Box<dyn BufRead + 'a> {
        match self.source {
            InputSource::Reader(reader) => reader,
            InputSource::Memory(bytes) => Box::new(io::Cursor::new(bytes)),
        }
    }
}

/// Options of every IMA verification ([`verify`], [`super::resume`], [`super::shards`],
/// [`super::snapshot`]): the replay configuration, the threads, the never-extended search and
/// the resume rules. `Default`: detected format, per-bank digests, threads chosen by the
/// input, no never-extended search, TPM resumes refused.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ImaOptions {
    /// The replay configuration (banks, digest mode, violations, start values, reader
    /// options, target register, no-TPM rule). Checkpoint verifications need its start values
    /// empty: they come from the checkpoint (or are the reset values).
    pub replay: ImaReplayConfig,
    /// Threads the replay may use: 0 (default) lets it choose (two for inputs of unknown
    /// length and for lists of at least two chunks on a machine with two cores), 1 keeps it on
    /// the calling thread, 2 or more asks for two. The result is the same either way.
    /// [`super::resume`] streams on the calling thread whatever this says.
    pub threads: usize,
    /// When a replay against verified values fails, look for the one entry that was logged but
    /// never extended, within this many hash operations (0: do not look). See
    /// [`super::extend`]; the search rides on the replay, it never reads the list again.
    pub never_extended_budget: u64,
    /// Accept a changed TPM restartCount when the replay still reaches the quote (TPM Resume;
    /// checkpoint verifications only).
    pub allow_tpm_resume: bool,
    /// Pin the two replay threads to two different CPUs while they run (the calling thread's
    /// CPU affinity is restored afterwards; Linux only, nothing is pinned where the process may
    /// use only one CPU). For a process that runs one replay at a time, such as the `mr`
    /// command: the scheduler otherwise often runs both threads on one CPU. A service that runs
    /// several replays at once should leave it off (the default), so that the scheduler can
    /// spread them.
    pub pin_threads: bool,
}

impl ImaOptions {
    /// With this replay configuration.
    pub fn with_replay(mut self, replay: ImaReplayConfig) -> Self {
        self.replay = replay;
        self
    }
    /// With this many threads (see [`ImaOptions::threads`]).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }
    /// Accept TPM resumes (see [`ImaOptions::allow_tpm_resume`]).
    pub fn with_tpm_resume_allowed(mut self, allow: bool) -> Self {
        self.allow_tpm_resume = allow;
        self
    }
    /// Pin the two replay threads to two CPUs (see [`ImaOptions::pin_threads`]).
    pub fn with_pinned_threads(mut self, pin: bool) -> Self {
        self.pin_threads = pin;
        self
    }
    /// Search for a never-extended entry on failure within `budget` hash operations.
    pub fn with_never_extended_search(mut self, budget: u64) -> Self {
        self.never_extended_budget = budget;
        self
    }
}

/// Verify an IMA list from boot (binary or ASCII, detected): replay it into every register it
/// names, per bank, and compare with `reference` (verified values give a
/// [`crate::trust::Verified`] report, asserted ones a [`crate::trust::Checked`] one,
/// [`crate::ComputeOnly`] the bare report). The list is read once; the report carries the
/// replay, the boot aggregates and the kexec findings of the covered entries. A failure is
/// [`Error::Replay`] (or, with [`ImaOptions::never_extended_budget`], the never-extended entry
/// when the search names one), [`Error::EntryDigest`] for an entry whose recorded digest
/// disagrees with its data, [`Error::Parse`] for malformed input.
///
/// ```
/// use mr_core::log::ima::{self, builder::ImaListBuilder, ImaInput, ImaOptions};
/// use mr_core::{ComputeOnly, HashAlg};
/// let mut b = ImaListBuilder::binary();
/// for i in 0..1000 {
///     b.ima_ng(10, &HashAlg::Sha256.hash(&[i as u8]), &format!("/bin/f{i}"));
/// }
/// let list = b.finish();
/// let two = ima::verify(ImaInput::from_bytes(&list), &ComputeOnly, &ImaOptions::default())?;
/// let one = ima::verify(
///     ImaInput::from_reader(&list[..]),
///     &ComputeOnly,
///     &ImaOptions::default().with_threads(1),
/// )?;
/// assert_eq!(one, two);
/// assert_eq!(one.entries, 1000);
/// # Ok::<(), mr_core::Error>(())
/// ```
pub fn verify<R: Reference>(
    input: ImaInput<'_>,
    reference: &R,
    options: &ImaOptions,
) -> Result<R::Outcome<ImaReplayReport>, Error> {
    verify_values(input, options, reference.expected()).map(|r| reference.outcome(r))
}

/// [`verify`] against plain values (`None`: compute only), for the crate's own composites.
pub(crate) fn verify_values(
    input: ImaInput<'_>,
    options: &ImaOptions,
    expected: Option<&ExpectedRegisters>,
) -> Result<ImaReplayReport, Error> {
    let budget = options.never_extended_budget;
    if !input.wants_two_threads(options.threads) {
        let (reader, _) = input.into_parts();
        return replay_values(reader, &options.replay, expected, budget);
    }
    input.with_source(|source| {
        replay_parallel_values(
            source,
            &options.replay,
            expected,
            CHUNK_LEN,
            budget,
            options.pin_threads,
        )
        .0
    })
}
