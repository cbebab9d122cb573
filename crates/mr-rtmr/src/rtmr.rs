//! TDX RTMRs over the tsm-mr sysfs ABI (Linux 6.16, docs/formats.md#tsm-mr).
//!
//! The kernel's `tdx_guest` driver exports the TD's measurement registers as binary sysfs
//! attributes in `/sys/class/misc/tdx_guest/measurements/`:
//!
//! | file | mode | content |
//! |---|---|---|
//! | `rtmr0:sha384` … `rtmr3:sha384` | 0644 | read: the 48-byte raw value; write: extend |
//! | `mrtd:sha384` | 0444 | 48 bytes raw |
//! | `mrconfigid`, `mrowner`, `mrownerconfig` | 0444 | 48 bytes raw |
//!
//! An extend is one write of exactly 48 bytes at offset 0; the kernel passes them to
//! `TDG.MR.RTMR.EXTEND`, which sets `RTMR = SHA-384(RTMR || data)` (the kernel does not hash the
//! data). Anything else is refused with `EINVAL`.
//!
//! [`TdxSysfs`] names that directory behind an [`Fs`] seam; [`TdxRtmr`] (RTMR 0-3) and
//! [`TdxStaticRegister`] (MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG) implement
//! [`MeasurementRegister`] over it. The same code runs on a real TD (`TdxSysfs::system`, feature
//! `device`), on a temporary directory laid out like sysfs, and on the simulated TD
//! (`sim::SimTd::fs`, feature `sim`).

use std::sync::Arc;

use mr_core::{Digest, HashAlg, MeasurementRegister, MrId, RegisterValue};

use crate::fs::{self, Errno, Fs};
use crate::Error;

/// Where the tsm-mr measurement files live, relative to the file-system root
/// (`/sys/class/misc/tdx_guest/measurements`, a link to
/// `/sys/devices/virtual/misc/tdx_guest/measurements`).
pub const MEASUREMENTS_DIR: &str = "sys/class/misc/tdx_guest/measurements";

/// Size of every TDX measurement register (SHA-384).
pub const TDX_MR_SIZE: usize = 48;

/// Number of RTMRs (RTMR0..RTMR3).
pub const RTMR_COUNT: u8 = 4;

/// The TDX registers, in the order the TD report lists them (MRTD, MRCONFIGID, MROWNER,
/// MROWNERCONFIG, RTMR0..RTMR3).
pub fn tdx_registers() -> [MrId; 8] {
    [
        MrId::Mrtd,
        MrId::MrConfigId,
        MrId::MrOwner,
        MrId::MrOwnerConfig,
        MrId::Rtmr(0),
        MrId::Rtmr(1),
        MrId::Rtmr(2),
        MrId::Rtmr(3),
    ]
}

/// The tsm-mr file name of a TDX register: `rtmrN:sha384`, `mrtd:sha384`, `mrconfigid`,
/// `mrowner`, `mrownerconfig` (naming rule `MRNAME[:HASH]`; the static configuration registers
/// are not hashes and carry no suffix).
pub fn file_name(id: &MrId) -> Result<String, Error> {
    Ok(match id {
        MrId::Rtmr(n) if *n < RTMR_COUNT => format!("rtmr{n}:sha384"),
        MrId::Rtmr(n) => return Err(Error::RtmrIndex(u32::from(*n))),
        MrId::Mrtd => "mrtd:sha384".to_owned(),
        MrId::MrConfigId => "mrconfigid".to_owned(),
        MrId::MrOwner => "mrowner".to_owned(),
        MrId::MrOwnerConfig => "mrownerconfig".to_owned(),
        other => return Err(Error::NotTdxRegister(other.clone())),
    })
}

fn read_meaning(errno: Errno) -> Option<&'static str> {
    match errno {
        Errno::Enoent => Some(
            "no such register file: tsm-mr needs Linux 6.16 or later with the tdx_guest driver, \
             inside a TD",
        ),
        other => fs::common_meaning(other),
    }
}

fn extend_meaning(errno: Errno) -> Option<&'static str> {
    match errno {
        Errno::Einval => {
            Some("the kernel refused the extend: it takes exactly 48 bytes written at offset 0")
        }
        Errno::Eacces | Errno::Eperm => {
            Some("not writable: only rtmr0..rtmr3 can be extended, and extending needs root")
        }
        other => read_meaning(other),
    }
}

/// The tsm-mr measurement directory of a TD, behind an [`Fs`] seam.
#[derive(Clone)]
pub struct TdxSysfs {
    fs: Arc<dyn Fs>,
    dir: String,
}

impl std::fmt::Debug for TdxSysfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TdxSysfs")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl TdxSysfs {
    /// The measurement directory at its standard place ([`MEASUREMENTS_DIR`]) in `fs`.
    pub fn new(fs: Arc<dyn Fs>) -> TdxSysfs {
        TdxSysfs::with_dir(fs, MEASUREMENTS_DIR)
    }

    /// The measurement directory at `dir` (relative to the root of `fs`).
    pub fn with_dir(fs: Arc<dyn Fs>, dir: impl Into<String>) -> TdxSysfs {
        TdxSysfs {
            fs,
            dir: dir.into(),
        }
    }

    /// The measurement directory of this machine (`/sys/class/misc/tdx_guest/measurements`).
    #[cfg(feature = "device")]
    pub fn system() -> TdxSysfs {
        TdxSysfs::new(Arc::new(fs::RealFs::system()))
    }

    /// The seam path of register `id`.
    pub fn path(&self, id: &MrId) -> Result<String, Error> {
        Ok(fs::join(&self.dir, &file_name(id)?))
    }

    /// The current raw value of any TDX register. The file must hold exactly 48 bytes.
    pub fn read(&self, id: &MrId) -> Result<[u8; TDX_MR_SIZE], Error> {
        let path = self.path(id)?;
        let bytes = self
            .fs
            .read(&path, TDX_MR_SIZE)
            .map_err(|e| fs::io_error("read", &path, e, TDX_MR_SIZE, read_meaning))?;
        <[u8; TDX_MR_SIZE]>::try_from(bytes.as_slice()).map_err(|_| Error::ValueLength {
            path,
            expected: TDX_MR_SIZE,
            got: bytes.len(),
        })
    }

    /// Extends RTMR `index` with `data`, which must be exactly 48 bytes (checked before the file
    /// is touched): one write at offset 0, as tsm-mr requires.
    pub fn extend(&self, index: u8, data: &[u8]) -> Result<(), Error> {
        if index >= RTMR_COUNT {
            return Err(Error::RtmrIndex(u32::from(index)));
        }
        if data.len() != TDX_MR_SIZE {
            return Err(Error::ExtendLength { got: data.len() });
        }
        let path = self.path(&MrId::Rtmr(index))?;
        self.fs
            .write(&path, data)
            .map_err(|e| fs::io_error("extend", &path, e, TDX_MR_SIZE, extend_meaning))
    }

    /// RTMR `index` (0..=3) as a [`MeasurementRegister`].
    pub fn rtmr(&self, index: u8) -> Result<TdxRtmr, Error> {
        if index >= RTMR_COUNT {
            return Err(Error::RtmrIndex(u32::from(index)));
        }
        Ok(TdxRtmr {
            sysfs: self.clone(),
            index,
        })
    }

    /// A static register (MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG) as a read-only
    /// [`MeasurementRegister`].
    pub fn static_register(&self, id: MrId) -> Result<TdxStaticRegister, Error> {
        match id {
            MrId::Mrtd | MrId::MrConfigId | MrId::MrOwner | MrId::MrOwnerConfig => {
                Ok(TdxStaticRegister {
                    sysfs: self.clone(),
                    id,
                })
            }
            MrId::Rtmr(_) => Err(Error::Core(mr_core::Error::Register {
                register: id,
                reason: "an RTMR is not a static register; use TdxSysfs::rtmr".to_owned(),
            })),
            other => Err(Error::NotTdxRegister(other)),
        }
    }

    /// The current values of all eight TDX registers, in [`tdx_registers`] order.
    pub fn read_all(&self) -> Result<Vec<RegisterValue>, Error> {
        tdx_registers()
            .into_iter()
            .map(|id| {
                let raw = self.read(&id)?;
                let value = Digest::new(HashAlg::Sha384, &raw)?;
                Ok(RegisterValue { id, value })
            })
            .collect()
    }
}

/// Turns a crate error into the mr-core error the [`MeasurementRegister`] trait returns.
fn to_core(register: MrId, err: Error) -> mr_core::Error {
    match err {
        Error::Core(e) => e,
        other => mr_core::Error::Register {
            register,
            reason: other.to_string(),
        },
    }
}

/// One TDX RTMR (0..=3) over tsm-mr: read = the 48-byte file, extend = one 48-byte write.
#[derive(Clone, Debug)]
pub struct TdxRtmr {
    sysfs: TdxSysfs,
    index: u8,
}

impl TdxRtmr {
    /// RTMR `index` (0..=3) of the measurement directory at its standard place in `fs`.
    pub fn new(fs: Arc<dyn Fs>, index: u8) -> Result<TdxRtmr, Error> {
        TdxSysfs::new(fs).rtmr(index)
    }

    /// RTMR `index` of this machine.
    #[cfg(feature = "device")]
    pub fn system(index: u8) -> Result<TdxRtmr, Error> {
        TdxSysfs::system().rtmr(index)
    }

    /// The RTMR index (0..=3; its CC MR index is one more).
    pub fn index(&self) -> u8 {
        self.index
    }

    /// The current raw value, with a typed error for a missing file or a value that is not
    /// exactly 48 bytes.
    pub fn read_raw(&self) -> Result<[u8; TDX_MR_SIZE], Error> {
        self.sysfs.read(&MrId::Rtmr(self.index))
    }

    /// Extends with `data` (exactly 48 bytes, else [`Error::ExtendLength`] before any write).
    pub fn extend_raw(&self, data: &[u8]) -> Result<(), Error> {
        self.sysfs.extend(self.index, data)
    }
}

impl MeasurementRegister for TdxRtmr {
    fn id(&self) -> MrId {
        MrId::Rtmr(self.index)
    }

    fn alg(&self) -> HashAlg {
        HashAlg::Sha384
    }

    fn read(&self) -> Result<Digest, mr_core::Error> {
        let raw = self.read_raw().map_err(|e| to_core(self.id(), e))?;
        Digest::new(HashAlg::Sha384, &raw)
    }

    fn extend(&self, digest: &Digest) -> Result<(), mr_core::Error> {
        if digest.alg() != HashAlg::Sha384 {
            return Err(mr_core::Error::Register {
                register: self.id(),
                reason: format!(
                    "cannot extend a sha384 register with a {} digest",
                    digest.alg()
                ),
            });
        }
        self.extend_raw(digest.as_bytes())
            .map_err(|e| to_core(self.id(), e))
    }
}

/// A static TDX register (MRTD, MRCONFIGID, MROWNER or MROWNERCONFIG): readable, never extended.
#[derive(Clone, Debug)]
pub struct TdxStaticRegister {
    sysfs: TdxSysfs,
    id: MrId,
}

impl TdxStaticRegister {
    /// The current raw value (exactly 48 bytes, else a typed error).
    pub fn read_raw(&self) -> Result<[u8; TDX_MR_SIZE], Error> {
        self.sysfs.read(&self.id)
    }
}

impl MeasurementRegister for TdxStaticRegister {
    fn id(&self) -> MrId {
        self.id.clone()
    }

    fn alg(&self) -> HashAlg {
        HashAlg::Sha384
    }

    fn read(&self) -> Result<Digest, mr_core::Error> {
        let raw = self.read_raw().map_err(|e| to_core(self.id(), e))?;
        Digest::new(HashAlg::Sha384, &raw)
    }

    fn extend(&self, _digest: &Digest) -> Result<(), mr_core::Error> {
        Err(to_core(self.id(), Error::ReadOnlyRegister(self.id())))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::io;

    use super::*;

    /// An [`Fs`] that fails every operation with one errno, as a kernel refusing would.
    struct RefusingFs(Errno);

    impl Fs for RefusingFs {
        fn read(&self, _: &str, _: usize) -> io::Result<Vec<u8>> {
            Err(self.0.to_io_error())
        }
        fn write(&self, _: &str, _: &[u8]) -> io::Result<()> {
            Err(self.0.to_io_error())
        }
        fn mkdir(&self, _: &str) -> io::Result<()> {
            Err(self.0.to_io_error())
        }
        fn rmdir(&self, _: &str) -> io::Result<()> {
            Err(self.0.to_io_error())
        }
    }

    #[test]
    fn file_names_follow_the_tsm_mr_naming_rule() {
        let names: Vec<String> = tdx_registers()
            .iter()
            .map(|id| file_name(id).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "mrtd:sha384",
                "mrconfigid",
                "mrowner",
                "mrownerconfig",
                "rtmr0:sha384",
                "rtmr1:sha384",
                "rtmr2:sha384",
                "rtmr3:sha384"
            ]
        );
        assert!(matches!(
            file_name(&MrId::Rtmr(4)),
            Err(Error::RtmrIndex(4))
        ));
        assert!(matches!(
            file_name(&MrId::Pcr(10)),
            Err(Error::NotTdxRegister(_))
        ));
    }

    #[test]
    fn kernel_errnos_become_clear_typed_errors() {
        for (errno, needle) in [
            (Errno::Einval, "exactly 48 bytes"),
            (Errno::Enxio, "rejected an operand"),
            (Errno::Ebusy, "busy"),
            (Errno::Enoent, "6.16"),
            (Errno::Eacces, "only rtmr0..rtmr3"),
        ] {
            let rtmr = TdxRtmr::new(Arc::new(RefusingFs(errno)), 3).unwrap();
            let err = rtmr.extend_raw(&[0; 48]).unwrap_err();
            match &err {
                Error::Kernel {
                    op, path, errno: e, ..
                } => {
                    assert_eq!(*op, "extend");
                    assert_eq!(path, "sys/class/misc/tdx_guest/measurements/rtmr3:sha384");
                    assert_eq!(*e, errno);
                }
                other => panic!("{errno}: unexpected {other:?}"),
            }
            let text = err.to_string();
            assert!(
                text.contains(needle) && text.contains(errno.name()),
                "{text}"
            );
        }
        let rtmr = TdxRtmr::new(Arc::new(RefusingFs(Errno::Ebusy)), 0).unwrap();
        assert!(matches!(
            rtmr.read_raw(),
            Err(Error::Kernel {
                errno: Errno::Ebusy,
                op: "read",
                ..
            })
        ));
    }

    #[test]
    fn trait_errors_name_the_register() {
        let rtmr = TdxRtmr::new(Arc::new(RefusingFs(Errno::Enxio)), 2).unwrap();
        match MeasurementRegister::read(&rtmr).unwrap_err() {
            mr_core::Error::Register { register, reason } => {
                assert_eq!(register, MrId::Rtmr(2));
                assert!(reason.contains("ENXIO"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
        let sha256 = HashAlg::Sha256.hash(b"x");
        assert!(matches!(
            MeasurementRegister::extend(&rtmr, &sha256),
            Err(mr_core::Error::Register { .. })
        ));
    }

    #[test]
    fn rejects_rtmr_indexes_past_three_and_non_tdx_registers() {
        let sysfs = TdxSysfs::new(Arc::new(RefusingFs(Errno::Eio)));
        assert!(matches!(sysfs.rtmr(4), Err(Error::RtmrIndex(4))));
        assert!(matches!(
            sysfs.extend(7, &[0; 48]),
            Err(Error::RtmrIndex(7))
        ));
        assert!(matches!(
            sysfs.read(&MrId::Pcr(0)),
            Err(Error::NotTdxRegister(_))
        ));
        assert!(sysfs.static_register(MrId::Rtmr(0)).is_err());
        assert!(matches!(
            sysfs.static_register(MrId::Virtual("mr_ima".into())),
            Err(Error::NotTdxRegister(_))
        ));
    }
}
