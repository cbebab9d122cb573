//! configfs-tsm report client (Linux 6.7 ABI, docs/formats.md#configfs-tsm).
//!
//! A report request is a directory under `/sys/kernel/config/tsm/report/`: `mkdir` creates an
//! instance whose attributes the kernel provides. For TDX they are
//!
//! - `provider` (read-only): the TSM that answers, `tdx_guest` for TDX;
//! - `generation` (read-only): a counter bumped by every successful write to the instance;
//! - `inblob` (write-only, at most 64 bytes): the REPORTDATA (TDX requires exactly 64 bytes);
//! - `outblob` (read-only): reading it generates the report, for TDX a DCAP quote.
//!
//! [`TsmReportClient::get_report`] creates a uniquely named instance, checks the provider, reads
//! `generation`, writes the inblob in one write, reads the outblob, and reads `generation` again:
//! anything but one more than before means another writer used the instance between our write
//! and our read, so the outblob may not carry our inblob ([`Error::TsmGenerationRace`]). The
//! instance is removed afterwards, on success and on every error.
//!
//! The configfs writes of binary attributes are committed when the file is closed, and the
//! kernel ignores errors at that point; the generation check is what tells whether our write
//! took effect.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::fs::{self, Errno, Fs};
use crate::Error;

/// Where configfs-tsm report instances are created, relative to the file-system root
/// (`/sys/kernel/config/tsm/report`).
pub const CONFIGFS_REPORT_DIR: &str = "sys/kernel/config/tsm/report";

/// Size of the inblob TDX accepts: exactly the 64-byte REPORTDATA (`TSM_INBLOB_MAX`).
pub const INBLOB_SIZE: usize = 64;

/// Largest outblob read: the kernel's `TSM_OUTBLOB_MAX` (32 KiB). A TDX quote with its PCK
/// certificate chain is about 5 KiB.
pub const OUTBLOB_MAX: usize = 32 * 1024;

/// The provider name of the TDX guest driver.
pub const TDX_PROVIDER: &str = "tdx_guest";

/// Largest `provider` text read (provider names are short identifiers).
const PROVIDER_MAX: usize = 64;

/// Largest `generation` text read (a decimal u64 and a newline fit in 21 bytes).
const GENERATION_MAX: usize = 32;

/// How many instance names to try when one exists already (a stale directory left by a process
/// that had the same pid).
const MKDIR_ATTEMPTS: u32 = 8;

/// A report read from a configfs-tsm instance. Nothing in it is verified: for TDX, verify the
/// outblob as a quote ([`crate::quote`]) before trusting anything it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsmReport {
    /// The provider that produced it (e.g. `tdx_guest`).
    pub provider: String,
    /// The instance's `generation` after the report was read (our write's generation).
    pub generation: u64,
    /// The report (TDX: a DCAP quote).
    pub outblob: Vec<u8>,
}

/// A configfs-tsm report client over an [`Fs`] seam.
#[derive(Clone)]
pub struct TsmReportClient {
    fs: Arc<dyn Fs>,
    dir: String,
    provider: Option<String>,
}

impl std::fmt::Debug for TsmReportClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsmReportClient")
            .field("dir", &self.dir)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

fn mkdir_meaning(errno: Errno) -> Option<&'static str> {
    match errno {
        Errno::Enoent => Some(
            "no configfs-tsm report directory: needs Linux 6.7 or later with TSM_REPORTS, a TSM \
             provider such as tdx_guest, and configfs mounted at /sys/kernel/config",
        ),
        Errno::Eexist => Some("a report instance of that name exists already"),
        other => fs::common_meaning(other),
    }
}

fn attribute_meaning(errno: Errno) -> Option<&'static str> {
    match errno {
        Errno::Enoent => Some("the report instance has no such attribute (or vanished)"),
        other => fs::common_meaning(other),
    }
}

fn inblob_meaning(errno: Errno) -> Option<&'static str> {
    match errno {
        Errno::Efbig => Some("the inblob is larger than the 64 bytes the kernel accepts"),
        Errno::Ebusy => Some(
            "the generation counter would wrap without an intervening outblob read; use a fresh \
             report instance",
        ),
        other => attribute_meaning(other),
    }
}

fn outblob_meaning(errno: Errno) -> Option<&'static str> {
    match errno {
        Errno::Einval => Some(
            "the provider refused the request: no inblob was written, or it is not the size the \
             provider needs (TDX: exactly 64 bytes)",
        ),
        Errno::Ebusy => Some("a previous quote request is still in flight; retry later"),
        Errno::Eio => Some("the host's quote service failed (is the QGS running on the host?)"),
        other => attribute_meaning(other),
    }
}

fn rmdir_meaning(errno: Errno) -> Option<&'static str> {
    match errno {
        Errno::Enoent => Some("the report instance vanished before it was removed"),
        Errno::Enotempty | Errno::Ebusy => Some("the report instance cannot be removed"),
        other => fs::common_meaning(other),
    }
}

/// Reads a one-line text attribute (trailing newline removed).
fn read_text(fs: &dyn Fs, path: &str, max: usize) -> Result<String, Error> {
    let bytes = fs
        .read(path, max)
        .map_err(|e| fs::io_error("read", path, e, max, attribute_meaning))?;
    let text = String::from_utf8(bytes).map_err(|_| Error::InvalidAttribute {
        path: path.to_owned(),
        reason: "not UTF-8 text".to_owned(),
    })?;
    Ok(text.trim_end_matches(['\n', '\0']).to_owned())
}

fn read_generation(fs: &dyn Fs, path: &str) -> Result<u64, Error> {
    let text = read_text(fs, path, GENERATION_MAX)?;
    let digits = text.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::InvalidAttribute {
            path: path.to_owned(),
            reason: format!("generation {text:?} is not a decimal number"),
        });
    }
    digits.parse().map_err(|_| Error::InvalidAttribute {
        path: path.to_owned(),
        reason: format!("generation {text:?} does not fit in 64 bits"),
    })
}

impl TsmReportClient {
    /// A client for the report directory at its standard place ([`CONFIGFS_REPORT_DIR`]) in `fs`
    /// that expects the TDX provider ([`TDX_PROVIDER`]).
    pub fn new(fs: Arc<dyn Fs>) -> TsmReportClient {
        TsmReportClient {
            fs,
            dir: CONFIGFS_REPORT_DIR.to_owned(),
            provider: Some(TDX_PROVIDER.to_owned()),
        }
    }

    /// The client for this machine's `/sys/kernel/config/tsm/report`.
    #[cfg(feature = "device")]
    pub fn system() -> TsmReportClient {
        TsmReportClient::new(Arc::new(fs::RealFs::system()))
    }

    /// Uses the report directory `dir` (relative to the root of the seam).
    pub fn with_dir(mut self, dir: impl Into<String>) -> TsmReportClient {
        self.dir = dir.into();
        self
    }

    /// Requires `provider` to be `name` (default [`TDX_PROVIDER`]).
    pub fn expect_provider(mut self, name: impl Into<String>) -> TsmReportClient {
        self.provider = Some(name.into());
        self
    }

    /// Accepts a report from any provider.
    pub fn any_provider(mut self) -> TsmReportClient {
        self.provider = None;
        self
    }

    /// Requests a report for `inblob` (TDX: the 64-byte REPORTDATA, typically a nonce or a hash
    /// binding one). The instance directory is removed afterwards, also on error; if the report
    /// itself failed, that error is returned (not a later one from removing the directory).
    pub fn get_report(&self, inblob: &[u8; INBLOB_SIZE]) -> Result<TsmReport, Error> {
        let instance = self.create_instance()?;
        let result = self.request(&instance, inblob);
        let removed = self
            .fs
            .rmdir(&instance)
            .map_err(|e| fs::io_error("rmdir", &instance, e, 0, rmdir_meaning));
        let report = result?;
        removed?;
        Ok(report)
    }

    /// Requests a report whose inblob is `nonce` zero-padded on the right to 64 bytes: the
    /// mapping [`quote::VerifyOptions::with_nonce`](crate::quote::VerifyOptions::with_nonce)
    /// checks. A nonce longer than 64 bytes is an error (hash it first).
    pub fn get_report_for_nonce(&self, nonce: &[u8]) -> Result<TsmReport, Error> {
        let report_data = crate::quote::nonce_report_data(nonce)?;
        self.get_report(&report_data)
    }

    fn create_instance(&self) -> Result<String, Error> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut last = None;
        for _ in 0..MKDIR_ATTEMPTS {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("mr-{}-{n}", std::process::id());
            let path = fs::join(&self.dir, &name);
            match self.fs.mkdir(&path) {
                Ok(()) => return Ok(path),
                Err(e) if Errno::of(&e) == Some(Errno::Eexist) => {
                    last = Some(fs::io_error("mkdir", &path, e, 0, mkdir_meaning));
                }
                Err(e) => return Err(fs::io_error("mkdir", &path, e, 0, mkdir_meaning)),
            }
        }
        Err(last.unwrap_or_else(|| Error::InvalidAttribute {
            path: self.dir.clone(),
            reason: "could not create a report instance".to_owned(),
        }))
    }

    fn request(&self, instance: &str, inblob: &[u8; INBLOB_SIZE]) -> Result<TsmReport, Error> {
        let fs = self.fs.as_ref();
        let provider = read_text(fs, &fs::join(instance, "provider"), PROVIDER_MAX)?;
        if let Some(expected) = &self.provider {
            if &provider != expected {
                return Err(Error::TsmProviderMismatch {
                    expected: expected.clone(),
                    got: provider,
                });
            }
        }
        let generation_path = fs::join(instance, "generation");
        let before = read_generation(fs, &generation_path)?;

        let inblob_path = fs::join(instance, "inblob");
        fs.write(&inblob_path, inblob)
            .map_err(|e| fs::io_error("write", &inblob_path, e, INBLOB_SIZE, inblob_meaning))?;

        let outblob_path = fs::join(instance, "outblob");
        let outblob = fs
            .read(&outblob_path, OUTBLOB_MAX)
            .map_err(|e| fs::io_error("read", &outblob_path, e, OUTBLOB_MAX, outblob_meaning))?;

        let after = read_generation(fs, &generation_path)?;
        if after != before.wrapping_add(1) {
            return Err(Error::TsmGenerationRace { before, after });
        }
        if outblob.is_empty() {
            return Err(Error::InvalidAttribute {
                path: outblob_path,
                reason: "the provider returned an empty report".to_owned(),
            });
        }
        Ok(TsmReport {
            provider,
            generation: after,
            outblob,
        })
    }
}
