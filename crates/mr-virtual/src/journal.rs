//! The journal: an append-only text file of records (see [`crate::record`]).
//!
//! Writers take an exclusive advisory lock ([`Journal::lock`], `flock(2)`) and hold it across
//! the append *and* the extend of the backing register, so two processes never interleave and
//! the journal is never more than one record ahead of the register. Each append writes the whole
//! line with its `\n` and `fsync`s before returning.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::record::{parse_bytes, Record, RecordError, RecordRef, MAX_LINE_LEN};

/// An append-only journal file.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
}

impl Journal {
    /// Open the journal at `path`, creating an empty one if it does not exist (the new file's
    /// directory entry is made durable).
    pub fn open(path: impl AsRef<Path>) -> Result<Journal, Error> {
        let path = path.as_ref();
        match Journal::create(path) {
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
                let file = OpenOptions::new()
                    .read(true)
                    .append(true)
                    .open(path)
                    .map_err(Error::io(format!("opening journal {}", path.display())))?;
                Ok(Journal {
                    file,
                    path: path.to_owned(),
                })
            }
            other => other,
        }
    }

    /// Create a new, empty journal at `path`; an existing file is an error.
    pub fn create(path: impl AsRef<Path>) -> Result<Journal, Error> {
        let path = path.as_ref();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(path)
            .map_err(Error::io(format!("creating journal {}", path.display())))?;
        sync_parent_dir(path)?;
        Ok(Journal {
            file,
            path: path.to_owned(),
        })
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Take the exclusive lock (blocks while another process or another [`Journal`] on the
    /// same file holds it). Released when the guard is dropped.
    pub fn lock(&self) -> Result<JournalLock<'_>, Error> {
        lock_exclusive(&self.file).map_err(|source| Error::Lock {
            path: self.path.clone(),
            source,
        })?;
        Ok(JournalLock { journal: self })
    }

    /// The records of the journal from its start, read through a separate handle, each with
    /// its line number (1-based). A bad line is an error naming its line; so is an incomplete
    /// last line (a torn write that a writer has not yet cleaned up).
    pub fn records(&self) -> Result<Records<BufReader<File>>, Error> {
        let file = File::open(&self.path).map_err(Error::io(format!(
            "opening journal {} for reading",
            self.path.display()
        )))?;
        Ok(Records::new(BufReader::new(file)))
    }
}

/// Make a new file's directory entry durable.
fn sync_parent_dir(path: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(Error::io(format!("syncing directory {}", dir.display())))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(unix)]
fn lock_exclusive(file: &File) -> io::Result<()> {
    use rustix::fs::{flock, FlockOperation};
    loop {
        match flock(file, FlockOperation::LockExclusive) {
            Err(rustix::io::Errno::INTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

#[cfg(unix)]
fn unlock(file: &File) {
    use rustix::fs::{flock, FlockOperation};
    // Closing the file releases the lock too; an error here leaves nothing to do.
    let _ = flock(file, FlockOperation::Unlock);
}

#[cfg(not(unix))]
fn lock_exclusive(_file: &File) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "journal locking (flock) is only implemented on unix",
    ))
}

#[cfg(not(unix))]
fn unlock(_file: &File) {}

/// The exclusive lock on a journal, held by [`crate::VirtualRegister`] while it appends and
/// extends (appending is its alone: a record appended without its extend would be extended
/// later by reconciliation), and by readers that must see no append in progress. Unlocks on
/// drop.
#[derive(Debug)]
pub struct JournalLock<'a> {
    journal: &'a Journal,
}

impl JournalLock<'_> {
    /// Append lines (each a record's canonical text) with one write and one `fsync`; returns
    /// the bytes written.
    pub(crate) fn append_lines<'l>(
        &self,
        lines: impl Iterator<Item = &'l str>,
    ) -> Result<u64, Error> {
        let mut bytes = Vec::new();
        for line in lines {
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
        }
        let ctx = || format!("appending to journal {}", self.journal.path.display());
        (&self.journal.file)
            .write_all(&bytes)
            .map_err(Error::io(ctx()))?;
        self.journal.file.sync_data().map_err(Error::io(ctx()))?;
        Ok(bytes.len() as u64)
    }

    /// The journal's current length in bytes.
    pub fn len(&self) -> Result<u64, Error> {
        self.journal
            .file
            .metadata()
            .map(|m| m.len())
            .map_err(Error::io(format!(
                "reading the size of journal {}",
                self.journal.path.display()
            )))
    }

    /// True when the journal is empty.
    pub fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.len()? == 0)
    }

    /// Cut the journal to `len` bytes (a torn last line) and `fsync`.
    pub(crate) fn truncate(&self, len: u64) -> Result<(), Error> {
        let ctx = || format!("truncating journal {}", self.journal.path.display());
        self.journal.file.set_len(len).map_err(Error::io(ctx()))?;
        self.journal.file.sync_all().map_err(Error::io(ctx()))
    }

    /// A reader of the bytes `from..to` of the journal.
    pub(crate) fn read_range(&self, from: u64, to: u64) -> Result<impl BufRead + '_, Error> {
        let mut f = &self.journal.file;
        f.seek(SeekFrom::Start(from)).map_err(Error::io(format!(
            "reading journal {}",
            self.journal.path.display()
        )))?;
        Ok(BufReader::new(io::Read::take(f, to.saturating_sub(from))))
    }

    /// The journal.
    pub fn journal(&self) -> &Journal {
        self.journal
    }
}

impl Drop for JournalLock<'_> {
    fn drop(&mut self) {
        unlock(&self.journal.file);
    }
}

/// One line read by [`LineReader`].
#[derive(Debug)]
pub(crate) struct Line<'a> {
    /// Line number, 1-based.
    pub(crate) number: u64,
    /// The bytes, without `\n`.
    pub(crate) bytes: &'a [u8],
    /// Bytes consumed (with the `\n`).
    pub(crate) consumed: u64,
    /// False for a last line without `\n`.
    pub(crate) complete: bool,
}

/// Reads lines of at most [`MAX_LINE_LEN`] bytes into one reused buffer; a longer line is an
/// error before more is buffered.
pub(crate) struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    number: u64,
    done: bool,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(inner: R, lines_before: u64) -> LineReader<R> {
        LineReader {
            inner,
            buf: Vec::new(),
            number: lines_before,
            done: false,
        }
    }

    /// Lines read so far (plus the number given to [`LineReader::new`]).
    pub(crate) fn lines(&self) -> u64 {
        self.number
    }

    pub(crate) fn next_line(&mut self) -> Result<Option<Line<'_>>, Error> {
        if self.done {
            return Ok(None);
        }
        self.buf.clear();
        let number = self.number + 1;
        let mut consumed = 0u64;
        let complete = loop {
            let avail = match self.inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    return Err(Error::Io {
                        context: format!("reading journal line {number}"),
                        source: e,
                    });
                }
            };
            if avail.is_empty() {
                break false;
            }
            let (take, newline) = match avail.iter().position(|b| *b == b'\n') {
                Some(p) => (p, true),
                None => (avail.len(), false),
            };
            if self.buf.len() + take > MAX_LINE_LEN {
                self.done = true;
                return Err(Error::Record {
                    line: number,
                    reason: RecordError::TooLong { max: MAX_LINE_LEN },
                });
            }
            self.buf.extend_from_slice(&avail[..take]);
            let used = take + usize::from(newline);
            self.inner.consume(used);
            consumed += used as u64;
            if newline {
                break true;
            }
        };
        if consumed == 0 {
            self.done = true;
            return Ok(None);
        }
        if !complete {
            self.done = true;
        }
        self.number = number;
        Ok(Some(Line {
            number,
            bytes: &self.buf,
            consumed,
            complete,
        }))
    }
}

impl Line<'_> {
    /// Parse the line: `Ok(None)` for blank and comment lines.
    pub(crate) fn parse(&self) -> Result<Option<RecordRef<'_>>, Error> {
        parse_bytes(self.bytes).map_err(|reason| Error::Record {
            line: self.number,
            reason,
        })
    }
}

/// An iterator over the records of a journal: `(line number, record)`, skipping blank and
/// comment lines; stops after the first error.
pub struct Records<R> {
    lines: LineReader<R>,
}

impl<R: BufRead> Records<R> {
    /// Records of the journal text read from `input`.
    pub fn new(input: R) -> Records<R> {
        Records {
            lines: LineReader::new(input, 0),
        }
    }
}

impl<R: BufRead> Iterator for Records<R> {
    type Item = Result<(u64, Record), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = match self.lines.next_line() {
                Ok(Some(l)) => l,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            };
            if !line.complete {
                return Some(Err(Error::Record {
                    line: line.number,
                    reason: RecordError::Incomplete,
                }));
            }
            match line.parse() {
                Ok(Some(r)) => return Some(Ok((line.number, r.to_owned()))),
                Ok(None) => continue,
                Err(e) => {
                    self.lines.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use mr_core::{Digest, HashAlg};

    #[test]
    fn records_iterate_with_line_numbers() {
        let d = Digest::zero(HashAlg::Sha384);
        let text = format!(
            "# header\n\nmr_ima extend sha384/{d}\nSYNC sha384/{d}\nbad line\nmr_ima extend sha384/{d}\n"
        );
        let got: Vec<_> = Records::new(text.as_bytes()).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].as_ref().unwrap().0, 3);
        assert_eq!(got[1].as_ref().unwrap().0, 4);
        match &got[2] {
            Err(Error::Record { line: 5, reason }) => {
                assert_eq!(*reason, RecordError::Tokens { tokens: 2 })
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn incomplete_and_overlong_lines_are_errors() {
        let got: Vec<_> = Records::new(&b"# a\nmr_ima extend sha384/00"[..]).collect();
        assert!(matches!(
            got.as_slice(),
            [Err(Error::Record {
                line: 2,
                reason: RecordError::Incomplete
            })]
        ));
        let long = vec![b'#'; MAX_LINE_LEN + 1];
        let got: Vec<_> = Records::new(&long[..]).collect();
        assert!(matches!(
            got.as_slice(),
            [Err(Error::Record {
                line: 1,
                reason: RecordError::TooLong { .. }
            })]
        ));
        let ok = vec![b'#'; MAX_LINE_LEN];
        assert_eq!(Records::new(&ok[..]).count(), 1); // incomplete, but not too long
    }

    #[test]
    fn appends_under_the_lock_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let j = Journal::open(&path).unwrap();
        let r = Record::extend("mr_ima", HashAlg::Sha384.hash(b"x")).unwrap();
        {
            let lock = j.lock().unwrap();
            assert!(lock.is_empty().unwrap());
            let n = lock
                .append_lines(std::iter::once(r.to_string().as_str()))
                .unwrap();
            assert_eq!(n, r.to_string().len() as u64 + 1);
            assert_eq!(lock.len().unwrap(), n);
        }
        let again = Journal::open(&path).unwrap();
        let recs: Vec<_> = again.records().unwrap().map(|r| r.unwrap()).collect();
        assert_eq!(recs, vec![(1, r)]);
        assert!(Journal::create(&path).is_err());
    }
}
