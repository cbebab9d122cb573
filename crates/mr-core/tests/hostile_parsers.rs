//! Hostile input against every mr-core parser (IMA binary and ASCII lists, PC-Client / TCG logs,
//! the CCEL table and log area, register values): random bytes and valid inputs with a few
//! byte-level edits (the fuzz targets' mutations, `mr_test_alloc::apply_edits`).
//!
//! For every input: no panic; every rejection is a typed error of the expected class (parse
//! errors are `Error::Parse`, class Malformed; replays may also reject, class Rejected; nothing
//! is ever a device or I/O error on an in-memory input); and no single allocation is larger than
//! `max(64 KiB, k × input length)` with k per format (the `*_K` constants below), measured by the
//! counting global allocator of this test binary. Encoders round-trip: IMA lists written by the
//! builder parse, re-encode (binary → ASCII lines, entries → builder) and parse to the same
//! entries; register values print and parse back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::log::ima::builder::ImaListBuilder;
use mr_core::log::ima::{self, ImaReader, ImaReaderOptions, ImaReplayConfig, ListKind};
use mr_core::log::tcg::{self, ccel, ParseOptions, TcgReplayConfig};
use mr_core::ComputeOnly;
use mr_core::{Error, ErrorClass, HashAlg, MrId, RegisterValue};
use mr_test_alloc::{apply_edits, measure, Edit};
use proptest::prelude::*;

#[global_allocator]
static ALLOC: mr_test_alloc::CountingAlloc = mr_test_alloc::CountingAlloc;

/// IMA lists (binary and ASCII, reader and replay): the entry buffer grows only as data arrives.
const IMA_K: usize = 2;
/// TCG / PC-Client logs and CCEL (parse keeps one record per event, replay one per register).
const TCG_K: usize = 8;
/// `ID:ALG:HEX` register values.
const VALUE_K: usize = 2;

fn no_device(e: &Error, what: &str) {
    assert!(
        matches!(e.class(), ErrorClass::Malformed | ErrorClass::Rejected),
        "{what}: rejection of class {:?}: {e}",
        e.class()
    );
    assert!(
        !matches!(e, Error::Io(_)),
        "{what}: i/o error on a slice: {e}"
    );
}

/// Every entry of `data` read as `kind` (each accessor exercised), then replayed.
fn ima_all(data: &[u8], kind: Option<ListKind>) {
    let mut opts = ImaReaderOptions::default();
    if let Some(k) = kind {
        opts = opts.with_kind(k);
    }
    for trailing in [false, true] {
        let ((), stats) = measure(|| {
            let mut r = ImaReader::new(data, opts.clone().with_trailing_bytes_allowed(trailing));
            loop {
                match r.next_entry() {
                    Ok(Some(e)) => {
                        let _ = e.event_name();
                        let _ = e.file_digest();
                        let _ = e.boot_aggregate();
                        let _ = e.verify_header();
                        for f in e.fields() {
                            let _ = f.value();
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        assert!(matches!(e, Error::Parse(_)), "reader: untyped {e:?}");
                        break;
                    }
                }
            }
        });
        stats.assert_within(IMA_K, data.len(), "ima reader");
    }
    let mut config = ImaReplayConfig::default();
    if let Some(k) = kind {
        config = config.with_kind(k);
    }
    let (r, stats) = measure(|| ima::replay(data, &config, &ComputeOnly));
    stats.assert_within(IMA_K, data.len(), "ima replay");
    if let Err(e) = r {
        no_device(&e, "ima replay");
    }
}

fn tcg_all(data: &[u8]) {
    for opts in [ParseOptions::default(), ParseOptions::ccel()] {
        let (r, stats) = measure(|| tcg::parse(data, &opts).map(|l| l.events.len()));
        stats.assert_within(TCG_K, data.len(), "tcg parse");
        if let Err(e) = r {
            assert!(matches!(e, Error::Parse(_)), "tcg parse: untyped {e:?}");
        }
    }
    let (r, stats) = measure(|| tcg::replay(data, &TcgReplayConfig::default(), &ComputeOnly));
    stats.assert_within(TCG_K, data.len(), "tcg replay");
    if let Err(e) = r {
        no_device(&e, "tcg replay");
    }
    let (r, stats) = measure(|| ccel::replay(data, None, &TcgReplayConfig::ccel(), &ComputeOnly));
    stats.assert_within(TCG_K, data.len(), "ccel replay");
    if let Err(e) = r {
        no_device(&e, "ccel replay");
    }
    // The first bytes as an ACPI CCEL table, the rest as the log area it points into.
    let split = data.first().map_or(0, |b| usize::from(*b).min(data.len()));
    let (table, area) = data.split_at(split);
    let (r, stats) = measure(|| ccel::CcelTable::parse(table));
    stats.assert_within(TCG_K, data.len(), "ccel table");
    match r {
        Ok(t) => {
            let (r, stats) =
                measure(|| ccel::replay(area, Some(&t), &TcgReplayConfig::ccel(), &ComputeOnly));
            stats.assert_within(TCG_K, data.len(), "ccel replay with table");
            if let Err(e) = r {
                no_device(&e, "ccel replay with table");
            }
        }
        Err(e) => assert!(matches!(e, Error::Parse(_)), "ccel table: untyped {e:?}"),
    }
}

/// A binary list with every template mr's builder writes.
fn sample_list(kind: ListKind) -> Vec<u8> {
    let mut b = ImaListBuilder::new(kind);
    b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"pcrs 0-9"));
    b.ima_ng(10, &HashAlg::Sha256.hash(b"a"), "/usr/bin/a");
    b.ima_sig(
        10,
        &HashAlg::Sha256.hash(b"b"),
        "/usr/bin/b",
        &[3, 2, 1, 0, 9],
    );
    b.ima_buf(10, HashAlg::Sha256, "kexec-cmdline", b"root=/dev/vda1 ro");
    b.legacy_ima(10, &[0xc5; 20], "/usr/bin/c")
        .expect("legacy entry");
    b.violation(10, "ima-ng", HashAlg::Sha256, "/tmp/tomtou");
    let dng384 = [&b"sha384:\0"[..], &[0x38; 48]].concat();
    b.entry(
        10,
        "d-ng|n-ng|iuid|igid|imode",
        &[
            &dng384,
            b"/x\0",
            &[1, 0, 0, 0],
            &[2, 0, 0, 0],
            &[0xed, 0x41],
        ],
    )
    .expect("custom template");
    b.finish()
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec((any::<u8>(), any::<u16>(), any::<u8>()), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn ima_binary_random_bytes_give_typed_errors_and_bounded_allocations(
        data in prop::collection::vec(any::<u8>(), 0..2048)
    ) {
        ima_all(&data, Some(ListKind::Binary));
        ima_all(&data, None);
    }

    #[test]
    fn ima_ascii_random_text_gives_typed_errors_and_bounded_allocations(
        data in "[0-9a-f :|\\-\\n]{0,600}"
    ) {
        ima_all(data.as_bytes(), Some(ListKind::Ascii));
    }

    #[test]
    fn ima_binary_edited_lists_give_typed_errors_and_bounded_allocations(e in edits()) {
        ima_all(&apply_edits(&sample_list(ListKind::Binary), &e), None);
    }

    #[test]
    fn ima_ascii_edited_lists_give_typed_errors_and_bounded_allocations(e in edits()) {
        ima_all(&apply_edits(&sample_list(ListKind::Ascii), &e), None);
    }

    #[test]
    fn tcg_and_ccel_random_bytes_give_typed_errors_and_bounded_allocations(
        data in prop::collection::vec(any::<u8>(), 0..2048)
    ) {
        tcg_all(&data);
    }

    #[test]
    fn register_values_parse_or_fail_typed_and_print_back(text in "[a-z_0-9]{0,8}:[a-z0-9_]{0,7}:[0-9a-fA-F]{0,130}") {
        let (r, stats) = measure(|| text.parse::<RegisterValue>());
        stats.assert_within(VALUE_K, text.len(), "register value");
        match r {
            Ok(v) => prop_assert_eq!(v.to_string().parse::<RegisterValue>().unwrap(), v),
            Err(e) => prop_assert!(matches!(e.class(), ErrorClass::Malformed), "{e:?}"),
        }
        if let Ok(id) = text.split(':').next().unwrap_or("").parse::<MrId>() {
            prop_assert_eq!(id.to_string().parse::<MrId>().unwrap(), id);
        }
    }
}

/// Shared real-world logs (if MR_SHARED is set) with edits: PC-Client logs and CCEL areas.
#[test]
fn tcg_vectors_with_edits_give_typed_errors_and_bounded_allocations() {
    let Some(v) = mr_testkit::shared("vectors") else {
        return;
    };
    let files = [
        "tcg2/tpm2-tools/event-uefivar.bin",
        "tcg2/tpm2-tools/specid-vendordata.bin",
        "tcg2/tpm2-tools/event-sd-boot-fedora37.bin",
        "tcg2/go-attestation/short_no_action_eventlog",
        "ccel/go-eventlog/CCEL_unpadded.data.bin",
        "tcg2/go-attestation/option_rom_eventlog",
        "tcg2/tpm2-tss/binary_measurements_hcrtm.bin",
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    for f in files {
        let base = std::fs::read(v.join(f)).unwrap();
        let (_, stats) =
            measure(|| tcg::parse(&base, &ParseOptions::default()).map(|l| l.events.len()));
        eprintln!(
            "{f}: {} bytes, largest allocation {} bytes ({:.2}x), peak live {} bytes",
            base.len(),
            stats.largest,
            stats.largest as f64 / base.len() as f64,
            stats.peak_live
        );
        tcg_all(&base);
        runner
            .run(&edits(), |e| {
                tcg_all(&apply_edits(&base, &e));
                Ok(())
            })
            .unwrap();
    }
}

/// Length fields at their limits with little data behind them: the reader must not reserve
/// what the header claims.
#[test]
fn ima_length_fields_claiming_more_than_the_input_do_not_allocate_it() {
    let list = sample_list(ListKind::Binary);
    // The first entry's template data length (after pcr, 20-byte digest, name length, "ima-ng").
    let at = 4 + 20 + 4 + 6;
    for claim in [ima::MAX_TEMPLATE_DATA_LEN, u32::MAX, 0x00ff_ffff] {
        let mut bad = list.clone();
        bad[at..at + 4].copy_from_slice(&claim.to_le_bytes());
        let (r, stats) =
            measure(|| ima::replay(&bad[..], &ImaReplayConfig::default(), &ComputeOnly));
        assert!(matches!(r, Err(Error::Parse(_))), "{claim}: {r:?}");
        stats.assert_within(IMA_K, bad.len(), "ima length claim");
    }
}

/// A 2000-entry list (about 250 KB, past the 64 KiB floor), edited: the cap is k × its length.
#[test]
fn ima_large_edited_lists_stay_within_k_times_their_length() {
    let mut list = Vec::new();
    ima::sample::write_sample_list(
        &mut list,
        ListKind::Binary,
        2000,
        &[HashAlg::Sha1, HashAlg::Sha256],
        7,
    )
    .unwrap();
    let (_, stats) =
        measure(|| ima::replay(&list[..], &ImaReplayConfig::default(), &ComputeOnly).unwrap());
    eprintln!(
        "ima binary: {} bytes, largest allocation {} bytes, peak live {} bytes",
        list.len(),
        stats.largest,
        stats.peak_live
    );
    stats.assert_within(IMA_K, list.len(), "large ima list");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&edits(), |e| {
            ima_all(&apply_edits(&list, &e), None);
            Ok(())
        })
        .unwrap();
}

#[test]
fn ima_builder_lists_round_trip_through_ascii_and_the_builder() {
    let binary = sample_list(ListKind::Binary);
    let ascii = sample_list(ListKind::Ascii);
    // binary -> entries -> ASCII lines == the builder's ASCII list, which parses to the same data
    let mut lines = String::new();
    let mut entries = Vec::new();
    let mut r = ImaReader::new(&binary[..], ImaReaderOptions::default());
    while let Some(e) = r.next_entry().unwrap() {
        e.verify_header().unwrap();
        lines.push_str(&e.to_ascii_line());
        let fields: Vec<Vec<u8>> = e.fields().map(|f| f.data.to_vec()).collect();
        entries.push((
            e.pcr(),
            e.template_name().to_owned(),
            e.is_legacy(),
            e.template_data().to_vec(),
            fields,
            *e.header_digest(),
        ));
    }
    assert_eq!(entries.len(), 7);
    assert_eq!(
        lines.as_bytes(),
        &ascii[..],
        "binary entries print as the builder's ASCII list"
    );
    let mut r = ImaReader::new(lines.as_bytes(), ImaReaderOptions::default());
    let mut i = 0;
    while let Some(e) = r.next_entry().unwrap() {
        assert_eq!(
            e.template_data(),
            &entries[i].3[..],
            "entry {i} data after ASCII round trip"
        );
        assert_eq!(e.header_digest(), &entries[i].5);
        i += 1;
    }
    assert_eq!(i, entries.len());
    // entries -> builder (non-legacy, non-violation: raw fields) -> the same bytes
    let mut again = ImaListBuilder::binary();
    for (pcr, name, legacy, _, fields, digest) in &entries {
        if *legacy || digest.is_zero() {
            continue;
        }
        let f: Vec<&[u8]> = fields.iter().map(|f| &f[..]).collect();
        again.entry(*pcr, name, &f).unwrap();
    }
    let again = again.finish();
    let mut a = ImaReader::new(&again[..], ImaReaderOptions::default());
    for (_, name, legacy, data, _, digest) in &entries {
        if *legacy || digest.is_zero() {
            continue;
        }
        let e = a.next_entry().unwrap().unwrap();
        assert_eq!(e.template_name(), name);
        assert_eq!(e.template_data(), &data[..]);
        assert_eq!(e.header_digest(), digest);
    }
    assert!(a.next_entry().unwrap().is_none());
}

#[test]
fn the_counting_allocator_is_installed() {
    assert!(mr_test_alloc::is_installed());
    let (v, stats) = measure(|| vec![0u8; 100_000]);
    assert_eq!(v.len(), 100_000);
    assert!(stats.largest >= 100_000);
}

/// A list naming a new PCR in every entry (an IMA entry's PCR is any 32-bit number) fails at the
/// first register past the replay's limit, on one and two threads, and the replay's memory stays
/// the same whether the list has 2,000 or 20,000 such entries.
#[test]
fn a_list_naming_a_new_register_in_every_entry_is_refused_in_bounded_memory() {
    let max = mr_core::replay::MAX_REPLAY_REGISTERS;
    let banks = [HashAlg::Sha1, HashAlg::Sha256];
    let list = |n: u32| {
        let mut b = ImaListBuilder::binary();
        for pcr in 0..n {
            b.ima_ng(1000 + pcr, &HashAlg::Sha256.hash(&pcr.to_le_bytes()), "/f");
        }
        b.finish()
    };
    let config = ImaReplayConfig::default().with_banks(banks);
    let mut peaks = Vec::new();
    for n in [2_000u32, 20_000] {
        let data = list(n);
        let (r, stats) = measure(|| ima::replay(&data[..], &config, &ComputeOnly));
        match r {
            Err(Error::TooManyRegisters {
                entry,
                register,
                max: m,
                ..
            }) => {
                // Two banks per register: the limit is reached halfway through the pairs.
                assert_eq!(entry, (max / banks.len()) as u64, "{n}");
                assert_eq!(register, MrId::Pcr(1000 + (max / banks.len()) as u32));
                assert_eq!(m, max);
            }
            other => panic!("{n} registers: {other:?}"),
        }
        peaks.push(stats.peak_live);
        let r = ima::verify(
            ima::ImaInput::from_bytes(&data),
            &ComputeOnly,
            &ima::ImaOptions::default()
                .with_replay(config.clone())
                .with_threads(2),
        );
        assert!(matches!(r, Err(Error::TooManyRegisters { .. })), "{r:?}");
    }
    assert!(
        peaks[1] <= peaks[0] + (16 << 10),
        "peak live memory grew with the list: {peaks:?}"
    );
    // Within the limit, such a list replays.
    let data = list((max / banks.len()) as u32);
    let report = ima::replay(&data[..], &config, &ComputeOnly).unwrap();
    assert_eq!(report.outcome.registers.len(), max);
}
