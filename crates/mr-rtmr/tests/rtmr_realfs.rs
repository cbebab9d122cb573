//! `TdxRtmr` over `RealFs` rooted at a temporary directory laid out like sysfs: reads, the exact
//! shape of the extend write, and typed errors for bad files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mr_core::{MeasurementRegister, MrId};
use mr_rtmr::fs::{Errno, RealFs};
use mr_rtmr::rtmr::{TdxRtmr, TdxSysfs, MEASUREMENTS_DIR};
use mr_rtmr::Error;

/// Lays out `root/sys/class/misc/tdx_guest/measurements/` with every register file.
fn fake_sysfs(root: &Path) -> PathBuf {
    let dir = root.join(MEASUREMENTS_DIR);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, byte) in [
        ("mrtd:sha384", 0x10u8),
        ("mrconfigid", 0x20),
        ("mrowner", 0x30),
        ("mrownerconfig", 0x40),
        ("rtmr0:sha384", 0xa0),
        ("rtmr1:sha384", 0xa1),
        ("rtmr2:sha384", 0xa2),
        ("rtmr3:sha384", 0xa3),
    ] {
        std::fs::write(dir.join(name), [byte; 48]).unwrap();
    }
    dir
}

fn sysfs(root: &Path) -> TdxSysfs {
    TdxSysfs::new(Arc::new(RealFs::new(root)))
}

#[test]
fn reads_every_register_from_a_sysfs_shaped_tree() {
    let tmp = tempfile::tempdir().unwrap();
    fake_sysfs(tmp.path());
    let s = sysfs(tmp.path());
    assert_eq!(s.read(&MrId::Mrtd).unwrap(), [0x10; 48]);
    assert_eq!(s.read(&MrId::MrConfigId).unwrap(), [0x20; 48]);
    assert_eq!(s.read(&MrId::MrOwner).unwrap(), [0x30; 48]);
    assert_eq!(s.read(&MrId::MrOwnerConfig).unwrap(), [0x40; 48]);
    for i in 0..4u8 {
        let r = s.rtmr(i).unwrap();
        assert_eq!(r.read_raw().unwrap(), [0xa0 + i; 48]);
        assert_eq!(r.read().unwrap().as_bytes(), &[0xa0 + i; 48]);
    }
    assert_eq!(s.read_all().unwrap().len(), 8);
}

#[test]
fn extend_is_one_48_byte_write_at_offset_0() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fake_sysfs(tmp.path());
    // A file longer than 48 bytes shows where the write landed and that nothing was truncated.
    let file = dir.join("rtmr3:sha384");
    std::fs::write(&file, [0x55; 100]).unwrap();
    let rtmr = TdxRtmr::new(Arc::new(RealFs::new(tmp.path())), 3).unwrap();
    let data: Vec<u8> = (0..48).collect();
    rtmr.extend_raw(&data).unwrap();
    let after = std::fs::read(&file).unwrap();
    assert_eq!(after.len(), 100);
    assert_eq!(&after[..48], data.as_slice());
    assert_eq!(&after[48..], &[0x55; 52]);
    // Other registers are untouched.
    assert_eq!(std::fs::read(dir.join("rtmr2:sha384")).unwrap(), [0xa2; 48]);
}

#[test]
fn extend_through_the_trait_writes_the_digest_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fake_sysfs(tmp.path());
    let rtmr = TdxRtmr::new(Arc::new(RealFs::new(tmp.path())), 2).unwrap();
    let d = mr_core::HashAlg::Sha384.hash(b"event");
    rtmr.extend(&d).unwrap();
    assert_eq!(
        std::fs::read(dir.join("rtmr2:sha384")).unwrap(),
        d.as_bytes()
    );
}

#[test]
fn values_that_are_not_48_bytes_are_typed_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fake_sysfs(tmp.path());
    let s = sysfs(tmp.path());
    for len in [0usize, 1, 47] {
        std::fs::write(dir.join("rtmr1:sha384"), vec![1; len]).unwrap();
        match s.rtmr(1).unwrap().read_raw() {
            Err(Error::ValueLength {
                expected: 48,
                got,
                path,
            }) => {
                assert_eq!(got, len);
                assert_eq!(path, format!("{MEASUREMENTS_DIR}/rtmr1:sha384"));
            }
            other => panic!("{len}: unexpected {other:?}"),
        }
    }
    for len in [49usize, 96, 4096] {
        std::fs::write(dir.join("mrtd:sha384"), vec![1; len]).unwrap();
        assert!(
            matches!(s.read(&MrId::Mrtd), Err(Error::TooLarge { max: 48, .. })),
            "{len}"
        );
    }
    // Through the trait: an mr-core register error naming the register and the size.
    std::fs::write(dir.join("rtmr0:sha384"), [0; 12]).unwrap();
    let err = s.rtmr(0).unwrap().read().unwrap_err();
    match err {
        mr_core::Error::Register { register, reason } => {
            assert_eq!(register, MrId::Rtmr(0));
            assert!(reason.contains("expected 48 bytes, got 12"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn missing_files_and_directories_are_typed_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let s = sysfs(tmp.path());
    // No tree at all: ENOENT, explained.
    let err = s.read(&MrId::Rtmr(0)).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Kernel {
                errno: Errno::Enoent,
                op: "read",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("Linux 6.16"), "{err}");
    let err = s.extend(0, &[0; 48]).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Kernel {
                errno: Errno::Enoent,
                op: "extend",
                ..
            }
        ),
        "{err:?}"
    );
    // The extend did not create the file.
    assert!(!tmp
        .path()
        .join(MEASUREMENTS_DIR)
        .join("rtmr0:sha384")
        .exists());

    // A directory where the register file should be.
    let dir = fake_sysfs(tmp.path());
    std::fs::remove_file(dir.join("mrowner")).unwrap();
    std::fs::create_dir(dir.join("mrowner")).unwrap();
    let err = s.read(&MrId::MrOwner).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Kernel {
                errno: Errno::Eisdir,
                ..
            }
        ),
        "{err:?}"
    );
}
