//! The file-system seam: the few operations on sysfs and configfs that RTMRs and TSM reports need.
//!
//! [`TdxRtmr`](crate::rtmr::TdxRtmr) and [`TsmReportClient`](crate::tsm_report::TsmReportClient)
//! never touch `std::fs` directly; they go through an [`Fs`], so that the same code runs against
//!
//! - the real kernel files ([`RealFs`] rooted at `/`, see `RealFs::system` behind the `device`
//!   feature),
//! - a temporary directory laid out like sysfs / configfs ([`RealFs`] rooted there, or
//!   [`SimulatedSysfsDir`], which extends RTMR files as the kernel does), and
//! - the simulated TD (`sim::SimTd`, feature `sim`), an in-memory [`Fs`] that reacts like the
//!   kernel.
//!
//! Paths given to an [`Fs`] are relative to its root, `/`-separated, without a leading `/` and
//! without `.` or `..` components, e.g. `sys/class/misc/tdx_guest/measurements/rtmr2:sha384`.
//! Errors are `std::io::Error`s carrying the kernel's errno (see [`Errno`]); callers turn them into
//! [`Error`](crate::Error)s that say what the errno means for the file at hand.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::rtmr::TDX_MR_SIZE;

/// The operations mr-rtmr needs from sysfs and configfs. Implementations must be usable from
/// several threads.
pub trait Fs: Send + Sync {
    /// Reads the whole file at `path` from offset 0. Fails with [`io::ErrorKind::FileTooLarge`]
    /// if it holds more than `max_len` bytes (without ever buffering more than `max_len + 1`).
    fn read(&self, path: &str, max_len: usize) -> io::Result<Vec<u8>>;
    /// Writes `data` to the existing file at `path` at offset 0, in one write call, without
    /// creating or truncating it. A short write is an error.
    fn write(&self, path: &str, data: &[u8]) -> io::Result<()>;
    /// Creates the directory `path` (its parent must exist).
    fn mkdir(&self, path: &str) -> io::Result<()>;
    /// Removes the directory `path`.
    fn rmdir(&self, path: &str) -> io::Result<()>;
}

/// Joins a seam directory and a file name (`dir/name`, or `name` when `dir` is empty).
pub fn join(dir: &str, name: &str) -> String {
    let dir = dir.trim_end_matches('/');
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// Checks that `path` is a relative seam path: not empty, no leading `/`, no empty, `.` or `..`
/// component, no NUL.
pub fn check_relative(path: &str) -> io::Result<()> {
    let ok = !path.is_empty()
        && !path.contains('\0')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{path:?} is not a relative path without '.' or '..' components"),
        ))
    }
}

/// The [`Fs`] over `std::fs`, with all paths below `root`. A real TD uses root `/`; tests use a
/// temporary directory laid out like sysfs / configfs.
#[derive(Clone, Debug)]
pub struct RealFs {
    root: PathBuf,
}

impl RealFs {
    /// An [`Fs`] whose paths are resolved below `root`.
    pub fn new(root: impl Into<PathBuf>) -> RealFs {
        RealFs { root: root.into() }
    }

    /// The file system of this machine (root `/`): what a real TD uses.
    #[cfg(feature = "device")]
    pub fn system() -> RealFs {
        RealFs::new("/")
    }

    /// The root all paths are resolved below.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn resolve(&self, path: &str) -> io::Result<PathBuf> {
        check_relative(path)?;
        Ok(self.root.join(path))
    }
}

impl Fs for RealFs {
    fn read(&self, path: &str, max_len: usize) -> io::Result<Vec<u8>> {
        let file = std::fs::File::open(self.resolve(path)?)?;
        let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
        let mut buf = Vec::new();
        file.take(limit).read_to_end(&mut buf)?;
        if buf.len() > max_len {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("more than {max_len} bytes"),
            ));
        }
        Ok(buf)
    }

    fn write(&self, path: &str, data: &[u8]) -> io::Result<()> {
        // No create, no truncate: sysfs and configfs attributes exist already, and the kernel
        // sees exactly one write of `data` at offset 0.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(self.resolve(path)?)?;
        let n = file.write(data)?;
        if n != data.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write: {n} of {} bytes", data.len()),
            ));
        }
        Ok(())
    }

    fn mkdir(&self, path: &str) -> io::Result<()> {
        std::fs::create_dir(self.resolve(path)?)
    }

    fn rmdir(&self, path: &str) -> io::Result<()> {
        std::fs::remove_dir(self.resolve(path)?)
    }
}

/// A simulated TD's sysfs in a plain directory (`mr agent ima --simulated-td`, for tests and
/// demos across processes): reads and writes go to the files below `root`
/// ([`RealFs`]), except that a 48-byte write to `…/rtmrN:sha384` extends the file's value
/// (`SHA-384(old || data)`) as the kernel's tsm-mr does, instead of overwriting it. Any other
/// write length to an RTMR file fails with `EINVAL`, as the kernel's does.
#[derive(Debug)]
pub struct SimulatedSysfsDir {
    real: RealFs,
    extend_lock: Mutex<()>,
}

impl SimulatedSysfsDir {
    /// The simulated TD whose files are below `root`.
    pub fn new(root: PathBuf) -> SimulatedSysfsDir {
        SimulatedSysfsDir {
            real: RealFs::new(root),
            extend_lock: Mutex::new(()),
        }
    }
}

impl Fs for SimulatedSysfsDir {
    fn read(&self, path: &str, max_len: usize) -> io::Result<Vec<u8>> {
        self.real.read(path, max_len)
    }

    fn write(&self, path: &str, data: &[u8]) -> io::Result<()> {
        let is_rtmr = path
            .rsplit('/')
            .next()
            .is_some_and(|f| f.starts_with("rtmr") && f.ends_with(":sha384"));
        if !is_rtmr {
            return self.real.write(path, data);
        }
        if data.len() != TDX_MR_SIZE {
            return Err(Errno::Einval.to_io_error());
        }
        let _guard = self.extend_lock.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.real.read(path, TDX_MR_SIZE)?;
        if old.len() != TDX_MR_SIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{path} holds {} bytes, not 48", old.len()),
            ));
        }
        let mut both = old;
        both.extend_from_slice(data);
        let new = mr_core::HashAlg::Sha384.hash(&both);
        self.real.write(path, new.as_bytes())
    }

    fn mkdir(&self, path: &str) -> io::Result<()> {
        self.real.mkdir(path)
    }

    fn rmdir(&self, path: &str) -> io::Result<()> {
        self.real.rmdir(path)
    }
}

/// The kernel errnos the tsm-mr and configfs-tsm ABIs document (Linux numbering), so that
/// callers can say what a refusal means. The simulated TD (`sim::SimTd`) returns the same ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Errno {
    /// `EPERM` (1): operation not permitted.
    Eperm,
    /// `ENOENT` (2): no such file or directory (interface absent: kernel too old, module not
    /// loaded, not a TD, configfs not mounted).
    Enoent,
    /// `EIO` (5): the TDCALL or the host's quote service failed.
    Eio,
    /// `ENXIO` (6): the TDX module rejected an operand (e.g. an RTMR index it does not have).
    Enxio,
    /// `EACCES` (13): wrong access mode (writing a read-only register, reading a write-only blob)
    /// or missing privileges.
    Eacces,
    /// `EBUSY` (16): the TDX module or the quote service is busy; retry later.
    Ebusy,
    /// `EEXIST` (17): the directory exists already.
    Eexist,
    /// `EINVAL` (22): the kernel rejected the data (wrong length or offset, missing inblob).
    Einval,
    /// `ENOTDIR` (20): a file where a directory was expected.
    Enotdir,
    /// `EISDIR` (21): a directory where a file was expected.
    Eisdir,
    /// `EFBIG` (27): more data than the attribute accepts.
    Efbig,
    /// `ENOTEMPTY` (39): directory not empty.
    Enotempty,
    /// `ETIMEDOUT` (110): the host's quote service did not answer in time.
    Etimedout,
}

impl Errno {
    const TABLE: [(Errno, i32, &'static str); 13] = [
        (Errno::Eperm, 1, "EPERM"),
        (Errno::Enoent, 2, "ENOENT"),
        (Errno::Eio, 5, "EIO"),
        (Errno::Enxio, 6, "ENXIO"),
        (Errno::Eacces, 13, "EACCES"),
        (Errno::Ebusy, 16, "EBUSY"),
        (Errno::Eexist, 17, "EEXIST"),
        (Errno::Enotdir, 20, "ENOTDIR"),
        (Errno::Eisdir, 21, "EISDIR"),
        (Errno::Einval, 22, "EINVAL"),
        (Errno::Efbig, 27, "EFBIG"),
        (Errno::Enotempty, 39, "ENOTEMPTY"),
        (Errno::Etimedout, 110, "ETIMEDOUT"),
    ];

    /// The errno of a raw Linux error number, if it is one of those listed.
    pub fn from_raw(raw: i32) -> Option<Errno> {
        Errno::TABLE
            .iter()
            .find(|(_, r, _)| *r == raw)
            .map(|(e, _, _)| *e)
    }

    /// The errno an I/O error carries, if any (and it is one of those listed).
    pub fn of(err: &io::Error) -> Option<Errno> {
        err.raw_os_error().and_then(Errno::from_raw)
    }

    /// The Linux error number.
    pub fn raw(self) -> i32 {
        Errno::TABLE
            .iter()
            .find(|(e, _, _)| *e == self)
            .map_or(0, |(_, r, _)| *r)
    }

    /// The symbolic name, e.g. `EINVAL`.
    pub fn name(self) -> &'static str {
        Errno::TABLE
            .iter()
            .find(|(e, _, _)| *e == self)
            .map_or("E?", |(_, _, n)| *n)
    }

    /// An I/O error carrying this errno, as the kernel would return it.
    pub fn to_io_error(self) -> io::Error {
        io::Error::from_raw_os_error(self.raw())
    }
}

/// Turns an I/O error from the seam into a crate error: an errno that `meaning` explains becomes
/// [`Error::Kernel`](crate::Error::Kernel); an error that carries a crate [`Error`](crate::Error)
/// (as the simulated TD's do) is unwrapped; `FileTooLarge` becomes
/// [`Error::TooLarge`](crate::Error::TooLarge) with `max`; anything else is
/// [`Error::Fs`](crate::Error::Fs).
pub(crate) fn io_error(
    op: &'static str,
    path: &str,
    err: io::Error,
    max: usize,
    meaning: impl Fn(Errno) -> Option<&'static str>,
) -> crate::Error {
    if let Some(errno) = Errno::of(&err) {
        if let Some(meaning) = meaning(errno) {
            return crate::Error::Kernel {
                op,
                path: path.to_owned(),
                errno,
                meaning,
            };
        }
    }
    if err.kind() == io::ErrorKind::FileTooLarge {
        return crate::Error::TooLarge {
            path: path.to_owned(),
            max,
        };
    }
    if err
        .get_ref()
        .is_some_and(|inner| inner.is::<crate::Error>())
    {
        let kind = err.kind();
        if let Some(Ok(e)) = err
            .into_inner()
            .map(|inner| inner.downcast::<crate::Error>())
        {
            return *e;
        }
        // Unreachable in practice: the inner error was checked to be a crate error.
        return crate::Error::Fs {
            op,
            path: path.to_owned(),
            source: io::Error::from(kind),
        };
    }
    crate::Error::Fs {
        op,
        path: path.to_owned(),
        source: err,
    }
}

/// What the errnos every sysfs / configfs file can return mean.
pub(crate) fn common_meaning(errno: Errno) -> Option<&'static str> {
    match errno {
        Errno::Eacces | Errno::Eperm => {
            Some("permission denied (wrong access mode for this file, or not running as root)")
        }
        Errno::Ebusy => Some("the TDX module or the quote service is busy; retry later"),
        Errno::Enxio => Some("the TDX module rejected an operand of the request"),
        Errno::Eio => Some("the TDCALL or the host's quote service failed"),
        Errno::Etimedout => Some("the host's quote service did not answer in time"),
        Errno::Eisdir => Some("is a directory, not an attribute file"),
        _ => None,
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn errno_table_round_trips() {
        for (e, raw, name) in Errno::TABLE {
            assert_eq!(Errno::from_raw(raw), Some(e));
            assert_eq!(e.raw(), raw);
            assert_eq!(e.name(), name);
            assert_eq!(Errno::of(&e.to_io_error()), Some(e));
        }
        assert_eq!(Errno::from_raw(4242), None);
    }

    #[test]
    fn simulated_sysfs_dir_extends_rtmr_files_and_writes_others() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let root = dir.path().join("m");
        std::fs::create_dir(&root).expect("mkdir");
        std::fs::write(root.join("rtmr3:sha384"), [0u8; TDX_MR_SIZE]).expect("write");
        let fs = SimulatedSysfsDir::new(dir.path().to_path_buf());
        let data = [0x11u8; TDX_MR_SIZE];
        fs.write("m/rtmr3:sha384", &data).expect("extend");
        let mut both = vec![0u8; TDX_MR_SIZE];
        both.extend_from_slice(&data);
        let want = mr_core::HashAlg::Sha384.hash(&both);
        assert_eq!(
            fs.read("m/rtmr3:sha384", TDX_MR_SIZE).expect("read"),
            want.as_bytes()
        );
        let short = fs
            .write("m/rtmr3:sha384", &[1, 2, 3])
            .expect_err("a short extend");
        assert_eq!(Errno::of(&short), Some(Errno::Einval));
        std::fs::write(root.join("other"), b"x").expect("write");
        fs.write("m/other", b"y").expect("plain write");
        assert_eq!(fs.read("m/other", 8).expect("read"), b"y");
    }

    #[test]
    fn rejects_paths_that_leave_the_root() {
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "a//b",
            "./a",
            "a/",
            "..",
            "a\0b",
        ] {
            assert!(check_relative(bad).is_err(), "{bad:?}");
        }
        assert!(check_relative("sys/class/misc/tdx_guest/measurements/rtmr0:sha384").is_ok());
        let fs = RealFs::new(std::env::temp_dir());
        let e = fs.read("../etc/passwd", 10).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn join_handles_empty_and_trailing_slash() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("d/", "a"), "d/a");
        assert_eq!(join("d", "a"), "d/a");
    }
}
