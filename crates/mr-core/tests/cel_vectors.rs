//! CEL from other projects (`$MR_SHARED/vectors/cel`, see PROVENANCE.md there): libcel's
//! CEL-JSON fragments (good ones parse, every bad case is refused) and the Confidential Space
//! CEL-TLV from go-tpm-tools (parses, every digest checks against its content, replays).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::ComputeOnly;
use std::path::{Path, PathBuf};

use mr_core::log::cel::{
    self, json, CelIndex, CelReplayConfig, Content, Encoding, MgtItem, StateTrans,
};
use mr_core::{Error, HashAlg, MrId};

fn vectors() -> Option<PathBuf> {
    mr_testkit::shared("vectors")
}

fn read(dir: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

use mr_testkit::base64_text as base64;

#[test]
fn libcel_good_json_fragments_parse_to_their_stated_records() {
    let Some(dir) = vectors() else { return };
    let dec = |f: &str| {
        cel::decode(&read(&dir, &format!("cel/libcel/{f}")), Encoding::Json)
            .unwrap_or_else(|e| panic!("{f}: {e}"))
    };
    let r = dec("pcclient.json");
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].recnum, r[0].index), (12, CelIndex::Pcr(9)));
    assert_eq!(
        r[0].content,
        Content::PcClient {
            event_type: 3,
            event_data: vec![0xaa, 0xbb, 0xcc, 0xdd]
        }
    );
    assert_eq!(dec("pcclient_numbers.json"), r);

    let r = dec("ima_template.json");
    assert_eq!((r[0].recnum, r[0].index), (9, CelIndex::Pcr(12)));
    assert_eq!(
        r[0].content,
        Content::ImaTemplate {
            template_name: "name".into(),
            template_data: vec![0xaa, 0xbb, 0xcc, 0xdd]
        }
    );

    let r = dec("cel_version.json");
    assert_eq!(r[0].digests.len(), 1);
    assert_eq!(r[0].digests[0].alg(), HashAlg::Sha1);
    assert_eq!(
        r[0].content,
        Content::Mgt(vec![MgtItem::CelVersion {
            major: 123,
            minor: 456
        }])
    );

    let r = dec("cel_multi.json");
    assert_eq!(r[0].index, CelIndex::NvIndex(2));
    assert_eq!(
        r[0].content,
        Content::Mgt(vec![
            MgtItem::FirmwareEnd,
            MgtItem::Timestamp(1234567890),
            MgtItem::StateTrans(StateTrans::Kexec)
        ])
    );
    let r = dec("cel_multi_numbers.json");
    assert_eq!((r[0].recnum, r[0].index), (20, CelIndex::NvIndex(10)));
    let Content::Mgt(items) = &r[0].content else {
        panic!()
    };
    assert_eq!(items.len(), 4);

    let r = dec("systemd.json");
    let Content::Systemd(s) = &r[0].content else {
        panic!()
    };
    assert_eq!(
        (s.event_type, s.timestamp, s.string.as_str()),
        (2, 4000, "falafel")
    );
    assert_eq!(s.boot_id, [0xfa; 16]);
    // A sequence of records without record numbers: numbered by position.
    let r = dec("systemd-seq.json");
    assert_eq!(r.len(), 4);
    assert_eq!(
        r.iter().map(|r| r.recnum).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
}

#[test]
fn libcel_bad_json_cases_are_each_refused_with_a_typed_error() {
    let Some(dir) = vectors() else { return };
    let mut refused = 0;
    for f in [
        "bad_cel.json",
        "bad_cel_version.json",
        "bad_digests.json",
        "bad_event.json",
        "bad_ima_template.json",
        "bad_pcclient.json",
        "bad_state_trans.json",
    ] {
        // Each file is an object whose keys name the bad cases; libcel's json-c reads comments
        // and trailing commas, so does mr's reader: decode the file as one "record" to get the
        // cases, then each case alone.
        let text = read(&dir, &format!("cel/libcel/{f}"));
        let whole = cel::decode(&text, Encoding::Json);
        assert!(whole.is_err(), "{f} as a record");
        let cases = relaxed_object(&text);
        assert!(!cases.is_empty(), "{f}");
        for (name, case) in cases {
            let err = json::record_from_value(&case, 0)
                .expect_err(&format!("{f}: case {name} must be refused"));
            let bytes = serde_json::to_vec(&case).unwrap();
            let Err(Error::Parse(p)) = cel::decode(&bytes, Encoding::Json) else {
                panic!("{f}: {name}");
            };
            assert_eq!(
                (p.format, p.entry),
                ("cel json log", Some(0)),
                "{f}: {name}"
            );
            assert_eq!(p.kind, err);
            refused += 1;
        }
    }
    for f in [
        "systemd_bad_bootid.json",
        "systemd_bad_event_type.json",
        "systemd_bad_event_type_json_type.json",
        "systemd_bad_event_type_num.json",
        "systemd_bad_event_type_str.json",
        "systemd_bad_timestamp.json",
        "systemd_missing_event_type.json",
        "systemd_missing_string.json",
    ] {
        let err = cel::decode(&read(&dir, &format!("cel/libcel/{f}")), Encoding::Json);
        assert!(matches!(err, Err(Error::Parse(_))), "{f}: {err:?}");
        refused += 1;
    }
    assert_eq!(refused, 8 + 4 + 11 + 6 + 6 + 7 + 3 + 8);
}

/// The cases of a libcel bad-case file (comments and trailing commas removed as json-c does).
fn relaxed_object(text: &[u8]) -> Vec<(String, serde_json::Value)> {
    let mut cleaned = String::new();
    for line in String::from_utf8_lossy(text).lines() {
        cleaned.push_str(line.split("//").next().unwrap());
        cleaned.push('\n');
    }
    // Trailing commas.
    let mut out = String::new();
    for c in cleaned.chars() {
        if c == '}' || c == ']' {
            let trimmed = out.trim_end().to_owned();
            if let Some(t) = trimmed.strip_suffix(',') {
                out = t.to_owned();
            }
        }
        out.push(c);
    }
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[test]
fn confidential_space_tlv_cel_parses_checks_and_replays_into_rtmr3() {
    let Some(dir) = vectors() else { return };
    let bytes = base64(&read(&dir, "cel/go-tpm-tools/cel.b64"));
    assert_eq!(cel::detect(&bytes), Some(Encoding::Tlv));
    let records = cel::decode(&bytes, Encoding::Tlv).unwrap();
    assert_eq!(records.len(), 18);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.recnum, i as u64);
        assert_eq!(r.index, CelIndex::CcMr(4));
        assert_eq!(r.digests.len(), 1);
        assert_eq!(r.digests[0].alg(), HashAlg::Sha384);
        assert_eq!(r.content.content_type(), cel::CONTENT_COS);
    }
    // The first event is the image reference (COS type 0).
    let Content::Other { data, .. } = &records[0].content else {
        panic!()
    };
    assert_eq!(data[0], 0);
    assert!(String::from_utf8_lossy(&data[5..]).starts_with("us-west1-docker.pkg.dev/"));
    // mr writes it back byte for byte (8-byte recnum, 1-byte index, as go-tpm-tools).
    assert_eq!(cel::encode(&records, Encoding::Tlv).unwrap(), bytes);

    // Every record's digest is the SHA-384 of its content TLV; all extend RTMR 3.
    let report = cel::replay_records(&records, &CelReplayConfig::default(), &ComputeOnly).unwrap();
    assert_eq!(report.outcome.registers.len(), 1);
    assert_eq!(report.outcome.registers[0].id, MrId::Rtmr(3));
    // Without a verified RTMR 3 nothing is verified; with it, all 18 are.
    assert_eq!((report.checks.verified, report.checks.not_covered), (0, 18));
    let rtmr3 = mr_core::ExpectedRegisters::from_values(report.outcome.registers.clone()).unwrap();
    let report = cel::replay_records(&records, &CelReplayConfig::default(), &rtmr3).unwrap();
    assert_eq!((report.checks.verified, report.checks.not_covered), (18, 0));
    // One changed content byte is refused although nothing else changed.
    let mut bad = records.clone();
    if let Content::Other { data, .. } = &mut bad[5].content {
        data[6] ^= 1;
    }
    let err = cel::replay_records(&bad, &CelReplayConfig::default(), &ComputeOnly).unwrap_err();
    let Error::EntryDigest(m) = err else {
        panic!("{err}")
    };
    assert_eq!((m.entry, m.register), (5, MrId::Rtmr(3)));
}
