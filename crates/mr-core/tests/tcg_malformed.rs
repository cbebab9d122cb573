//! Hand-built TCG logs: every malformed case is a typed parse error with offset and record
//! number (never a panic), and the replay rules (EV_NO_ACTION, StartupLocality, H-CRTM,
//! CC MR mapping, padding) hold.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::error::ParseErrorKind;
use mr_core::log::tcg::{
    self, boot_aggregate, ccel, DataCheck, DataCheckPolicy, EventData, EventType, Hashed, LogEnd,
    LogFormat, ParseOptions, TcgReplayConfig, Trailing, UnknownAlgorithms,
};
use mr_core::ComputeOnly;
use mr_core::{Digest, Error, ExpectedRegisters, HashAlg, MrId, RegisterValue};
use proptest::prelude::*;

const SHA1: u16 = 0x0004;
const SHA256: u16 = 0x000B;
const SHA384: u16 = 0x000C;

/// Spec ID header record for `algs` (id, size).
fn header(algs: &[(u16, u16)], header_index: u32) -> Vec<u8> {
    let mut data = b"Spec ID Event03\0".to_vec();
    data.extend_from_slice(&0u32.to_le_bytes()); // platformClass
    data.extend_from_slice(&[0, 2, 0, 2]); // minor, major, errata, uintnSize
    data.extend_from_slice(&(algs.len() as u32).to_le_bytes());
    for (id, size) in algs {
        data.extend_from_slice(&id.to_le_bytes());
        data.extend_from_slice(&size.to_le_bytes());
    }
    data.push(0); // vendorInfoSize
    let mut rec = header_index.to_le_bytes().to_vec();
    rec.extend_from_slice(&3u32.to_le_bytes());
    rec.extend_from_slice(&[0; 20]);
    rec.extend_from_slice(&(data.len() as u32).to_le_bytes());
    rec.extend_from_slice(&data);
    rec
}

/// A TCG_PCR_EVENT2 with the given digests.
fn event2(pcr: u32, event_type: u32, digests: &[(u16, Vec<u8>)], data: &[u8]) -> Vec<u8> {
    let mut rec = pcr.to_le_bytes().to_vec();
    rec.extend_from_slice(&event_type.to_le_bytes());
    rec.extend_from_slice(&(digests.len() as u32).to_le_bytes());
    for (id, d) in digests {
        rec.extend_from_slice(&id.to_le_bytes());
        rec.extend_from_slice(d);
    }
    rec.extend_from_slice(&(data.len() as u32).to_le_bytes());
    rec.extend_from_slice(data);
    rec
}

/// A measured event in both banks: digests are the hashes of `data`.
fn measured(pcr: u32, event_type: u32, data: &[u8]) -> Vec<u8> {
    event2(
        pcr,
        event_type,
        &[
            (SHA1, HashAlg::Sha1.hash(data).as_bytes().to_vec()),
            (SHA256, HashAlg::Sha256.hash(data).as_bytes().to_vec()),
        ],
        data,
    )
}

fn no_action(pcr: u32, data: &[u8]) -> Vec<u8> {
    event2(pcr, 3, &[(SHA1, vec![0; 20]), (SHA256, vec![0; 32])], data)
}

fn startup_locality(l: u8) -> Vec<u8> {
    let mut d = b"StartupLocality\0".to_vec();
    d.push(l);
    no_action(0, &d)
}

/// The `UEFI_VARIABLE_DATA` of `SecureBoot` = 1 (EFI global variable GUID).
fn secure_boot_variable() -> Vec<u8> {
    uefi_variable(
        [
            0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03,
            0x2b, 0x8c,
        ],
        "SecureBoot",
        &[1],
    )
}

/// A `UEFI_VARIABLE_DATA`: GUID, u64 name length (UTF-16 units), u64 data length, name, data.
fn uefi_variable(guid: [u8; 16], name: &str, value: &[u8]) -> Vec<u8> {
    let units: Vec<u16> = name.encode_utf16().collect();
    let mut d = guid.to_vec();
    d.extend_from_slice(&(units.len() as u64).to_le_bytes());
    d.extend_from_slice(&(value.len() as u64).to_le_bytes());
    for u in units {
        d.extend_from_slice(&u.to_le_bytes());
    }
    d.extend_from_slice(value);
    d
}

/// A small SHA-1 + SHA-256 log and the offsets where its records start (and its end).
fn small_log() -> (Vec<u8>, Vec<usize>) {
    let records = [
        header(&[(SHA1, 20), (SHA256, 32)], 0),
        startup_locality(3),
        measured(0, 0x8000_0008, b"firmware blob"),
        measured(7, 0x8000_0001, &secure_boot_variable()),
        measured(7, 4, &[0, 0, 0, 0]),
        measured(4, 0x8000_0003, b"bootloader"),
    ];
    let mut log = Vec::new();
    let mut bounds = Vec::new();
    for r in records {
        bounds.push(log.len());
        log.extend_from_slice(&r);
    }
    bounds.push(log.len());
    (log, bounds)
}

fn parse_error(r: Result<impl std::fmt::Debug, Error>) -> mr_core::error::ParseError {
    match r {
        Err(Error::Parse(p)) => p,
        other => panic!("expected a parse error, got {other:?}"),
    }
}

fn fold(alg: HashAlg, start: Digest, datas: &[&[u8]]) -> Digest {
    datas
        .iter()
        .fold(start, |v, d| v.extended(alg.hash(d).as_bytes()))
}

fn locality_start(alg: HashAlg, l: u8) -> Digest {
    let mut b = vec![0u8; alg.size()];
    *b.last_mut().unwrap() = l;
    Digest::new(alg, &b).unwrap()
}

/// Every bank of every register the small log extends, at the values it must reach.
fn small_log_values() -> ExpectedRegisters {
    let mut values = Vec::new();
    for alg in [HashAlg::Sha1, HashAlg::Sha256] {
        let z = Digest::zero(alg);
        values.push(RegisterValue {
            id: MrId::Pcr(0),
            value: fold(alg, locality_start(alg, 3), &[b"firmware blob"]),
        });
        values.push(RegisterValue {
            id: MrId::Pcr(7),
            value: fold(alg, z, &[&secure_boot_variable(), &[0, 0, 0, 0]]),
        });
        values.push(RegisterValue {
            id: MrId::Pcr(4),
            value: fold(alg, z, &[b"bootloader"]),
        });
    }
    ExpectedRegisters::from_values(values).unwrap()
}

#[test]
fn small_log_replays_with_startup_locality_3_and_skips_no_action() {
    let (log, bounds) = small_log();
    let parsed = tcg::parse(&log, &ParseOptions::default()).unwrap();
    assert_eq!(parsed.format, LogFormat::CryptoAgile);
    assert_eq!(parsed.events.len(), bounds.len() - 1);
    assert_eq!(
        parsed.events[3].event_type,
        EventType::EV_EFI_VARIABLE_DRIVER_CONFIG
    );
    assert_eq!(parsed.startup_locality(), Some(3));
    let report = tcg::replay(&log, &TcgReplayConfig::pc_client(), &small_log_values()).unwrap();
    assert_eq!(report.startup_locality, Some(3));
    assert_eq!(report.outcome.entries, 6);
    assert_eq!(report.outcome.registers.len(), 6);
}

#[test]
fn every_truncation_fails_except_at_record_boundaries() {
    let (log, bounds) = small_log();
    for n in 0..log.len() {
        let r = tcg::parse(&log[..n], &ParseOptions::default());
        if bounds.contains(&n) && n > 0 {
            assert!(r.is_ok(), "prefix {n} ends at a record boundary");
            continue;
        }
        let p = parse_error(r);
        assert!(p.offset <= n as u64, "prefix {n}: offset {}", p.offset);
        if n == 0 {
            assert_eq!(p.kind, ParseErrorKind::Empty);
        } else {
            let record = bounds.iter().filter(|b| **b <= n).count() as u64 - 1;
            assert_eq!(p.entry, Some(record), "prefix {n}");
            // A cut that leaves only zero bytes of a record looks like zero padding, which the
            // strict parser refuses as such.
            let tail = &log[bounds[record as usize]..n];
            let zero_tail = tail.iter().all(|b| *b == 0);
            assert!(
                matches!(p.kind, ParseErrorKind::Truncated { .. })
                    || (zero_tail && matches!(p.kind, ParseErrorKind::Invalid(_))),
                "prefix {n}: {:?}",
                p.kind
            );
        }
    }
}

#[test]
fn every_flipped_digest_byte_of_a_measured_record_fails_the_replay() {
    let (log, bounds) = small_log();
    let expected = small_log_values();
    let parsed = tcg::parse(&log, &ParseOptions::default()).unwrap();
    let mut flipped = 0;
    for e in parsed.events.iter().filter(|e| !e.is_no_action()) {
        // Digests start after pcrIndex, eventType, digestCount; each is a u16 id + bytes.
        let start = e.offset as usize + 12;
        let mut at = start;
        for d in &e.digests {
            for i in 0..d.as_bytes().len() {
                let mut bad = log.clone();
                bad[at + 2 + i] ^= 0x01;
                let err = tcg::replay(&bad, &TcgReplayConfig::pc_client(), &expected).unwrap_err();
                let Error::Replay(r) = err else {
                    panic!("expected a replay mismatch, got {err}")
                };
                assert_eq!(r.mismatches.len(), 1);
                assert_eq!(r.mismatches[0].register, MrId::Pcr(e.index));
                assert_eq!(r.mismatches[0].alg, d.alg());
                flipped += 1;
            }
            at += 2 + d.as_bytes().len();
        }
    }
    assert_eq!(flipped, 4 * (20 + 32));
    assert_eq!(bounds.len(), 7);
}

#[test]
fn rejects_digest_count_that_differs_from_the_spec_id_event() {
    let mut log = header(&[(SHA1, 20), (SHA256, 32)], 0);
    let at = log.len();
    log.extend(event2(0, 1, &[(SHA1, vec![1; 20])], b"x"));
    let p = parse_error(tcg::parse(&log, &ParseOptions::default()));
    assert_eq!((p.entry, p.offset), (Some(1), at as u64 + 8));
    assert!(matches!(p.kind, ParseErrorKind::Invalid(_)));
    // The relaxation for hand-made fixtures accepts a subset...
    let relaxed = ParseOptions::default().with_digest_count(tcg::DigestCount::SubsetOfSpecId);
    assert!(tcg::parse(&log, &relaxed).is_ok());
    // ...but not more digests than algorithms, nor the same algorithm twice.
    let mut twice = header(&[(SHA1, 20), (SHA256, 32)], 0);
    twice.extend(event2(
        0,
        1,
        &[(SHA1, vec![1; 20]), (SHA1, vec![1; 20])],
        b"x",
    ));
    assert!(tcg::parse(&twice, &relaxed).is_err());
    assert!(tcg::parse(&twice, &ParseOptions::default()).is_err());
}

#[test]
fn rejects_event_size_beyond_the_limit_and_the_input() {
    let (mut log, bounds) = small_log();
    // eventSize of record 2 sits after its header (12 bytes) and two digests (22 + 34).
    let size_at = bounds[2] + 12 + 22 + 34;
    log[size_at..size_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let p = parse_error(tcg::parse(&log, &ParseOptions::default()));
    assert_eq!((p.entry, p.offset), (Some(2), size_at as u64));
    assert!(matches!(
        p.kind,
        ParseErrorKind::LengthTooLarge {
            len: 0xFFFF_FFFF,
            ..
        }
    ));
    // Below the cap but past the end of the input: truncated.
    log[size_at..size_at + 4].copy_from_slice(&100_000u32.to_le_bytes());
    let p = parse_error(tcg::parse(&log, &ParseOptions::default()));
    assert!(matches!(
        p.kind,
        ParseErrorKind::Truncated {
            needed: 100_000,
            ..
        }
    ));
    // A tightened cap applies.
    let (log, _) = small_log();
    let tight = ParseOptions::default().with_max_event_data(4);
    assert!(matches!(
        parse_error(tcg::parse(&log, &tight)).kind,
        ParseErrorKind::LengthTooLarge { .. }
    ));
}

#[test]
fn rejects_unknown_spec_id_algorithm_unless_told_to_skip_it() {
    let mut log = header(&[(SHA1, 20), (0x0027, 32)], 0); // 0x0027: SHA3-256, not supported
    log.extend(event2(
        0,
        1,
        &[(SHA1, vec![1; 20]), (0x0027, vec![2; 32])],
        b"x",
    ));
    let p = parse_error(tcg::parse(&log, &ParseOptions::default()));
    assert_eq!(p.entry, Some(0));
    assert!(matches!(p.kind, ParseErrorKind::UnknownAlgorithm(_)));
    let skip = ParseOptions::default().with_unknown_algorithms(UnknownAlgorithms::Skip);
    let parsed = tcg::parse(&log, &skip).unwrap();
    assert_eq!(parsed.banks(), vec![HashAlg::Sha1]);
    assert_eq!(parsed.events[1].digests.len(), 1);
}

#[test]
fn rejects_bad_spec_id_events() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("no algorithms", header(&[], 0)),
        ("wrong sha256 size", header(&[(SHA256, 20)], 0)),
        (
            "algorithm listed twice",
            header(&[(SHA1, 20), (SHA1, 20)], 0),
        ),
        ("too many algorithms", header(&[(SHA1, 20); 17], 0)),
    ];
    for (what, log) in cases {
        let p = parse_error(tcg::parse(&log, &ParseOptions::default()));
        assert_eq!(p.entry, Some(0), "{what}");
        assert_eq!(p.structure, "spec id event", "{what}");
    }
    // A nonzero digest in the header record.
    let mut log = header(&[(SHA1, 20)], 0);
    log[8] = 1;
    assert_eq!(
        parse_error(tcg::parse(&log, &ParseOptions::default())).entry,
        Some(0)
    );
    // Bytes after vendorInfo, inside the header's eventSize.
    let mut log = header(&[(SHA1, 20)], 0);
    log.push(0xAA);
    let size = u32::from_le_bytes(log[28..32].try_into().unwrap()) + 1;
    log[28..32].copy_from_slice(&size.to_le_bytes());
    assert!(matches!(
        parse_error(tcg::parse(&log, &ParseOptions::default())).kind,
        ParseErrorKind::Invalid(_)
    ));
}

#[test]
fn rejects_a_digest_for_an_algorithm_outside_the_spec_id_event() {
    let mut log = header(&[(SHA1, 20)], 0);
    log.extend(event2(0, 1, &[(SHA256, vec![1; 32])], b"x"));
    let p = parse_error(tcg::parse(&log, &ParseOptions::default()));
    assert_eq!(p.entry, Some(1));
    assert!(matches!(p.kind, ParseErrorKind::UnknownAlgorithm(_)));
}

#[test]
fn empty_input_is_a_typed_error() {
    assert_eq!(
        parse_error(tcg::parse(&[], &ParseOptions::default())).kind,
        ParseErrorKind::Empty
    );
    assert!(matches!(
        tcg::replay(&[], &TcgReplayConfig::pc_client(), &ComputeOnly),
        Err(Error::Parse(_))
    ));
    assert!(matches!(ccel::CcelTable::parse(&[]), Err(Error::Parse(_))));
}

#[test]
fn padding_is_accepted_only_when_allowed_and_only_as_a_uniform_fill() {
    let (log, bounds) = small_log();
    let end = *bounds.last().unwrap();
    let allow = ParseOptions::default().with_trailing(Trailing::AllowPadding);
    for fill in [0x00u8, 0xFF] {
        let mut padded = log.clone();
        padded.extend(std::iter::repeat_n(fill, 300));
        let p = parse_error(tcg::parse(&padded, &ParseOptions::default()));
        assert_eq!((p.entry, p.offset), (Some(6), end as u64));
        let parsed = tcg::parse(&padded, &allow).unwrap();
        assert_eq!(parsed.events.len(), 6);
        assert_eq!(
            parsed.end,
            LogEnd::Padding {
                offset: end as u64,
                len: 300,
                fill
            }
        );
    }
    // 0xFF padding with something after it is not padding.
    let mut bad = log.clone();
    bad.extend(std::iter::repeat_n(0xFFu8, 64));
    bad.push(0x01);
    let p = parse_error(tcg::parse(&bad, &allow));
    assert_eq!(p.entry, Some(6));
}

#[test]
fn startup_locality_and_hcrtm_set_pcr0_start_value() {
    let alg = HashAlg::Sha256;
    // Locality 5 does not exist.
    let mut log = header(&[(SHA1, 20), (SHA256, 32)], 0);
    log.extend(startup_locality(5));
    log.extend(measured(0, 1, b"x"));
    assert!(matches!(
        tcg::replay(&log, &TcgReplayConfig::pc_client(), &ComputeOnly),
        Err(Error::Parse(_))
    ));
    // Two different localities.
    let mut log = header(&[(SHA1, 20), (SHA256, 32)], 0);
    log.extend(startup_locality(0));
    log.extend(startup_locality(3));
    assert!(matches!(
        tcg::replay(&log, &TcgReplayConfig::pc_client(), &ComputeOnly),
        Err(Error::Parse(_))
    ));
    // H-CRTM as the first PCR 0 measurement: locality 4.
    let mut log = header(&[(SHA1, 20), (SHA256, 32)], 0);
    log.extend(measured(0, 0x8000_0010, b"HCRTM"));
    log.extend(measured(0, 1, b"x"));
    let report = tcg::replay(&log, &TcgReplayConfig::pc_client(), &ComputeOnly).unwrap();
    assert_eq!(report.startup_locality, Some(4));
    let pcr0 = report
        .outcome
        .registers
        .iter()
        .find(|r| r.id == MrId::Pcr(0) && r.value.alg() == alg)
        .unwrap();
    assert_eq!(
        pcr0.value,
        fold(alg, locality_start(alg, 4), &[b"HCRTM", b"x"])
    );
    // An H-CRTM event after another PCR 0 measurement does not change the start value.
    let mut log = header(&[(SHA1, 20), (SHA256, 32)], 0);
    log.extend(measured(0, 1, b"x"));
    log.extend(measured(0, 0x8000_0010, b"HCRTM"));
    assert_eq!(
        tcg::replay(&log, &TcgReplayConfig::pc_client(), &ComputeOnly)
            .unwrap()
            .startup_locality,
        None
    );
}

#[test]
fn pc_client_pcr_index_above_23_is_refused() {
    let mut log = header(&[(SHA1, 20), (SHA256, 32)], 0);
    log.extend(measured(24, 1, b"x"));
    let p = parse_error(tcg::replay(
        &log,
        &TcgReplayConfig::pc_client(),
        &ComputeOnly,
    ));
    assert_eq!(p.entry, Some(1));
    // An EV_NO_ACTION record on PCR -1 (Windows) is fine: it is never extended.
    let mut log = header(&[(SHA1, 20), (SHA256, 32)], 0);
    log.extend(no_action(0xFFFF_FFFF, b"windows"));
    log.extend(measured(1, 1, b"x"));
    assert_eq!(
        tcg::replay(&log, &TcgReplayConfig::pc_client(), &ComputeOnly)
            .unwrap()
            .outcome
            .entries,
        3
    );
}

fn ccel_log(records: &[Vec<u8>]) -> Vec<u8> {
    let mut log = header(&[(SHA384, 48)], 1);
    for r in records {
        log.extend_from_slice(r);
    }
    log
}

fn measured384(index: u32, data: &[u8]) -> Vec<u8> {
    event2(
        index,
        0x8000_0008,
        &[(SHA384, HashAlg::Sha384.hash(data).as_bytes().to_vec())],
        data,
    )
}

#[test]
fn ccel_indexes_map_to_rtmrs_and_mrtd_is_never_extended() {
    let mut log = ccel_log(&[measured384(1, b"a"), measured384(4, b"d")]);
    log.extend(std::iter::repeat_n(0xFFu8, 1000));
    let report = ccel::replay(&log, None, &TcgReplayConfig::ccel(), &ComputeOnly).unwrap();
    let ids: Vec<&MrId> = report.outcome.registers.iter().map(|r| &r.id).collect();
    assert_eq!(ids, vec![&MrId::Rtmr(0), &MrId::Rtmr(3)]);
    assert_eq!(
        report.outcome.registers[0].value,
        fold(HashAlg::Sha384, Digest::zero(HashAlg::Sha384), &[b"a"])
    );
    for bad in [0, 5] {
        let log = ccel_log(&[measured384(bad, b"a")]);
        let p = parse_error(ccel::replay(
            &log,
            None,
            &TcgReplayConfig::ccel(),
            &ComputeOnly,
        ));
        assert_eq!((p.format, p.entry), ("ccel", Some(1)), "index {bad}");
    }
    // A CCEL without a SHA-384 bank cannot be replayed into RTMRs.
    let mut log = header(&[(SHA256, 32)], 1);
    log.extend(event2(1, 1, &[(SHA256, vec![0; 32])], b""));
    assert!(ccel::replay(&log, None, &TcgReplayConfig::ccel(), &ComputeOnly).is_err());
}

fn table(cc_type: u8, laml: u64) -> Vec<u8> {
    let mut t = b"CCEL".to_vec();
    t.extend_from_slice(&56u32.to_le_bytes());
    t.push(1); // revision
    t.push(0); // checksum, fixed below
    t.extend_from_slice(b"OEMID\0");
    t.extend_from_slice(b"OEMTABLE");
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(b"MRCR");
    t.extend_from_slice(&1u32.to_le_bytes());
    t.push(cc_type);
    t.push(0);
    t.extend_from_slice(&[0, 0]);
    t.extend_from_slice(&laml.to_le_bytes());
    t.extend_from_slice(&0x1000u64.to_le_bytes());
    let sum = t.iter().fold(0u8, |s, b| s.wrapping_add(*b));
    t[9] = 0u8.wrapping_sub(sum);
    t
}

#[test]
fn ccel_table_is_validated_and_bounds_the_log() {
    let t = ccel::CcelTable::parse(&table(2, 4096)).unwrap();
    assert_eq!(
        (t.cc_type, t.log_area_min_len, t.log_area_start),
        (ccel::CcType::TDX, 4096, 0x1000)
    );
    for n in 0..56 {
        assert!(
            matches!(
                ccel::CcelTable::parse(&table(2, 4096)[..n]),
                Err(Error::Parse(_))
            ),
            "prefix {n}"
        );
    }
    let mut bad_sum = table(2, 4096);
    bad_sum[20] ^= 1;
    assert_eq!(parse_error(ccel::CcelTable::parse(&bad_sum)).offset, 9);
    let mut bad_sig = table(2, 4096);
    bad_sig[0] = b'X';
    assert!(ccel::CcelTable::parse(&bad_sig).is_err());
    let mut long = table(2, 4096);
    long.push(0);
    assert!(ccel::CcelTable::parse(&long).is_err());
    assert!(ccel::CcelTable::parse(&table(0, 4096)).is_err());
    assert!(ccel::CcelTable::parse(&table(2, 0)).is_err());
    assert!(ccel::CcelTable::parse(&table(2, u64::MAX)).is_err());

    // LAML bounds the area: records past it are not read.
    let log = ccel_log(&[measured384(1, b"a")]);
    let cut = log.len();
    let mut area = log.clone();
    area.extend(measured384(2, b"beyond laml"));
    let t = ccel::CcelTable::parse(&table(2, cut as u64)).unwrap();
    let report = ccel::replay(&area, Some(&t), &TcgReplayConfig::ccel(), &ComputeOnly).unwrap();
    assert_eq!(report.outcome.entries, 2);
    // An SEV table is not a TDX log.
    let sev = ccel::CcelTable::parse(&table(1, 4096)).unwrap();
    assert!(ccel::replay(&log, Some(&sev), &TcgReplayConfig::ccel(), &ComputeOnly).is_err());
}

#[test]
fn legacy_sha1_log_replays_only_the_sha1_bank() {
    let mut log = Vec::new();
    for (pcr, data) in [(0u32, &b"a"[..]), (4, b"b")] {
        log.extend_from_slice(&pcr.to_le_bytes());
        log.extend_from_slice(&1u32.to_le_bytes());
        log.extend_from_slice(HashAlg::Sha1.hash(data).as_bytes());
        log.extend_from_slice(&(data.len() as u32).to_le_bytes());
        log.extend_from_slice(data);
    }
    let report = tcg::replay(&log, &TcgReplayConfig::pc_client(), &ComputeOnly).unwrap();
    assert_eq!(report.format, LogFormat::Sha1);
    assert_eq!(report.banks, vec![HashAlg::Sha1]);
    assert_eq!(report.outcome.registers.len(), 2);
    // Asking for a bank the log does not have is an error, not an empty replay.
    let cfg = TcgReplayConfig::pc_client().with_banks(vec![HashAlg::Sha256]);
    assert!(matches!(
        tcg::replay(&log, &cfg, &ComputeOnly),
        Err(Error::Parse(_))
    ));
    // eventSize past the end.
    let mut bad = log.clone();
    bad[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
    let p = parse_error(tcg::parse(&bad, &ParseOptions::default()));
    assert_eq!((p.entry, p.offset), (Some(0), 28));
}

#[test]
fn boot_aggregate_covers_pcrs_0_to_7_for_sha1_and_0_to_9_otherwise() {
    let v = |n: u32, alg: HashAlg| RegisterValue {
        id: MrId::Pcr(n),
        value: alg.hash(&[n as u8]),
    };
    for alg in [HashAlg::Sha1, HashAlg::Sha256] {
        let values: Vec<RegisterValue> = (0..10).map(|n| v(n, alg)).collect();
        let last = if alg == HashAlg::Sha1 { 8 } else { 10 };
        let cat: Vec<u8> = values[..last]
            .iter()
            .flat_map(|r| r.value.as_bytes().to_vec())
            .collect();
        assert_eq!(boot_aggregate(&values, alg), alg.hash(&cat));
    }
    // Missing PCRs count as zero.
    let zeros = vec![0u8; 32 * 10];
    assert_eq!(
        boot_aggregate(&[], HashAlg::Sha256),
        HashAlg::Sha256.hash(&zeros)
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = tcg::parse(&bytes, &ParseOptions::default());
        let _ = tcg::replay(&bytes, &TcgReplayConfig::pc_client(), &ComputeOnly);
        let _ = ccel::replay(&bytes, None, &TcgReplayConfig::ccel(), &ComputeOnly);
        let _ = ccel::CcelTable::parse(&bytes);
    }

    #[test]
    fn mutated_logs_never_panic(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let (mut log, _) = small_log();
        for (i, b) in edits {
            let at = i.index(log.len());
            log[at] = b;
        }
        let _ = tcg::replay(&log, &TcgReplayConfig::pc_client(), &small_log_values());
        let allow = ParseOptions::default().with_trailing(Trailing::AllowPadding);
        let _ = tcg::parse(&log, &allow);
    }
}

#[test]
fn tampered_checkable_data_is_rejected_even_when_the_pcrs_match() {
    let (log, _) = small_log();
    let expected = small_log_values();
    let parsed = tcg::parse(&log, &ParseOptions::default()).unwrap();
    let sep = parsed
        .events
        .iter()
        .find(|e| e.event_type == EventType::EV_SEPARATOR)
        .unwrap();
    assert_eq!(sep.data_check(), DataCheck::Verified(Hashed::EventData));
    assert_eq!(sep.decode(Some(2)).unwrap(), EventData::Separator(0));
    // Same digests (the PCRs still match), different data: the data is not what was measured.
    let mut bad = log.clone();
    bad[sep.data_offset as usize] = 1;
    let err = tcg::replay(&bad, &TcgReplayConfig::pc_client(), &expected).unwrap_err();
    let Error::EntryDigest(m) = err else {
        panic!("expected an entry digest mismatch, got {err}")
    };
    assert_eq!((m.entry, m.register.clone()), (sep.record, MrId::Pcr(7)));
    assert_eq!(m.computed, m.alg.hash(&[1, 0, 0, 0]));
    // Report-only: the values verify and the record is listed.
    let cfg = TcgReplayConfig::pc_client().with_data_check(DataCheckPolicy::Report);
    let report = tcg::replay(&bad, &cfg, &expected).unwrap();
    assert_eq!(report.data_checks.failure_count, 1);
    assert_eq!(report.data_checks.failures[0].0, sep.record);
    assert!(matches!(
        report.data_checks.failures[0].1,
        DataCheck::Mismatch { .. }
    ));
    // Untampered: the variable and the separator are verified, the blob and the image are not
    // checkable.
    let report = tcg::replay(&log, &TcgReplayConfig::pc_client(), &expected).unwrap();
    assert_eq!(report.data_checks.verified, 2);
    assert_eq!(report.data_checks.not_checkable, 2);
}

#[test]
fn variable_event_whose_lengths_disagree_with_its_size_is_malformed() {
    let mut var = secure_boot_variable();
    var.push(0); // one byte more than the structure announces
    let mut log = header(&[(SHA1, 20), (SHA256, 32)], 0);
    log.extend(measured(7, 0x8000_0001, &var));
    let p = parse_error(tcg::replay(
        &log,
        &TcgReplayConfig::pc_client(),
        &ComputeOnly,
    ));
    assert_eq!(p.entry, Some(1));
    assert_eq!(p.structure, "event data");
    // A huge name length is bounded, not allocated.
    let mut var = secure_boot_variable();
    var[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut log = header(&[(SHA1, 20), (SHA256, 32)], 0);
    log.extend(measured(7, 0x8000_0001, &var));
    let parsed = tcg::parse(&log, &ParseOptions::default()).unwrap();
    let e = &parsed.events[1];
    assert!(matches!(e.data_check(), DataCheck::Malformed(_)));
    assert!(matches!(
        parse_error(e.decode(None)).kind,
        ParseErrorKind::LengthTooLarge { .. }
    ));
}

#[test]
fn boot_variable_may_hash_its_value_or_the_whole_structure() {
    let boot = uefi_variable([7; 16], "BootOrder", &[1, 0, 2, 0]);
    let value = &boot[boot.len() - 4..];
    for (digest_of, how) in [
        (value, Hashed::VariableValue),
        (&boot[..], Hashed::EventData),
    ] {
        let mut log = header(&[(SHA1, 20), (SHA256, 32)], 0);
        log.extend(event2(
            1,
            0x8000_0002,
            &[
                (SHA1, HashAlg::Sha1.hash(digest_of).as_bytes().to_vec()),
                (SHA256, HashAlg::Sha256.hash(digest_of).as_bytes().to_vec()),
            ],
            &boot,
        ));
        let parsed = tcg::parse(&log, &ParseOptions::default()).unwrap();
        assert_eq!(parsed.events[1].data_check(), DataCheck::Verified(how));
        let EventData::Variable(v) = parsed.events[1].decode(None).unwrap() else {
            panic!("not a variable")
        };
        assert_eq!((v.name.as_str(), v.data), ("BootOrder", value));
    }
    // The name hashed alone is neither.
    let mut log = header(&[(SHA1, 20), (SHA256, 32)], 0);
    log.extend(measured(1, 0x8000_0002, &boot).to_vec());
    let n = log.len();
    log[n - 1] ^= 1; // data changed after hashing
    let parsed = tcg::parse(&log, &ParseOptions::default()).unwrap();
    assert!(matches!(
        parsed.events[1].data_check(),
        DataCheck::Mismatch { .. }
    ));
}

#[test]
fn image_load_and_tagged_events_decode_their_fixed_fields() {
    let mut image = 0x1000u64.to_le_bytes().to_vec();
    image.extend(0x2000u64.to_le_bytes());
    image.extend(0u64.to_le_bytes());
    image.extend(4u64.to_le_bytes());
    image.extend([0x7f, 0xff, 0x04, 0x00]); // end-of-device-path node
    let mut tagged = 0x8F3B_22ECu32.to_le_bytes().to_vec();
    tagged.extend(12u32.to_le_bytes());
    tagged.extend(b"Linux initrd");
    let mut log = header(&[(SHA1, 20), (SHA256, 32)], 0);
    log.extend(measured(4, 0x8000_0003, &image));
    log.extend(measured(9, 6, &tagged));
    let parsed = tcg::parse(&log, &ParseOptions::default()).unwrap();
    let spec = parsed.spec_id.as_ref().map(|s| s.uintn_size);
    let EventData::ImageLoad(i) = parsed.events[1].decode(spec).unwrap() else {
        panic!("not an image load")
    };
    assert_eq!(
        (i.location, i.length, i.device_path),
        (0x1000, 0x2000, &[0x7f, 0xff, 0x04, 0x00][..])
    );
    assert_eq!(parsed.events[1].data_check(), DataCheck::NotCheckable);
    assert_eq!(
        parsed.events[2].decode(spec).unwrap(),
        EventData::Tagged {
            id: 0x8F3B_22EC,
            data: b"Linux initrd"
        }
    );
    // A device-path length beyond the data is refused.
    image[24..32].copy_from_slice(&5u64.to_le_bytes());
    let mut log = header(&[(SHA1, 20), (SHA256, 32)], 0);
    log.extend(measured(4, 0x8000_0003, &image));
    let parsed = tcg::parse(&log, &ParseOptions::default()).unwrap();
    assert!(parsed.events[1].decode(spec).is_err());
}

#[test]
fn streaming_reader_yields_the_parsed_records_then_stops_at_the_first_error() {
    let (log, bounds) = small_log();
    let parsed = tcg::parse(&log, &ParseOptions::default()).unwrap();
    let mut it = tcg::events(&log, &ParseOptions::default()).unwrap();
    assert_eq!(it.format(), LogFormat::CryptoAgile);
    assert_eq!(it.spec_id(), parsed.spec_id.as_ref());
    let streamed: Vec<_> = it.by_ref().map(Result::unwrap).collect();
    assert_eq!(streamed, parsed.events);
    assert_eq!(it.end(), Some(LogEnd::EndOfInput));
    // Cut inside record 3: records 0-2 stream, then one error, then nothing.
    let cut = &log[..bounds[3] + 5];
    let mut it = tcg::events(cut, &ParseOptions::default()).unwrap();
    for _ in 0..3 {
        assert!(it.next().unwrap().is_ok());
    }
    let Some(Err(Error::Parse(p))) = it.next() else {
        panic!("expected a parse error")
    };
    assert_eq!(p.entry, Some(3));
    assert!(it.next().is_none());
    assert_eq!(it.end(), None);
}
