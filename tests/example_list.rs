//! The example list shipped in `examples/ima/` is what mr's own generator makes, and it
//! replays to the values shipped beside it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mr::core::log::ima::sample::write_sample_list;
use mr::core::log::ima::{replay, ImaReplayConfig, ListKind};
use mr::core::{ExpectedRegisters, HashAlg, RegisterValue};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ima");

#[test]
fn shipped_example_is_reproduced_by_the_generator() {
    let shipped = std::fs::read(format!("{DIR}/binary_runtime_measurements")).unwrap();
    let mut made = Vec::new();
    let summary = write_sample_list(
        &mut made,
        ListKind::Binary,
        600,
        &[HashAlg::Sha1, HashAlg::Sha256],
        1,
    )
    .unwrap();
    assert!(
        shipped == made,
        "examples/ima is stale: re-run make_ima_list"
    );
    let text = std::fs::read_to_string(format!("{DIR}/expected-pcrs.txt")).unwrap();
    let values: Vec<RegisterValue> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(values, summary.expected);
}

#[test]
fn shipped_example_replays_to_its_expected_values() {
    let list = std::fs::read(format!("{DIR}/binary_runtime_measurements")).unwrap();
    let text = std::fs::read_to_string(format!("{DIR}/expected-pcrs.txt")).unwrap();
    let values = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.parse::<RegisterValue>().unwrap());
    let expected = ExpectedRegisters::from_values(values).unwrap();
    let report = replay(&list[..], &ImaReplayConfig::default(), &expected).unwrap();
    assert_eq!(report.entries, 600);
    assert_eq!(report.outcome.covered, Some(600));
    assert_eq!(report.violations, 1);
    assert_eq!(report.boot_aggregates.len(), 1);
}
