//! `cel::convert`: the input's format is detected (a CEL in each encoding, a PC-Client log, a
//! CCEL, else an IMA list) and converted to the same records `from_ima` / `from_tcg` /
//! `decode` give; banks with CEL input and inputs over the size bound are typed errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::log::cel::{self, CelRecord, Encoding, Source};
use mr_core::log::ima::{sample, ImaReaderOptions, ListKind};
use mr_core::log::tcg::{self, ParseOptions, RegisterSpace};
use mr_core::{Error, HashAlg};

fn convert(bytes: &[u8], from: Option<Source>, banks: &[HashAlg]) -> (Source, Vec<CelRecord>) {
    let mut records = Vec::new();
    let source = cel::convert(bytes, from, banks, 1 << 24, |r| {
        records.push(r);
        Ok(())
    })
    .unwrap();
    (source, records)
}

#[test]
fn ima_lists_and_each_cel_encoding_are_detected() {
    let mut list = Vec::new();
    sample::write_sample_list(&mut list, ListKind::Binary, 50, &[HashAlg::Sha256], 3).unwrap();
    let expected = cel::from_ima(&list[..], ImaReaderOptions::default(), &[]).unwrap();
    assert_eq!(convert(&list, None, &[]), (Source::Ima, expected.clone()));
    for enc in [Encoding::Tlv, Encoding::Json, Encoding::Cbor] {
        let bytes = cel::encode(&expected, enc).unwrap();
        assert_eq!(
            convert(&bytes, None, &[]),
            (Source::Cel(enc), expected.clone())
        );
        // A CEL keeps its digests: banks apply to IMA and TCG input only.
        let e = cel::convert(&bytes[..], None, &[HashAlg::Sha1], 1 << 24, |_| Ok(()));
        assert!(matches!(e, Err(Error::Parse(_))), "{enc}: {e:?}");
    }
    // Given banks, the IMA list's digests are computed in them.
    let (_, sha1) = convert(&list, Some(Source::Ima), &[HashAlg::Sha1]);
    assert!(sha1
        .iter()
        .all(|r| r.digests.len() == 1 && r.digests[0].alg() == HashAlg::Sha1));
}

#[test]
fn tcg_logs_and_ccels_are_detected_and_bounded() {
    let Some(v) = mr_testkit::shared("vectors") else {
        return;
    };
    let pc = std::fs::read(v.join("tcg2/go-attestation/sb_cert_eventlog")).unwrap();
    let log = tcg::parse(&pc, &ParseOptions::default()).unwrap();
    let expected = cel::from_tcg(&log, RegisterSpace::Pcr, &[]).unwrap();
    assert_eq!(convert(&pc, None, &[]), (Source::Tcg, expected));
    let cc = std::fs::read(v.join("ccel/go-eventlog/cos-113-intel-tdx.bin")).unwrap();
    let log = tcg::parse(&cc, &ParseOptions::ccel()).unwrap();
    let expected = cel::from_tcg(&log, RegisterSpace::CcMr, &[]).unwrap();
    assert_eq!(convert(&cc, None, &[]), (Source::Ccel, expected));
    // Over the bound: refused, nothing visited.
    let mut visited = 0;
    let e = cel::convert(&pc[..], Some(Source::Tcg), &[], 100, |_| {
        visited += 1;
        Ok(())
    });
    assert!(matches!(e, Err(Error::Parse(_))), "{e:?}");
    assert_eq!(visited, 0);
}
