//! The configfs-tsm report client against a temporary directory laid out like configfs (through
//! `RealFs`, with a small stand-in for the kernel's side) and against the simulated TD: success,
//! provider mismatch, generation race and kernel refusals, with the instance removed every time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use mr_rtmr::fs::{Errno, Fs, RealFs};
use mr_rtmr::rtmr::TdxRtmr;
use mr_rtmr::sim::{td_report, QuoteProvider, SimTd, TdMeasurements, INTRUDER_INBLOB};
use mr_rtmr::tsm_report::{TsmReportClient, CONFIGFS_REPORT_DIR, INBLOB_SIZE};
use mr_rtmr::Error;

/// A temporary directory laid out like configfs (`sys/kernel/config/tsm/report/`), removed on
/// drop.
struct TempDir(tempfile::TempDir);

impl TempDir {
    fn new() -> TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join(CONFIGFS_REPORT_DIR)).unwrap();
        TempDir(t)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn instances(&self) -> Vec<String> {
        std::fs::read_dir(self.path().join(CONFIGFS_REPORT_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

/// The kernel's side of configfs over a plain directory: `mkdir` populates the attributes that
/// configfs would show, a write to `inblob` bumps `generation` (by `bump` per write, 1 for a
/// well-behaved kernel, 2 to play a concurrent writer) and sets `outblob` to `report:` + inblob,
/// and `rmdir` removes the attributes first. Every file operation goes through `RealFs`.
struct FakeConfigfs {
    real: RealFs,
    root: PathBuf,
    provider: &'static str,
    bump: u64,
}

impl FakeConfigfs {
    fn new(root: &Path, provider: &'static str, bump: u64) -> FakeConfigfs {
        FakeConfigfs {
            real: RealFs::new(root),
            root: root.to_owned(),
            provider,
            bump,
        }
    }
}

impl Fs for FakeConfigfs {
    fn read(&self, path: &str, max_len: usize) -> io::Result<Vec<u8>> {
        self.real.read(path, max_len)
    }

    fn write(&self, path: &str, data: &[u8]) -> io::Result<()> {
        self.real.write(path, data)?;
        if let Some(dir) = path.strip_suffix("/inblob") {
            let generation: u64 =
                String::from_utf8(self.real.read(&format!("{dir}/generation"), 32)?)
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
            let d = self.root.join(dir);
            std::fs::write(
                d.join("generation"),
                format!("{}\n", generation + self.bump),
            )?;
            std::fs::write(d.join("outblob"), [b"report:".as_slice(), data].concat())?;
        }
        Ok(())
    }

    fn mkdir(&self, path: &str) -> io::Result<()> {
        self.real.mkdir(path)?;
        let d = self.root.join(path);
        std::fs::write(d.join("provider"), format!("{}\n", self.provider))?;
        std::fs::write(d.join("generation"), "0\n")?;
        std::fs::write(d.join("inblob"), b"")?;
        std::fs::write(d.join("outblob"), b"")?;
        Ok(())
    }

    fn rmdir(&self, path: &str) -> io::Result<()> {
        let d = self.root.join(path);
        for attr in ["provider", "generation", "inblob", "outblob"] {
            let _ = std::fs::remove_file(d.join(attr));
        }
        self.real.rmdir(path)
    }
}

fn nonce(byte: u8) -> [u8; INBLOB_SIZE] {
    [byte; INBLOB_SIZE]
}

#[test]
fn configfs_tree_report_round_trip_removes_the_instance() {
    let tmp = TempDir::new();
    let client = TsmReportClient::new(Arc::new(FakeConfigfs::new(tmp.path(), "tdx_guest", 1)));
    let report = client.get_report(&nonce(0x42)).unwrap();
    assert_eq!(report.provider, "tdx_guest");
    assert_eq!(report.generation, 1);
    assert_eq!(
        report.outblob,
        [b"report:".as_slice(), &[0x42; 64]].concat()
    );
    assert!(tmp.instances().is_empty(), "{:?}", tmp.instances());
    // A second request gets a fresh instance and works the same.
    let again = client.get_report(&nonce(0x43)).unwrap();
    assert_eq!(&again.outblob[7..], &[0x43; 64]);
    assert!(tmp.instances().is_empty());
}

#[test]
fn configfs_tree_provider_mismatch_is_refused_and_cleaned_up() {
    let tmp = TempDir::new();
    let fs = Arc::new(FakeConfigfs::new(tmp.path(), "sev_guest", 1));
    let err = TsmReportClient::new(fs.clone())
        .get_report(&nonce(1))
        .unwrap_err();
    match &err {
        Error::TsmProviderMismatch { expected, got } => {
            assert_eq!(expected, "tdx_guest");
            assert_eq!(got, "sev_guest");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("sev_guest"), "{err}");
    assert!(tmp.instances().is_empty());
    // Asking for that provider, or for any, succeeds.
    let r = TsmReportClient::new(fs.clone())
        .expect_provider("sev_guest")
        .get_report(&nonce(1));
    assert_eq!(r.unwrap().provider, "sev_guest");
    assert!(TsmReportClient::new(fs)
        .any_provider()
        .get_report(&nonce(1))
        .is_ok());
    assert!(tmp.instances().is_empty());
}

#[test]
fn configfs_tree_generation_race_is_detected_and_cleaned_up() {
    let tmp = TempDir::new();
    let client = TsmReportClient::new(Arc::new(FakeConfigfs::new(tmp.path(), "tdx_guest", 2)));
    let err = client.get_report(&nonce(7)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TsmGenerationRace {
                before: 0,
                after: 2
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("concurrently") && text.contains("expected 1"),
        "{text}"
    );
    assert!(tmp.instances().is_empty());
}

#[test]
fn configfs_tree_missing_report_directory_is_a_clear_error() {
    let tmp = TempDir::new();
    std::fs::remove_dir(tmp.path().join(CONFIGFS_REPORT_DIR)).unwrap();
    let err = TsmReportClient::new(Arc::new(FakeConfigfs::new(tmp.path(), "tdx_guest", 1)))
        .get_report(&nonce(0))
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Kernel {
                op: "mkdir",
                errno: Errno::Enoent,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("Linux 6.7"), "{err}");
}

/// A quote provider whose "quote" is the TDREPORT_STRUCT of the measurements.
struct TdReportProvider;

impl QuoteProvider for TdReportProvider {
    fn quote(&self, m: &TdMeasurements) -> Result<Vec<u8>, Error> {
        Ok(td_report::encode(m).to_vec())
    }
}

fn sim_with_reports() -> SimTd {
    SimTd::builder()
        .quote_provider(Arc::new(TdReportProvider))
        .build()
}

#[test]
fn sim_td_report_carries_the_inblob_and_current_rtmrs() {
    let td = sim_with_reports();
    TdxRtmr::new(td.fs(), 3)
        .unwrap()
        .extend_raw(&[9; 48])
        .unwrap();
    let report = td.report_client().get_report(&nonce(0x5a)).unwrap();
    assert_eq!(report.provider, "tdx_guest");
    assert_eq!(report.generation, 1);
    let m = td_report::decode(&report.outblob).unwrap();
    assert_eq!(m.report_data, [0x5a; 64]);
    assert_eq!(m.rtmr[3], td.rtmr(3).unwrap());
    assert_eq!(m, td.measurements([0x5a; 64]));
    assert!(td.report_instances().is_empty());
}

#[test]
fn sim_td_provider_mismatch_is_refused_and_cleaned_up() {
    let td = SimTd::builder()
        .tsm_provider("sev_guest")
        .quote_provider(Arc::new(TdReportProvider))
        .build();
    let err = td.report_client().get_report(&nonce(1)).unwrap_err();
    assert!(
        matches!(&err, Error::TsmProviderMismatch { got, .. } if got == "sev_guest"),
        "{err:?}"
    );
    assert!(td.report_instances().is_empty());
}

#[test]
fn sim_td_concurrent_writer_is_detected_and_cleaned_up() {
    let td = sim_with_reports();
    td.inject_concurrent_write();
    let err = td.report_client().get_report(&nonce(3)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TsmGenerationRace {
                before: 0,
                after: 2
            }
        ),
        "{err:?}"
    );
    assert!(td.report_instances().is_empty());
    // The hook fires once: the next request is clean, and carries our inblob, not the intruder's.
    let report = td.report_client().get_report(&nonce(3)).unwrap();
    let m = td_report::decode(&report.outblob).unwrap();
    assert_eq!(m.report_data, [3; 64]);
    assert_ne!(m.report_data, INTRUDER_INBLOB);
}

#[test]
fn sim_td_without_quote_provider_says_so_and_cleans_up() {
    let td = SimTd::new();
    let err = td.report_client().get_report(&nonce(0)).unwrap_err();
    assert!(matches!(err, Error::NoQuoteProvider), "{err:?}");
    assert!(err.to_string().contains("quote provider"), "{err}");
    assert!(td.report_instances().is_empty());
}

#[test]
fn sim_td_quote_provider_errors_pass_through() {
    struct Failing;
    impl QuoteProvider for Failing {
        fn quote(&self, _: &TdMeasurements) -> Result<Vec<u8>, Error> {
            Err(Error::InvalidAttribute {
                path: "qgs".into(),
                reason: "host quote service down".into(),
            })
        }
    }
    let td = SimTd::builder().quote_provider(Arc::new(Failing)).build();
    let err = td.report_client().get_report(&nonce(0)).unwrap_err();
    assert!(err.to_string().contains("host quote service down"), "{err}");
    assert!(td.report_instances().is_empty());
}

#[test]
fn outblob_is_cached_until_the_next_write_like_the_kernel() {
    let td = sim_with_reports();
    let fs = td.fs();
    let inst = format!("{CONFIGFS_REPORT_DIR}/manual");
    fs.mkdir(&inst).unwrap();
    fs.write(&format!("{inst}/inblob"), &[1; 64]).unwrap();
    let first = fs.read(&format!("{inst}/outblob"), 1 << 15).unwrap();
    // An extend after the report does not change the cached outblob of the same generation…
    TdxRtmr::new(td.fs(), 0)
        .unwrap()
        .extend_raw(&[2; 48])
        .unwrap();
    assert_eq!(fs.read(&format!("{inst}/outblob"), 1 << 15).unwrap(), first);
    // …but a new inblob write regenerates it with the current registers.
    fs.write(&format!("{inst}/inblob"), &[1; 64]).unwrap();
    let second = fs.read(&format!("{inst}/outblob"), 1 << 15).unwrap();
    assert_ne!(second, first);
    assert_eq!(
        td_report::decode(&second).unwrap().rtmr[0],
        td.rtmr(0).unwrap()
    );
    // A short outblob bound is a FileTooLarge error, which the client reports as TooLarge.
    let e = fs.read(&format!("{inst}/outblob"), 100).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
    fs.rmdir(&inst).unwrap();
    assert!(td.report_instances().is_empty());
}

/// Wraps a `FakeConfigfs` and changes one behaviour.
struct Twisted<F: Fn(&FakeConfigfs, &str) -> io::Result<()> + Send + Sync> {
    inner: FakeConfigfs,
    after_mkdir: F,
    eexist_first: AtomicU32,
}

impl<F: Fn(&FakeConfigfs, &str) -> io::Result<()> + Send + Sync> Fs for Twisted<F> {
    fn read(&self, p: &str, m: usize) -> io::Result<Vec<u8>> {
        self.inner.read(p, m)
    }
    fn write(&self, p: &str, d: &[u8]) -> io::Result<()> {
        self.inner.write(p, d)
    }
    fn mkdir(&self, p: &str) -> io::Result<()> {
        let left = self.eexist_first.load(Ordering::Relaxed);
        if left > 0 {
            self.eexist_first.store(left - 1, Ordering::Relaxed);
            return Err(Errno::Eexist.to_io_error());
        }
        self.inner.mkdir(p)?;
        (self.after_mkdir)(&self.inner, p)
    }
    fn rmdir(&self, p: &str) -> io::Result<()> {
        self.inner.rmdir(p)
    }
}

fn twisted<F: Fn(&FakeConfigfs, &str) -> io::Result<()> + Send + Sync + 'static>(
    tmp: &TempDir,
    eexist_first: u32,
    after_mkdir: F,
) -> TsmReportClient {
    TsmReportClient::new(Arc::new(Twisted {
        inner: FakeConfigfs::new(tmp.path(), "tdx_guest", 1),
        after_mkdir,
        eexist_first: AtomicU32::new(eexist_first),
    }))
}

#[test]
fn configfs_tree_bad_attribute_text_is_a_typed_error() {
    let cases: [(&str, &[u8], &str); 4] = [
        ("provider", b"\xff\xfe\n", "not UTF-8"),
        ("generation", b"18446744073709551616\n", "64 bits"),
        ("generation", b"-1\n", "decimal"),
        ("generation", b"\n", "decimal"),
    ];
    for (attr, content, needle) in cases {
        let tmp = TempDir::new();
        let client = twisted(&tmp, 0, move |fs, p| {
            std::fs::write(fs.root.join(p).join(attr), content)
        });
        let err = client.get_report(&nonce(0)).unwrap_err();
        match &err {
            Error::InvalidAttribute { path, reason } => {
                assert!(path.ends_with(attr), "{path}");
                assert!(reason.contains(needle), "{reason}");
            }
            other => panic!("{attr}: unexpected {other:?}"),
        }
        assert!(tmp.instances().is_empty());
    }
}

#[test]
fn configfs_tree_oversized_attributes_are_bounded_typed_errors() {
    let tmp = TempDir::new();
    // An outblob past the kernel's 32 KiB maximum (set after the inblob write regenerates it).
    let client = TsmReportClient::new(Arc::new(BigOutblob(FakeConfigfs::new(
        tmp.path(),
        "tdx_guest",
        1,
    ))));
    let err = client.get_report(&nonce(0)).unwrap_err();
    assert!(
        matches!(&err, Error::TooLarge { max: 32768, path } if path.ends_with("/outblob")),
        "{err:?}"
    );
    assert!(tmp.instances().is_empty());

    let tmp = TempDir::new();
    let client = twisted(&tmp, 0, |fs, p| {
        std::fs::write(fs.root.join(p).join("provider"), vec![b'a'; 1 << 20])
    });
    let err = client.get_report(&nonce(0)).unwrap_err();
    assert!(matches!(&err, Error::TooLarge { max: 64, .. }), "{err:?}");
    assert!(tmp.instances().is_empty());
}

/// Puts a 40 KiB outblob in place after every inblob write.
struct BigOutblob(FakeConfigfs);

impl Fs for BigOutblob {
    fn read(&self, p: &str, m: usize) -> io::Result<Vec<u8>> {
        self.0.read(p, m)
    }
    fn write(&self, p: &str, d: &[u8]) -> io::Result<()> {
        self.0.write(p, d)?;
        if let Some(dir) = p.strip_suffix("/inblob") {
            std::fs::write(self.0.root.join(dir).join("outblob"), vec![0; 40 * 1024])?;
        }
        Ok(())
    }
    fn mkdir(&self, p: &str) -> io::Result<()> {
        self.0.mkdir(p)
    }
    fn rmdir(&self, p: &str) -> io::Result<()> {
        self.0.rmdir(p)
    }
}

#[test]
fn configfs_tree_name_collisions_are_retried_then_reported() {
    let tmp = TempDir::new();
    let ok = twisted(&tmp, 3, |_, _| Ok(()));
    assert!(ok.get_report(&nonce(0)).is_ok());
    assert!(tmp.instances().is_empty());
    let never = twisted(&tmp, u32::MAX, |_, _| Ok(()));
    let err = never.get_report(&nonce(0)).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Kernel {
                op: "mkdir",
                errno: Errno::Eexist,
                ..
            }
        ),
        "{err:?}"
    );
}
