//! `check_boot_aggregate` on the real pair of ima-evm-utils (a PC-Client log and the IMA list of
//! the same boot), and on lists that cannot be bound.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use mr_attest::{check_boot_aggregate, BootAggregateCheck};
use mr_core::log::ima::{self, ImaReplayConfig};
use mr_core::{HashAlg, MrId, VerifiedRegisters};

fn vectors() -> Option<PathBuf> {
    match std::env::var_os("MR_SHARED") {
        Some(p) => Some(PathBuf::from(p).join("vectors")),
        None => {
            eprintln!("MR_SHARED is not set: skipping this test");
            None
        }
    }
}

#[test]
fn the_boot_aggregate_of_the_same_boot_matches_and_another_differs() {
    let Some(v) = vectors() else { return };
    let dir = v.join("ima/ima-evm-utils");
    let bios = std::fs::read(dir.join("sample-binary_bios_measurements-pcrs-8-9")).unwrap();
    let list = std::fs::read(dir.join("sample-ascii_runtime_measurements-pcrs-8-9")).unwrap();
    let cfg = ImaReplayConfig::default().with_banks([HashAlg::Sha256]);
    let report = ima::replay(&list[..], &cfg, None).unwrap();
    match check_boot_aggregate(&bios, &report).unwrap() {
        BootAggregateCheck::Matches { entry, digest } => {
            assert_eq!(entry, 0);
            assert_eq!(
                digest.to_hex(),
                "83d19723ef3b3c05bb8ae70d86b3886c158f2408f1b71ed265886a7b79eb700e"
            );
        }
        other => panic!("{other:?}"),
    }

    // The list of examples/ima has a boot_aggregate of another boot.
    let example = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/ima/binary_runtime_measurements"),
    )
    .unwrap();
    let report = ima::replay(&example[..], &cfg, None).unwrap();
    match check_boot_aggregate(&bios, &report).unwrap() {
        BootAggregateCheck::Differs {
            entry,
            recorded,
            computed,
        } => {
            assert_eq!(entry, 0);
            assert_eq!(recorded, report.boot_aggregates[0].digest);
            assert_eq!(
                computed.to_hex(),
                "83d19723ef3b3c05bb8ae70d86b3886c158f2408f1b71ed265886a7b79eb700e"
            );
        }
        other => panic!("{other:?}"),
    }

    // A boot log that is not a PC-Client log is an error, not a verdict.
    assert!(check_boot_aggregate(b"not a log", &report).is_err());
}

#[test]
fn a_boot_aggregate_the_verified_values_do_not_cover_binds_nothing() {
    let example = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/ima/binary_runtime_measurements"),
    )
    .unwrap();
    // Values of another register only: the PCR 10 entries are not covered.
    let asserted = VerifiedRegisters::asserted(vec![mr_core::RegisterValue {
        id: MrId::Pcr(11),
        value: mr_core::Digest::zero(HashAlg::Sha256),
    }])
    .unwrap();
    let cfg = ImaReplayConfig::default().with_banks([HashAlg::Sha256]);
    let report = ima::replay(&example[..], &cfg, Some(&asserted)).unwrap();
    match check_boot_aggregate(b"unused", &report).unwrap() {
        BootAggregateCheck::Unbound { reason } => {
            assert!(reason.contains("not covered"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}
