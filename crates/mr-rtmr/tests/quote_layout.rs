//! Every field a parsed TD quote gives is the bytes at the offset of the DCAP quote layout
//! (docs/formats.md#td-quote), in v4 and v5 quotes with TD 1.0 and TD 1.5 bodies; and a length
//! field beyond the bytes left is refused as too large, naming the structure, where it is, the
//! length and the bytes that were left.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::error::ParseErrorKind;
use mr_rtmr::quote::{self, QuoteError};
use mr_rtmr::sim::quote::QuoteFormat;
use mr_testkit::td::{distinct_measurements, quote_error, signer};

/// Each format with its version, body type, and where its TD report body starts (after the
/// header, and the v5 body descriptor) and how long it is.
const FORMATS: [(QuoteFormat, u16, u16, usize, usize); 3] = [
    (QuoteFormat::V4Td10, 4, 2, 48, 584),
    (QuoteFormat::V5Td10, 5, 2, 54, 584),
    (QuoteFormat::V5Td15, 5, 3, 54, 648),
];

/// A signed test quote whose TD report body is overwritten with a pattern in which no field is
/// all zeros or all ones and no two fields are equal (parsing does not check the signature).
fn patterned(format: QuoteFormat, start: usize, len: usize) -> Vec<u8> {
    let mut q = signer()
        .quote_as(&distinct_measurements(b"layout"), format)
        .unwrap();
    for (k, b) in q[start..start + len].iter_mut().enumerate() {
        *b = (k * 7 % 251 + 2) as u8;
    }
    q
}

fn u16_at(q: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([q[at], q[at + 1]]))
}

fn u32_at(q: &[u8], at: usize) -> usize {
    u32::from_le_bytes(q[at..at + 4].try_into().unwrap()) as usize
}

#[test]
fn every_field_is_read_at_its_offset_in_the_quote_layout() {
    for (format, version, body_type, b, body_len) in FORMATS {
        let q = patterned(format, b, body_len);
        let p = quote::parse(&q).unwrap();
        let what = format!("{format:?}");

        // Header.
        assert_eq!((p.version(), p.body_type()), (version, body_type), "{what}");
        assert_eq!(p.header().version.get(), p.version(), "{what}");
        assert_eq!(&p.header().qe_vendor_id[..], &q[12..28], "{what}");
        assert_eq!(&p.header().user_data[..], &q[28..48], "{what}");

        // TD report body, offsets within the body.
        assert_eq!(&p.tee_tcb_svn()[..], &q[b..b + 16], "{what}");
        assert_eq!(&p.td_attributes()[..], &q[b + 120..b + 128], "{what}");
        assert_eq!(&p.mr_td()[..], &q[b + 136..b + 184], "{what}");
        assert_eq!(&p.mr_config_id()[..], &q[b + 184..b + 232], "{what}");
        assert_eq!(&p.mr_owner()[..], &q[b + 232..b + 280], "{what}");
        assert_eq!(&p.mr_owner_config()[..], &q[b + 280..b + 328], "{what}");
        for (i, rtmr) in p.rtmrs().iter().enumerate() {
            let at = b + 328 + 48 * i;
            assert_eq!(&rtmr[..], &q[at..at + 48], "{what} RTMR{i}");
        }
        assert_eq!(&p.report_data()[..], &q[b + 520..b + 584], "{what}");
        assert_eq!(p.body().base().mr_td, *p.mr_td(), "{what}");
        if body_type == 3 {
            assert_eq!(
                &p.tee_tcb_svn2().unwrap()[..],
                &q[b + 584..b + 600],
                "{what}"
            );
        } else {
            assert_eq!(p.tee_tcb_svn2(), None, "{what}");
        }

        // The signed bytes end with the body; the signature data follows its length.
        assert_eq!(p.signed_bytes(), &q[..b + body_len], "{what}");
        let sig = b + body_len + 4;
        assert_eq!(u32_at(&q, b + body_len), q.len() - sig, "{what}");
        let s = p.signature_data();
        assert_eq!(&s.quote_signature[..], &q[sig..sig + 64], "{what}");
        assert_eq!(&s.attestation_key[..], &q[sig + 64..sig + 128], "{what}");
        let qe = sig + 134;
        assert_eq!(s.qe_report_bytes, &q[qe..qe + 384], "{what}");
        assert_eq!(
            &s.qe_report.report_data[..],
            &q[qe + 320..qe + 384],
            "{what}"
        );
        assert_eq!(&s.qe_report_signature[..], &q[qe + 384..qe + 448], "{what}");
        let auth_len = u16_at(&q, qe + 448);
        let auth = qe + 450;
        assert_eq!(s.qe_auth_data, &q[auth..auth + auth_len], "{what}");
        let chain_len = u32_at(&q, auth + auth_len + 2);
        let chain = auth + auth_len + 6;
        assert_eq!(s.pck_cert_chain, &q[chain..chain + chain_len], "{what}");
        assert_eq!(chain + chain_len, q.len(), "{what}");

        // Bytes after the signature data are reported, and the quote's length excludes them.
        let mut with_tail = q.clone();
        with_tail.extend_from_slice(&[0xa5; 7]);
        let t = quote::parse(&with_tail).unwrap();
        assert_eq!(t.trailing_bytes(), &[0xa5; 7], "{what}");
        assert_eq!(t.quote_bytes_len(), q.len(), "{what}");
        assert_eq!(p.trailing_bytes(), &[] as &[u8], "{what}");
        assert_eq!(p.quote_bytes_len(), q.len(), "{what}");
    }
}

/// The parse error of `q` (which must be one).
fn parse_error(q: &[u8]) -> mr_core::error::ParseError {
    match quote_error(quote::parse(q).unwrap_err()) {
        QuoteError::Parse(p) => p,
        other => panic!("{other}"),
    }
}

#[test]
fn a_length_beyond_the_bytes_left_is_refused_as_too_large() {
    let q = patterned(QuoteFormat::V4Td10, 48, 584);
    let sig_len_at = 632;
    let sig = sig_len_at + 4;
    let left = (q.len() - sig) as u64;
    // The signature data length, one byte and far beyond the end.
    for lie in [left + 1, left + 1000, u64::from(u32::MAX)] {
        let mut bad = q.clone();
        bad[sig_len_at..sig].copy_from_slice(&(lie as u32).to_le_bytes());
        let e = parse_error(&bad);
        assert_eq!(e.structure, "signature data");
        assert_eq!(e.offset, sig as u64);
        assert_eq!(
            e.kind,
            ParseErrorKind::LengthTooLarge {
                len: lie,
                max: left
            }
        );
    }
    // Exactly the bytes left: parsed.
    assert!(quote::parse(&q).is_ok());

    // The QE auth data size, inside the QE report certification data: its limit is what is
    // left of that structure, not of the quote.
    let auth_size_at = sig + 134 + 384 + 64;
    let cert_end = sig + 134 + u32_at(&q, sig + 130);
    let cert_left = (cert_end - (auth_size_at + 2)) as u64;
    let mut bad = q.clone();
    bad[auth_size_at..auth_size_at + 2].copy_from_slice(&((cert_left + 1) as u16).to_le_bytes());
    let e = parse_error(&bad);
    assert_eq!(e.structure, "QE auth data");
    assert_eq!(e.offset, (auth_size_at + 2) as u64);
    assert_eq!(
        e.kind,
        ParseErrorKind::LengthTooLarge {
            len: cert_left + 1,
            max: cert_left
        }
    );
}
