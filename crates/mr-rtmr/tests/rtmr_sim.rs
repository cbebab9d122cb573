//! `TdxRtmr` over the simulated TD's file system: extends, reads and refusals behave like tsm-mr,
//! checked against an independent SHA-384.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use mr_core::{Digest, HashAlg, MeasurementRegister, MrId, SoftRegister};
use mr_rtmr::fs::{Errno, Fs};
use mr_rtmr::rtmr::{TdxRtmr, TdxSysfs, MEASUREMENTS_DIR};
use mr_rtmr::sim::{default_mrtd, SimTd};
use mr_rtmr::Error;
use sha2::{Digest as _, Sha384};

fn sha384(parts: &[&[u8]]) -> [u8; 48] {
    let mut h = Sha384::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn digest_of(text: &str) -> [u8; 48] {
    sha384(&[text.as_bytes()])
}

#[test]
fn extending_rtmr2_and_rtmr3_matches_an_independent_sha384_chain() {
    let td = SimTd::new();
    let rtmr2 = TdxRtmr::new(td.fs(), 2).unwrap();
    let rtmr3 = TdxRtmr::new(td.fs(), 3).unwrap();

    let mut expect2 = [0u8; 48];
    let mut expect3 = [0u8; 48];
    for i in 0..5 {
        let d2 = digest_of(&format!("kernel component {i}"));
        let d3 = digest_of(&format!("runtime record {i}"));
        rtmr2.extend_raw(&d2).unwrap();
        MeasurementRegister::extend(&rtmr3, &Digest::new(HashAlg::Sha384, &d3).unwrap()).unwrap();
        expect2 = sha384(&[&expect2, &d2]);
        expect3 = sha384(&[&expect3, &d3]);
        assert_eq!(
            rtmr2.read_raw().unwrap(),
            expect2,
            "rtmr2 after {} extends",
            i + 1
        );
        assert_eq!(
            MeasurementRegister::read(&rtmr3).unwrap().as_bytes(),
            &expect3
        );
    }
    assert_ne!(expect2, [0; 48]);
    // The sim's own view agrees, and the untouched registers stayed at zero.
    assert_eq!(td.rtmr(2).unwrap(), expect2);
    assert_eq!(td.rtmr(3).unwrap(), expect3);
    assert_eq!(td.rtmr(0).unwrap(), [0; 48]);
    assert_eq!(
        TdxRtmr::new(td.fs(), 1).unwrap().read_raw().unwrap(),
        [0; 48]
    );
}

#[test]
fn tdx_rtmr_and_soft_register_agree_on_the_extend_rule() {
    let td = SimTd::new();
    let rtmr = TdxRtmr::new(td.fs(), 3).unwrap();
    let soft = SoftRegister::new(MrId::Rtmr(3), HashAlg::Sha384);
    for i in 0..3 {
        let d = HashAlg::Sha384.hash(format!("event {i}").as_bytes());
        rtmr.extend(&d).unwrap();
        soft.extend(&d).unwrap();
    }
    assert_eq!(rtmr.read().unwrap(), soft.read().unwrap());
    assert_eq!(rtmr.id(), MrId::Rtmr(3));
    assert_eq!(rtmr.alg(), HashAlg::Sha384);
}

#[test]
fn static_registers_read_their_configured_values_and_refuse_extends() {
    let td = SimTd::builder()
        .mrtd([0x11; 48])
        .mrconfigid([0x22; 48])
        .mrowner([0x33; 48])
        .mrownerconfig([0x44; 48])
        .build();
    let sysfs = td.sysfs();
    for (id, byte) in [
        (MrId::Mrtd, 0x11),
        (MrId::MrConfigId, 0x22),
        (MrId::MrOwner, 0x33),
        (MrId::MrOwnerConfig, 0x44),
    ] {
        assert_eq!(sysfs.read(&id).unwrap(), [byte; 48], "{id}");
        let reg = sysfs.static_register(id.clone()).unwrap();
        assert_eq!(reg.read().unwrap().as_bytes(), &[byte; 48]);
        let err = reg.extend(&HashAlg::Sha384.hash(b"x")).unwrap_err();
        assert!(err.to_string().contains("read-only"), "{err}");
        // Through the file system the kernel refuses the write: EACCES (mode 0444).
        let path = sysfs.path(&id).unwrap();
        let io = td.fs().write(&path, &[0; 48]).unwrap_err();
        assert_eq!(Errno::of(&io), Some(Errno::Eacces));
        assert_eq!(sysfs.read(&id).unwrap(), [byte; 48], "{id} unchanged");
    }
    assert_eq!(
        SimTd::new().sysfs().read(&MrId::Mrtd).unwrap(),
        default_mrtd()
    );
}

#[test]
fn read_all_lists_the_eight_registers_in_report_order() {
    let start = [[1; 48], [2; 48], [3; 48], [4; 48]];
    let td = SimTd::builder().rtmrs(start).build();
    let all = td.sysfs().read_all().unwrap();
    let ids: Vec<String> = all.iter().map(|v| v.id.to_string()).collect();
    assert_eq!(
        ids,
        [
            "mrtd",
            "mrconfigid",
            "mrowner",
            "mrownerconfig",
            "rtmr0",
            "rtmr1",
            "rtmr2",
            "rtmr3"
        ]
    );
    for (n, v) in all[4..].iter().enumerate() {
        assert_eq!(v.value.as_bytes(), &start[n]);
        assert_eq!(v.value.alg(), HashAlg::Sha384);
    }
}

#[test]
fn extends_of_the_wrong_length_are_refused_before_and_by_the_kernel() {
    let td = SimTd::new();
    let rtmr = TdxRtmr::new(td.fs(), 2).unwrap();
    for len in [0, 1, 32, 47, 49, 64, 96] {
        let err = rtmr.extend_raw(&vec![7; len]).unwrap_err();
        assert!(
            matches!(err, Error::ExtendLength { got } if got == len),
            "{len}: {err}"
        );
        // Written straight to the file, the simulated kernel answers EINVAL like tsm-mr.
        let path = format!("{MEASUREMENTS_DIR}/rtmr2:sha384");
        let io = td.fs().write(&path, &vec![7; len]).unwrap_err();
        assert_eq!(Errno::of(&io), Some(Errno::Einval), "{len}");
    }
    assert_eq!(rtmr.read_raw().unwrap(), [0; 48], "nothing was extended");
    // A digest of another algorithm is refused through the trait, naming the register.
    let err = MeasurementRegister::extend(&rtmr, &HashAlg::Sha256.hash(b"x")).unwrap_err();
    assert!(
        matches!(&err, mr_core::Error::Register { register, .. } if *register == MrId::Rtmr(2))
    );
}

#[test]
fn rtmr_indexes_past_three_are_refused() {
    let td = SimTd::new();
    assert!(matches!(TdxRtmr::new(td.fs(), 4), Err(Error::RtmrIndex(4))));
    assert!(matches!(td.rtmr(9), Err(Error::RtmrIndex(9))));
}

#[test]
fn a_misplaced_measurement_directory_is_a_clear_missing_file_error() {
    let td = SimTd::new();
    let sysfs = TdxSysfs::with_dir(td.fs(), "sys/devices/elsewhere");
    let err = sysfs.rtmr(0).unwrap().read_raw().unwrap_err();
    match &err {
        Error::Kernel {
            errno: Errno::Enoent,
            path,
            ..
        } => {
            assert_eq!(path, "sys/devices/elsewhere/rtmr0:sha384")
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("6.16"), "{err}");
}

#[test]
fn sim_td_is_send_sync_and_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SimTd>();
    assert_send_sync::<TdxRtmr>();

    let td = SimTd::new();
    let fs: Arc<dyn Fs> = td.fs();
    let handles: Vec<_> = (0..4u8)
        .map(|index| {
            let fs = Arc::clone(&fs);
            std::thread::spawn(move || {
                let rtmr = TdxRtmr::new(fs, index).unwrap();
                let mut expect = [0u8; 48];
                for i in 0..50 {
                    let d = digest_of(&format!("rtmr{index} event {i}"));
                    rtmr.extend_raw(&d).unwrap();
                    expect = sha384(&[&expect, &d]);
                }
                expect
            })
        })
        .collect();
    for (index, h) in handles.into_iter().enumerate() {
        let expect = h.join().unwrap();
        assert_eq!(td.rtmr(index as u8).unwrap(), expect, "rtmr{index}");
    }
}
