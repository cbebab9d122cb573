//! CEL conversions and encodings: an IMA list or a PC-Client log converted to CEL replays to
//! the same registers in every encoding; CEL → CEL in another encoding keeps every record;
//! parse → encode → parse is the identity; bad input is a typed error, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::ComputeOnly;
use std::path::PathBuf;

use mr_core::log::cel::{
    self, CelIndex, CelRecord, CelReplayConfig, Content, Encoding, MgtItem, StateTrans,
    SystemdEvent,
};
use mr_core::log::ima::{
    self, builder::ImaListBuilder, sample, ImaReaderOptions, ImaReplayConfig, ListKind,
};
use mr_core::log::tcg::{self, DataCheckPolicy, ParseOptions, RegisterSpace, TcgReplayConfig};
use mr_core::{Digest, Error, ExpectedRegisters, HashAlg, MrId, RegisterValue};
use proptest::prelude::*;

const ENCODINGS: [Encoding; 3] = [Encoding::Tlv, Encoding::Json, Encoding::Cbor];

fn vectors() -> Option<PathBuf> {
    mr_testkit::shared("vectors")
}

/// A synthetic list with every kind of entry the sample writer makes (violations included).
fn sample_list(entries: u64) -> Vec<u8> {
    let mut out = Vec::new();
    sample::write_sample_list(
        &mut out,
        ListKind::Binary,
        entries,
        &[HashAlg::Sha1, HashAlg::Sha256],
        7,
    )
    .unwrap();
    out
}

fn ima_registers(list: &[u8], banks: &[HashAlg]) -> Vec<RegisterValue> {
    let cfg = ImaReplayConfig::default().with_banks(banks.to_vec());
    ima::replay(list, &cfg, &ComputeOnly)
        .unwrap()
        .outcome
        .registers
}

fn cel_registers(records: &[CelRecord]) -> Vec<RegisterValue> {
    cel::replay_records(records, &CelReplayConfig::default(), &ComputeOnly)
        .unwrap()
        .outcome
        .registers
}

#[test]
fn ima_list_to_cel_in_each_encoding_replays_to_the_ima_registers() {
    let list = sample_list(1200);
    let banks = [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384];
    let records = cel::from_ima(&list[..], ImaReaderOptions::default(), &banks).unwrap();
    assert_eq!(records.len(), 1200);
    let expected = ima_registers(&list, &banks);
    assert_eq!(expected.len(), 3);
    for enc in ENCODINGS {
        let bytes = cel::encode(&records, enc).unwrap();
        assert_eq!(cel::detect(&bytes), Some(enc));
        let back = cel::decode(&bytes, enc).unwrap();
        assert_eq!(back, records, "{enc}");
        let report = cel::replay_records(&back, &CelReplayConfig::default(), &ComputeOnly).unwrap();
        assert_eq!(report.outcome.registers, expected, "{enc}");
        // Without verified values nothing is verified: every record is not covered.
        assert_eq!(report.checks.verified, 0, "{enc}");
        assert_eq!(report.checks.not_covered, 1200, "{enc}");
        assert_eq!(report.checks.first_not_covered, Some(0), "{enc}");
        let verified = ExpectedRegisters::from_values(expected.clone()).unwrap();
        let report = cel::replay_records(&back, &CelReplayConfig::default(), &verified).unwrap();
        assert_eq!(report.checks.violations, 2, "{enc}");
        assert_eq!(report.checks.verified, 1198, "{enc}");
        assert_eq!(report.checks.not_covered, 0, "{enc}");
        assert_eq!(report.checks.first_not_covered, None, "{enc}");
    }
    // Default banks: SHA-1 and SHA-256.
    let records = cel::from_ima(&list[..], ImaReaderOptions::default(), &[]).unwrap();
    assert_eq!(
        cel_registers(&records),
        ima_registers(&list, &[HashAlg::Sha1, HashAlg::Sha256])
    );
}

#[test]
fn real_ima_list_to_cel_reaches_the_kernels_pcr10() {
    let Some(dir) = vectors() else { return };
    let list = std::fs::read(dir.join("ima/ibmtss/sha1.log")).unwrap();
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("ima/ibmtss/EXPECTED.json")).unwrap())
            .unwrap();
    let records = cel::from_ima(&list[..], ImaReaderOptions::default(), &[]).unwrap();
    for enc in ENCODINGS {
        let back = cel::decode(&cel::encode(&records, enc).unwrap(), enc).unwrap();
        let regs = cel_registers(&back);
        for (alg, hex) in expected["whole_log_replays_to"].as_object().unwrap() {
            let alg = HashAlg::from_name(alg).unwrap();
            let v = regs
                .iter()
                .find(|r| r.id == MrId::Pcr(10) && r.value.alg() == alg)
                .unwrap();
            assert_eq!(v.value.to_hex(), hex.as_str().unwrap(), "{enc} {alg}");
        }
    }
}

#[test]
fn cel_to_cel_in_another_encoding_keeps_every_record() {
    let list = sample_list(300);
    let mut records = cel::from_ima(&list[..], ImaReaderOptions::default(), &[]).unwrap();
    records.extend(odd_records());
    for from in ENCODINGS {
        let a = cel::encode(&records, from).unwrap();
        let parsed = cel::decode(&a, from).unwrap();
        for to in ENCODINGS {
            let b = cel::encode(&parsed, to).unwrap();
            let again = cel::decode(&b, to).unwrap();
            assert_eq!(again, records, "{from} -> {to}");
            // Deterministic writers: the same records give the same bytes.
            assert_eq!(cel::encode(&again, to).unwrap(), b);
        }
    }
}

/// One record of every content type and index kind (numbered after any IMA list of the tests,
/// with gaps).
fn odd_records() -> Vec<CelRecord> {
    let d = |alg: HashAlg, b: &[u8]| alg.hash(b);
    const N: u64 = 1 << 40;
    vec![
        CelRecord {
            recnum: N,
            index: CelIndex::NvIndex(0x0150_0000),
            digests: vec![d(HashAlg::Sha512, b"x"), d(HashAlg::Sm3_256, b"y")],
            content: Content::Mgt(vec![
                MgtItem::CelVersion {
                    major: 1,
                    minor: 300,
                },
                MgtItem::FirmwareEnd,
                MgtItem::Timestamp(u64::MAX),
                MgtItem::StateTrans(StateTrans::Hibernate),
            ]),
        },
        CelRecord {
            recnum: N + 3,
            index: CelIndex::Pcr(4),
            digests: vec![],
            content: Content::PcClient {
                event_type: 0x8000_00E4,
                event_data: vec![],
            },
        },
        CelRecord {
            recnum: N + 4,
            index: CelIndex::CcMr(4),
            digests: vec![d(HashAlg::Sha384, b"z")],
            content: Content::Systemd(SystemdEvent {
                event_type: 3,
                timestamp: 0,
                boot_id: [9; 16],
                string: "machine-id".into(),
            }),
        },
        CelRecord {
            recnum: N + 5,
            index: CelIndex::Pcr(11),
            digests: vec![],
            content: Content::ImaTlv(vec![1, 2, 3]),
        },
        CelRecord {
            recnum: N + 6,
            index: CelIndex::Pcr(13),
            digests: vec![],
            content: Content::Other {
                content_type: 200,
                data: vec![0; 3],
            },
        },
    ]
}

#[test]
fn pc_client_logs_to_cel_replay_to_the_same_pcrs() {
    let Some(dir) = vectors() else { return };
    for file in [
        "tcg2/go-attestation/sb_cert_eventlog",
        "tcg2/go-attestation/option_rom_eventlog",
        "tcg2/tpm2-tss/binary_measurements_hcrtm.bin",
        "ima/ima-evm-utils/sample-binary_bios_measurements-pcrs-8-9",
    ] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let direct = tcg::replay(&bytes, &TcgReplayConfig::pc_client(), &ComputeOnly).unwrap();
        let log = tcg::parse(&bytes, &ParseOptions::default()).unwrap();
        let records = cel::from_tcg(&log, RegisterSpace::Pcr, &[]).unwrap();
        assert_eq!(records.len(), log.events.len());
        for enc in ENCODINGS {
            let back = cel::decode(&cel::encode(&records, enc).unwrap(), enc).unwrap();
            let report = cel::replay_records(&back, &CelReplayConfig::default(), &ComputeOnly)
                .unwrap_or_else(|e| panic!("{file} {enc}: {e}"));
            assert_eq!(
                report.outcome.registers, direct.outcome.registers,
                "{file} {enc}"
            );
            assert_eq!(report.startup_locality, direct.startup_locality, "{file}");
            // Verified against the PCRs: the checkable events are verified, none uncovered.
            let pcrs = ExpectedRegisters::from_values(direct.outcome.registers.clone()).unwrap();
            let report = cel::replay_records(&back, &CelReplayConfig::default(), &pcrs)
                .unwrap_or_else(|e| panic!("{file} {enc}: {e}"));
            assert!(report.checks.verified > 0, "{file}");
            assert_eq!(report.checks.not_covered, 0, "{file}");
        }
    }
    // A CCEL: CC MR indexes, RTMRs.
    let bytes = std::fs::read(dir.join("ccel/go-eventlog/cos-113-intel-tdx.bin")).unwrap();
    let direct = tcg::ccel::replay(&bytes, None, &TcgReplayConfig::ccel(), &ComputeOnly).unwrap();
    let log = tcg::parse(&bytes, &ParseOptions::ccel()).unwrap();
    let records = cel::from_tcg(&log, RegisterSpace::CcMr, &[HashAlg::Sha384]).unwrap();
    assert!(records.iter().all(|r| matches!(r.index, CelIndex::CcMr(_))));
    assert_eq!(cel_registers(&records), direct.outcome.registers);
    // A bank the log does not have cannot be produced.
    assert!(cel::from_tcg(&log, RegisterSpace::CcMr, &[HashAlg::Sha256]).is_err());
}

#[test]
fn tampered_ima_list_is_not_converted_and_tampered_cel_is_rejected() {
    let list = sample_list(20);
    let records = cel::from_ima(&list[..], ImaReaderOptions::default(), &[]).unwrap();
    // Change one byte of an entry's template data in the binary list: conversion refuses it.
    let mut bad_list = list.clone();
    let n = bad_list.len();
    bad_list[n - 3] ^= 0x20;
    assert!(matches!(
        cel::from_ima(&bad_list[..], ImaReaderOptions::default(), &[]),
        Err(Error::EntryDigest(_))
    ));
    // Change the template data of a CEL record: the replay refuses it, in every encoding.
    let mut bad = records.clone();
    if let Content::ImaTemplate { template_data, .. } = &mut bad[7].content {
        let last = template_data.len() - 2;
        template_data[last] ^= 1;
    }
    for enc in ENCODINGS {
        let back = cel::decode(&cel::encode(&bad, enc).unwrap(), enc).unwrap();
        let err =
            cel::replay_records(&back, &CelReplayConfig::default(), &ComputeOnly).unwrap_err();
        let Error::EntryDigest(m) = err else {
            panic!("{enc}: {err}")
        };
        assert_eq!((m.entry, m.register.clone()), (7, MrId::Pcr(10)));
        // Report-only lists it and still computes values.
        let cfg = CelReplayConfig::default().with_data_check(DataCheckPolicy::Report);
        let report = cel::replay_records(&back, &cfg, &ComputeOnly).unwrap();
        assert_eq!(report.checks.failure_count, 1);
    }
    // A legacy `ima` template entry round-trips and checks too.
    let mut b = ImaListBuilder::binary();
    b.legacy_ima(10, &[5; 20], "/init").unwrap();
    let legacy = b.finish();
    let recs = cel::from_ima(&legacy[..], ImaReaderOptions::default(), &[]).unwrap();
    assert_eq!(
        cel_registers(&recs),
        ima_registers(&legacy, &[HashAlg::Sha1, HashAlg::Sha256])
    );
}

/// A small CEL with every content type, in `enc`.
fn small(enc: Encoding) -> Vec<u8> {
    let list = sample_list(3);
    let mut records = cel::from_ima(&list[..], ImaReaderOptions::default(), &[]).unwrap();
    records.extend(odd_records());
    cel::encode(&records, enc).unwrap()
}

#[test]
fn every_truncation_of_a_tlv_or_cbor_cel_is_a_typed_error() {
    for enc in [Encoding::Tlv, Encoding::Cbor] {
        let bytes = small(enc);
        let whole = cel::decode(&bytes, enc).unwrap();
        let boundaries: Vec<usize> = {
            // Record boundaries (TLV, and CBOR written as a sequence): prefixes that end there
            // are valid logs.
            let mut b = Vec::new();
            let mut acc = Vec::new();
            for r in &whole {
                match enc {
                    Encoding::Tlv => cel::tlv::encode_record(r, &mut acc).unwrap(),
                    _ => cel::cbor::encode_record(r, &mut acc),
                }
                b.push(acc.len());
            }
            b
        };
        for cut in 0..bytes.len() {
            match cel::decode(&bytes[..cut], enc) {
                Err(Error::Parse(p)) => {
                    assert!(p.offset <= cut as u64, "{enc} cut {cut}: {p}");
                    assert!(p.entry.is_some());
                }
                Ok(r) => {
                    assert!(boundaries.contains(&cut), "{enc} cut {cut} parsed");
                    assert_eq!(r, whole[..r.len()]);
                }
                Err(e) => panic!("{enc} cut {cut}: {e}"),
            }
        }
    }
    // JSON: every truncation fails (the closing bracket is missing).
    let bytes = small(Encoding::Json);
    for cut in 1..bytes.len() - 2 {
        assert!(matches!(
            cel::decode(&bytes[..cut], Encoding::Json),
            Err(Error::Parse(_))
        ));
    }
}

#[test]
fn huge_lengths_and_wrong_types_are_refused_without_allocating() {
    // TLV: a 4 GiB content length.
    let mut tlv = vec![0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 10, 3, 0, 0, 0, 0, 7];
    tlv.extend(u32::MAX.to_be_bytes());
    let Err(Error::Parse(p)) = cel::decode(&tlv, Encoding::Tlv) else {
        panic!()
    };
    assert!(matches!(
        p.kind,
        mr_core::error::ParseErrorKind::LengthTooLarge { .. }
    ));
    assert_eq!(p.offset, 18);
    // TLV: a recnum of 9 bytes; an index of type 5.
    let t = [0u8, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    assert!(cel::decode(&t, Encoding::Tlv).is_err());
    let t = [0u8, 0, 0, 0, 1, 0, 5, 0, 0, 0, 1, 1];
    assert!(cel::decode(&t, Encoding::Tlv).is_err());
    // CBOR: an array announcing 2^64-1 records, a byte string of 2^32 bytes, an indefinite
    // array, a tag, nesting deeper than the limit, a map with too many entries.
    for bad in [
        vec![0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0x81, 0xa1, 0x00, 0x5b, 0, 0, 0, 1, 0, 0, 0, 0],
        vec![0x9f, 0xff],
        vec![0xc1, 0x00],
        vec![0x81; 40],
        vec![0xb8, 0xff],
    ] {
        assert!(
            matches!(cel::decode(&bad, Encoding::Cbor), Err(Error::Parse(_))),
            "{bad:x?}"
        );
    }
    // Wrong types in a record: a text digest, a pcr given as bytes.
    let mut rec = Vec::new();
    cel::cbor::encode_record(&odd_records()[2], &mut rec);
    let good = cel::decode(&rec, Encoding::Cbor).unwrap();
    assert_eq!(good.len(), 1);
    let pos = rec.iter().position(|b| *b == 0x58).unwrap(); // the 48-byte digest bstr head
    let mut bad = rec.clone();
    bad[pos] = 0x78; // same length, text string
    assert!(cel::decode(&bad, Encoding::Cbor).is_err());
    // JSON: wrong types.
    for bad in [
        r#"{"recnum": "1", "pcr": 1, "content_type": 4, "content": {"type": "firmware_end"}}"#,
        r#"{"recnum": 1, "pcr": -1, "content_type": 4, "content": {"type": "firmware_end"}}"#,
        r#"{"recnum": 1, "pcr": 1, "mr_index": 2, "content_type": 4, "content": {"type": "firmware_end"}}"#,
        r#"{"recnum": 1, "pcr": 1, "content_type": 4, "content": {"type": "firmware_end"}, "extra": 1}"#,
        r#"{"recnum": 1, "pcr": 1, "digests": [{"hashAlg": "sha1", "digest": "00"}], "content_type": 4, "content": {"type": "firmware_end"}}"#,
    ] {
        assert!(
            cel::decode(bad.as_bytes(), Encoding::Json).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn invalid_registers_are_refused_by_the_replay() {
    for index in [CelIndex::Pcr(24), CelIndex::CcMr(0), CelIndex::CcMr(5)] {
        let r = CelRecord {
            recnum: 0,
            index,
            digests: vec![HashAlg::Sha384.hash(b"a")],
            content: Content::Other {
                content_type: 200,
                data: vec![],
            },
        };
        assert!(matches!(
            cel::replay_records(&[r], &CelReplayConfig::default(), &ComputeOnly),
            Err(Error::Parse(_))
        ));
    }
}

fn arb_digests() -> impl Strategy<Value = Vec<Digest>> {
    proptest::sample::subsequence(HashAlg::ALL.to_vec(), 0..=HashAlg::ALL.len()).prop_flat_map(
        |algs| {
            algs.into_iter()
                .map(|a| any::<u64>().prop_map(move |s| a.hash(&s.to_le_bytes())))
                .collect::<Vec<_>>()
        },
    )
}

fn arb_content() -> impl Strategy<Value = Content> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        (any::<u32>(), bytes()).prop_map(|(event_type, event_data)| Content::PcClient {
            event_type,
            event_data
        }),
        ("[a-z|-]{1,40}", bytes()).prop_map(|(template_name, template_data)| {
            Content::ImaTemplate {
                template_name,
                template_data,
            }
        }),
        proptest::collection::vec(
            prop_oneof![
                (any::<u16>(), any::<u16>())
                    .prop_map(|(major, minor)| MgtItem::CelVersion { major, minor }),
                Just(MgtItem::FirmwareEnd),
                any::<u64>().prop_map(MgtItem::Timestamp),
                (0u64..3).prop_map(|v| MgtItem::StateTrans(StateTrans::from_value(v).unwrap())),
            ],
            1..4
        )
        .prop_map(Content::Mgt),
        (0u8..4, any::<u64>(), any::<[u8; 16]>(), "\\PC{0,20}").prop_map(
            |(event_type, timestamp, boot_id, string)| Content::Systemd(SystemdEvent {
                event_type,
                timestamp,
                boot_id,
                string
            })
        ),
        bytes().prop_map(Content::ImaTlv),
        (12u8..=255, bytes())
            .prop_map(|(content_type, data)| Content::Other { content_type, data }),
    ]
}

fn arb_record() -> impl Strategy<Value = CelRecord> {
    (
        any::<u64>(),
        prop_oneof![
            any::<u32>().prop_map(CelIndex::Pcr),
            any::<u32>().prop_map(CelIndex::NvIndex),
            any::<u32>().prop_map(CelIndex::CcMr)
        ],
        arb_digests(),
        arb_content(),
    )
        .prop_map(|(recnum, index, digests, content)| CelRecord {
            recnum,
            index,
            digests,
            content,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn parse_encode_parse_is_the_identity_in_every_encoding(
        records in proptest::collection::vec(arb_record(), 1..6)
    ) {
        // Record numbers must increase.
        let mut records = records;
        records.sort_by_key(|r| r.recnum);
        records.dedup_by_key(|r| r.recnum);
        for enc in ENCODINGS {
            let bytes = cel::encode(&records, enc).unwrap();
            let back = cel::decode(&bytes, enc).unwrap();
            prop_assert_eq!(&back, &records);
            prop_assert_eq!(cel::encode(&back, enc).unwrap(), bytes);
        }
    }

    #[test]
    fn mutated_cels_never_panic(
        enc in proptest::sample::select(ENCODINGS.to_vec()),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let mut bytes = small(enc);
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        if let Ok(records) = cel::decode(&bytes, enc) {
            let _ = cel::replay_records(&records, &CelReplayConfig::default(), &ComputeOnly);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for enc in ENCODINGS {
            let _ = cel::decode(&bytes, enc);
        }
        let _ = cel::detect(&bytes);
    }
}

#[test]
fn errors_name_the_record_and_its_byte_offset() {
    let records = odd_records();
    // TLV: a digest of the wrong size in record 2 (the Systemd record, SHA-384).
    let mut tlv = Vec::new();
    let mut starts = Vec::new();
    for r in &records {
        starts.push(tlv.len());
        cel::tlv::encode_record(r, &mut tlv).unwrap();
    }
    // Record 2: recnum TLV (5 + 8), index TLV (5 + 1), digests TLV head (5), digest TLV type.
    let digest_tlv = starts[2] + 13 + 6 + 5;
    assert_eq!(tlv[digest_tlv], 0x0c);
    tlv[digest_tlv] = 0x0b; // claims SHA-256 for 48 bytes
    let Err(Error::Parse(p)) = cel::decode(&tlv, Encoding::Tlv) else {
        panic!()
    };
    assert_eq!((p.entry, p.offset), (Some(2), digest_tlv as u64));
    // CBOR (array): the offset of the digest map in record 2.
    let mut cbor = vec![0x80 | records.len() as u8];
    let mut starts = Vec::new();
    for r in &records {
        starts.push(cbor.len());
        cel::cbor::encode_record(r, &mut cbor);
    }
    let pos = starts[2] + cbor[starts[2]..].iter().position(|b| *b == 0x0c).unwrap();
    cbor[pos] = 0x0b;
    let Err(Error::Parse(p)) = cel::decode(&cbor, Encoding::Cbor) else {
        panic!()
    };
    // The map head (0xa2) and key 0 precede the algorithm id.
    assert_eq!(&cbor[pos - 2..pos], &[0xa2, 0x00]);
    assert_eq!((p.entry, p.offset), (Some(2), (pos - 2) as u64));
}

#[test]
fn json_writer_agrees_with_the_json_value_of_every_record() {
    let mut records = odd_records();
    records.push(CelRecord {
        recnum: 9,
        index: CelIndex::Pcr(10),
        digests: vec![HashAlg::Sha1.hash(b"q")],
        content: Content::ImaTemplate {
            template_name: "d-ng|n-ng \"quoted\" \\ é\u{1}".into(),
            template_data: vec![0, 255],
        },
    });
    records.push(CelRecord {
        recnum: 10,
        index: CelIndex::Pcr(0),
        digests: vec![],
        content: Content::PcClient {
            event_type: 0x7777_7777,
            event_data: b"x".to_vec(),
        },
    });
    for r in &records {
        let mut text = String::new();
        cel::json::write_record(r, &mut text);
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, cel::json::record_to_value(r), "{text}");
        assert_eq!(cel::json::record_from_value(&parsed, 0).unwrap(), *r);
    }
}

#[test]
fn cbor_record_keys_may_come_in_any_order_but_only_once() {
    // {10: {0: 3, 1: h'aa'}, 9: 5, 3: [], 1: 4, 0: 7}: content before its type.
    let reordered = [
        0xa5, 0x0a, 0xa2, 0x00, 0x03, 0x01, 0x41, 0xaa, 0x09, 0x05, 0x03, 0x80, 0x01, 0x04, 0x00,
        0x07,
    ];
    let r = cel::decode(&reordered, Encoding::Cbor).unwrap();
    assert_eq!(
        r,
        vec![CelRecord {
            recnum: 7,
            index: CelIndex::Pcr(4),
            digests: vec![],
            content: Content::PcClient {
                event_type: 3,
                event_data: vec![0xaa]
            }
        }]
    );
    // The same with recnum given twice, and with two indexes.
    let mut dup = reordered.to_vec();
    dup[0] = 0xa6;
    dup.extend([0x00, 0x07]);
    assert!(cel::decode(&dup, Encoding::Cbor).is_err());
    let mut two = reordered.to_vec();
    two[0] = 0xa6;
    two.extend([0x02, 0x04]);
    assert!(cel::decode(&two, Encoding::Cbor).is_err());
}
