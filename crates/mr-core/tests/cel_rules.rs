//! The rules a CEL replay enforces beyond the register values (issue 14):
//!
//! - item 4: a record counts as verified only when it carries a digest of a verified bank and
//!   that digest was checked; a record with none is refused by an exact replay (naming its
//!   position, record number, register and why) and counted as not covered otherwise;
//! - record numbers must increase (no duplicate, no decrease; gaps allowed);
//! - the streaming reader gives the same records as the whole-input one, whatever the chunks
//!   the input arrives in, and the replay stops at the first bad record.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::ComputeOnly;
use std::io::BufReader;

use mr_core::error::ParseErrorKind;
use mr_core::log::cel::{
    self, CelIndex, CelRecord, CelReplayConfig, CelReplayReport, Content, Encoding,
};
use mr_core::log::ima::{sample, ImaReaderOptions, ListKind};
use mr_core::log::tcg::EventType;
use mr_core::replay::{PrefixPolicy, ReplayOptions};
use mr_core::{Digest, Error, ExpectedRegisters, HashAlg, MrId, RegisterValue};

const ENCODINGS: [Encoding; 3] = [Encoding::Tlv, Encoding::Json, Encoding::Cbor];

fn ima_record(recnum: u64, pcr: u32, banks: &[HashAlg], data: &[u8]) -> CelRecord {
    CelRecord {
        recnum,
        index: CelIndex::Pcr(pcr),
        digests: banks.iter().map(|b| b.hash(data)).collect(),
        content: Content::ImaTemplate {
            template_name: "ima-ng".into(),
            template_data: data.to_vec(),
        },
    }
}

/// The values `records` replay to, as verified values (only those of `banks`).
fn verified(records: &[CelRecord], banks: &[HashAlg]) -> ExpectedRegisters {
    let r = cel::replay_records(records, &CelReplayConfig::default(), &ComputeOnly).unwrap();
    ExpectedRegisters::from_values(
        r.outcome
            .registers
            .into_iter()
            .filter(|v: &RegisterValue| banks.contains(&v.value.alg())),
    )
    .unwrap()
}

fn exact() -> CelReplayConfig {
    CelReplayConfig::default()
        .with_replay(ReplayOptions::default().with_prefix(PrefixPolicy::Exact))
}

fn replay(
    records: &[CelRecord],
    cfg: &CelReplayConfig,
    v: &ExpectedRegisters,
) -> Result<CelReplayReport, Error> {
    cel::replay_records(records, cfg, v).map(|c| c.into_report())
}

/// An `ima_template` record without digests among good SHA-256 records: refused by an exact
/// replay with its position, record number and register; counted as not covered otherwise.
#[test]
fn a_record_without_digests_is_not_covered() {
    let s = [HashAlg::Sha256];
    let mut records = vec![ima_record(0, 10, &s, b"a"), ima_record(1, 10, &s, b"b")];
    let v = verified(&records, &s);
    records.insert(1, ima_record(5, 10, &[], b"planted"));
    records[2].recnum = 6;
    let Err(Error::NotCovered(n)) = replay(&records, &exact(), &v) else {
        panic!("an exact replay must refuse the record without digests")
    };
    assert_eq!((n.entry, n.number, &n.register), (1, 5, &MrId::Pcr(10)));
    assert!(n.reason.contains("no digest"), "{}", n.reason);
    let e = Error::NotCovered(n);
    assert_eq!(e.class(), mr_core::ErrorClass::Rejected);
    assert!(e.to_string().contains("record number 5"), "{e}");

    let report = replay(&records, &CelReplayConfig::default(), &v).unwrap();
    assert_eq!(report.checks.not_covered, 1);
    assert_eq!(report.checks.first_not_covered, Some(5));
    assert_eq!(report.checks.verified, 2);
    assert_eq!(report.outcome.covered, Some(3));
}

/// A record whose only digest is of a bank with no verified value: its content checks against
/// that digest, but nothing verified vouches for it.
#[test]
fn a_record_with_only_an_unverified_bank_is_not_covered() {
    let both = [HashAlg::Sha1, HashAlg::Sha256];
    let mut records = vec![
        ima_record(0, 10, &both, b"a"),
        ima_record(1, 10, &both, b"b"),
    ];
    let v = verified(&records, &[HashAlg::Sha256]);
    // SHA-1 only: consistent with its content, extends the unverified SHA-1 bank.
    records.push(ima_record(2, 10, &[HashAlg::Sha1], b"planted"));
    let Err(Error::NotCovered(n)) = replay(&records, &exact(), &v) else {
        panic!("an exact replay must refuse the SHA-1-only record")
    };
    assert_eq!((n.entry, n.number, &n.register), (2, 2, &MrId::Pcr(10)));
    assert!(n.reason.contains("sha1"), "{}", n.reason);
    let report = replay(&records, &CelReplayConfig::default(), &v).unwrap();
    assert_eq!((report.checks.verified, report.checks.not_covered), (2, 1));
    assert_eq!(report.checks.first_not_covered, Some(2));
    // Replaying only SHA-1 leaves the verified SHA-256 value unreached by no record: every
    // record is then not covered.
    let sha1 = exact().with_banks(vec![HashAlg::Sha1]);
    assert!(matches!(
        replay(&records, &sha1, &v),
        Err(Error::NotCovered(n)) if n.entry == 0
    ));
}

/// A record of a register with no verified value (PCR 11 when PCR 10 is verified).
#[test]
fn a_record_of_an_unverified_register_is_not_covered() {
    let s = [HashAlg::Sha256];
    let mut records = vec![ima_record(0, 10, &s, b"a")];
    let v = verified(&records, &s);
    records.push(ima_record(1, 11, &s, b"elsewhere"));
    let Err(Error::NotCovered(n)) = replay(&records, &exact(), &v) else {
        panic!("an exact replay must refuse the PCR 11 record")
    };
    assert_eq!((n.entry, n.number, &n.register), (1, 1, &MrId::Pcr(11)));
    let report = replay(&records, &CelReplayConfig::default(), &v).unwrap();
    assert_eq!((report.checks.verified, report.checks.not_covered), (1, 1));
}

/// Without verified values, nothing is verified: every extending record is not covered, and
/// an exact replay has nothing to refuse against.
#[test]
fn without_verified_values_no_record_is_verified() {
    let s = [HashAlg::Sha256];
    let records = vec![ima_record(3, 10, &s, b"a"), ima_record(4, 10, &s, b"b")];
    for cfg in [CelReplayConfig::default(), exact()] {
        let report = cel::replay_records(&records, &cfg, &ComputeOnly).unwrap();
        assert_eq!(report.checks.verified, 0);
        assert_eq!(report.checks.not_covered, 2);
        assert_eq!(report.checks.first_not_covered, Some(3));
    }
}

/// Per content type: checkable PC-Client events and COS content are verified, other content is
/// covered but not checkable, EV_NO_ACTION records are in no count, violations are counted.
#[test]
fn what_checked_means_for_each_content_type() {
    let s = HashAlg::Sha256;
    let pc = |recnum, event_type: EventType, data: &[u8], digest: Digest| CelRecord {
        recnum,
        index: CelIndex::Pcr(4),
        digests: vec![digest],
        content: Content::PcClient {
            event_type: event_type.0,
            event_data: data.to_vec(),
        },
    };
    let records = vec![
        pc(0, EventType::EV_NO_ACTION, b"spec id", Digest::zero(s)),
        // EV_SEPARATOR: its digest is the hash of its data (checkable).
        pc(1, EventType::EV_SEPARATOR, &[0; 4], s.hash(&[0; 4])),
        // EV_EFI_BOOT_SERVICES_APPLICATION: the digest is of the image, not in the log.
        pc(
            2,
            EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
            b"dp",
            s.hash(b"image"),
        ),
        CelRecord {
            recnum: 3,
            index: CelIndex::Pcr(4),
            digests: vec![s.hash(b"anything")],
            content: Content::ImaTlv(vec![1, 2]),
        },
        CelRecord {
            recnum: 4,
            index: CelIndex::Pcr(10),
            digests: vec![Digest::zero(s)],
            content: Content::ImaTemplate {
                template_name: "ima-ng".into(),
                template_data: b"violation".to_vec(),
            },
        },
    ];
    let v = verified(&records, &[s]);
    let report = replay(&records, &exact(), &v).unwrap();
    let c = report.checks;
    assert_eq!(
        (c.verified, c.not_checkable, c.violations, c.not_covered),
        (1, 2, 1, 0)
    );
}

/// A content that disagrees with a digest of an unverified bank still fails the replay.
#[test]
fn a_mismatch_in_any_bank_fails_even_when_not_covered() {
    let s = [HashAlg::Sha256];
    let mut records = vec![ima_record(0, 10, &s, b"a")];
    let v = verified(&records, &s);
    let mut bad = ima_record(1, 10, &[HashAlg::Sha1], b"b");
    bad.digests = vec![HashAlg::Sha1.hash(b"not b")];
    records.push(bad);
    assert!(replay(&records, &CelReplayConfig::default(), &v).is_err());
}

fn encoded(records: &[CelRecord], enc: Encoding) -> Vec<u8> {
    cel::encode(records, enc).unwrap()
}

/// A duplicate and a decreasing record number are refused in every encoding, naming the
/// position and both numbers; gaps and a first number above 0 are accepted.
#[test]
fn record_numbers_must_increase() {
    let s = [HashAlg::Sha256];
    for enc in ENCODINGS {
        for (numbers, bad) in [
            (
                vec![0, 1, 1],
                Some((
                    2,
                    "recnum 1 repeats the recnum 1 of the previous record of pcr 10",
                )),
            ),
            (
                vec![5, 9, 7],
                Some((
                    2,
                    "recnum 7 is below the recnum 9 of the previous record of pcr 10",
                )),
            ),
            (
                vec![0, 1, 0],
                Some((
                    2,
                    "recnum 0 is below the recnum 1 of the previous record of pcr 10",
                )),
            ),
            (vec![3, 10, 1 << 40], None),
        ] {
            let records: Vec<CelRecord> = numbers
                .iter()
                .map(|n| ima_record(*n, 10, &s, &n.to_be_bytes()))
                .collect();
            let bytes = encoded(&records, enc);
            match (cel::decode(&bytes, enc), bad) {
                (Ok(back), None) => assert_eq!(back, records),
                (Err(Error::Parse(p)), Some((position, msg))) => {
                    assert_eq!(p.entry, Some(position), "{enc} {numbers:?}");
                    assert_eq!(p.structure, "recnum");
                    let ParseErrorKind::Invalid(text) = &p.kind else {
                        panic!("{p}")
                    };
                    assert!(text.contains(msg), "{enc}: {text}");
                    // The offset is the record's: after the first two (JSON: after their
                    // array's "[\n" and the ",\n" that follows them).
                    let two = cel::encode(&records[..2], enc).unwrap().len() as u64;
                    let at = if enc == Encoding::Json { two - 1 } else { two };
                    assert_eq!(p.offset, at, "{enc}: {p}");
                }
                (r, bad) => panic!("{enc} {numbers:?}: {r:?}, expected {bad:?}"),
            }
            // The streaming replay refuses it too, before finishing.
            let r = cel::replay(&bytes[..], enc, &CelReplayConfig::default(), &ComputeOnly);
            assert_eq!(r.is_err(), bad.is_some(), "{enc} {numbers:?}");
        }
    }
}

/// libcel numbers the records of each register from 0, go-tpm-tools the whole log: both are
/// increasing within every register and accepted; a repeat within one register is refused.
#[test]
fn record_numbers_increase_within_each_register() {
    let s = [HashAlg::Sha256];
    for enc in ENCODINGS {
        // libcel: PCR 10 and PCR 11 interleaved, each numbered from 0.
        let per_register: Vec<CelRecord> = [(0, 10), (0, 11), (1, 10), (1, 11), (2, 11)]
            .iter()
            .map(|(n, pcr)| ima_record(*n, *pcr, &s, &[*n as u8, *pcr as u8]))
            .collect();
        let bytes = encoded(&per_register, enc);
        assert_eq!(cel::decode(&bytes, enc).unwrap(), per_register, "{enc}");
        // The same with PCR 11's second record numbered like its first.
        let mut repeated = per_register.clone();
        repeated[3].recnum = 0;
        let bytes = encoded(&repeated, enc);
        match cel::decode(&bytes, enc) {
            Err(Error::Parse(p)) => {
                assert_eq!(p.entry, Some(3), "{enc}: {p}");
                assert!(p.to_string().contains("of pcr 11"), "{enc}: {p}");
            }
            other => panic!("{enc}: {other:?}"),
        }
    }
}

/// JSON records without `recnum` are numbered by their position, and the rule applies.
#[test]
fn json_records_without_recnum_are_numbered_by_position() {
    let text = br#"{"pcr": 1, "content_type": 4, "content": {"type": "firmware_end"}}
        {"pcr": 1, "content_type": 4, "content": {"type": "firmware_end"}}"#;
    let r = cel::decode(text, Encoding::Json).unwrap();
    assert_eq!(r.iter().map(|r| r.recnum).collect::<Vec<_>>(), [0, 1]);
    let text = br#"{"recnum": 4, "pcr": 1, "content_type": 4, "content": {"type": "firmware_end"}}
        {"pcr": 1, "content_type": 4, "content": {"type": "firmware_end"}}"#;
    assert!(matches!(
        cel::decode(text, Encoding::Json),
        Err(Error::Parse(p)) if p.entry == Some(1)
    ));
}

fn sample_records(entries: u64) -> Vec<CelRecord> {
    let mut list = Vec::new();
    sample::write_sample_list(
        &mut list,
        ListKind::Binary,
        entries,
        &[HashAlg::Sha1, HashAlg::Sha256],
        11,
    )
    .unwrap();
    cel::from_ima(&list[..], ImaReaderOptions::default(), &[]).unwrap()
}

/// The streaming reader over an input that arrives one byte at a time (and seven at a time)
/// gives the records of the whole-input reader, in every encoding; JSON with comments, blanks
/// and trailing commas too.
#[test]
fn records_are_the_same_whatever_the_chunks_of_the_input() {
    let records = sample_records(40);
    let mut inputs: Vec<(Encoding, Vec<u8>)> = ENCODINGS
        .iter()
        .map(|e| (*e, encoded(&records, *e)))
        .collect();
    // The JSON again, relaxed: a comment and blanks between records, a trailing comma.
    let json = String::from_utf8(encoded(&records, Encoding::Json)).unwrap();
    let relaxed = json
        .replace(",\n", " , // a comment, with \"quotes\" and ] brackets\n\t")
        .replace("\n]", ",\n/* the end */ ]");
    inputs.push((Encoding::Json, relaxed.into_bytes()));
    for (enc, bytes) in inputs {
        for chunk in [1, 7, 4096] {
            let mut got = Vec::new();
            let n = cel::read_records(BufReader::with_capacity(chunk, &bytes[..]), enc, |r| {
                got.push(r);
                Ok(())
            })
            .unwrap();
            assert_eq!(n, 40);
            assert_eq!(got, records, "{enc} in chunks of {chunk}");
        }
    }
}

/// The replay of a stream is the replay of the records, and a bad record stops the reading:
/// no record after it is read.
#[test]
fn the_streaming_replay_is_the_replay_of_the_records() {
    let records = sample_records(200);
    let whole = cel::replay_records(&records, &CelReplayConfig::default(), &ComputeOnly).unwrap();
    for enc in ENCODINGS {
        let bytes = encoded(&records, enc);
        let streamed = cel::replay(
            BufReader::with_capacity(3, &bytes[..]),
            enc,
            &CelReplayConfig::default(),
            &ComputeOnly,
        )
        .unwrap();
        assert_eq!(streamed, whole, "{enc}");
    }
    // The visitor's error stops the reader.
    let bytes = encoded(&records, Encoding::Tlv);
    let mut seen = 0;
    let r = cel::read_records(&bytes[..], Encoding::Tlv, |_| {
        seen += 1;
        if seen == 3 {
            return Err(Error::Parse(mr_core::error::ParseError {
                format: "test",
                structure: "stop",
                offset: 0,
                entry: None,
                kind: ParseErrorKind::Empty,
            }));
        }
        Ok(())
    });
    assert!(r.is_err());
    assert_eq!(seen, 3);
}

/// The CEL writer writes what `encode` writes, one record at a time; CBOR as a sequence (an
/// empty log as an empty array), JSON as an array.
#[test]
fn the_writer_streams_what_encode_writes() {
    let records = sample_records(5);
    for enc in ENCODINGS {
        let mut w = cel::CelWriter::new(Vec::new(), enc);
        for r in &records {
            w.write(r).unwrap();
        }
        assert_eq!(w.finish().unwrap(), encoded(&records, enc));
        assert_eq!(cel::decode(&encoded(&records, enc), enc).unwrap(), records);
    }
    assert_eq!(encoded(&[], Encoding::Cbor), [0x80]);
    assert_eq!(encoded(&[], Encoding::Json), b"[\n]\n");
    assert!(cel::decode(&[0x80], Encoding::Cbor).unwrap().is_empty());
    // CBOR: a sequence of record maps, no array head.
    assert_eq!(encoded(&records, Encoding::Cbor)[0] >> 5, 5);
}

/// A StartupLocality record after the first measurement cannot set PCR 0's start value any
/// more (the records stream by): it is refused, not silently ignored.
#[test]
fn a_late_startup_locality_record_is_refused() {
    let s = HashAlg::Sha256;
    let mut locality = b"StartupLocality\0".to_vec();
    locality.push(3);
    let no_action = |recnum| CelRecord {
        recnum,
        index: CelIndex::Pcr(0),
        digests: vec![Digest::zero(s)],
        content: Content::PcClient {
            event_type: EventType::EV_NO_ACTION.0,
            event_data: locality.clone(),
        },
    };
    let measure = |recnum| CelRecord {
        recnum,
        index: CelIndex::Pcr(0),
        digests: vec![s.hash(b"crtm")],
        content: Content::PcClient {
            event_type: EventType::EV_S_CRTM_VERSION.0,
            event_data: b"v".to_vec(),
        },
    };
    let early = cel::replay_records(
        &[no_action(0), measure(1)],
        &CelReplayConfig::default(),
        &ComputeOnly,
    )
    .unwrap();
    assert_eq!(early.startup_locality, Some(3));
    let mut start = [0u8; 32];
    start[31] = 3;
    let mut pcr0 = Digest::new(s, &start).unwrap();
    pcr0.extend(s.hash(b"crtm").as_bytes());
    assert_eq!(early.outcome.registers[0].value, pcr0);
    let late = cel::replay_records(
        &[measure(0), no_action(1)],
        &CelReplayConfig::default(),
        &ComputeOnly,
    );
    assert!(matches!(late, Err(Error::Parse(p)) if p.entry == Some(1)));
}

/// More registers than a CEL may extend (NV indexes are the input's to choose) is refused.
#[test]
fn the_number_of_registers_is_bounded() {
    let records: Vec<CelRecord> = (0..=cel::MAX_CEL_REGISTERS as u32)
        .map(|i| CelRecord {
            recnum: u64::from(i),
            index: CelIndex::NvIndex(0x0150_0000 + i),
            digests: vec![HashAlg::Sha256.hash(b"x")],
            content: Content::ImaTlv(vec![]),
        })
        .collect();
    let r = cel::replay_records(&records, &CelReplayConfig::default(), &ComputeOnly);
    assert!(
        matches!(&r, Err(Error::Parse(p)) if p.entry == Some(cel::MAX_CEL_REGISTERS as u64)),
        "{r:?}"
    );
    assert!(cel::replay_records(
        &records[..cel::MAX_CEL_REGISTERS],
        &CelReplayConfig::default(),
        &ComputeOnly
    )
    .is_ok());
}

fn pc(recnum: u64, pcr: u32, event_type: EventType, data: &[u8], digest: Digest) -> CelRecord {
    CelRecord {
        recnum,
        index: CelIndex::Pcr(pcr),
        digests: vec![digest],
        content: Content::PcClient {
            event_type: event_type.0,
            event_data: data.to_vec(),
        },
    }
}

fn startup_locality_record(recnum: u64, pcr: u32, data: &[u8]) -> CelRecord {
    pc(
        recnum,
        pcr,
        EventType::EV_NO_ACTION,
        data,
        Digest::zero(HashAlg::Sha256),
    )
}

/// PCR 0's value after one extension with `H(m)` from locality `l`.
fn pcr0_after(l: u8, m: &[u8]) -> Digest {
    let s = HashAlg::Sha256;
    let mut start = [0u8; 32];
    start[31] = l;
    let mut v = Digest::new(s, &start).unwrap();
    v.extend(s.hash(m).as_bytes());
    v
}

fn pcr0(report: &CelReplayReport) -> Digest {
    report
        .outcome
        .registers
        .iter()
        .find(|v| v.id == MrId::Pcr(0))
        .unwrap()
        .value
}

/// Which records set PCR 0's start locality: a StartupLocality EV_NO_ACTION record on PCR 0
/// with a locality up to 4 (not on PCR 1, not with another signature, not locality 5), or —
/// without one, with `HcrtmStart::FromEvent` — a first extending record that is an H-CRTM event
/// on PCR 0; a caller's start value for PCR 0 wins over both.
#[test]
fn what_sets_the_start_locality_of_pcr0() {
    use mr_core::log::tcg::HcrtmStart;
    let s = HashAlg::Sha256;
    let mut sl = b"StartupLocality\0".to_vec();
    sl.push(3);
    let mut other_sig = b"StartupLocalitx\0".to_vec();
    other_sig.push(3);
    let mut five = b"StartupLocality\0".to_vec();
    five.push(5);
    let crtm = |recnum| pc(recnum, 0, EventType::EV_S_CRTM_VERSION, b"v", s.hash(b"m"));
    let hcrtm = |recnum, pcr| {
        pc(
            recnum,
            pcr,
            EventType::EV_EFI_HCRTM_EVENT,
            b"h",
            s.hash(b"m"),
        )
    };
    let cfg = CelReplayConfig::default();
    let run = |records: &[CelRecord], cfg: &CelReplayConfig| {
        cel::replay_records(records, cfg, &ComputeOnly).unwrap()
    };
    for (records, locality) in [
        (vec![startup_locality_record(0, 0, &sl), crtm(1)], Some(3)),
        (vec![startup_locality_record(0, 1, &sl), crtm(1)], None),
        (
            vec![startup_locality_record(0, 0, &other_sig), crtm(1)],
            None,
        ),
        (vec![startup_locality_record(0, 0, &five), crtm(1)], None),
        (vec![crtm(0)], None),
        (vec![hcrtm(0, 0)], Some(4)),
        (vec![hcrtm(0, 1), hcrtm(1, 0)], None),
        (
            vec![startup_locality_record(0, 0, &sl), hcrtm(1, 0)],
            Some(3),
        ),
    ] {
        let r = run(&records, &cfg);
        assert_eq!(r.startup_locality, locality, "{records:?}");
        if records
            .iter()
            .any(|r| r.index == CelIndex::Pcr(0) && r.digests[0] == s.hash(b"m"))
        {
            assert_eq!(
                pcr0(&r),
                pcr0_after(locality.unwrap_or(0), b"m"),
                "{records:?}"
            );
        }
    }
    // HcrtmStart::Ignore: an H-CRTM event does not move the start.
    let mut ignore = CelReplayConfig::default();
    ignore.hcrtm = HcrtmStart::Ignore;
    assert_eq!(run(&[hcrtm(0, 0)], &ignore).startup_locality, None);
    assert_eq!(pcr0(&run(&[hcrtm(0, 0)], &ignore)), pcr0_after(0, b"m"));
    // The caller's start value for PCR 0 wins.
    let start = Digest::new(s, &[7; 32]).unwrap();
    let given = CelReplayConfig::default()
        .with_replay(ReplayOptions::default().with_start(MrId::Pcr(0), start));
    let r = run(&[startup_locality_record(0, 0, &sl), crtm(1)], &given);
    let mut v = start;
    v.extend(s.hash(b"m").as_bytes());
    assert_eq!(pcr0(&r), v);
    // A log of EV_NO_ACTION records only: the StartupLocality still sets verified PCR 0's start.
    let mut at3 = [0u8; 32];
    at3[31] = 3;
    let v3 = ExpectedRegisters::from_values([RegisterValue {
        id: MrId::Pcr(0),
        value: Digest::new(s, &at3).unwrap(),
    }])
    .unwrap();
    let only = [startup_locality_record(0, 0, &sl)];
    let r = cel::replay_records(&only, &cfg, &v3).unwrap();
    assert_eq!((r.startup_locality, r.outcome.entries), (Some(3), 1));
    assert_eq!(r.checks, Default::default());
}

/// With `DataCheckPolicy::Report`, disagreeing and malformed contents are counted, and the first
/// 64 are listed; with `Reject` (the default), the first one fails the replay.
#[test]
fn reported_content_failures_are_counted_and_the_first_64_listed() {
    use mr_core::log::tcg::DataCheckPolicy;
    let s = HashAlg::Sha256;
    let report = CelReplayConfig::default().with_data_check(DataCheckPolicy::Report);
    // 70 EV_SEPARATOR records whose digest is not the hash of their data; 70 EV_EFI_VARIABLE_BOOT
    // records whose data is not a UEFI_VARIABLE_DATA.
    let mismatched: Vec<CelRecord> = (0..70)
        .map(|i| pc(i, 7, EventType::EV_SEPARATOR, &[0; 4], s.hash(b"other")))
        .collect();
    let malformed: Vec<CelRecord> = (0..70)
        .map(|i| {
            pc(
                i,
                7,
                EventType::EV_EFI_VARIABLE_BOOT,
                &[1, 2, 3],
                s.hash(b"x"),
            )
        })
        .collect();
    for records in [&mismatched, &malformed] {
        let r = cel::replay_records(records, &report, &ComputeOnly).unwrap();
        assert_eq!(r.checks.failure_count, 70);
        assert_eq!(r.checks.failures.len(), 64);
        assert_eq!(r.checks.failures[63].0, 63);
        assert!(cel::replay_records(records, &CelReplayConfig::default(), &ComputeOnly).is_err());
    }
    // A violation is refused only with ViolationPolicy::Reject.
    use mr_core::log::ima::ViolationPolicy;
    let v = [CelRecord {
        recnum: 0,
        index: CelIndex::Pcr(10),
        digests: vec![Digest::zero(s)],
        content: Content::ImaTemplate {
            template_name: "ima-ng".into(),
            template_data: b"x".to_vec(),
        },
    }];
    let ok = cel::replay_records(&v, &CelReplayConfig::default(), &ComputeOnly).unwrap();
    let mut ones = Digest::zero(s);
    ones.extend(Digest::ones(s).as_bytes());
    assert_eq!(ok.outcome.registers[0].value, ones);
    let reject = CelReplayConfig::default().with_violations(ViolationPolicy::Reject);
    assert!(cel::replay_records(&v, &reject, &ComputeOnly).is_err());
}
