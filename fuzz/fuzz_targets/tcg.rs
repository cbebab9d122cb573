#![no_main]
//! TCG event logs (PC Client, crypto-agile and legacy) and the CCEL table + log area: parse with
//! strict and relaxed options, replay, and CCEL replay.

use libfuzzer_sys::fuzz_target;
use mr_core::log::tcg::{
    self, ccel, DigestCount, ParseOptions, TcgReplayConfig, Trailing, UnknownAlgorithms,
};
use mr_core::ComputeOnly;
use mr_core::HashAlg;

fuzz_target!(|data: &[u8]| {
    let relaxed = ParseOptions::default()
        .with_trailing(Trailing::AllowPadding)
        .with_unknown_algorithms(UnknownAlgorithms::Skip)
        .with_digest_count(DigestCount::SubsetOfSpecId);
    for opts in [
        ParseOptions::default(),
        relaxed.clone(),
        ParseOptions::ccel(),
    ] {
        if let Ok(log) = tcg::parse(data, &opts) {
            let _ = log.banks();
            let _ = log.startup_locality();
            for event in &log.events {
                let _ = event.is_no_action();
                let _ = event.startup_locality();
                let _ = event.digest(HashAlg::Sha256);
                let _ = event.event_type.name();
            }
            let _ = tcg::replay_parsed(
                &log,
                &TcgReplayConfig::pc_client().with_parse(opts.clone()),
                &ComputeOnly,
            );
        }
    }
    let _ = tcg::replay(data, &TcgReplayConfig::default(), &ComputeOnly);
    let _ = tcg::replay(
        data,
        &TcgReplayConfig::pc_client().with_parse(relaxed),
        &ComputeOnly,
    );
    let _ = ccel::replay(data, None, &TcgReplayConfig::ccel(), &ComputeOnly);

    // CCEL: the first bytes are the ACPI table, the rest the log area it points into.
    if let Ok(table) = ccel::CcelTable::parse(data) {
        let _ = table.cc_type.name();
        let _ = table.log_area(data);
        let _ = ccel::replay(data, Some(&table), &TcgReplayConfig::ccel(), &ComputeOnly);
    }
    if data.len() >= 2 {
        let split = usize::from(data[0]).min(data.len() - 1) + 1;
        let (table_bytes, area) = data.split_at(split);
        if let Ok(table) = ccel::CcelTable::parse(table_bytes) {
            let _ = table.log_area(area);
            let _ = ccel::replay(area, Some(&table), &TcgReplayConfig::ccel(), &ComputeOnly);
        }
    }
});
